"""Participation reports rolled up by organization: who registered, cancelled, followed their
join address and attended (where a platform reports it), over a month, a quarter or a year.

The organization a registration counts for is the one the member declared on the form
(`Registration.organization_id`): nobody checked it, and reports say so.

An organization O's report counts the events of O's subtree and those of the organizations
above O (the higher-level plan its members take part in). On its own events every
registration counts; on a higher-level event only the registrations declared inside O's
subtree do, so a school sees its own members on a federal event and never another school's.

The counting is one grouped query: a row per (webinar, declared organization) pair, however
many registrations there are. Rolling up through the tree, by level and by month then works
on those rows and on the organizations, never on registrations one by one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from .errors import NotFound, ValidationFailed
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
from .states import OrgLevel, RegistrationStatus, SessionStatus, WebinarStatus

#: "2026-12" (a month), "2026-Q4" (a quarter) or "2026" (a year); the API documents the same.
PERIOD_PATTERN = r"^2[0-9]{3}(-(0[1-9]|1[0-2])|-Q[1-4])?$"
_PERIOD_RE = re.compile(r"^(2[0-9]{3})(?:-(0[1-9]|1[0-2])|-Q([1-4]))?$")
#: Events that happen (or happened): drafts and indicative plan items take no registrations.
COUNTED_STATUSES = (WebinarStatus.SCHEDULED, WebinarStatus.FINISHED, WebinarStatus.CANCELLED)
LEVELS = tuple(level.value for level in OrgLevel)


@dataclass(frozen=True)
class Period:
    """A calendar month, quarter or year, read in an organization's zone."""

    year: int
    first_month: int
    months: int  # 1, 3 or 12

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD_RE.match(text)
        if match is None or text != match.group(0):
            raise ValidationFailed({"period": "must be a month (2026-12), a quarter (2026-Q4) "
                                              "or a year (2026)"})
        year, month, quarter = match.groups()
        if month:
            return cls(int(year), int(month), 1)
        if quarter:
            return cls(int(year), 3 * int(quarter) - 2, 3)
        return cls(int(year), 1, 12)

    @classmethod
    def month_of(cls, instant: datetime, zone: str) -> Period:
        local = instant.astimezone(ZoneInfo(zone))
        return cls(local.year, local.month, 1)

    @property
    def kind(self) -> str:
        return {1: "month", 3: "quarter"}.get(self.months, "year")

    @property
    def key(self) -> str:
        if self.months == 1:
            return f"{self.year}-{self.first_month:02d}"
        if self.months == 3:
            return f"{self.year}-Q{(self.first_month + 2) // 3}"
        return str(self.year)

    def month_keys(self) -> list[str]:
        return [f"{self.year}-{m:02d}"
                for m in range(self.first_month, self.first_month + self.months)]

    def bounds(self, zone: str) -> tuple[datetime, datetime]:
        """The first moment of the period and of the one after it, in UTC."""
        tz = ZoneInfo(zone)
        after = self.first_month + self.months
        start = datetime(self.year, self.first_month, 1, tzinfo=tz)
        end = (datetime(self.year, after, 1, tzinfo=tz) if after <= 12
               else datetime(self.year + 1, 1, 1, tzinfo=tz))
        return start.astimezone(UTC), end.astimezone(UTC)

    def shifted(self, steps: int) -> Period | None:
        """The period `steps` periods of the same kind later (earlier if negative)."""
        index = self.year * 12 + self.first_month - 1 + steps * self.months
        year, month = divmod(index, 12)
        return Period(year, month + 1, self.months) if 2000 <= year <= 2999 else None


@dataclass(frozen=True)
class Counts:
    registered: int = 0
    cancelled: int = 0
    clicked: int = 0
    attended: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.registered + other.registered, self.cancelled + other.cancelled,
                      self.clicked + other.clicked, self.attended + other.attended)


def summed(items: Iterable[Counts]) -> Counts:
    result = Counts()
    for item in items:
        result = result + item
    return result


@dataclass(frozen=True)
class OrganizationRow:
    id: int
    name: str
    level: str
    parent_id: int | None
    #: 0 for the report's organization, 1 for its children, ...
    depth: int
    #: Members who declared this organization itself.
    own: Counts
    #: Its own members and those of every organization below it.
    total: Counts


@dataclass(frozen=True)
class LevelRow:
    level: str
    organizations: int
    counts: Counts


@dataclass(frozen=True)
class WebinarRow:
    id: int
    title: str
    start_at: datetime
    timezone: str
    status: str
    organization_id: int
    organization_name: str
    level: str
    #: An event of an organization above the report's: only its members are counted.
    higher_level: bool
    counts: Counts
    #: Sessions held, for a course (counted once, as one event); 0 for a single event.
    sessions: int = 0


@dataclass(frozen=True)
class MonthRow:
    month: str  # "2026-12"
    webinars: int
    counts: Counts


@dataclass(frozen=True)
class Report:
    organization: Organization
    period: Period
    start: datetime
    end: datetime
    organizations: list[OrganizationRow]
    levels: list[LevelRow]
    webinars: list[WebinarRow]
    months: list[MonthRow]
    total: Counts = field(default_factory=Counts)


def parse_period(text: str | None, now: datetime, zone: str) -> Period:
    """The period asked for; none asked: the current month in the organization's zone."""
    return Period.month_of(now, zone) if text is None else Period.parse(text)


