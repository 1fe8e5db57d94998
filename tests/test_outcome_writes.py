"""What the worker records after sending: one statement per batch on PostgreSQL, one per kind
of outcome on SQLite, with the same rules (only rows still held by this worker; a row
superseded meanwhile stays so unless it was in fact sent)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import FixedClock
from webinars.models import Delivery, Event
from webinars.runtime import Runtime
from workers.deliveries import Outcome, write_outcomes
from workers.recheck import claim
from workers.sending import Permit, Recorder, Unrecorded

from .factories import make_account, make_org, make_registration, make_webinar


async def rows(session: AsyncSession, clock: FixedClock, count: int, **values: Any
               ) -> list[int]:
    """`count` update rows out with a worker ("sending"), one registrant each."""
    org = await make_org(session, clock)
    account = await make_account(session, clock, org)
    webinar = await make_webinar(session, clock, account, org)
    made = []
    for i in range(count):
        registration = await make_registration(session, clock, webinar, f"m{i}@school.example")
        row = Delivery(webinar_id=webinar.id, registration_id=registration.id, kind="update",
                       due_at=clock.now(), status="sending", sequence=0, attempts=1,
                       created_at=clock.now(), claimed_by="w1",
                       lease_until=clock.now() + timedelta(minutes=10),
                       enqueued_at=clock.now(), **values)
        session.add(row)
        await session.flush()
        made.append(row.id)
    await session.commit()
    return made


class UpdateCounter:
    """The UPDATEs of `deliveries` sent while it listens."""

    def __init__(self, runtime: Runtime) -> None:
        self.engine = runtime.engine.sync_engine
        self.statements: list[str] = []
        event.listen(self.engine, "before_cursor_execute", self._count)

    def _count(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE DELIVERIES"):
            self.statements.append(statement)

    def __len__(self) -> int:
        return len(self.statements)

    def stop(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


async def taken(unrecorded: Unrecorded) -> Permit:
    """The permit of a message the server may accept."""
    permit = unrecorded.permit()
    await permit.take()
    return permit


async def state(runtime: Runtime, ids: list[int]) -> dict[int, Delivery]:
    async with runtime.sessionmaker() as s:
        found = (await s.scalars(select(Delivery).where(Delivery.id.in_(ids)))).all()
        return {row.id: row for row in found}


async def test_each_kind_of_outcome_is_recorded_with_its_columns(
        runtime: Runtime, session: AsyncSession, clock: FixedClock) -> None:
    sent, retry, failed, skipped = await rows(session, clock, 4)
    later = clock.now() + timedelta(minutes=4)
    recorder = Recorder(runtime.engine, "w1")
    await recorder.record([Outcome(sent, "sent", sequence=3),
                           Outcome(retry, "pending", error="421 busy", due_at=later,
                                   attempts=1),
                           Outcome(failed, "failed", error="550 " + "x" * 1200),
                           Outcome(skipped, "superseded", error="the webinar moved")],
                          clock.now())
    await recorder.close()
    found = await state(runtime, [sent, retry, failed, skipped])
    assert (found[sent].status, found[sent].sent_at, found[sent].sequence,
            found[sent].last_error) == ("sent", clock.now(), 3, None)
    assert (found[retry].status, found[retry].due_at, found[retry].enqueued_at,
            found[retry].last_error, found[retry].sequence) == (
        "pending", later, None, "421 busy", 0)
    assert found[failed].status == "failed" and len(found[failed].last_error or "") == 1000
    assert (found[skipped].status, found[skipped].last_error, found[skipped].sent_at) == (
        "superseded", "the webinar moved", None)
    for row in found.values():  # no longer anybody's
        assert (row.claimed_by, row.lease_until) == (None, None)
    # the give-up is an event for organizers and integrators
    [event_id] = recorder.take_events()
    async with runtime.sessionmaker() as s:
        event = await s.get(Event, event_id)
        assert event is not None and event.kind == "delivery.failed"
        assert event.data == {"delivery_id": failed, "delivery_kind": "update"}


async def test_only_rows_this_worker_still_holds_change(
        runtime: Runtime, session: AsyncSession, clock: FixedClock) -> None:
    taken, moved_sent, moved_retry, free = await rows(session, clock, 4)
    async with runtime.sessionmaker() as s:
        # taken for dead meanwhile: another worker holds it now
        (await s.get(Delivery, taken)).claimed_by = "w2"  # type: ignore[union-attr]
        # the webinar moved while these were out
        for i in (moved_sent, moved_retry):
            (await s.get(Delivery, i)).status = "superseded"  # type: ignore[union-attr]
        await s.commit()
    async with runtime.engine.begin() as conn:
        await write_outcomes(conn, [Outcome(taken, "sent", sequence=1),
                                    Outcome(moved_sent, "sent", sequence=1),
                                    Outcome(moved_retry, "pending", error="421",
                                            due_at=clock.now())],
                             clock.now(), worker_id="w1")
    found = await state(runtime, [taken, moved_sent, moved_retry])
    assert (found[taken].status, found[taken].claimed_by) == ("sending", "w2")
    assert found[moved_sent].status == "sent"  # it did go out: that is what happened
    assert found[moved_retry].status == "superseded"  # never to be sent again
    # without a worker id (a job called by hand) any "sending" row is recorded
    async with runtime.engine.begin() as conn:
        await write_outcomes(conn, [Outcome(free, "sent", sequence=2)], clock.now())
    assert (await state(runtime, [free]))[free].status == "sent"


async def test_a_large_batch_is_recorded_whole(
        runtime: Runtime, session: AsyncSession, clock: FixedClock) -> None:
    ids = await rows(session, clock, 120)
    async with runtime.engine.begin() as conn:
        await write_outcomes(conn, [Outcome(i, "sent", sequence=1) for i in ids], clock.now(),
                             worker_id="w1")
    assert {row.status for row in (await state(runtime, ids)).values()} == {"sent"}


async def test_sent_outcomes_wait_for_each_other_and_go_in_one_commit(
        runtime: Runtime, session: AsyncSession, clock: FixedClock) -> None:
    """A fan-out paid a database round trip per message; sent messages' outcomes now wait
    until the batch is full (or a flush: a connection needs a permit, a job ends)."""
    ids = await rows(session, clock, 4)
    updates = UpdateCounter(runtime)
    recorder = Recorder(runtime.engine, "w1", batch=3)
    recorder.LINGER = 600  # only the batch or a flush may commit here
    unrecorded = Unrecorded(4)
    try:
        first = [asyncio.create_task(recorder.record([Outcome(i, "sent", sequence=1)],
                                                     clock.now(),
                                                     permit=await taken(unrecorded)))
                 for i in ids[:2]]
        await asyncio.wait(first, timeout=0.5)
        assert not any(t.done() for t in first) and len(updates) == 0
        assert {r.status for r in (await state(runtime, ids[:2])).values()} == {"sending"}

        await recorder.record([Outcome(ids[2], "sent", sequence=1)], clock.now(),
                              permit=await taken(unrecorded))
        await asyncio.gather(*first)
        assert len(updates) == 1, "the three went in one statement"

        last = asyncio.create_task(recorder.record([Outcome(ids[3], "sent", sequence=1)],
                                                   clock.now(),
                                                   permit=await taken(unrecorded)))
        await asyncio.wait([last], timeout=0.5)
        assert not last.done()
        recorder.flush()
        await last
        assert len(updates) == 2
    finally:
        await recorder.close()
        updates.stop()
    assert {r.status for r in (await state(runtime, ids)).values()} == {"sent"}


async def test_a_lone_sent_outcome_waits_no_longer_than_the_linger(
        runtime: Runtime, session: AsyncSession, clock: FixedClock) -> None:
    """Even when the writer sits idle, holding its connection for more outcomes."""
    first, second = await rows(session, clock, 2)
    recorder = Recorder(runtime.engine, "w1", batch=5)
    recorder.IDLE = 600  # an idle writer would otherwise wake only after this
    try:
        await recorder.record([Outcome(first, "sent", sequence=1)], clock.now())
        lone = asyncio.create_task(
            recorder.record([Outcome(second, "sent", sequence=1)], clock.now(),
                            permit=await taken(Unrecorded(1))))
        await asyncio.wait([lone], timeout=10)
        assert lone.done(), "committed after LINGER, not after the writer's IDLE"
    finally:
        await recorder.close()
    assert (await state(runtime, [second]))[second].status == "sent"


class HeldRecorder(Recorder):
    """Its commits wait for `go`: what happens while one is under way."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.go = asyncio.Event()
        self.committing = asyncio.Event()
        self.batches: list[Any] = []

    async def _commit(self, conn: Any, batch: Any) -> None:
        self.batches.append(batch)
        self.committing.set()
        await self.go.wait()
        await super()._commit(conn, batch)


