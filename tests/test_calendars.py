"""Every .ics the product publishes, read back property by property and by independent parsers."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from dateutil.rrule import rrulestr
from icalendar import Calendar, Event, Timezone, vDuration
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.calendars import (
    FEED_REFRESH,
    PRODID,
    EventLinks,
    FeedItem,
    content_version,
    google_calendar_url,
    google_subscribe_url,
    item_components,
    outlook_calendar_url,
    publish_calendar,
    publish_chunks,
    publish_items,
    vevent,
    webcal_url,
)
from webinars.clock import FixedClock
from webinars.models import Account, Organization, Webinar, WebinarSession
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.registrations import cancel as cancel_registration
from webinars.runtime import Runtime
from webinars.scheduling import cancel_webinar, get_webinar, update_webinar
from webinars.validation import webinar_input

from .factories import csrf_from, make_account, make_org, make_registration, make_webinar
from .validators import check_icaljs, check_libical, check_lines

BASE = "http://testserver"
ORGANIZER = "events@union.example"
LONG_RU = ("Практикум для ответственных за информационную работу: как вести сообщество "
           "профсоюза в социальных сетях, готовить новости, отвечать на вопросы; "
           "разбор примеров, «ошибки», запятые, точки с запятой и обратная косая \\ черта.")


def parse(data: bytes) -> Calendar:
    return Calendar.from_ical(data)


def events_of(cal: Calendar) -> list[Event]:
    return [c for c in cal.walk("VEVENT") if isinstance(c, Event)]


def categories(event: Event) -> list[str]:
    prop: Any = event["CATEGORIES"]
    return [str(c) for c in prop.cats]


def sequence(event: Event) -> int:
    return int(event.decoded("SEQUENCE"))


def by_uid(cal: Calendar) -> dict[str, Event]:
    return {str(e["UID"]): e for e in events_of(cal)}


def assert_published(data: bytes) -> Calendar:
    """What every download and feed must satisfy, checked by three parsers."""
    assert check_lines(data) == []
    cal = parse(data)
    assert str(cal["METHOD"]) == "PUBLISH"
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["PRODID"]).startswith("-//")
    assert not cal.walk("VTIMEZONE")
    assert b"TZID" not in data and b"ATTENDEE" not in data
    for event in events_of(cal):
        for prop in ("DTSTART", "DTEND", "DTSTAMP"):
            value = event.decoded(prop)
            assert value.tzinfo is not None and value.utcoffset() == timedelta(0), prop
        assert str(event["LOCATION"]).strip()
        assert str(event["SUMMARY"]).strip()
        assert "ORGANIZER" in event
    icaljs = check_icaljs(data)
    assert len(icaljs) == len(events_of(cal))
    assert all(e["attendees"] == 0 and e["method"] == "PUBLISH" for e in icaljs)
    assert check_libical(data) == []
    return cal


def icaljs_starts(data: bytes) -> dict[str, str]:
    return {e["uid"]: e["start"] for e in check_icaljs(data)}


def iso_z(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --- pure builders ------------------------------------------------------------------------


def memory_webinar(**overrides: Any) -> Webinar:
    org = Organization(id=1, slug="union", name="Профсоюз, федеральный уровень", level="federal",
                       timezone="Europe/Moscow")
    values: dict[str, Any] = {
        "id": 1, "public_id": "a" * 32, "uid": "webinar-1@union.example", "sequence": 0,
        "title": "Вебинар: новые медиа", "description": LONG_RU,
        "start_at": datetime(2026, 12, 10, 0, 0, tzinfo=UTC), "duration_minutes": 90,
        "timezone": "Asia/Vladivostok", "status": "scheduled", "visibility": "public",
        "updated_at": datetime(2026, 12, 1, 9, 0, tzinfo=UTC), "organization": org,
        "organization_id": 1,
    }
    values.update(overrides)
    return Webinar(**values)


def test_download_is_a_minimal_publish_calendar_in_utc() -> None:
    webinar = memory_webinar()
    links = EventLinks(page_url=f"{BASE}/w/{webinar.public_id}", join_url=None)
    data = publish_items([FeedItem(webinar, links)], organizer_email=ORGANIZER)
    cal = assert_published(data)
    assert "NAME" not in cal and "X-WR-CALNAME" not in cal and "REFRESH-INTERVAL" not in cal
    (event,) = events_of(cal)
    assert str(event["UID"]) == "webinar-1@union.example"
    assert sequence(event) == 0
    assert event.decoded("DTSTART") == datetime(2026, 12, 10, 0, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 12, 10, 1, 30, tzinfo=UTC)
    assert b"DTSTART:20261210T000000Z\r\n" in data
    assert str(event["SUMMARY"]) == "Вебинар: новые медиа"
    assert LONG_RU in str(event["DESCRIPTION"])
    assert str(event["LOCATION"]) == links.page_url
    assert str(event["URL"]) == links.page_url
    assert str(event["STATUS"]) == "CONFIRMED"
    assert "CONFERENCE" not in event
    assert str(event["ORGANIZER"]) == f"mailto:{ORGANIZER}"
    assert event["ORGANIZER"].params["CN"] == "Профсоюз, федеральный уровень"
    # The long Cyrillic description was folded: some line continues on the next.
    assert b"\r\n " in data


def test_feed_carries_name_refresh_hints_and_categories() -> None:
    webinar = memory_webinar()
    links = EventLinks(page_url=f"{BASE}/w/{webinar.public_id}", join_url=None)
    item = FeedItem(webinar, links, ("federal", "Профсоюз, федеральный уровень"))
    data = publish_items([item], organizer_email=ORGANIZER, name="Профсоюз: план", feed=True)
    cal = assert_published(data)
    assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT6H\r\n" in data
    assert b"\r\nX-PUBLISHED-TTL:PT6H\r\n" in data
    assert str(cal["NAME"]) == "Профсоюз: план"
    assert str(cal["X-WR-CALNAME"]) == "Профсоюз: план"
    (event,) = events_of(cal)
    assert categories(event) == [
        "federal", "Профсоюз, федеральный уровень"]


def test_cancelled_event_stays_with_higher_sequence_and_no_join_link() -> None:
    webinar = memory_webinar(status="cancelled", sequence=3)
    links = EventLinks(page_url=f"{BASE}/w/x", join_url=f"{BASE}/j/secret-token")
    data = publish_items([FeedItem(webinar, links)], organizer_email=ORGANIZER, feed=True)
    (event,) = events_of(assert_published(data))
    assert str(event["STATUS"]) == "CANCELLED" and sequence(event) == 3
    assert b"secret-token" not in data
    (parsed,) = check_icaljs(data)
    assert parsed["status"] == "CANCELLED" and parsed["sequence"] == 3


def test_personal_join_link_goes_in_location_url_description_and_conference() -> None:
    webinar = memory_webinar()
    links = EventLinks(page_url=f"{BASE}/w/x", join_url=f"{BASE}/j/tok")
    data = publish_items([FeedItem(webinar, links)], organizer_email=ORGANIZER)
    (event,) = events_of(assert_published(data))
    assert str(event["LOCATION"]) == f"{BASE}/j/tok"
    assert f"{BASE}/j/tok" in str(event["DESCRIPTION"])
    conference = event["CONFERENCE"]
    assert str(conference) == f"{BASE}/j/tok"
    assert conference.params["VALUE"] == "URI"
    assert b";FEATURE=AUDIO,VIDEO;" in data  # two values, not one quoted string (§3)


def test_published_calendar_refuses_attendees() -> None:
    webinar = memory_webinar()
    event = vevent(webinar, EventLinks("https://x/w/1", None), organizer_email=ORGANIZER,
                   organizer_name="Org", dtstamp=webinar.updated_at)
    event.add("ATTENDEE", "mailto:member@school.example")
    with pytest.raises(ValueError):
        publish_calendar([event])


def test_validators_catch_what_the_reference_says_they_catch() -> None:
    """The checks themselves can fail: a bad calendar does not pass them."""
    webinar = memory_webinar()
    event = vevent(webinar, EventLinks("https://x/w/1", None), organizer_email=ORGANIZER,
                   organizer_name="Org", dtstamp=webinar.updated_at)
    good = publish_calendar([event])
    with_attendee = good.replace(b"ORGANIZER", b"ATTENDEE:mailto:m@school.example\r\nORGANIZER")
    assert any("ATTENDEE" in e for e in check_libical(with_attendee))
    empty_location = good.replace(b"LOCATION:https://x/w/1", b"LOCATION:")
    assert any("LOCATION" in e for e in check_libical(empty_location))
    assert check_lines(good.replace(b"\r\n", b"\n")) != []
    tzid = good.replace(b"DTSTART:20261210T000000Z",
                        b"DTSTART;TZID=Asia/Vladivostok:20261210T100000")
    with pytest.raises(pytest.fail.Exception, match="VTIMEZONE"):
        check_icaljs(tzid)


def test_content_version_follows_what_the_calendar_shows() -> None:
    links = EventLinks(f"{BASE}/w/x", None)

    def version(**overrides: Any) -> str:
        return content_version([FeedItem(memory_webinar(**overrides), links)],
                               organizer_email=ORGANIZER, name="N", feed=True)

    assert version() == version()
    assert version(sequence=1) != version()
    assert version(title="Другое") != version()
    assert version(status="cancelled") != version()
    assert content_version([], organizer_email=ORGANIZER, name="N", feed=True) != version()


def test_add_to_google_and_outlook_links_carry_utc_dates() -> None:
    webinar = memory_webinar()
    links = EventLinks(page_url=f"{BASE}/w/x", join_url=f"{BASE}/j/tok")
    google_url, outlook_url = (google_calendar_url(webinar, links),
                               outlook_calendar_url(webinar, links))
    assert google_url is not None and outlook_url is not None
    google = urlsplit(google_url)
    assert (google.scheme, google.netloc, google.path) == (
        "https", "calendar.google.com", "/calendar/render")
    query = parse_qs(google.query)
    assert query["action"] == ["TEMPLATE"]
    assert query["dates"] == ["20261210T000000Z/20261210T013000Z"]
    assert query["text"] == ["Вебинар: новые медиа"]
    assert query["location"] == [f"{BASE}/j/tok"]
    assert LONG_RU in query["details"][0]

    outlook = urlsplit(outlook_url)
    assert outlook.netloc == "outlook.office.com"
    assert outlook.path == "/calendar/deeplink/compose"
    query = parse_qs(outlook.query)
    assert query["path"] == ["/calendar/action/compose"] and query["rru"] == ["addevent"]
    assert query["startdt"] == ["2026-12-10T00:00:00Z"]
    assert query["enddt"] == ["2026-12-10T01:30:00Z"]
    assert query["subject"] == ["Вебинар: новые медиа"]
    assert "<br>" in query["body"][0] and "\n" not in query["body"][0]
    assert urlsplit(outlook_calendar_url(webinar, links, personal=True) or "").netloc == (
        "outlook.live.com")


def weekly_course(zone: str = "Europe/Berlin", **overrides: Any) -> Webinar:
    """Six Tuesdays at 15:00 in `zone`, from 2027-03-02: Berlin's clocks change on the 28th."""
    local = [datetime(2027, 3, 2, 15, 0) + timedelta(weeks=i) for i in range(6)]
    starts = [t.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC) for t in local]
    sessions = [WebinarSession(position=i, start_at=s, original_start=s, duration_minutes=90,
                               status="scheduled") for i, s in enumerate(starts)]
    return memory_webinar(timezone=zone, start_at=starts[0], sessions=sessions,
                          series_rule={"kind": "weekly", "weekday": 1, "time": "15:00",
                                       "count": 6, "from": "2027-03-02"}, **overrides)


