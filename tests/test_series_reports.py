"""A course's attendance (issue "yearly plan", sections 3 and 5): platform visits split per
session, completion from clicks and visits together, the course report rolled up by declared
organization, who sees whom, CSV against the page, and the organization report counting a
course once. Every expected number is worked out here from the sessions each member was
*made* to attend, never by the app's rule. SQLite and PostgreSQL (the `client` fixture).

The clock stands at 2026-12-01 09:00 UTC; the course runs on Tuesdays at 15:00 in Moscow
from 12 January 2027, six sessions: the second moved to Wednesday 17:00, the fourth cancelled.
"""

from __future__ import annotations

import csv
import html
import io
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from webinars import series
from webinars.clock import FixedClock
from webinars.models import Account, Attendance, JoinClick, Organization, Webinar
from webinars.models import WebinarSession as Session
from webinars.registrations import cancel
from webinars.runtime import Runtime

from .api_support import Api
from .factories import login, make_account, make_org, make_registration, make_token, make_webinar

RULE = {"kind": "weekly", "weekday": 1, "time": "15:00", "count": 6, "from": "2027-01-11"}
MOVED, CANCELLED = 1, 3  # positions
HELD = [0, 1, 2, 4, 5]


@dataclass
class Member:
    registration_id: int
    declared: int
    cancelled: bool
    clicks: set[int] = field(default_factory=set)  # positions made to be clicked in
    visits: set[int] = field(default_factory=set)  # positions the platform reported

    @property
    def attended(self) -> set[int]:
        return self.clicks | self.visits


@dataclass
class Course:
    orgs: dict[str, Organization]
    accounts: dict[str, Account]
    webinar: Webinar
    sessions: list[Session]
    members: list[Member]


def subtree(course: Course, org_id: int) -> set[int]:
    """The organization and those below it, walking parents (not the app's code)."""
    parents = {o.id: o.parent_id for o in course.orgs.values()}
    found = set()
    for candidate in parents:
        current: int | None = candidate
        while current is not None and current != org_id:
            current = parents[current]
        if current == org_id:
            found.add(candidate)
    return found


def inside(course: Course, slug: str) -> set[int]:
    return subtree(course, course.orgs[slug].id)


async def build(session: AsyncSession, clock: FixedClock, seed: int = 5) -> Course:
    """union → north → school1, school2; union → south → school4. A federal course, members
    declared across the tree, each with the sessions they clicked in and were reported in."""
    orgs: dict[str, Organization] = {}
    for slug, parent, level, name in (
            ("union", None, "federal", "Профсоюз"), ("north", "union", "regional", "Север"),
            ("south", "union", "regional", "Юг"),
            ("school1", "north", "primary", "Школа № 1"),
            ("school2", "north", "primary", "Школа № 2"),
            ("school4", "south", "primary", "Школа № 4")):
        orgs[slug] = await make_org(session, clock, slug, name=name, level=level,
                                    parent=orgs[parent] if parent else None)
    accounts = {slug: await make_account(session, clock, orgs[slug], email=f"{slug}@u.example")
                for slug in ("union", "north", "school1", "school2")}
    webinar = await make_webinar(session, clock, accounts["union"], orgs["union"],
                                 title="Курс «Инфоповод»", duration_minutes=90,
                                 start_at=datetime(2027, 1, 12, 12, tzinfo=UTC))
    await session.flush()
    await series.set_series(session, clock, accounts["union"], webinar.id, RULE)
    await series.move_session(session, clock, accounts["union"], webinar.id, MOVED,
                              "2027-01-20T17:00")
    await series.cancel_session(session, clock, accounts["union"], webinar.id, CANCELLED)
    sessions = sorted(webinar.sessions, key=lambda s: s.position)
    rng = random.Random(seed)
    members: list[Member] = []
    declared = ["union", "north", "south", "school1", "school1", "school1", "school2",
                "school2", "school4", "school4"] * 2
    for i, slug in enumerate(declared):
        registration = await make_registration(
            session, clock, webinar, email=f"m{i}@school.example", name=f"Участник {i:02d}",
            organization_id=orgs[slug].id)
        member = Member(registration.id, orgs[slug].id, cancelled=i % 7 == 3,
                        clicks={p for p in HELD if rng.random() < 0.5},
                        visits={p for p in HELD if rng.random() < 0.4})
        if i == 0:
            member.clicks, member.visits = set(HELD), set()  # all five by clicks alone
        if i == 1:
            member.clicks, member.visits = {0, 2}, {1, 4, 5}  # all five, mixed
        add_events(session, sessions, member, rng)
        if member.cancelled:
            await cancel(session, clock, registration)
        members.append(member)
    # Someone the platform saw who is no registrant counts for no one.
    session.add(Attendance(webinar_id=webinar.id, registration_id=None, participant_name="Гость",
                           source="report", joined_at=sessions[0].start_at))
    await session.commit()
    return Course(orgs, accounts, webinar, sessions, members)


