"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

The schema is migrated once per backend with Alembic; each test starts from empty tables.
Time is a FixedClock; jobs run through the in-process runner (`queue.drain()` waits for them)
unless a test builds the arq path itself.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import httpx
import pytest
import uvicorn
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.common import HeldQueue
from webinars.app import create_app
from webinars.clock import FixedClock
from webinars.config import AppConfig
from webinars.db import make_engine
from webinars.migrate import upgrade
from webinars.models import Base, Event
from webinars.queue import InProcessQueue, Job
from webinars.runtime import Runtime, build_runtime
from workers import FUNCTIONS
from workers.dispatch import dispatch

from .api_support import World, make_world
from .webhook_receiver import LocalOnlyDns, Receiver


def _worker_redis_databases() -> None:
    """Under pytest-xdist (`scripts/test` runs two workers) each worker flushes Redis
    databases of its own: worker n takes TEST_REDIS_DB - 2n and TEST_BENCH_REDIS_DB - 2n
    (9/8, 7/6, ...), set before any test module reads them."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    n = int(worker[2:]) if worker[2:].isdigit() else 0
    for name, default in (("TEST_REDIS_DB", 9), ("TEST_BENCH_REDIS_DB", 8)):
        base = int(os.environ.get(f"{name}_BASE", os.environ.get(name, default)))
        os.environ[f"{name}_BASE"] = str(base)
        os.environ[name] = str((base - 2 * n) % 16)


_worker_redis_databases()


PG_ADMIN_URL = os.environ.get("TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432")
#: One database per test run, so parallel runs on one server never drop each other's tables.
PG_TEST_DB = f"webinars_test_{os.getpid()}"
#: "Now" in every test, unless a test moves the clock.
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SECRET = "test-secret-key-that-is-long-enough-0123456789"
CREDENTIALS_SECRET = "test-credentials-key-other-than-the-secret-9876"


async def _pg_admin(*statements: str) -> None:
    import asyncpg

    dsn = PG_ADMIN_URL.replace("postgresql+asyncpg", "postgresql") + "/postgres"
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[str]:
    """A migrated, empty database of each kind, made once per test session."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        upgrade(url)
        yield url
        return
    drop = f"DROP DATABASE IF EXISTS {PG_TEST_DB} WITH (FORCE)"
    asyncio.run(_pg_admin(drop, f"CREATE DATABASE {PG_TEST_DB}"))
    url = f"{PG_ADMIN_URL}/{PG_TEST_DB}"
    upgrade(url)
    yield url
    asyncio.run(_pg_admin(drop))


async def empty_tables(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            names = [t.name for t in reversed(Base.metadata.sorted_tables)]
            if url.startswith("postgresql"):
                await conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
            else:
                for name in names:
                    await conn.execute(text(f"DELETE FROM {name}"))
    finally:
        await engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> AppConfig:
    # Tests register many people from one client: the registration limits are set out of the
    # way here, and tests of the limits set their own (tests/test_limits.py). Passwords are
    # hashed with argon2id at its lowest cost: a login takes 1 ms instead of 0.13 s. Tests
    # change rows behind the app's back and read the page at once on a clock that stands
    # still: public pages are not kept (tests/test_page_cache.py tests keeping them).
    return AppConfig(database_url=database_url, secret_key=SECRET, base_url="http://testserver",
                     mail_from="events@union.example", data_dir=tmp_path,
                     registration_limit_per_client=10_000, registration_limit_per_address=10_000,
                     password_hash_time_cost=1, password_hash_memory_kib=1024,
                     credentials_keys=(CREDENTIALS_SECRET,), page_cache_seconds=0)


@pytest.fixture
async def runtime(config: AppConfig, clock: FixedClock) -> AsyncIterator[Runtime]:
    await empty_tables(config.database_url)
    rt = await build_runtime(config, clock)
    rt.webhook_resolver = LocalOnlyDns()
    queue = InProcessQueue(FUNCTIONS, {}, clock)
    rt.queue = queue
    queue.ctx.update(rt.job_context())
    try:
        yield rt
    finally:
        await queue.drain()  # let jobs a test started finish before their database goes away
        await rt.close()


@pytest.fixture
def queue(runtime: Runtime) -> InProcessQueue:
    assert isinstance(runtime.queue, InProcessQueue)
    return runtime.queue


@pytest.fixture
async def world(runtime: Runtime, clock: FixedClock, queue: InProcessQueue) -> World:
    """The API tests' tree, organizers, tokens and webinars, with their jobs done."""
    made = await make_world(runtime, clock)
    await queue.drain()
    return made


Dispatched = Callable[[AsyncSession], Awaitable[list[Job]]]


async def dispatch_held(session: AsyncSession | None, job_context: dict[str, Any]
                        ) -> list[Job]:
    """Commit the session, then hand every recorded event to its handlers as the worker's
    dispatcher does, without running the jobs they queue (returned): the outbox rows stay
    pending for the test to read, and a meeting stays "link pending"."""
    if session is not None:
        await session.commit()
    held = HeldQueue()
    ctx = {**job_context, "queue": held}
    async with job_context["sessionmaker"]() as reading:
        ids = (await reading.scalars(select(Event.id).where(Event.dispatched_at.is_(None))
                                     .order_by(Event.id))).all()
    for event_id in ids:
        assert await dispatch(ctx, event_id) == "dispatched"  # type: ignore[arg-type]
    return held.jobs


@pytest.fixture
def dispatched(runtime: Runtime) -> Dispatched:
    """`dispatch_held` with this test's runtime."""
    return lambda session: dispatch_held(session, runtime.job_context())


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """An integrator's webhook endpoint on 127.0.0.1 (tests/webhook_receiver.py)."""
    r = await Receiver().start()
    try:
        yield r
    finally:
        await r.stop()


@pytest.fixture
async def session(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    async with runtime.sessionmaker() as s:
        yield s


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                 follow_redirects=False) as c:
        yield c


class LiveServer:
    """The app on a real port in a thread of its own, for the browser tests."""

    def __init__(self, app: Any) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        while not self.server.started:
            self.thread.join(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
