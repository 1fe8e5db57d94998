"""Every page of the product in Chromium, in Russian and in English: axe-core finds no
violation (every impact, its default rules, colour contrast included; Russian in the phone
layout, English in the desktop one) and nothing is wider than the screen, on a phone (360 px)
and a desktop (1280 px), in either language.

The pages are found from the app's route table: a GET route that answers with a page and is
not scanned here fails the test, so a new page cannot escape the scan. axe-core is injected
as an inline script, which the Content-Security-Policy forbids; this test alone opens its
browser contexts with `bypass_csp` (tests/test_browser_csp.py checks the policy in force).

One browser, one context per language, the pages visited in a loop and each checked at both
widths by resizing the window; every finding of the whole run is listed in one assertion
(page, language, width, rule and element).
Wiring (server loop, Playwright thread) is explained in tests/browser.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import select
from starlette.routing import compile_path

from webinars import adoption, branding, registrations, series, webhooks
from webinars.clock import FixedClock
from webinars.models import OutboxMessage
from webinars.people import INVITE_LIFETIME, invite, password_link_token
from webinars.queue import commit_and_enqueue
from webinars.scheduling import cancel_webinar

from .browser import ServedApp, in_browser_thread, live_app
from .conftest import SECRET, T0, LiveServer
from .factories import PASSWORD, make_account, make_org, make_registration, make_token, make_webinar
from .test_routing import flat_routes

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "js" / "node_modules" / "axe-core" / "axe.min.js"
#: Each language with the widths its pages are checked at, the first of them with axe-core
#: too: the phone layout for Russian (most members), the desktop one for English, so both
#: layouts and both languages are scanned. A page is loaded once per language and the window
#: resized; every axe run costs a third of a second a page.
WIDTHS = {"ru": (360, 1280), "en": (1280, 360)}
HEIGHT = 800
ZONE = "Europe/Moscow"

#: GET routes that answer with something other than a page, and why they are not scanned.
NOT_PAGES = {
    "/": "redirects to the dashboard or the calendar",
    "/healthz": "JSON for load balancers",
    "/o/{slug}/brand.css": "a stylesheet",
    "/o/{slug}/logo.png": "an image",
    "/w/{public_id}/qr.svg": "an image (the event page shows it)",
    "/w/{public_id}.ics": "a calendar file",
    "/o/{slug}.ics": "a calendar feed",
    "/r/{token}.ics": "a calendar file",
    "/feeds/{feed_token}.ics": "a calendar feed",
    "/hooks/{platform}/{key}": "a platform's webhook",
    "/webinars/{id}/start": "redirects to the meeting as its host",
    "/r/{token}/confirm/{proof}": "proves the address, then redirects to the personal page",
    "/outbox/{id}.eml": "a raw message",
    "/o/{slug}/plan/{year}.csv": "a spreadsheet",
    "/o/{slug}/plan/{year}.xlsx": "a spreadsheet",
    "/organizations/{id}/reports/{table}.csv": "a spreadsheet",
    "/organizations/{id}/reports/series/{webinar_id}/{table}.csv": "a spreadsheet",
}

#: Injected into every page: what sticks out to the right, innermost first (an element, or a
#: line of text wider than the element that holds it).
FIND_OVERFLOW = """() => {
  const root = document.documentElement;
  if (root.scrollWidth <= root.clientWidth) return null;
  const limit = root.clientWidth + 0.5;
  const name = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    [...e.classList].map((c) => "." + c).join("") +
    (e.getAttribute("name") ? `[name=${e.getAttribute("name")}]` : "");
  const wide = [...document.body.querySelectorAll("*")].filter(
    (e) => e.getBoundingClientRect().right > limit);
  const found = wide.filter((e) => !wide.some((o) => o !== e && e.contains(o))).map(
    (e) => `${name(e)} (right edge ${Math.round(e.getBoundingClientRect().right)} px)`);
  const texts = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let t = texts.nextNode(); t; t = texts.nextNode()) {
    range.selectNodeContents(t);
    const right = range.getBoundingClientRect().right;
    if (right > limit && t.parentElement.getBoundingClientRect().right <= limit) {
      found.push(`text "${t.textContent.trim().slice(0, 40)}" in ${name(t.parentElement)}` +
                 ` (right edge ${Math.round(right)} px)`);
    }
  }
  return {scroll: root.scrollWidth, width: root.clientWidth, culprits: found.slice(0, 4)};
}"""

RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 5).map((n) => n.target.join(" "))}));
}"""


