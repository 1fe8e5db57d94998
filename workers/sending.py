"""The way out: connection slots in front of the mailer, and outcomes made durable at once.

Two promises hold here, whatever stops the worker:

- A message on the wire is never abandoned half-way. A job that is cancelled (SIGTERM, the
  in-process runner closing, arq's job timeout) stops *taking* messages, but the ones it already
  handed to the SMTP server run to the server's answer and their outcome is written (`finish`).
- At most as many accepted messages as there are connections wait for their outcome to be
  committed (`Unrecorded`), so a worker killed outright (kill -9) leaves at most the pool size
  to go out twice. The cost is one commit per handful of messages: every outcome waiting while
  a commit runs goes into the next one (group commit across the pool), on PostgreSQL without
  waiting for the disk (`_for_outcomes`), and it overlaps the next message's envelope.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from webinars.mailer import BeforeData, Mailer
from webinars.runtime import WorkerContext

if TYPE_CHECKING:
    from .deliveries import Outcome

log = logging.getLogger(__name__)
T = TypeVar("T")


async def finish(work: Awaitable[T]) -> T:
    """Await `work` to its end even if the caller is cancelled meanwhile, then re-raise the
    cancellation. For steps that must not stop half-way: a message on the wire, a commit."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        if not task.cancelled() and task.exception() is not None:
            log.error("interrupted while stopping", exc_info=task.exception())
        raise asyncio.CancelledError
    return task.result()


