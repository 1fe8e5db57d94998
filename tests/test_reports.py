"""Participation reports through real requests: every rolled-up count against counts made
here in plain Python over the rows the test wrote, who sees what (a school sees its own members
on a federal event and never another school's), periods, the CSV files against the page's
tables, the SVG charts, and a page whose number of queries does not grow with registrations.
SQLite and PostgreSQL (the `client` fixture)."""

from __future__ import annotations

import csv
import html
import io
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import FixedClock
from webinars.models import Account, Attendance, JoinClick, Organization, Webinar
from webinars.registrations import cancel
from webinars.runtime import Runtime

from .api_support import Api
from .factories import login, make_account, make_org, make_registration, make_token, make_webinar

SVG = "{http://www.w3.org/2000/svg}"
COUNTS = ("registered", "cancelled", "clicked", "attended")
MOSCOW = ZoneInfo("Europe/Moscow")


@dataclass
class Row:
    """One registration as the test made it."""

    webinar_id: int
    declared: int
    cancelled: bool
    clicked: bool
    attended: bool


@dataclass
class Tree:
    orgs: dict[str, Organization]
    accounts: dict[str, Account]
    webinars: dict[str, Webinar]
    rows: list[Row]

    def parent_of(self) -> dict[int, int | None]:
        return {o.id: o.parent_id for o in self.orgs.values()}

    def below(self, org_id: int) -> set[int]:
        """The organization and everything under it, walking parents (not the app's code)."""
        parents = self.parent_of()
        found = set()
        for candidate in parents:
            current: int | None = candidate
            while current is not None:
                if current == org_id:
                    found.add(candidate)
                    break
                current = parents[current]
        return found

    def above(self, org_id: int) -> set[int]:
        parents = self.parent_of()
        found, current = set(), parents[org_id]
        while current is not None:
            found.add(current)
            current = parents[current]
        return found


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=MOSCOW).astimezone(UTC)


#: Event → (organization, start, who may declare themselves on it).
EVENTS = {
    "federal-dec": ("union", at("2026-12-10"), "union"),
    "federal-jan": ("union", at("2027-01-15"), "union"),
    "north-dec": ("north", at("2026-12-12"), "north"),
    "city-dec": ("city", at("2026-12-20"), "city"),
    "south-dec": ("south", at("2026-12-15"), "south"),
    "school-jan": ("school1", at("2027-01-20"), "school1"),
}


async def build(session: AsyncSession, clock: FixedClock, per_event: int = 14,
                seed: int = 9) -> Tree:
    """union (federal) → north, south (regional); north → city (municipal) → school1, school2;
    north → school3; south → school4. Registrations declared across the tree."""
    orgs: dict[str, Organization] = {}
    for slug, parent, level, name in (
            ("union", None, "federal", "Профсоюз"), ("north", "union", "regional", "Север"),
            ("south", "union", "regional", "Юг"), ("city", "north", "municipal", "Город"),
            ("school1", "city", "primary", "Школа № 1"),
            ("school2", "city", "primary", "Школа № 2"),
            ("school3", "north", "primary", "Школа № 3"),
            ("school4", "south", "primary", "Школа № 4")):
        orgs[slug] = await make_org(session, clock, slug, name=name, level=level,
                                    parent=orgs[parent] if parent else None)
    accounts = {slug: await make_account(session, clock, orgs[slug], email=f"{slug}@u.example",
                                         name=f"Организатор {slug}")
                for slug in ("union", "north", "south", "school1")}
    tree = Tree(orgs, accounts, {}, [])
    for key, (slug, start, scope) in EVENTS.items():
        owner = accounts.get(slug) or accounts["union"]
        tree.webinars[key] = await make_webinar(session, clock, owner, orgs[slug],
                                                title=f"Событие {key}", start_at=start)
    await session.flush()
    await add_registrations(session, clock, tree, per_event, seed)
    # Someone the platform saw but who is no registrant counts nowhere.
    session.add(Attendance(webinar_id=tree.webinars["federal-dec"].id, registration_id=None,
                           participant_name="Гость", source="report",
                           joined_at=at("2026-12-10")))
    await session.commit()
    return tree


