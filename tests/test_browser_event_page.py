"""The event page and the personal page on a phone, in Chromium: the call to action stays in
reach, the QR code a camera reads is the page's address, "Copy link" copies it, nothing
overflows 360 px, and the "Join" button comes alive by itself when the meeting opens."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from .browser import ServedApp, in_browser_thread, live_app
from .conftest import LiveServer
from .test_browser_member import personal_path, publish_webinar
from .test_public_pages import START

pytestmark = pytest.mark.browser
PHONE = {"width": 360, "height": 740}


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[tuple[ServedApp, LiveServer]]:
    with live_app(database_url, tmp_path) as served_and_server:
        yield served_and_server


def overflow(page: Page) -> str | None:
    """What sticks out to the right of the screen, if anything."""
    result: str | None = page.evaluate("""() => {
        const root = document.documentElement;
        if (root.scrollWidth <= root.clientWidth) return null;
        const wide = [...document.querySelectorAll('body *')].find(
            e => e.getBoundingClientRect().right > root.clientWidth + 1);
        return wide ? wide.outerHTML.slice(0, 120) : 'the page';
    }""")
    return result


def test_on_a_phone_the_button_stays_in_reach_and_the_qr_code_is_the_page(
    live: tuple[ServedApp, LiveServer]
) -> None:
    served, server = live
    public_id = served.run(publish_webinar(served))
    address = f"{server.url}/w/{public_id}"

    def scenario(browser: Browser) -> None:
        context = browser.new_context(viewport=PHONE, locale="ru-RU",
                                      timezone_id="Asia/Novosibirsk")
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        page = context.new_page()
        page.goto(address)
        expect(page.locator("#planner-time")).to_have_text(
            "8 декабря 2026 г., 15:00 МСК (19:00 КРАС)")
        assert overflow(page) is None

        # The call to action sits on the bottom edge of the screen, over the description.
        bar = page.locator("#cta")
        box = bar.bounding_box()
        assert box is not None and abs(box["y"] + box["height"] - PHONE["height"]) <= 1
        page.get_by_role("link", name="Зарегистрироваться").click()
        expect(page.locator("#name")).to_be_in_viewport()
        expect(bar).to_be_hidden()  # the form is on screen: the bar steps aside

        # The QR code, as a camera sees it, is this page's address.
        qr = page.locator("#qr")
        qr.scroll_into_view_if_needed()
        decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.screenshot())))
        assert [code.text for code in decoded] == [address]
        page.get_by_role("button", name="Скопировать ссылку").click()
        expect(page.locator("#copy-status")).to_have_text("Ссылка скопирована")
        assert page.evaluate("navigator.clipboard.readText()") == address
        context.close()

    in_browser_thread(scenario)


def test_the_join_button_comes_alive_when_the_meeting_opens(
    live: tuple[ServedApp, LiveServer]
) -> None:
    served, server = live
    public_id = served.run(publish_webinar(served))
    twenty_before = START - timedelta(minutes=20)
    served.clock.advance(twenty_before - served.clock.now())

    def scenario(browser: Browser) -> None:
        context = browser.new_context(viewport=PHONE, locale="ru-RU",
                                      timezone_id="Asia/Novosibirsk")
        page = context.new_page()
        page.goto(f"{server.url}/w/{public_id}")
        page.fill("#name", "Ольга Смирнова")
        page.fill("#email", "olga@school.example")
        page.locator("form button[type=submit]").click()
        expect(page.locator("#sent")).to_be_visible()

        page.clock.install(time=twenty_before)
        page.goto(server.url + served.run(personal_path(served, "olga@school.example")))
        button = page.locator("#join-button")
        expect(button).to_be_disabled()
        expect(page.locator("#join-opens")).to_contain_text("18:45 КРАС")
        assert overflow(page) is None

        page.clock.run_for(4 * 60 * 1000)  # 16 minutes before: still closed
        expect(button).to_be_disabled()
        page.clock.run_for(2 * 60 * 1000)  # 14 minutes before: the link, no reload
        link = page.get_by_role("link", name="Подключиться")
        expect(link).to_be_visible()
        href = link.get_attribute("href")
        assert href is not None and href.startswith(f"{server.url}/j/")
        expect(page.locator("#join-opens")).to_be_hidden()
        context.close()

    in_browser_thread(scenario)
