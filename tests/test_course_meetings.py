"""A course (a weekly six-session series) on the platforms whose meetings are bound to a time:
the platform's copy covers every held session, follows a cancelled and a moved session, sends
a member who clicks during session 4 to session 4 where sessions have their own links, brings
attendance from later sessions back, and is gone when the course is cancelled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from integrations.base import PARTICIPANT_JOINED, MeetingLink
from tests.fakes import serve
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
    PersonalJoin,
    PlatformConnection,
    Registration,
    Webinar,
)
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.runtime import Runtime
from webinars.scheduling import cancel_webinar, get_webinar
from webinars.series import cancel_session, move_session, set_series
from workers.reports import poll_attendance

from .factories import make_account, make_org, make_registration, make_webinar

ZONE = "Europe/Berlin"  # the course crosses the end of summer time: 15:00 stays 15:00
TIMEBOUND = ["zoom", "webex", "mts_link", "teams"]


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


def local_starts(first: date, count: int = 6) -> list[datetime]:
    return [datetime.combine(first + timedelta(weeks=i), datetime.min.time())
            .replace(hour=15, tzinfo=ZoneInfo(ZONE)).astimezone(UTC) for i in range(count)]


async def course(runtime: Runtime, clock: FixedClock, queue: InProcessQueue, name: str,
                 credentials: dict[str, str], first: date
                 ) -> tuple[Webinar, Registration, Account]:
    async with runtime.sessionmaker() as s:
        org = await make_org(s, clock)
        account = await make_account(s, clock, org)
        await save_connection(s, runtime.config, clock, account, org.id, name, credentials)
        webinar = await make_webinar(s, clock, account, org, platform=name, timezone=ZONE,
                                     duration_minutes=90)
        registration = await make_registration(s, clock, webinar)
        await commit_and_enqueue(s, queue, clock)
    await queue.drain()
    async with runtime.sessionmaker() as s:
        await set_series(s, clock, account, webinar.id, {
            "kind": "weekly", "weekday": first.weekday(), "time": "15:00", "count": 6,
            "from": first.isoformat()})
        await commit_and_enqueue(s, queue, clock)
    await queue.drain()
    return webinar, registration, account


async def change(runtime: Runtime, clock: FixedClock, queue: InProcessQueue,
                 what: Any, *args: Any) -> Webinar:
    async with runtime.sessionmaker() as s:
        await what(s, clock, *args)
        await commit_and_enqueue(s, queue, clock)
    await queue.drain()
    async with runtime.sessionmaker() as s:
        webinar = await get_webinar(s, args[1])
        meeting = webinar.meeting
        assert meeting is not None and meeting.status == "ready", meeting and meeting.error
        return webinar


def on_platform(name: str, fake: Any, webinar: Webinar) -> list[tuple[datetime, datetime]]:
    """(start, end) of every session the platform holds for the course, in order; for a
    meeting with no fixed time (Zoom type 3) an empty list and the meeting spans none."""
    meeting = webinar.meeting
    assert meeting is not None and meeting.external_id
    if name == "zoom":
        held = fake.meetings[meeting.external_id]
        return sorted((_t(o["start_time"]), _t(o["start_time"]) + timedelta(
            minutes=o["duration"])) for o in held.get("occurrences", [])
            if o["status"] != "deleted")
    if name == "webex":
        return list(fake.held(meeting.external_id))
    if name == "mts_link":
        event = fake.events[int(meeting.extra["event_id"])]
        return sorted((s.starts_at, s.starts_at + timedelta(minutes=90))
                      for s in event.sessions.values())
    held = fake.meetings[meeting.external_id]
    return [(_t(held["startDateTime"]), _t(held["endDateTime"]))]


def _t(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def spans(name: str, starts: list[datetime]) -> list[tuple[datetime, datetime]]:
    if name == "teams":  # one meeting from the first start to the last end
        return [(min(starts), max(starts) + timedelta(minutes=90))]
    return [(s, s + timedelta(minutes=90)) for s in sorted(starts)]


@pytest.mark.parametrize("fake", TIMEBOUND, indirect=True)
async def test_a_course_gets_a_meeting_covering_each_of_its_sessions(
    runtime: Runtime, clock: FixedClock, queue: InProcessQueue, client: httpx.AsyncClient,
    fake: Any, request: pytest.FixtureRequest,
) -> None:
    name = request.node.callspec.params["fake"]
    now = datetime.now(UTC).replace(microsecond=0)
    clock.set(now)
    first = date(now.year + 1, 10, 1)
    first += timedelta(days=(1 - first.weekday()) % 7)  # a Tuesday in early October
    starts = local_starts(first)
    webinar, registration, account = await course(runtime, clock, queue, name,
                                                  fake.credentials(), first)
    async with runtime.sessionmaker() as s:
        webinar = await get_webinar(s, webinar.id)
    meeting = webinar.meeting
    assert meeting is not None and meeting.status == "ready", meeting.error
    link = (meeting.external_id, meeting.join_url)
    # Six sessions at 15:00 Berlin time: 13:00 UTC in summer time, 14:00 after it ends.
    assert {s.hour for s in starts} == {13, 14}
    assert on_platform(name, fake, webinar) == spans(name, starts)
    if name == "zoom":
        assert fake.meetings[meeting.external_id]["type"] == 8
        assert fake.meetings[meeting.external_id]["recurrence"]["end_times"] == 6

    # Session 3 is cancelled: the platform holds the other five.
    webinar = await change(runtime, clock, queue, cancel_session, account, webinar.id, 2)
    held = [s for i, s in enumerate(starts) if i != 2]
    assert on_platform(name, fake, webinar) == spans(name, held)

    # The last session moves a day later: the platform's copy follows (Zoom: its link now
    # serves any time, a recurring meeting with no fixed time).
    later = starts[5] + timedelta(days=1)
    local = later.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M")
    webinar = await change(runtime, clock, queue, move_session, account, webinar.id, 5, local)
    held = held[:-1] + [later]
    if name == "zoom":
        assert fake.meetings[webinar.meeting.external_id]["type"] == 3
        assert on_platform(name, fake, webinar) == []
    else:
        assert on_platform(name, fake, webinar) == spans(name, held)
    if name != "mts_link":  # one meeting, one link, for the whole course
        assert (webinar.meeting.external_id, webinar.meeting.join_url) == link

    # A click during session 4 leads to session 4's own link where sessions have their own.
    clock.set(starts[3] + timedelta(minutes=10))
    answer = await client.get(f"/j/{registration.join_token}")
    assert answer.status_code == 303
    target = answer.headers["location"]
    if name == "mts_link":
        event = fake.events[int(webinar.meeting.extra["event_id"])]
        fourth = next(s for s in event.sessions.values() if s.starts_at == starts[3])
        assert target.startswith(fake.link(fourth) + "?")
        async with runtime.sessionmaker() as s:
            kept = (await s.scalars(select(PersonalJoin))).all()
        assert [k.external_meeting_id for k in kept] == [str(fourth.id)]
        await mts_attendance_of_session_4(runtime, clock, client, fake, webinar, registration,
                                          fourth.id, kept[0].platform_person_id)
    elif name == "teams":  # the report after session 4 is read too
        fake.record_attendance(meeting.external_id, "Мария Иванова", starts[3],
                               starts[3] + timedelta(minutes=80))
        clock.set(starts[3] + timedelta(minutes=90 + 20))
        assert await poll_attendance(queue.ctx) == 2
        async with runtime.sessionmaker() as s:
            rows = (await s.scalars(select(Attendance))).all()
        assert [(r.joined_at, r.left_at) for r in rows] == [
            (starts[3], starts[3] + timedelta(minutes=80))]
    else:
        assert target.startswith("https://")

    # Cancelling the course removes everything from the platform.
    async with runtime.sessionmaker() as s:
        await cancel_webinar(s, clock, account, webinar.id)
        await commit_and_enqueue(s, queue, clock)
    await queue.drain()
    async with runtime.sessionmaker() as s:
        gone = (await get_webinar(s, webinar.id)).meeting
    assert gone is not None and gone.status == "deleted"
    if name == "mts_link":
        assert fake.events == {} and fake.meetings == {}
    elif name == "webex":
        assert fake.meetings == {} and fake.occurrences == {}
    else:
        assert fake.meetings == {}


async def mts_attendance_of_session_4(runtime: Runtime, clock: FixedClock,
                                      client: httpx.AsyncClient, fake: Any, webinar: Webinar,
                                      registration: Registration, session_id: int,
                                      participation: str | None) -> None:
    """A webhook about session 4 lands on the course; the participations report covers every
    session, each visit counted from its own session's start."""
    assert participation is not None
    async with runtime.sessionmaker() as s:
        connection = await s.scalar(select(PlatformConnection))
        assert connection is not None
        key = open_credentials(runtime.config, connection.credentials_sealed)[HOOK_KEY]
    url = hook_url(runtime.config, "mts_link", key)
    headers, body, query, method = fake.hook(
        PARTICIPANT_JOINED, MeetingLink(str(session_id), ""), participation, hook_url=url)
    sent = await client.request(method, url.removeprefix(runtime.config.base_url),
                                params=query, headers=headers, content=body)
    assert sent.status_code in (200, 204), sent.text
    async with runtime.sessionmaker() as s:
        rows = (await s.scalars(select(Attendance))).all()
    assert [(r.webinar_id, r.registration_id) for r in rows] == [(webinar.id, registration.id)]

    fake.attend(str(session_id), registration.email)
    meeting = webinar.meeting
    assert meeting is not None
    adapter = build_adapter(runtime.config, runtime.http, runtime.tokens, clock, "mts_link",
                            connection)
    facts = await adapter.attendance(MeetingLink(meeting.external_id or "",
                                                 meeting.join_url or "", None,
                                                 dict(meeting.extra)))
    fourth = fake.meetings[str(session_id)]
    assert [(f.external_id, f.occurred_at, f.participant_id) for f in facts] == [
        (meeting.external_id, fourth.starts_at, participation)]