def test_a_course_goes_to_google_as_one_repeating_event_in_its_own_zone() -> None:
    webinar = weekly_course()
    links = EventLinks(page_url=f"{BASE}/w/x", join_url=f"{BASE}/j/tok")
    url = google_calendar_url(webinar, links)
    assert url is not None
    query = parse_qs(urlsplit(url).query)
    assert query["ctz"] == ["Europe/Berlin"]
    assert query["dates"] == ["20270302T150000/20270302T163000"]  # local, as ctz says
    (recur,) = query["recur"]
    # What Google would expand, expanded independently: the rule from the local start in
    # the zone gives every session's instant, the ones after the DST change included.
    rule = rrulestr(recur.removeprefix("RRULE:"),
                    dtstart=datetime(2027, 3, 2, 15, 0, tzinfo=ZoneInfo("Europe/Berlin")))
    assert [t.astimezone(UTC) for t in rule] == [s.start_at for s in webinar.sessions]
    assert {t.astimezone(UTC).hour for t in rule} == {14, 13}  # UTC+1, then UTC+2
    # Outlook's deeplink cannot say "repeats": the page offers the .ics file instead.
    assert outlook_calendar_url(webinar, links) is None


def test_a_course_no_single_rule_describes_gets_no_add_links() -> None:
    links = EventLinks(page_url=f"{BASE}/w/x", join_url=None)
    moved = weekly_course()
    moved.sessions[2].start_at += timedelta(days=1)
    cancelled = weekly_course()
    cancelled.sessions[4].status = "cancelled"
    listed = weekly_course()
    listed.series_rule = {"kind": "dates", "starts": ["2027-03-02T15:00", "2027-03-05T10:00"]}
    for webinar in (moved, cancelled, listed):
        assert google_calendar_url(webinar, links) is None  # only the .ics holds all of it
        assert outlook_calendar_url(webinar, links, personal=True) is None


