"""An organizer in a real browser: log in, plan a Jitsi webinar through the form, find it on
the dashboard with its meeting link ready once the queue has run.

How it is wired: Playwright's sync API runs in the test thread, so the test is a plain sync
test. The app runs in `LiveServer`'s thread, in that thread's event loop. Everything async
(emptying the tables, building the runtime with its InProcessQueue, creating the organizer,
draining the queue, closing the runtime) is submitted to *that* loop with
`asyncio.run_coroutine_threadsafe`, so the engine, the aiohttp session and the queue's job tasks
all live in the one loop that serves the requests — as in `webinars run`. `ServedLater` is a thin
ASGI wrapper that learns the loop from a first request and then hands requests to the real app.
No sleeping: the test waits for the queue with `queue.drain()` and lets Playwright's `expect`
wait for page content.

Chromium comes from the function-scoped `chromium` fixture below rather than conftest's
session-scoped `browser`: while a sync Playwright is alive it keeps an event loop running in
the main thread, and then pytest-asyncio cannot run any later async test (nor `asyncio.run` set
up the PostgreSQL database). Starting Chromium per test costs about half a second and leaves
the main thread clean. The `config` fixture is requested before `chromium` so that the
session's database is migrated before Playwright starts.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from starlette.responses import PlainTextResponse

from webinars.app import create_app
from webinars.clock import FixedClock
from webinars.config import AppConfig
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime, build_runtime
from workers import FUNCTIONS

from .conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer, empty_tables
from .factories import PASSWORD, make_account, make_org

T = TypeVar("T")


class ServedLater:
    """Answers 503 until `app` is set; remembers the event loop the server runs in."""

    def __init__(self) -> None:
        self.app: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.loop = asyncio.get_running_loop()
        if self.app is None:
            await PlainTextResponse("starting", status_code=503)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)


async def start_runtime(config: AppConfig, clock: FixedClock) -> Runtime:
    await empty_tables(config.database_url)
    runtime = await build_runtime(config, clock)
    queue = InProcessQueue(FUNCTIONS, {}, clock)
    runtime.queue = queue
    queue.ctx.update(runtime.job_context())
    async with runtime.sessionmaker() as session:
        federal = await make_org(session, clock, "union", name="Профсоюз")
        region = await make_org(session, clock, "ural", parent=federal, name="Урал",
                                timezone="Asia/Yekaterinburg", level="regional")
        await make_account(session, clock, region)
        await session.commit()
    return runtime


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Chromium for this test only (see the module docstring for why not conftest's `browser`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


async def drain(runtime: Runtime) -> None:
    assert isinstance(runtime.queue, InProcessQueue)
    await runtime.queue.drain()


@pytest.mark.browser
def test_plan_a_jitsi_webinar_in_the_browser(config: AppConfig, clock: FixedClock,
                                             chromium: Any) -> None:
    from playwright.sync_api import expect

    served = ServedLater()
    with LiveServer(served) as server:
        assert httpx.get(server.url + "/healthz").status_code == 503  # learns the loop
        runtime = served.run(start_runtime(config, clock))
        context = chromium.new_context(locale="ru-RU")
        try:
            served.app = create_app(runtime)
            page = context.new_page()
            page.goto(server.url + "/dashboard")
            expect(page).to_have_url(server.url + "/login?next=%2Fdashboard")
            page.fill("#email", "org@union.example")
            page.fill("#password", PASSWORD)
            page.click("main form button[type=submit]")
            expect(page).to_have_url(server.url + "/dashboard")

            page.click("text=Новое мероприятие")
            page.fill("#title", "Видеоконференция редакторов")
            page.fill("#description", "Обмен опытом региональных редакций")
            page.select_option("#kind", "conference")
            page.fill("#date", "2027-03-01")
            page.fill("#time", "15:00")
            # the zone stays "the organization's": Urals, Asia/Yekaterinburg
            page.fill("#duration_minutes", "60")
            page.fill("#capacity", "100")
            page.select_option("#platform", "jitsi")
            page.click("form[action='/webinars/new'] button[type=submit]")
            expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/webinars/\d+$"))
            expect(page.locator("h1")).to_have_text("Видеоконференция редакторов")

            served.run(drain(runtime))
            page.goto(server.url + "/dashboard")
            row = page.locator("tr", has_text="Видеоконференция редакторов")
            expect(row).to_contain_text("1 марта 2027, 15:00 (Екатеринбург")
            expect(row).to_contain_text("0 / 100")
            expect(row.locator(".meeting-ready")).to_be_visible()
            link = row.locator("a", has_text="Ссылка на встречу")
            expect(link).to_have_attribute("href", re.compile(r"^https://meet\.jit\.si/Webinar"))
        finally:
            context.close()
            served.run(runtime.close())
