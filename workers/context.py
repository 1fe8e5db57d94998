"""What every job receives as `ctx`, in arq and in the in-process runner alike."""

from __future__ import annotations

from typing import Any, TypedDict

import aiohttp

from integrations.base import Adapter
from webinars.clock import Clock
from webinars.config import AppConfig
from webinars.db import Sessionmaker
from webinars.mailer import Mailer
from webinars.queue import Queue


class WorkerContext(TypedDict, total=False):
    config: AppConfig
    clock: Clock
    sessionmaker: Sessionmaker
    http: aiohttp.ClientSession
    adapters: dict[str, Adapter]
    mailer: Mailer
    queue: Queue | None
    #: Set by `presence.start_worker`: this process's row in `worker_processes`.
    worker_id: str
    #: arq's own keys (redis, job_id, job_try, …) and the runtime that built the rest.
    redis: Any
    runtime: Any
    job_try: int
