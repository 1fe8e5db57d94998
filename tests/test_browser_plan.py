"""The plan page in a real headless Chromium: windows and filters without JavaScript, the
indicative items under their period, and the print stylesheet (no navigation, no forms, one
table). Wiring (server loop, Playwright thread) is explained in tests/browser.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from webinars.scheduling import create_webinar
from webinars.validation import WebinarInput

from .browser import ServedApp, in_browser_thread, live_app
from .factories import make_account, make_org, make_webinar


async def seed(served: ServedApp) -> None:
    """A federal sample plan for 2027 (one dated item, one for the first quarter) and a
    region's own training."""
    assert served.runtime is not None
    async with served.runtime.sessionmaker() as session:
        clock = served.clock
        federal = await make_org(session, clock, "union", name="Профсоюз")
        region = await make_org(session, clock, "ural", parent=federal, name="Урал",
                                timezone="Asia/Yekaterinburg", level="regional")
        admin = await make_account(session, clock, federal, "admin@union.example")
        await make_webinar(session, clock, admin, federal, title="Федеральный вебинар",
                           start_at=datetime(2027, 2, 10, 12, tzinfo=UTC))
        await make_webinar(session, clock, admin, region, title="Уральская школа",
                           kind="training", start_at=datetime(2027, 3, 3, 6, tzinfo=UTC))
        await create_webinar(session, clock, admin, WebinarInput({
            "title": "Форум редакторов", "description": "", "kind": "conference",
            "organization_id": federal.id, "timezone": "Europe/Moscow",
            "duration_minutes": 90, "status": "planned", "plan_period": "2027-Q1",
            "visibility": "public", "platform": "jitsi"}), uid_domain="union.example")
        await session.commit()


@pytest.mark.browser
def test_the_plan_page_and_its_print_version(database_url: str, tmp_path: Path) -> None:
    with live_app(database_url, tmp_path) as (served, server):
        served.run(seed(served))

        def scenario(browser: Browser) -> None:
            # A reader in Novosibirsk: the plan shows their browser's zone, not the planner's.
            page = browser.new_context(locale="ru-RU", timezone_id="Asia/Novosibirsk").new_page()
            page.goto(server.url + "/calendar")
            page.click("li[data-slug=ural] .plan-link")
            expect(page).to_have_url(server.url + "/o/ural/plan")
            expect(page.locator("#window-label")).to_have_text("IV квартал 2026")
            page.click("#next-window")
            expect(page.locator("#window-label")).to_have_text("I квартал 2027")
            groups = page.locator("tr.plan-month th")
            expect(groups).to_have_text(["I квартал 2027", "февраль 2027", "март 2027"])
            rows = page.locator("tr.plan-item")
            expect(rows).to_have_count(3)
            expect(rows.nth(0)).to_contain_text("Форум редакторов")
            expect(rows.nth(0)).to_contain_text("I квартал 2027")
            expect(rows.nth(1)).to_contain_text("Федеральный вебинар")
            expect(rows.nth(1)).to_contain_text("федеральный")
            expect(rows.nth(1)).to_contain_text("10 февраля 2027 г., 19:00 КРАС")  # 12:00 UTC
            expect(page.locator("#plan-zone")).to_have_text("Новосибирск (КРАС, UTC+7)")

            # A filter is a plain GET form: no JavaScript needed.
            page.select_option("#kind", "training")
            page.click("form.plan-filters button[type=submit]")
            expect(page).to_have_url(re.compile(r"kind=training"))
            expect(page.locator("tr.plan-item")).to_have_count(1)
            expect(page.locator("tr.plan-item")).to_contain_text("Уральская школа")

            # Another reader's zone.
            page.select_option("#tz", "Asia/Vladivostok")
            page.click("form.plan-filters button[type=submit]")
            expect(page.locator("#plan-zone")).to_have_text("Владивосток (ВЛД, UTC+10)")
            expect(page.locator("tr.plan-item")).to_contain_text("16:00")  # 06:00 UTC

            # On paper: no navigation, no forms, no links to other windows; the table stays.
            page.goto(server.url + "/o/ural/plan/2027?window=2027-Q1")
            expect(page.locator("header")).to_be_visible()
            page.emulate_media(media="print")
            expect(page.locator("header")).to_be_hidden()
            expect(page.locator("form.plan-filters")).to_be_hidden()
            expect(page.locator("nav.plan-windows")).to_be_hidden()
            expect(page.locator("#export-csv")).to_be_hidden()
            expect(page.locator("table.plan")).to_be_visible()
            expect(page.locator("tr.plan-item")).to_have_count(3)
            page.emulate_media(media="screen")
            expect(page.locator("form.plan-filters")).to_be_visible()

        in_browser_thread(scenario)
