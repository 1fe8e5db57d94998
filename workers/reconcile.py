"""The periodic safety net: whatever the database says is due gets back on the queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import Clock
from webinars.config import AppConfig
from webinars.db import Sessionmaker
from webinars.models import Delivery, Event, Meeting, Webinar, WorkerProcess
from webinars.queue import (
    QUEUE_HORIZON,
    SEND_DELIVERIES,
    Job,
    Queue,
    delivery_jobs,
    dispatch_job,
    meeting_failed_job,
    meeting_job,
)
from webinars.runtime import WorkerContext
from webinars.states import MeetingStatus, WebinarStatus

from .copies import reconcile_copies
from .deliveries import MAX_ATTEMPTS, enqueue_all, mark_enqueued
from .dispatch import MAX_ATTEMPTS as MAX_DISPATCH_ATTEMPTS
from .webhooks import reconcile_webhooks

#: A pending meeting untouched this long has lost its job (Redis flushed, process killed).
MEETING_GRACE = timedelta(minutes=1)
#: Rows one reconcile run puts back on the queue; the rest follow a minute later.
RECONCILE_LIMIT = 20_000


async def reconcile_events(ctx: WorkerContext, *, grace: timedelta | None = None) -> int:
    """Dispatch every event no job finished: never queued (Redis flushed, the process killed
    between commit and enqueue), or a handler failed. A failing event waits twice as long
    after each try (grace × 2^tries: about a day and a half for all of them), and after
    MAX_DISPATCH_ATTEMPTS it is left to the activity log."""
    config: AppConfig = ctx["config"]
    now = ctx["clock"].now()
    grace = timedelta(seconds=config.reconcile_grace) if grace is None else grace
    async with ctx["sessionmaker"]() as session:
        rows = (await session.execute(
            select(Event.id, Event.occurred_at, Event.dispatch_attempts)
            .where(Event.dispatched_at.is_(None), Event.occurred_at <= now - grace,
                   Event.dispatch_attempts < MAX_DISPATCH_ATTEMPTS)
            .order_by(Event.id).limit(RECONCILE_LIMIT))).all()
    due = [r.id for r in rows if r.occurred_at <= now - grace * 2 ** r.dispatch_attempts]
    queue: Queue | None = ctx.get("queue")
    stamp = now.strftime("%Y%m%d%H%M%S")
    for event_id in due:
        if queue is not None:
            await queue.enqueue(dispatch_job(event_id, f":r{stamp}"))
    return len(due)


async def reconcile_meetings(ctx: WorkerContext) -> int:
    sessionmaker: Sessionmaker = ctx["sessionmaker"]
    now = ctx["clock"].now()
    queue = ctx.get("queue")
    if queue is None:
        return 0
    async with sessionmaker() as session:
        rows = (await session.execute(
            select(Meeting.webinar_id, Meeting.attempts)
            .join(Webinar, Webinar.id == Meeting.webinar_id).where(
                Meeting.status == MeetingStatus.PENDING,
                # an indicative item's meeting waits for its date (`meetings.sync`)
                Webinar.status != WebinarStatus.PLANNED,
                Meeting.updated_at < now - MEETING_GRACE,
                or_(Meeting.next_attempt_at.is_(None), Meeting.next_attempt_at <= now),
            )
        )).all()
    for webinar_id, attempts in rows:
        await queue.enqueue(meeting_job(webinar_id, f"reconcile:{attempts}"))
    async with sessionmaker() as session:  # organizers not yet told of a failure (job lost)
        untold = (await session.scalars(
            select(Meeting.webinar_id).join(Webinar, Webinar.id == Meeting.webinar_id).where(
                Meeting.status == MeetingStatus.FAILED, Meeting.failure_notified_at.is_(None),
                Meeting.updated_at < now - MEETING_GRACE, Webinar.start_at > now))).all()
    for webinar_id in untold:
        await queue.enqueue(meeting_failed_job(webinar_id, "reconcile"))
    return len(rows) + len(untold)


@dataclass
class Reclaimed:
    """Rows taken back from "sending": `again` (id, due) are pending once more."""

    again: list[tuple[int, datetime]] = field(default_factory=list)
    given_up: int = 0

    @property
    def count(self) -> int:
        return len(self.again) + self.given_up


async def reclaim(session: AsyncSession, now: datetime, config: AppConfig, *,
                  gone: Sequence[str] = ()) -> Reclaimed:
    """Rows stuck in "sending" whose worker is gone: hand them out again.

    Gone means named in `gone` (a heartbeat pass found the worker dead), or, the last resort,
    the row's lease has run out and no worker with a fresh heartbeat holds it. A live worker's
    rows are never taken, however slow its batch.
    """
    fresh = select(WorkerProcess.id).where(
        WorkerProcess.heartbeat_at >= now - timedelta(seconds=config.worker_gone_after))
    expired = and_(Delivery.lease_until < now,
                   or_(Delivery.claimed_by.is_(None), Delivery.claimed_by.not_in(fresh)))
    dead = or_(expired, Delivery.claimed_by.in_(list(gone))) if gone else expired
    stuck = (await session.execute(
        select(Delivery.id, Delivery.attempts, Delivery.due_at, Delivery.claimed_by)
        .where(Delivery.status == "sending", dead)
    )).all()
    given_up = [r.id for r in stuck if r.attempts >= MAX_ATTEMPTS]
    again = [r for r in stuck if r.attempts < MAX_ATTEMPTS]
    for by_gone in (True, False):
        ids = [r.id for r in again if (r.claimed_by in gone) == by_gone]
        if ids:
            why = ("its worker stopped" if by_gone else "its lease ran out")
            await session.execute(
                update(Delivery).where(Delivery.id.in_(ids), Delivery.status == "sending")
                .values(status="pending", lease_until=None, enqueued_at=None, claimed_by=None,
                        last_error=f"interrupted while sending ({why}); sent again")
                .execution_options(synchronize_session=False))
    if given_up:
        await session.execute(
            update(Delivery).where(Delivery.id.in_(given_up), Delivery.status == "sending")
            .values(status="failed", lease_until=None, claimed_by=None,
                    last_error=f"interrupted while sending {MAX_ATTEMPTS} times; gave up")
            .execution_options(synchronize_session=False))
    return Reclaimed([(r.id, r.due_at) for r in again], len(given_up))


async def due_unqueued(session: AsyncSession, now: datetime, grace: timedelta
                       ) -> list[tuple[int, datetime]]:
    """Pending rows due within the horizon that no queued job is known to cover.

    Never queued (Redis flushed before, process killed between commit and enqueue, or a
    reminder planned weeks ago that now falls within the horizon), or queued but overdue.
    `grace` (RECONCILE_GRACE) is how long a job may take to pick its rows up.
    """
    rows = (await session.execute(
        select(Delivery.id, Delivery.due_at)
        .where(Delivery.status == "pending", Delivery.due_at <= now + QUEUE_HORIZON,
               or_(and_(Delivery.enqueued_at.is_(None), Delivery.created_at <= now - grace),
                   and_(Delivery.enqueued_at <= now - grace, Delivery.due_at <= now - grace)))
        .order_by(Delivery.due_at, Delivery.id)
        .limit(RECONCILE_LIMIT)
    )).all()
    return [(r[0], r[1]) for r in rows]


def reconcile_jobs(due: Sequence[tuple[int, datetime]], now: datetime) -> list[Job]:
    """Batch jobs whose ids name this reconcile minute: two runs in one minute collapse into
    one, and a stale job id still sitting in Redis cannot swallow the new one."""
    stamp = now.strftime("%Y%m%d%H%M")
    return [replace(job, job_id=f"{job.job_id}:r{stamp}") for job in delivery_jobs(due, now)
            if job.name == SEND_DELIVERIES]


async def reconcile_deliveries(ctx: WorkerContext) -> dict[str, int]:
    """Periodic: reclaim rows of dead workers, then queue every due row that has no job."""
    clock: Clock = ctx["clock"]
    sessionmaker: Sessionmaker = ctx["sessionmaker"]
    config: AppConfig = ctx["config"]
    now = clock.now()
    async with sessionmaker() as session:
        reclaimed = await reclaim(session, now, config)
        due = await due_unqueued(session, now, timedelta(seconds=config.reconcile_grace))
        await session.commit()
    known = {i for i, _ in due}
    due += [(i, at) for i, at in reclaimed.again if i not in known]
    enqueued = await enqueue_all(ctx.get("queue"), reconcile_jobs(due, now))
    await mark_enqueued(sessionmaker, enqueued, now)
    return {"deliveries": len(enqueued), "reclaimed": reclaimed.count}


async def queue_every_due(ctx: WorkerContext) -> int:
    """Queue every pending row due within the horizon, whatever its `enqueued_at` says: for the
    in-process runner at start, whose queue lived in the memory of the process that stopped."""
    clock: Clock = ctx["clock"]
    sessionmaker: Sessionmaker = ctx["sessionmaker"]
    now = clock.now()
    async with sessionmaker() as session:
        due = [(r[0], r[1]) for r in (await session.execute(
            select(Delivery.id, Delivery.due_at)
            .where(Delivery.status == "pending", Delivery.due_at <= now + QUEUE_HORIZON)
            .order_by(Delivery.due_at, Delivery.id)
            .limit(RECONCILE_LIMIT)
        )).all()]
    stamp = now.strftime("%Y%m%d%H%M%S")
    jobs = [replace(job, job_id=f"{job.job_id}:s{stamp}") for job in delivery_jobs(due, now)]
    enqueued = await enqueue_all(ctx.get("queue"), jobs)
    await mark_enqueued(sessionmaker, enqueued, now)
    await reconcile_events(ctx, grace=timedelta(0))
    return len(enqueued)


async def reconcile(ctx: WorkerContext) -> dict[str, int]:
    """Re-queue undispatched events, lost meeting jobs, deliveries, webhook messages, plan
    reminders and notices to copies; reclaim deliveries stuck past their lease."""
    return {
        "events": await reconcile_events(ctx),
        "meetings": await reconcile_meetings(ctx),
        **await reconcile_deliveries(ctx),
        **await reconcile_webhooks(ctx),
        **await reconcile_copies(ctx),
    }