class Recorder:
    """Writes outcomes with group commit: `record` returns once its outcomes are committed.

    One writer task takes everything waiting, commits it in one transaction and wakes the
    waiters; whatever arrived meanwhile goes into the next transaction. It keeps one connection
    while outcomes keep coming (given back after `IDLE` seconds without any), so a fan-out pays
    no pool checkout, ping or session setting per commit.
    """

    IDLE = 1.0

    def __init__(self, engine: AsyncEngine, worker_id: str | None) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self._waiting: list[tuple[Sequence[Outcome], datetime, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()
        self._closing = False
        #: `delivery.failed` events recorded and not yet handed to the dispatcher.
        self._events: list[int] = []

    def take_events(self) -> list[int]:
        events, self._events = self._events, []
        return events

    async def record(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        if not outcomes:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((outcomes, now, done))
        self._arrived.set()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        await finish(done)

    async def _write(self) -> None:
        try:
            while self._waiting:
                async with self.engine.connect() as conn:
                    await _for_outcomes(conn, True)
                    try:
                        while await self._more():
                            batch, self._waiting = self._waiting, []
                            try:
                                await self._commit(conn, batch)
                            except Exception as exc:
                                log.exception("could not record %d delivery outcomes",
                                              sum(len(o) for o, _, _ in batch))
                                for _, _, done in batch:
                                    if not done.done():
                                        done.set_exception(exc)
                                await conn.invalidate()  # may be broken: take a fresh one
                                break
                            for _, _, done in batch:
                                if not done.done():
                                    done.set_result(None)
                    finally:
                        await _for_outcomes(conn, False)
        except BaseException as exc:  # no connection, or the loop is going away
            waiting, self._waiting = self._waiting, []
            for _, _, done in waiting:
                if not done.done():
                    done.set_exception(exc if isinstance(exc, Exception)
                                       else RuntimeError("outcome writer stopped"))
            if not isinstance(exc, Exception):
                raise
            log.exception("could not record delivery outcomes")
        finally:
            self._writer = None

    async def _commit(self, conn: AsyncConnection,
                      batch: Sequence[tuple[Sequence[Outcome], datetime, Any]]) -> None:
        from .deliveries import write_outcomes

        if conn.dialect.name == "postgresql":  # autocommit: the batch's one UPDATE commits it
            for now, outcomes in _by_time(batch):
                self._events += await write_outcomes(conn, outcomes, now,
                                                     worker_id=self.worker_id)
            return
        async with conn.begin():
            for now, outcomes in _by_time(batch):
                self._events += await write_outcomes(conn, outcomes, now,
                                                     worker_id=self.worker_id)

    async def _more(self) -> bool:
        """Whether outcomes wait, waiting up to IDLE for some."""
        if not self._waiting and not self._closing:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), self.IDLE)
            except TimeoutError:
                pass
        return bool(self._waiting)

    async def close(self) -> None:
        """Wait until every outcome handed in is written, and give the connection back."""
        self._closing = True
        self._arrived.set()
        while self._writer is not None:
            await asyncio.wait([self._writer])


async def _for_outcomes(conn: AsyncConnection, writing: bool) -> None:
    """PostgreSQL: while the writer keeps this connection, autocommit (an outcome's UPDATE is
    its own commit: one round trip instead of BEGIN, UPDATE, COMMIT) without waiting for the
    disk; both undone before it goes back to the pool. A commit is then safe from anything the
    worker does, kill -9 included, and reaches the disk within a fraction of a second; only a
    crash of the database server itself in that fraction loses outcomes, whose rows the
    heartbeat then gives back to be sent again. SQLite in WAL mode with synchronous=NORMAL
    already commits without a flush, and keeps its transactions (each takes the write lock up
    front, `db.make_engine`)."""
    if conn.dialect.name != "postgresql" or conn.invalidated:
        return
    if writing:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("SET synchronous_commit = off")
        return
    try:
        await conn.exec_driver_sql("RESET synchronous_commit")
    except Exception:
        log.exception("could not reset synchronous_commit; the connection is dropped")
        await conn.invalidate()


def _by_time(batch: Sequence[tuple[Sequence[Outcome], datetime, Any]]
             ) -> list[tuple[datetime, list[Outcome]]]:
    groups: dict[datetime, list[Outcome]] = {}
    for outcomes, now, _ in batch:
        groups.setdefault(now, []).extend(outcomes)
    return list(groups.items())


class Slots:
    """One slot per connection, handed to the job that started first.

    With plain first-come order every running job gets a slot in turn, so jobs that started
    together finish together, and the worker sits idle while their successors are picked up,
    claimed and started. Earliest job first makes jobs finish one after another: each
    successor starts while the others still send.
    """

    def __init__(self, count: int) -> None:
        self._free = count
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []  # a heap
        self._arrivals = itertools.count()

    async def take(self, rank: int) -> None:
        """Wait for a slot; cancelled while waiting, nothing is taken."""
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (rank, next(self._arrivals), turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # handed over as we were cancelled
                self.give()
            raise  # a cancelled turn stays in the heap; `give` passes over it

    def give(self) -> None:
        while self._waiting:
            turn = heapq.heappop(self._waiting)[2]
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1


class Unrecorded:
    """Bounds the messages a server has accepted whose outcome is not yet committed: what a
    worker killed outright (kill -9) leaves to be sent twice. A message takes a permit just
    before its DATA and gives it back once its outcome is committed; its connection is free
    for the next envelope meanwhile, so the commit overlaps the next MAIL and RCPT instead of
    holding the connection idle."""

    def __init__(self, count: int) -> None:
        self._permits = asyncio.Semaphore(count)

    @asynccontextmanager
    async def held(self) -> AsyncIterator[BeforeData]:
        """Yields the mailer's `before_data`: it takes the permit (once, even if the mailer
        retries), which is given back when the block ends."""
        taken = False

        async def take() -> None:
            nonlocal taken
            if not taken:
                await self._permits.acquire()
                taken = True

        try:
            yield take
        finally:
            if taken:
                self._permits.release()


class Outbound:
    """What every sending job of a process shares: the mailer, one slot per connection, the
    bound on accepted messages not yet recorded (as many as connections), and the recorder.
    A job waits for a slot before it takes a message, so cancelling a job while it waits
    abandons nothing."""

    def __init__(self, mailer: Mailer, engine: AsyncEngine, worker_id: str | None) -> None:
        self.mailer = mailer
        self.recorder = Recorder(engine, worker_id)
        self.slots = Slots(self.concurrency)
        self.unrecorded = Unrecorded(self.concurrency)
        self._jobs = itertools.count()

    @property
    def concurrency(self) -> int:
        return max(1, self.mailer.concurrency)

    def rank(self) -> int:
        """A job's place in line for the slots: earlier jobs first."""
        return next(self._jobs)

    async def close(self) -> None:
        await self.recorder.close()


def outbound_for(ctx: WorkerContext) -> tuple[Outbound, bool]:
    """The process's `Outbound` (made by the worker's start-up), or one for this job alone
    when a job is called without it (tests, a job context built by hand), which the job then
    closes: (outbound, whether the job owns it)."""
    mailer: Mailer = ctx["mailer"]
    outbound = ctx.get("outbound")
    if isinstance(outbound, Outbound) and outbound.mailer is mailer:
        return outbound, False
    return Outbound(mailer, ctx["sessionmaker"].kw["bind"], ctx.get("worker_id")), True
