"""Periods (issue 9, item 4): all-day contests and actions, their submission deadline and
events with no online meeting. Runs on SQLite and PostgreSQL.

The clock stands at 2026-12-01 09:00 UTC; the world is union (federal, Moscow) → north
(regional, Yekaterinburg) → north-city; union → south (Samara).
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from icalendar import Calendar
from sqlalchemy import select

from webinars.clock import FixedClock
from webinars.models import Delivery, Meeting, OutboxMessage, Registration, Webinar
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime
from workers.reconcile import reconcile_deliveries

from .api_support import Api, World, registration_body, webinar_body
from .factories import csrf_from, login
from .validators import check_icaljs, check_libical, check_lines


async def run_worker(queue: InProcessQueue) -> None:
    """What the worker does at the clock's moment: its periodic sweep queues the rows now due
    (reminders planned days ahead are not on the queue before), then the jobs run."""
    await reconcile_deliveries(queue.ctx)  # type: ignore[arg-type]
    await queue.drain()


def contest_body(world: World, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"title": "Конкурс «Профсоюзный репортёр»", "kind": "contest",
                              "all_day": True, "start_date": "2027-03-01",
                              "end_date": "2027-03-31", "deadline": "2027-03-25T18:00"}
    body = webinar_body(world.north, **{**fields, **extra})
    del body["start"], body["duration_minutes"]
    return body


async def make_contest(api: Api, world: World, **extra: Any) -> dict[str, Any]:
    response = await api.post("/webinars", json=contest_body(world, **extra))
    assert response.status_code == 201, response.text
    return dict(response.json())


def parse_ics(data: bytes) -> Any:
    return Calendar.from_ical(data).walk("VEVENT")[0]


def assert_month_long_contest(data: bytes) -> None:
    """VALUE=DATE from the first day, exclusive DTEND, TRANSPARENT, no meeting link; and the
    independent parsers agree."""
    assert check_lines(data) == []
    assert b"DTSTART;VALUE=DATE:20270301\r\n" in data
    assert b"DTEND;VALUE=DATE:20270401\r\n" in data  # the day after the 31st
    assert b"TRANSP:TRANSPARENT\r\n" in data
    assert b"CONFERENCE" not in data and b"/j/" not in data
    event = parse_ics(data)
    assert event.decoded("DTSTART") == date(2027, 3, 1)
    assert event.decoded("DTEND") == date(2027, 4, 1)
    assert str(event["LOCATION"]).endswith(str(event["URL"]))  # the page, not a meeting
    [parsed] = check_icaljs(data)
    assert parsed["start"].startswith("2027-03-01") and parsed["end"].startswith("2027-04-01")
    assert check_libical(data) == []


async def test_a_month_long_contest_through_the_api_and_its_download(
        client: httpx.AsyncClient, world: World, queue: InProcessQueue) -> None:
    api = Api(client, world.north_token)
    contest = await make_contest(api, world)
    assert contest["all_day"] is True and contest["platform"] == "none"
    assert (contest["start_date"], contest["end_date"]) == ("2027-03-01", "2027-03-31")
    # Midnight in Yekaterinburg (UTC+5) and the whole 31 days.
    assert contest["start"] == "2027-02-28T19:00:00Z"
    assert contest["end"] == "2027-03-31T19:00:00Z"
    assert contest["deadline"] == "2027-03-25T13:00:00Z"
    assert contest["meeting"] is None
    await queue.drain()

    download = await client.get(f"/w/{contest['public_id']}.ics")
    assert download.status_code == 200
    assert_month_long_contest(download.content)

    page = await client.get(f"/w/{contest['public_id']}")
    assert "с 1 по 31 марта 2027" in page.text
    assert "<dt>Срок приёма работ</dt>" in page.text
    deadline = page.text.split('<dd id="deadline">', 1)[1].split("</dd>", 1)[0]
    assert "25 марта 2027" in deadline
    assert "нет онлайн-встречи" in page.text

    feed = await client.get(f"/o/{world.north_city.slug}.ics")
    assert feed.status_code == 200
    assert b"DTSTART;VALUE=DATE:20270301" in feed.content
    assert check_libical(feed.content) == []
    check_icaljs(feed.content)


async def test_periods_are_checked_field_by_field(client: httpx.AsyncClient,
                                                  world: World) -> None:
    api = Api(client, world.north_token)
    cases = [
        ({"end_date": "2027-02-28"}, "end_date"),                   # before the start
        ({"start_date": "2026-11-30"}, "start_date"),               # in the past
        ({"end_date": "2028-03-31"}, "end_date"),                   # more than a year
        ({"start_date": "1 марта"}, "start_date"),
        ({"end_date": None}, "end_date"),
        ({"deadline": "2027-04-02T18:00"}, "deadline"),            # after the period
        ({"deadline": "2027-02-20T18:00"}, "deadline"),            # before it
        ({"reminder_offsets": [15]}, "reminder_offsets"),          # minutes, not days
    ]
    for change, field in cases:
        body = {**contest_body(world), **change}
        response = await api.post("/webinars", json=body)
        assert response.status_code == 422, (change, response.text)
        assert field in response.json()["fields"], (change, response.json())
    meeting = webinar_body(world.north, deadline="2026-12-10T15:30")
    response = await api.post("/webinars", json=meeting)
    assert response.status_code == 422 and "deadline" in response.json()["fields"]


async def test_the_invitation_carries_the_period_and_no_join_button(
        client: httpx.AsyncClient, world: World, runtime: Runtime,
        queue: InProcessQueue) -> None:
    api = Api(client, world.north_token)
    contest = await make_contest(api, world)
    registered = await api.post(f"/webinars/{contest['id']}/registrations",
                                json=registration_body())
    assert registered.status_code == 201, registered.text
    await queue.drain()
    async with runtime.sessionmaker() as session:
        [message] = (await session.scalars(select(OutboxMessage))).all()
    parsed = email.message_from_bytes(message.raw, policy=email.policy.default)
    calendar = next(p for p in parsed.walk() if p.get_content_type() == "text/calendar")
    data = calendar.get_payload(decode=True)
    assert b"METHOD:REQUEST" in data and b"ATTENDEE" in data
    assert_month_long_contest(data)
    text = next(p for p in parsed.walk() if p.get_content_type() == "text/plain").get_content()
    assert "с 1 по 31 марта 2027" in text and "Без онлайн-встречи" in text
    assert "/j/" not in text


async def test_the_deadline_is_reminded_once_a_day_before_and_follows_a_move(
        client: httpx.AsyncClient, world: World, runtime: Runtime, clock: FixedClock,
        queue: InProcessQueue) -> None:
    api = Api(client, world.north_token)
    contest = await make_contest(api, world, start_date="2026-12-05", end_date="2026-12-20",
                                 deadline="2026-12-15T18:00")
    await api.post(f"/webinars/{contest['id']}/registrations", json=registration_body())
    await queue.drain()

    async def deadline_mail() -> list[OutboxMessage]:
        async with runtime.sessionmaker() as session:
            return [m for m in (await session.scalars(select(OutboxMessage))).all()
                    if m.subject.startswith("Срок приёма работ")]

    # The deadline moves from the 15th to the 17th, 18:00 Yekaterinburg (13:00 UTC).
    moved = await api.patch(f"/webinars/{contest['id']}", json={"deadline": "2026-12-17T18:00"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["deadline"] == "2026-12-17T13:00:00Z"
    await queue.drain()
    async with runtime.sessionmaker() as session:
        rows = (await session.scalars(select(Delivery).where(Delivery.kind == "deadline")
                                      .order_by(Delivery.id))).all()
    assert [(r.status, r.due_at) for r in rows] == [
        ("superseded", datetime(2026, 12, 14, 13, 0, tzinfo=UTC)),
        ("pending", datetime(2026, 12, 16, 13, 0, tzinfo=UTC))]

    clock.set(datetime(2026, 12, 14, 13, 1, tzinfo=UTC))  # the old moment: nothing
    await run_worker(queue)
    assert await deadline_mail() == []
    clock.set(datetime(2026, 12, 16, 13, 1, tzinfo=UTC))
    await run_worker(queue)
    [sent] = await deadline_mail()
    parsed = email.message_from_bytes(sent.raw, policy=email.policy.default)
    text = next(p for p in parsed.walk() if p.get_content_type() == "text/plain").get_content()
    assert "Срок приёма работ — 17 декабря 2026 г., 18:00 ЕКБ" in text
    clock.advance(timedelta(hours=2))
    await run_worker(queue)
    assert len(await deadline_mail()) == 1


async def test_a_removed_deadline_is_not_reminded(
        client: httpx.AsyncClient, world: World, runtime: Runtime, clock: FixedClock,
        queue: InProcessQueue) -> None:
    api = Api(client, world.north_token)
    contest = await make_contest(api, world, start_date="2026-12-05", end_date="2026-12-20",
                                 deadline="2026-12-15T18:00")
    await api.post(f"/webinars/{contest['id']}/registrations", json=registration_body())
    await run_worker(queue)
    removed = await api.patch(f"/webinars/{contest['id']}", json={"deadline": None})
    assert removed.status_code == 200 and removed.json()["deadline"] is None
    await run_worker(queue)
    clock.set(datetime(2026, 12, 15, 12, 0, tzinfo=UTC))
    await run_worker(queue)
    async with runtime.sessionmaker() as session:
        kinds = {(d.kind, d.status) for d in (await session.scalars(select(Delivery))).all()}
    assert ("deadline", "sent") not in kinds and ("deadline", "superseded") in kinds


async def test_no_meeting_link_end_to_end(client: httpx.AsyncClient, world: World,
                                          runtime: Runtime, queue: InProcessQueue) -> None:
    """A one-hour event with platform "none": no meeting job, /j/ shows the event."""
    api = Api(client, world.north_token)
    made = await api.post("/webinars", json=webinar_body(world.north, platform="none"))
    assert made.status_code == 201, made.text
    webinar = made.json()
    registered = (await api.post(f"/webinars/{webinar['id']}/registrations",
                                 json=registration_body())).json()
    await run_worker(queue)
    async with runtime.sessionmaker() as session:
        meetings = (await session.scalars(
            select(Meeting).where(Meeting.webinar_id == webinar["id"]))).all()
        registration = await session.get(Registration, registered["id"])
        assert registration is not None
    assert meetings == []
    page = await client.get(f"/j/{registration.join_token}")
    assert page.status_code == 200
    assert "нет онлайн-встречи" in page.text and f"/w/{webinar['public_id']}" in page.text
    ics = await client.get(f"/r/{registration.token}.ics")
    assert b"CONFERENCE" not in ics.content and b"/j/" not in ics.content
    assert b"TRANSP:OPAQUE" in ics.content


async def test_switching_to_no_meeting_removes_the_meeting(
        client: httpx.AsyncClient, world: World, runtime: Runtime,
        queue: InProcessQueue) -> None:
    api = Api(client, world.north_token)
    webinar = (await api.post("/webinars", json=webinar_body(world.north))).json()
    await run_worker(queue)
    changed = await api.patch(f"/webinars/{webinar['id']}", json={"platform": "none"})
    assert changed.status_code == 200
    await run_worker(queue)
    async with runtime.sessionmaker() as session:
        row = await session.get(Webinar, webinar["id"])
        assert row is not None and row.meeting is not None
        assert row.meeting.status == "deleted"


async def test_a_copy_of_a_contest_is_a_period_too(client: httpx.AsyncClient, world: World,
                                                   queue: InProcessQueue) -> None:
    admin = Api(client, world.admin_token)
    body = contest_body(world, organization_id=world.union.id)
    original = (await admin.post("/webinars", json=body)).json()
    api = Api(client, world.north_token)
    copied = await api.post(f"/webinars/{original['id']}/adoptions",
                            json={"organization_id": world.north.id, "kind": "copy"})
    assert copied.status_code == 201, copied.text
    copy_id = copied.json()["copy_id"]
    copy = (await api.get(f"/webinars/{copy_id}")).json()
    assert copy["all_day"] is True and copy["platform"] == "none"
    assert (copy["start_date"], copy["end_date"]) == ("2027-03-01", "2027-03-31")
    assert copy["deadline"] == original["deadline"]


async def test_the_form_makes_a_period(client: httpx.AsyncClient, world: World,
                                       runtime: Runtime) -> None:
    await login(client, "north@union.example")
    form = await client.get("/webinars/new")
    body = {"csrf_token": csrf_from(form.text), "title": "Акция «Мой профсоюз»",
            "kind": "action", "organization_id": str(world.north.id), "timezone": "",
            "duration_minutes": "90", "platform": "none", "visibility": "public",
            "registration_open": "on", "status": "scheduled", "reminder_offsets": "",
            "all_day": "on", "start_date": "2027-03-01", "end_date": "2027-02-01"}
    refused = await client.post("/webinars/new", data=body)
    assert refused.status_code == 422 and 'data-field="end_date"' in refused.text
    made = await client.post("/webinars/new", data={**body, "end_date": "2027-03-31",
                                                    "deadline_date": "2027-03-25",
                                                    "deadline_time": "18:00"})
    assert made.status_code == 303, made.text
    async with runtime.sessionmaker() as session:
        webinar = await session.scalar(select(Webinar).where(Webinar.title.like("Акция%")))
    assert webinar is not None and webinar.all_day and webinar.end_date == date(2027, 3, 31)
    assert webinar.deadline_at == datetime(2027, 3, 25, 13, 0, tzinfo=UTC)
    edit = await client.get(f"/webinars/{webinar.id}/edit")
    assert 'name="start_date" type="date" value="2027-03-01"' in edit.text
    dashboard = await client.get("/dashboard")
    assert "с 1 по 31 марта 2027" in dashboard.text


async def test_a_running_period_is_extended_not_recreated(
        client: httpx.AsyncClient, world: World, runtime: Runtime, clock: FixedClock) -> None:
    """Ten days into a March contest, its end and deadline move; its first day stays where it
    was, and nobody can move the start to another past day or end it before today."""
    api = Api(client, world.north_token)
    contest = await make_contest(api, world)
    clock.set(datetime(2027, 3, 10, 9, 0, tzinfo=UTC))
    path = f"/webinars/{contest['id']}"
    refused = [({"start_date": "2027-03-05"}, "start_date"),   # another day, in the past
               ({"end_date": "2027-03-09"}, "end_date"),       # over before today
               ({"end_date": "2027-02-27"}, "end_date")]       # before its first day
    for change, field in refused:
        response = await api.patch(path, json=change)
        assert response.status_code == 422, (change, response.text)
        assert field in response.json()["fields"], (change, response.json())
    extended = await api.patch(path, json={"end_date": "2027-04-15",
                                           "deadline": "2027-04-10T18:00"})
    assert extended.status_code == 200, extended.text
    body = extended.json()
    assert (body["start_date"], body["end_date"]) == ("2027-03-01", "2027-04-15")
    assert (body["start"], body["end"]) == ("2027-02-28T19:00:00Z", "2027-04-15T19:00:00Z")
    assert body["deadline"] == "2027-04-10T13:00:00Z"
    assert body["sequence"] > contest["sequence"]  # calendars take it as an update
    renamed = await api.patch(path, json={"title": "Конкурс «Репортёр», продлён"})
    assert renamed.status_code == 200 and renamed.json()["end_date"] == "2027-04-15"
    download = await client.get(f"/w/{contest['public_id']}.ics")
    assert b"DTSTART;VALUE=DATE:20270301\r\n" in download.content
    assert b"DTEND;VALUE=DATE:20270416\r\n" in download.content

    await login(client, "north@union.example")
    form = await client.get(f"{path}/edit")
    assert 'name="start_date" type="date" value="2027-03-01"' in form.text
    saved = await client.post(f"{path}/edit", data={
        "csrf_token": csrf_from(form.text), "title": "Конкурс «Репортёр»", "kind": "contest",
        "organization_id": str(world.north.id), "timezone": "Asia/Yekaterinburg",
        "duration_minutes": "90", "platform": "none", "visibility": "public",
        "registration_open": "on", "status": "scheduled", "reminder_offsets": "",
        "all_day": "on", "start_date": "2027-03-01", "end_date": "2027-04-20",
        "deadline_date": "2027-04-10", "deadline_time": "18:00"})
    assert saved.status_code == 303, saved.text
    async with runtime.sessionmaker() as session:
        webinar = await session.get(Webinar, contest["id"])
    assert webinar is not None and webinar.end_date == date(2027, 4, 20)
    assert webinar.start_at == datetime(2027, 2, 28, 19, 0, tzinfo=UTC)