def add_events(session: AsyncSession, sessions: list[Session], member: Member,
               rng: random.Random) -> None:
    """Clicks and visits inside the sessions the member was made to attend, and noise outside
    every held session's window: before the early join, after the end, at the moved session's
    old time and in the cancelled session."""
    rid = member.registration_id
    for p in sorted(member.clicks):
        s = sessions[p]
        for minutes in rng.sample([-29, -1, 0, 45, 89], k=rng.randint(1, 2)):
            session.add(JoinClick(registration_id=rid, at=s.start_at + timedelta(minutes=minutes)))
    for p in sorted(member.visits):
        s = sessions[p]
        joined, left = rng.choice([
            (s.start_at + timedelta(minutes=5), s.start_at + timedelta(minutes=80)),
            (s.start_at - timedelta(hours=1), s.start_at - timedelta(minutes=25)),  # early
            (s.start_at + timedelta(minutes=88), None),  # still there, as reported
            (s.start_at - timedelta(hours=2), s.start_at + timedelta(hours=3))])  # whole
        session.add(Attendance(webinar_id=s.webinar_id, registration_id=rid,
                               participant_name="x", source="webhook", joined_at=joined,
                               left_at=left))
    noise = sessions[CANCELLED].start_at + timedelta(minutes=10)
    session.add(JoinClick(registration_id=rid, at=noise))
    session.add(JoinClick(registration_id=rid, at=sessions[MOVED].original_start))
    session.add(JoinClick(registration_id=rid,
                          at=sessions[0].start_at - timedelta(minutes=31)))
    first = sessions[2]
    session.add(Attendance(webinar_id=first.webinar_id, registration_id=rid,
                           participant_name="x", source="report",
                           joined_at=first.start_at + timedelta(minutes=90),
                           left_at=first.start_at + timedelta(minutes=120)))
    session.add(Attendance(webinar_id=first.webinar_id, registration_id=rid,
                           participant_name="x", source="report",
                           joined_at=noise - timedelta(minutes=5), left_at=None))


def counted(course: Course, viewer: str) -> list[Member]:
    """The viewer's members: standing registrations declared inside the viewer's subtree
    (the course is federal, above everyone but the union)."""
    scope = inside(course, viewer)
    return [m for m in course.members if not m.cancelled
            and (viewer == "union" or m.declared in scope)]


def expected_sessions(course: Course, members: list[Member]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for s in course.sessions:
        p = s.position
        numbers: dict[str, object] = (
            {"registered": len(members), "clicked": sum(p in m.clicks for m in members),
             "attended_platform": sum(p in m.visits for m in members),
             "attended": sum(p in m.attended for m in members)} if p in HELD
            else dict.fromkeys(("registered", "clicked", "attended_platform", "attended")))
        rows.append({"number": p + 1, "status": "scheduled" if p in HELD else "cancelled",
                     **numbers})
    return rows


def expected_completion(members: list[Member]) -> list[int]:
    return [sum(len(m.attended) == k for m in members) for k in range(len(HELD) + 1)]


def page_tables(text: str) -> dict[str, list[list[str]]]:
    tables = {}
    for key, body in re.findall(r'<table class="report" data-table="(\w+)">(.*?)</table>',
                                text, re.DOTALL):
        tables[key] = [[html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
                        for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.DOTALL)]
                       for tr in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL)]
    return tables


def report_path(course: Course, viewer: str) -> str:
    return f"/organizations/{course.orgs[viewer].id}/reports/series/{course.webinar.id}"


# --- the one rule --------------------------------------------------------------------------

