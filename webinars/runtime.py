"""What a process shares: one engine, one aiohttp session, the adapters, the mailer, the queue.

Built once at start-up (the app's lifespan, the worker's on_startup) and closed at shutdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from integrations.base import Adapter
from integrations.registry import TokenCache

from .catalogs import load_catalogs
from .clock import Clock, SystemClock
from .config import AppConfig
from .connections import preset_adapters
from .db import Sessionmaker, make_engine, make_sessionmaker
from .mailer import Mailer, make_mailer
from .page_cache import PageCache
from .queue import Queue
from .security import use_hash_cost


class WorkerContext(TypedDict, total=False):
    """What every job receives as `ctx`, in arq and in the in-process runner alike."""

    config: AppConfig
    clock: Clock
    sessionmaker: Sessionmaker
    http: aiohttp.ClientSession
    adapters: dict[str, Adapter]
    #: OAuth tokens of platform connections, cached for the process.
    tokens: TokenCache
    mailer: Mailer
    queue: Queue | None
    #: Set by `presence.start_worker`: this process's row in `worker_processes`.
    worker_id: str
    #: This process's heartbeat and its connections to the mail server (`presence`,
    #: `sending.Outbound`), set at the worker's start.
    presence: Any
    outbound: Any
    #: Resolves webhook endpoints' names (aiohttp's AbstractResolver); None: the system's DNS.
    #: The test suite sets one that knows only localhost, so no test asks any DNS server.
    webhook_resolver: Any
    #: arq's own keys (redis, job_id, job_try, …) and the runtime that built the rest.
    redis: Any
    runtime: Any
    job_try: int


@dataclass
class Runtime:
    config: AppConfig
    clock: Clock
    engine: AsyncEngine
    sessionmaker: Sessionmaker
    http: aiohttp.ClientSession
    adapters: dict[str, Adapter]
    mailer: Mailer
    queue: Queue | None = None
    webhook_resolver: Any = None
    #: OAuth tokens of platform connections, shared by every job and request of the process.
    tokens: TokenCache = field(default_factory=TokenCache)
    #: Public event pages as last rendered by this process (`webinars.page_cache`).
    pages: PageCache = field(default_factory=PageCache)
    extra: dict[str, Any] = field(default_factory=dict)

    def job_context(self) -> WorkerContext:
        """The `ctx` every job receives, in arq and in the in-process runner alike."""
        return {
            "config": self.config,
            "clock": self.clock,
            "sessionmaker": self.sessionmaker,
            "http": self.http,
            "adapters": self.adapters,
            "tokens": self.tokens,
            "mailer": self.mailer,
            "queue": self.queue,
            "webhook_resolver": self.webhook_resolver,
        }

    async def close(self) -> None:
        if self.queue is not None:
            await self.queue.close()
        await self.mailer.close()
        await self.http.close()
        await self.engine.dispose()


async def build_runtime(config: AppConfig, clock: Clock | None = None, *,
                        adapters: dict[str, Adapter] | None = None,
                        mailer: Mailer | None = None) -> Runtime:
    use_hash_cost(config.password_hash_time_cost, config.password_hash_memory_kib)
    load_catalogs()  # now, not in the first page or reminder (a checkout compiles the .po)
    engine = make_engine(config.database_url, pool=config.pool)
    sessionmaker = make_sessionmaker(engine)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))
    tokens = TokenCache()
    clock = clock or SystemClock()
    return Runtime(
        config=config,
        clock=clock,
        engine=engine,
        sessionmaker=sessionmaker,
        http=http,
        adapters=adapters or preset_adapters(config, http, tokens, clock),
        tokens=tokens,
        mailer=mailer or make_mailer(config, sessionmaker),
    )