async def organization_report(session: AsyncSession, account: Account, organization_id: int,
                              period: str | None, now: datetime) -> Report:
    """O's report for `period`; NotFound / Forbidden unless the account manages O."""
    orgs = await all_organizations(session)
    by_id = {org.id: org for org in orgs}
    org = by_id.get(organization_id)
    if org is None:
        raise NotFound("no such organization")
    require_within(managed_subtree(orgs, account), org.id)
    chosen = parse_period(period, now, org.timezone)
    start, end = chosen.bounds(org.timezone)
    inside = subtree_ids(orgs, [org.id])
    above = {o.id for o in chain(orgs, org.id)[1:]}

    where = (Webinar.organization_id.in_(sorted(inside | above)),
             Webinar.status.in_([s.value for s in COUNTED_STATUSES]),
             Webinar.start_at >= start, Webinar.start_at < end)
    webinars = (await session.execute(
        select(Webinar.id, Webinar.title, Webinar.start_at, Webinar.timezone, Webinar.status,
               Webinar.organization_id)
        .where(*where).order_by(Webinar.start_at, Webinar.id))).all()

    clicked = exists().where(JoinClick.registration_id == Registration.id)
    attended = exists().where(Attendance.registration_id == Registration.id)
    grouped = (await session.execute(
        select(Registration.webinar_id, Registration.organization_id,
               func.sum(case((Registration.status == RegistrationStatus.CONFIRMED.value, 1),
                             else_=0)),
               func.sum(case((Registration.status == RegistrationStatus.CANCELLED.value, 1),
                             else_=0)),
               func.sum(case((clicked, 1), else_=0)),
               func.sum(case((attended, 1), else_=0)))
        .join(Webinar, Webinar.id == Registration.webinar_id)
        .where(*where, or_(Webinar.organization_id.in_(sorted(inside)),
                           Registration.organization_id.in_(sorted(inside))))
        .group_by(Registration.webinar_id, Registration.organization_id))).all()

    # A course is one event with one registration per member; it only says how many sessions.
    sessions: dict[int, int] = {webinar_id: n for webinar_id, n in (await session.execute(
        select(WebinarSession.webinar_id, func.count())
        .join(Webinar, Webinar.id == WebinarSession.webinar_id)
        .where(*where, WebinarSession.status == SessionStatus.SCHEDULED.value)
        .group_by(WebinarSession.webinar_id))).all()}
    per_webinar: dict[int, Counts] = {}
    own: dict[int, Counts] = {}
    for webinar_id, declared, *numbers in grouped:  # one row per (webinar, organization)
        counts = Counts(*(int(n or 0) for n in numbers))
        per_webinar[webinar_id] = per_webinar.get(webinar_id, Counts()) + counts
        if declared in inside:
            own[declared] = own.get(declared, Counts()) + counts

    webinar_rows = [
        WebinarRow(id=w.id, title=w.title, start_at=w.start_at, timezone=w.timezone,
                   status=w.status, organization_id=w.organization_id,
                   organization_name=by_id[w.organization_id].name,
                   level=by_id[w.organization_id].level,
                   higher_level=w.organization_id in above,
                   counts=per_webinar.get(w.id, Counts()), sessions=sessions.get(w.id, 0))
        for w in webinars]
    organization_rows = rolled_up(orgs, org.id, inside, own)
    months = {key: (0, Counts()) for key in chosen.month_keys()}
    zone = ZoneInfo(org.timezone)
    for row in webinar_rows:
        key = row.start_at.astimezone(zone).strftime("%Y-%m")
        if key in months:
            n, counts = months[key]
            months[key] = (n + 1, counts + row.counts)
    level_rows = []
    for level in LEVELS:
        at_level = [r for r in organization_rows if r.level == level]
        if at_level:
            level_rows.append(LevelRow(level, len(at_level), summed(r.own for r in at_level)))
    return Report(organization=org, period=chosen, start=start, end=end,
                  organizations=organization_rows, levels=level_rows, webinars=webinar_rows,
                  months=[MonthRow(key, n, counts) for key, (n, counts) in months.items()],
                  total=summed(r.counts for r in webinar_rows))


def rolled_up(orgs: Iterable[Organization], root_id: int, inside: set[int],
              own: dict[int, Counts]) -> list[OrganizationRow]:
    """The subtree in tree order (children by name), each with its own and rolled-up counts."""
    children: dict[int | None, list[Organization]] = {}
    by_id: dict[int, Organization] = {}
    for org in orgs:
        by_id[org.id] = org
        if org.id in inside and org.id != root_id:
            children.setdefault(org.parent_id, []).append(org)
    rows: list[OrganizationRow] = []

    def walk(org: Organization, depth: int) -> Counts:
        at = len(rows)
        rows.append(OrganizationRow(org.id, org.name, org.level, org.parent_id, depth,
                                    Counts(), Counts()))  # placed now, filled below
        mine = own.get(org.id, Counts())
        below = summed(walk(child, depth + 1)
                      for child in sorted(children.get(org.id, []), key=lambda o: (o.name, o.id)))
        rows[at] = OrganizationRow(org.id, org.name, org.level, org.parent_id, depth, mine,
                                   mine + below)
        return mine + below

    walk(by_id[root_id], 0)
    return rows
