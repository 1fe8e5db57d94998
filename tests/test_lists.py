"""Every list comes a page at a time, and a page costs the same few queries whatever the list
holds: an organization's calendar and its archive, a webinar's registrants, the dashboard and
the feeds. A bad page number is refused with a 400, never a 500."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import FixedClock
from webinars.models import Organization, Registration, Webinar
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime

from .factories import login, make_account, make_org, make_webinar
from .test_page_cache import statements


@pytest.fixture(autouse=True)
async def settle(queue: InProcessQueue) -> AsyncIterator[None]:
    yield
    await queue.drain()


def add_events(session: AsyncSession, clock: FixedClock, org: Organization, count: int, *,
               first: int = 0, days: int = 1) -> list[Webinar]:
    """`count` public events of `org`, an hour apart from `days` days ahead (negative: past)."""
    now = clock.now()
    made = [Webinar(organization_id=org.id, public_id=uuid.uuid4().hex,
                    title=f"Занятие №{first + n:05d}", description="", kind="training",
                    start_at=now + timedelta(days=days, hours=n if days > 0 else -n),
                    timezone="Europe/Moscow", duration_minutes=60, registered_count=0,
                    registration_open=True, visibility="public", platform="jitsi",
                    status="scheduled", uid=f"webinar-{uuid.uuid4()}@union.example",
                    sequence=0, reminder_offsets=[], created_at=now, updated_at=now)
            for n in range(count)]
    session.add_all(made)
    return made


def add_registrants(session: AsyncSession, clock: FixedClock, webinar: Webinar, count: int,
                    *, first: int = 0, status: str = "confirmed") -> None:
    now = clock.now()
    session.add_all(Registration(
        webinar_id=webinar.id, name=f"Участник {first + n:05d}",
        email=f"m{first + n}@school.example", email_normalized=f"m{first + n}@school.example",
        locale="ru", timezone="Europe/Moscow", status=status, token=uuid.uuid4().hex,
        join_token=uuid.uuid4().hex, created_at=now + timedelta(seconds=first + n),
        sequence_offset=0, reminders_off=False) for n in range(count))


def titles(html: str) -> list[str]:
    return re.findall(r"Занятие №(\d{5})", html)


async def test_the_calendar_shows_coming_events_a_page_at_a_time_and_the_past_in_its_archive(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock,
) -> None:
    org = await make_org(session, clock)
    add_events(session, clock, org, 120)
    add_events(session, clock, org, 60, first=500, days=-1)
    await session.commit()

    pages = [(await client.get(f"/o/union?page={n}")).text for n in (1, 2, 3)]
    assert [len(titles(p)) for p in pages] == [50, 50, 20]
    assert [t for p in pages for t in titles(p)] == [f"{n:05d}" for n in range(120)]
    assert 'href="?page=2"' in pages[0] and 'href="?page=4"' not in pages[2]
    assert all('href="/o/union/archive"' in p for p in pages)

    archive = [(await client.get(f"/o/union/archive?page={n}")).text for n in (1, 2)]
    # The latest first: the one that ended an hour ago, back to sixty hours ago.
    assert [t for p in archive for t in titles(p)] == [f"{500 + n:05d}" for n in range(60)]
    assert 'href="?page=2"' in archive[0] and 'href="?page=3"' not in archive[1]
    beyond = await client.get("/o/union/archive?page=9")
    assert beyond.status_code == 200 and titles(beyond.text) == []
    assert 'href="?page=1"' in beyond.text


@pytest.mark.parametrize("page", ["abc", "0", "-1", str(10**9), "1.5", ""])
async def test_a_bad_page_number_is_refused_with_400(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, page: str,
) -> None:
    org = await make_org(session, clock)
    await make_account(session, clock, org)
    webinar, = add_events(session, clock, org, 1)
    await session.commit()
    await login(client)
    for path in ("/o/union", "/o/union/archive", "/dashboard",
                 f"/webinars/{webinar.id}/registrants", f"/webinars/{webinar.id}/deliveries",
                 "/outbox"):
        response = await client.get(f"{path}?page={page}")
        assert response.status_code == 400, path


async def test_registrants_come_a_hundred_a_page_with_their_places_in_the_waitlist(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock,
) -> None:
    org = await make_org(session, clock)
    await make_account(session, clock, org)
    webinar, = add_events(session, clock, org, 1)
    await session.flush()
    add_registrants(session, clock, webinar, 150)
    add_registrants(session, clock, webinar, 80, first=150, status="waitlisted")
    add_registrants(session, clock, webinar, 3, first=230, status="pending")
    await session.commit()
    await login(client)
    path = f"/webinars/{webinar.id}/registrants"
    pages = [(await client.get(f"{path}?page={n}")).text for n in (1, 2, 3)]
    names = [re.findall(r"Участник (\d{5})", p) for p in pages]
    assert [len(n) for n in names] == [100, 100, 33]
    assert [n for page in names for n in page] == [f"{n:05d}" for n in range(233)]
    # Waitlisted from 150 on, each with its place in the whole line.
    def place(page: str, number: int) -> str:
        found = re.search(rf"<td>Участник {number:05d}<.*?№ (\d+)<", page, re.DOTALL)
        assert found is not None
        return found.group(1)

    assert (place(pages[1], 150), place(pages[1], 199), place(pages[2], 200)) == ("1", "50", "51")
    assert all('id="pending-count">3<' in p for p in pages)
    assert 'href="?page=3"' in pages[1] and 'href="?page=4"' not in pages[2]


async def query_counts(client: httpx.AsyncClient, runtime: Runtime, paths: list[str]
                       ) -> dict[str, int]:
    counts = {}
    for path in paths:
        with statements(runtime.engine) as seen:
            response = await client.get(path)
        assert response.status_code == 200, path
        counts[path] = len(seen)
    return counts


async def test_a_page_costs_the_same_queries_with_ten_rows_or_hundreds(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, runtime: Runtime,
) -> None:
    """Counted by the statements sent (as the page cache's test does), for the lists and feeds
    at two sizes, each with a second page: nothing is queried per row."""
    parent = await make_org(session, clock)
    org = await make_org(session, clock, "school", parent=parent, level="primary")
    await make_account(session, clock, parent)
    webinar, = add_events(session, clock, org, 1)
    await session.flush()
    paths = ["/o/school", "/o/school?page=2", "/o/school/archive", "/dashboard",
             "/dashboard?page=2", f"/webinars/{webinar.id}/registrants",
             f"/webinars/{webinar.id}/registrants?page=2", f"/webinars/{webinar.id}/deliveries",
             "/o/school.ics"]
    await session.commit()
    await login(client)
    sizes = []
    for more in (110, 400):
        add_events(session, clock, org, more // 2, first=len(sizes) * 1000)
        add_events(session, clock, parent, more // 2, first=len(sizes) * 1000 + 500, days=-1)
        add_registrants(session, clock, webinar, more, first=len(sizes) * 1000)
        webinar.title = f"Вебинар {more}"  # a new version of the feed: built afresh
        await session.commit()
        sizes.append(await query_counts(client, runtime, paths))
    assert sizes[0] == sizes[1]


async def test_events_still_running_lead_the_calendar_however_long_ago_they_began(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock,
) -> None:
    """A month-long contest that began ten days ago is on the first page, before what comes,
    though many events began since; once over it moves to the archive."""
    org = await make_org(session, clock)
    account = await make_account(session, clock, org)
    today = clock.now().date()
    await make_webinar(session, clock, account, org, title="Конкурс «Репортёр»", kind="contest",
                       all_day=True, start_date=(today + timedelta(days=2)).isoformat(),
                       end_date=(today + timedelta(days=32)).isoformat(), platform="none")
    clock.advance(timedelta(days=12))
    add_events(session, clock, org, 80, first=500, days=-1)
    add_events(session, clock, org, 60)
    await session.commit()

    first = (await client.get("/o/union")).text
    assert "Конкурс «Репортёр»" in first
    assert first.index("Конкурс «Репортёр»") < first.index("Занятие №00000")
    assert "Конкурс «Репортёр»" not in (await client.get("/o/union/archive")).text

    clock.advance(timedelta(days=22))
    assert "Конкурс «Репортёр»" not in (await client.get("/o/union")).text
    # The archive goes by start, latest first: the contest began before the 140 others.
    last = (await client.get("/o/union/archive?page=3")).text
    assert "Конкурс «Репортёр»" in last and len(titles(last)) == 40
