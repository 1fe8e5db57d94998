"""The yearly plan: indicative items, the plan page a window at a time, its exports, and the
organization tree with its counts. Runs on SQLite and PostgreSQL.

The clock stands at 2026-12-01 09:00 UTC; the world is union (federal) → north (regional,
Yekaterinburg) → north-city (municipal); union → south (regional, Samara).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openpyxl
from sqlalchemy import event, select

from webinars.clock import FixedClock
from webinars.models import Adoption, Event, Organization, Webinar
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime

from .api_support import Api, World, webinar_body
from .factories import make_org, make_webinar

ROW_RE = re.compile(r'<tr class="plan-item[^"]*" data-public-id="([0-9a-f]{32})">')


def page_ids(html: str) -> list[str]:
    return ROW_RE.findall(html)


async def planned(api: Api, org: Organization, period: str, **extra: Any) -> dict[str, Any]:
    body = webinar_body(org, status="planned", plan_period=period, **extra)
    del body["start"]
    response = await api.post("/webinars", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


# --- indicative items ------------------------------------------------------------------------

async def test_a_planned_item_needs_a_period_and_no_date(client: httpx.AsyncClient,
                                                         world: World) -> None:
    api = Api(client, world.north_token)
    item = await planned(api, world.north, "2027-Q1", title="Школа пресс-секретарей")
    # No date: its start is the period's first moment in the organization's zone (Urals).
    assert item["status"] == "planned" and item["plan_period"] == "2027-Q1"
    assert item["start"] == "2026-12-31T19:00:00Z"

    cases = [
        ({"status": "planned"}, "plan_period"),                       # no period
        ({"status": "planned", "plan_period": "2027-Q5"}, "plan_period"),
        ({"status": "planned", "plan_period": "2025"}, "plan_period"),  # already over
        ({"status": "planned", "plan_period": "2027-03", "start": "2027-03-01T15:00"}, "start"),
        ({"plan_period": "2027-03", "start": "2027-03-01T15:00"}, "plan_period"),  # scheduled
    ]
    for extra, field in cases:
        body = webinar_body(world.north, **extra)
        if "start" not in extra:
            del body["start"]
        response = await api.post("/webinars", json=body)
        assert response.status_code == 422, (extra, response.text)
        assert field in response.json()["fields"], (extra, response.json())


async def test_a_planned_item_is_in_no_calendar_and_takes_no_registration(
    client: httpx.AsyncClient, world: World, runtime: Runtime, queue: InProcessQueue
) -> None:
    api = Api(client, world.admin_token)
    item = await planned(api, world.union, "2027-Q1", title="Федеральный форум")
    await queue.drain()

    page = await client.get(f"/w/{item['public_id']}")
    assert page.status_code == 200
    assert "Запланировано на I квартал 2027" in page.text
    assert 'action="/w/' not in page.text  # no registration form
    assert "Регистрация откроется, когда будет назначена дата." in page.text
    assert (await client.get(f"/w/{item['public_id']}.ics")).status_code == 404
    for slug in ("union", "north-city"):
        feed = await client.get(f"/o/{slug}.ics")
        assert item["uid"] not in feed.text
    refused = await api.post(f"/webinars/{item['id']}/registrations",
                             json={"name": "Анна", "email": "anna@school.example"})
    assert refused.status_code == 409
    # No meeting is asked for while it has no date.
    async with runtime.sessionmaker() as session:
        webinar = await session.get(Webinar, item["id"])
        assert webinar is not None and webinar.meeting is not None
        assert webinar.meeting.external_id is None and webinar.meeting.join_url is None

    # It gets its date: now it is an event like any other.
    moved = await api.patch(f"/webinars/{item['id']}",
                            json={"status": "scheduled", "start": "2027-02-10T15:00"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["plan_period"] is None
    await queue.drain()
    feed = await client.get("/o/north-city.ics")
    assert item["uid"] in feed.text
    assert (await client.get(f"/w/{item['public_id']}.ics")).status_code == 200
    async with runtime.sessionmaker() as session:
        webinar = await session.get(Webinar, item["id"])
        assert webinar is not None and webinar.meeting is not None
        assert webinar.meeting.status == "ready" and webinar.meeting.join_url
        kinds = (await session.scalars(select(Event.kind).where(
            Event.webinar_id == item["id"]).order_by(Event.id))).all()
    # Planned → scheduled is news to every handler, as a draft's scheduling is.
    assert kinds[0] == "webinar.drafted" and kinds.count("webinar.scheduled") == 1
    registered = await api.post(f"/webinars/{item['id']}/registrations",
                                json={"name": "Анна", "email": "anna@school.example"})
    assert registered.status_code == 201


async def test_the_form_plans_an_item_to_a_month(client: httpx.AsyncClient, world: World) -> None:
    from .factories import csrf_from, login

    await login(client, "north@union.example")
    form = await client.get("/webinars/new")
    data = {"csrf_token": csrf_from(form.text), "title": "Конкурс сайтов",
            "kind": "contest", "organization_id": str(world.north.id), "date": "",
            "time": "", "timezone": "", "duration_minutes": "60", "visibility": "public",
            "platform": "jitsi", "reminder_offsets": "", "status": "planned",
            "plan_period": "2027-03"}
    response = await client.post("/webinars/new", data=data)
    assert response.status_code == 303, response.text
    plan = await client.get("/o/north/plan/2027?window=2027-03")
    assert "Конкурс сайтов" in plan.text and "март 2027" in plan.text
    bad = await client.post("/webinars/new", data={**data, "plan_period": ""})
    assert bad.status_code == 422
    assert "обязательно для пункта плана без даты" in bad.text


# --- the plan page ---------------------------------------------------------------------------

async def seed_plan(client: httpx.AsyncClient, world: World, runtime: Runtime,
                    clock: FixedClock) -> dict[str, dict[str, Any]]:
    """Federal items for 2027 (dated, per quarter, per month, the whole year), a regional
    one, a city one, and a south item north-city joined."""
    admin = Api(client, world.admin_token)
    north = Api(client, world.north_token)
    south = Api(client, world.south_token)
    made: dict[str, dict[str, Any]] = {}
    made["year"] = await planned(admin, world.union, "2027", title="Год информационной работы")
    made["q1"] = await planned(admin, world.union, "2027-Q1", title="Форум I квартала")
    made["march"] = await planned(admin, world.union, "2027-03", title="Мартовская акция",
                                  kind="action")
    for key, api, org, start, kind in [
        ("fed-feb", admin, world.union, "2027-02-10T15:00", "webinar"),
        ("north-jan", north, world.north, "2027-01-20T10:00", "training"),
        ("city-mar", north, world.north_city, "2027-03-05T12:00", "contest"),
        ("south-feb", south, world.south, "2027-02-15T11:00", "webinar"),
        ("fed-may", admin, world.union, "2027-05-12T15:00", "conference"),
    ]:
        response = await api.post("/webinars",
                                  json=webinar_body(org, start=start, kind=kind,
                                                    title=f"Событие {key}"))
        assert response.status_code == 201, response.text
        made[key] = response.json()
    async with runtime.sessionmaker() as session:
        session.add(Adoption(webinar_id=made["south-feb"]["id"],
                             organization_id=world.north_city.id, kind="join",
                             note="Смотрим вместе в актовом зале", contact="",
                             created_at=clock.now()))
        await session.commit()
    return made


async def test_the_plan_of_a_quarter_with_levels_joined_and_indicative_items(
    client: httpx.AsyncClient, world: World, runtime: Runtime, clock: FixedClock
) -> None:
    made = await seed_plan(client, world, runtime, clock)
    ids = {key: item["public_id"] for key, item in made.items()}

    page = await client.get("/o/north-city/plan/2027?window=2027-Q1")
    assert page.status_code == 200
    shown = page_ids(page.text)
    # Indicative items under their period (the year's first, then the quarter's), then the
    # months, each month's indicative items before its dated ones.
    assert shown == [ids["year"], ids["q1"], ids["north-jan"], ids["fed-feb"],
                     ids["south-feb"], ids["march"], ids["city-mar"]]
    html = page.text
    groups = re.findall(r'scope="rowgroup">([^<]+)<', html)
    assert groups == ["в течение 2027 года", "I квартал 2027", "январь 2027", "февраль 2027",
                      "март 2027"]
    row = row_html(html, ids["fed-feb"])
    assert "федеральный" in row and "вышестоящая" in row
    row = row_html(html, ids["south-feb"])
    assert "присоединились" in row and "Смотрим вместе в актовом зале" in row
    assert "вышестоящая" not in row_html(html, ids["city-mar"])
    # The window's time zone is the organization's unless the reader picks one.
    assert "Екатеринбург (ЕКБ, UTC+5)" in html
    assert "10 февраля 2027 г., 17:00 ЕКБ" in row_html(html, ids["fed-feb"])  # 15:00 Moscow
    vladivostok = await client.get("/o/north-city/plan/2027?window=2027-Q1&tz=Asia/Vladivostok")
    assert "10 февраля 2027 г., 22:00 ВЛД" in row_html(vladivostok.text, ids["fed-feb"])

    # A month: the year's and the quarter's items overlap it, the May event does not.
    april = page_ids((await client.get("/o/north-city/plan/2027?window=2027-04")).text)
    assert april == [ids["year"]]
    may = page_ids((await client.get("/o/north-city/plan/2027?window=2027-05")).text)
    assert may == [ids["year"], ids["fed-may"]]
    # South's own plan has no north items, and nothing joined.
    south = page_ids((await client.get("/o/south/plan/2027?window=year")).text)
    assert ids["north-jan"] not in south and ids["city-mar"] not in south
    assert ids["south-feb"] in south and ids["year"] in south

    # Filters: by level, by kind, by organization.
    federal = page_ids((await client.get(
        "/o/north-city/plan/2027?window=2027-Q1&level=federal")).text)
    assert federal == [ids["year"], ids["q1"], ids["fed-feb"], ids["march"]]
    contests = page_ids((await client.get(
        "/o/north-city/plan/2027?window=year&kind=contest")).text)
    assert contests == [ids["city-mar"]]
    north = page_ids((await client.get(
        "/o/north-city/plan/2027?window=year&org=north")).text)
    assert north == [ids["north-jan"]]
    assert (await client.get("/o/north-city/plan/2027?level=galactic")).status_code == 422
    assert (await client.get("/o/north-city/plan/2027?window=2026-03")).status_code == 422
    assert (await client.get("/o/north-city/plan/2027?tz=Mars/Base")).status_code == 422
    assert (await client.get("/o/north-city/plan/999999")).status_code == 404
    assert (await client.get("/o/nowhere/plan")).status_code == 404

    # Previous / next windows keep the filters.
    assert 'href="/o/north-city/plan/2026?level=federal&amp;window=2026-Q4"' in (
        await client.get("/o/north-city/plan/2027?window=2027-Q1&level=federal")).text


def row_html(html: str, public_id: str) -> str:
    start = html.index(f'data-public-id="{public_id}"')
    return html[start:html.index("</tr>", start)]


async def test_the_default_window_is_this_quarter(client: httpx.AsyncClient,
                                                  world: World) -> None:
    page = await client.get("/o/north-city/plan")
    assert page.status_code == 200
    assert "IV квартал 2026" in page.text
    assert set(page_ids(page.text)) == {w.public_id for w in (
        world.federal_webinar, world.north_webinar, world.city_webinar)}
    assert 'href="/o/north-city/plan/2027?window=2027-Q1"' in page.text
    assert 'href="/o/north-city/plan/2026.csv"' in page.text


async def test_exports_carry_the_year_as_the_page_shows_it(
    client: httpx.AsyncClient, world: World, runtime: Runtime, clock: FixedClock
) -> None:
    made = await seed_plan(client, world, runtime, clock)
    for query in ("", "?level=federal", "?kind=webinar&tz=Asia/Vladivostok"):
        sep = "&" if query else "?"
        page = await client.get(f"/o/north-city/plan/2027{query}{sep}window=year")
        expected = page_ids(page.text)
        assert expected

        exported = await client.get(f"/o/north-city/plan/2027.csv{query}")
        assert exported.status_code == 200
        assert exported.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert rows[0][:2] == ["Дата", "Название"]
        assert [r[-1].rsplit("/", 1)[1] for r in rows[1:]] == expected

        book = await client.get(f"/o/north-city/plan/2027.xlsx{query}")
        assert book.status_code == 200
        sheet = openpyxl.load_workbook(io.BytesIO(book.content)).active
        assert sheet is not None
        values = list(sheet.iter_rows(values_only=True))
        assert [str(v) for v in values[0][:2]] == ["Дата", "Название"]
        assert [str(r[-1]).rsplit("/", 1)[1] for r in values[1:]] == expected
        assert [tuple("" if v is None else v for v in r[1:]) for r in values[1:]] == [
            tuple(r[1:]) for r in rows[1:]]
        assert sheet.freeze_panes == "A2"
    # Dates are real datetimes in the plan's zone; indicative items have none.
    book = await client.get("/o/north-city/plan/2027.xlsx?tz=Asia/Vladivostok")
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    by_title = {r[1]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert by_title["Событие fed-feb"][0] == datetime(2027, 2, 10, 22, 0)
    assert by_title["Форум I квартала"][0] is None
    assert by_title["Форум I квартала"][7] == "I квартал 2027"
    assert made


async def test_the_window_query_count_does_not_grow_with_the_data(
    client: httpx.AsyncClient, world: World, runtime: Runtime, clock: FixedClock
) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    async def add(n: int) -> None:
        async with runtime.sessionmaker() as session:
            account = await session.get(type(world.admin), world.admin.id)
            assert account is not None
            for i in range(n):
                await make_webinar(session, clock, account, world.union, title=f"Пункт {i}",
                                   start_at=datetime(2027, 1, 5, 9, tzinfo=UTC)
                                   + timedelta(hours=7 * i))
            await session.commit()

    async def measured() -> tuple[int, int]:
        statements.clear()
        event.listen(runtime.engine.sync_engine, "before_cursor_execute", count)
        try:
            page = await client.get("/o/north-city/plan/2027?window=2027-Q1")
        finally:
            event.remove(runtime.engine.sync_engine, "before_cursor_execute", count)
        assert page.status_code == 200
        return len(statements), len(page_ids(page.text))

    await add(5)
    few, rows_few = await measured()
    await add(60)
    many, rows_many = await measured()
    assert (rows_few, rows_many) == (5, 65)
    assert many == few


# --- /calendar: the organization tree -------------------------------------------------------

async def test_the_tree_counts_upcoming_public_events_per_branch(
    client: httpx.AsyncClient, world: World, runtime: Runtime, clock: FixedClock
) -> None:
    async with runtime.sessionmaker() as session:
        school = await make_org(session, clock, "school-7", parent=world.north_city,
                                level="primary", timezone="Asia/Yekaterinburg")
        account = await session.get(type(world.admin), world.admin.id)
        assert account is not None
        await make_webinar(session, clock, account, school, title="Школьный час")
        await make_webinar(session, clock, account, school, title="Скрытый",
                           visibility="unlisted")
        await make_webinar(session, clock, account, school, title="Черновик", status="draft")
        await session.commit()
    api = Api(client, world.admin_token)
    await planned(api, world.union, "2027")  # indicative: not an upcoming event yet

    page = await client.get("/calendar")
    assert page.status_code == 200
    shown = dict(re.findall(
        r'<li data-slug="([a-z0-9-]+)">.*?data-upcoming="(\d+)"', page.text, re.DOTALL))
    async with runtime.sessionmaker() as session:
        orgs = (await session.scalars(select(Organization))).all()
        webinars = (await session.scalars(select(Webinar))).all()
    parent = {o.id: o.parent_id for o in orgs}

    def under(org_id: int, root: int) -> bool:
        current: int | None = org_id
        while current is not None:
            if current == root:
                return True
            current = parent[current]
        return False

    expected = {o.slug: str(sum(1 for w in webinars if w.visibility == "public"
                                and w.status == "scheduled" and w.start_at >= clock.now()
                                and under(w.organization_id, o.id))) for o in orgs}
    assert shown == expected
    assert expected["union"] == "5" and expected["north"] == "3"
    assert '<details open>' in page.text and "<summary>" in page.text
    assert 'href="/o/north-city/plan"' in page.text
