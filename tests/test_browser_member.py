"""A member in a real browser: read the webinar page, register, follow the join address.

Wiring (server loop, Playwright thread) is explained in tests/browser.py. The meeting platform
is never contacted: the browser's requests to the Jitsi server are answered by a route handler.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Route, expect
from sqlalchemy import func, select

from webinars.models import JoinClick, Registration
from webinars.queue import InProcessQueue, commit_and_enqueue

from .browser import ServedApp, in_browser_thread, live_app
from .conftest import LiveServer
from .factories import make_account, make_org, make_webinar
from .test_public_pages import START

pytestmark = pytest.mark.browser
JITSI = "https://meet.jit.si"


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[tuple[ServedApp, LiveServer]]:
    with live_app(database_url, tmp_path) as served_and_server:
        yield served_and_server


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


async def personal_path(served: ServedApp, email: str) -> str:
    """The personal page's path, as the link in the member's mail gives it."""
    assert served.runtime is not None
    async with served.runtime.sessionmaker() as session:
        token = await session.scalar(select(Registration.token).where(
            Registration.email_normalized == email))
    assert token is not None
    return f"/r/{token}"


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
        page.clock.install(time=served.clock.now())  # the page's scripts live in the test's time
        page.goto(f"{server.url}/w/{public_id}")

        # 12:00 UTC: 15:00 for the planner in Moscow, 22:00 for this reader in Vladivostok:
        # the script tells the server the browser's zone and the page is shown again in it.
        expect(page.locator("h1")).to_have_text("Медиашкола профактива")
        expect(page.locator("#planner-time")).to_have_text(
            "8 декабря 2026 г., 15:00 МСК (22:00 ВЛД)")
        expect(page.locator("#reader-zone")).to_have_text("Время: Владивосток (ВЛД, UTC+10)")
        expect(page.locator("#timezone")).to_have_value("Asia/Vladivostok")

        page.fill("#name", "Мария Иванова")
        page.fill("#email", "maria@school.example")
        page.get_by_role("button", name="Зарегистрироваться").click()

        # The page says the link went to the address; the member opens it from the mail.
        expect(page.locator("#sent")).to_contain_text("Мы отправили ссылку на этот адрес.")
        page.goto(server.url + served.run(personal_path(served, "maria@school.example")))
        expect(page.locator("h1")).to_have_text("Вы зарегистрированы")
        expect(page.locator("#registrant-time")).to_contain_text("22:00")
        # A week early the button is there but not yet active; it says when it will be.
        expect(page.locator("#join-button")).to_be_disabled()
        expect(page.locator("#join-opens")).to_contain_text("21:45 ВЛД")
        served.clock.advance(START - served.clock.now() - timedelta(minutes=10))
        page.reload()
        join = page.get_by_role("link", name="Подключиться")
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
        expect(page.locator("#planner-time")).to_have_text("8 декабря 2026 г., 15:00 МСК")
        expect(page.locator("#timezone")).to_have_value("Europe/Moscow")  # the planner's zone
        # An address the browser lets through but the server refuses: the page comes back
        # with the error summary focused (a keyboard or screen-reader user starts there) and
        # the field marked invalid, pointing at its message.
        page.fill("#name", "Пётр Петров")
        page.fill("#email", "petr@school")
        page.get_by_role("button", name="Зарегистрироваться").click()
        expect(page.locator("#error-summary")).to_be_focused()
        expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#email-error")).to_be_visible()
        page.fill("#email", "petr@school.example")
        page.get_by_role("button", name="Зарегистрироваться").click()
        expect(page.locator("#sent")).to_contain_text("Мы отправили ссылку на этот адрес.")
        page.goto(server.url + served.run(personal_path(served, "petr@school.example")))
        expect(page.locator("#registrant-time")).to_contain_text("15:00")
        context.close()

    in_browser_thread(scenario)
    assert served.run(count(served, Registration)) == 1