async def add_registrations(session: AsyncSession, clock: FixedClock, tree: Tree, n: int,
                            seed: int, prefix: str = "m") -> None:
    rng = random.Random(seed)
    for key, (_, _, scope) in EVENTS.items():
        webinar = tree.webinars[key]
        allowed = sorted(tree.below(tree.orgs[scope].id))
        for i in range(n):
            # Every organization at least once when there are enough, then at random.
            declared = allowed[i] if i < len(allowed) and n >= len(allowed) \
                else rng.choice(allowed)
            registration = await make_registration(
                session, clock, webinar, email=f"{prefix}{i}-{key}@school.example",
                organization_id=declared)
            cancelled, clicked, attended = (rng.random() < 0.2, rng.random() < 0.6,
                                            rng.random() < 0.4)
            if clicked:
                for _ in range(rng.randint(1, 3)):  # clicking twice is still one member
                    session.add(JoinClick(registration_id=registration.id, at=clock.now()))
            if attended:
                for _ in range(rng.randint(1, 2)):  # joined, dropped out, came back
                    session.add(Attendance(webinar_id=webinar.id,
                                           registration_id=registration.id,
                                           participant_name="Участник", source="webhook",
                                           joined_at=webinar.start_at))
            if cancelled:
                await cancel(session, clock, registration)
            tree.rows.append(Row(webinar.id, declared, cancelled, clicked, attended))


def tally(rows: list[Row]) -> dict[str, int]:
    return {"registered": sum(not r.cancelled for r in rows),
            "cancelled": sum(r.cancelled for r in rows),
            "clicked": sum(r.clicked for r in rows), "attended": sum(r.attended for r in rows)}


def visible(tree: Tree, viewer: str, months: set[str]) -> list[Row]:
    """What the viewer's report may count, by the rule in words."""
    root = tree.orgs[viewer].id
    inside, above = tree.below(root), tree.above(root)
    by_id = {w.id: w for w in tree.webinars.values()}
    result = []
    for row in tree.rows:
        webinar = by_id[row.webinar_id]
        if webinar.start_at.astimezone(MOSCOW).strftime("%Y-%m") not in months:
            continue
        if webinar.organization_id in inside or (webinar.organization_id in above
                                                 and row.declared in inside):
            result.append(row)
    return result


def expected(tree: Tree, viewer: str, months: set[str]) -> dict[str, Any]:
    rows = visible(tree, viewer, months)
    root = tree.orgs[viewer].id
    by_id = {w.id: w for w in tree.webinars.values()}
    return {
        "total": tally(rows),
        "organizations": {org_id: tally([r for r in rows if r.declared in tree.below(org_id)])
                          for org_id in tree.below(root)},
        "own": {org_id: tally([r for r in rows if r.declared == org_id])
                for org_id in tree.below(root)},
        "webinars": {w.id: tally([r for r in rows if r.webinar_id == w.id])
                     for w in tree.webinars.values()
                     if w.start_at.astimezone(MOSCOW).strftime("%Y-%m") in months
                     and w.organization_id in tree.below(root) | tree.above(root)},
        "months": {m: tally([r for r in rows
                             if by_id[r.webinar_id].start_at.astimezone(MOSCOW)
                             .strftime("%Y-%m") == m]) for m in months},
        "levels": {level: tally([r for r in rows if r.declared in tree.below(root)
                                 and next(o for o in tree.orgs.values()
                                          if o.id == r.declared).level == level])
                   for level in ("federal", "regional", "municipal", "primary")},
    }


def page_tables(text: str) -> dict[str, list[list[str]]]:
    """Each report table of the page as rows of cell texts (header first)."""
    tables = {}
    for key, body in re.findall(r'<table class="report" data-table="(\w+)">(.*?)</table>',
                                text, re.DOTALL):
        rows = []
        for tr in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL):
            rows.append([html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
                         for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.DOTALL)])
        tables[key] = rows
    return tables


def svgs(text: str) -> dict[str, ET.Element]:
    return {(root := ET.fromstring(chunk)).get("data-chart", ""): root
            for chunk in re.findall(r"<svg .*?</svg>", text, re.DOTALL)}


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


def by_name(tree: Tree) -> dict[str, int]:
    return {o.name: o.id for o in tree.orgs.values()}


# --- the numbers ---------------------------------------------------------------------------

