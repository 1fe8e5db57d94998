"""Courses and recurring series (issue 9, item 3): one webinar, one UID, several sessions.

A weekly rule or an explicit list of local times in the webinar's zone; one session moved or
cancelled on its own; calendars with RRULE/RDATE, a compact VTIMEZONE, EXDATE and
RECURRENCE-ID overrides, checked by ical.js and libical and expanded by
`recurring-ical-events`; reminders per session. Runs on SQLite and PostgreSQL.

The clock stands at 2026-12-01 09:00 UTC.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
import recurring_ical_events
from icalendar import Calendar
from sqlalchemy import select

from webinars import calendars, series
from webinars.calendars import EventLinks, FeedItem
from webinars.clock import FixedClock
from webinars.models import (
    Delivery,
    JoinClick,
    Organization,
    OutboxMessage,
    Webinar,
    WebinarSession,
)
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime
from workers.reconcile import reconcile_deliveries

from .api_support import Api, World, registration_body, webinar_body
from .factories import csrf_from, login
from .validators import check_icaljs, check_libical, check_lines

RUSSIAN_ZONES = ["Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg",
                 "Asia/Omsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk",
                 "Asia/Vladivostok", "Asia/Magadan", "Asia/Kamchatka"]
#: Tuesdays 15:00 in Berlin for six weeks, across the switch to summer time (28 March 2027).
BERLIN_WEEKLY = {"kind": "weekly", "weekday": 1, "time": "15:00", "count": 6,
                 "from": "2027-03-15"}
BERLIN_UTC = ["2027-03-16T14:00:00Z", "2027-03-23T14:00:00Z", "2027-03-30T13:00:00Z",
              "2027-04-06T13:00:00Z", "2027-04-13T13:00:00Z", "2027-04-20T13:00:00Z"]


async def run_worker(queue: InProcessQueue) -> None:
    await reconcile_deliveries(queue.ctx)  # type: ignore[arg-type]
    await queue.drain()


async def make_course(api: Api, world: World, queue: InProcessQueue, rule: dict[str, Any], *,
                      timezone: str = "Europe/Berlin", **extra: Any) -> dict[str, Any]:
    created = await api.post("/webinars", json=webinar_body(
        world.north, title="Курс «Информационная работа»", start="2027-03-16T15:00",
        timezone=timezone, duration_minutes=90, **extra))
    assert created.status_code == 201, created.text
    made = await api.request("PUT", f"/webinars/{created.json()['id']}/series", json=rule)
    assert made.status_code == 200, made.text
    await queue.drain()  # the dispatcher takes the change before anyone registers
    return {**created.json(), "series": made.json()}


def expand(data: bytes) -> list[datetime]:
    """The series' starts as `recurring-ical-events` expands the calendar (RRULE, RDATE,
    EXDATE and RECURRENCE-ID overrides), in UTC."""
    cal = Calendar.from_ical(data)
    found = recurring_ical_events.of(cal).between(datetime(2026, 1, 1), datetime(2029, 1, 1))
    return sorted(e.decoded("DTSTART").astimezone(UTC) for e in found)


def held_starts(course: dict[str, Any]) -> list[datetime]:
    return sorted(datetime.fromisoformat(s["start"]) for s in course["sessions"]
                  if s["status"] == "scheduled")


def events_of(data: bytes) -> list[Any]:
    return list(Calendar.from_ical(data).walk("VEVENT"))


async def outbox(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.sessionmaker() as session:
        return list((await session.scalars(select(OutboxMessage)
                                           .order_by(OutboxMessage.id))).all())


def calendar_part(message: OutboxMessage) -> bytes:
    parsed = email.message_from_bytes(message.raw, policy=email.policy.default)
    part = next(p for p in parsed.walk() if p.get_content_type() == "text/calendar")
    data: bytes = part.get_payload(decode=True)
    return data


async def test_a_weekly_course_across_a_dst_change_keeps_its_local_time(
        client: httpx.AsyncClient, world: World, queue: InProcessQueue) -> None:
    api = Api(client, world.north_token)
    course = await make_course(api, world, queue, BERLIN_WEEKLY)
    sessions = course["series"]["sessions"]
    assert [s["start"] for s in sessions] == BERLIN_UTC
    assert {s["start_local"][11:] for s in sessions} == {"15:00:00+01:00", "15:00:00+02:00"}
    read = await api.get(f"/webinars/{course['id']}")
    assert read.json()["start"] == BERLIN_UTC[0]  # the series' start is its first session
    await queue.drain()

    download = await client.get(f"/w/{course['public_id']}.ics")
    data = download.content
    assert check_lines(data) == []
    [master] = events_of(data)  # one VEVENT, one UID: never six events
    assert b"DTSTART;TZID=Europe/Berlin:20270316T150000\r\n" in data
    assert b"DTEND;TZID=Europe/Berlin:20270316T163000\r\n" in data
    assert b"RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=TU\r\n" in data
    assert b"BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n" in data
    assert b"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\n" in data  # the 1970-anchored rule
    assert b"RDATE" not in data and b"Z\r\n" not in data.split(b"DTSTART;TZID")[1][:30]
    assert master["UID"] == course["uid"]
    [parsed] = check_icaljs(data)  # ical.js reads the zone from our VTIMEZONE alone
    assert [o.replace(".000Z", "Z") for o in parsed["occurrences"]] == BERLIN_UTC
    assert check_libical(data) == []
    assert [i.strftime("%Y-%m-%dT%H:%M:%SZ") for i in expand(data)] == BERLIN_UTC


@pytest.mark.parametrize("zone", [*RUSSIAN_ZONES, "Europe/Berlin", "America/New_York",
                                  "Australia/Sydney"])
def test_the_series_calendar_is_right_in_every_zone(zone: str) -> None:
    """Weekly 18:00 local for 40 weeks (across both DST changes where there are any):
    ical.js, from our VTIMEZONE only, and libical agree with zoneinfo."""
    org = Organization(id=1, slug="o", name="Орг", level="federal", timezone=zone)
    rule = series.parse_rule({"kind": "weekly", "weekday": 3, "time": "18:00", "count": 40,
                              "from": "2027-01-07"}, zone)
    starts = [series.to_utc(local, zone) for local in series.local_starts(rule)]
    webinar = Webinar(id=1, public_id="p", title="Курс", description="", kind="training",
                      start_at=starts[0], timezone=zone, duration_minutes=60, status="scheduled",
                      uid="webinar-1@example.org", sequence=0, platform="jitsi",
                      all_day=False, series_rule=rule, organization=org,
                      updated_at=datetime(2026, 12, 1, tzinfo=UTC),
                      sessions=[WebinarSession(position=i, start_at=s, original_start=s,
                                               duration_minutes=60, status="scheduled")
                                for i, s in enumerate(starts)])
    item = FeedItem(webinar, EventLinks(page_url="https://w.example/w/p", join_url=None))
    data = calendars.publish_items([item], organizer_email="noreply@w.example")
    expected = [s.strftime("%Y-%m-%dT%H:%M:%S.000Z") for s in starts if s is not None]
    [parsed] = check_icaljs(data)
    assert parsed["occurrences"] == expected[:20]  # the checker lists the first twenty
    assert check_libical(data) == []
    assert [i.strftime("%Y-%m-%dT%H:%M:%S.000Z") for i in expand(data)] == expected
    assert {s.astimezone(ZoneInfo(zone)).strftime("%H:%M") for s in starts
            if s is not None} == {"18:00"}


async def test_an_explicit_list_of_dates_is_one_uid_with_rdate(
        client: httpx.AsyncClient, world: World, queue: InProcessQueue) -> None:
    api = Api(client, world.north_token)
    starts = ["2027-02-02T15:00", "2027-02-09T16:30", "2027-02-20T11:00"]
    course = await make_course(api, world, queue, {"kind": "dates", "starts": starts},
                               timezone="Europe/Moscow")
    assert [s["start"] for s in course["series"]["sessions"]] == [
        "2027-02-02T12:00:00Z", "2027-02-09T13:30:00Z", "2027-02-20T08:00:00Z"]
    data = (await client.get(f"/w/{course['public_id']}.ics")).content
    assert len(events_of(data)) == 1
    assert b"DTSTART;TZID=Europe/Moscow:20270202T150000\r\n" in data
    assert (b"RDATE;TZID=Europe/Moscow:20270202T150000,20270209T163000,20270220T110000\r\n"
            in data)
    assert b"RRULE" not in data.split(b"END:VTIMEZONE")[1]
    assert b"TZOFFSETFROM:+0300\r\nTZOFFSETTO:+0300\r\n" in data  # no DST: one STANDARD
    assert check_libical(data) == []
    [parsed] = check_icaljs(data)
    assert parsed["occurrences"] == ["2027-02-02T12:00:00.000Z", "2027-02-09T13:30:00.000Z",
                                     "2027-02-20T08:00:00.000Z"]
    assert expand(data) == held_starts(course["series"])


async def test_a_moved_and_a_cancelled_session_in_downloads_and_feeds(
        client: httpx.AsyncClient, world: World, queue: InProcessQueue) -> None:
    api = Api(client, world.north_token)
    course = await make_course(api, world, queue, BERLIN_WEEKLY)
    # Session 3 moves from Tuesday 30 March to Thursday 1 April, 17:00; session 5 is off.
    moved = await api.patch(f"/webinars/{course['id']}/sessions/3",
                            json={"start": "2027-04-01T17:00"})
    assert moved.status_code == 200, moved.text
    third = moved.json()["sessions"][2]
    assert (third["start"], third["original_start"], third["moved"]) == (
        "2027-04-01T15:00:00Z", "2027-03-30T13:00:00Z", True)
    cancelled = await api.post(f"/webinars/{course['id']}/sessions/5/cancel")
    assert cancelled.status_code == 200, cancelled.text
    after = cancelled.json()
    assert [s["status"] for s in after["sessions"]] == ["scheduled"] * 4 + [
        "cancelled", "scheduled"]
    assert after["sequence"] == course["sequence"] + 3  # the rule, the move, the cancel
    await queue.drain()

    for data in [(await client.get(f"/w/{course['public_id']}.ics")).content,
                 (await client.get(f"/o/{world.north.slug}.ics")).content]:
        assert check_lines(data) == []
        mine = [e for e in events_of(data) if e["UID"] == course["uid"]]
        assert len(mine) == 2  # the master and one override, under the one UID
        master, override = mine
        assert "RECURRENCE-ID" not in master and "RRULE" in master
        assert b"EXDATE;TZID=Europe/Berlin:20270413T150000\r\n" in data
        assert b"RECURRENCE-ID;TZID=Europe/Berlin:20270330T150000\r\n" in data
        assert override.decoded("DTSTART") == datetime(2027, 4, 1, 17, 0,
                                                       tzinfo=ZoneInfo("Europe/Berlin"))
        assert int(override["SEQUENCE"]) == int(master["SEQUENCE"]) == after["sequence"]
        assert data.count(b"BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin") == 1
        assert check_libical(data) == []
        parsed = [p for p in check_icaljs(data) if p["uid"] == course["uid"]]
        assert "2027-04-13T13:00:00.000Z" not in parsed[0]["occurrences"]  # EXDATE honoured
        assert parsed[1]["start"] == "2027-04-01T15:00:00.000Z"
        assert [s for s in expand(data) if s.year == 2027 and s.month in (3, 4)
                and s.hour in (13, 14, 15)] == held_starts(after)


async def test_invitations_and_updates_of_a_series(
        client: httpx.AsyncClient, world: World, runtime: Runtime,
        queue: InProcessQueue) -> None:
    api = Api(client, world.north_token)
    course = await make_course(api, world, queue, BERLIN_WEEKLY)
    registered = await api.post(f"/webinars/{course['id']}/registrations",
                                json=registration_body())
    assert registered.status_code == 201, registered.text
    await queue.drain()
    [invitation] = await outbox(runtime)
    data = calendar_part(invitation)
    assert b"METHOD:REQUEST" in data and b"RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=TU" in data
    [event] = events_of(data)
    assert event["UID"] == course["uid"]
    assert check_libical(data) == []
    first_sequence = int(event["SEQUENCE"])

    # One session moves: an update under the series' UID, the master plus that override.
    await api.patch(f"/webinars/{course['id']}/sessions/2", json={"start": "2027-03-24T15:00"})
    await queue.drain()
    update = calendar_part((await outbox(runtime))[-1])
    master, override = events_of(update)
    assert master["UID"] == override["UID"] == course["uid"]
    assert b"RECURRENCE-ID;TZID=Europe/Berlin:20270323T150000\r\n" in update
    assert int(master["SEQUENCE"]) == int(override["SEQUENCE"]) > first_sequence
    assert [str(e["ATTENDEE"]) for e in (master, override)] == ["mailto:anna@school.example"] * 2
    assert check_libical(update) == []
    assert len(check_icaljs(update)) == 2

    # One session is cancelled: the master with its EXDATE, SEQUENCE raised again.
    await api.post(f"/webinars/{course['id']}/sessions/6/cancel")
    await queue.drain()
    messages = await outbox(runtime)
    assert len(messages) == 3  # one message per change, never one per session
    last = calendar_part(messages[-1])
    assert b"EXDATE;TZID=Europe/Berlin:20270420T150000\r\n" in last
    assert int(events_of(last)[0]["SEQUENCE"]) > int(master["SEQUENCE"])
    assert check_libical(last) == []

    # The whole course is called off: one CANCEL of the series, the master alone.
    await api.post(f"/webinars/{course['id']}/cancel")
    await queue.drain()
    messages = await outbox(runtime)
    assert len(messages) == 4
    gone = calendar_part(messages[-1])
    [event] = events_of(gone)
    assert b"METHOD:CANCEL" in gone and str(event["STATUS"]) == "CANCELLED"
    assert event["UID"] == course["uid"] and "RRULE" in event and "VALARM" not in gone.decode()
    assert check_libical(gone) == []
    check_icaljs(gone)


async def test_reminders_per_session_follow_moves_and_cancellations(
        client: httpx.AsyncClient, world: World, runtime: Runtime, clock: FixedClock,
        queue: InProcessQueue) -> None:
    api = Api(client, world.north_token)
    course = await make_course(api, world, queue, BERLIN_WEEKLY, reminder_offsets=[60])
    await api.post(f"/webinars/{course['id']}/registrations", json=registration_body())
    await queue.drain()

    async def reminders() -> list[tuple[str, datetime]]:
        async with runtime.sessionmaker() as session:
            rows = (await session.scalars(select(Delivery).where(Delivery.kind == "reminder")
                                          .order_by(Delivery.due_at, Delivery.id))).all()
        return [(r.status, r.due_at) for r in rows]

    starts = [datetime.fromisoformat(s) for s in BERLIN_UTC]
    assert await reminders() == [("pending", s - timedelta(hours=1)) for s in starts]

    await api.patch(f"/webinars/{course['id']}/sessions/2", json={"start": "2027-03-25T10:00"})
    await api.post(f"/webinars/{course['id']}/sessions/4/cancel")
    await queue.drain()
    pending = [due for status, due in await reminders() if status == "pending"]
    moved_second = datetime(2027, 3, 25, 9, 0, tzinfo=UTC) - timedelta(hours=1)
    assert pending == sorted([starts[0] - timedelta(hours=1), moved_second,
                              starts[2] - timedelta(hours=1), starts[4] - timedelta(hours=1),
                              starts[5] - timedelta(hours=1)])

    async def reminded() -> list[str]:
        texts = []
        for m in await outbox(runtime):
            if m.subject.startswith("Напоминание"):
                parsed = email.message_from_bytes(m.raw, policy=email.policy.default)
                texts.append(next(p for p in parsed.walk()
                                  if p.get_content_type() == "text/plain").get_content())
        return texts

    clock.set(starts[0] - timedelta(minutes=59))
    await run_worker(queue)
    assert len(await reminded()) == 1
    # At the old moment of session 2 nothing is sent; at its new one, its own time is told.
    clock.set(starts[1] - timedelta(minutes=59))
    await run_worker(queue)
    assert len(await reminded()) == 1
    clock.set(moved_second + timedelta(minutes=1))
    await run_worker(queue)
    texts = await reminded()
    assert len(texts) == 2 and "25 марта 2027" in texts[1] and "16 марта" in texts[0]
    # Session 3 is reminded; the cancelled session 4's moment passes in silence.
    clock.set(starts[3] - timedelta(minutes=59))
    await run_worker(queue)
    texts = await reminded()
    assert len(texts) == 3 and "30 марта 2027" in texts[2]
    clock.set(starts[4] - timedelta(minutes=59))
    await run_worker(queue)
    assert len(await reminded()) == 4


async def test_series_input_is_checked_field_by_field(client: httpx.AsyncClient,
                                                      world: World) -> None:
    api = Api(client, world.north_token)
    created = await api.post("/webinars", json=webinar_body(
        world.north, start="2027-03-16T15:00", timezone="Europe/Berlin"))
    path = f"/webinars/{created.json()['id']}/series"
    cases = [
        ({**BERLIN_WEEKLY, "weekday": 7}, "weekday"),
        ({**BERLIN_WEEKLY, "time": "25:00"}, "time"),
        ({**BERLIN_WEEKLY, "count": 1}, "count"),
        ({**BERLIN_WEEKLY, "from": "2026-11-01"}, "from"),            # in the past
        ({"kind": "weekly", "weekday": 1, "time": "15:00", "count": 6}, "from"),
        ({"kind": "dates", "starts": ["2027-03-28T02:30", "2027-04-04T02:30"]},
         "series"),                                                   # the clocks skip it
        ({"kind": "dates", "starts": ["2027-03-01T15:00"]}, "starts"),
        ({"kind": "monthly"}, "kind"),
        ({**BERLIN_WEEKLY, "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        response = await api.request("PUT", path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in response.json()["fields"], (body, response.json())
    made = await api.request("PUT", path, json=BERLIN_WEEKLY)
    assert made.status_code == 200
    # A series' times change through its sessions, never the webinar's own start.
    moved = await api.patch(f"/webinars/{created.json()['id']}",
                            json={"start": "2027-03-17T15:00"})
    assert moved.status_code == 422 and "start" in moved.json()["fields"]
    bad_move = await api.patch(f"/webinars/{created.json()['id']}/sessions/2",
                               json={"start": "2026-11-01T15:00"})
    assert bad_move.status_code == 422 and "start" in bad_move.json()["fields"]
    missing = await api.patch(f"/webinars/{created.json()['id']}/sessions/9",
                              json={"start": "2027-05-01T15:00"})
    assert missing.status_code == 404
    other = Api(client, world.south_token)
    assert (await other.request("PUT", path, json=BERLIN_WEEKLY)).status_code == 403


async def test_one_registration_and_one_capacity_for_every_session(
        client: httpx.AsyncClient, world: World, queue: InProcessQueue) -> None:
    api = Api(client, world.north_token)
    course = await make_course(api, world, queue, BERLIN_WEEKLY, capacity=1)
    first = await api.post(f"/webinars/{course['id']}/registrations", json=registration_body())
    assert first.status_code == 201
    second = await api.post(f"/webinars/{course['id']}/registrations",
                            json=registration_body(email="boris@school.example"))
    # A seat is a seat in every session: the second waits for one.
    assert (second.status_code, second.json()["status"]) == (201, "waitlisted")


async def test_a_course_takes_registrations_until_its_last_session_begins(
        client: httpx.AsyncClient, world: World, queue: InProcessQueue,
        clock: FixedClock) -> None:
    """A late joiner still attends the sessions ahead; once the last one begins, no more."""
    api = Api(client, world.north_token)
    course = await make_course(api, world, queue, BERLIN_WEEKLY)
    starts = [datetime.fromisoformat(s) for s in BERLIN_UTC]
    clock.set(starts[2] + timedelta(minutes=10))  # the third session is on
    page = await client.get(f"/w/{course['public_id']}")
    assert 'id="state"' not in page.text and 'name="email"' in page.text
    late = await api.post(f"/webinars/{course['id']}/registrations", json=registration_body())
    assert late.status_code == 201, late.text
    clock.set(starts[5] + timedelta(minutes=1))
    closed = await api.post(f"/webinars/{course['id']}/registrations",
                            json=registration_body(email="boris@school.example"))
    assert closed.status_code == 409 and closed.json()["code"] == "closed", closed.text
    page = await client.get(f"/w/{course['public_id']}")
    assert 'id="state"' in page.text and 'name="email"' not in page.text


async def test_a_course_page_adds_every_session_to_a_calendar(
        client: httpx.AsyncClient, world: World, queue: InProcessQueue) -> None:
    """Google's link repeats by the rule in the course's zone; Outlook's deeplink cannot
    repeat, so the page offers the .ics file (every session) instead of a one-off event."""
    api = Api(client, world.north_token)
    course = await make_course(api, world, queue, BERLIN_WEEKLY)
    page = (await client.get(f"/w/{course['public_id']}")).text
    assert "outlook.live.com" not in page and 'id="series-calendar-note"' in page
    [google] = re.findall(r'href="(https://calendar\.google\.com/[^"]+)"', page)
    query = parse_qs(urlsplit(html.unescape(google)).query)
    assert (query["recur"], query["ctz"]) == (["RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=6"],
                                              ["Europe/Berlin"])
    moved = await api.request("PATCH", f"/webinars/{course['id']}/sessions/3",
                              json={"start": "2027-04-01T10:00"})
    assert moved.status_code == 200, moved.text
    page = (await client.get(f"/w/{course['public_id']}")).text
    assert "calendar.google.com/calendar/render" not in page  # no rule says it any more
    assert f"/w/{course['public_id']}.ics" in page


def test_completion_counts_the_sessions_a_member_joined() -> None:
    base = datetime(2027, 3, 16, 14, 0, tzinfo=UTC)
    sessions = [WebinarSession(position=i, start_at=base + timedelta(weeks=i),
                               original_start=base + timedelta(weeks=i), duration_minutes=90,
                               status="cancelled" if i == 3 else "scheduled")
                for i in range(6)]
    clicks = [(1, base - timedelta(minutes=10)), (1, base + timedelta(minutes=5)),  # one
              (1, base + timedelta(weeks=1, minutes=80)),
              (1, base + timedelta(weeks=3)),                   # the cancelled session
              (1, base + timedelta(weeks=4, hours=3)),          # after session 5 ended
              (2, base + timedelta(weeks=5, minutes=1))]
    done = series.completion(sessions, clicks)
    assert (sorted(done[1].attended), done[1].total) == ([0, 1], 5)
    assert (sorted(done[2].attended), done[2].total) == ([5], 5)


async def test_completion_on_the_registrants_page(
        client: httpx.AsyncClient, world: World, runtime: Runtime,
        queue: InProcessQueue) -> None:
    api = Api(client, world.north_token)
    course = await make_course(api, world, queue, BERLIN_WEEKLY)
    registered = await api.post(f"/webinars/{course['id']}/registrations",
                                json=registration_body())
    starts = [datetime.fromisoformat(s) for s in BERLIN_UTC]
    async with runtime.sessionmaker() as session:
        session.add_all([JoinClick(registration_id=registered.json()["id"], at=at)
                         for at in (starts[0], starts[1] + timedelta(minutes=3), starts[1])])
        await session.commit()
    await login(client, "north@union.example")
    page = await client.get(f"/webinars/{course['id']}/registrants")
    assert page.status_code == 200
    assert "2 из 6" in page.text
    assert [c.strip() for c in re.findall(r'<td class="attended">([^<]*)</td>', page.text)] \
        == ["1", "1", "0", "0", "0", "0"]


async def test_an_organizer_sets_moves_and_cancels_sessions_on_pages(
        client: httpx.AsyncClient, world: World, runtime: Runtime,
        queue: InProcessQueue) -> None:
    api = Api(client, world.north_token)
    created = await api.post("/webinars", json=webinar_body(
        world.north, start="2027-03-16T15:00", timezone="Europe/Berlin"))
    webinar_id = created.json()["id"]
    await login(client, "north@union.example")
    page = await client.get(f"/webinars/{webinar_id}/series")
    assert page.status_code == 200 and "Серия занятий" in page.text
    csrf = csrf_from(page.text)
    bad = await client.post(f"/webinars/{webinar_id}/series", data={
        "csrf_token": csrf, "kind": "weekly", "weekday": "1", "time": "15:00", "count": "1",
        "from": "2027-03-15"})
    assert bad.status_code == 422 and 'data-field="count"' in bad.text
    saved = await client.post(f"/webinars/{webinar_id}/series", data={
        "csrf_token": csrf, "kind": "weekly", "weekday": "1", "time": "15:00", "count": "6",
        "from": "2027-03-15"})
    assert saved.status_code == 303
    moved = await client.post(f"/webinars/{webinar_id}/sessions/3/move", data={
        "csrf_token": csrf, "date": "2027-04-01", "time": "17:00"})
    assert moved.status_code == 303
    off = await client.post(f"/webinars/{webinar_id}/sessions/5/cancel",
                            data={"csrf_token": csrf})
    assert off.status_code == 303
    read = (await api.get(f"/webinars/{webinar_id}/series")).json()
    assert [(s["start"], s["status"]) for s in read["sessions"]][2:5] == [
        ("2027-04-01T15:00:00Z", "scheduled"), ("2027-04-06T13:00:00Z", "scheduled"),
        ("2027-04-13T13:00:00Z", "cancelled")]
    page = await client.get(f"/webinars/{webinar_id}/series")
    assert "перенесено" in page.text and page.text.count("Отменить занятие") == 5
    public = await client.get(f"/w/{created.json()['public_id']}")
    assert "одна регистрация на все занятия" in public.text
    assert public.text.count("<li") >= 6 and "<s>" in public.text