@dataclass
class Visit:
    """One page of the scan: where it is, and the status it answers with."""

    name: str
    path: str
    status: int = 200


@dataclass
class Site:
    public: list[Visit]
    organizer: list[Visit]
    paths: dict[str, str]  # the event page a member registers on, the invitation's link
    ids: dict[str, int]  # rows the organizer's forms are on


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[tuple[ServedApp, LiveServer]]:
    with live_app(database_url, tmp_path) as served_and_server:
        yield served_and_server


async def seed(served: ServedApp) -> Site:
    """A branded tree with an admin, events in every state a page shows, registrations in
    every status, a course, a token, a webhook, an adoption and an invited organizer."""
    runtime = served.runtime
    assert runtime is not None
    clock = served.clock
    earlier = FixedClock(T0 - timedelta(days=30))  # the past event was planned back then
    async with runtime.sessionmaker() as s:
        union = await make_org(s, clock, "union", name="Профсоюз образования", level="federal")
        ural = await make_org(s, clock, "ural", parent=union, name="Уральская организация",
                              timezone="Asia/Yekaterinburg", level="regional")
        await make_org(s, clock, "school-12", parent=ural, name="Первичная организация школы № 12",
                       timezone="Asia/Yekaterinburg", level="primary")
        admin = await make_account(s, clock, union, role="admin", name="Анна Админова")
        # The brand's colour replaces the accent of buttons and links on its pages.
        await branding.set_style(s, clock, union.id, color="#8a1538",
                                 description="Общероссийский профсоюз образования")
        logo = BytesIO()
        Image.new("RGB", (240, 120), (138, 21, 56)).save(logo, format="PNG")
        await branding.set_logo(s, clock, union.id, logo.getvalue())
        opened = await make_webinar(
            s, clock, admin, union, title="Медиашкола профактива", capacity=30,
            description="Как вести сообщество профсоюза в соцсетях.\nПрактикум и разбор.",
            reminder_offsets=[1440, 15])
        full = await make_webinar(s, clock, admin, union, title="Семинар редакторов",
                                  capacity=1)
        approval = await make_webinar(s, clock, admin, union, title="Школа председателя",
                                      registration_mode="approval")
        cancelled = await make_webinar(s, clock, admin, union, title="Отменённый вебинар")
        past = await make_webinar(s, earlier, admin, union, title="Прошедший вебинар",
                                  start_at=T0 - timedelta(days=10))
        past.recording_url = "https://video.example/records/1"
        course = await make_webinar(s, clock, admin, union, title="Курс «Инфоповод»",
                                    start_at=datetime(2027, 1, 12, 12, tzinfo=UTC))
        await s.flush()
        await series.set_series(s, clock, admin, course.id, {
            "kind": "weekly", "weekday": 1, "time": "15:00", "count": 6, "from": "2027-01-11"})
        confirmed = await make_registration(s, clock, opened, email="maria@school.example")
        gone = await make_registration(s, clock, opened, email="gone@school.example",
                                       name="Пётр Петров")
        await registrations.cancel(s, clock, gone)
        await make_registration(s, clock, full, email="first@school.example", name="Ирина")
        waitlisted = await make_registration(s, clock, full, email="second@school.example",
                                             name="Олег")
        pending = await make_registration(s, clock, approval, email="wait@school.example",
                                          name="Вера")
        told = await make_registration(s, clock, cancelled, email="told@school.example",
                                       name="Глеб")
        await cancel_webinar(s, clock, admin, cancelled.id)
        attended = await make_registration(s, earlier, past, email="was@school.example",
                                           name="Ольга")
        await make_registration(s, clock, course, email="course@school.example", name="Юрий")
        await make_token(s, clock, admin)
        await webhooks.create(
            s, admin, union.id, webhooks.endpoint_input(
                {"url": "https://crm.union.example/hooks/webinars", "description": "CRM"},
                allow_loopback=False, partial=False),
            secret_key=SECRET, now=clock.now())
        await adoption.join(s, clock, admin, opened.id, ural.id,
                            {"note": "Для председателей первичек", "contact": "ural@union.example"})
        newcomer = await invite(s, clock, admin, email="new@union.example",
                                name="Новый Организатор", organization_id=ural.id,
                                role="organizer", locale="ru")
        setup = password_link_token(SECRET, newcomer, clock.now() + INVITE_LIFETIME)
        await commit_and_enqueue(s, runtime.queue, clock)
    await runtime.queue.drain()
    async with runtime.sessionmaker() as s:
        message_id = await s.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id))
    assert message_id is not None
    o, w = union.id, opened.id
    public = [
        Visit("calendar index", "/calendar"),
        Visit("organization page", "/o/union"),
        Visit("organization archive", "/o/union/archive"),
        Visit("organization plan", "/o/union/plan"),
        Visit("organization plan of a year", "/o/ural/plan/2026"),
        Visit("event page, open", f"/w/{opened.public_id}"),
        Visit("event page, full with waitlist", f"/w/{full.public_id}"),
        Visit("event page, with approval", f"/w/{approval.public_id}"),
        Visit("event page, cancelled", f"/w/{cancelled.public_id}"),
        Visit("event page, past", f"/w/{past.public_id}"),
        Visit("event page, course", f"/w/{course.public_id}"),
        Visit("personal page, confirmed", f"/r/{confirmed.token}"),
        Visit("personal page, waitlisted", f"/r/{waitlisted.token}"),
        Visit("personal page, pending", f"/r/{pending.token}"),
        Visit("personal page, cancelled", f"/r/{gone.token}"),
        Visit("personal page, event cancelled", f"/r/{told.token}"),
        Visit("personal page, event past", f"/r/{attended.token}"),
        Visit("reminders off", f"/r/{confirmed.token}/reminders/off"),
        Visit("join waiting page", f"/j/{waitlisted.join_token}"),
        Visit("login", "/login"),
        Visit("forgot password", "/password/forgot"),
        Visit("set a password from an invitation", f"/account/setup/{setup}"),
        Visit("not found", "/w/nothing-here", 404),
    ]
    organizer = [
        Visit("dashboard", "/dashboard"),
        Visit("new webinar", "/webinars/new"),
        Visit("edit webinar", f"/webinars/{w}/edit"),
        Visit("webinar admin", f"/webinars/{w}"),
        Visit("cancel webinar", f"/webinars/{w}/cancel"),
        Visit("registrants", f"/webinars/{w}/registrants"),
        Visit("registrants awaiting approval", f"/webinars/{approval.id}/registrants"),
        Visit("deliveries", f"/webinars/{w}/deliveries"),
        Visit("webinar activity", f"/webinars/{w}/activity"),
        Visit("series", f"/webinars/{course.id}/series"),
        Visit("adopt", f"/webinars/{w}/adopt"),
        Visit("coverage", f"/webinars/{w}/coverage"),
        Visit("outbox", "/outbox"),
        Visit("outbox message", f"/outbox/{message_id}"),
        Visit("tokens", "/tokens"),
        Visit("webhooks", f"/organizations/{o}/webhooks"),
        Visit("platforms", f"/organizations/{o}/platforms"),
        Visit("organizations", "/organizations"),
        Visit("organization edit", f"/organizations/{o}/edit"),
        Visit("organization activity", f"/organizations/{o}/activity"),
        Visit("people", "/people"),
        Visit("reports", f"/organizations/{o}/reports"),
        Visit("series report", f"/organizations/{o}/reports/series/{course.id}"),
        Visit("password", "/account/password"),
    ]
    return Site(public, organizer, {"event": f"/w/{opened.public_id}",
                                    "setup": f"/account/setup/{setup}"},
                {"org": o, "webinar": w, "course": course.id})


