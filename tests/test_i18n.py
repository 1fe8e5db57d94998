"""Languages: the gettext catalogs, plural forms, choosing the reader's language, and pages in
English that show no Russian outside what people typed."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from webinars.catalogs import LOCALE_DIR, gettext, ngettext
from webinars.clock import FixedClock
from webinars.i18n import before_text, duration_text, pick_locale
from webinars.mail import MessageBatch, Recipient
from webinars.runtime import Runtime

from .factories import csrf_from, login, make_account, make_org, make_registration, make_webinar

ROOT = Path(__file__).resolve().parents[1]
CYRILLIC = re.compile(r"[А-Яа-яЁё]+")


def extracted() -> list[tuple[str, int, str]]:
    """(file, line, msgid) of every text marked in Python and templates, as babel.cfg says."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = []
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords):
        msgid = message if isinstance(message, str) else message[0]
        found.append((filename, lineno, msgid))
    return found


def test_every_marked_text_has_a_russian_translation() -> None:
    """A text added to a template or the code without a Russian msgstr in ru/messages.po
    fails here with its place; run the pybabel commands in README ("Languages")."""
    with (LOCALE_DIR / "ru" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="ru")
    texts = extracted()
    assert len(texts) > 500  # the extraction itself works (python and jinja2 both)
    assert any(f.startswith("templates/") for f, _, _ in texts)
    assert any(f.startswith("webinars/") for f, _, _ in texts)
    missing = []
    for filename, lineno, msgid in texts:
        message = catalog.get(msgid)
        strings = (message.string if isinstance(message.string, tuple) else (message.string,)
                   ) if message is not None else ("",)
        if not all(strings) or (message is not None and message.fuzzy):
            missing.append(f"{filename}:{lineno}: {msgid!r}")
    assert missing == [], "no Russian translation:\n" + "\n".join(missing)


def test_the_english_catalog_has_the_same_texts_as_russian() -> None:
    catalogs = {}
    for locale in ("ru", "en"):
        with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
            catalogs[locale] = {m.id if isinstance(m.id, str) else m.id[0]
                                for m in read_po(po, locale=locale) if m.id}
    assert catalogs["ru"] == catalogs["en"]


def test_translations_come_from_the_catalog() -> None:
    assert gettext("ru", "Log in") == "Войти"
    assert gettext("en", "Log in") == "Log in"
    assert gettext("ru", "a text nobody translated") == "a text nobody translated"
    assert gettext("de", "Log in") == "Log in"


@pytest.mark.parametrize(("n", "days", "minutes"), [
    (1, "за 1 день", "за 1 минуту"),
    (2, "за 2 дня", "за 2 минуты"),
    (5, "за 5 дней", "за 5 минут"),
    (11, "за 11 дней", "за 11 минут"),
    (21, "за 21 день", "за 21 минуту"),
    (22, "за 22 дня", "за 22 минуты"),
])
def test_russian_plural_forms(n: int, days: str, minutes: str) -> None:
    assert before_text(n * 24 * 60, "ru") == days
    assert before_text(n, "ru") == minutes if n % 60 else True
    assert ngettext("ru", "%(num)d day", "%(num)d days", n) % {"num": n} == days[3:]


def test_english_plural_forms() -> None:
    assert [before_text(m, "en") for m in (1440, 2880, 15, 1, 60, 120)] == [
        "1 day before", "2 days before", "15 minutes before", "1 minute before",
        "1 hour before", "2 hours before"]
    assert [duration_text(m, "en") for m in (90, 60, 1)] == ["90 minutes", "1 hour", "1 minute"]


def test_a_reminder_a_day_ahead_is_a_day_never_1440_minutes() -> None:
    assert before_text(1440, "ru") == "за 1 день"
    assert duration_text(1440, "ru") == "1 день"
    assert duration_text(15, "ru") == "15 минут"
    assert duration_text(120, "ru") == "2 часа"


@pytest.mark.parametrize(("header", "expected"), [
    ("en;q=0.1, ru;q=0.9", "ru"),
    ("ru;q=0, en", "en"),
    ("en-GB,en;q=0.8", "en"),
    ("de-DE, en;q=0.5, ru;q=0.4", "en"),
    ("fr, de", "ru"),
    ("*", "ru"),
    ("*", "en"),
    ("garbage;;;q=abc, ,,", "ru"),
    ("ru;q=2", "ru"),
    ("", "en"),
    (None, "ru"),
])
def test_accept_language_honours_q_values(header: str | None, expected: str) -> None:
    default = expected if header in ("*", "", None, "fr, de", "garbage;;;q=abc, ,,") else "ru"
    assert pick_locale(None, header, default) == expected


def test_the_members_choice_wins_over_the_browser() -> None:
    assert pick_locale("en", "ru", "ru") == "en"
    assert pick_locale("xx", "en;q=0.1, ru;q=0.9", "en") == "ru"


async def test_the_switcher_choice_is_remembered(runtime: Runtime, clock: FixedClock,
                                                 client: httpx.AsyncClient) -> None:
    russian = {"Accept-Language": "ru"}
    assert "Войти" in (await client.get("/login", headers=russian)).text
    assert "Войти" not in (await client.get("/login?lang=en", headers=russian)).text
    # the choice is kept in the session: the browser still asks for Russian
    assert "Войти" not in (await client.get("/login", headers=russian)).text
    assert "Войти" in (await client.get("/login?lang=ru",
                                        headers={"Accept-Language": "en"})).text
    assert "Войти" in (await client.get("/login", headers={"Accept-Language": "en"})).text