def all_day_contest() -> Webinar:
    """1–31 March 2027 in Yekaterinburg (UTC+5): the days are the same in every zone."""
    first = datetime(2027, 3, 1, tzinfo=ZoneInfo("Asia/Yekaterinburg")).astimezone(UTC)
    return memory_webinar(all_day=True, start_at=first, duration_minutes=31 * 24 * 60,
                          end_date=date(2027, 3, 31), timezone="Asia/Yekaterinburg",
                          platform="none", title="Конкурс «Лучший сайт»")


def test_an_all_day_period_is_dates_in_every_artefact() -> None:
    webinar = all_day_contest()
    links = EventLinks(page_url=f"{BASE}/w/{webinar.public_id}", join_url=f"{BASE}/j/tok")
    data = publish_items([FeedItem(webinar, links)], organizer_email=ORGANIZER)
    assert check_lines(data) == []
    assert b"DTSTART;VALUE=DATE:20270301\r\n" in data
    assert b"DTEND;VALUE=DATE:20270401\r\n" in data  # exclusive: the day after the 31st
    assert b"/j/tok" not in data  # no meeting, so no join address
    (event,) = events_of(parse(data))
    assert (event.decoded("DTSTART"), event.decoded("DTEND")) == (date(2027, 3, 1),
                                                                  date(2027, 4, 1))
    assert check_libical(data) == []
    (parsed,) = check_icaljs(data)
    assert parsed["start"].startswith("2027-03-01") and parsed["end"].startswith("2027-04-01")

    google = parse_qs(urlsplit(google_calendar_url(webinar, links) or "").query)
    assert google["dates"] == ["20270301/20270401"]
    assert google["location"] == [f"{BASE}/w/{webinar.public_id}"]
    outlook = parse_qs(urlsplit(outlook_calendar_url(webinar, links) or "").query)
    assert (outlook["startdt"], outlook["enddt"], outlook["allday"]) == (
        ["2027-03-01"], ["2027-04-01"], ["true"])