#: Forms sent back with their errors: (name, page, the form's CSS selector, values to type
#: after every visible field is emptied). Each is sent past the browser's own checks, and the
#: page that answers must have its error summary and pass the scan too.
MEMBER_FORMS: list[tuple[str, str, str, dict[str, str]]] = [
    ("registration form with errors", "{event}", "form[action$='/register']", {}),
    ("login with errors", "/login", "main form[action='/login']", {}),
    ("set a password with errors", "{setup}", "main form", {}),
]
ORGANIZER_FORMS: list[tuple[str, str, str, dict[str, str]]] = [
    ("webinar form with errors", "/webinars/new", "form[action='/webinars/new']", {}),
    ("series with errors", "/webinars/{course}/series", "form[action$='/series']", {}),
    ("adopt with errors", "/webinars/{webinar}/adopt", "form:has(input[value=copy])",
     {"#copy-capacity": "-5"}),
    ("tokens with errors", "/tokens", "form[action='/tokens']", {}),
    ("webhooks with errors", "/organizations/{org}/webhooks", "form[action$='/webhooks']", {}),
    ("platforms with errors", "/organizations/{org}/platforms",
     "form[action$='/platforms/bigbluebutton']", {}),
    ("organizations with errors", "/organizations", "form[action='/organizations/new']", {}),
    ("organization edit with errors", "/organizations/{org}/edit", "form[action$='/edit']",
     {"#color": "red"}),
    ("people with errors", "/people", "form[action='/people/invite']", {}),
    ("password with errors", "/account/password", "form[action='/account/password']", {}),
]
#: Empties the form's fields a person types in (hidden ones, choices and buttons stay).
EMPTY_FORM = """(f) => {
  f.noValidate = true;
  for (const e of f.querySelectorAll("input, textarea")) {
    if (!["hidden", "radio", "checkbox", "submit", "file"].includes(e.type)) e.value = "";
  }
}"""


