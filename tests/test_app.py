"""The app started from its configuration alone, as `webinars run` and `webinars serve` start it:
its lifespan builds the runtime and the queue, serves with them and closes them at shutdown."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

import httpx
import pytest

from webinars.app import create_app
from webinars.clock import SystemClock
from webinars.config import AppConfig, ConfigError
from webinars.queue import ArqQueue, InProcessQueue
from webinars.runtime import Runtime

from .conftest import empty_tables
from .factories import make_org

REDIS_URL = f"redis://127.0.0.1:6379/{os.environ.get('TEST_REDIS_DB', '9')}"


def running_tasks() -> set[asyncio.Task[object]]:
    return {task for task in asyncio.all_tasks() if not task.done()}


@pytest.mark.parametrize("in_process", [True, False], ids=["run", "serve"])
async def test_the_lifespan_builds_serves_with_and_closes_the_runtime(
    config: AppConfig, in_process: bool
) -> None:
    await empty_tables(config.database_url)
    if not in_process:
        config = replace(config, redis_url=REDIS_URL)
    app = create_app(config=config, in_process=in_process)
    assert not hasattr(app.state, "runtime")  # nothing is built before the app starts
    before = running_tasks()
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        assert isinstance(runtime, Runtime) and runtime.config == config
        assert isinstance(runtime.clock, SystemClock)
        queue = runtime.queue
        if in_process:
            assert isinstance(queue, InProcessQueue)
            assert queue.cron and queue.on_startup and queue.on_shutdown  # the embedded worker
            assert queue.ctx["sessionmaker"] is runtime.sessionmaker
        else:
            assert isinstance(queue, ArqQueue)
            assert await queue.redis.ping()
        async with runtime.sessionmaker() as session:
            org = await make_org(session, runtime.clock, "lifespan", name="Профсоюз")
            await session.commit()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            page = await client.get(f"/o/{org.slug}")
            assert page.status_code == 200 and "Профсоюз" in page.text
            assert (await client.get("/healthz")).json() == {"ok": True}
    assert runtime.http.closed
    if in_process:
        assert isinstance(queue, InProcessQueue)
        assert not queue._background and not queue._tasks  # the ticker and cron have stopped
    assert running_tasks() <= before  # the worker's heartbeat and the periodic jobs included


async def test_a_queue_that_cannot_start_stops_the_start_up_and_closes_the_runtime(
    config: AppConfig
) -> None:
    app = create_app(config=replace(config, redis_url=None), in_process=False)
    before = running_tasks()
    with pytest.raises(ConfigError, match="REDIS_URL"):
        async with app.router.lifespan_context(app):
            pytest.fail("the app must not start without its queue")
    assert not hasattr(app.state, "runtime")
    assert running_tasks() <= before


async def test_an_injected_runtime_is_the_callers(runtime: Runtime) -> None:
    app = create_app(runtime)
    assert app.state.runtime is runtime  # set for transports that run no lifespan
    async with app.router.lifespan_context(app):
        assert app.state.runtime is runtime
    assert not runtime.http.closed  # the test's fixture closes it, not the app
    with pytest.raises(ValueError):
        create_app()