def test_an_instant_and_a_visit_belong_to_the_sessions_whose_window_they_meet() -> None:
    base = datetime(2027, 1, 12, 12, tzinfo=UTC)
    starts = [base, base + timedelta(minutes=110), base + timedelta(hours=4),
              base + timedelta(hours=6)]  # the second's early window opens before the first ends
    sessions = [Session(position=i, start_at=start, original_start=start, duration_minutes=90,
                        status="cancelled" if i == 2 else "scheduled")
                for i, start in enumerate(starts)]
    during = series.sessions_during
    assert during(sessions, base - timedelta(minutes=30)) == {0}
    assert during(sessions, base - timedelta(minutes=31)) == set()
    assert during(sessions, base + timedelta(hours=7, minutes=30)) == set()  # the end is out
    assert during(sessions, base + timedelta(minutes=85)) == {0}  # an instant counts once
    assert during(sessions, base + timedelta(minutes=90)) == {1}
    assert during(sessions, base + timedelta(hours=4, minutes=10)) == set()  # cancelled
    assert during(sessions, base - timedelta(hours=1), base - timedelta(minutes=29)) == {0}
    assert during(sessions, base - timedelta(hours=1), base - timedelta(minutes=30)) == set()
    assert during(sessions, base, base + timedelta(hours=7)) == {0, 1, 3}  # stayed all day
    assert during(sessions, base + timedelta(minutes=10), None) == {0}  # still there
    assert series.session_of_click(sessions, base + timedelta(minutes=1)) == 0
    done = series.completion(sessions, [(7, base)], [(7, base + timedelta(hours=2), None),
                                                     (8, base + timedelta(hours=6), None)])
    assert (done[7].attended, done[7].clicked, done[7].platform, done[7].total) == (
        {0, 1}, {0}, {1}, 3)
    assert done[8].attended == {3}


# --- the numbers ---------------------------------------------------------------------------

@pytest.mark.parametrize("viewer", ["union", "north", "school1"])
async def test_the_course_report_matches_the_sessions_each_member_attended(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession,
    viewer: str,
) -> None:
    course = await build(session, clock)
    token = await make_token(session, clock, course.accounts[viewer])
    await session.commit()
    response = await Api(client, token).get(report_path(course, viewer))
    assert response.status_code == 200, response.text
    got = response.json()
    members = counted(course, viewer)
    assert members and got["members"] == len(members)
    assert got["held_sessions"] == 5 and len(got["completion"]) == 6  # "of 5", not "of 6"
    assert got["higher_level"] is (viewer != "union")
    assert [{k: v for k, v in s.items() if k != "start_at"} for s in got["sessions"]] == \
        expected_sessions(course, members)
    assert got["sessions"][MOVED]["start_at"] == "2027-01-20T14:00:00Z"
    assert got["completion"] == expected_completion(members)
    assert got["completion"][5] >= (2 if viewer == "union" else 0)
    rows = {o["id"]: o for o in got["organizations"]}
    assert set(rows) == inside(course, viewer)
    for org_id, row in rows.items():
        below = subtree(course, org_id)
        assert row["own"] == expected_completion([m for m in members if m.declared == org_id])
        assert row["total"] == expected_completion([m for m in members if m.declared in below])


async def test_a_school_sees_its_own_members_on_a_federal_course_and_no_one_elses(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession,
) -> None:
    course = await build(session, clock)
    school2_course = await make_webinar(session, clock, course.accounts["school2"],
                                        course.orgs["school2"], title="Курс школы № 2")
    await session.flush()
    await series.set_series(session, clock, course.accounts["school2"], school2_course.id,
                            RULE)
    await session.commit()
    await login(client, "school1@u.example")
    page = await client.get(report_path(course, "school1") + "?lang=ru")
    assert page.status_code == 200
    assert "Школа № 2" not in page.text and "Школа № 4" not in page.text
    mine = counted(course, "school1")
    assert f"Участники: <strong>{len(mine)}</strong>" in page.text
    organizations = page_tables(page.text)["organizations"]
    assert [row[0] for row in organizations[1:]] == ["Школа № 1"]
    # Another school's report and another school's course: refused, nothing shown.
    for path in (report_path(course, "school2"), report_path(course, "north"),
                 f"{report_path(course, 'school2')}/sessions.csv",
                 f"/organizations/{course.orgs['school1'].id}/reports/series/{school2_course.id}"):
        response = await client.get(path)
        assert response.status_code in (403, 404), path
        assert "Участник" not in response.text and "Курс школы" not in response.text
    single = course.orgs["school1"].id
    assert (await client.get(f"/organizations/{single}/reports/series/99999")).status_code \
        == 404


