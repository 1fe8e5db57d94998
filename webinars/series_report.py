"""Attendance of a course, session by session and member by member, for the organizer's
series page and for a course's report rolled up by the members' declared organization.

Which session a click or a platform's visit belongs to is `series.sessions_during`; this
module loads the rows and counts. A registration counts when it stands (confirmed); "of N" is
the number of sessions held, so a cancelled session is in no one's N.

The report follows the organization reports' scope (`webinars.reports`): on a course of the
report's subtree every registration counts; on a course of an organization above it only the
members who declared an organization inside the subtree, so a school sees its own members on
a federal course and never another school's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from . import series
from .errors import NotFound
from .models import (
    Account,
    Attendance,
    JoinClick,
    Organization,
    Registration,
    Webinar,
    WebinarSession,
)
from .organizations import all_organizations, chain, managed_subtree, require_within, subtree_ids
from .reports import COUNTED_STATUSES
from .states import RegistrationStatus, SessionStatus


@dataclass(frozen=True)
class Member:
    """A standing registration and the sessions it attended."""

    id: int
    name: str
    organization_id: int | None
    done: series.Completion


@dataclass(frozen=True)
class SessionRow:
    number: int  # from 1
    start_at: datetime
    status: str
    #: Seats taken (the members counted); a seat is a seat in every session.
    registered: int
    clicked: int
    #: Members the platform reported in the meeting during this session.
    platform: int
    #: Members who clicked or whom the platform reported.
    attended: int

    @property
    def held(self) -> bool:
        return self.status == SessionStatus.SCHEDULED


@dataclass(frozen=True)
class Attendances:
    """A course's sessions and members, as the series page and the report show them."""

    sessions: list[SessionRow]
    members: list[Member]
    held: int


async def attendances(session: AsyncSession, webinar: Webinar,
                      declared_in: Collection[int] | None = None) -> Attendances:
    """The webinar's standing registrations (only those declared in `declared_in`, if given)
    with their sessions: three queries, however many members, clicks and visits."""
    where = [Registration.webinar_id == webinar.id,
             Registration.status == RegistrationStatus.CONFIRMED.value]
    if declared_in is not None:
        where.append(Registration.organization_id.in_(sorted(declared_in)))
    registrations = (await session.execute(
        select(Registration.id, Registration.name, Registration.organization_id)
        .where(*where).order_by(Registration.name, Registration.id))).all()
    clicks = (await session.execute(
        select(JoinClick.registration_id, JoinClick.at)
        .join(Registration, Registration.id == JoinClick.registration_id).where(*where))).all()
    visits = (await session.execute(
        select(Attendance.registration_id, Attendance.joined_at, Attendance.left_at)
        .join(Registration, Registration.id == Attendance.registration_id)
        .where(Attendance.webinar_id == webinar.id, *where))).all()
    done = series.completion(webinar.sessions, [(r, at) for r, at in clicks],
                             [(r, joined, left) for r, joined, left in visits if r is not None])
    held = len(series.held(webinar))
    nothing = series.Completion(0, frozenset(), held)
    members = [Member(rid, name, org_id, done.get(rid, nothing))
               for rid, name, org_id in registrations]
    return Attendances(session_rows(webinar.sessions, members), members, held)


def session_rows(sessions: Iterable[WebinarSession], members: list[Member]) -> list[SessionRow]:
    rows = []
    for item in sessions:
        p = item.position
        rows.append(SessionRow(
            number=p + 1, start_at=item.start_at, status=item.status,
            registered=len(members),
            clicked=sum(p in m.done.clicked for m in members),
            platform=sum(p in m.done.platform for m in members),
            attended=sum(p in m.done.attended for m in members)))
    return rows


def distribution(members: Iterable[Member], held: int) -> list[int]:
    """How many members attended k sessions, at index k (0..held)."""
    counts = [0] * (held + 1)
    for member in members:
        counts[min(len(member.done.attended), held)] += 1
    return counts


@dataclass(frozen=True)
class OrganizationRow:
    id: int
    name: str
    level: str
    parent_id: int | None
    depth: int
    #: Members who declared this organization itself, by sessions attended (index k).
    own: list[int]
    #: The same with every organization below it.
    total: list[int]


@dataclass(frozen=True)
class SeriesReport:
    organization: Organization
    webinar: Webinar
    #: A course of an organization above the report's: only its members are counted.
    higher_level: bool
    held: int
    sessions: list[SessionRow]
    #: Members by sessions attended, at index k (0..held).
    completion: list[int]
    organizations: list[OrganizationRow]


async def series_report(session: AsyncSession, account: Account, organization_id: int,
                        webinar_id: int) -> SeriesReport:
    """The course's report for organization O; NotFound / Forbidden unless the account
    manages O, and NotFound unless the course is O's, below O or above it."""
    orgs = await all_organizations(session)
    by_id = {org.id: org for org in orgs}
    org = by_id.get(organization_id)
    if org is None:
        raise NotFound("no such organization")
    require_within(managed_subtree(orgs, account), org.id)
    inside = subtree_ids(orgs, [org.id])
    above = {o.id for o in chain(orgs, org.id)[1:]}
    webinar = await session.get(Webinar, webinar_id)
    if (webinar is None or not series.is_series(webinar)
            or webinar.organization_id not in inside | above
            or webinar.status not in COUNTED_STATUSES):
        raise NotFound("no such course in this organization's reports")
    higher = webinar.organization_id in above
    found = await attendances(session, webinar, inside if higher else None)
    return SeriesReport(organization=org, webinar=webinar, higher_level=higher,
                        held=found.held, sessions=found.sessions,
                        completion=distribution(found.members, found.held),
                        organizations=rolled_up(orgs, org.id, inside, found))


def rolled_up(orgs: Iterable[Organization], root_id: int, inside: set[int],
              found: Attendances) -> list[OrganizationRow]:
    """The subtree in tree order (children by name), each with its own members'
    distribution and that of everything below it."""
    own: dict[int, list[int]] = {}
    for member in found.members:
        if member.organization_id in inside:
            own.setdefault(member.organization_id, [0] * (found.held + 1))
            own[member.organization_id][min(len(member.done.attended), found.held)] += 1
    children: dict[int | None, list[Organization]] = {}
    by_id: dict[int, Organization] = {}
    for org in orgs:
        by_id[org.id] = org
        if org.id in inside and org.id != root_id:
            children.setdefault(org.parent_id, []).append(org)
    rows: list[OrganizationRow] = []

    def walk(org: Organization, depth: int) -> list[int]:
        at = len(rows)
        rows.append(OrganizationRow(org.id, org.name, org.level, org.parent_id, depth, [], []))
        mine = own.get(org.id, [0] * (found.held + 1))
        total = list(mine)
        for child in sorted(children.get(org.id, []), key=lambda o: (o.name, o.id)):
            total = [a + b for a, b in zip(total, walk(child, depth + 1), strict=True)]
        rows[at] = OrganizationRow(org.id, org.name, org.level, org.parent_id, depth, mine,
                                   total)
        return total

    walk(by_id[root_id], 0)
    return rows
