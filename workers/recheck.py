"""Claiming deliveries and checking them again against the current state.

A row is claimed by one conditional UPDATE (pending → sending, with the claiming worker's id,
a lease and, the first time, its random Message-ID), so two workers never both send it. What
was claimed is then decided anew from the webinar and registration as they are now (`decide`):
a cancelled webinar or registration, a reminder for a moved webinar, a version the attendee
already holds: the row is superseded, never sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, exists, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from webinars import branding, series
from webinars.config import AppConfig
from webinars.deliveries import CALENDAR_KINDS, NOTICE_KINDS
from webinars.mail import Recipient
from webinars.models import Attendance, Delivery, Event, JoinClick, Registration, Webinar
from webinars.states import DeliveryKind, SessionStatus

#: Jobs are deferred to their rows' exact due time (`queue.delivery_jobs`); this only absorbs
#: clock differences between the process that enqueued and the worker.
EARLY = timedelta(seconds=5)


@dataclass(frozen=True)
class Row:
    id: int
    kind: str
    due_at: datetime
    created_at: datetime
    offset_minutes: int | None
    attempts: int
    webinar_id: int
    registration_id: int
    recipient: Recipient
    registration_status: str
    reminders_off: bool = False
    sequence_offset: int = 0
    #: The session of a series a reminder is about.
    session_id: int | None = None
    #: The event that wrote it (an update lists what that change changed).
    event_id: int | None = None
    changed: dict[str, Any] | None = None


@dataclass
class History:
    """What this registrant's calendar already holds: the last calendar message sent."""

    max_sequence: int | None = None
    last_kind: str | None = None
    last_request_sent_at: datetime | None = None


def unindexed(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """`condition` as a filter no index can serve, for a statement over a list of ids that must
    go by the primary key. PostgreSQL's statistics say a status is rare ("sending" always,
    "pending" once most rows are sent), and on their word it drove such statements by the
    (status, due_at) index, reading every row in that status: during a fan-out, thousands
    for each job's claim and each batch of outcomes."""
    return case((condition, True), else_=false())


class RandomHex(FunctionElement[str]):
    """32 random hex digits, made by the database inside the claiming UPDATE."""

    type = String()
    inherit_cache = True


@compiles(RandomHex, "postgresql")
def _random_hex_pg(element: RandomHex, compiler: Any, **kw: Any) -> str:
    return "replace(gen_random_uuid()::text, '-', '')"


@compiles(RandomHex, "sqlite")
def _random_hex_sqlite(element: RandomHex, compiler: Any, **kw: Any) -> str:
    return "lower(hex(randomblob(16)))"


async def claim(session: AsyncSession, ids: Sequence[int], now: datetime, *,
                lease: timedelta = timedelta(seconds=AppConfig.delivery_lease),
                domain: str = "localhost", worker_id: str | None = None) -> list[int]:
    """pending → sending in one conditional UPDATE: of two workers, only one gets a row.

    The row records who holds it (`claimed_by`): while that worker's heartbeat is fresh, the
    row stays its own whatever its lease says (`reconcile.reclaim`). The job passes the
    configured DELIVERY_LEASE; the default is the setting's default. A row's Message-ID is
    made here the first time it is claimed (random, so no other installation or restored
    database repeats it) and kept for every later attempt.
    """
    if not ids:
        return []
    result = await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(ids)),
               unindexed(and_(Delivery.status == "pending", Delivery.due_at <= now + EARLY)))
        .values(status="sending", lease_until=now + lease, attempts=Delivery.attempts + 1,
                claimed_by=worker_id,
                message_id=func.coalesce(Delivery.message_id,
                                         "<" + RandomHex() + f"@{domain}>"))
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(result.scalars().all())


async def load_rows(session: AsyncSession, ids: Sequence[int]) -> list[Row]:
    result = await session.execute(
        select(Delivery.id, Delivery.kind, Delivery.due_at, Delivery.created_at,
               Delivery.offset_minutes, Delivery.attempts, Delivery.webinar_id,
               Delivery.registration_id, Delivery.message_id, Registration.name,
               Registration.email, Registration.locale, Registration.timezone,
               Registration.token, Registration.join_token, Registration.status,
               Registration.reminders_off, Registration.address_confirmed_at,
               Registration.registered_by_id, Registration.sequence_offset,
               Delivery.session_id, Delivery.event_id,
               and_(Delivery.kind == DeliveryKind.FOLLOWUP, or_(
                   exists().where(Attendance.webinar_id == Delivery.webinar_id,
                                  Attendance.registration_id == Delivery.registration_id),
                   exists().where(JoinClick.registration_id == Delivery.registration_id)))
               .label("attended"))
        .join(Registration, Registration.id == Delivery.registration_id)
        .where(Delivery.id.in_(list(ids)))
        .order_by(Delivery.id)
    )
    rows: list[Row] = []
    for r in result.all():
        # A name typed on the public form greets the address only once the address is proven.
        trusted = r.address_confirmed_at is not None or r.registered_by_id is not None
        if not r.message_id:
            raise ValueError(f"delivery {r.id} is loaded for sending without being claimed")
        recipient = Recipient(r.id, r.name if trusted else "", r.email, r.locale, r.timezone,
                              r.token, r.join_token, r.message_id, bool(r.attended))
        rows.append(Row(id=r.id, kind=r.kind, due_at=r.due_at, created_at=r.created_at,
                        offset_minutes=r.offset_minutes, attempts=r.attempts,
                        webinar_id=r.webinar_id, registration_id=r.registration_id,
                        recipient=recipient, registration_status=r.status,
                        reminders_off=r.reminders_off, sequence_offset=r.sequence_offset,
                        session_id=r.session_id, event_id=r.event_id))
    return rows


