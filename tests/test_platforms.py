"""Each platform end to end, against its fake server: a connection saved by an organizer, a
webinar scheduled on it, the member's /j/ address leading to their own link, attendance and
the recording coming back through a signed callback (or the report, or the clicks), the
meeting moved in place and deleted on cancellation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from typing import Any

import aiohttp
import httpx
import pytest
from sqlalchemy import func, select

from integrations.base import (
    PARTICIPANT_JOINED,
    RECORDING_READY,
    MeetingLink,
    MeetingNotFound,
)
from integrations.registry import PLATFORMS, WEBINAR_PLATFORMS
from tests.fakes import serve
from webinars import attendance
from webinars.clock import FixedClock
from webinars.connections import (
    HOOK_KEY,
    build_adapter,
    hook_url,
    open_credentials,
    save_connection,
)
from webinars.models import (
    Account,
    Attendance,
    Delivery,
    JoinClick,
    OutboxMessage,
    PersonalJoin,
    PlatformConnection,
    Registration,
    Webinar,
)
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.runtime import Runtime
from webinars.scheduling import cancel_webinar, get_webinar, update_webinar
from webinars.validation import webinar_input
from workers.reports import poll_attendance

from .factories import make_account, make_org, make_registration, make_webinar

CONNECTED = [name for name in WEBINAR_PLATFORMS if PLATFORMS[name].fields]
RECORDING = "https://recordings.example.org/webinar-1.mp4"


@pytest.fixture
async def fake(request: pytest.FixtureRequest, runtime: Runtime,
               queue: InProcessQueue) -> AsyncIterator[Any]:
    server = await serve(request.param)
    runtime.config = replace(runtime.config,
                             platform_endpoints={request.param: server.endpoints()})
    queue.ctx["config"] = runtime.config
    try:
        yield server
    finally:
        await server.close()


async def schedule(runtime: Runtime, clock: FixedClock, queue: InProcessQueue, name: str,
                   credentials: dict[str, str]) -> tuple[Webinar, Registration]:
    async with runtime.sessionmaker() as s:
        org = await make_org(s, clock)
        account = await make_account(s, clock, org)
        await save_connection(s, runtime.config, clock, account, org.id, name, credentials)
        webinar = await make_webinar(s, clock, account, org, platform=name)
        registration = await make_registration(s, clock, webinar)
        await commit_and_enqueue(s, queue, clock)
    await queue.drain()
    return webinar, registration


def link_of(webinar: Webinar) -> MeetingLink:
    m = webinar.meeting
    assert m is not None and m.external_id and m.join_url
    return MeetingLink(m.external_id, m.join_url, m.host_url, dict(m.extra))


async def attended(runtime: Runtime, webinar_id: int) -> list[tuple[int | None, str | None]]:
    async with runtime.sessionmaker() as s:
        return [(a.registration_id, a.source) for a in await s.scalars(
            select(Attendance).where(Attendance.webinar_id == webinar_id).order_by(Attendance.id))]


@pytest.mark.parametrize("fake", CONNECTED, indirect=True)
async def test_scheduled_joined_attended_moved_and_deleted_on_every_platform(
    runtime: Runtime, clock: FixedClock, queue: InProcessQueue, client: httpx.AsyncClient,
    fake: Any, request: pytest.FixtureRequest,
) -> None:
    name = request.node.callspec.params["fake"]
    entry = PLATFORMS[name]
    clock.set(datetime.now(UTC).replace(microsecond=0))  # the fakes sign with the real time
    webinar, registration = await schedule(runtime, clock, queue, name, fake.credentials())
    async with runtime.sessionmaker() as s:
        webinar = await get_webinar(s, webinar.id)
        connection = await s.scalar(select(PlatformConnection))
        assert connection is not None
        meeting = webinar.meeting
        assert meeting is not None and meeting.status == "ready", meeting and meeting.error
        assert meeting.connection_id == connection.id
        key = open_credentials(runtime.config, connection.credentials_sealed)[HOOK_KEY]
    link = link_of(webinar)

    # The member's personal address leads to their own link on the platform.
    answer = await client.get(f"/j/{registration.join_token}")
    assert answer.status_code == 303
    target = answer.headers["location"]
    if entry.personal_links:
        assert target != link.join_url
    if target.startswith(fake.url):  # the fake plays the platform's door: it lets them in
        async with aiohttp.ClientSession() as http, http.get(
                target, allow_redirects=False) as door:
            assert door.status < 400, await door.text()
    async with runtime.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(JoinClick)) == 1
        kept = await s.scalar(select(PersonalJoin.platform_person_id))

    # Attendance, from where the platform offers it.
    if hasattr(fake, "hook"):
        ours = f"r{registration.id}" if name in ("bigbluebutton", "jaas") else kept
        url = hook_url(runtime.config, name, key)
        headers, body, query, method = fake.hook(PARTICIPANT_JOINED, link, ours, hook_url=url)
        path = url.removeprefix(runtime.config.base_url)
        sent = await client.request(method, path, params=query, headers=headers, content=body)
        assert sent.status_code in (200, 204), sent.text
        expected = None if name == "webex" else registration.id  # Webex echoes no id of ours
        assert await attended(runtime, webinar.id) == [(expected, "webhook")]
        again = await client.request(method, path, params=query, headers=headers, content=body)
        assert again.status_code in (200, 204)
        assert len(await attended(runtime, webinar.id)) == 1  # a replay is recognised
        if name != "mts_link":  # signed: an altered body is refused and changes nothing
            forged_body = body.replace(b"a", b"b", 1)  # one letter of the signed body
            assert forged_body != body
            forged = await client.request(method, path, params=query, headers=headers,
                                          content=forged_body)
            assert forged.status_code == 401
            assert len(await attended(runtime, webinar.id)) == 1
        wrong_key = await client.request(method, f"/hooks/{name}/{'x' * 32}", params=query,
                                         headers=headers, content=body)
        assert wrong_key.status_code == 401

        headers, body, query, method = fake.hook(RECORDING_READY, link, None,
                                                 recording_url=RECORDING, hook_url=url)
        sent = await client.request(method, path, params=query, headers=headers, content=body)
        assert sent.status_code in (200, 204), sent.text
        await queue.drain()
        async with runtime.sessionmaker() as s:
            recorded = (await get_webinar(s, webinar.id)).recording_url
            followups = await s.scalar(select(func.count()).select_from(Delivery).where(
                Delivery.webinar_id == webinar.id, Delivery.kind == "followup"))
        # The recording becomes the webinar's, and the follow-up goes to registrants.
        assert recorded is not None and recorded.startswith("https://"), name
        assert followups == 1
    elif entry.attendance == "report":
        start = webinar.start_at
        fake.record_attendance(link.external_id, "Мария Иванова", start,
                               start + timedelta(minutes=80))
        clock.set(start + timedelta(minutes=90 + 20))
        assert await poll_attendance(queue.ctx) == 2  # joined and left
        assert await poll_attendance(queue.ctx) == 0  # read again: nothing new
        assert await attended(runtime, webinar.id) == [(None, "report")]
        clock.set(start - timedelta(days=7))
    else:  # no callbacks, no report: the join clicks are the attendance
        assert await attended(runtime, webinar.id) == []

    # Moved: the same meeting, wherever the platform can move one.
    async with runtime.sessionmaker() as s:
        account = await s.get(Account, webinar.created_by_id)
        assert account is not None
        data = webinar_input({"start": (webinar.start_at + timedelta(days=1)).isoformat(),
                              "title": "Вебинар (перенесён)"}, clock,
                             default_timezone="Europe/Moscow", partial=True)
        await update_webinar(s, clock, account, webinar.id, data)
        await commit_and_enqueue(s, queue, clock)
    await queue.drain()
    async with runtime.sessionmaker() as s:
        moved = (await get_webinar(s, webinar.id)).meeting
        assert moved is not None and moved.status == "ready", moved and moved.error
        if entry.moves:
            assert (moved.external_id, moved.join_url) == (link.external_id, link.join_url)
        await cancel_webinar(s, clock, account, webinar.id)
        await commit_and_enqueue(s, queue, clock)
    await queue.drain()
    async with runtime.sessionmaker() as s:
        gone = (await get_webinar(s, webinar.id)).meeting
        assert gone is not None and gone.status == "deleted"
        connection = await s.get(PlatformConnection, connection.id)
        adapter = build_adapter(runtime.config, runtime.http, runtime.tokens, clock, name,
                                connection)
    if name not in ("jitsi_jwt", "jaas"):  # token rooms exist only while someone is in them
        with pytest.raises(MeetingNotFound):
            await adapter.get(link)


async def test_the_recording_follow_up_thanks_who_came_and_tells_the_others_what_they_missed(
    runtime: Runtime, clock: FixedClock, queue: InProcessQueue,
) -> None:
    async with runtime.sessionmaker() as s:
        org = await make_org(s, clock)
        account = await make_account(s, clock, org)
        webinar = await make_webinar(s, clock, account, org)
        came = await make_registration(s, clock, webinar, "came@school.example")
        await make_registration(s, clock, webinar, "missed@school.example")
        await commit_and_enqueue(s, queue, clock)
    await queue.drain()
    clock.advance(timedelta(days=7, hours=2))  # the webinar is over
    async with runtime.sessionmaker() as s:
        s.add(Attendance(webinar_id=webinar.id, registration_id=came.id, source="webhook",
                         participant_name="Мария", joined_at=clock.now()))
        await attendance.recording(s, webinar.id, RECORDING, clock.now())
        await commit_and_enqueue(s, queue, clock)
    await queue.drain()
    async with runtime.sessionmaker() as s:
        mails = {m.recipient: message_from_bytes(m.raw, policy=default)
                 for m in await s.scalars(select(OutboxMessage).where(
                     OutboxMessage.subject.contains("После мероприятия")
                     | OutboxMessage.subject.contains("After the event")))}
    thanked = mails["came@school.example"].get_body(("plain",)).get_content()
    missed = mails["missed@school.example"].get_body(("plain",)).get_content()
    assert "Спасибо, что приняли участие" in thanked and RECORDING in thanked
    assert "Жаль, что вас не было" in missed and RECORDING in missed
