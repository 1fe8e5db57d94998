"""arq worker settings: `webinars worker` (or `arq workers.settings.WorkerSettings`)."""

from __future__ import annotations

from typing import ClassVar

from arq import cron, func
from arq.connections import RedisSettings

from webinars.config import load
from webinars.queue import ArqQueue
from webinars.runtime import WorkerContext, build_runtime

from . import FUNCTIONS
from .alerts import check_connections
from .presence import start_worker, stop_worker
from .reconcile import reconcile
from .reports import poll_attendance


async def on_startup(ctx: WorkerContext) -> None:
    runtime = await build_runtime(load())
    runtime.queue = ArqQueue(ctx["redis"])
    ctx["runtime"] = runtime
    ctx.update(runtime.job_context())
    await start_worker(ctx)


async def on_shutdown(ctx: WorkerContext) -> None:
    """arq calls this once every job has ended: on SIGTERM it cancels them, and each finishes
    the messages on the wire, gives back its other rows and is queued again ("cancelled, will
    be run again")."""
    await stop_worker(ctx)
    runtime = ctx.get("runtime")
    if runtime is not None:
        runtime.queue = None  # the pool belongs to arq
        await runtime.close()


def redis_settings() -> RedisSettings:
    import settings

    return RedisSettings.from_dsn(settings.REDIS_URL or "redis://127.0.0.1:6379")


class WorkerSettings:
    functions: ClassVar = [func(f, name=name)  # type: ignore[arg-type]
                           for name, f in FUNCTIONS.items()]
    cron_jobs: ClassVar = [
        cron(reconcile, second={0}, run_at_startup=True, unique=True),  # type: ignore[arg-type]
        cron(poll_attendance, minute={5}, second={0}, unique=True),  # type: ignore[arg-type]
        cron(check_connections, hour={4}, minute={30}, second={0},  # type: ignore[arg-type]
             unique=True),
    ]
    on_startup = on_startup
    on_shutdown = on_shutdown
    redis_settings = redis_settings()
    keep_result = 0
    max_jobs = 20
    poll_delay = 0.2
