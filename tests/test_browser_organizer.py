"""An organizer in a real browser: log in, plan a Jitsi webinar through the form, find it on
the dashboard with its meeting link ready once the queue has run.

Wiring (server loop, Playwright thread) is explained in tests/browser.py. No sleeping: the test
waits for the queue with `queue.drain()` and lets Playwright's `expect` wait for page content.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from .browser import ServedApp, in_browser_thread, live_app
from .factories import PASSWORD, make_account, make_org


async def seed(served: ServedApp) -> None:
    """A regional organizer in the Urals, below the federal union."""
    assert served.runtime is not None
    async with served.runtime.sessionmaker() as session:
        federal = await make_org(session, served.clock, "union", name="Профсоюз")
        region = await make_org(session, served.clock, "ural", parent=federal, name="Урал",
                                timezone="Asia/Yekaterinburg", level="regional")
        await make_account(session, served.clock, region)
        await session.commit()


@pytest.mark.browser
def test_plan_a_jitsi_webinar_in_the_browser(database_url: str, tmp_path: Path) -> None:
    with live_app(database_url, tmp_path) as (served, server):
        served.run(seed(served))

        def scenario(browser: Browser) -> None:
            context = browser.new_context(locale="ru-RU")
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

            served.run(served.queue.drain())
            page.goto(server.url + "/dashboard")
            row = page.locator("tr", has_text="Видеоконференция редакторов")
            expect(row).to_contain_text("1 марта 2027 г., 15:00 ЕКБ")
            expect(row).to_contain_text("0 / 100")
            expect(row.locator(".meeting-ready")).to_be_visible()
            link = row.locator("a", has_text="Ссылка на встречу")
            expect(link).to_have_attribute("href", re.compile(r"^https://meet\.jit\.si/Webinar"))
            context.close()

        in_browser_thread(scenario)
