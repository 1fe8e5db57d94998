"""iTIP calendars for one recipient (ical-interop.md §1, §4): REQUEST and CANCEL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from icalendar import Calendar

from webinars import itip
from webinars.calendars import EventLinks
from webinars.models import Organization, Webinar

from .validators import check_icaljs, check_libical

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
START = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
TOKEN = "AbC-_0123456789abcdefghijklmnopq"
LINKS = EventLinks(page_url="https://events.example/w/abc",
                   join_url=f"https://events.example/j/{TOKEN}")
ORGANIZER = {"organizer_email": "events@union.example", "organizer_name": "Вебинары профсоюза"}


def webinar(**overrides: object) -> Webinar:
    values: dict[str, object] = {
        "id": 1, "public_id": "abc", "uid": "webinar-1@union.example", "sequence": 2,
        "start_at": START, "duration_minutes": 90, "status": "scheduled",
        "title": "Медиаграмотность: «как писать»; новости, факты \\ и ^ ссылки",
        "description": "Разбор публикаций первичных организаций.\nВторая строка, с запятой.",
        "reminder_offsets": [1440, 30], "timezone": "Europe/Moscow",
    }
    values.update(overrides)
    w = Webinar(**values)
    w.organization = Organization(name="Профсоюз")
    return w


def event_of(data: bytes) -> tuple[Calendar, Any]:
    cal = Calendar.from_ical(data)
    events = cal.walk("VEVENT")
    assert len(events) == 1
    return cal, events[0]


def build(method: str, attendee: itip.Attendee, **overrides: object) -> bytes:
    return itip.to_bytes(itip.build(method, webinar(**overrides), LINKS, attendee,
                                    dtstamp=NOW, sequence=3, **ORGANIZER))


def test_request_lists_exactly_the_recipient_and_passes_independent_parsers() -> None:
    data = build(itip.REQUEST, itip.Attendee("maria@school.example", "Мария Иванова"))
    cal, event = event_of(data)
    assert str(cal["METHOD"]) == "REQUEST"
    assert "UID" not in cal and not [k for k in cal if k.startswith("X-WR")]
    attendee = event["ATTENDEE"]
    assert not isinstance(attendee, list)
    assert str(attendee) == "mailto:maria@school.example"
    assert dict(attendee.params) == {"CUTYPE": "INDIVIDUAL", "ROLE": "REQ-PARTICIPANT",
                                     "PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE",
                                     "CN": "Мария Иванова"}
    assert str(event["ORGANIZER"]) == "mailto:events@union.example"
    assert event["ORGANIZER"].params["CN"] == "Вебинары профсоюза"
    assert str(event["STATUS"]) == "CONFIRMED" and int(event["SEQUENCE"]) == 3
    assert TOKEN in str(event["LOCATION"]) and TOKEN in str(event["DESCRIPTION"])
    alarms = event.walk("VALARM")
    assert len(alarms) == 1 and alarms[0].decoded("TRIGGER") == timedelta(minutes=-30)
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    parsed = check_icaljs(data)
    assert parsed[0]["start"] == "2026-12-08T09:00:00.000Z"
    assert parsed[0]["end"] == "2026-12-08T10:30:00.000Z"
    assert (parsed[0]["method"], parsed[0]["status"], parsed[0]["attendees"]) == (
        "REQUEST", "CONFIRMED", 1)
    assert check_libical(data) == []


def test_cancel_has_status_cancelled_no_alarm_and_no_join_link() -> None:
    data = build(itip.CANCEL, itip.Attendee("maria@school.example", "Мария Иванова"))
    cal, event = event_of(data)
    assert str(cal["METHOD"]) == "CANCEL"
    assert str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) == 3
    assert event.walk("VALARM") == []
    assert TOKEN not in data.decode()
    assert str(event["LOCATION"]) == LINKS.page_url
    assert check_icaljs(data)[0]["status"] == "CANCELLED"
    assert check_libical(data) == []


def test_request_for_a_cancelled_webinar_is_never_marked_cancelled_inside() -> None:
    # vevent marks a cancelled webinar CANCELLED; a REQUEST must never carry that (libical).
    data = build(itip.REQUEST, itip.Attendee("a@school.example", "A"), status="cancelled")
    assert str(event_of(data)[1]["STATUS"]) == "CONFIRMED"


NAMES = ["Мария Иванова", 'ООО "Ромашка"; отдел: кадры, учёт ^ \\', "A" * 190, "Ж" * 150,
         "Jean-Luc O'Neill"]


#: Escapes (`\,` `\;` `\n`) at every position, so some fold falls right after a backslash.
DESCRIPTIONS = ["Разбор публикаций первичных организаций.\nВторая строка, с запятой.",
                "a," * 120, "ж;" * 90, "x" + "\n," * 60]


@pytest.mark.parametrize("method", [itip.REQUEST, itip.CANCEL])
@pytest.mark.parametrize("description", DESCRIPTIONS)
def test_template_folds_escapes_as_the_full_build_does(method: str, description: str) -> None:
    template = itip.CalendarTemplate(method, webinar(description=description),
                                     page_url=LINKS.page_url,
                                     join_base="https://events.example/j/", dtstamp=NOW,
                                     sequence=3, **ORGANIZER)
    attendee = itip.Attendee("member@school.example", "Мария")
    fast = template.render(attendee, TOKEN)
    assert fast == build(method, attendee, description=description)
    _, event = event_of(fast)
    assert str(event["DESCRIPTION"]).startswith(description)


@pytest.mark.parametrize("method", [itip.REQUEST, itip.CANCEL])
@pytest.mark.parametrize("name", NAMES)
def test_template_gives_the_same_bytes_as_a_full_build(method: str, name: str) -> None:
    template = itip.CalendarTemplate(method, webinar(), page_url=LINKS.page_url,
                                     join_base="https://events.example/j/", dtstamp=NOW,
                                     sequence=3, **ORGANIZER)
    attendee = itip.Attendee("member@school.example", name)
    fast = template.render(attendee, TOKEN)
    assert fast == build(method, attendee)
    assert all(len(line) <= 75 for line in fast.split(b"\r\n"))
    for line in fast.split(b"\r\n"):
        line.decode("utf-8")  # folding never splits a UTF-8 sequence
    _, event = event_of(fast)
    # The name as every client shows it: nothing that needs an RFC 6868 escape (`^'`, `^n`,
    # `^^`), which clients without RFC 6868 print literally.
    assert event["ATTENDEE"].params["CN"] == " ".join(
        name.replace('"', "'").replace("^", " ").split())
    assert b"^'" not in fast and b"^n" not in fast and b"^^" not in fast


def test_attendee_without_a_vouched_name_has_no_cn() -> None:
    data = build(itip.REQUEST, itip.Attendee("stranger@school.example", ""))
    _, event = event_of(data)
    assert str(event["ATTENDEE"]) == "mailto:stranger@school.example"
    assert "CN" not in event["ATTENDEE"].params


def test_template_refuses_a_token_that_would_need_escaping() -> None:
    template = itip.CalendarTemplate(itip.REQUEST, webinar(), page_url=LINKS.page_url,
                                     join_base="https://events.example/j/", dtstamp=NOW,
                                     sequence=0, **ORGANIZER)
    with pytest.raises(ValueError):
        template.render(itip.Attendee("a@b.example", "A"), "bad;token,\\")


def test_alarm_uses_the_shortest_reminder_and_defaults_to_15_minutes() -> None:
    assert itip.alarm_minutes(webinar(reminder_offsets=[1440, 60, 10])) == 10
    assert itip.alarm_minutes(webinar(reminder_offsets=[])) == 15


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError):
        itip.build("PUBLISH", webinar(), LINKS, itip.Attendee("a@b.example", "A"),
                   dtstamp=NOW, sequence=0, **ORGANIZER)
