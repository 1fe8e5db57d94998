"""A stopping worker hands back what it has not sent (issue item 10).

Unit level, on both databases with a FixedClock: the heartbeat pass hands out the rows of a
dead worker (silent too long, or its process gone from this machine) and never those of a live
one, however old their lease; a job that is stopped finishes the messages on the wire and gives
back the rest; an outcome is committed before its connection takes the next message.

Process level, the way bench/faults.py measures it: a real `webinars worker` (PostgreSQL, Redis,
SMTP) and a real `webinars run` (SQLite, SMTP), stopped with SIGTERM or kill -9 mid-fan-out and
started again; and an SMTP server slower than the lease.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bench.common import Target
from bench.faults import SLOW, Scenario, measure
from webinars.clock import FixedClock
from webinars.config import AppConfig, check_worker_times
from webinars.mailer import SmtpMailer
from webinars.models import Delivery, WorkerProcess
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime
from workers import FUNCTIONS
from workers.deliveries import send_deliveries
from workers.presence import Presence, ProcessIdentity, start_embedded_worker, stop_worker
from workers.recheck import claim
from workers.reconcile import reconcile_deliveries

from .conftest import PG_ADMIN_URL, dispatch_held
from .factories import make_account, make_org, make_registration, make_webinar
from .smtp import Handler, SmtpServer

PEOPLE = [f"member{i}@school.example" for i in range(5)]
#: Two other machines: pids there are never looked up here.
HOST_A = ProcessIdentity("host-a boot:a pid:[1]", 4242)
HOST_B = ProcessIdentity("host-b boot:b pid:[1]", 4343)


async def eventually(condition: Callable[[], bool], timeout: float = 20) -> None:
    """Poll until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


class WatchedHandler(Handler):
    """tests.smtp's handler, plus what the test asks and holds at the end of DATA."""

    server: WatchedSmtp

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.server.at_data is not None:
            seen = await asyncio.get_running_loop().run_in_executor(None, self.server.at_data)
            self.server.seen_at_data.append(seen)
        if self.server.hold:
            with self.server.lock:
                self.server.waiting += 1
            await asyncio.get_running_loop().run_in_executor(None, self.server.gate.acquire,
                                                             True, 30)
            with self.server.lock:
                self.server.waiting -= 1
        return await super().handle_DATA(server, session, envelope)


class WatchedSmtp(SmtpServer):
    """Holds each message at the end of DATA until the test lets it through (so the test knows
    what is on the wire), or asks `at_data()` something as each message's data arrives."""

    def __init__(self, *, hold: bool = False, at_data: Callable[[], int] | None = None) -> None:
        super().__init__()
        self.hold = hold
        self.at_data = at_data
        self.seen_at_data: list[int] = []
        self.waiting = 0
        self.gate = threading.Semaphore(0)

    def start(self) -> None:
        self.controller = Controller(WatchedHandler(self), hostname="127.0.0.1", port=self.port,
                                     ready_timeout=10)
        self.controller.start()

    def let_through(self, n: int) -> None:
        for _ in range(n):
            self.gate.release()

    def stop(self) -> None:
        self.let_through(100)  # nothing stays held in the server's threads
        super().stop()


async def invitations(session: AsyncSession, clock: FixedClock, runtime: Runtime,
                      people: list[str] = PEOPLE) -> list[int]:
    """A webinar and its registrants, their invitations written with no job queued: their
    invitation ids."""
    org = await make_org(session, clock)
    account = await make_account(session, clock, org)
    webinar = await make_webinar(session, clock, account, org)
    for email in people:
        await make_registration(session, clock, webinar, email=email)
    await dispatch_held(session, runtime.job_context())
    ids = sorted(await session.scalars(select(Delivery.id).where(Delivery.kind == "invitation")))
    await session.commit()  # SQLite: a reading transaction holds the write lock here
    return ids