@pytest.mark.parametrize("viewer", ["union", "north", "city", "school1", "south"])
async def test_every_rolled_up_count_matches_the_rows(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession,
    viewer: str,
) -> None:
    tree = await build(session, clock)
    account = tree.accounts.get(viewer) or tree.accounts["north"]
    token = await make_token(session, clock, account)
    await session.commit()
    api = Api(client, token)
    counted = 0
    for period, months in (("2026-12", {"2026-12"}), ("2027-Q1", {"2027-01", "2027-02",
                                                                   "2027-03"})):
        want = expected(tree, viewer, months)
        response = await api.get(f"/organizations/{tree.orgs[viewer].id}/reports",
                                 params={"period": period})
        assert response.status_code == 200, response.text
        got = response.json()
        assert got["period"] == period and got["declared_by_member"] is True
        assert got["total"] == want["total"]
        assert {o["id"]: o["total"] for o in got["organizations"]} == want["organizations"]
        assert {o["id"]: o["own"] for o in got["organizations"]} == want["own"]
        assert {w["id"]: w["counts"] for w in got["webinars"]} == want["webinars"]
        assert {m["month"]: m["counts"] for m in got["months"]} == want["months"]
        assert [m["month"] for m in got["months"]] == sorted(months)
        levels = {lv["level"]: lv["counts"] for lv in got["levels"]}
        assert levels == {k: v for k, v in want["levels"].items() if k in levels}
        # The tree comes in order, each organization under its parent, indented by depth.
        depth = {o["id"]: o["depth"] for o in got["organizations"]}
        seen: set[int] = set()
        for item in got["organizations"]:
            assert item["depth"] == 0 or (item["parent_id"] in seen
                                          and item["depth"] == depth[item["parent_id"]] + 1)
            seen.add(item["id"])
        counted += want["total"]["registered"]
    assert counted > 0  # the comparison was not between empty reports


async def test_the_page_answers_how_many_members_of_each_school_took_part(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession,
) -> None:
    tree = await build(session, clock)
    await login(client, "north@u.example")
    dashboard = await client.get("/dashboard")
    assert f'href="/organizations/{tree.orgs["north"].id}/reports"' in dashboard.text
    page = await client.get(f"/organizations/{tree.orgs['north'].id}/reports?lang=ru")
    assert page.status_code == 200
    assert "Организация — со слов участника" in page.text
    assert "декабрь 2026" in page.text  # this month by default
    tables = page_tables(page.text)
    want = expected(tree, "north", {"2026-12"})
    ids = by_name(tree)
    header, *rows = tables["organizations"]
    assert header == ["Организация", "Уровень", "Зарегистрировано", "Отменено",
                      "Перешли по ссылке входа", "Присутствовали (по данным платформы)"]
    assert [r[0] for r in rows] == ["Север", "Город", "Школа № 1", "Школа № 2", "Школа № 3"]
    for name, level, *numbers in rows:
        assert [int(n) for n in numbers] == [want["organizations"][ids[name]][c]
                                             for c in COUNTS], name
    assert rows[2][1] == "первичный"
    assert 'class="depth-2">Школа № 1' in page.text  # indented under the city
    months = tables["months"]
    assert months[1][0] == "декабрь 2026" and [int(n) for n in months[1][2:]] == [
        want["months"]["2026-12"][c] for c in COUNTS]
    webinars = {r[1]: r for r in tables["webinars"][1:]}
    assert set(webinars) == {"Событие federal-dec", "Событие north-dec", "Событие city-dec"}
    assert webinars["Событие federal-dec"][4] == "только участники из «Север»"
    assert webinars["Событие north-dec"][4] == "все зарегистрированные"


async def test_csv_files_are_the_pages_tables(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession,
) -> None:
    tree = await build(session, clock)
    await login(client, "union@u.example")
    base = f"/organizations/{tree.orgs['union'].id}/reports"
    page = page_tables((await client.get(f"{base}?period=2026-Q4&lang=en")).text)
    assert set(page) == {"organizations", "levels", "webinars", "months"}
    for table, rows in page.items():
        response = await client.get(f"{base}/{table}.csv?period=2026-Q4")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert "attachment" in response.headers["content-disposition"]
        assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel wants
        parsed = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert parsed == rows, table
        assert f'href="{base}/{table}.csv?period=2026-Q4"' in (
            await client.get(f"{base}?period=2026-Q4")).text
    assert len(page["months"]) == 1 + 3
    assert (await client.get(f"{base}/secrets.csv")).status_code == 404