def test_webcal_links() -> None:
    assert webcal_url("https://union.example/o/union.ics") == "webcal://union.example/o/union.ics"
    assert webcal_url("http://127.0.0.1:8000/feeds/t.ics") == "webcal://127.0.0.1:8000/feeds/t.ics"
    with pytest.raises(ValueError):
        webcal_url("javascript:alert(1)")
    sub = parse_qs(urlsplit(google_subscribe_url("https://union.example/o/union.ics")).query)
    assert sub["cid"] == ["webcal://union.example/o/union.ics"]


# --- endpoints ----------------------------------------------------------------------------


class Tree:
    """federal → primorye (Vladivostok) → vladivostok city → school 5; tatarstan is a sibling."""

    federal: Organization
    region: Organization
    city: Organization
    school: Organization
    sibling: Organization
    account: Account


async def make_tree(session: AsyncSession, clock: FixedClock) -> Tree:
    tree = Tree()
    tree.federal = await make_org(session, clock, "union", name="Общероссийский Профсоюз",
                                  level="federal")
    tree.region = await make_org(session, clock, "primorye", parent=tree.federal,
                                 name="Приморская краевая организация", level="regional",
                                 timezone="Asia/Vladivostok")
    tree.city = await make_org(session, clock, "vladivostok", parent=tree.region,
                               name="Владивостокская городская", level="municipal",
                               timezone="Asia/Vladivostok")
    tree.school = await make_org(session, clock, "school-5", parent=tree.city,
                                 name="Школа № 5", level="primary", timezone="Asia/Vladivostok")
    tree.sibling = await make_org(session, clock, "tatarstan", parent=tree.federal,
                                  name="Татарстанская республиканская", level="regional")
    tree.account = await make_account(session, clock, tree.federal, role="admin")
    return tree