async def rows(runtime: Runtime) -> list[Delivery]:
    async with runtime.sessionmaker() as s:
        return list((await s.scalars(select(Delivery).where(Delivery.kind == "invitation")
                                     .order_by(Delivery.id))).all())


def use_smtp(runtime: Runtime, queue: InProcessQueue, smtp: SmtpServer, pool: int) -> None:
    runtime.mailer = SmtpMailer.from_url(f"{smtp.url}?pool={pool}")  # closed with the runtime
    queue.ctx["mailer"] = runtime.mailer


def presence(runtime: Runtime, identity: ProcessIdentity) -> Presence:
    return Presence(runtime.sessionmaker, runtime.clock, runtime.config, runtime.queue,
                    identity=identity)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


async def claim_for(runtime: Runtime, worker: Presence, ids: list[int]) -> None:
    async with runtime.sessionmaker() as s:
        lease = timedelta(seconds=runtime.config.delivery_lease)
        assert await claim(s, ids, runtime.clock.now(), lease=lease, worker_id=worker.id) == ids
        await s.commit()


# --- the heartbeat pass --------------------------------------------------------------------


async def test_rows_of_a_worker_whose_heartbeat_stopped_go_out_once_at_the_next_beat(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    smtp: SmtpServer,
) -> None:
    use_smtp(runtime, queue, smtp, 2)
    ids = await invitations(session, clock, runtime)
    dead, live = presence(runtime, HOST_A), presence(runtime, HOST_B)
    await dead.start(heartbeat=False)
    await claim_for(runtime, dead, ids)  # …and then its machine went away
    await live.start(heartbeat=False)
    clock.advance(timedelta(seconds=runtime.config.worker_gone_after - 1))
    assert await live.beat() == []  # silent, but not for long enough yet
    clock.advance(timedelta(seconds=2))  # far inside the 10-minute lease
    assert sorted(await live.beat()) == ids
    await queue.drain()
    assert [smtp.count(p) for p in PEOPLE] == [1] * len(PEOPLE)
    assert {(r.status, r.claimed_by) for r in await rows(runtime)} == {("sent", None)}
    async with runtime.sessionmaker() as s:
        assert list(await s.scalars(select(WorkerProcess.id))) == [live.id]


async def test_rows_of_a_worker_whose_process_is_gone_from_this_machine_go_out_at_start(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    smtp: SmtpServer,
) -> None:
    use_smtp(runtime, queue, smtp, 2)
    ids = await invitations(session, clock, runtime)
    here = ProcessIdentity("this-host boot:y pid:[2]", os.getpid())
    killed = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await killed.wait()  # reaped: its pid now names no process
    running = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; sys.stdin.read()", stdin=asyncio.subprocess.PIPE)
    try:
        gone = presence(runtime, replace(here, pid=killed.pid))
        alive = presence(runtime, replace(here, pid=running.pid))
        for worker, share in ((gone, ids[:3]), (alive, ids[3:])):
            await worker.start(heartbeat=False)
            await claim_for(runtime, worker, share)
            worker.hold(share)
        restarted = presence(runtime, here)
        await restarted.start(heartbeat=False)  # no clock moved: the pid says it all
        await queue.drain()
        assert [smtp.count(p) for p in PEOPLE] == [1, 1, 1, 0, 0]
        by_id = {r.id: r for r in await rows(runtime)}
        assert {by_id[i].claimed_by for i in ids[3:]} == {alive.id}  # still sending, its own
    finally:
        await running.communicate(b"")


