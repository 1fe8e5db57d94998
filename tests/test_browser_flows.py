"""Whole jobs in Chromium, each in its person's language and zone, mail read from the outbox:
a member in Novosibirsk, an English-speaking organizer in Moscow who asks for approval, a
waitlist that moves up, and an admin who brings in an organizer.

No page may show an IANA zone name to these people: they choose and read cities.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from webinars.models import OutboxMessage
from webinars.outbox import parse
from webinars.queue import commit_and_enqueue

from .browser import ServedApp, in_browser_thread, live_app
from .conftest import LiveServer
from .factories import PASSWORD, make_account, make_org, make_webinar
from .test_public_pages import START

pytestmark = pytest.mark.browser
ZONE_NAME = re.compile(r"\b(Europe|Asia|America|Africa|Pacific|Etc)/[A-Z]")


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[tuple[ServedApp, LiveServer]]:
    with live_app(database_url, tmp_path) as served_and_server:
        yield served_and_server


async def seed(served: ServedApp, **webinar: object) -> str:
    """The union (Moscow) with its admin and its English-speaking organizer, a Novosibirsk
    region, one webinar."""
    runtime = served.runtime
    assert runtime is not None
    async with runtime.sessionmaker() as session:
        union = await make_org(session, served.clock, "union", name="Профсоюз образования",
                               level="federal")
        await make_org(session, served.clock, "nsk", parent=union, level="regional",
                       name="Новосибирская областная организация", timezone="Asia/Novosibirsk")
        organizer = await make_account(session, served.clock, union, "org@union.example",
                                       name="Emma Wilson", locale="en")
        await make_account(session, served.clock, union, "admin@union.example", role="admin")
        created = await make_webinar(session, served.clock, organizer, union, start_at=START,
                                     title="Медиашкола профактива", **webinar)
        await commit_and_enqueue(session, runtime.queue, served.clock)
    await served.queue.drain()
    return created.public_id


def mail_link(served: ServedApp, server: LiveServer, address: str, path: str) -> str:
    """The first link to `path` in the newest mail to `address`, as its reader clicks it."""

    async def newest() -> str:
        await served.queue.drain()
        assert served.runtime is not None
        async with served.runtime.sessionmaker() as session:
            raw = await session.scalar(select(OutboxMessage.raw).where(
                OutboxMessage.recipient == address).order_by(OutboxMessage.id.desc()).limit(1))
        assert raw is not None, f"no mail to {address}"
        return parse(raw).text

    text = served.run(newest())
    match = re.search(rf"{re.escape(server.url)}({re.escape(path)}[A-Za-z0-9_/-]+)", text)
    assert match, text
    return server.url + match.group(1)


def shows_no_zone_names(page: Page) -> None:
    text = page.locator("body").inner_text()
    assert not ZONE_NAME.search(text), ZONE_NAME.search(text)


def log_in(page: Page, server: LiveServer, email: str, password: str = PASSWORD) -> None:
    page.goto(server.url + "/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("main form button[type=submit]")
    expect(page).to_have_url(server.url + "/dashboard")


def register(context: BrowserContext, url: str, name: str, email: str) -> Page:
    page = context.new_page()
    page.goto(url)
    page.fill("#name", name)
    page.fill("#email", email)
    page.locator("form[action$='/register'] button[type=submit]").click()
    expect(page.locator("#sent")).to_be_visible()
    return page


def test_a_member_in_novosibirsk_does_her_whole_job_in_russian_and_her_zone(
    live: tuple[ServedApp, LiveServer]
) -> None:
    served, server = live
    public_id = served.run(seed(served, capacity=30))

    def scenario(browser: Browser) -> None:
        context = browser.new_context(locale="ru-RU", timezone_id="Asia/Novosibirsk")
        page = context.new_page()
        page.goto(server.url + "/calendar")
        page.get_by_role("link", name="Новосибирская областная организация").click()
        # The region's page lists the union's webinar at her time: 12:00 UTC is 19:00 here.
        row = page.locator("li.event", has_text="Медиашкола профактива")
        expect(row).to_contain_text("8 декабря 2026 г., 19:00 КРАС")
        shows_no_zone_names(page)
        row.get_by_role("link").click()

        expect(page.locator("#planner-time")).to_have_text(
            "8 декабря 2026 г., 15:00 МСК (19:00 КРАС)")
        expect(page.locator("#reader-zone")).to_have_text("Время: Новосибирск (КРАС, UTC+7)")
        expect(page.locator("#seats-left")).to_have_text("Осталось 30 мест из 30")
        expect(page.locator("#timezone")).to_have_value("Asia/Novosibirsk")
        shows_no_zone_names(page)
        page.fill("#name", "Анна Кузнецова")
        page.fill("#email", "anna@nsk.example")
        page.locator("form[action$='/register'] button[type=submit]").click()
        expect(page.locator("#sent")).to_contain_text("Мы отправили ссылку на этот адрес.")

        page.goto(mail_link(served, server, "anna@nsk.example", "/r/"))
        expect(page.locator("h1")).to_have_text("Вы зарегистрированы")
        expect(page.locator("#registrant-time")).to_have_text(
            "8 декабря 2026 г., 15:00 МСК (19:00 КРАС)")
        expect(page.locator("#join-opens")).to_contain_text("за 15 минут до начала")
        shows_no_zone_names(page)
        page.get_by_role("button", name="Отменить мою регистрацию").click()
        expect(page.locator("h1")).to_have_text("Ваша регистрация отменена.")
        page.goto(f"{server.url}/w/{public_id}")
        expect(page.locator("#seats-left")).to_have_text("Осталось 30 мест из 30")
        context.close()

    in_browser_thread(scenario)


def test_an_english_speaking_organizer_in_moscow_asks_for_approval_and_confirms(
    live: tuple[ServedApp, LiveServer]
) -> None:
    served, server = live
    served.run(seed(served))

    def scenario(browser: Browser) -> None:
        organizer = browser.new_context(locale="en-US", timezone_id="Europe/Moscow")
        page = organizer.new_page()
        log_in(page, server, "org@union.example")
        expect(page.get_by_role("link", name="Dashboard")).to_be_visible()
        page.get_by_role("link", name="New webinar").click()
        page.fill("#title", "Press officers' round table")
        page.fill("#date", "2027-03-02")
        page.fill("#time", "11:00")
        page.fill("#duration_minutes", "60")
        page.select_option("#registration_mode", "approval")
        page.locator("form[action='/webinars/new'] button[type=submit]").click()
        expect(page.locator("h1")).to_have_text("Press officers' round table")
        shows_no_zone_names(page)
        public = page.locator("a[href^='/w/']").first.get_attribute("href")
        assert public is not None
        page.goto(server.url + "/dashboard")
        expect(page.locator("tr", has_text="Press officers' round table")).to_contain_text(
            "2 March 2027, 11:00 MSK")

        member = browser.new_context(locale="ru-RU", timezone_id="Asia/Novosibirsk")
        event = member.new_page()
        event.goto(server.url + public)
        expect(event.locator("#cta")).to_have_text("Подать заявку")
        event.close()
        register(member, server.url + public, "Игорь Орлов", "igor@nsk.example")
        mine = member.new_page()
        mine.goto(mail_link(served, server, "igor@nsk.example", "/r/"))
        expect(mine.locator("#status-pending")).to_be_visible()

        page.goto(server.url + "/dashboard")
        page.locator("tr", has_text="Press officers' round table").get_by_role(
            "link", name="Press officers' round table").click()
        page.get_by_role("link", name=re.compile("^Registrants")).click()
        row = page.locator("tr", has_text="igor@nsk.example")
        expect(row).to_contain_text("pending")
        row.get_by_role("button", name="Confirm").click()
        expect(page.locator("tr", has_text="igor@nsk.example")).to_contain_text("confirmed")
        shows_no_zone_names(page)

        mine.goto(mail_link(served, server, "igor@nsk.example", "/r/"))
        expect(mine.locator("h1")).to_have_text("Вы зарегистрированы")
        expect(mine.locator("#registrant-time")).to_contain_text("15:00 КРАС")
        member.close()
        organizer.close()

    in_browser_thread(scenario)


def test_a_full_webinar_waitlists_the_next_member_and_a_cancellation_promotes_her(
    live: tuple[ServedApp, LiveServer]
) -> None:
    served, server = live
    public_id = served.run(seed(served, capacity=1))
    url = f"{server.url}/w/{public_id}"

    def scenario(browser: Browser) -> None:
        context = browser.new_context(locale="ru-RU", timezone_id="Asia/Novosibirsk")
        register(context, url, "Первая Участница", "first@nsk.example")
        page = context.new_page()
        page.goto(url)
        expect(page.locator("#seats-left")).to_have_text("Мест нет: открыт лист ожидания")
        expect(page.locator("#cta")).to_have_text("Встать в лист ожидания")
        register(context, url, "Вторая Участница", "second@nsk.example")

        second = context.new_page()
        second.goto(mail_link(served, server, "second@nsk.example", "/r/"))
        expect(second.locator("#status-waitlisted")).to_be_visible()
        expect(second.locator("#place")).to_contain_text("1")

        first = context.new_page()
        first.goto(mail_link(served, server, "first@nsk.example", "/r/"))
        first.get_by_role("button", name="Отменить мою регистрацию").click()
        expect(first.locator("h1")).to_have_text("Ваша регистрация отменена.")

        second.goto(mail_link(served, server, "second@nsk.example", "/r/"))
        expect(second.locator("h1")).to_have_text("Вы зарегистрированы")
        expect(second.locator("#join-button")).to_be_visible()
        context.close()

    in_browser_thread(scenario)


def test_an_admin_invites_an_organizer_who_sets_a_password_and_plans_an_event(
    live: tuple[ServedApp, LiveServer]
) -> None:
    served, server = live
    served.run(seed(served))

    def scenario(browser: Browser) -> None:
        admin = browser.new_context(locale="ru-RU", timezone_id="Europe/Moscow")
        page = admin.new_page()
        log_in(page, server, "admin@union.example")
        page.get_by_role("link", name="Люди").click()
        page.fill("#email", "olga@nsk.example")
        page.fill("#name", "Ольга Петрова")
        page.select_option("#organization_id", label="Новосибирская областная организация")
        page.locator("form[action='/people/invite'] button[type=submit]").click()
        expect(page.locator("body")).to_contain_text("olga@nsk.example")
        admin.close()

        olga = browser.new_context(locale="ru-RU", timezone_id="Asia/Novosibirsk")
        page = olga.new_page()
        page.goto(mail_link(served, server, "olga@nsk.example", "/account/setup/"))
        page.fill("#new_password", "olga's long password")
        page.get_by_role("button", name="Задать пароль").click()
        expect(page).to_have_url(server.url + "/dashboard")
        expect(page.get_by_role("link", name="Люди")).to_have_count(0)  # an organizer's menu
        page.get_by_role("link", name="Новое мероприятие").click()
        page.fill("#title", "Семинар председателей области")
        page.fill("#date", "2027-02-10")
        page.fill("#time", "16:00")
        page.fill("#duration_minutes", "90")
        page.locator("form[action='/webinars/new'] button[type=submit]").click()
        expect(page.locator("h1")).to_have_text("Семинар председателей области")
        page.goto(server.url + "/dashboard")
        # Planned for her region, in its zone: the organizer never picked a zone name.
        expect(page.locator("tr", has_text="Семинар председателей области")).to_contain_text(
            "10 февраля 2027 г., 16:00 КРАС")
        shows_no_zone_names(page)
        olga.close()

    in_browser_thread(scenario)

