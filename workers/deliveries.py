"""Sending deliveries: claim and re-check (`recheck`), render with the current state, send,
record.

Every step is safe to repeat (STYLE.md, rule 8): the claim is one conditional UPDATE, what was
claimed is decided anew from the current state, and no more accepted messages wait for their
outcome's commit than there are connections (`sending`). A job that is stopped finishes the
messages on the wire, records them and gives every other claimed row back at once. A worker
killed outright leaves rows in "sending": `presence` hands them out again as soon as the worker
is known to be gone, the lease being the last resort; the random Message-ID, kept across
attempts, makes such a rare repeat recognisable.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Table,
    TextClause,
    Update,
    and_,
    bindparam,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from webinars.clock import Clock
from webinars.config import AppConfig
from webinars.db import Sessionmaker
from webinars.mail import MessageBatch
from webinars.mailer import OutgoingMail, PermanentMailError, TransientMailError
from webinars.models import Delivery, Event, Webinar
from webinars.queue import Job, Queue, delivery_jobs, dispatch_job
from webinars.runtime import WorkerContext
from webinars.states import DeliveryStatus, EventKind

from .recheck import History, Loaded, Row, claim, decide, load, unindexed
from .sending import Outbound, Permit, finish, outbound_for

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes, at most two hours: about four hours in all before giving up."""
    return timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 7200))


@dataclass
class Outcome:
    id: int
    status: str  # sent, failed, pending (retry), superseded
    sequence: int | None = None
    error: str | None = None
    due_at: datetime | None = None
    attempts: int = 0


# --- recording outcomes ------------------------------------------------------------------