class Scan:
    """Visits pages in one language's context and collects what is wrong with them."""

    def __init__(self, context: BrowserContext, base: str, lang: str) -> None:
        self.page: Page = context.new_page()
        self.base, self.lang = base, lang
        self.findings: list[str] = []
        self.paths: list[str] = []

    def visit(self, visit: Visit) -> None:
        response = self.page.goto(self.base + visit.path, wait_until="load")
        assert response is not None
        where = f"{visit.name} ({visit.path})"
        if response.status != visit.status:
            self.findings.append(f"{where} [{self.lang}]: answered {response.status}, "
                                 f"not {visit.status}")
            return
        self.paths.append(self.page.url.removeprefix(self.base).split("?")[0])
        self.check(where)

    def check(self, where: str) -> None:
        """At each width: nothing wider than the window; at the first, axe-core's rules."""
        first, *others = WIDTHS[self.lang]
        for width in (first, *others):
            self.page.set_viewport_size({"width": width, "height": HEIGHT})
            label = f"{where} [{self.lang}, {width} px]"
            overflow = self.page.evaluate(FIND_OVERFLOW)
            if overflow is not None:
                self.findings.append(
                    f"{label}: {overflow['scroll']} px wide on a {overflow['width']} px "
                    f"screen; sticking out: {', '.join(overflow['culprits']) or '?'}")
            for v in self.page.evaluate(RUN_AXE) if width == first else ():
                self.findings.append(f"{label}: axe {v['id']} ({v['impact']}): {v['help']} "
                                     f"at {'; '.join(v['targets'])}")
        self.page.set_viewport_size({"width": first, "height": HEIGHT})

    def focused(self, element_id: str) -> bool:
        """Whether focus lands on the element: `autofocus` is applied at the browser's next
        rendering step, which may come after the load event."""
        try:
            self.page.wait_for_function(
                f"document.activeElement && document.activeElement.id === '{element_id}'",
                timeout=2000)
        except PlaywrightTimeout:
            return False
        return True

    def send_empty(self, name: str, path: str, form: str, values: dict[str, str]) -> None:
        """Open `path`, send `form` emptied (then `values` typed) past the browser's checks,
        and scan the page that answers."""
        self.page.goto(self.base + path, wait_until="load")
        self.page.locator(form).evaluate(EMPTY_FORM)
        for selector, value in values.items():
            self.page.fill(selector, value)
        with self.page.expect_navigation(wait_until="load"):
            self.page.locator(f"{form} button[type=submit]").last.click()
        where = f"{name} ({path})"
        if self.page.locator("#error-summary").count() == 0:
            self.findings.append(f"{where} [{self.lang}]: no error summary")
        elif not self.focused("error-summary"):
            self.findings.append(f"{where} [{self.lang}]: the error summary is not focused")
        self.check(where)

    def log_in(self) -> None:
        self.page.goto(self.base + "/login")
        self.page.fill("#email", "org@union.example")
        self.page.fill("#password", PASSWORD)
        with self.page.expect_navigation():
            self.page.click("main form button[type=submit]")


