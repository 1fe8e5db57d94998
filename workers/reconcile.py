"""The periodic safety net: whatever the database says is due gets back on the queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import Clock
from webinars.db import Sessionmaker
from webinars.models import Delivery, Meeting
from webinars.queue import QUEUE_HORIZON, SEND_DELIVERIES, Job, Queue, delivery_jobs

from .deliveries import MAX_ATTEMPTS, enqueue_all, mark_enqueued

#: A pending meeting untouched this long has lost its job (Redis flushed, process killed).
MEETING_GRACE = timedelta(minutes=1)
#: A pending delivery that should have been picked up this long ago has lost its job.
GRACE = timedelta(minutes=2)
#: Rows one reconcile run puts back on the queue; the rest follow a minute later.
RECONCILE_LIMIT = 20_000


async def reconcile_meetings(ctx: dict[str, Any]) -> int:
    sessionmaker: Sessionmaker = ctx["sessionmaker"]
    now = ctx["clock"].now()
    queue: Queue = ctx["queue"]
    async with sessionmaker() as session:
        rows = (await session.execute(
            select(Meeting.webinar_id, Meeting.attempts).where(
                Meeting.status == "pending",
                Meeting.updated_at < now - MEETING_GRACE,
                or_(Meeting.next_attempt_at.is_(None), Meeting.next_attempt_at <= now),
            )
        )).all()
    for webinar_id, attempts in rows:
        await queue.enqueue(Job("create_meeting", (webinar_id,),
                                f"meeting:{webinar_id}:reconcile:{attempts}"))
    return len(rows)


async def reclaim(session: AsyncSession, now: datetime) -> int:
    """Rows stuck in "sending" past their lease: their worker died. Hand them out again."""
    stuck = (await session.execute(
        select(Delivery.id, Delivery.attempts)
        .where(Delivery.status == "sending", Delivery.lease_until < now)
    )).all()
    given_up = [i for i, attempts in stuck if attempts >= MAX_ATTEMPTS]
    again = [i for i, attempts in stuck if attempts < MAX_ATTEMPTS]
    if again:
        await session.execute(
            update(Delivery).where(Delivery.id.in_(again), Delivery.status == "sending")
            .values(status="pending", lease_until=None, enqueued_at=None, claimed_by=None,
                    last_error="interrupted while sending; sent again after the lease")
            .execution_options(synchronize_session=False))
    if given_up:
        await session.execute(
            update(Delivery).where(Delivery.id.in_(given_up), Delivery.status == "sending")
            .values(status="failed", lease_until=None, claimed_by=None,
                    last_error=f"interrupted while sending {MAX_ATTEMPTS} times; gave up")
            .execution_options(synchronize_session=False))
    return len(stuck)


async def due_unqueued(session: AsyncSession, now: datetime) -> list[tuple[int, datetime]]:
    """Pending rows due within the horizon that no queued job is known to cover.

    Never queued (Redis flushed before, process killed between commit and enqueue, or a
    reminder planned weeks ago that now falls within the horizon), or queued but overdue.
    """
    rows = (await session.execute(
        select(Delivery.id, Delivery.due_at)
        .where(Delivery.status == "pending", Delivery.due_at <= now + QUEUE_HORIZON,
               or_(and_(Delivery.enqueued_at.is_(None), Delivery.created_at <= now - GRACE),
                   and_(Delivery.enqueued_at <= now - GRACE, Delivery.due_at <= now - GRACE)))
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


async def reconcile_deliveries(ctx: dict[str, Any]) -> dict[str, int]:
    """Periodic: reclaim expired leases, then queue every due row that has no job."""
    clock: Clock = ctx["clock"]
    sessionmaker: Sessionmaker = ctx["sessionmaker"]
    now = clock.now()
    async with sessionmaker() as session:
        reclaimed = await reclaim(session, now)
        due = await due_unqueued(session, now)
        await session.commit()
    enqueued = await enqueue_all(ctx.get("queue"), reconcile_jobs(due, now))
    await mark_enqueued(sessionmaker, enqueued, now)
    return {"deliveries": len(enqueued), "reclaimed": reclaimed}


async def reconcile(ctx: dict[str, Any]) -> dict[str, int]:
    """Re-queue lost meeting jobs and deliveries; reclaim deliveries stuck past their lease."""
    return {
        "meetings": await reconcile_meetings(ctx),
        **await reconcile_deliveries(ctx),
    }
