"""The PostgreSQL engine under load: no ping per checkout, yet a connection the server dropped
never reaches a request; the pool's sizes come from settings, checked at start-up."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from webinars.app import create_app
from webinars.config import AppConfig, ConfigError, load
from webinars.db import PoolSettings, make_engine
from webinars.runtime import Runtime

from .conftest import PG_ADMIN_URL
from .served import SETTINGS

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def terminate(*pids: int) -> None:
    """What a server restart or an administrator does to a backend; waits until it is gone."""
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL.replace("postgresql+asyncpg", "postgresql")
                                 + "/postgres")
    try:
        for pid in pids:
            assert await conn.fetchval("SELECT pg_terminate_backend($1, 5000)", pid) is True
    finally:
        await conn.close()


async def pooled_pids(runtime: Runtime, count: int) -> list[int]:
    """Open `count` connections at once, note their backends and give them back to the pool."""
    conns = [await runtime.engine.connect() for _ in range(count)]
    try:
        return [int(await c.scalar(text("SELECT pg_backend_pid()"))) for c in conns]
    finally:
        for c in conns:
            await c.close()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_a_request_after_its_pooled_connection_was_killed_still_answers(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    assert (await client.get("/calendar")).status_code == 200
    [pid] = await pooled_pids(runtime, 1)
    await terminate(pid)
    assert (await client.get("/calendar")).status_code == 200
    assert pid not in await pooled_pids(runtime, 1)


async def test_a_drop_this_process_has_not_read_yet_is_caught_too(runtime: Runtime) -> None:
    """The backend is killed while this process's loop is busy (it runs nothing meanwhile), so
    the driver has not seen the connection close: the server's last words, waiting unread on
    the socket, are enough to replace it."""
    [pid] = await pooled_pids(runtime, 1)
    with ThreadPoolExecutor(1) as elsewhere:  # blocks this loop until the backend is gone
        elsewhere.submit(asyncio.run, terminate(pid)).result()
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(text("SELECT pg_backend_pid()")) != pid


async def test_every_pooled_connection_killed_at_once_like_a_server_restart(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    pids = await pooled_pids(runtime, 4)
    await terminate(*pids)
    pages = await asyncio.gather(*(client.get("/calendar") for _ in range(6)))
    assert [p.status_code for p in pages] == [200] * 6
    assert not set(pids) & set(await pooled_pids(runtime, 4))


async def test_a_connection_dropped_mid_transaction_is_invalidated_not_reused(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    async with runtime.engine.connect() as conn:
        pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        await terminate(int(pid))
        with pytest.raises(DBAPIError) as failed:
            await conn.execute(text("SELECT 1"))
        assert failed.value.connection_invalidated
    assert (await client.get("/calendar")).status_code == 200
    assert pid not in await pooled_pids(runtime, 1)


async def checkouts_send(engine: AsyncEngine) -> list[str]:
    """What reaches the server while a pooled connection is checked out and back three times
    with nothing run on it (asyncpg's query logger sees every statement the driver sends)."""
    sent: list[str] = []

    def watch(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(lambda q: sent.append(q.query))

    event.listen(engine.sync_engine, "connect", watch)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        sent.clear()
        for _ in range(3):
            async with engine.connect():
                pass
        return sent
    finally:
        await engine.dispose()


async def test_checkout_sends_nothing_to_the_server(database_url: str) -> None:
    """No pre-ping: its round trip on every checkout cost an eighth of a page's CPU."""
    assert await checkouts_send(make_engine(database_url)) == []
    # the probe sees a ping where there is one
    assert await checkouts_send(make_engine(database_url, pool_pre_ping=True)) != []


async def test_pool_sizes_come_from_the_settings(database_url: str) -> None:
    """One connection and no overflow: a second request for a connection waits the pool
    timeout and fails, instead of opening another."""
    engine = make_engine(database_url, pool=PoolSettings(size=1, max_overflow=0, recycle=60,
                                                         timeout=0.2))
    try:
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            with pytest.raises(PoolTimeout):
                async with engine.connect() as second:
                    await second.execute(text("SELECT 1"))
        async with engine.connect() as again:  # given back: available again
            assert await again.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()


async def test_a_connection_older_than_recycle_is_replaced(database_url: str) -> None:
    engine = make_engine(database_url, pool=PoolSettings(recycle=1))
    try:
        async with engine.connect() as conn:
            first = await conn.scalar(text("SELECT pg_backend_pid()"))
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT pg_backend_pid()")) == first
        await asyncio.sleep(1.1)  # the recycle age itself is what is tested
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT pg_backend_pid()")) != first
    finally:
        await engine.dispose()


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path
                 ) -> Iterator[Callable[..., AppConfig]]:
    """Set environment variables, then load() them as a new process would."""
    def use(**values: str) -> AppConfig:
        monkeypatch.chdir(tmp_path)
        for name in SETTINGS:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        sys.modules.pop("settings", None)
        return load()
    yield use
    monkeypatch.undo()
    sys.modules.pop("settings", None)


def test_pool_settings_are_read_and_default_to_sqlalchemys(
        settings_env: Callable[..., AppConfig], database_url: str) -> None:
    assert settings_env().pool == PoolSettings(size=5, max_overflow=10, recycle=1800,
                                               timeout=30)
    assert settings_env(DATABASE_POOL_SIZE="20", DATABASE_MAX_OVERFLOW="0",
                        DATABASE_POOL_RECYCLE="300", DATABASE_POOL_TIMEOUT="2.5").pool \
        == PoolSettings(size=20, max_overflow=0, recycle=300, timeout=2.5)


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("DATABASE_POOL_SIZE", "0", "must be a whole number of connections from 1 to 1000"),
    ("DATABASE_POOL_SIZE", "5000", "must be a whole number of connections from 1 to 1000"),
    ("DATABASE_MAX_OVERFLOW", "-1", "must be a whole number of connections from 0 to 1000"),
    ("DATABASE_POOL_RECYCLE", "0", "must be a number of seconds from 1 to 1000000"),
    ("DATABASE_POOL_RECYCLE", "nan", "must be a number of seconds from 1 to 1000000"),
    ("DATABASE_POOL_TIMEOUT", "0", "must be a number of seconds above 0"),
    ("DATABASE_POOL_TIMEOUT", "inf", "must be a number of seconds above 0"),
])
def test_bad_pool_settings_stop_start_up_naming_the_setting(
        settings_env: Callable[..., AppConfig], database_url: str, name: str, value: str,
        reason: str) -> None:
    with pytest.raises(ConfigError) as failed:
        settings_env(**{name: value})
    assert failed.value.name == name
    assert reason in str(failed.value)


def test_a_pool_setting_that_is_no_number_is_named(
        settings_env: Callable[..., AppConfig], database_url: str) -> None:
    with pytest.raises(ConfigError) as failed:
        settings_env(DATABASE_POOL_SIZE="ten")
    assert "DATABASE_POOL_SIZE" in str(failed.value)