async def test_a_message_waiting_for_a_permit_does_not_hurry_a_commit_that_frees_some(
        runtime: Runtime, session: AsyncSession, clock: FixedClock) -> None:
    """While a batch of three is committed, a fourth accepted message takes the last permit and
    a fifth waits for one. The commit under way gives three back: the fifth goes on when it
    ends, and the fourth's outcome waits to be joined by others. Committed at once instead, it
    went alone, and a fan-out paid a database round trip for every two messages."""
    ids = await rows(session, clock, 4)
    updates = UpdateCounter(runtime)
    recorder = HeldRecorder(runtime.engine, "w1", batch=3)
    recorder.LINGER = 600  # only the batch or a flush may commit here
    unrecorded = Unrecorded(4, recorder.exhausted)
    try:
        three = [asyncio.create_task(recorder.record([Outcome(i, "sent", sequence=1)],
                                                     clock.now(),
                                                     permit=await taken(unrecorded)))
                 for i in ids[:3]]
        await asyncio.wait_for(recorder.committing.wait(), 5)
        fourth = asyncio.create_task(recorder.record([Outcome(ids[3], "sent", sequence=1)],
                                                     clock.now(),
                                                     permit=await taken(unrecorded)))
        fifth = asyncio.create_task(taken(unrecorded))
        await asyncio.wait([fifth], timeout=0.2)
        assert not fifth.done(), "every permit is held"
        recorder.go.set()
        await asyncio.gather(*three)
        await asyncio.wait_for(fifth, 5)
        await asyncio.wait([fourth], timeout=0.5)
        assert not fourth.done() and len(updates) == 1, "the fourth was not committed alone"
        recorder.flush()
        await fourth
        assert len(updates) == 2
    finally:
        recorder.go.set()
        await recorder.close()
        updates.stop()
    assert {r.status for r in (await state(runtime, ids)).values()} == {"sent"}


