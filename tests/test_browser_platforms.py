"""An organizer in a real browser connects BigBlueButton for the region, tests the connection,
plans a webinar on it and starts it as host: the browser lands in the (fake) server's meeting
as moderator. The shared secret never appears on a page again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.fakes import serve
from tests.fakes.bigbluebutton import FakeBigBlueButton

from .browser import ServedApp, in_browser_thread, live_app
from .factories import PASSWORD, make_account, make_org


async def seed(served: ServedApp) -> int:
    assert served.runtime is not None
    async with served.runtime.sessionmaker() as session:
        federal = await make_org(session, served.clock, "union", name="Профсоюз")
        region = await make_org(session, served.clock, "ural", parent=federal, name="Урал",
                                timezone="Asia/Yekaterinburg", level="regional")
        await make_account(session, served.clock, region)
        await session.commit()
        return region.id


@pytest.mark.browser
def test_connect_bigbluebutton_and_start_as_host_in_the_browser(database_url: str,
                                                                tmp_path: Path) -> None:
    with live_app(database_url, tmp_path) as (served, server):
        region_id = served.run(seed(served))
        bbb: FakeBigBlueButton = served.run(serve("bigbluebutton"))
        credentials = bbb.credentials()

        def scenario(browser: Browser) -> None:
            context = browser.new_context(locale="ru-RU")
            page = context.new_page()
            page.goto(server.url + "/login")
            page.fill("#email", "org@union.example")
            page.fill("#password", PASSWORD)
            page.click("main form button[type=submit]")
            expect(page).to_have_url(server.url + "/dashboard")

            page.click(f"a[href='/organizations/{region_id}/platforms']")
            section = page.locator("section#bigbluebutton")
            section.locator("#bigbluebutton-api_url").fill(credentials["api_url"])
            section.locator("#bigbluebutton-shared_secret").fill(credentials["shared_secret"])
            section.locator("#bigbluebutton-checksum").select_option(credentials["checksum"])
            section.locator("button", has_text="Сохранить").click()
            section = page.locator("section#bigbluebutton")
            expect(section).to_contain_text("не проверено")
            section.locator("button", has_text="Проверить подключение").click()
            expect(page.locator("section#bigbluebutton")).to_contain_text("подключено")
            assert credentials["shared_secret"] not in page.content()

            page.goto(server.url + "/webinars/new")
            page.fill("#title", "Школа редакторов на BigBlueButton")
            page.fill("#date", "2027-03-01")
            page.fill("#time", "15:00")
            page.fill("#duration_minutes", "60")
            page.select_option("#platform", "bigbluebutton")
            page.click("form[action='/webinars/new'] button[type=submit]")
            expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/webinars/\d+$"))
            served.run(served.queue.drain())
            page.reload()
            expect(page.locator("[data-platform]")).to_have_text("BigBlueButton")
            page.click("text=Начать как ведущий")
            expect(page).to_have_url(re.compile(rf"^{re.escape(bbb.url)}/html5client/join"))
            context.close()

        try:
            in_browser_thread(scenario)
            [meeting] = bbb.meetings.values()
            assert [(a["fullName"], a["role"]) for a in meeting.attendees] == [
                ("Организатор", "MODERATOR")]
        finally:
            served.run(bbb.close())
