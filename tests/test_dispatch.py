"""The dispatcher: every change is an event, each (event, handler) runs once, in order per
webinar, in batches for a fan-out, and what no job dispatched is picked up by reconcile."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bench.common import HeldQueue
from webinars import deliveries
from webinars.clock import FixedClock
from webinars.models import Account, Delivery, Event, EventHandled, Webinar
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.runtime import Runtime
from webinars.scheduling import update_webinar
from webinars.states import EventKind
from webinars.validation import webinar_input
from workers import notifications
from workers.dispatch import HANDLERS, MAX_ATTEMPTS, WEBHOOKS, dispatch
from workers.reconcile import reconcile_events

from .conftest import dispatch_held
from .factories import make_account, make_org, make_registration, make_webinar

PEOPLE = [f"member{i}@school.example" for i in range(5)]


async def planned(session: AsyncSession, clock: FixedClock, people: list[str] = PEOPLE
                  ) -> tuple[Account, Webinar]:
    """A webinar with registrants whose invitations are written (their jobs not run)."""
    org = await make_org(session, clock)
    account = await make_account(session, clock, org)
    webinar = await make_webinar(session, clock, account, org,
                                 start_at=clock.now() + timedelta(days=3))
    for email in people:
        await make_registration(session, clock, webinar, email=email)
    return account, webinar


async def move(session: AsyncSession, clock: FixedClock, account: Account, webinar: Webinar,
               days: int) -> None:
    start = (webinar.start_at + timedelta(days=days)).isoformat()
    data = webinar_input({"start": start}, clock, default_timezone=webinar.timezone,
                         partial=True)
    await update_webinar(session, clock, account, webinar.id, data)


async def rows(runtime: Runtime, kind: str, *, live: bool = True) -> list[Delivery]:
    async with runtime.sessionmaker() as s:
        stmt = select(Delivery).where(Delivery.kind == kind).order_by(Delivery.id)
        if live:
            stmt = stmt.where(Delivery.status != "superseded")
        return list((await s.scalars(stmt)).all())


async def events(runtime: Runtime, kind: EventKind | None = None) -> list[Event]:
    async with runtime.sessionmaker() as s:
        stmt = select(Event).order_by(Event.id)
        if kind is not None:
            stmt = stmt.where(Event.kind == kind.value)
        return list((await s.scalars(stmt)).all())


def held_ctx(runtime: Runtime) -> dict[str, Any]:
    return {**runtime.job_context(), "queue": HeldQueue()}


def test_every_kind_has_its_handlers_in_one_table() -> None:
    assert set(HANDLERS) == set(EventKind)
    for kind, handlers in HANDLERS.items():
        names = [name for name, _ in handlers]
        assert len(names) == len(set(names)), kind  # a handler once per kind
        assert names[-1] == WEBHOOKS  # integrators hear of everything


async def test_the_change_and_its_event_are_one_transaction_and_nothing_is_written_for_members(
    runtime: Runtime, session: AsyncSession, clock: FixedClock,
) -> None:
    account, webinar = await planned(session, clock)
    await dispatch_held(session, runtime.job_context())
    ids = account.id, webinar.id
    await move(session, clock, account, webinar, 1)
    await session.rollback()  # the request failed after the change: neither is kept
    assert await events(runtime, EventKind.WEBINAR_CHANGED) == []
    session.expunge_all()
    account, webinar = await session.get_one(Account, ids[0]), await session.get_one(
        Webinar, ids[1])
    await move(session, clock, account, webinar, 1)
    await session.commit()
    [changed] = await events(runtime, EventKind.WEBINAR_CHANGED)
    assert changed.actor_id == account.id and changed.dispatched_at is None
    assert set(changed.data["changed"]) == {"start_at"}
    old, new = changed.data["changed"]["start_at"]["old"], changed.data["changed"]["start_at"]["new"]
    assert new > old
    assert await rows(runtime, "update") == []  # the members' updates are the handler's


async def test_dispatching_an_event_twice_or_concurrently_writes_its_rows_once(
    runtime: Runtime, session: AsyncSession, clock: FixedClock,
) -> None:
    account, webinar = await planned(session, clock)
    await dispatch_held(session, runtime.job_context())
    await move(session, clock, account, webinar, 1)
    await session.commit()
    [changed] = await events(runtime, EventKind.WEBINAR_CHANGED)
    results = await asyncio.gather(*[dispatch(held_ctx(runtime), changed.id)  # type: ignore[arg-type]
                                     for _ in range(3)])
    assert "dispatched" in results
    assert await dispatch(held_ctx(runtime), changed.id) == "nothing to do"  # type: ignore[arg-type]
    updates = await rows(runtime, "update", live=False)
    assert sorted(d.registration_id for d in updates) == sorted(
        {d.registration_id for d in updates})
    assert len(updates) == len(PEOPLE)
    async with runtime.sessionmaker() as s:
        markers = (await s.scalars(select(EventHandled).where(
            EventHandled.event_id == changed.id))).all()
    assert {(m.handler, m.done_at is not None) for m in markers} == {
        ("notifications", True), ("meetings", True), ("copies", True), ("webhooks", True)}
    assert {m.handler: m.count for m in markers}["notifications"] == len(PEOPLE)


async def test_a_fan_out_goes_in_batches_and_continues_where_an_interrupted_one_stopped(
    runtime: Runtime, session: AsyncSession, clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account, webinar = await planned(session, clock)
    await dispatch_held(session, runtime.job_context())
    await move(session, clock, account, webinar, 1)
    await session.commit()
    [changed] = await events(runtime, EventKind.WEBINAR_CHANGED)
    monkeypatch.setattr(notifications, "BATCH", 2)
    written = 0
    real_write = deliveries.write

    async def dies_on_the_third_batch(*args: Any, **kwargs: Any) -> None:
        nonlocal written
        written += 1
        if written == 3:
            raise ConnectionResetError("the worker lost its database connection")
        await real_write(*args, **kwargs)

    monkeypatch.setattr(deliveries, "write", dies_on_the_third_batch)
    assert await dispatch(held_ctx(runtime), changed.id) == "failed"  # type: ignore[arg-type]
    assert len(await rows(runtime, "update")) == 4  # two batches of two were committed
    async with runtime.sessionmaker() as s:
        event = await s.get_one(Event, changed.id)
        marker = await s.get_one(EventHandled, (changed.id, "notifications"))
    assert event.dispatch_attempts == 1 and "ConnectionResetError" in (event.last_error or "")
    assert marker.done_at is None and marker.count == 4

    jobs = HeldQueue()
    assert await dispatch({**runtime.job_context(), "queue": jobs},  # type: ignore[arg-type]
                          changed.id) == "dispatched"
    updates = await rows(runtime, "update")
    assert sorted(d.registration_id for d in updates) == sorted(
        {d.registration_id for d in updates}) and len(updates) == len(PEOPLE)
    # Every batch's rows were queued for sending once its transaction committed.
    queued = sorted(i for job in jobs.jobs if job.name == "send_deliveries" for i in job.args[0])
    assert set(queued) >= {d.id for d in updates if d.created_at == clock.now()} - {
        d.id for d in updates[:4]}


async def test_events_of_one_webinar_reach_a_handler_in_the_order_they_happened(
    runtime: Runtime, session: AsyncSession, clock: FixedClock,
) -> None:
    account, webinar = await planned(session, clock, PEOPLE[:2])
    await dispatch_held(session, runtime.job_context())
    await move(session, clock, account, webinar, 1)
    await session.commit()
    await move(session, clock, account, webinar, 2)
    await session.commit()
    first, second = await events(runtime, EventKind.WEBINAR_CHANGED)
    # The later event's job runs first (two workers, or a job retried): the earlier is done
    # before it, so the reminders end at the final time and one update per member is live.
    assert await dispatch(held_ctx(runtime), second.id) == "dispatched"  # type: ignore[arg-type]
    assert await dispatch(held_ctx(runtime), first.id) == "dispatched"  # type: ignore[arg-type]
    updates = await rows(runtime, "update")
    assert len(updates) == 2 and {d.event_id for d in updates} == {second.id}
    async with runtime.sessionmaker() as s:
        final = await s.get_one(Webinar, webinar.id)
    reminders = await rows(runtime, "reminder")
    assert {d.due_at for d in reminders} == {final.start_at - timedelta(hours=24),
                                             final.start_at - timedelta(minutes=15)}


async def test_events_whose_jobs_were_lost_are_dispatched_by_reconcile(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
) -> None:
    await planned(session, clock, PEOPLE[:2])
    await session.commit()  # committed, never enqueued: Redis flushed, or the process died
    ctx = runtime.job_context()
    assert await reconcile_events(ctx) == 0  # a job may still be about to pick them up
    clock.advance(timedelta(seconds=runtime.config.reconcile_grace))
    assert await reconcile_events(ctx) == len(await events(runtime))
    await queue.drain()
    assert all(e.dispatched_at is not None for e in await events(runtime))
    assert len(await rows(runtime, "invitation", live=False)) == 2
    assert await reconcile_events(ctx) == 0


async def test_a_failing_handler_is_retried_with_a_growing_pause_then_left_to_the_log(
    runtime: Runtime, session: AsyncSession, clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await planned(session, clock, PEOPLE[:1])
    await session.commit()

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(deliveries, "write", broken)
    grace = timedelta(seconds=runtime.config.reconcile_grace)
    held = HeldQueue()
    ctx = {**runtime.job_context(), "queue": held}
    [confirmed] = await events(runtime, EventKind.REGISTRATION_CONFIRMED)
    started, picked = clock.now(), []
    while clock.now() < started + grace * 2 ** (MAX_ATTEMPTS + 2):
        clock.advance(grace)
        held.jobs.clear()
        await reconcile_events(ctx)  # type: ignore[arg-type]
        if confirmed.id in {job.args[0] for job in held.jobs}:
            picked.append(clock.now())
            assert await dispatch(ctx, confirmed.id) == "failed"  # type: ignore[arg-type]
    assert len(picked) == MAX_ATTEMPTS  # then never again
    pauses = [b - a for a, b in pairwise(picked)]
    assert pauses == sorted(pauses) and pauses[-1] > 100 * pauses[0]
    assert sum(pauses, timedelta()) > timedelta(hours=12)
    async with runtime.sessionmaker() as s:
        event = await s.get_one(Event, confirmed.id)
    assert (event.dispatched_at, event.dispatch_attempts) == (None, MAX_ATTEMPTS)
    assert "a bug" in (event.last_error or "")


async def test_a_given_up_event_no_longer_holds_back_the_webinars_later_ones(
    runtime: Runtime, session: AsyncSession, clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account, webinar = await planned(session, clock, PEOPLE[:1])
    await session.commit()
    [confirmed] = await events(runtime, EventKind.REGISTRATION_CONFIRMED)
    real_write = deliveries.write

    async def broken_for_invitations(session: AsyncSession, rows: Any, **kw: Any) -> None:
        if any(r["kind"] == "invitation" for r in rows):
            raise RuntimeError("a bug")
        await real_write(session, rows, **kw)

    monkeypatch.setattr(deliveries, "write", broken_for_invitations)
    assert await dispatch(held_ctx(runtime), confirmed.id) == "failed"  # type: ignore[arg-type]
    await move(session, clock, account, webinar, 1)
    await session.commit()
    [changed] = await events(runtime, EventKind.WEBINAR_CHANGED)
    # While the earlier one may still succeed, the later one waits and is not blamed.
    assert await dispatch(held_ctx(runtime), changed.id) == "waiting"  # type: ignore[arg-type]
    async with runtime.sessionmaker() as s:
        assert (await s.get_one(Event, changed.id)).dispatch_attempts == 0
        assert (await s.get_one(Event, confirmed.id)).dispatch_attempts == 2
        await s.execute(update(Event).where(Event.id == confirmed.id)
                        .values(dispatch_attempts=MAX_ATTEMPTS))
        await s.commit()
    assert await dispatch(held_ctx(runtime), changed.id) == "dispatched"  # type: ignore[arg-type]
    assert len(await rows(runtime, "update")) == 1


async def test_a_reschedule_answers_before_any_member_row_exists(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
) -> None:
    account, webinar = await planned(session, clock)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    await move(session, clock, account, webinar, 1)
    before = await session.scalar(select(func.count()).select_from(Delivery))
    await commit_and_enqueue(session, queue, clock)  # what the web handler does
    await queue.drain()
    assert len(await rows(runtime, "update", live=False)) == len(PEOPLE)
    assert before == len(PEOPLE) * 3  # invitations and reminders only, at the answer