async def rows_read(conn: Any) -> int:
    """Entries of `deliveries` and of its indexes this connection has read (PostgreSQL's
    counters not yet flushed to the shared statistics: compare two readings made in one
    transaction)."""
    found = (await conn.execute(text(
        "SELECT sum(pg_stat_get_xact_tuples_returned(oid)) FROM pg_class "
        "WHERE oid = 'deliveries'::regclass OR oid IN "
        "(SELECT indexrelid FROM pg_index WHERE indrelid = 'deliveries'::regclass)"))).scalar()
    return int(found or 0)


async def test_a_claim_and_its_outcomes_read_their_own_rows_whatever_the_statistics_say(
        runtime: Runtime, session: AsyncSession, clock: FixedClock) -> None:
    """Statistics taken when no row was pending, or none out with a worker, call those rare.
    On their word PostgreSQL drove the claim by the (status, due_at) index and read every
    pending row, and the outcomes' statement, once planned for any values (as a prepared
    statement may be), read every row out with a worker: thousands per job during a fan-out.
    Both now go by id and read only their own rows."""
    [one] = await rows(session, clock, 1)
    base = await session.get(Delivery, one)
    assert base is not None
    now = clock.now()
    table = Delivery.__table__
    await session.execute(insert(table), [
        {"webinar_id": base.webinar_id, "registration_id": base.registration_id,
         "kind": "update", "due_at": now, "status": "sent", "sequence": 0, "attempts": 1,
         "created_at": now} for _ in range(3000)])
    await session.execute(update(Delivery).where(Delivery.id == one).values(status="sent"))
    await session.commit()
    postgresql = runtime.engine.dialect.name == "postgresql"
    if postgresql:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("ANALYZE deliveries"))
    ids = list((await session.scalars(select(Delivery.id).where(Delivery.id != one)
                                      .order_by(Delivery.id))).all())
    await session.execute(update(Delivery).where(Delivery.id.in_(ids[:1500]))
                          .values(status="pending"))
    await session.commit()

    async with runtime.sessionmaker() as s:
        before = await rows_read(await s.connection()) if postgresql else 0
        claimed = await claim(s, ids[:5], now, worker_id="w2")
        read = await rows_read(await s.connection()) - before if postgresql else 0
        await s.commit()
    assert claimed == ids[:5]
    assert read < 50, f"the claim of 5 rows read {read}"

    if postgresql:  # statistics taken with rows pending and sent, none out with a worker
        async with runtime.engine.connect() as conn:
            await conn.execute(text("ANALYZE deliveries"))
    await session.execute(update(Delivery).where(Delivery.id.in_(ids[1500:]))
                          .values(status="sending", claimed_by="w1"))
    await session.commit()

    async with runtime.engine.begin() as conn:
        if postgresql:  # the plan it may keep for a prepared statement after five runs
            await conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        reads = []
        for i in ids[1500:1510]:
            before = await rows_read(conn) if postgresql else 0
            await write_outcomes(conn, [Outcome(i, "sent", sequence=1)], now, worker_id="w1")
            reads.append(await rows_read(conn) - before if postgresql else 0)
    assert max(reads) < 10, f"recording one outcome read up to {max(reads)} rows"
    found = await state(runtime, ids[:5] + ids[1500:1511])
    assert [found[i].status for i in ids[:5]] == ["sending"] * 5
    assert [found[i].status for i in ids[1500:1511]] == ["sent"] * 10 + ["sending"]


async def test_a_writer_stopped_mid_commit_wakes_its_batch_and_gives_back_its_permits(
        runtime: Runtime, session: AsyncSession, clock: FixedClock) -> None:
    """The loop going away while a batch is committed: its job hears of it (and gives its
    rows back) instead of waiting for ever, and its permit is free again."""
    [row] = await rows(session, clock, 1)
    recorder = HeldRecorder(runtime.engine, "w1", batch=1)
    unrecorded = Unrecorded(1)
    waiting = asyncio.create_task(recorder.record([Outcome(row, "sent", sequence=1)],
                                                  clock.now(), permit=await taken(unrecorded)))
    await asyncio.wait_for(recorder.committing.wait(), 5)
    assert recorder._writer is not None
    recorder._writer.cancel()
    try:
        with pytest.raises(RuntimeError, match="outcome writer stopped"):
            await asyncio.wait_for(asyncio.shield(waiting), 5)
        await asyncio.wait_for(taken(unrecorded), 1)
    finally:  # left waiting, the job could never stop (nor could this test's loop)
        for _, _, done, _ in recorder.batches[0]:
            if not done.done():
                done.set_exception(RuntimeError("never woken"))
    assert (await state(runtime, [row]))[row].status == "sending"  # given back by its job
