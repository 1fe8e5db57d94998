"""Workers that say they are alive, so the rows a dead one held go out again within seconds.

Every worker process (each `webinars worker`, and the runner inside `webinars run`) has a row
in `worker_processes`: a random id, where it runs and its pid; its jobs claim deliveries under
that id. Its heartbeat, every WORKER_HEARTBEAT seconds, says it is alive, and while it beats
none of its rows is taken from it, however long their lease was (`reconcile.reclaim`): the
lease is the last resort for rows nobody alive holds. The heartbeat renews the worker's one row
rather than the lease of every row it holds: a fan-out holds thousands, and rewriting them every
few seconds would contend for their locks with the outcomes being written. The same pass looks
at the others: a worker silent for WORKER_GONE_AFTER, or one on this machine whose process no
longer exists (a restart after kill -9), is gone; its rows go back to pending and onto the queue
at once. Rows this worker holds that none of its jobs is working on (a job's give-back failed,
or the database lost an outcome in a crash) are given back by the next beat. A worker that
stops cleanly gives back what it still holds and deletes its row.

Silence is judged by the heartbeat times the workers write, so their clocks must agree to well
within WORKER_GONE_AFTER (NTP does). "This machine" means the same host name, boot and pid
namespace: a pid is only compared where it names the same process table.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update

from webinars.clock import Clock
from webinars.config import AppConfig
from webinars.db import Sessionmaker
from webinars.models import Delivery, WorkerProcess
from webinars.queue import Queue, delivery_jobs
from webinars.runtime import WorkerContext

from .deliveries import enqueue_all, mark_enqueued
from .reconcile import queue_every_due, reclaim
from .sending import Outbound, finish

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessIdentity:
    """Where a worker runs. `host` is only equal for processes that share one process table."""

    host: str
    pid: int
    #: False where the process table cannot be named (no /proc): pids are then never compared.
    local_pids: bool = True


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def this_process() -> ProcessIdentity:
    hostname = socket.gethostname()[:150]
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        namespace = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        namespace = None
    if boot is None or namespace is None:
        return ProcessIdentity(f"{hostname} (pids not compared)", os.getpid(), local_pids=False)
    return ProcessIdentity(f"{hostname} boot:{boot} {namespace}"[:255], os.getpid())


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists here (a zombie counts until it is reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


class Presence:
    """This process as a worker: its row, its heartbeat, and which rows its jobs work on."""

    def __init__(self, sessionmaker: Sessionmaker, clock: Clock, config: AppConfig,
                 queue: Queue | None, *, identity: ProcessIdentity | None = None,
                 alive: Callable[[int], bool] = pid_alive) -> None:
        self.id = uuid.uuid4().hex
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.config = config
        self.queue = queue
        self.identity = identity or this_process()
        self.alive = alive
        self._held: Counter[int] = Counter()
        self._task: asyncio.Task[None] | None = None

    async def start(self, *, heartbeat: bool = True) -> None:
        """Register, hand out what the dead held, then beat in the background."""
        now = self.clock.now()
        async with self.sessionmaker() as session:
            session.add(self._row(now))
            await session.commit()
        await self.beat()
        if heartbeat:
            self._task = asyncio.create_task(self._beat_forever())

    def _row(self, now: datetime) -> WorkerProcess:
        return WorkerProcess(id=self.id, host=self.identity.host, pid=self.identity.pid,
                             started_at=now, heartbeat_at=now)

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.worker_heartbeat)
            try:
                await finish(self.beat())  # a stop waits for the pass under way
            except Exception:
                log.exception("worker heartbeat failed")

    def is_gone(self, other: WorkerProcess, now: datetime) -> bool:
        if other.heartbeat_at < now - timedelta(seconds=self.config.worker_gone_after):
            return True
        if not self.identity.local_pids or other.host != self.identity.host:
            return False
        # Same process table: its pid is gone, or it is ours (one worker per process).
        return other.pid == self.identity.pid or not self.alive(other.pid)

    async def beat(self) -> list[int]:
        """One heartbeat: I am alive, so my rows stay mine; the rows of the dead (and rows past
        their lease that nobody alive holds) and mine that no job of mine works on go back to
        pending and onto the queue. Returns the ids handed out."""
        now = self.clock.now()
        async with self.sessionmaker() as session:
            beat = await session.execute(
                update(WorkerProcess).where(WorkerProcess.id == self.id)
                .values(heartbeat_at=now).execution_options(synchronize_session=False))
            if cast(CursorResult[Any], beat).rowcount == 0:
                log.warning("worker %s was taken for dead (no heartbeat for %s s); rows it "
                            "holds may have gone out twice", self.id,
                            self.config.worker_gone_after)
                session.add(self._row(now))
            mine = (await session.execute(
                select(Delivery.id, Delivery.lease_until, Delivery.due_at)
                .where(Delivery.status == "sending", Delivery.claimed_by == self.id))).all()
            # Read after the rows: a job holds its ids before it claims them, so a row claimed
            # by then is in this snapshot unless its job has finished with it.
            orphans: list[tuple[int, datetime]] = []
            for r in mine:
                if self._held[r.id]:
                    continue
                given_back = await session.scalar(  # the lease tells this claim from a later one
                    update(Delivery)
                    .where(Delivery.id == r.id, Delivery.status == "sending",
                           Delivery.claimed_by == self.id, Delivery.lease_until == r.lease_until)
                    .values(status="pending", lease_until=None, enqueued_at=None,
                            claimed_by=None)
                    .returning(Delivery.id)
                    .execution_options(synchronize_session=False))
                if given_back is not None:
                    orphans.append((r.id, r.due_at))
            others = (await session.scalars(
                select(WorkerProcess).where(WorkerProcess.id != self.id))).all()
            gone = [w for w in others if self.is_gone(w, now)]
            back = await reclaim(session, now, self.config, gone=[w.id for w in gone])
            if gone:
                await session.execute(delete(WorkerProcess).where(
                    WorkerProcess.id.in_([w.id for w in gone])))
            await session.commit()
        if orphans:
            log.warning("worker %s gives back %d deliveries none of its jobs holds",
                        self.id, len(orphans))
        for w in gone:
            log.warning("worker %s (%s, pid %s) is gone; its deliveries go out again",
                        w.id, w.host, w.pid)
        due = [*back.again, *orphans]
        await self._enqueue(due, now)
        return [i for i, _ in due]

    async def _enqueue(self, due: Sequence[tuple[int, datetime]], now: datetime) -> None:
        if not due:
            return
        stamp = f":b{self.id[:8]}{now:%Y%m%d%H%M%S%f}"
        jobs = [replace(job, job_id=job.job_id + stamp) for job in delivery_jobs(due, now)]
        await mark_enqueued(self.sessionmaker, await enqueue_all(self.queue, jobs), now)

    def hold(self, ids: Iterable[int]) -> None:
        """A job works on these rows (from before it claims them until it is done with them);
        counted, since two jobs may be given the same rows."""
        self._held.update(ids)

    def drop(self, ids: Iterable[int]) -> None:
        self._held.subtract(ids)
        self._held = +self._held  # forget the zeros

    async def stop(self) -> None:
        """After the last job: stop beating, give back what is still held, leave."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
        try:
            async with self.sessionmaker() as session:
                await session.execute(
                    update(Delivery).where(Delivery.status == "sending",
                                           Delivery.claimed_by == self.id)
                    .values(status="pending", lease_until=None, enqueued_at=None,
                            claimed_by=None)
                    .execution_options(synchronize_session=False))
                await session.execute(delete(WorkerProcess).where(WorkerProcess.id == self.id))
                await session.commit()
        except Exception:
            log.exception("worker %s could not sign off; its rows go out again once it is "
                          "taken for gone", self.id)


