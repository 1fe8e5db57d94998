"""The meeting job: created after the commit, retried on temporary failures, failures shown."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.base import (
    MeetingLink,
    MeetingNotFound,
    MeetingSpec,
    PlatformRejected,
    PlatformUnavailable,
)
from webinars.clock import FixedClock
from webinars.models import Delivery
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.runtime import Runtime
from webinars.scheduling import cancel_webinar, get_webinar, update_webinar
from webinars.validation import webinar_input
from workers.reconcile import reconcile

from .factories import make_account, make_org, make_registration, make_webinar


class FakePlatform:
    """A third-party platform that fails as told, then answers with a new link per call."""

    name = "jitsi"
    link_kind = "dynamic"

    def __init__(self, failures: list[Exception], *, forgets: bool = False) -> None:
        self.failures = failures
        self.calls = 0
        #: The platform lost the meeting (deleted in its own UI, expired): moving or deleting
        #: it answers "not found".
        self.forgets = forgets
        self.deleted: list[str] = []

    async def create(self, spec: MeetingSpec) -> MeetingLink:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return MeetingLink(f"m{self.calls}", f"https://meet.example.org/m{self.calls}")

    async def update(self, link: MeetingLink, spec: MeetingSpec) -> MeetingLink:
        if self.forgets:
            raise MeetingNotFound(link.external_id)
        return await self.create(spec)

    async def delete(self, link: MeetingLink) -> None:
        if self.failures:
            raise self.failures.pop(0)
        if self.forgets:
            raise MeetingNotFound(link.external_id)
        self.deleted.append(link.external_id)


async def meeting_of(runtime: Runtime, webinar_id: int):  # type: ignore[no-untyped-def]
    async with runtime.sessionmaker() as s:
        return (await get_webinar(s, webinar_id)).meeting


async def test_temporary_failures_are_retried_with_back_off(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    platform = FakePlatform([PlatformUnavailable("HTTP 503"), PlatformUnavailable("HTTP 429", 90)])
    runtime.adapters["jitsi"] = platform
    org = await make_org(session, clock)
    webinar = await make_webinar(session, clock, await make_account(session, clock, org), org)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    meeting = await meeting_of(runtime, webinar.id)
    assert meeting.status == "pending" and meeting.error == "HTTP 503"
    assert meeting.next_attempt_at == clock.now() + timedelta(seconds=30)

    clock.advance(timedelta(seconds=31))
    await queue.drain()
    meeting = await meeting_of(runtime, webinar.id)
    assert meeting.error == "HTTP 429"  # the platform's Retry-After wins over our back-off
    assert meeting.next_attempt_at == clock.now() + timedelta(seconds=90)

    clock.advance(timedelta(seconds=91))
    await queue.drain()
    meeting = await meeting_of(runtime, webinar.id)
    assert meeting.status == "ready" and meeting.error is None
    assert meeting.join_url == "https://meet.example.org/m3"


async def test_a_rejection_is_final_and_shown(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    runtime.adapters["jitsi"] = FakePlatform([PlatformRejected("invalid credentials")])
    org = await make_org(session, clock)
    webinar = await make_webinar(session, clock, await make_account(session, clock, org), org)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    meeting = await meeting_of(runtime, webinar.id)
    assert (meeting.status, meeting.error) == ("failed", "invalid credentials")


async def test_a_lost_job_is_put_back_by_reconcile(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    org = await make_org(session, clock)
    webinar = await make_webinar(session, clock, await make_account(session, clock, org), org)
    await session.commit()  # committed, but the process "died" before enqueueing
    assert (await meeting_of(runtime, webinar.id)).status == "pending"
    await reconcile(queue.ctx)
    await queue.drain()
    assert (await meeting_of(runtime, webinar.id)).status == "pending"  # still in its grace time
    clock.advance(timedelta(minutes=2))
    await reconcile(queue.ctx)
    await queue.drain()
    assert (await meeting_of(runtime, webinar.id)).status == "ready"


async def test_a_new_link_sends_nothing_and_the_join_address_follows_it(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    client: httpx.AsyncClient,
) -> None:
    """Members hold only their /j/ address: a meeting replaced by a new link (a platform that
    cannot move one) needs no message to them, and the address leads to the new meeting."""
    runtime.adapters["jitsi"] = FakePlatform([])
    org = await make_org(session, clock)
    account = await make_account(session, clock, org)
    webinar = await make_webinar(session, clock, account, org)
    registration = await make_registration(session, clock, webinar)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    first = await client.get(f"/j/{registration.join_token}")
    assert first.headers["location"] == "https://meet.example.org/m1"
    async with runtime.sessionmaker() as s:
        data = webinar_input({"duration_minutes": 120}, clock,
                             default_timezone="Europe/Moscow", partial=True)
        await update_webinar(s, clock, account, webinar.id, data)
        await commit_and_enqueue(s, queue, clock)
    await queue.drain()
    async with runtime.sessionmaker() as s:
        fresh = await get_webinar(s, webinar.id)
        assert fresh.meeting is not None and fresh.meeting.join_url.endswith("/m2")
        assert fresh.sequence == 1  # the change of duration; the new link adds nothing
        updates = (await s.execute(select(Delivery.sequence).where(
            Delivery.webinar_id == webinar.id, Delivery.kind == "update",
            Delivery.status != "superseded"))).scalars().all()
    assert updates == [1]  # one update, for the duration, none for the link
    moved = await client.get(f"/j/{registration.join_token}")
    assert moved.headers["location"] == "https://meet.example.org/m2"


async def planned_with(runtime: Runtime, session: AsyncSession, clock: FixedClock,
                       queue: InProcessQueue, platform: FakePlatform):  # type: ignore[no-untyped-def]
    runtime.adapters["jitsi"] = platform
    org = await make_org(session, clock)
    account = await make_account(session, clock, org)
    webinar = await make_webinar(session, clock, account, org)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    assert (await meeting_of(runtime, webinar.id)).status == "ready"
    return account, webinar


async def test_cancelling_the_webinar_deletes_its_meeting_on_the_platform(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    platform = FakePlatform([])
    account, webinar = await planned_with(runtime, session, clock, queue, platform)
    platform.failures.append(PlatformUnavailable("HTTP 503"))  # the first delete fails
    async with runtime.sessionmaker() as s:
        await cancel_webinar(s, clock, account, webinar.id)
        await commit_and_enqueue(s, queue, clock)
    await queue.drain()
    assert (await meeting_of(runtime, webinar.id)).status == "pending"
    clock.advance(timedelta(seconds=31))
    await queue.drain()
    meeting = await meeting_of(runtime, webinar.id)
    assert (meeting.status, platform.deleted) == ("deleted", ["m1"])


async def test_a_meeting_the_platform_forgot_is_made_anew_or_counts_as_deleted(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    platform = FakePlatform([])
    account, webinar = await planned_with(runtime, session, clock, queue, platform)
    platform.forgets = True
    async with runtime.sessionmaker() as s:
        data = webinar_input({"title": "Новое название"}, clock, default_timezone="Europe/Moscow",
                             partial=True)
        await update_webinar(s, clock, account, webinar.id, data)
        await commit_and_enqueue(s, queue, clock)
    await queue.drain()
    meeting = await meeting_of(runtime, webinar.id)
    assert (meeting.status, meeting.external_id) == ("ready", "m2")  # moving it: a new one
    async with runtime.sessionmaker() as s:
        await cancel_webinar(s, clock, account, webinar.id)
        await commit_and_enqueue(s, queue, clock)
    await queue.drain()
    assert (await meeting_of(runtime, webinar.id)).status == "deleted"  # nothing to delete


async def test_a_transport_failure_is_a_temporary_platform_error(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    """An adapter's unexpected aiohttp or timeout error is put in the error tree, not lost."""
    platform = FakePlatform([aiohttp.ServerDisconnectedError(), TimeoutError()])
    runtime.adapters["jitsi"] = platform
    org = await make_org(session, clock)
    webinar = await make_webinar(session, clock, await make_account(session, clock, org), org)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    meeting = await meeting_of(runtime, webinar.id)
    assert (meeting.status, meeting.error) == ("pending", "jitsi: ServerDisconnectedError")
    clock.advance(timedelta(seconds=31))
    await queue.drain()
    meeting = await meeting_of(runtime, webinar.id)
    assert (meeting.status, meeting.error) == ("pending", "jitsi: no answer in time")
    clock.advance(timedelta(seconds=61))
    await queue.drain()
    assert (await meeting_of(runtime, webinar.id)).status == "ready"
