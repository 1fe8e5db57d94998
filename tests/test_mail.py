"""Rendering messages: MIME layout, encodings, language, zone and links (ical-interop.md §4)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from webinars.branding import Brand
from webinars.config import AppConfig
from webinars.mail import MessageBatch, Recipient, assemble, encoded_words
from webinars.models import Organization, Webinar

from .smtp import check_message, no_bare_lf, parse

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
START = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
CONFIG = AppConfig(database_url="sqlite+aiosqlite:///unused.db", secret_key="k" * 40,
                   base_url="https://events.example", mail_from="events@union.example",
                   mail_from_name="Вебинары профсоюза")
TOKEN = "AbC-_0123456789abcdefghijklmnopq"
JOIN = "JoIn-_0123456789abcdefghijklmnop"
MARIA = Recipient(41, "Мария Иванова", "maria@school.example", "ru", "Asia/Yekaterinburg", TOKEN,
                  JOIN, "<0123456789abcdef0123456789abcdef@events.example>")
JOHN = Recipient(42, "John Smith", "john@school.example", "en", "America/New_York",
                 "ZyX-_9876543210abcdefghijklmnopq", "jOiN-_9876543210abcdefghijklmnop",
                 "<fedcba9876543210fedcba9876543210@events.example>")


def webinar(**overrides: object) -> Webinar:
    values: dict[str, object] = {
        "id": 7, "public_id": "pub7", "uid": "webinar-7@union.example", "sequence": 0,
        "start_at": START, "duration_minutes": 90, "status": "scheduled",
        "title": "Информационная работа в первичной организации",
        "description": "Как вести страницу профсоюза.", "reminder_offsets": [1440, 15],
        "timezone": "Europe/Moscow", "recording_url": None, "followup_note": None,
    }
    values.update(overrides)
    w = Webinar(**values)
    w.organization = Organization(name="Областная организация")
    return w


def checked(mail_raw: bytes, recipient: Recipient, independent: bool = True):  # type: ignore[no-untyped-def]
    return check_message(mail_raw, recipient=recipient.email, mail_from=CONFIG.mail_from,
                         mail_from_name=CONFIG.mail_from_name, independent=independent)


def test_invitation_follows_the_checklist_in_russian_with_the_members_zone() -> None:
    mail = MessageBatch(CONFIG, webinar(), "invitation", NOW).render(MARIA, sequence=0)
    c = checked(mail.raw, MARIA)
    assert c.method == "REQUEST" and c.sequence == 0 and c.start == START
    assert c.subject == "Приглашение: Информационная работа в первичной организации"
    assert mail.subject == c.subject and mail.message_id == MARIA.message_id == c.message_id
    # 09:00 UTC: the event's 12:00 in Moscow, and 14:00 in the member's Yekaterinburg.
    assert "8 декабря 2026 г., 12:00 МСК (14:00 ЕКБ)" in c.text
    assert "Здравствуйте, Мария Иванова!" in c.text
    assert f"https://events.example/j/{JOIN}" in c.text
    assert f"https://events.example/r/{TOKEN}" in c.text
    assert f'href="https://events.example/j/{JOIN}"' in c.html
    # The member's calendar entry carries their own join address, nobody else's.
    # the calendar, which members share with calendar services, only carries the join token
    assert JOIN in c.ics.decode() and TOKEN not in c.ics.decode()
    assert JOHN.join_token not in c.ics.decode()
    assert "Мария Иванова" == c.calendar.walk("VEVENT")[0]["ATTENDEE"].params["CN"]


def test_add_to_calendar_links_carry_the_event_and_the_personal_join_address() -> None:
    mail = MessageBatch(CONFIG, webinar(), "invitation", NOW).render(MARIA, sequence=0)
    text = checked(mail.raw, MARIA, independent=False).text
    google = next(line.split(": ", 1)[1] for line in text.splitlines()
                  if line.startswith("Google: "))
    query = parse_qs(urlsplit(google).query)
    assert query["text"] == ["Информационная работа в первичной организации"]
    assert query["dates"] == ["20261208T090000Z/20261208T103000Z"]
    assert query["location"] == [f"https://events.example/j/{JOIN}"]
    outlook = next(line.split(": ", 1)[1] for line in text.splitlines()
                   if line.startswith("Outlook: "))
    assert parse_qs(urlsplit(outlook).query)["startdt"] == ["2026-12-08T09:00:00Z"]


def test_english_registrant_gets_english_text_and_new_york_time() -> None:
    mail = MessageBatch(CONFIG, webinar(), "invitation", NOW).render(JOHN, sequence=0)
    c = checked(mail.raw, JOHN, independent=False)
    assert c.subject.startswith("Invitation: ")
    assert "Hello, John Smith!" in c.text
    assert "8 December 2026, 12:00 MSK (04:00 UTC-5)" in c.text


def test_update_carries_the_given_sequence_and_the_new_time() -> None:
    moved = webinar(sequence=2, start_at=datetime(2026, 12, 9, 12, 30, tzinfo=UTC))
    mail = MessageBatch(CONFIG, moved, "update", NOW).render(MARIA, sequence=2)
    c = checked(mail.raw, MARIA)
    assert c.method == "REQUEST" and c.sequence == 2
    assert c.start == datetime(2026, 12, 9, 12, 30, tzinfo=UTC)
    assert c.subject.startswith("Изменение: ") and "17:30" in c.text


@pytest.mark.parametrize("status, phrase", [
    ("cancelled", "отменено"), ("scheduled", "Ваша регистрация"),
])
def test_cancellation_is_a_cancel_with_status_cancelled(status: str, phrase: str) -> None:
    mail = MessageBatch(CONFIG, webinar(status=status, sequence=4), "cancellation",
                        NOW).render(MARIA, sequence=5)
    c = checked(mail.raw, MARIA)
    assert c.method == "CANCEL" and c.sequence == 5
    assert phrase in c.text
    assert TOKEN not in c.ics.decode() and JOIN not in c.ics.decode()


def test_reminder_is_plain_text_and_html_without_a_calendar() -> None:
    mail = MessageBatch(CONFIG, webinar(), "reminder", NOW).render(MARIA, sequence=0,
                                                                   offset_minutes=15)
    c = checked(mail.raw, MARIA)
    assert c.method is None
    assert "начнётся через 15 минут" in c.text
    assert c.subject.startswith("Напоминание: ")
    english = MessageBatch(CONFIG, webinar(), "reminder", NOW).render(JOHN, sequence=0,
                                                                      offset_minutes=1440)
    assert "starts in 1 day" in checked(english.raw, JOHN).text


def test_followup_links_the_recording() -> None:
    w = webinar(recording_url="https://video.example/rec/1", followup_note="Слайды — в группе.")
    c = checked(MessageBatch(CONFIG, w, "followup", NOW).render(MARIA, sequence=0).raw, MARIA)
    assert "https://video.example/rec/1" in c.text and "Слайды — в группе." in c.text


def test_html_escapes_what_people_typed() -> None:
    w = webinar(title="<script>alert(1)</script> & «вебинар»")
    evil = Recipient(43, "<b>Ева</b>", "eve@school.example", "ru", "Europe/Moscow", TOKEN, JOIN,
                     MARIA.message_id)
    c = checked(MessageBatch(CONFIG, w, "invitation", NOW).render(evil, sequence=0).raw, evil,
                independent=False)
    assert "<script>" not in c.html and "&lt;script&gt;" in c.html
    assert "<b>Ева</b>" not in c.html
    assert c.subject == "Приглашение: <script>alert(1)</script> & «вебинар»"


def test_long_cyrillic_names_and_titles_survive_headers() -> None:
    long_name = "Анна-Мария " + "Константинопольская" * 8
    person = Recipient(44, long_name, "anna@school.example", "ru", "Europe/Moscow", TOKEN, JOIN,
                       MARIA.message_id)
    w = webinar(title="Очень длинное название " * 8 + "с переводом\nстроки")
    mail = MessageBatch(CONFIG, w, "invitation", NOW).render(person, sequence=0)
    head = mail.raw.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    msg = parse(mail.raw)
    # RFC 2047 §6.2: the folding between encoded-words is not part of the name. CPython's
    # address parser keeps it as a space (its own output does the same), so compare without.
    shown = msg["To"].addresses[0].display_name
    assert shown.replace(" ", "") == long_name.replace(" ", "")
    assert msg["To"].addresses[0].addr_spec == "anna@school.example"
    assert str(msg["Subject"]) == "Приглашение: " + " ".join(w.title.split())


def test_encoded_words_never_split_a_character() -> None:
    value = "ё" * 100 + "z"
    words = encoded_words(value).split("\r\n ")
    assert all(len(word) <= 75 for word in words)
    assert str(parse(f"Subject: {encoded_words(value)}\r\n\r\n".encode())["Subject"]) == value


def test_message_without_calendar_is_multipart_alternative_with_crlf() -> None:
    raw = assemble([("From", "a@b.example"), ("To", "c@d.example"), ("Subject", "x"),
                    ("Message-ID", MARIA.message_id)], "line 1\nline 2", "<p>x</p>")
    assert no_bare_lf(raw)
    msg = parse(raw)
    assert msg.get_content_type() == "multipart/alternative"
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content() == "line 1\r\nline 2"


def test_common_parts_are_shared_but_personal_parts_are_not() -> None:
    batch = MessageBatch(CONFIG, webinar(), "invitation", NOW)
    first = checked(batch.render(MARIA, sequence=0).raw, MARIA, independent=False)
    second = checked(batch.render(JOHN, sequence=0).raw, JOHN, independent=False)
    assert first.ics is not None and second.ics is not None
    assert first.ics.count(JOIN.encode()) >= 2 and JOHN.join_token.encode() not in first.ics
    assert second.ics.count(JOHN.join_token.encode()) >= 2 and JOIN.encode() not in second.ics
    assert "Мария" not in second.text


@pytest.mark.parametrize("kind", ["invitation", "update", "reminder"])
def test_the_organizations_brand_heads_the_html_and_stays_out_of_the_text(kind: str) -> None:
    """The logo (inherited from the region) from an absolute https address with its alt
    text, the colour in the header bar; the plain text is unchanged."""
    brand = Brand(slug="school-5", color="#1f4e8c", logo_owner_id=3,
                  logo_alt="Поволжская <организация>", logo_version="0123456789abcdef",
                  logo_width=512, logo_height=300)
    branded = MessageBatch(CONFIG, webinar(), kind, NOW, brand).render(
        MARIA, sequence=1, offset_minutes=15 if kind == "reminder" else None)
    plain = MessageBatch(CONFIG, webinar(), kind, NOW).render(
        MARIA, sequence=1, offset_minutes=15 if kind == "reminder" else None)
    c, p = checked(branded.raw, MARIA), checked(plain.raw, MARIA)
    assert ('<img src="https://events.example/o/school-5/logo.png?v=0123456789abcdef" '
            'alt="Поволжская &lt;организация&gt;" width="160"') in c.html
    assert "background:#1f4e8c;color:#ffffff;" in c.html
    assert c.text == p.text
    assert "logo.png" not in p.html and "#1f4e8c" not in p.html


def test_a_brand_shows_no_logo_from_a_plain_http_address_and_no_unchecked_colour() -> None:
    brand = Brand(slug="x", color="red;background:url(//evil)", logo_owner_id=1,
                  logo_alt="X", logo_version="0123456789abcdef", logo_width=64, logo_height=64)
    config = AppConfig(database_url=CONFIG.database_url, secret_key=CONFIG.secret_key,
                       base_url="http://events.example", mail_from=CONFIG.mail_from,
                       mail_from_name=CONFIG.mail_from_name)
    c = checked(MessageBatch(config, webinar(), "invitation", NOW, brand).render(
        MARIA, sequence=0).raw, MARIA, independent=False)
    assert "logo.png" not in c.html and "evil" not in c.html


# --- one render per shape of recipient (MessageBatch.bodies) --------------------------------

PEOPLE = [
    MARIA,
    JOHN,
    Recipient(43, 'Ann <b>"&amp;\'', "ann@school.example", "en", "America/New_York",
              "Ann-_0123456789abcdefghijklmnopq", "aNn-_0123456789abcdefghijklmnop",
              "<aaaa@events.example>", attended=True),
    Recipient(44, "", "anon@school.example", "ru", "Asia/Yekaterinburg",
              "Anon_0123456789abcdefghijklmnopq", "aNoN_0123456789abcdefghijklmnop",
              "<bbbb@events.example>"),
    Recipient(45, "Пётр", "petr@school.example", "ru", "Asia/Yekaterinburg",
              "Petr_0123456789abcdefghijklmnopq", "pEtR_0123456789abcdefghijklmnop",
              "<cccc@events.example>"),
    # A token no link of ours would carry: rendered on its own, not by replacement.
    Recipient(46, "Odd", "odd@school.example", "en", "Europe/Moscow", "a&b<c>", "d\"e'f",
              "<dddd@events.example>"),
]
MOVED = {"start_at": {"old": "2026-12-07T09:00:00+00:00", "new": "2026-12-08T09:00:00+00:00"}}


@pytest.mark.parametrize("kind", ["invitation", "update", "cancellation", "reminder",
                                  "followup", "deadline", "pending", "waitlisted", "promoted",
                                  "declined", "link"])
def test_each_recipient_gets_exactly_the_message_rendered_for_them_alone(kind: str) -> None:
    """Bodies are rendered once per shape and personalised by replacement: every recipient's
    text and HTML must equal a render of the templates for that recipient alone."""
    w = webinar(status="cancelled" if kind == "cancellation" else "scheduled",
                recording_url="https://video.example/rec?a=1&b=2" if kind == "followup" else None,
                followup_note="Слайды <в приложении>" if kind == "followup" else None,
                deadline_at=START if kind == "deadline" else None)
    batch = MessageBatch(CONFIG, w, kind, NOW)
    for offset, changed in ((None, None), (15, None), (None, MOVED)):
        for person in PEOPLE:
            text, html, lang = batch.bodies(person, offset, None, changed)
            context = batch.context(person, offset, None, changed)
            assert (text, html, lang) == (batch._templates["txt"].render(context),
                                          batch._templates["html"].render(context),
                                          context["lang"]), (kind, person.email)


def test_recipients_of_one_shape_never_get_each_others_name_or_links() -> None:
    batch = MessageBatch(CONFIG, webinar(), "reminder", NOW)
    maria = checked(batch.render(MARIA, sequence=0, offset_minutes=15).raw, MARIA).text
    twin = Recipient(47, "Ольга <Петрова>", "olga@school.example", "ru", MARIA.timezone,
                     "Olga_0123456789abcdefghijklmnopq", "oLgA_0123456789abcdefghijklmnop",
                     "<eeee0123456789abcdef0123456789ab@events.example>")
    mail = checked(batch.render(twin, sequence=0, offset_minutes=15).raw, twin)
    assert "Здравствуйте, Мария Иванова!" in maria and TOKEN in maria
    assert "Здравствуйте, Ольга <Петрова>!" in mail.text
    assert "Здравствуйте, Ольга &lt;Петрова&gt;!" in mail.html
    assert twin.token in mail.text and twin.join_token in mail.html
    for theirs in ("Мария", TOKEN, JOIN):
        assert theirs not in mail.text and theirs not in mail.html
