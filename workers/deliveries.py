"""Sending deliveries: claim, re-check, render with the current state, send, record.

Every step is safe to repeat (STYLE.md, rule 8). A row is claimed by one conditional UPDATE
(pending → sending, with the claiming worker's id and a lease), so two workers never both send
it; the state is checked again after the claim (a cancelled webinar or registration, a reminder
for a moved webinar: the row is superseded, never sent); each outcome is committed before its
connection takes the next message (`sending.Recorder`). A job that is stopped finishes the
messages on the wire, records them and gives every other claimed row back at once. A worker
killed outright leaves rows in "sending": `presence` hands them out again as soon as the worker
is known to be gone, the lease being the last resort; the random Message-ID, kept across
attempts, makes such a rare repeat recognisable.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import String, Table, Update, and_, bindparam, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from webinars.clock import Clock
from webinars.config import AppConfig
from webinars.db import Sessionmaker
from webinars.deliveries import CALENDAR_KINDS
from webinars.mail import MessageBatch, Recipient
from webinars.mailer import OutgoingMail, PermanentMailError, TransientMailError
from webinars.models import Delivery, Registration, Webinar
from webinars.queue import Job, Queue, delivery_jobs

from .sending import Outbound, finish, outbound_for

log = logging.getLogger(__name__)

#: Jobs are deferred to their rows' exact due time (`queue.delivery_jobs`); this only absorbs
#: clock differences between the process that enqueued and the worker.
EARLY = timedelta(seconds=5)
MAX_ATTEMPTS = 8


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes, at most two hours: about four hours in all before giving up."""
    return timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 7200))


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


@dataclass
class History:
    """What this registrant's calendar already holds: the last calendar message sent."""

    max_sequence: int | None = None
    last_kind: str | None = None
    last_request_sent_at: datetime | None = None


@dataclass
class Outcome:
    id: int
    status: str  # sent, failed, pending (retry), superseded
    sequence: int | None = None
    error: str | None = None
    due_at: datetime | None = None
    attempts: int = 0


# --- claiming and re-checking ------------------------------------------------------------


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
        .where(Delivery.id.in_(list(ids)), Delivery.status == "pending",
               Delivery.due_at <= now + EARLY)
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
               Registration.registered_by_id, Registration.sequence_offset)
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
                              r.token, r.join_token, r.message_id)
        rows.append(Row(id=r.id, kind=r.kind, due_at=r.due_at, created_at=r.created_at,
                        offset_minutes=r.offset_minutes, attempts=r.attempts,
                        webinar_id=r.webinar_id, registration_id=r.registration_id,
                        recipient=recipient, registration_status=r.status,
                        reminders_off=r.reminders_off, sequence_offset=r.sequence_offset))
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
    if row.kind in ("reminder", "followup") and row.reminders_off:
        return None, "reminders turned off"
    if row.kind in ("invitation", "update", "reminder"):
        if webinar.status != "scheduled":
            return None, "the webinar is not scheduled"
        if webinar.start_at + timedelta(minutes=webinar.duration_minutes) <= now:
            return None, "the webinar is over"
    if row.kind in ("invitation", "update"):
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
        planned = webinar.start_at - timedelta(minutes=row.offset_minutes)
        first_try = row.attempts <= 1
        if (first_try and planned != row.due_at) or (not first_try and planned > row.due_at):
            return None, "the webinar moved"
        return webinar.sequence, ""
    if row.kind == "followup":
        if not (webinar.recording_url or webinar.followup_note):
            return None, "nothing to follow up"
        return webinar.sequence, ""
    return None, f"unknown kind {row.kind}"


# --- recording outcomes ------------------------------------------------------------------