def uncovered(app: Any, visited: set[str]) -> list[str]:
    """Every GET page route of the app that no visited path matched."""
    missing = []
    for template, item in flat_routes(app.routes):
        if "GET" not in (item.methods or ()) or template.startswith("/api/"):
            continue
        if template in NOT_PAGES:
            continue
        regex = compile_path(template)[0]
        if not any(regex.match(path) for path in visited):
            missing.append(template)
    return missing


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_page_passes_axe_and_fits_the_screen(live: tuple[ServedApp, LiveServer]) -> None:
    """The markup does not depend on the database, so one backend is enough here."""
    served, server = live
    site = served.run(seed(served))
    axe = AXE.read_text(encoding="utf-8")
    findings: list[str] = []
    visited: set[str] = set()

    def scenario(browser: Browser) -> None:
        for lang, widths in WIDTHS.items():
            context = browser.new_context(
                bypass_csp=True, viewport={"width": widths[0], "height": HEIGHT},
                locale="ru-RU" if lang == "ru" else "en-GB", timezone_id=ZONE)
            # The browser's zone is known from the start: no page reloads itself in it.
            context.add_cookies([{"name": "tz", "value": "Europe%2FMoscow", "url": server.url}])
            context.add_init_script(script=axe)  # in every page, before its own code
            scan = Scan(context, server.url, lang)
            scan.page.goto(f"{server.url}/login?lang={lang}")
            for visit in site.public:
                scan.visit(visit)
            for name, path, form, values in MEMBER_FORMS:
                scan.send_empty(name, path.format(**site.paths), form, values)
            scan.log_in()
            for visit in site.organizer:
                scan.visit(visit)
            for name, path, form, values in ORGANIZER_FORMS:
                scan.send_empty(name, path.format(**site.ids), form, values)
            findings.extend(scan.findings)
            visited.update(scan.paths)
            context.close()

    in_browser_thread(scenario)
    assert served.app is not None
    templates = {template for template, _ in flat_routes(served.app.routes)}
    assert set(NOT_PAGES) <= templates, "NOT_PAGES names a route that is gone"
    missing = uncovered(served.app, visited)
    assert missing == [], f"GET pages the scan does not visit: {missing}"
    assert findings == [], f"{len(findings)} findings:\n" + "\n".join(findings)