async def test_a_live_workers_rows_stay_its_own_long_after_their_lease(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    smtp: SmtpServer,
) -> None:
    use_smtp(runtime, queue, smtp, 2)
    ids = await invitations(session, clock, runtime)
    slow, other = presence(runtime, HOST_A), presence(runtime, HOST_B)
    await slow.start(heartbeat=False)
    await claim_for(runtime, slow, ids)
    slow.hold(ids)  # its job is still sending them
    await other.start(heartbeat=False)
    step = timedelta(seconds=runtime.config.worker_heartbeat)
    end = clock.now() + timedelta(seconds=runtime.config.delivery_lease) * 2
    while clock.now() < end:
        clock.advance(step)
        await slow.beat()
        assert await other.beat() == []
    assert (await reconcile_deliveries(runtime.job_context()))["reclaimed"] == 0
    assert {(r.status, r.claimed_by) for r in await rows(runtime)} == {("sending", slow.id)}
    # Its job ends without recording them (the database lost the outcomes): the next beat of
    # its own heartbeat gives them back; nothing was lost.
    slow.drop(ids)
    assert sorted(await slow.beat()) == ids
    await queue.drain()
    assert [smtp.count(p) for p in PEOPLE] == [1] * len(PEOPLE)
    clock.advance(timedelta(seconds=runtime.config.worker_gone_after + 1))
    assert await other.beat() == []  # it fell silent: taken for gone, with nothing left
    async with runtime.sessionmaker() as s:
        assert list(await s.scalars(select(WorkerProcess.id))) == [other.id]


async def test_the_in_process_runner_queues_every_due_row_when_it_starts(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    smtp: SmtpServer,
) -> None:
    """What the stopped process had queued lived in its memory: nothing waits for the grace."""
    use_smtp(runtime, queue, smtp, 2)
    ids = await invitations(session, clock, runtime)
    async with runtime.sessionmaker() as s:  # queued a moment ago by the process that stopped
        await s.execute(update(Delivery).values(enqueued_at=clock.now()))
        await s.commit()
    clock.advance(timedelta(seconds=5))
    assert (await reconcile_deliveries(runtime.job_context()))["deliveries"] == 0  # grace
    runner = InProcessQueue(FUNCTIONS, {**queue.ctx}, clock, on_startup=start_embedded_worker,
                            on_shutdown=stop_worker)
    runner.ctx["queue"] = runner
    await runner.start()
    try:
        await runner.drain()
    finally:
        await runner.close()
    assert [smtp.count(p) for p in PEOPLE] == [1] * len(PEOPLE)
    assert len(ids) == len(PEOPLE)
    async with runtime.sessionmaker() as s:  # it signed off
        assert await s.scalar(select(func.count()).select_from(WorkerProcess)) == 0


# --- a job that is stopped, and outcomes that are durable ---------------------------------


async def test_a_stopped_job_finishes_the_messages_on_the_wire_and_gives_back_the_rest(
    runtime: Runtime, session: AsyncSession, clock: FixedClock,
) -> None:
    ids = await invitations(session, clock, runtime)
    with WatchedSmtp(hold=True) as smtp:
        mailer = SmtpMailer.from_url(f"{smtp.url}?pool=2")
        ctx = {**runtime.job_context(), "mailer": mailer, "queue": None}
        try:
            job = asyncio.create_task(send_deliveries(ctx, ids))
            await eventually(lambda: smtp.waiting == 2)  # two on the wire, three waiting
            job.cancel()  # SIGTERM: arq and the in-process runner cancel their jobs
            assert {r.status for r in await rows(runtime)} == {"sending"}
            assert not job.done()  # it waits for the server's answer to the two
            smtp.let_through(2)
            with pytest.raises(asyncio.CancelledError):
                await job
            assert smtp.total() == 2
            got = await rows(runtime)
            assert sorted(r.status for r in got) == ["pending"] * 3 + ["sent"] * 2
            assert {(r.claimed_by, r.lease_until, r.attempts, r.enqueued_at)
                    for r in got if r.status == "pending"} == {(None, None, 0, clock.now())}
            smtp.let_through(3)
            await send_deliveries(ctx, ids)  # run again, as arq does with a cancelled job
        finally:
            await mailer.close()
        assert [smtp.count(p) for p in PEOPLE] == [1] * len(PEOPLE)
    assert {r.status for r in await rows(runtime)} == {"sent"}


