"""What comes in is cleaned or refused at the edge, never stored half-broken: bad UTF-8,
control characters, zones that are not zones, wall times a DST change skips or repeats, and a
webinar with registrants slipping back to draft. Both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import FixedClock
from webinars.mail import header_text
from webinars.models import Registration, Webinar
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime

from .api_support import Api, World, registration_body, webinar_body
from .factories import csrf_from, login, make_account, make_org
from .test_member_mail import mailbox
from .test_public_pages import open_webinar

CONTROLS = "\r\n\t\x0b\x0c\x85\u2028\u2029\u202e"


async def registrations(runtime: Runtime) -> list[Registration]:
    async with runtime.sessionmaker() as session:
        return list((await session.scalars(select(Registration).order_by(Registration.id))
                     ).all())


async def test_a_form_that_is_not_utf8_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    token = csrf_from((await client.get(f"/w/{webinar.public_id}")).text)
    head = {"Content-Type": "application/x-www-form-urlencoded"}
    for body in (b"name=%FF%FEab&email=a%40school.example&csrf_token=" + token.encode(),
                 b"name=\xd0&email=a%40school.example&csrf_token=" + token.encode()):
        answer = await client.post(f"/w/{webinar.public_id}/register", content=body,
                                   headers=head)
        assert answer.status_code == 400
    assert await registrations(runtime) == []


async def test_control_characters_leave_names_and_titles_before_they_are_stored(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue, world: World,
) -> None:
    api = Api(client, world.admin_token)
    created = await api.post("/webinars", json=webinar_body(
        world.union, title=f"Медиа{CONTROLS}школа", description="Строка 1\r\nСтрока 2\u2028"))
    assert created.status_code == 201
    assert created.json()["title"] == "Медиа школа"
    assert created.json()["description"] == "Строка 1\nСтрока 2"
    registered = await api.post(f"/webinars/{created.json()['id']}/registrations",
                                json=registration_body(name=f"Анна{CONTROLS}Петрова"))
    assert registered.status_code == 201 and registered.json()["name"] == "Анна Петрова"
    only_controls = await api.post("/webinars", json=webinar_body(world.union, title=CONTROLS))
    assert only_controls.status_code == 422 and "title" in only_controls.json()["fields"]


async def test_a_title_that_looks_like_an_encoded_word_is_encoded_not_sent_raw(
    client: httpx.AsyncClient, runtime: Runtime, queue: InProcessQueue, world: World,
) -> None:
    trap = "=?utf-8?b?0JLQt9C70L7QvA==?= free"
    assert header_text(trap) != trap and header_text(trap).startswith("=?utf-8?b?")
    api = Api(client, world.admin_token)
    created = await api.post("/webinars", json=webinar_body(world.union, title=trap))
    await api.post(f"/webinars/{created.json()['id']}/registrations",
                   json=registration_body(name="=?utf-8?q?Boss?= <ceo@evil.example>"))
    await queue.drain()
    [message] = await mailbox(runtime, "anna@school.example")
    assert message.subject == f"Приглашение: {trap}"  # shown exactly as typed
    assert message.msg["To"].addresses[0].addr_spec == "anna@school.example"


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules", "right/Europe/Moscow",
                                  "posix/Asia/Tokyo"])
async def test_zones_that_are_not_zones_are_refused(
    client: httpx.AsyncClient, world: World, zone: str
) -> None:
    api = Api(client, world.admin_token)
    answer = await api.post("/webinars", json=webinar_body(world.union, timezone=zone))
    assert answer.status_code == 422 and "timezone" in answer.json()["fields"]


# --- wall times that a DST change skips or repeats -----------------------------------------


async def test_a_time_that_does_not_exist_or_occurs_twice_is_refused_unless_its_offset_says(
    client: httpx.AsyncClient, runtime: Runtime, world: World, clock: FixedClock
) -> None:
    clock.set(datetime(2027, 1, 10, tzinfo=UTC))
    api = Api(client, world.admin_token)
    gap = await api.post("/webinars", json=webinar_body(
        world.union, start="2027-03-28T02:30", timezone="Europe/Berlin"))
    assert gap.status_code == 422
    assert "does not exist" in gap.json()["fields"]["start"]
    twice = await api.post("/webinars", json=webinar_body(
        world.union, start="2027-10-31T02:30", timezone="Europe/Berlin"))
    assert twice.status_code == 422
    assert "occurs twice" in twice.json()["fields"]["start"]
    async with runtime.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Webinar).where(
            Webinar.timezone == "Europe/Berlin")) == 0
    # The explicit choice: the second 02:30 (after the clocks went back) is +01:00.
    chosen = await api.post("/webinars", json=webinar_body(
        world.union, start="2027-10-31T02:30+01:00", timezone="Europe/Berlin"))
    assert chosen.status_code == 201
    assert chosen.json()["start"] == "2027-10-31T01:30:00Z"


async def post_new_webinar(client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock,
                           zone: str = "Europe/Moscow", **fields: str) -> httpx.Response:
    """An organizer of an organization in `zone` submits the new-webinar form."""
    async with runtime.sessionmaker() as session:
        org = await make_org(session, clock, timezone=zone)
        await make_account(session, clock, org)
        await session.commit()
    await login(client)
    token = csrf_from((await client.get("/webinars/new")).text)
    return await client.post("/webinars/new", data={
        "csrf_token": token, "title": "Вебинар", "kind": "webinar",
        "organization_id": str(org.id), "date": "2026-12-20", "time": "15:00", "timezone": "",
        "duration_minutes": "60", "visibility": "public", "platform": "jitsi",
        "status": "scheduled", "reminder_offsets": "15", "registration_open": "on", **fields})


async def test_the_form_says_why_a_skipped_time_is_refused(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    clock.set(datetime(2027, 1, 10, tzinfo=UTC))
    answer = await post_new_webinar(client, runtime, clock, "Europe/Berlin", date="2027-03-28",
                                    time="02:30")
    assert answer.status_code == 422
    assert "такого времени нет в этом часовом поясе" in answer.text


# --- draft is not an escape hatch ----------------------------------------------------------


async def test_a_webinar_with_registrants_cannot_go_back_to_draft(
    client: httpx.AsyncClient, runtime: Runtime, world: World, queue: InProcessQueue
) -> None:
    api = Api(client, world.admin_token)
    path = f"/webinars/{world.north_webinar.id}"
    await api.post(f"{path}/registrations", json=registration_body())
    refused = await api.patch(path, json={"status": "draft"})
    assert refused.status_code == 422
    assert "cannot go back to draft" in refused.json()["fields"]["status"]
    assert (await api.get(path)).json()["status"] == "scheduled"
    empty = await api.patch(f"/webinars/{world.south_webinar.id}", json={"status": "draft"})
    assert empty.status_code == 200 and empty.json()["status"] == "draft"


async def test_the_form_refuses_numbers_beyond_their_limits(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    answer = await post_new_webinar(client, runtime, clock, duration_minutes="1441",
                                    capacity="100001", reminder_offsets="43201")
    assert answer.status_code == 422
    for field in ("duration_minutes", "capacity", "reminder_offsets"):
        assert f'id="{field}-error"' in answer.text, field
    async with runtime.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Webinar)) == 0