async def write_outcomes(conn: AsyncConnection, outcomes: Sequence[Outcome], now: datetime, *,
                         worker_id: str | None = None) -> None:
    """Record what happened to rows this worker holds. A row superseded meanwhile (the webinar
    moved or was cancelled while it was out) stays superseded unless it was in fact sent; a row
    handed to another worker meanwhile (this one was taken for dead) is that worker's to record."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for o in outcomes:
        values: dict[str, Any] = {"_id": o.id, "_holder": worker_id, "status": o.status,
                                  "lease_until": None, "claimed_by": None,
                                  "last_error": o.error[:1000] if o.error else None}
        if o.status == "sent":
            values.update(sent_at=now, sequence=o.sequence)
        elif o.status == "pending":
            values.update(due_at=o.due_at, enqueued_at=None)
        groups.setdefault(o.status, []).append(values)
    for status, group in groups.items():
        await conn.execute(outcome_statement(status, worker_id is not None), group)


@functools.cache
def outcome_statement(status: str, held_by_worker: bool) -> Update:
    """Built once per kind of outcome: this runs after every few messages of a fan-out."""
    table = cast(Table, Delivery.__table__)
    columns = ["status", "lease_until", "claimed_by", "last_error",
               *{"sent": ["sent_at", "sequence"], "pending": ["due_at", "enqueued_at"]}
               .get(status, [])]
    held = ("sending", "superseded") if status == "sent" else ("sending",)
    still_ours = or_(*(table.c.status == literal(s) for s in held))  # no IN: executemany
    if held_by_worker:
        still_ours = and_(still_ours, table.c.claimed_by == bindparam("_holder"))
    return (update(table).where(table.c.id == bindparam("_id"), still_ours)
            .values({c: bindparam(c) for c in columns}))


# --- the job -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    row: Row
    mail: OutgoingMail
    sequence: int


@dataclass(frozen=True)
class Loaded:
    rows: list[Row]
    webinars: dict[int, Webinar]
    history: dict[int, History]


async def load(session: AsyncSession, ids: Sequence[int]) -> Loaded:
    """Everything the re-check and the rendering need, in three queries."""
    rows = await load_rows(session, ids)
    webinar_ids = sorted({r.webinar_id for r in rows})
    webinars = {w.id: w for w in (await session.scalars(
        select(Webinar).where(Webinar.id.in_(webinar_ids)))).unique()}
    history = await load_history(session, [r.registration_id for r in rows])
    return Loaded(rows, webinars, history)


async def plan(session: AsyncSession, config: AppConfig, ids: Sequence[int], now: datetime
               ) -> tuple[list[Planned], list[Outcome]]:
    return render_all(config, await load(session, ids), now)


def render_all(config: AppConfig, loaded: Loaded, now: datetime
               ) -> tuple[list[Planned], list[Outcome]]:
    """Decide each row against the current state and render what is still to be sent."""
    rows, webinars, history = loaded.rows, loaded.webinars, loaded.history
    batches: dict[tuple[int, str], MessageBatch] = {}
    planned: list[Planned] = []
    skipped: list[Outcome] = []
    for row in rows:
        webinar = webinars[row.webinar_id]
        sequence, why = decide(row, webinar, history.get(row.registration_id, History()), now)
        if sequence is None:
            skipped.append(Outcome(row.id, "superseded", error=why))
            continue
        batch = batches.get((row.webinar_id, row.kind))
        if batch is None:
            batch = batches[(row.webinar_id, row.kind)] = MessageBatch(config, webinar,
                                                                       row.kind, now)
        try:
            mail = batch.render(row.recipient, sequence=sequence,
                                offset_minutes=row.offset_minutes)
        except Exception as exc:  # a bug or bad data must not hold up the others
            log.exception("rendering delivery %s failed", row.id)
            skipped.append(Outcome(row.id, "failed", error=f"could not render: {exc}"))
            continue
        planned.append(Planned(row, mail, sequence))
    return planned, skipped


async def send_all(planned: Sequence[Planned], outbound: Outbound, now: datetime,
                   settled: set[int]) -> list[Outcome]:
    """Send over the process's connections; one failure never blocks the other recipients.

    A message is taken only when a connection slot is free, and the slot is given back once
    the message's outcome is committed. Cancelled, the job takes no more messages: those on the
    wire run to the server's answer and are recorded. Every recorded row lands in `settled`;
    the caller gives the others back. Returns the outcomes to retry later.
    """
    todo = list(reversed(planned))
    retries: list[Outcome] = []
    down: str | None = None

    def retry(item: Planned, reason: str) -> Outcome:
        attempts = item.row.attempts
        if attempts >= MAX_ATTEMPTS:
            return Outcome(item.row.id, "failed",
                           error=f"{reason} (gave up after {attempts} attempts)")
        outcome = Outcome(item.row.id, "pending", error=reason, due_at=now + backoff(attempts),
                          attempts=attempts)
        retries.append(outcome)
        return outcome

    async def record(outcomes: list[Outcome]) -> None:
        await outbound.recorder.record(outcomes, now)
        settled.update(o.id for o in outcomes)

    async def deliver(item: Planned) -> None:
        nonlocal down
        try:
            await outbound.mailer.send(item.mail)
        except TransientMailError as exc:
            if exc.server_down:
                down = exc.reason
            outcome = retry(item, exc.reason)
        except PermanentMailError as exc:
            outcome = Outcome(item.row.id, "failed", error=exc.reason)
        except Exception as exc:  # an unexpected error: retried like a transient one
            log.exception("sending delivery %s failed", item.row.id)
            outcome = retry(item, f"unexpected error: {type(exc).__name__}")
        else:
            outcome = Outcome(item.row.id, "sent", sequence=item.sequence)
        await record([outcome])

    async def run() -> None:
        while todo:
            if down is not None:  # the server is unreachable: don't knock once per message
                rest = [todo.pop() for _ in range(len(todo))]
                await finish(record([retry(item, down) for item in rest]))
                return
            async with outbound.slot():
                if todo and down is None:
                    await finish(deliver(todo.pop()))

    await together([run() for _ in range(max(1, min(outbound.concurrency, len(todo))))])
    return retries


async def together(work: Sequence[Awaitable[None]]) -> None:
    """Run side by side; if one fails or the caller is cancelled, stop the others and wait for
    them all (each finishes what it has on the wire) before raising."""
    tasks = [asyncio.ensure_future(w) for w in work]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await finish(asyncio.gather(*tasks, return_exceptions=True))
        raise


def retry_jobs(retries: Sequence[Outcome], now: datetime) -> list[Job]:
    """Re-queue retries due within the horizon; later ones wait for the reconcile sweep."""
    due = [(o.id, o.due_at) for o in retries if o.due_at is not None]
    attempt = max((o.attempts for o in retries), default=0)
    return [replace(job, job_id=f"{job.job_id}:retry{attempt}")
            for job in delivery_jobs(due, now)]


async def mark_enqueued(sessionmaker: Sessionmaker, ids: Sequence[int], now: datetime) -> None:
    if not ids:
        return
    async with sessionmaker() as session:
        await session.execute(
            update(Delivery).where(Delivery.id.in_(list(ids)), Delivery.status == "pending")
            .values(enqueued_at=now).execution_options(synchronize_session=False))
        await session.commit()


async def enqueue_all(queue: Queue | None, jobs: Sequence[Job]) -> list[int]:
    """Enqueue; return the delivery ids that made it (the rest wait for reconcile)."""
    done: list[int] = []
    if queue is None:
        return done
    for job in jobs:
        try:
            await queue.enqueue(job)
        except Exception:
            log.exception("could not enqueue %s; reconcile will retry", job.job_id)
        else:
            done.extend(job.args[0])
    return done


async def claim_and_load(sessionmaker: Sessionmaker, config: AppConfig, ids: Sequence[int],
                         now: datetime, worker_id: str | None, held: list[int]) -> Loaded | None:
    """Claim what is still pending and due, load it, commit; the claimed ids go into `held`
    once the claim stands. Nothing is held open while sending."""
    async with sessionmaker() as session:
        claimed = await claim(session, ids, now, lease=timedelta(seconds=config.delivery_lease),
                              domain=config.uid_domain, worker_id=worker_id)
        loaded = await load(session, claimed) if claimed else None
        await session.commit()
    held.extend(claimed)
    return loaded


async def send_deliveries(ctx: dict[str, Any], delivery_ids: list[int]) -> dict[str, int]:
    """Job: send the given deliveries that are still pending and due.

    Stopped midway (cancelled), it finishes and records the messages on the wire, gives every
    other claimed row back at once and re-raises: arq runs the job again, and the in-process
    runner queues every due row when it starts.
    """
    clock: Clock = ctx["clock"]
    sessionmaker: Sessionmaker = ctx["sessionmaker"]
    config: AppConfig = ctx["config"]
    outbound, own_outbound = outbound_for(ctx)
    worker_id: str | None = ctx.get("worker_id")
    now = clock.now()
    ids = sorted({int(i) for i in delivery_ids})
    held: list[int] = []
    settled: set[int] = set()
    presence = ctx.get("presence")  # its heartbeat gives back rows no job works on
    if presence is not None:
        presence.hold(ids)
    try:
        loaded = await finish(claim_and_load(sessionmaker, config, ids, now, worker_id, held))
        if loaded is None:
            return {"claimed": 0, "sent": 0, "failed": 0, "retry": 0, "superseded": 0}
        planned, skipped = render_all(config, loaded, now)
        await outbound.recorder.record(skipped, now)
        settled.update(o.id for o in skipped)
        retries = await send_all(planned, outbound, now, settled)
    except BaseException as exc:
        unsent = [i for i in held if i not in settled]
        if unsent:
            stopped = isinstance(exc, asyncio.CancelledError)
            await finish(give_back(ctx, unsent, now, stopped=stopped))
        raise
    finally:
        if presence is not None:
            presence.drop(ids)
        if own_outbound:
            await finish(outbound.close())
    enqueued = await enqueue_all(ctx.get("queue"), retry_jobs(retries, now))
    await mark_enqueued(sessionmaker, enqueued, now)
    failed = sum(1 for o in skipped if o.status == "failed")
    return {"claimed": len(held), "sent": len(planned) - len(retries), "retry": len(retries),
            "superseded": len(skipped) - failed, "failed": failed}


async def give_back(ctx: dict[str, Any], ids: Sequence[int], now: datetime, *,
                    stopped: bool) -> None:
    """Release rows this job claimed and did not send. A stopped job's rows count as queued
    (arq runs the job again; the in-process runner queues them when it starts); a failed job's
    wait for the reconcile sweep. If even that fails, the worker's heartbeat gives them back."""
    try:
        await release(ctx["sessionmaker"], ids, worker_id=ctx.get("worker_id"),
                      enqueued_at=now if stopped else None)
    except Exception:
        log.exception("could not give back deliveries %s", list(ids))


async def release(sessionmaker: Sessionmaker, ids: Sequence[int], *,
                  worker_id: str | None = None, enqueued_at: datetime | None = None) -> None:
    """Give claimed rows back at once, unsent: pending again, and the claim's attempt undone."""
    async with sessionmaker() as session:
        for start in range(0, len(ids), 500):
            held = [Delivery.status == "sending", Delivery.id.in_(list(ids[start:start + 500]))]
            if worker_id is not None:
                held.append(Delivery.claimed_by == worker_id)
            await session.execute(
                update(Delivery).where(*held)
                .values(status="pending", lease_until=None, enqueued_at=enqueued_at,
                        claimed_by=None, attempts=Delivery.attempts - 1)
                .execution_options(synchronize_session=False))
        await session.commit()