async def test_csv_files_are_the_pages_tables_and_the_report_is_linked(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession,
) -> None:
    course = await build(session, clock)
    await login(client, "north@u.example")
    base = report_path(course, "north")
    page = await client.get(f"{base}?lang=en")
    assert page.status_code == 200 and "<script" not in page.text and "style=" not in page.text
    tables = page_tables(page.text)
    assert set(tables) == {"sessions", "completion", "organizations"}
    for name, rows in tables.items():
        response = await client.get(f"{base}/{name}.csv?lang=en")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")))) == rows
        assert f'href="{base}/{name}.csv"' in page.text
    assert (await client.get(f"{base}/secrets.csv")).status_code == 404
    members = counted(course, "north")
    sessions = tables["sessions"]
    assert sessions[0][-4:] == ["Registered", "Clicked the join address",
                                "Attended (platform report)", "Attended (click or platform)"]
    assert sessions[CANCELLED + 1][2:] == ["cancelled", "—", "—", "—", "—"]
    assert [row[0] for row in tables["completion"]] == [
        "Sessions attended", *(f"{k} of 5" for k in range(5, -1, -1))]
    assert [int(row[1]) for row in tables["completion"][1:]] == \
        expected_completion(members)[::-1]
    assert "12 January 2027, 15:00 MSK" in sessions[1][1]  # the organization's zone (Moscow)
    # One bar per held session and one per "k of 5", with the table's numbers.
    bars = re.findall(r'<g class="bar" data-registered="(\d+)" data-attended="(\d+)">',
                      page.text)
    want = expected_sessions(course, members)
    assert bars[:5] == [(str(s["registered"]), str(s["attended"])) for s in want
                        if s["status"] == "scheduled"]
    assert [int(a) for _, a in bars[5:]] == expected_completion(members)[::-1]

    # Reached from the organization's report (the course listed once, with its sessions)...
    org_report = await client.get(f"/organizations/{course.orgs['north'].id}/reports"
                                  "?period=2027-01&lang=en")
    assert f'href="{base}"' in org_report.text
    webinars = page_tables(org_report.text)["webinars"]
    mentions = [row for row in webinars[1:] if "Инфоповод" in row[1]]
    assert len(mentions) == 1 and "course, sessions: 5" in mentions[0][1]
    assert int(mentions[0][5]) == len(members)  # one registration per member, not per session
    # ... and from the course's own series page, for its organizer.
    client.cookies.clear()
    await login(client, "union@u.example")
    series_page = await client.get(f"/webinars/{course.webinar.id}/series")
    assert (f'href="/organizations/{course.orgs["union"].id}/reports/series/'
            f'{course.webinar.id}"') in series_page.text


async def test_the_series_page_shows_seats_clicks_and_platform_per_session_and_member(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession,
) -> None:
    course = await build(session, clock)
    await login(client, "union@u.example")
    page = await client.get(f"/webinars/{course.webinar.id}/series?lang=ru")
    assert page.status_code == 200
    members = counted(course, "union")
    want = expected_sessions(course, members)

    def column(name: str) -> list[str]:
        return re.findall(rf'<td class="{name}">([^<]*)</td>', page.text)

    assert column("registered") == [str(s["registered"] or "—") for s in want]
    assert column("clicked") == [str(s["clicked"]) if s["clicked"] is not None else "—"
                                 for s in want]
    assert column("platform") == [str(s["attended_platform"])
                                  if s["attended_platform"] is not None else "—" for s in want]
    for member in members:
        row = re.search(rf'<tr data-registration="{member.registration_id}">(.*?)</tr>',
                        page.text, re.DOTALL)
        assert row is not None
        assert f'<td class="completion">{len(member.attended)} из 5</td>' in row.group(1)
        which = re.search(r'<td class="which">([^<]*)</td>', row.group(1))
        assert which is not None
        assert which.group(1) == ", ".join(str(p + 1) for p in sorted(member.attended))
    cancelled = [m for m in course.members if m.cancelled]
    assert cancelled and all(f'data-registration="{m.registration_id}"' not in page.text
                             for m in cancelled)
    # The registrants page counts the same sessions.
    registrants = await client.get(f"/webinars/{course.webinar.id}/registrants")
    assert re.findall(r'<td class="attended">([^<]*)</td>', registrants.text) == [
        str(s["attended"]) if s["attended"] is not None else "—" for s in want]