async def test_a_connection_sends_its_next_message_only_once_the_last_outcome_is_committed(
    runtime: Runtime, session: AsyncSession, clock: FixedClock,
) -> None:
    """So a worker killed outright leaves at most one unrecorded message per connection: the
    next envelope may go out meanwhile, its data may not."""
    ids = await invitations(session, clock, runtime, PEOPLE[:4])
    loop = asyncio.get_running_loop()

    async def sent() -> int:
        async with runtime.sessionmaker() as s:
            return int(await s.scalar(select(func.count()).select_from(Delivery)
                                      .where(Delivery.status == "sent")) or 0)

    def committed_when_data_arrives() -> int:  # asked from the SMTP server's thread
        return asyncio.run_coroutine_threadsafe(sent(), loop).result(10)

    with WatchedSmtp(at_data=committed_when_data_arrives) as smtp:
        mailer = SmtpMailer.from_url(f"{smtp.url}?pool=1")
        try:
            await send_deliveries({**runtime.job_context(), "mailer": mailer}, ids)
        finally:
            await mailer.close()
        assert smtp.seen_at_data == [0, 1, 2, 3]
        assert [smtp.count(p) for p in PEOPLE[:4]] == [1] * 4


# --- settings ---------------------------------------------------------------------------


def test_the_default_lease_outlasts_the_slowest_batch_and_fits_the_heartbeat() -> None:
    """Bad values stop start-up (tests/test_config.py); the defaults themselves must pass."""
    defaults = AppConfig(database_url="sqlite+aiosqlite:///x", secret_key="k")
    assert defaults.delivery_lease > 300  # arq's job timeout bounds a batch
    check_worker_times(defaults.delivery_lease, defaults.worker_heartbeat,
                       defaults.worker_gone_after, defaults.reconcile_grace)


# --- real processes, measured as bench/faults.py does ------------------------------------


@pytest.fixture
def target() -> Target:
    admin = PG_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    redis_db = os.environ.get("TEST_REDIS_DB", "9")
    return Target(admin, f"webinars_stop_{os.getpid()}", f"redis://127.0.0.1:6379/{redis_db}")


@pytest.mark.parametrize("mode", ["worker", "run"])
@pytest.mark.parametrize("stop", ["term", "kill"])
async def test_a_worker_stopped_mid_fan_out_and_started_again_delays_nothing(
    target: Target, tmp_path: Path, mode: str, stop: str,
) -> None:
    """Default lease and heartbeat: what comes back within seconds does so because the
    stopped worker gave its rows back, or because its pid is known to be gone."""
    result = await measure(target, Scenario(mode, stop, updates=60, pool=3, delay=0.03,
                                            late=10, wait=30), tmp_path)
    assert 0 < result.before_stop < 60, result.logs
    assert result.delayed == 0 and result.never == 0, result.logs
    if mode == "worker":  # uvloop, as uvicorn picks for `run`
        assert "event loop uvloop.Loop)" in result.logs, result.logs
    if stop == "term":
        assert result.exit_seconds < 10
        assert result.twice == 0, result.logs
        assert result.left_sending == 0 and result.released > 0, result.logs
    else:
        assert result.twice <= 3, result.logs  # at most what was on the wire: the pool
    assert "Traceback" not in result.logs, result.logs


async def test_an_smtp_server_slower_than_the_lease_sends_nothing_twice(target: Target,
                                                                    tmp_path: Path) -> None:
    result = await measure(target, Scenario("worker", "none", updates=20, pool=1, delay=0.3,
                                            late=30, wait=30, settings=SLOW), tmp_path)
    lease = float(SLOW["DELIVERY_LEASE"])
    assert result.restart_to_last > 2 * lease  # the batch outlived its lease…
    assert result.never == 0 and result.twice == 0, result.logs  # …and went out once
    assert "Traceback" not in result.logs, result.logs