async def test_charts_are_svg_with_one_bar_per_row(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession,
) -> None:
    tree = await build(session, clock)
    await login(client, "union@u.example")
    text = (await client.get(f"/organizations/{tree.orgs['union'].id}/reports?period=2026"
                             "&lang=en")).text
    assert "<script" not in text and "style=" not in text
    tables = page_tables(text)
    charts = svgs(text)
    assert set(charts) == {"organizations", "months"}
    want = expected(tree, "union", {f"2026-{m:02d}" for m in range(1, 13)})
    for key, root in charts.items():
        assert root.tag == f"{SVG}svg" and root.get("role") == "img"
        title = root.find(f"{SVG}title")
        assert title is not None and title.text and "Registered and attended" in title.text
        bars = root.findall(f"{SVG}g[@class='bar']")
        rows = tables[key][1:]
        assert len(bars) == len(rows)
        for bar, row in zip(bars, rows, strict=True):
            assert (bar.get("data-registered"), bar.get("data-attended")) == (row[-4], row[-1])
            widths = [float(r.get("width", "0")) for r in bar.findall(f"{SVG}rect")]
            assert len(widths) == 2 and widths[1] <= max(widths[0], widths[1])
    months = charts["months"].findall(f"{SVG}g[@class='bar']")
    assert len(months) == 12
    december = months[11]
    assert december.get("data-registered") == str(want["months"]["2026-12"]["registered"])
    assert float(months[0].findall(f"{SVG}rect")[0].get("width", "")) == 0  # nothing in January


# --- who sees what ---------------------------------------------------------------------------

async def test_a_school_sees_its_own_members_on_a_federal_event_and_no_one_elses(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession,
) -> None:
    tree = await build(session, clock)
    school = tree.orgs["school1"]
    federal = tree.webinars["federal-dec"]
    token = await make_token(session, clock, tree.accounts["school1"])
    await session.commit()
    mine = [r for r in tree.rows if r.webinar_id == federal.id and r.declared == school.id]
    others = [r for r in tree.rows if r.webinar_id == federal.id and r.declared != school.id]
    assert mine and others

    api = Api(client, token)
    got = (await api.get(f"/organizations/{school.id}/reports")).json()
    row = next(w for w in got["webinars"] if w["id"] == federal.id)
    assert row["higher_level"] is True and row["counts"] == tally(mine)
    assert [o["id"] for o in got["organizations"]] == [school.id]
    # The region's and the city's events are above the school too; the south's are not.
    assert {w["title"] for w in got["webinars"]} == {
        "Событие federal-dec", "Событие north-dec", "Событие city-dec"}
    assert all(w["higher_level"] for w in got["webinars"])
    for other in ("north", "city", "union", "school2", "south"):
        response = await api.get(f"/organizations/{tree.orgs[other].id}/reports")
        assert response.status_code == 403, other

    await login(client, "school1@u.example")
    page = await client.get(f"/organizations/{school.id}/reports")
    assert page.status_code == 200
    for name in ("Школа № 2", "Школа № 3", "Школа № 4", "Событие south-dec"):
        assert name not in page.text
    for other in ("north", "school2"):
        for path in (f"/organizations/{tree.orgs[other].id}/reports",
                     f"/organizations/{tree.orgs[other].id}/reports/organizations.csv"):
            response = await client.get(path)
            assert response.status_code == 403 and "Школа № 2" not in response.text


async def test_a_region_sees_its_schools_and_nothing_of_its_sibling(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession,
) -> None:
    tree = await build(session, clock)
    await login(client, "north@u.example")
    page = await client.get(f"/organizations/{tree.orgs['north'].id}/reports?period=2026-Q4")
    for name in ("Школа № 1", "Школа № 2", "Школа № 3", "Событие federal-dec"):
        assert name in page.text
    for name in ("Юг", "Школа № 4", "Событие south-dec"):
        assert name not in page.text
    south = tree.orgs["south"].id
    assert (await client.get(f"/organizations/{south}/reports")).status_code == 403
    assert (await client.get("/organizations/99999/reports")).status_code == 404
    # South's members on the federal event are not north's to count.
    federal = tree.webinars["federal-dec"].id
    north_rows = [r for r in tree.rows if r.webinar_id == federal
                  and r.declared in tree.below(tree.orgs["north"].id)]
    table = {r[1]: r for r in page_tables(page.text)["webinars"][1:]}
    assert int(table["Событие federal-dec"][5]) == tally(north_rows)["registered"]


