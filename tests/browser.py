"""Wiring for the browser tests: the app on a real port, Chromium in a thread of its own.

- Playwright's sync API keeps an asyncio loop *running* in the thread that started it, and
  while it does no other loop can run there: pytest-asyncio's async tests (and the
  `database_url` fixture's migrations) would fail once Playwright lived in the main thread. So
  each test drives Chromium in a dedicated thread (`in_browser_thread`), from start to close.
- The app runs under uvicorn in `LiveServer`'s thread, with that thread's own event loop.
  Engines and the in-process queue belong to the loop that made them, so the runtime is built
  lazily *inside the server's loop* on the first request, and test data is set up by
  submitting coroutines to that same loop (`ServedApp.run`).
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from playwright.sync_api import Browser, sync_playwright
from starlette.types import Receive, Scope, Send

from webinars.app import create_app
from webinars.clock import FixedClock
from webinars.config import AppConfig
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime, build_runtime
from workers import FUNCTIONS

from .conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CREDENTIALS_SECRET,
    SECRET,
    T0,
    LiveServer,
    empty_tables,
)
from .webhook_receiver import LocalOnlyDns

T = TypeVar("T")


class ServedApp:
    """The ASGI app, built on the first request in the server's own event loop."""

    def __init__(self) -> None:
        self.config: AppConfig | None = None
        self.clock = FixedClock(T0)
        self.runtime: Runtime | None = None
        self.app: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            assert self.config is not None
            self.loop = asyncio.get_running_loop()
            runtime = await build_runtime(self.config, self.clock)
            runtime.webhook_resolver = LocalOnlyDns()
            queue = InProcessQueue(FUNCTIONS, {}, self.clock)
            runtime.queue = queue
            queue.ctx.update(runtime.job_context())
            self.runtime = runtime
            self.app = create_app(runtime)
        await self.app(scope, receive, send)

    @property
    def queue(self) -> InProcessQueue:
        assert self.runtime is not None and isinstance(self.runtime.queue, InProcessQueue)
        return self.runtime.queue

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine in the server's loop (from any thread) and wait for its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)


async def close(runtime: Runtime) -> None:
    """Let the jobs the test started finish before their database goes away."""
    if isinstance(runtime.queue, InProcessQueue):
        await runtime.queue.drain()
    await runtime.close()


@contextmanager
def live_app(database_url: str, tmp_path: Path) -> Iterator[tuple[ServedApp, LiveServer]]:
    """The product on a real port over empty tables; closed with its jobs finished."""
    served = ServedApp()
    server = LiveServer(served)
    # The served clock stands still between steps: a kept public page would never expire.
    served.config = AppConfig(database_url=database_url, secret_key=SECRET, base_url=server.url,
                              mail_from="events@union.example", data_dir=tmp_path,
                              credentials_keys=(CREDENTIALS_SECRET,), page_cache_seconds=0)
    with server:
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=10) as response:
            assert response.status == 200  # builds the runtime in the server's loop
        served.run(empty_tables(database_url))
        try:
            yield served, server
        finally:
            if served.runtime is not None:
                served.run(close(served.runtime))


def in_browser_thread(scenario: Callable[[Browser], None]) -> None:
    """Run a scenario against a fresh headless Chromium in a thread that owns Playwright."""

    def run() -> None:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=CHROMIUM_ARGS)
            try:
                scenario(browser)
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright") as pool:
        pool.submit(run).result(timeout=180)  # re-raises the scenario's assertion errors
