"""A member in a real browser: read the webinar page, register, follow the join address.

How it is wired, and why:
- Playwright's sync API keeps an asyncio loop *running* in the thread that started it, and
  while it does, no other loop can run there: pytest-asyncio's async tests (and the
  `database_url` fixture's migrations) fail with "cannot be called from a running event
  loop" once Playwright is alive in the main thread. So each test drives Chromium in a
  dedicated thread of its own (`in_browser_thread`), from start to close, and the main
  thread never hosts Playwright. The tests themselves are plain sync tests.
- The app runs under uvicorn in `LiveServer`'s thread, with that thread's own event loop.
  Engines and the in-process queue belong to the loop that made them, so the runtime is built
  lazily *inside the server's loop* on the first request, and test data is set up by
  submitting coroutines to that same loop (`asyncio.run_coroutine_threadsafe`). No organizer
  HTTP API is needed and nothing crosses event loops.
- The meeting platform is never contacted: the browser's requests to the Jitsi server are
  answered by a route handler.
"""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Route, expect, sync_playwright
from sqlalchemy import func, select
from starlette.types import Receive, Scope, Send

from webinars.app import create_app
from webinars.clock import FixedClock
from webinars.config import AppConfig
from webinars.models import JoinClick, Registration
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.runtime import Runtime, build_runtime
from workers import FUNCTIONS

from .conftest import CHROMIUM, CHROMIUM_ARGS, SECRET, T0, LiveServer, empty_tables
from .factories import make_account, make_org, make_webinar
from .test_public_pages import START

pytestmark = pytest.mark.browser
T = TypeVar("T")
JITSI = "https://meet.jit.si"


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
            queue = InProcessQueue(FUNCTIONS, {}, self.clock)
            runtime.queue = queue
            queue.ctx.update(runtime.job_context())
            self.runtime = runtime
            self.app = create_app(runtime)
        await self.app(scope, receive, send)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine in the server's loop and wait for its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[tuple[ServedApp, LiveServer]]:
    served = ServedApp()
    server = LiveServer(served)
    served.config = AppConfig(database_url=database_url, secret_key=SECRET, base_url=server.url,
                              mail_from="events@union.example", data_dir=tmp_path)
    with server:
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=10) as response:
            assert response.status == 200  # builds the runtime in the server's loop
        served.run(empty_tables(database_url))
        try:
            yield served, server
        finally:
            if served.runtime is not None:
                served.run(close(served.runtime))


async def close(runtime: Runtime) -> None:
    """Let the jobs the test started finish before their database goes away."""
    if isinstance(runtime.queue, InProcessQueue):
        await runtime.queue.drain()
    await runtime.close()


async def publish_webinar(served: ServedApp) -> str:
    """A Moscow-planned webinar with a ready Jitsi meeting; returns its public id."""
    runtime = served.runtime
    assert runtime is not None and isinstance(runtime.queue, InProcessQueue)
    async with runtime.sessionmaker() as session:
        org = await make_org(session, served.clock, "federation", name="Профсоюз образования")
        account = await make_account(session, served.clock, org)
        webinar = await make_webinar(session, served.clock, account, org, start_at=START,
                                     title="Медиашкола профактива", timezone="Europe/Moscow")
        await commit_and_enqueue(session, runtime.queue, served.clock)
    await runtime.queue.drain()
    return webinar.public_id


async def count(served: ServedApp, model: type[Any]) -> int:
    assert served.runtime is not None
    async with served.runtime.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


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


def fake_jitsi(route: Route) -> None:
    route.fulfill(status=200, content_type="text/html; charset=utf-8",
                  body="<!doctype html><title>Jitsi</title><h1>Комната встречи</h1>")


def test_member_sees_their_own_time_registers_and_joins(
    live: tuple[ServedApp, LiveServer]
) -> None:
    served, server = live
    public_id = served.run(publish_webinar(served))

    def scenario(browser: Browser) -> None:
        context = browser.new_context(timezone_id="Asia/Vladivostok", locale="ru-RU")
        context.route(f"{JITSI}/**", fake_jitsi)
        page = context.new_page()
        page.goto(f"{server.url}/w/{public_id}")

        # 12:00 UTC: 15:00 for the planner in Moscow, 22:00 for this reader in Vladivostok.
        expect(page.locator("h1")).to_have_text("Медиашкола профактива")
        expect(page.locator("#planner-time")).to_contain_text("15:00")
        expect(page.locator("#local-time-block")).to_be_visible()
        expect(page.locator("#local-time")).to_contain_text("22:00")
        expect(page.locator("#local-time")).to_contain_text("Asia/Vladivostok")
        expect(page.locator("#timezone")).to_have_value("Asia/Vladivostok")

        page.fill("#name", "Мария Иванова")
        page.fill("#email", "maria@school.example")
        page.get_by_role("button", name="Зарегистрироваться").click()

        page.wait_for_url(re.compile(r"/r/[A-Za-z0-9_-]+$"))
        expect(page.locator("h1")).to_have_text("Вы зарегистрированы")
        expect(page.locator("#registrant-time")).to_contain_text("22:00")
        join = page.locator("#join-address")
        href = join.get_attribute("href")
        assert href is not None and href.startswith(f"{server.url}/j/")

        join.click()

        page.wait_for_url(f"{JITSI}/**")
        expect(page.locator("h1")).to_have_text("Комната встречи")
        context.close()

    in_browser_thread(scenario)
    assert served.run(count(served, JoinClick)) == 1


def test_registration_works_without_javascript(live: tuple[ServedApp, LiveServer]) -> None:
    served, server = live
    public_id = served.run(publish_webinar(served))

    def scenario(browser: Browser) -> None:
        context = browser.new_context(java_script_enabled=False, locale="ru-RU",
                                      timezone_id="Asia/Vladivostok")
        page = context.new_page()
        page.goto(f"{server.url}/w/{public_id}")
        expect(page.locator("#local-time-block")).to_be_hidden()
        expect(page.locator("#timezone")).to_have_value("Europe/Moscow")  # the planner's zone
        page.fill("#name", "Пётр Петров")
        page.fill("#email", "petr@school.example")
        page.get_by_role("button", name="Зарегистрироваться").click()
        page.wait_for_url(re.compile(r"/r/[A-Za-z0-9_-]+$"))
        expect(page.locator("#registrant-time")).to_contain_text("15:00")
        context.close()

    in_browser_thread(scenario)
    assert served.run(count(served, Registration)) == 1
