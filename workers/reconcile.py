"""The periodic safety net: whatever the database says is due gets back on the queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select

from webinars.db import Sessionmaker
from webinars.models import Meeting
from webinars.queue import Job, Queue

from .deliveries import reconcile_deliveries

#: A pending meeting untouched this long has lost its job (Redis flushed, process killed).
MEETING_GRACE = timedelta(minutes=1)


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


async def reconcile(ctx: dict[str, Any]) -> dict[str, int]:
    """Re-queue lost meeting jobs and deliveries; reclaim deliveries stuck past their lease."""
    return {
        "meetings": await reconcile_meetings(ctx),
        **await reconcile_deliveries(ctx),
    }