async def test_a_registrants_mail_is_in_their_stored_language(
        runtime: Runtime, clock: FixedClock) -> None:
    async with runtime.sessionmaker() as session:
        org = await make_org(session, clock, "north", name="North union")
        account = await make_account(session, clock, org, name="Organizer")
        webinar = await make_webinar(session, clock, account, org, title="Media basics",
                                     description="Pages and posts", reminder_offsets=[1440])
        english = await make_registration(session, clock, webinar, email="a@school.example",
                                          name="Ann Lee", locale="en")
        russian = await make_registration(session, clock, webinar, email="b@school.example",
                                          name="Bob Ray", locale="ru")
        await session.commit()
        await session.refresh(webinar, ["organization", "sessions"])
        batch = MessageBatch(runtime.config, webinar, "reminder", clock.now())
        mails = {}
        for registration in (english, russian):
            # as the delivery job builds it (workers.recheck): the registration's own locale
            recipient = Recipient(registration.id, registration.name, registration.email,
                                  registration.locale, registration.timezone,
                                  registration.token, registration.join_token, "<m@x>")
            mails[registration.locale] = batch.render(recipient, sequence=0,
                                                      offset_minutes=1440)
    text = {locale: plain_text(mail.raw) for locale, mail in mails.items()}
    assert "starts in 1 day" in text["en"] and not CYRILLIC.search(text["en"])
    assert "через 1 день" in text["ru"] and "1440" not in text["ru"]


def plain_text(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


async def english_pages(runtime: Runtime, clock: FixedClock, client: httpx.AsyncClient
                        ) -> dict[str, str]:
    """Every page an organizer or a member sees, with Latin-only data, in English."""
    async with runtime.sessionmaker() as session:
        org = await make_org(session, clock, "north", name="North union",
                             timezone="Asia/Yekaterinburg", level="regional")
        account = await make_account(session, clock, org, role="admin", name="Organizer")
        webinar = await make_webinar(session, clock, account, org, title="Media basics",
                                     description="How to run a union page", capacity=30,
                                     timezone="Asia/Yekaterinburg",
                                     reminder_offsets=[1440, 15],
                                     start_at=clock.now() + timedelta(days=7))
        registration = await make_registration(session, clock, webinar, name="Ann Lee",
                                               locale="en")
        await session.commit()
        ids = {"org": org.id, "webinar": webinar.id, "public": webinar.public_id,
               "token": registration.token}
    pages: dict[str, str] = {}
    public = {
        "event": f"/w/{ids['public']}",
        "personal": f"/r/{ids['token']}",
        "calendar": "/o/north",
        "calendars": "/calendar",
        "plan": "/o/north/plan",
        "login": "/login",
        "forgot": "/password/forgot",
    }
    for name, path in public.items():
        response = await client.get(path, params={"lang": "en"})
        assert response.status_code == 200, (path, response.status_code)
        pages[name] = response.text
    await login(client)
    organizer = {
        "dashboard": "/dashboard",
        "new webinar": "/webinars/new",
        "webinar": f"/webinars/{ids['webinar']}",
        "webinar form": f"/webinars/{ids['webinar']}/edit",
        "cancel": f"/webinars/{ids['webinar']}/cancel",
        "registrants": f"/webinars/{ids['webinar']}/registrants",
        "deliveries": f"/webinars/{ids['webinar']}/deliveries",
        "activity": f"/webinars/{ids['webinar']}/activity",
        "series": f"/webinars/{ids['webinar']}/series",
        "outbox": "/outbox",
        "reports": f"/organizations/{ids['org']}/reports",
        "people": "/people",
        "organizations": "/organizations",
        "organization": f"/organizations/{ids['org']}/edit",
        "platforms": f"/organizations/{ids['org']}/platforms",
        "webhooks": f"/organizations/{ids['org']}/webhooks",
        "tokens": "/tokens",
        "password": "/account/password",
    }
    for name, path in organizer.items():
        response = await client.get(path, params={"lang": "en"})
        if response.status_code == 200:
            pages[name] = response.text
        else:
            assert response.status_code in (403, 404), (path, response.status_code)
    # a form sent back with its errors: the reasons are translated too
    form = await client.get("/webinars/new", params={"lang": "en"})
    response = await client.post("/webinars/new", data={
        "csrf_token": csrf_from(form.text), "title": "", "start": "tomorrow",
        "duration_minutes": "100000", "timezone": "Mars/Base", "reminder_offsets": "x"})
    assert response.status_code in (400, 422), response.status_code
    pages["webinar form with errors"] = response.text
    for required in ("dashboard", "webinar form", "registrants", "reports", "people",
                     "organizations"):
        assert required in pages, required
    return pages


# Texts that are Russian on purpose on every page: the language switcher names Russian in
# Russian, so a reader who cannot read English finds it.
ALWAYS_RUSSIAN = {"Русский"}


async def test_pages_in_english_show_no_russian(runtime: Runtime, clock: FixedClock,
                                                client: httpx.AsyncClient) -> None:
    """A text never marked for translation stays Russian or English whatever the language;
    a Russian text marked but left out of the English page shows here."""
    pages = await english_pages(runtime, clock, client)
    russian = await client.get("/dashboard", params={"lang": "ru"})
    assert CYRILLIC.search(russian.text)  # the check sees Russian where there is some
    found = {}
    for name, html in pages.items():
        visible = re.sub(r"<script\b.*?</script>", "", html, flags=re.DOTALL)
        words = set(CYRILLIC.findall(visible)) - ALWAYS_RUSSIAN
        words -= {w for phrase in ALWAYS_RUSSIAN for w in phrase.split()}
        if words:
            found[name] = sorted(words)[:12]
    assert found == {}
    assert len(pages) >= 20, sorted(pages)
