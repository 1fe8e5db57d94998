"""Feeds answer from their plan's version: a poll that finds nothing new is a 304 without
loading one event, an unchanged feed is served from the bytes built before, and every change a
subscriber would see (new, edited, rescheduled, cancelled events, a course's sessions, a copy
adopted into the plan, a renamed organization) gives a new ETag and the new content — never
the bytes kept from before."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
from icalendar import Calendar
from sqlalchemy.ext.asyncio import AsyncSession

from webinars import adoption, series
from webinars.clock import FixedClock
from webinars.organizations import update_organization
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.runtime import Runtime
from webinars.scheduling import cancel_webinar, update_webinar
from webinars.validation import webinar_input
from webinars.web.feeds import IcsCache

from .factories import make_registration, make_webinar
from .test_calendars import Tree, assert_published, by_uid, make_tree
from .test_page_cache import statements

PLAN = "/o/school-5.ics"


def assert_any(data: bytes) -> Calendar:
    cal = Calendar.from_ical(data)
    assert isinstance(cal, Calendar)
    return cal


async def fresh_body(client: httpx.AsyncClient, runtime: Runtime, path: str) -> bytes:
    """What the feed is when built from scratch (nothing kept from before)."""
    runtime.extra["ics_cache"] = IcsCache()
    response = await client.get(path)
    assert response.status_code == 200
    return response.content


async def test_each_change_a_subscriber_sees_gives_a_new_etag_and_the_new_content(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    tree = await make_tree(session, clock)
    webinar = await make_webinar(session, clock, tree.account, tree.region, title="Первый")
    await commit_and_enqueue(session, queue, clock)
    first = await client.get(PLAN)
    assert first.status_code == 200
    etag = first.headers["etag"]

    async def after(change: Callable[[], Awaitable[object]]) -> bytes:
        nonlocal etag
        await change()
        await commit_and_enqueue(session, queue, clock)
        polled = await client.get(PLAN, headers={"If-None-Match": etag})
        assert polled.status_code == 200, "the subscriber must get the change"
        assert polled.headers["etag"] != etag
        etag = polled.headers["etag"]
        kept = await client.get(PLAN)  # from the cache now
        assert kept.content == polled.content == await fresh_body(client, runtime, PLAN)
        return polled.content

    def edit(**values: str) -> Callable[[], Awaitable[object]]:
        data = webinar_input(values, clock, default_timezone="Europe/Moscow", partial=True)
        return lambda: update_webinar(session, clock, tree.account, webinar.id, data)

    assert "SUMMARY:Второй".encode() in await after(
        lambda: make_webinar(session, clock, tree.account, tree.federal, title="Второй"))
    assert "SUMMARY:Переименован".encode() in await after(edit(title="Переименован"))
    moved = by_uid(assert_published(await after(
        edit(start=(clock.now() + timedelta(days=9)).isoformat(timespec="minutes")))))
    assert moved[webinar.uid].decoded("DTSTART") > clock.now() + timedelta(days=8)
    body = await after(lambda: update_organization(
        session, tree.region, {tree.federal.id, tree.region.id}, name="Приморье",
        level="regional", timezone="Asia/Vladivostok", parent_id=tree.federal.id))
    assert "Приморье".encode() in body
    course = await make_webinar(session, clock, tree.account, tree.city, title="Курс",
                                start_at=clock.now() + timedelta(days=14))
    await commit_and_enqueue(session, queue, clock)
    await client.get(PLAN)
    etag = (await client.get(PLAN)).headers["etag"]
    start = (clock.now() + timedelta(days=14)).date()
    rule = {"kind": "weekly", "weekday": start.weekday(), "time": "15:00", "count": 3,
            "from": start.isoformat()}
    assert b"RRULE" in await after(
        lambda: series.set_series(session, clock, tree.account, course.id, rule))
    assert b"RECURRENCE-ID" in await after(lambda: series.move_session(
        session, clock, tree.account, course.id, 1,
        f"{start + timedelta(days=8)}T10:00"))
    shown = len(by_uid(assert_any(await fresh_body(client, runtime, PLAN))))
    assert len(by_uid(assert_any(await after(lambda: adoption.copy(
        session, clock, tree.account, webinar.id, tree.school.id, {}, {},
        uid_domain="union.example"))))) == shown + 1
    assert b"STATUS:CANCELLED" in await after(
        lambda: cancel_webinar(session, clock, tree.account, webinar.id))


async def test_a_registration_leaves_the_plan_as_it_was(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
) -> None:
    """Seats are not in a calendar: a crowd registering must not make every subscriber
    download the plan again."""
    tree = await make_tree(session, clock)
    webinar = await make_webinar(session, clock, tree.account, tree.region)
    await commit_and_enqueue(session, queue, clock)
    etag = (await client.get(PLAN)).headers["etag"]
    await make_registration(session, clock, webinar, "teacher@school.example")
    await commit_and_enqueue(session, queue, clock)
    assert (await client.get(PLAN, headers={"If-None-Match": etag})).status_code == 304


async def seed_events(session: AsyncSession, clock: FixedClock, tree: Tree, count: int) -> None:
    for n in range(count):
        await make_webinar(session, clock, tree.account, tree.region, title=f"Занятие {n}",
                           start_at=clock.now() + timedelta(days=1, hours=n))


async def test_a_poll_costs_the_same_few_queries_at_any_size_and_loads_no_event(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    tree = await make_tree(session, clock)
    costs: dict[str, list[int]] = {"304": [], "kept": []}
    for count in (2, 30):
        await seed_events(session, clock, tree, count - len(costs["304"]) * 2)
        await commit_and_enqueue(session, queue, clock)
        await queue.drain()  # the meetings' jobs: nothing else runs while a poll is counted
        built = await client.get(PLAN)
        assert len(by_uid(assert_published(built.content))) == count
        with statements(runtime.engine) as seen:
            polled = await client.get(PLAN, headers={"If-None-Match": built.headers["etag"]})
        assert polled.status_code == 304 and polled.content == b""
        costs["304"].append(len(seen))
        assert not [s for s in seen if "webinars.title" in s], "no event is loaded for a 304"
        with statements(runtime.engine) as seen:
            kept = await client.get(PLAN)
        assert kept.content == built.content
        costs["kept"].append(len(seen))
        assert not [s for s in seen if "webinars.title" in s]
    # the plan's version, and on SQLite the isolation level of the connection that reads it
    one = 1 if runtime.engine.dialect.name == "postgresql" else 2
    assert costs == {"304": [one, one], "kept": [one, one]}
