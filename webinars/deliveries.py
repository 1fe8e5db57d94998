"""Writing the outbox: every message a change implies becomes a delivery row in the same
transaction as the change. Sending is the worker's job (`workers/deliveries.py`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Delivery, Registration, Webinar
from .queue import pending_deliveries

#: Kinds that a newer message of the same kind makes pointless while still unsent.
REPLACEABLE = ("update", "reminder", "followup")
#: Kinds that carry the event itself (iTIP REQUEST or CANCEL) and so a SEQUENCE.
CALENDAR_KINDS = ("invitation", "update", "cancellation")


async def write(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk insert (one statement, not one per row) and remember the ids for enqueueing."""
    if not rows:
        return
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
    }


def reminder_rows(webinar: Webinar, registration_id: int, now: datetime) -> list[dict[str, Any]]:
    """Reminders whose moment is still ahead; one whose moment has passed is never sent."""
    rows = []
    for minutes in webinar.reminder_offsets or []:
        due = webinar.start_at - timedelta(minutes=minutes)
        if due > now:
            rows.append(row(webinar, registration_id, "reminder", due, now, minutes))
    return rows


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


async def confirmed_ids(session: AsyncSession, webinar_id: int) -> list[int]:
    return list((await session.scalars(
        select(Registration.id).where(Registration.webinar_id == webinar_id,
                                      Registration.status == "confirmed")
    )).all())


async def on_registered(session: AsyncSession, webinar: Webinar, registration: Registration,
                        now: datetime) -> None:
    await write(session, [row(webinar, registration.id, "invitation", now, now),
                          *reminder_rows(webinar, registration.id, now)])


async def on_registration_cancelled(session: AsyncSession, webinar: Webinar,
                                    registration: Registration, now: datetime) -> None:
    await supersede(session, webinar_id=webinar.id, registration_id=registration.id,
                    kinds=("invitation", "update", "reminder", "followup"))
    await write(session, [row(webinar, registration.id, "cancellation", now, now)])


async def on_webinar_changed(session: AsyncSession, webinar: Webinar, now: datetime, *,
                             moved: bool) -> None:
    """An update to everyone; when the time moved, reminders are planned anew."""
    kinds = ("update", "reminder") if moved else ("update",)
    await supersede(session, webinar_id=webinar.id, kinds=kinds)
    rows: list[dict[str, Any]] = []
    for registration_id in await confirmed_ids(session, webinar.id):
        rows.append(row(webinar, registration_id, "update", now, now))
        if moved:
            rows.extend(reminder_rows(webinar, registration_id, now))
    await write(session, rows)


async def on_webinar_cancelled(session: AsyncSession, webinar: Webinar, now: datetime) -> None:
    await supersede(session, webinar_id=webinar.id,
                    kinds=("invitation", "update", "reminder", "followup"))
    await write(session, [row(webinar, rid, "cancellation", now, now)
                          for rid in await confirmed_ids(session, webinar.id)])


async def on_followup(session: AsyncSession, webinar: Webinar, now: datetime) -> None:
    """Recording or note added: sent after the end, or now if the webinar is over."""
    await supersede(session, webinar_id=webinar.id, kinds=("followup",))
    end = webinar.start_at + timedelta(minutes=webinar.duration_minutes)
    due = max(end, now)
    await write(session, [row(webinar, rid, "followup", due, now)
                          for rid in await confirmed_ids(session, webinar.id)])


async def on_reminders_changed(session: AsyncSession, webinar: Webinar, now: datetime) -> None:
    await supersede(session, webinar_id=webinar.id, kinds=("reminder",))
    rows: list[dict[str, Any]] = []
    for registration_id in await confirmed_ids(session, webinar.id):
        rows.extend(reminder_rows(webinar, registration_id, now))
    await write(session, rows)
