"""The one place the web side names jobs, and the two ways they run.

Services record what happened as events (`webinars.events`) and handlers record the rows they
wrote, both in `session.info`; `commit_and_enqueue` commits and only then puts the jobs on the
queue (commit, then enqueue). A crash between the two loses nothing: the reconcile job finds
the undispatched events and the unsent rows again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from .clock import Clock

log = logging.getLogger(__name__)

# Job names are an API: renaming one strands jobs already queued.
DISPATCH = "dispatch"
#: Makes the platform's meeting match the webinar (create, update or delete); the name is
#: older than the job's scope.
SYNC_MEETING = "create_meeting"
SEND_DELIVERIES = "send_deliveries"
SEND_WEBHOOK = "send_webhook"
RECONCILE = "reconcile"
CHECK_CONNECTIONS = "check_connections"
POLL_ATTENDANCE = "poll_attendance"
TELL_MEETING_FAILED = "tell_meeting_failed"
REMIND_PLAN = "remind_plan"
TELL_COPIES_CHANGED = "tell_copies_changed"

#: Deliveries due within this window are queued at once (deferred); later ones wait for the sweep.
QUEUE_HORIZON = timedelta(minutes=10)
BATCH_SIZE = 100


@dataclass(frozen=True)
class Job:
    name: str
    args: tuple[Any, ...]
    job_id: str
    defer_until: datetime | None = None


class Queue(Protocol):
    async def enqueue(self, job: Job) -> None: ...

    async def close(self) -> None: ...


def dispatch_job(event_id: int, tag: str = "", defer_until: datetime | None = None) -> Job:
    return Job(DISPATCH, (event_id,), f"dispatch:{event_id}{tag}", defer_until)


def meeting_failed_job(webinar_id: int, tag: str) -> Job:
    return Job(TELL_MEETING_FAILED, (webinar_id,), f"meeting-failed:{webinar_id}:{tag}")


def remind_plan_job(webinar_id: int, organization_ids: list[int], tag: str) -> Job:
    return Job(REMIND_PLAN, (webinar_id, sorted(organization_ids)),
               f"remind-plan:{webinar_id}:{tag}")


def copies_changed_job(event_id: int, tag: str = "") -> Job:
    return Job(TELL_COPIES_CHANGED, (event_id,), f"copies-changed:{event_id}{tag}")


def meeting_job(webinar_id: int, tag: str, defer_until: datetime | None = None) -> Job:
    return Job(SYNC_MEETING, (webinar_id,), f"meeting:{webinar_id}:{tag}", defer_until)


def delivery_jobs(due: Iterable[tuple[int, datetime]], now: datetime) -> list[Job]:
    """Group deliveries into batch jobs by due time; ids make the job id deterministic.

    Rows written by one change share their due time (everyone's update now, everyone's
    reminder at start minus offset), so this groups a fan-out into few jobs without sending
    anything early.
    """
    groups: dict[datetime, list[int]] = {}
    for delivery_id, due_at in due:
        if due_at > now + QUEUE_HORIZON:
            continue
        groups.setdefault(max(due_at, now), []).append(delivery_id)
    jobs: list[Job] = []
    for slot, ids in sorted(groups.items()):
        ids.sort()
        for start in range(0, len(ids), BATCH_SIZE):
            chunk = ids[start:start + BATCH_SIZE]
            defer = max(slot, now) if slot > now else None
            jobs.append(Job(SEND_DELIVERIES, (chunk,), f"send:{chunk[0]}:{chunk[-1]}:{len(chunk)}",
                            defer))
    return jobs


def pending_jobs(session: AsyncSession) -> list[Job]:
    jobs: list[Job] = session.info.setdefault("jobs", [])
    return jobs


def pending_deliveries(session: AsyncSession) -> list[tuple[int, datetime]]:
    due: list[tuple[int, datetime]] = session.info.setdefault("deliveries", [])
    return due


async def commit_and_enqueue(session: AsyncSession, queue: Queue | None, clock: Clock) -> None:
    await session.commit()
    jobs = [dispatch_job(event.id) for event in session.info.get("events", [])]
    jobs += pending_jobs(session) + delivery_jobs(pending_deliveries(session), clock.now())
    session.info["events"] = []
    session.info["jobs"] = []
    session.info["deliveries"] = []
    if queue is None:  # the CLI outside a worker: reconcile queues it all within a minute
        return
    for job in jobs:
        try:
            await queue.enqueue(job)
        except Exception:  # the rows are committed; reconcile will queue them again
            log.exception("could not enqueue %s; reconcile will retry", job.job_id)


JobFunction = Callable[..., Awaitable[Any]]
#: arq's on_startup / on_shutdown shape: called with the job context.
Hook = Callable[[Any], Awaitable[None]]


class InProcessQueue:
    """Runs the worker's job functions inside this process (the embedded default).

    Deferred jobs wait in memory (at most the queue horizon ahead) and start when the clock
    reaches them; everything durable is in the database, so losing this process loses nothing
    the reconcile job cannot rebuild. Tests move a FixedClock and call `run_due()`.

    `start()` and `close()` run `on_startup` and `on_shutdown` as arq does: the latter only
    after every job has finished, so a stopping job can still give back what it holds.
    """

    TICK_SECONDS = 0.5

    def __init__(self, functions: dict[str, JobFunction], ctx: dict[str, Any], clock: Clock,
                 *, cron: list[tuple[str, float]] | None = None, on_startup: Hook | None = None,
                 on_shutdown: Hook | None = None) -> None:
        self.functions = functions
        self.ctx = ctx
        self.clock = clock
        self.cron = cron or []
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        self._started = False
        self.deferred: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._background: list[asyncio.Task[None]] = []

    async def enqueue(self, job: Job) -> None:
        if job.name not in self.functions:
            raise KeyError(f"unknown job {job.name}")
        if job.job_id in self._tasks or job.job_id in self.deferred:
            return
        if job.defer_until is not None and job.defer_until > self.clock.now():
            self.deferred[job.job_id] = job
        else:
            self._tasks[job.job_id] = asyncio.create_task(self._run(job))

    async def run_due(self) -> None:
        """Start every deferred job whose time has come."""
        now = self.clock.now()
        for job_id, job in list(self.deferred.items()):
            if job.defer_until is None or job.defer_until <= now:
                del self.deferred[job_id]
                await self.enqueue(Job(job.name, job.args, job.job_id))

    async def _run(self, job: Job) -> None:
        try:
            await self.functions[job.name](self.ctx, *job.args)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s failed", job.job_id)
        finally:
            self._tasks.pop(job.job_id, None)

    async def start(self) -> None:
        """`webinars run`: the start-up hook, then the ticker and the periodic jobs."""
        if self.on_startup is not None:
            await self.on_startup(self.ctx)
        self._started = True
        self.start_cron()

    def start_cron(self) -> None:
        """Production mode: a ticker for deferred jobs and the periodic jobs."""
        self._background.append(asyncio.create_task(self._tick()))
        for name, every in self.cron:
            self._background.append(asyncio.create_task(self._repeat(name, every)))

    async def _tick(self) -> None:
        while True:
            await self.run_due()
            await asyncio.sleep(self.TICK_SECONDS)

    async def _repeat(self, name: str, every: float) -> None:
        while True:
            try:
                await self.functions[name](self.ctx)
            except Exception:
                log.exception("periodic job %s failed", name)
            await asyncio.sleep(every)

    async def drain(self) -> None:
        """Run every job that is due until none is left (jobs may enqueue more jobs)."""
        await self.run_due()
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
            await self.run_due()

    async def close(self) -> None:
        """Cancel the jobs (each finishes what it has on the wire and gives back the rest) and
        wait for them all, then the shutdown hook."""
        tasks = [*self._tasks.values(), *self._background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._background.clear()
        self.deferred.clear()
        if self._started and self.on_shutdown is not None:
            self._started = False
            await self.on_shutdown(self.ctx)


class ArqQueue:
    """Puts jobs on Redis for `webinars worker`."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    @classmethod
    async def connect(cls, redis_url: str) -> ArqQueue:
        from arq import create_pool
        from arq.connections import RedisSettings

        return cls(await create_pool(RedisSettings.from_dsn(redis_url)))

    async def enqueue(self, job: Job) -> None:
        await self.redis.enqueue_job(job.name, *job.args, _job_id=job.job_id,
                                     _defer_until=job.defer_until)

    async def close(self) -> None:
        await self.redis.aclose()