async def make_vladivostok_webinar(session: AsyncSession, clock: FixedClock, tree: Tree,
                                   **overrides: Any) -> Webinar:
    values: dict[str, Any] = {"title": "Медиашкола Приморья", "description": LONG_RU,
                              "start": "2026-12-10T10:00", "timezone": "Asia/Vladivostok"}
    values.update(overrides)
    return await make_webinar(session, clock, tree.account, tree.region, **values)


def vladivostok_utc(wall: str) -> datetime:
    return datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo("Asia/Vladivostok")).astimezone(UTC)


async def test_webinar_download_in_utc_with_event_page_link(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    tree = await make_tree(session, clock)
    webinar = await make_vladivostok_webinar(session, clock, tree)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()  # the meeting exists now: its raw link must still not be published
    async with queue.ctx["sessionmaker"]() as fresh:
        platform_link = (await get_webinar(fresh, webinar.id)).meeting.join_url  # type: ignore
    assert platform_link

    response = await client.get(f"/w/{webinar.public_id}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="webinar-{webinar.public_id}.ics"'
    assert disposition.isascii()
    assert response.headers["etag"].startswith('"')
    data = response.content
    cal = assert_published(data)
    (event,) = events_of(cal)
    expected = vladivostok_utc("2026-12-10T10:00")
    assert expected == datetime(2026, 12, 10, 0, 0, tzinfo=UTC)
    assert event.decoded("DTSTART") == expected == webinar.start_at
    assert event.decoded("DTEND") == expected + timedelta(minutes=90)
    assert icaljs_starts(data) == {webinar.uid: iso_z(expected)}
    assert str(event["UID"]) == webinar.uid
    assert sequence(event) == 0
    assert str(event["SUMMARY"]) == "Медиашкола Приморья"
    assert LONG_RU in str(event["DESCRIPTION"])
    assert str(event["LOCATION"]) == f"{BASE}/w/{webinar.public_id}"
    assert platform_link.encode() not in data

    again = await client.get(f"/w/{webinar.public_id}.ics")
    assert again.content == data  # stable bytes, stable UID


async def test_drafts_and_unknown_addresses_are_not_found(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    tree = await make_tree(session, clock)
    draft = await make_vladivostok_webinar(session, clock, tree, status="draft")
    unlisted = await make_vladivostok_webinar(session, clock, tree, visibility="unlisted")
    await commit_and_enqueue(session, queue, clock)
    assert (await client.get(f"/w/{draft.public_id}.ics")).status_code == 404
    assert (await client.get("/w/" + "0" * 32 + ".ics")).status_code == 404
    assert (await client.get("/w/" + "x" * 300 + ".ics")).status_code == 404
    assert (await client.get("/o/nowhere.ics")).status_code == 404
    assert (await client.get("/r/no-such-token.ics")).status_code == 404
    # An unlisted webinar is downloadable by whoever has its address.
    assert (await client.get(f"/w/{unlisted.public_id}.ics")).status_code == 200


async def test_org_feed_is_the_plan_of_the_chain(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    tree = await make_tree(session, clock)
    federal_plan = await make_webinar(session, clock, tree.account, tree.federal,
                                      title="Федеральный план: старт года")
    regional = await make_vladivostok_webinar(session, clock, tree)
    city = await make_webinar(session, clock, tree.account, tree.city, title="Городской семинар")
    school = await make_webinar(session, clock, tree.account, tree.school, title="Школьный")
    sibling = await make_webinar(session, clock, tree.account, tree.sibling, title="Казань")
    unlisted = await make_webinar(session, clock, tree.account, tree.city,
                                  title="По ссылке", visibility="unlisted")
    draft = await make_webinar(session, clock, tree.account, tree.city, title="Черновик",
                               status="draft")
    await commit_and_enqueue(session, queue, clock)

    response = await client.get("/o/vladivostok.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert "public" in response.headers["cache-control"]
    data = response.content
    cal = assert_published(data)
    assert str(cal["NAME"]) == "Владивостокская городская"
    assert str(cal["X-WR-CALNAME"]) == "Владивостокская городская"
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT6H" in data and b"X-PUBLISHED-TTL:PT6H" in data
    events = by_uid(cal)
    assert set(events) == {federal_plan.uid, regional.uid, city.uid}
    assert school.uid not in events  # lower levels extend the plan; they don't flow up
    for absent in (sibling, unlisted, draft):
        assert absent.uid not in events and absent.title.encode() not in data
    levels = {uid: categories(e) for uid, e in events.items()}
    assert levels[federal_plan.uid] == ["federal", "Общероссийский Профсоюз"]
    assert levels[regional.uid] == ["regional", "Приморская краевая организация"]
    assert levels[city.uid] == ["municipal", "Владивостокская городская"]
    assert events[regional.uid].decoded("DTSTART") == vladivostok_utc("2026-12-10T10:00")
    assert icaljs_starts(data)[regional.uid] == iso_z(vladivostok_utc("2026-12-10T10:00"))

    federal_feed = assert_published((await client.get("/o/union.ics")).content)
    assert set(by_uid(federal_feed)) == {federal_plan.uid}


async def test_feed_etag_304_and_change_after_edit_and_cancel(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    tree = await make_tree(session, clock)
    webinar = await make_vladivostok_webinar(session, clock, tree)
    await commit_and_enqueue(session, queue, clock)

    first = await client.get("/o/primorye.ics")
    etag = first.headers["etag"]
    assert first.status_code == 200 and etag.startswith('"') and etag.endswith('"')
    cached = await client.get("/o/primorye.ics", headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers["etag"] == etag
    weak = await client.get("/o/primorye.ics", headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    assert (await client.get("/o/primorye.ics", headers={"If-None-Match": '"other"'})
            ).status_code == 200

    clock.advance(timedelta(hours=1))
    data = webinar_input({"start": "2026-12-10T12:00"}, clock, default_timezone=webinar.timezone,
                         partial=True)
    await update_webinar(session, clock, tree.account, webinar.id, data)
    await commit_and_enqueue(session, queue, clock)
    moved = await client.get("/o/primorye.ics", headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["etag"] != etag
    (event,) = events_of(assert_published(moved.content))
    assert sequence(event) == 1
    assert event.decoded("DTSTART") == vladivostok_utc("2026-12-10T12:00")
    assert event.decoded("DTSTAMP") == clock.now()

    await cancel_webinar(session, clock, tree.account, webinar.id)
    await commit_and_enqueue(session, queue, clock)
    cancelled = await client.get("/o/primorye.ics",
                                 headers={"If-None-Match": moved.headers["etag"]})
    assert cancelled.status_code == 200
    (event,) = events_of(assert_published(cancelled.content))
    assert str(event["UID"]) == webinar.uid
    assert str(event["STATUS"]) == "CANCELLED" and sequence(event) == 2


async def test_registrant_download_uses_the_personal_join_address(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    tree = await make_tree(session, clock)
    webinar = await make_vladivostok_webinar(session, clock, tree)
    registration = await make_registration(session, clock, webinar)
    await commit_and_enqueue(session, queue, clock)

    response = await client.get(f"/r/{registration.token}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["cache-control"].startswith("private")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    (event,) = events_of(assert_published(response.content))
    personal = f"{BASE}/j/{registration.join_token}"
    assert str(event["LOCATION"]) == personal
    assert personal in str(event["DESCRIPTION"])
    assert str(event["URL"]) == f"{BASE}/w/{webinar.public_id}"
    assert str(event["UID"]) == webinar.uid
    assert event.decoded("DTSTART") == vladivostok_utc("2026-12-10T10:00")
    (parsed,) = check_icaljs(response.content)
    assert parsed["location"] == personal and parsed["attendees"] == 0
    # Another registrant of the same webinar gets their own address, never a cached copy of
    # someone else's file.
    other = await make_registration(session, clock, webinar, "petr@school.example")
    await commit_and_enqueue(session, queue, clock)
    theirs = (await client.get(f"/r/{other.token}.ics")).content
    assert f"/j/{other.join_token}".encode() in theirs
    assert registration.join_token.encode() not in theirs


async def test_downloads_and_feeds_answer_if_modified_since_and_move_with_every_change(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    """Last-Modified comes from the changes that shape each calendar, removals included."""
    tree = await make_tree(session, clock)
    webinar = await make_vladivostok_webinar(session, clock, tree)
    registration = await make_registration(session, clock, webinar)
    await commit_and_enqueue(session, queue, clock)
    paths = ("/o/school-5.ics", f"/w/{webinar.public_id}.ics", f"/r/{registration.token}.ics")
    first = {p: await client.get(p) for p in paths}
    for path, response in first.items():
        stamp = response.headers["last-modified"]
        assert parsedate_to_datetime(stamp) == clock.now(), path
        fresh = await client.get(path, headers={"If-Modified-Since": stamp})
        assert fresh.status_code == 304 and fresh.headers["last-modified"] == stamp, path
        # If-None-Match wins when both are sent (RFC 9110 §13.1.3).
        both = await client.get(path, headers={"If-Modified-Since": stamp,
                                               "If-None-Match": '"something-else"'})
        assert both.status_code == 200, path
        garbled = await client.get(path, headers={"If-Modified-Since": "yesterday"})
        assert garbled.status_code == 200, path

    # The webinar leaves the plan (unlisted): the plan's feed must not answer 304.
    clock.advance(timedelta(hours=1))
    data = webinar_input({"visibility": "unlisted"}, clock, default_timezone=webinar.timezone,
                         partial=True)
    await update_webinar(session, clock, tree.account, webinar.id, data)
    await commit_and_enqueue(session, queue, clock)
    plan = await client.get("/o/school-5.ics",
                            headers={"If-Modified-Since": first[paths[0]].headers["last-modified"]})
    assert plan.status_code == 200 and events_of(assert_published(plan.content)) == []
    assert parsedate_to_datetime(plan.headers["last-modified"]) == clock.now()

    clock.advance(timedelta(hours=1))
    await cancel_registration(session, clock, registration)
    await commit_and_enqueue(session, queue, clock)
    mine = await client.get(paths[2], headers={
        "If-Modified-Since": first[paths[2]].headers["last-modified"]})
    assert mine.status_code == 200
    assert parsedate_to_datetime(mine.headers["last-modified"]) == clock.now()
    # The cancelled registration's file no longer opens the meeting.
    assert f"/j/{registration.join_token}".encode() not in mine.content
    assert f"/j/{registration.join_token}".encode() in first[paths[2]].content


async def test_past_events_stay_in_plan_and_personal_feeds_for_a_year_and_then_leave(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    tree = await make_tree(session, clock)
    earlier = await make_webinar(session, clock, tree.account, tree.federal, title="Раньше",
                                 start_at=clock.now() + timedelta(days=1))
    later = await make_webinar(session, clock, tree.account, tree.federal, title="Позже",
                               start_at=clock.now() + timedelta(days=2))
    mine = await make_webinar(session, clock, tree.account, tree.sibling, title="Моё")
    registration = await make_registration(session, clock, mine, organization_id=tree.school.id)
    await commit_and_enqueue(session, queue, clock)
    page = await client.get(f"/r/{registration.token}")
    made = await client.post(f"/r/{registration.token}/feed",
                             data={"csrf_token": csrf_from(page.text)})
    feed_path = re.search(r'href="http://testserver(/feeds/[A-Za-z0-9_-]+\.ics)"', made.text)
    assert feed_path is not None

    async def shown() -> tuple[set[str], set[str]]:
        plan = by_uid(assert_published((await client.get("/o/school-5.ics")).content))
        feed = by_uid(assert_published((await client.get(feed_path.group(1))).content))
        return set(plan), set(feed)

    clock.advance(timedelta(days=300))
    assert await shown() == ({earlier.uid, later.uid}, {earlier.uid, later.uid})
    clock.advance(timedelta(days=66, hours=12))  # started 365½ and 364½ days ago
    assert await shown() == ({earlier.uid, later.uid}, {earlier.uid, later.uid})
    clock.advance(timedelta(days=1))  # 366½ and 365½ days: the first is past the window
    assert await shown() == ({later.uid}, {later.uid})


def test_a_feed_streamed_in_chunks_has_the_bytes_icalendar_writes_for_the_whole() -> None:
    """Feeds are written a few components at a time (a 10,000-event feed streams); the bytes
    are those of one icalendar Calendar holding everything, each VTIMEZONE once."""
    moved = weekly_course(uid="course-2@union.example", id=2)
    moved.sessions[2].start_at += timedelta(days=1)
    webinars = [memory_webinar(), weekly_course(), moved, all_day_contest(),
                *(memory_webinar(id=10 + n, uid=f"w{n}@union.example",
                                 start_at=datetime(2027, 1, 1, tzinfo=UTC) + timedelta(hours=n))
                  for n in range(7))]
    items = [FeedItem(w, EventLinks(page_url=f"{BASE}/w/{w.id}", join_url=None),
                      ("federal", "Профсоюз")) for w in webinars]
    whole = Calendar()  # as publish_calendar built it before it streamed
    whole.add("PRODID", PRODID)
    whole.add("VERSION", "2.0")
    whole.add("CALSCALE", "GREGORIAN")
    whole.add("METHOD", "PUBLISH")
    whole.add("NAME", "План; «союз»")
    whole.add("X-WR-CALNAME", "План; «союз»")
    whole.add("REFRESH-INTERVAL", vDuration(FEED_REFRESH), parameters={"VALUE": "DURATION"})
    whole.add("X-PUBLISHED-TTL", vDuration(FEED_REFRESH))
    seen: set[str] = set()
    for component in item_components(items, organizer_email=ORGANIZER):
        if isinstance(component, Timezone):
            if str(component["TZID"]) in seen:
                continue
            seen.add(str(component["TZID"]))
        whole.add_component(component)
    expected = whole.to_ical()
    chunks = list(publish_chunks(item_components(items, organizer_email=ORGANIZER),
                                 name="План; «союз»", feed=True, batch=3))
    assert len(chunks) > 3
    assert b"".join(chunks) == expected
    assert publish_items(items, organizer_email=ORGANIZER, name="План; «союз»",
                         feed=True) == expected
    assert expected.count(b"BEGIN:VTIMEZONE") == 1
    assert check_lines(expected) == []
