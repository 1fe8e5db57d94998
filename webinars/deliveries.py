"""Writing the outbox: the delivery rows the notifications handler (`workers.notifications`)
writes for each event. Sending them is the worker's job (`workers/deliveries.py`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Delivery, Webinar
from .queue import pending_deliveries
from .series import held, is_series

#: Kinds that a newer message of the same kind makes pointless while still unsent.
REPLACEABLE = ("update", "reminder", "followup", "deadline")
#: How long before a period's submission deadline members are reminded of it.
DEADLINE_NOTICE_MINUTES = 24 * 60
#: Kinds that carry the event itself (iTIP REQUEST or CANCEL) and so a SEQUENCE.
CALENDAR_KINDS = ("invitation", "update", "cancellation", "promoted")
#: Plain notices about a registration itself, with no calendar part.
NOTICE_KINDS = ("pending", "waitlisted", "declined", "link")


async def write(session: AsyncSession, rows: Sequence[dict[str, Any]], *,
                event_id: int | None = None) -> None:
    """Bulk insert (one statement, not one per row) and remember the ids for enqueueing."""
    if not rows:
        return
    if event_id is not None:
        for row in rows:
            row["event_id"] = event_id
    # Core, not the ORM: the ORM falls back to one INSERT per row when rows differ in which
    # columns are NULL (updates vs reminders), which made a 5,000-person reschedule take 8 s.
    table: Table = Delivery.__table__  # type: ignore[assignment]
    result = await session.execute(
        insert(table).returning(table.c.id, table.c.due_at), list(rows)
    )
    pending_deliveries(session).extend((row.id, row.due_at) for row in result)


def row(webinar: Webinar, registration_id: int, kind: str, due_at: datetime, now: datetime,
        offset_minutes: int | None = None) -> dict[str, Any]:
    return {
        "webinar_id": webinar.id,
        "registration_id": registration_id,
        "kind": kind,
        "due_at": due_at,
        "status": "pending",
        "sequence": webinar.sequence,
        "offset_minutes": offset_minutes,
        "attempts": 0,
        "created_at": now,
        "event_id": None,
        "session_id": None,
    }


def reminder_rows(webinar: Webinar, registration_id: int, now: datetime) -> list[dict[str, Any]]:
    """Reminders whose moment is still ahead; one whose moment has passed is never sent.

    A series has them per session still held, each row naming its session."""
    starts: list[tuple[int | None, datetime]] = (
        [(item.id, item.start_at) for item in held(webinar)] if is_series(webinar)
        else [(None, webinar.start_at)])
    rows = []
    for session_id, start in starts:
        for minutes in webinar.reminder_offsets or []:
            due = start - timedelta(minutes=minutes)
            if due > now:
                reminder = row(webinar, registration_id, "reminder", due, now, minutes)
                if session_id is not None:
                    reminder["session_id"] = session_id
                rows.append(reminder)
    return rows


def deadline_rows(webinar: Webinar, registration_id: int, now: datetime
                  ) -> list[dict[str, Any]]:
    """The reminder of a submission deadline, while its moment is still ahead."""
    if webinar.deadline_at is None:
        return []
    due = webinar.deadline_at - timedelta(minutes=DEADLINE_NOTICE_MINUTES)
    if due <= now:
        return []
    return [row(webinar, registration_id, "deadline", due, now, DEADLINE_NOTICE_MINUTES)]


async def supersede(session: AsyncSession, *, webinar_id: int, kinds: Iterable[str],
                    registration_id: int | None = None) -> None:
    """Mark unsent rows as superseded; a worker re-checks the row and never sends them.

    Rows out with a worker ("sending") are marked too: if that worker dies, reclaiming must
    not bring back a reminder for a time that no longer holds. A worker that does send one
    records it as sent (`workers.deliveries.write_outcomes`).
    """
    stmt = (
        update(Delivery)
        .where(Delivery.webinar_id == webinar_id, Delivery.status.in_(("pending", "sending")),
               Delivery.kind.in_(list(kinds)))
        .values(status="superseded")
    )
    if registration_id is not None:
        stmt = stmt.where(Delivery.registration_id == registration_id)
    await session.execute(stmt.execution_options(synchronize_session=False))
