"""The webinar page in a real Chromium that enforces the Content-Security-Policy.

The policy allows no inline code, so this checks what a reader would notice if a page still
relied on some: a blocked script (no time in the reader's zone) or blocked styles.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Error, expect

from .browser import ServedApp, in_browser_thread, live_app
from .conftest import LiveServer
from .test_browser_member import publish_webinar

pytestmark = pytest.mark.browser

#: Collects what the browser blocks, from before the page's first byte is parsed.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[tuple[ServedApp, LiveServer]]:
    with live_app(database_url, tmp_path) as served_and_server:
        yield served_and_server


def test_the_webinar_page_works_with_the_policy_in_force(
    live: tuple[ServedApp, LiveServer]
) -> None:
    served, server = live
    public_id = served.run(publish_webinar(served))
    console: list[str] = []
    errors: list[str] = []

    def scenario(browser: Browser) -> None:
        context = browser.new_context(timezone_id="Asia/Vladivostok", locale="ru-RU")
        context.add_init_script(WATCH_VIOLATIONS)
        page = context.new_page()
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}")
                if isinstance(m, ConsoleMessage) else None)
        page.on("pageerror", lambda e: errors.append(str(e)) if isinstance(e, Error) else None)
        response = page.goto(f"{server.url}/w/{public_id}", wait_until="load")
        assert response is not None
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "unsafe-inline" not in policy

        # The script ran: the start in the reader's zone, and that zone chosen in the form.
        expect(page.locator("#planner-time")).to_contain_text("(22:00 ВЛД)")
        expect(page.locator("#timezone")).to_have_value("Asia/Vladivostok")

        # The stylesheet applied: the layout, the buttons, the description's line breaks.
        expect(page.locator("main")).to_have_css("max-width", "960px")
        expect(page.locator("button[type=submit]")).to_have_css(
            "background-color", "rgb(31, 95, 191)")
        expect(page.locator(".description")).to_have_css("white-space", "pre-line")

        assert page.evaluate("window.__violations") == []
        context.close()

    in_browser_thread(scenario)
    assert console == [] and errors == []