# --- periods ---------------------------------------------------------------------------------

async def test_periods_choose_the_events_and_bad_ones_are_refused(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession,
) -> None:
    tree = await build(session, clock, per_event=3)
    token = await make_token(session, clock, tree.accounts["union"])
    await session.commit()
    api = Api(client, token)
    root = tree.orgs["union"].id

    async def titles(period: str | None) -> set[str]:
        params = {"period": period} if period else {}
        body = (await api.get(f"/organizations/{root}/reports", params=params)).json()
        return {w["title"].removeprefix("Событие ") for w in body["webinars"]}

    december = {"federal-dec", "north-dec", "city-dec", "south-dec"}
    january = {"federal-jan", "school-jan"}
    assert await titles(None) == december  # this month (the clock says 1 December 2026)
    assert await titles("2026-12") == december
    assert await titles("2026-Q4") == december
    assert await titles("2026") == december
    assert await titles("2027-01") == january
    assert await titles("2027-Q1") == january
    assert await titles("2027") == january
    assert await titles("2026-11") == set()
    body = (await api.get(f"/organizations/{root}/reports", params={"period": "2027"})).json()
    assert body["from"] == "2026-12-31T21:00:00Z" and body["to"] == "2027-12-31T21:00:00Z"
    assert len(body["months"]) == 12
    for bad in ("2026-13", "2026-Q5", "26", "2026-1", "", "2026-12\n", "1999"):
        response = await api.get(f"/organizations/{root}/reports", params={"period": bad})
        assert response.status_code == 422, bad
        assert "period" in response.json()["fields"]
    assert (await api.get(f"/organizations/{root}/reports",
                          params={"month": "2026-12"})).status_code == 422

    await login(client, "union@u.example")
    page = await client.get(f"/organizations/{root}/reports?period=2027-Q1&lang=en")
    assert 'href="?period=2026-Q4"' in page.text and 'href="?period=2027-Q2"' in page.text
    assert (await client.get(f"/organizations/{root}/reports?period=2027-Q7")).status_code \
        == 422


# --- cost ------------------------------------------------------------------------------------

async def test_the_page_costs_the_same_queries_however_many_registrations(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession,
) -> None:
    tree = await build(session, clock, per_event=2)
    await login(client, "union@u.example")
    path = f"/organizations/{tree.orgs['union'].id}/reports?period=2026-Q4"
    await client.get(path)
    with counting(runtime) as few:
        small = await client.get(path)
    await add_registrations(session, clock, tree, 25, seed=3, prefix="more")
    await session.commit()
    with counting(runtime) as many:
        large = await client.get(path)
    assert small.status_code == large.status_code == 200
    assert len(many) == len(few) <= 8
    totals = page_tables(large.text)["organizations"][1]
    assert int(totals[2]) == expected(tree, "union", {"2026-10", "2026-11", "2026-12"})[
        "total"]["registered"]
    with counting(runtime) as exported:
        await client.get(path.replace("reports?", "reports/webinars.csv?"))
    assert len(exported) == len(few)


def test_the_clock_default_month_is_the_organizations_own() -> None:
    """1 December 00:30 in Vladivostok is still 30 November in UTC."""
    from webinars.reports import Period

    instant = datetime(2026, 11, 30, 14, 30, tzinfo=UTC)
    assert Period.month_of(instant, "Asia/Vladivostok").key == "2026-12"
    assert Period.month_of(instant, "Europe/Kaliningrad").key == "2026-11"
    assert Period.parse("2026-Q4").month_keys() == ["2026-10", "2026-11", "2026-12"]
    start, end = Period.parse("2026-12").bounds("Asia/Vladivostok")
    assert (start, end - start) == (datetime(2026, 11, 30, 14, tzinfo=UTC), timedelta(days=31))