# --- the hooks both run modes call -------------------------------------------------------


async def start_worker(ctx: WorkerContext) -> None:
    """arq's on_startup (after the runtime is in ctx): announce this worker, hand out what the
    dead held, and share one way out (connection slots, group commit) among all jobs."""
    presence = Presence(ctx["sessionmaker"], ctx["clock"], ctx["config"], ctx.get("queue"))
    ctx["presence"] = presence
    ctx["worker_id"] = presence.id
    ctx["outbound"] = Outbound(ctx["mailer"], ctx["sessionmaker"].kw["bind"], presence.id)
    await presence.start()
    loop = type(asyncio.get_running_loop())
    log.info("worker %s started (pid %s, event loop %s.%s)", presence.id, os.getpid(),
             loop.__module__, loop.__qualname__)


async def start_embedded_worker(ctx: WorkerContext) -> None:
    """The in-process runner's start: as a worker, plus every due row onto its queue at once,
    because whatever its queue held lived in the memory of the process that stopped."""
    await start_worker(ctx)
    await queue_every_due(ctx)


async def stop_worker(ctx: WorkerContext) -> None:
    """After the last job has finished: every outcome written, the rest given back."""
    outbound = ctx.get("outbound")
    if isinstance(outbound, Outbound):
        await outbound.close()
    presence = ctx.get("presence")
    if isinstance(presence, Presence):
        await presence.stop()