async def write_outcomes(conn: AsyncConnection, outcomes: Sequence[Outcome], now: datetime, *,
                         worker_id: str | None = None) -> list[int]:
    """Record what happened to rows this worker holds. A row superseded meanwhile (the webinar
    moved or was cancelled while it was out) stays superseded unless it was in fact sent; a row
    handed to another worker meanwhile (this one was taken for dead) is that worker's to record.
    Returns the ids of the `delivery.failed` events recorded for rows that gave up.

    On PostgreSQL the whole batch is one statement (`outcomes_in_one`); SQLite runs one
    UPDATE per kind of outcome over all its rows (executemany)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(outcomes_in_one(worker_id is not None), one_statement_values(
            outcomes, now, worker_id))
    else:
        await write_by_status(conn, outcomes, now, worker_id)
    failed = [o.id for o in outcomes if o.status == DeliveryStatus.FAILED]
    return await record_failures(conn, failed, now) if failed else []


async def write_by_status(conn: AsyncConnection, outcomes: Sequence[Outcome], now: datetime,
                          worker_id: str | None) -> None:
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


def one_statement_values(outcomes: Sequence[Outcome], now: datetime, worker_id: str | None
                         ) -> dict[str, Any]:
    """The batch as one array per column (naive UTC, as `models.UTCDateTime` stores it)."""
    def naive(moment: datetime | None) -> datetime | None:
        return moment.astimezone(UTC).replace(tzinfo=None) if moment is not None else None

    return {"ids": [o.id for o in outcomes], "statuses": [o.status for o in outcomes],
            "errors": [o.error[:1000] if o.error else None for o in outcomes],
            "sequences": [o.sequence if o.status == "sent" else None for o in outcomes],
            "due": [naive(o.due_at) if o.status == "pending" else None for o in outcomes],
            "now": naive(now), "holder": worker_id}


@functools.cache
def outcomes_in_one(held_by_worker: bool) -> TextClause:
    """PostgreSQL: every outcome of a batch in one UPDATE over arrays, so the writer's
    connection (in autocommit, `sending._for_outcomes`) makes one statement and one commit per
    batch whatever its size, and the worker's Python work per outcome is a few list items
    instead of a parameter set run through SQLAlchemy. The same rules as `outcome_statement`:
    only rows still "sending" (a "sent" also over "superseded"), held by this worker, written
    as a CASE so that the rows are found by id (`recheck.unindexed`)."""
    holder = " AND d.claimed_by = :holder" if held_by_worker else ""
    return text(f"""
        UPDATE deliveries AS d
        SET status = v.status, lease_until = NULL, claimed_by = NULL, last_error = v.last_error,
            sent_at = CASE WHEN v.status = 'sent' THEN CAST(:now AS timestamp)
                           ELSE d.sent_at END,
            sequence = CASE WHEN v.status = 'sent' THEN v.sequence ELSE d.sequence END,
            due_at = CASE WHEN v.status = 'pending' THEN v.due_at ELSE d.due_at END,
            enqueued_at = CASE WHEN v.status = 'pending' THEN NULL ELSE d.enqueued_at END
        FROM unnest(CAST(:ids AS integer[]), CAST(:statuses AS text[]),
                    CAST(:errors AS text[]), CAST(:sequences AS integer[]),
                    CAST(:due AS timestamp[])) AS v(id, status, last_error, sequence, due_at)
        WHERE d.id = v.id
          AND CASE d.status WHEN 'sending' THEN true
                            WHEN 'superseded' THEN v.status = 'sent' ELSE false END{holder}
    """)


async def record_failures(conn: AsyncConnection, ids: Sequence[int], now: datetime
                          ) -> list[int]:
    """A `delivery.failed` event per row that gave up: organizers and integrators hear of it.
    The reason stays on the row (an SMTP answer may quote the address)."""
    table = cast(Table, Delivery.__table__)
    rows = (await conn.execute(
        select(table.c.id, table.c.webinar_id, table.c.registration_id, table.c.kind,
               Webinar.organization_id)
        .join(Webinar, Webinar.id == table.c.webinar_id)
        .where(table.c.id.in_(list(ids)), table.c.status == DeliveryStatus.FAILED))).all()
    if not rows:
        return []
    events = cast(Table, Event.__table__)
    result = await conn.execute(insert(events).returning(events.c.id), [
        {"kind": EventKind.DELIVERY_FAILED.value, "occurred_at": now,
         "organization_id": r.organization_id, "webinar_id": r.webinar_id,
         "registration_id": r.registration_id, "actor_id": None,
         "data": {"delivery_id": r.id, "delivery_kind": r.kind}, "dispatch_attempts": 0}
        for r in rows])
    return [r.id for r in result]


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
    """A row still to be sent, decided against the current state. It is rendered only when
    its job is about to take a connection: a batch rendered all at once would hold the event
    loop, and with it every connection of the process, for the whole batch."""

    row: Row
    batch: MessageBatch
    sequence: int

    def render(self) -> OutgoingMail:
        row = self.row
        return self.batch.render(row.recipient, sequence=self.sequence,
                                 offset_minutes=row.offset_minutes, session_id=row.session_id,
                                 changed=row.changed)


async def plan(session: AsyncSession, config: AppConfig, ids: Sequence[int], now: datetime
               ) -> tuple[list[Planned], list[Outcome]]:
    return decide_all(config, await load(session, ids), now)


def decide_all(config: AppConfig, loaded: Loaded, now: datetime
               ) -> tuple[list[Planned], list[Outcome]]:
    """Decide each row against the current state: what is still to be sent, and the outcomes
    of the rest."""
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
            batch = batches[(row.webinar_id, row.kind)] = MessageBatch(
                config, webinar, row.kind, now, loaded.brands.get(webinar.organization_id))
        planned.append(Planned(row, batch, sequence))
    return planned, skipped


async def send_all(planned: Sequence[Planned], outbound: Outbound, now: datetime,
                   settled: set[int]) -> list[Outcome]:
    """Render and send over the process's connections; one failure never blocks the other
    recipients. Returns every outcome.

    A message is rendered just before its job waits for a connection slot; the slot is given
    back at the server's answer, and the job goes on with its next message while the outcome
    waits to be committed with others (`sending.Unrecorded` bounds the accepted messages not
    yet recorded). Cancelled, the job takes no more messages: those on the wire run to the
    server's answer, and every outcome is committed before it returns. Every recorded row lands
    in `settled`; the caller gives the others back.
    """
    todo = list(reversed(planned))
    outcomes: list[Outcome] = []
    recording: list[asyncio.Task[None]] = []
    down: str | None = None
    rank = outbound.rank()

    def retry(item: Planned, reason: str) -> Outcome:
        attempts = item.row.attempts
        if attempts >= MAX_ATTEMPTS:
            return Outcome(item.row.id, "failed",
                           error=f"{reason} (gave up after {attempts} attempts)")
        return Outcome(item.row.id, "pending", error=reason, due_at=now + backoff(attempts),
                       attempts=attempts)

    async def record(done: list[Outcome], permit: Permit | None = None) -> None:
        await outbound.recorder.record(done, now, permit=permit)  # gives the permit back
        outcomes.extend(done)
        settled.update(o.id for o in done)

    async def deliver(item: Planned, mail: OutgoingMail) -> None:
        """Send on the slot the caller took and give it back at the server's answer; the
        outcome is recorded in the background, its permit held until it is committed."""
        nonlocal down
        permit = outbound.unrecorded.permit()
        try:
            if down is not None:
                raise TransientMailError(down, server_down=True)
            await outbound.mailer.send(mail, permit.take)
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
        finally:
            outbound.slots.give()
        recording.append(asyncio.ensure_future(record([outcome], permit)))

    async def run() -> None:
        while todo:
            if down is not None:  # the server is unreachable: don't knock once per message
                rest = [todo.pop() for _ in range(len(todo))]
                await finish(record([retry(item, down) for item in rest]))
                return
            item = todo.pop()
            try:
                mail = item.render()
            except Exception as exc:  # a bug or bad data must not hold up the others
                log.exception("rendering delivery %s failed", item.row.id)
                await finish(record([Outcome(item.row.id, "failed",
                                             error=f"could not render: {exc}")]))
                continue
            await outbound.slots.take(rank)  # cancelled here, the job has taken nothing
            await finish(deliver(item, mail))

    try:
        await together([run() for _ in range(max(1, min(outbound.concurrency, len(todo))))])
    finally:
        if recording:  # nothing more comes from this job: its outcomes need not wait
            outbound.recorder.flush()
            await finish(asyncio.wait(recording))
        failures = [t.exception() for t in recording if not t.cancelled()]
    for failure in failures:
        if failure is not None:  # a commit failed: so does the job, its rows are given back
            raise failure
    return outcomes


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


def retry_jobs(outcomes: Sequence[Outcome], now: datetime) -> list[Job]:
    """Re-queue retries due within the horizon; later ones wait for the reconcile sweep."""
    retries = [o for o in outcomes if o.status == "pending"]
    due = [(o.id, o.due_at) for o in retries if o.due_at is not None]
    attempt = max((o.attempts for o in retries), default=0)
    return [replace(job, job_id=f"{job.job_id}:retry{attempt}")
            for job in delivery_jobs(due, now)]


async def mark_enqueued(sessionmaker: Sessionmaker, ids: Sequence[int], now: datetime) -> None:
    if not ids:
        return
    async with sessionmaker() as session:
        await session.execute(
            update(Delivery).where(Delivery.id.in_(list(ids)),
                                   unindexed(Delivery.status == "pending"))
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


async def send_deliveries(ctx: WorkerContext, delivery_ids: list[int]) -> dict[str, int]:
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
        planned, skipped = decide_all(config, loaded, now)
        await outbound.recorder.record(skipped, now)
        settled.update(o.id for o in skipped)
        outcomes = await send_all(planned, outbound, now, settled)
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
    enqueued = await enqueue_all(ctx.get("queue"), retry_jobs(outcomes, now))
    await mark_enqueued(sessionmaker, enqueued, now)
    await dispatch_failures(ctx.get("queue"), outbound.recorder.take_events())
    counts = Counter(o.status for o in [*skipped, *outcomes])
    return {"claimed": len(held), "sent": counts["sent"], "retry": counts["pending"],
            "superseded": counts["superseded"], "failed": counts["failed"]}


async def dispatch_failures(queue: Queue | None, event_ids: Sequence[int]) -> None:
    for event_id in event_ids:
        try:
            if queue is not None:
                await queue.enqueue(dispatch_job(event_id))
        except Exception:  # reconcile dispatches it
            log.exception("could not enqueue dispatch of event %s", event_id)


async def give_back(ctx: WorkerContext, ids: Sequence[int], now: datetime, *,
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
            mine = Delivery.status == "sending"
            if worker_id is not None:
                mine = and_(mine, Delivery.claimed_by == worker_id)
            held = [Delivery.id.in_(list(ids[start:start + 500])), unindexed(mine)]
            await session.execute(
                update(Delivery).where(*held)
                .values(status="pending", lease_until=None, enqueued_at=enqueued_at,
                        claimed_by=None, attempts=Delivery.attempts - 1)
                .execution_options(synchronize_session=False))
        await session.commit()
