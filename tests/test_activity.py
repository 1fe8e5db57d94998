"""The activity log through real requests: who changed what, what it set off, who may read it,
and pages that cost the same number of queries however long the history. SQLite and
PostgreSQL (the `client` fixture)."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession

from webinars import activity
from webinars.clock import FixedClock
from webinars.i18n import format_when
from webinars.models import Account, Event, Organization, Webinar
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.runtime import Runtime
from webinars.states import EventKind

from .api_support import Api, World
from .factories import csrf_from, login, make_account, make_org, make_registration, make_webinar

START = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)  # 15:00 in Yekaterinburg
ZONE = "Asia/Yekaterinburg"
MEMBERS = ("Мария Иванова", "Пётр Смирнов", "Ольга Кузнецова")


@pytest.fixture(autouse=True)
async def settle(queue: InProcessQueue) -> AsyncIterator[None]:
    yield
    await queue.drain()


async def ural(session: AsyncSession, clock: FixedClock) -> tuple[Organization, Account]:
    org = await make_org(session, clock, "ural", name="Уральская организация", timezone=ZONE,
                         level="regional")
    account = await make_account(session, clock, org, name="Анна Петрова")
    return org, account


def edit_form(webinar: Webinar, csrf: str, **changes: str) -> dict[str, str]:
    return {"title": webinar.title, "description": webinar.description, "kind": webinar.kind,
            "organization_id": str(webinar.organization_id), "date": "2027-03-01",
            "time": "15:00", "timezone": ZONE, "duration_minutes": "90", "capacity": "",
            "registration_open": "on", "visibility": "public", "platform": "jitsi",
            "static_platform": "other", "static_url": "", "reminder_offsets": "1440, 15",
            "status": "scheduled", "recording_url": "", "followup_note": "",
            "csrf_token": csrf, **changes}


def event_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-event="(\d+)"', page)]


def entry_of(page: str, kind: str) -> str:
    """The table row of the (newest) entry of this kind."""
    match = re.search(rf'<tr id="event-\d+" data-event="\d+" data-kind="{re.escape(kind)}">'
                      r"(.*?)</tr>", page, re.DOTALL)
    assert match, f"no {kind} entry"
    return match.group(1)


async def test_a_reschedule_shows_who_what_and_how_many_were_told(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession,
    queue: InProcessQueue,
) -> None:
    org, account = await ural(session, clock)
    webinar = await make_webinar(session, clock, account, org, start_at=START, timezone=ZONE,
                                 reminder_offsets=[1440, 15])
    for i, name in enumerate(MEMBERS):
        await make_registration(session, clock, webinar, email=f"m{i}@school.example",
                                name=name)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()

    await login(client)
    assert f'href="/webinars/{webinar.id}/activity"' in (
        await client.get(f"/webinars/{webinar.id}")).text
    assert f'href="/organizations/{org.id}/activity"' in (await client.get("/dashboard")).text
    csrf = csrf_from((await client.get(f"/webinars/{webinar.id}/edit")).text)
    moved = await client.post(f"/webinars/{webinar.id}/edit",
                              data=edit_form(webinar, csrf, time="17:30"))
    assert moved.status_code == 303, moved.text
    await queue.drain()

    page = await client.get(f"/webinars/{webinar.id}/activity?lang=en")
    assert page.status_code == 200
    changed = entry_of(page.text, "webinar.changed")
    assert "Anna" not in changed and "Анна Петрова" in changed
    assert "Webinar changed" in changed
    assert html.escape(format_when(START, ZONE, "en")) in changed
    assert html.escape(format_when(START + timedelta(hours=2, minutes=30), ZONE, "en")) in changed
    assert "3 members told" in changed
    registered = entry_of(page.text, "registration.confirmed")
    assert "Member registered" in registered and "Ольга Кузнецова" in registered
    assert "1 member told" in registered  # the invitation (and its reminders) to her
    assert "Webinar scheduled" in page.text
    assert event_ids(page.text) == sorted(event_ids(page.text), reverse=True)  # newest first

    russian = await client.get(f"/webinars/{webinar.id}/activity?lang=ru")
    changed = entry_of(russian.text, "webinar.changed")
    assert "Мероприятие изменено" in changed and "Оповещено участников: 3" in changed
    assert html.escape(format_when(START, ZONE, "ru")) in changed
    assert "Участник зарегистрировался" in russian.text
    assert "Webinar changed" not in russian.text

    whole = await client.get(f"/organizations/{org.id}/activity")
    assert whole.status_code == 200
    assert event_ids(whole.text) == event_ids(page.text)
    assert f'href="/webinars/{webinar.id}"' in whole.text


async def test_other_organizations_logs_are_not_shown(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession,
    queue: InProcessQueue,
) -> None:
    union = await make_org(session, clock, "union", name="Профсоюз")
    north = await make_org(session, clock, "north", name="Север", parent=union,
                           level="regional")
    south = await make_org(session, clock, "south", name="Юг", parent=union, level="regional")
    top = await make_account(session, clock, union, email="top@union.example", name="Глава")
    northerner = await make_account(session, clock, north, email="n@union.example",
                                    name="Северянин")
    southerner = await make_account(session, clock, south, email="s@union.example",
                                    name="Южанин")
    secret = await make_webinar(session, clock, southerner, south, title="Тайный совет юга")
    await make_registration(session, clock, secret, name="Тайный Участник")
    await make_webinar(session, clock, northerner, north, title="Северный семинар")
    await make_webinar(session, clock, top, union, title="Общий сбор")
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()

    await login(client, "n@union.example")
    for path in (f"/webinars/{secret.id}/activity", f"/organizations/{south.id}/activity",
                 f"/organizations/{union.id}/activity", "/organizations/999999/activity",
                 "/webinars/999999/activity"):
        response = await client.get(path)
        assert response.status_code in (403, 404), path
        assert "Тайный" not in response.text and "Южанин" not in response.text
    own = await client.get(f"/organizations/{north.id}/activity")
    assert "Северный семинар" in own.text and "Тайный" not in own.text

    client.cookies.clear()
    await login(client, "top@union.example")
    above = await client.get(f"/organizations/{union.id}/activity")  # the whole subtree
    assert all(t in above.text for t in ("Тайный совет юга", "Северный семинар", "Общий сбор"))
    assert "Тайный Участник" in above.text and "Южанин" in above.text
    below = await client.get(f"/organizations/{south.id}/activity")
    assert "Тайный совет юга" in below.text and "Северный семинар" not in below.text


# --- pages ---------------------------------------------------------------------------------

async def many_events(session: AsyncSession, clock: FixedClock, n: int
                      ) -> tuple[Organization, Webinar]:
    """`n` changes of one webinar, written as the services write them (already dispatched)."""
    org, account = await ural(session, clock)
    webinar = await make_webinar(session, clock, account, org, start_at=START, timezone=ZONE)
    await session.flush()
    for i in range(n - 1):
        session.add(Event(
            kind=EventKind.WEBINAR_CHANGED.value, occurred_at=clock.now() + timedelta(minutes=i),
            organization_id=org.id, webinar_id=webinar.id, actor_id=account.id,
            data={"changed": {"capacity": {"old": i or None, "new": i + 1}}},
            dispatched_at=clock.now(), dispatch_attempts=0))
    await session.commit()
    return org, webinar


@contextmanager
def counting(runtime: Runtime) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = runtime.engine.sync_engine
    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)


async def test_pages_continue_where_the_last_one_stopped(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession,
    queue: InProcessQueue,
) -> None:
    org, webinar = await many_events(session, clock, 120)
    await login(client)
    seen: list[int] = []
    path = f"/webinars/{webinar.id}/activity"
    pages = 0
    while True:
        page = await client.get(path)
        assert page.status_code == 200, page.text
        ids = event_ids(page.text)
        assert len(ids) == (activity.PAGE_SIZE if pages < 2 else 120 - 2 * activity.PAGE_SIZE)
        seen += ids
        pages += 1
        match = re.search(r'href="\?before=(\d+)"', page.text)
        if match is None:
            break
        assert int(match.group(1)) == ids[-1]
        path = f"/webinars/{webinar.id}/activity?before={match.group(1)}"
    assert pages == 3
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 120
    assert (await client.get(f"/organizations/{org.id}/activity?before={seen[49]}")).text \
        .count("data-event=") == activity.PAGE_SIZE
    for bad in ("abc", "0", "-1", str(2**31), "1" * 40):
        assert (await client.get(f"{path.split('?')[0]}?before={bad}")).status_code == 400


@pytest.mark.parametrize("org_page", [False, True], ids=["webinar", "organization"])
async def test_a_page_costs_the_same_queries_at_10_and_at_200_events(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession,
    queue: InProcessQueue, org_page: bool,
) -> None:
    org, webinar = await many_events(session, clock, 10)
    for i in range(3):  # members told and webhooks in the page too
        await make_registration(session, clock, webinar, email=f"m{i}@school.example")
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    await login(client)
    path = f"/organizations/{org.id}/activity" if org_page else f"/webinars/{webinar.id}/activity"
    with counting(runtime) as small:
        assert (await client.get(path)).status_code == 200
    for i in range(190):
        session.add(Event(kind=EventKind.WEBINAR_CHANGED.value, occurred_at=clock.now(),
                          organization_id=org.id, webinar_id=webinar.id, actor_id=None,
                          data={"changed": {"title": {"old": f"t{i}", "new": f"t{i + 1}"}}},
                          dispatched_at=None, dispatch_attempts=1, last_error="boom"))
    await session.commit()
    with counting(runtime) as large:
        page = await client.get(path)
    assert page.status_code == 200
    assert page.text.count("data-event=") == activity.PAGE_SIZE
    assert "boom" in page.text  # a dispatch that failed shows its error
    assert len(large) == len(small), (small, large)


# --- the JSON variant ------------------------------------------------------------------------

async def test_the_api_gives_the_same_log_as_json(
    client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession, queue: InProcessQueue,
    world: World,
) -> None:
    api = Api(client, world.north_token)
    webinar = world.north_webinar
    for i, name in enumerate(MEMBERS):
        await api.post(f"/webinars/{webinar.id}/registrations",
                       json={"name": name, "email": f"m{i}@school.example"})
    moved = await api.patch(f"/webinars/{webinar.id}",
                            json={"start": "2027-03-01T12:00:00Z", "capacity": 30})
    assert moved.status_code == 200, moved.text
    await queue.drain()

    first = (await api.get(f"/webinars/{webinar.id}/activity?limit=2")).json()
    changed = first["items"][0] if first["items"][0]["kind"] == "webinar.changed" \
        else first["items"][1]
    assert changed["kind"] == "webinar.changed"
    assert changed["data"]["changed"]["start_at"]["new"] == "2027-03-01T12:00:00+00:00"
    assert changed["data"]["changed"]["capacity"] == {"old": None, "new": 30}
    assert changed["members_told"]["members"] == 3 and changed["actor"] is not None
    rest = (await api.get(f"/webinars/{webinar.id}/activity",
                          params={"before": first["next_before"]})).json()
    ids = [e["id"] for e in first["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True) and rest["next_before"] is None
    registered = [e for e in rest["items"] if e["kind"] == "registration.confirmed"]
    assert sorted(e["registrant"] for e in registered) == sorted(MEMBERS)

    assert (await api.get(f"/webinars/{webinar.id}/activity?before=x")).status_code == 422
    assert (await api.get(f"/webinars/{webinar.id}/activity?page=2")).status_code == 422
    other = Api(client, world.south_token)
    refused = await other.get(f"/webinars/{webinar.id}/activity")
    assert refused.status_code in (403, 404) and "Мария" not in refused.text