async def load_history(session: AsyncSession, registration_ids: Iterable[int]
                       ) -> dict[int, History]:
    rows = (await session.execute(
        select(Delivery.registration_id, Delivery.kind, Delivery.sequence, Delivery.sent_at)
        .where(Delivery.registration_id.in_(sorted(set(registration_ids))),
               Delivery.status == "sent", Delivery.kind.in_(CALENDAR_KINDS))
        .order_by(Delivery.sent_at, Delivery.id)
    )).all()
    history: dict[int, History] = {}
    for registration_id, kind, sequence, sent_at in rows:
        h = history.setdefault(registration_id, History())
        h.max_sequence = sequence if h.max_sequence is None else max(h.max_sequence, sequence)
        h.last_kind = kind
        if kind != "cancellation":
            h.last_request_sent_at = sent_at
    return history


def decide(row: Row, webinar: Webinar, history: History, now: datetime) -> tuple[int | None, str]:
    """(SEQUENCE to send with, "") or (None, why the row is superseded), from current state.

    An attendee's SEQUENCE is the webinar's plus their registration's offset, which grows when
    they cancel and when they register again: every REQUEST and CANCEL they get is above
    anything they were sent before (ical-interop.md §1, RFC 5546 §2.1.4). What they were sent
    (`history`) is a second guard for rows written before offsets existed.
    """
    confirmed = row.registration_status == "confirmed"
    cancelled = webinar.status == "cancelled"
    if row.kind in NOTICE_KINDS:  # no calendar part: sent while it is still true
        if row.kind == "link":
            return webinar.sequence, ""
        if row.registration_status != row.kind:
            return None, f"no longer {row.kind}"
        if row.kind != "declined" and (cancelled or series.ends_at(webinar) <= now):
            return None, "the webinar is cancelled or over"
        return webinar.sequence, ""
    held = history.max_sequence
    current = webinar.sequence + row.sequence_offset
    if row.kind == "cancellation":
        if confirmed and not cancelled:
            return None, "registered again"
        return max(current, held + 1 if held is not None else 0), ""
    if cancelled:
        return None, "webinar cancelled"
    if not confirmed:
        return None, "registration cancelled"
    if row.kind in ("reminder", "followup", "deadline") and row.reminders_off:
        return None, "reminders turned off"
    if row.kind in ("invitation", "promoted", "update", "reminder", "deadline"):
        if webinar.status != "scheduled":
            return None, "the webinar is not scheduled"
        if series.ends_at(webinar) <= now:
            return None, "the webinar is over"
    if row.kind in ("invitation", "promoted", "update"):
        if held is None:
            return current, ""
        if history.last_kind == "cancellation":
            return max(current, held + 1), ""
        if (row.kind == "update" and held >= current
                and history.last_request_sent_at is not None
                and history.last_request_sent_at > row.created_at):
            return None, "the current version was already sent"
        return max(current, held), ""
    if row.kind == "reminder":
        if row.offset_minutes is None:
            return None, "no reminder offset"
        start = webinar.start_at
        if row.session_id is not None or series.is_series(webinar):
            # A series' reminder is about its session, as the session is now.
            item = next((s for s in webinar.sessions if s.id == row.session_id), None)
            if item is None or item.status != SessionStatus.SCHEDULED:
                return None, "the session was cancelled or the series changed"
            start = item.start_at
        if moved(start - timedelta(minutes=row.offset_minutes), row):
            return None, "the webinar moved"
        return webinar.sequence, ""
    if row.kind == "deadline":
        # The deadline as it is now: moved or removed since the row was written, it is not
        # this row's to remind of (the change wrote a new row, or none).
        if webinar.deadline_at is None or row.offset_minutes is None:
            return None, "no deadline any more"
        if webinar.deadline_at <= now:
            return None, "the deadline has passed"
        if moved(webinar.deadline_at - timedelta(minutes=row.offset_minutes), row):
            return None, "the deadline moved"
        return webinar.sequence, ""
    if row.kind == "followup":
        if not (webinar.recording_url or webinar.followup_note):
            return None, "nothing to follow up"
        return webinar.sequence, ""
    return None, f"unknown kind {row.kind}"


def moved(planned: datetime, row: Row) -> bool:
    """A reminder row no longer matches what it reminds of. A first try must be due exactly
    when it is planned now; a retry may be late, never early."""
    first_try = row.attempts <= 1
    return (first_try and planned != row.due_at) or (not first_try and planned > row.due_at)


@dataclass(frozen=True)
class Loaded:
    rows: list[Row]
    webinars: dict[int, Webinar]
    history: dict[int, History]
    #: Per organization of a loaded webinar: the logo and colour its e-mails show.
    brands: dict[int, branding.Brand] = field(default_factory=dict)


async def load(session: AsyncSession, ids: Sequence[int]) -> Loaded:
    """Everything the re-check and the rendering need, in five queries."""
    rows = await load_rows(session, ids)
    event_ids = sorted({r.event_id for r in rows if r.kind == "update" and r.event_id})
    if event_ids:
        data: dict[int, dict[str, Any]] = dict((await session.execute(
            select(Event.id, Event.data).where(Event.id.in_(event_ids)))).all())
        rows = [replace(r, changed=(data.get(r.event_id) or {}).get("changed"))
                if r.event_id in data else r for r in rows]
    webinar_ids = sorted({r.webinar_id for r in rows})
    webinars = {w.id: w for w in (await session.scalars(
        select(Webinar).where(Webinar.id.in_(webinar_ids)))).unique()}
    history = await load_history(session, [r.registration_id for r in rows])
    brands = (await branding.brands_of(session, {w.organization_id for w in webinars.values()})
              if webinars else {})
    return Loaded(rows, webinars, history, brands)


