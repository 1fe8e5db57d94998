"""The way out: connection slots in front of the mailer, and outcomes made durable at once.

Two promises hold here, whatever stops the worker:

- A message on the wire is never abandoned half-way. A job that is cancelled (SIGTERM, the
  in-process runner closing, arq's job timeout) stops *taking* messages, but the ones it already
  handed to the SMTP server run to the server's answer and their outcome is written (`finish`).
- At most as many accepted messages as there are connections wait for their outcome to be
  committed (`Unrecorded`), so a worker killed outright (kill -9) leaves at most the pool size
  to go out twice. The cost is one commit per handful of messages: a sent message's outcome
  waits until all but one of the permits are taken (or a connection needs one), so one UPDATE
  records the whole pool's latest messages, on PostgreSQL without waiting for the disk
  (`_for_outcomes`), while the connections go on with their next envelopes.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from webinars.mailer import Mailer
from webinars.runtime import WorkerContext

if TYPE_CHECKING:
    from .deliveries import Outcome

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Outcomes handed to the recorder: when they happened, who waits, the permit they hold.
Waiting = tuple[Sequence["Outcome"], datetime, asyncio.Future[None], "Permit | None"]


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

    Sent messages' outcomes (those that hold a permit) wait until `batch` outcomes do, a
    message needs a permit and no commit under way frees one (`exhausted`), their job ends
    (`flush`), or `LINGER` has passed. Committed one by one, a
    fan-out paid one round trip to the database per message, most of the worker's time.
    """

    IDLE = 1.0
    LINGER = 0.02

    def __init__(self, engine: AsyncEngine, worker_id: str | None, *, batch: int = 1) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self.batch = max(1, batch)
        self._waiting: list[Waiting] = []
        self._writer: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()
        self._closing = False
        self._now = False  # something waits that must not linger
        self._since = 0.0  # when the oldest waiting outcome arrived
        self._freeing = False  # the commit under way gives back permits
        #: `delivery.failed` events recorded and not yet handed to the dispatcher.
        self._events: list[int] = []

    def take_events(self) -> list[int]:
        events, self._events = self._events, []
        return events

    async def record(self, outcomes: Sequence[Outcome], now: datetime, *,
                     permit: Permit | None = None) -> None:
        """Commit `outcomes`. With the `permit` of a sent message they may linger (see the
        class); the permit is given back the moment their commit ends, so a message waiting
        for one goes on at once."""
        if not outcomes:
            if permit is not None:
                permit.release()
            return
        lazy = permit is not None
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        first = not self._waiting
        if first:
            self._since = loop.time()
        self._waiting.append((outcomes, now, done, permit))
        if not lazy or sum(len(w[0]) for w in self._waiting) >= self.batch:
            self.flush()
        elif first:  # an idle writer waits to give its connection back: LINGER counts now
            self._arrived.set()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        await finish(done)

    def flush(self) -> None:
        """Commit what waits now: a job is finishing."""
        self._now = True
        self._arrived.set()

    def exhausted(self) -> None:
        """A message waits for a permit: commit what holds them now, unless the commit under
        way will give some back. Hurried then, the next commit took the one or two outcomes
        that arrived meanwhile, and a fan-out paid a round trip to the database for every
        two messages instead of every `batch`."""
        if not self._freeing:
            self.flush()

    async def _write(self) -> None:
        batch: list[Waiting] = []
        try:
            while self._waiting:
                async with self.engine.connect() as conn:
                    await _for_outcomes(conn, True)
                    try:
                        while await self._more():
                            batch, self._waiting, self._now = self._waiting, [], False
                            self._freeing = any(permit for *_, permit in batch)
                            try:
                                await self._commit(conn, batch)
                            except Exception as exc:
                                log.exception("could not record %d delivery outcomes",
                                              sum(len(w[0]) for w in batch))
                                _settle(batch, exc)
                                batch = []
                                await conn.invalidate()  # may be broken: take a fresh one
                                break
                            finally:
                                self._freeing = False
                            _settle(batch)
                            batch = []
                    finally:
                        await _for_outcomes(conn, False)
        except BaseException as exc:  # no connection, or the loop is going away
            waiting, self._waiting = batch + self._waiting, []  # the batch under way too
            _settle(waiting, exc if isinstance(exc, Exception)
                    else RuntimeError("outcome writer stopped"))
            if not isinstance(exc, Exception):
                raise
            log.exception("could not record delivery outcomes")
        finally:
            self._writer = None

    async def _commit(self, conn: AsyncConnection, batch: Sequence[Waiting]) -> None:
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
        """Whether outcomes are to be committed now, waiting up to IDLE for some to arrive
        and up to LINGER for lazy ones to be joined by others."""
        loop = asyncio.get_running_loop()
        while True:
            if self._waiting:
                if self._now or self._closing:
                    return True
                timeout = self._since + self.LINGER - loop.time()
                if timeout <= 0:
                    return True
            elif self._closing:
                return False
            else:
                self._now = False  # a flush with nothing waiting: nothing to hurry
                timeout = self.IDLE
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except TimeoutError:
                if not self._waiting:
                    return False

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


def _settle(batch: Sequence[Waiting], error: Exception | None = None) -> None:
    """Give back the batch's permits, then wake its waiters."""
    for _, _, done, permit in batch:
        if permit is not None:
            permit.release()
        if not done.done():
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)


def _by_time(batch: Sequence[Waiting]) -> list[tuple[datetime, list[Outcome]]]:
    groups: dict[datetime, list[Outcome]] = {}
    for outcomes, now, _, _ in batch:
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


class Permit:
    """One accepted message's place among the unrecorded: `take` is the mailer's
    `before_data` (taken once, even if the mailer retries), `release` follows the commit."""

    def __init__(self, unrecorded: Unrecorded) -> None:
        self._unrecorded = unrecorded
        self._taken = False

    async def take(self) -> None:
        if not self._taken:
            await self._unrecorded.acquire()
            self._taken = True

    def release(self) -> None:
        if self._taken:
            self._taken = False
            self._unrecorded.release()


class Unrecorded:
    """Bounds the messages a server has accepted whose outcome is not yet committed: what a
    worker killed outright (kill -9) leaves to be sent twice. A message takes a permit once
    the server said to go ahead with its data (354) and gives it back once its outcome is
    committed; its connection is free for the next envelope meanwhile, so the commit overlaps
    the next MAIL, RCPT and DATA instead of holding the connection idle. A message that finds
    no permit free calls `exhausted` (the recorder's) to commit what holds them."""

    def __init__(self, count: int, exhausted: Callable[[], None] | None = None) -> None:
        self._permits = asyncio.Semaphore(count)
        self._exhausted = exhausted

    def permit(self) -> Permit:
        return Permit(self)

    async def acquire(self) -> None:
        if self._permits.locked() and self._exhausted is not None:
            self._exhausted()
        await self._permits.acquire()

    def release(self) -> None:
        self._permits.release()


class Outbound:
    """What every sending job of a process shares: the mailer, one slot per connection, the
    bound on accepted messages not yet recorded (as many as connections), and the recorder.
    A job waits for a slot before it takes a message, so cancelling a job while it waits
    abandons nothing."""

    def __init__(self, mailer: Mailer, engine: AsyncEngine, worker_id: str | None) -> None:
        self.mailer = mailer
        # A commit once all but one permit are held: the last connection goes on meanwhile.
        self.recorder = Recorder(engine, worker_id, batch=self.concurrency - 1)
        self.slots = Slots(self.concurrency)
        self.unrecorded = Unrecorded(self.concurrency, self.recorder.exhausted)
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
