"""An organizer adds a webhook endpoint in a real browser: the secret is shown once, the
endpoint can be turned off. (Sending is tested on a real receiver in test_webhook_pages.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from .browser import ServedApp, in_browser_thread, live_app
from .factories import PASSWORD, make_account, make_org


async def seed(served: ServedApp) -> int:
    assert served.runtime is not None
    async with served.runtime.sessionmaker() as session:
        region = await make_org(session, served.clock, "ural", name="Урал",
                                timezone="Asia/Yekaterinburg", level="regional")
        await make_account(session, served.clock, region)
        await session.commit()
        return region.id


@pytest.mark.browser
def test_add_a_webhook_endpoint_in_the_browser(database_url: str, tmp_path: Path) -> None:
    with live_app(database_url, tmp_path) as (served, server):
        org_id = served.run(seed(served))

        def scenario(browser: Browser) -> None:
            context = browser.new_context(locale="ru-RU")
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(server.url + "/login")
            page.fill("#email", "org@union.example")
            page.fill("#password", PASSWORD)
            page.click("main form button[type=submit]")
            expect(page).to_have_url(server.url + "/dashboard")
            page.click(".webhook-links a")
            expect(page).to_have_url(f"{server.url}/organizations/{org_id}/webhooks")
            page.fill("#url", "https://crm.example.org/hooks")
            page.fill("#description", "CRM области")
            page.check("input[value='webinar.changed']")
            page.click("text=Добавить адрес")
            secret = page.locator("#new-secret")
            expect(secret).to_have_text(re.compile(r"^whsec_"))
            expect(page.locator("section.webhook")).to_contain_text("webinar.changed")
            page.goto(f"{server.url}/organizations/{org_id}/webhooks")
            expect(page.locator("#new-secret")).to_have_count(0)
            page.click("text=Выключить")
            expect(page.locator("section.webhook .status-disabled")).to_have_text("выключен")
            assert errors == []  # nothing refused by the CSP
            context.close()

        in_browser_thread(scenario)
