"""An organization's plan for a window (a month, a quarter or the year): pure queries.

The plan holds the organization's own events (copies of higher-level items included: they are
its own rows), the events of every organization above it (each marked with its level) and the
events it joined (`Adoption` of kind "join"), with indicative (`planned`) items whose period
overlaps the window. Only what the public may see: no drafts, nothing unlisted.

One query reads the items of a window, whatever their number: it walks the
`(organization_id, start_at)` index for the window (and for the year before it, where an
indicative item of a year or a quarter may begin), with each row's organization and meeting
joined in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Adoption, Organization, Webinar
from .organizations import chain
from .periods import Period, parse_period, period_of
from .states import AdoptionKind, WebinarStatus

#: What a plan shows. Cancelled items stay (marked), so a plan does not silently shrink.
PLAN_STATUSES = (WebinarStatus.PLANNED, WebinarStatus.SCHEDULED, WebinarStatus.CANCELLED,
                 WebinarStatus.FINISHED)
#: How long before a window an indicative item may begin and still overlap it (a year's item).
LONGEST_PERIOD = timedelta(days=367)


@dataclass(frozen=True)
class PlanFilters:
    level: str | None = None
    kind: str | None = None
    organization_id: int | None = None


@dataclass(frozen=True)
class PlanItem:
    webinar: Webinar
    #: "own", "inherited" (from an organization above) or "joined" (an Adoption "join").
    source: str
    #: How many levels above the plan's organization its owner is (0: its own; -1: joined
    #: from outside the chain).
    depth: int
    #: An indicative item's period; None for a dated one.
    period: Period | None
    note: str = ""

    @property
    def organization(self) -> Organization:
        return self.webinar.organization


@dataclass
class PlanGroup:
    """A month of dated items (with the indicative items planned to that month), or the
    indicative items of a quarter or of the year, under the period's label."""

    period: Period
    items: list[PlanItem] = field(default_factory=list)

    def label(self, locale: str) -> str:
        if self.period.kind == "month":
            return format_date(self.period.start, "LLLL y", locale=locale)
        return self.period.label(locale)


def window_bounds(window: Period, zone: str) -> tuple[datetime, datetime]:
    """The window's first and last-plus-one instants in `zone`."""
    tz = ZoneInfo(zone)
    return (datetime.combine(window.start, time(), tz), datetime.combine(window.end, time(), tz))


def _span(item: PlanItem) -> int:
    return (item.period.end - item.period.start).days if item.period else 0


async def plan_items(session: AsyncSession, org: Organization, orgs: Sequence[Organization],
                     window: Period, zone: str,
                     filters: PlanFilters = PlanFilters()) -> list[PlanItem]:
    """The plan of `org` for `window` read in `zone`, by start (a longer period first)."""
    ancestors = chain(orgs, org.id)
    depth_of = {o.id: index for index, o in enumerate(ancestors)}
    start, end = window_bounds(window, zone)
    joined = and_(Adoption.webinar_id == Webinar.id, Adoption.organization_id == org.id,
                  Adoption.kind == AdoptionKind.JOIN)
    stmt = (select(Webinar, Adoption.note)
            .outerjoin(Adoption, joined)
            .where(or_(Webinar.organization_id.in_(list(depth_of)), Adoption.id.is_not(None)),
                   Webinar.visibility == "public",
                   Webinar.status.in_([str(s) for s in PLAN_STATUSES]),
                   or_(and_(Webinar.start_at >= start, Webinar.start_at < end),
                       and_(Webinar.status == WebinarStatus.PLANNED,
                            Webinar.start_at >= start - LONGEST_PERIOD,
                            Webinar.start_at < end + timedelta(days=1))))
            .order_by(Webinar.start_at, Webinar.id))
    if filters.kind is not None:
        stmt = stmt.where(Webinar.kind == filters.kind)
    if filters.organization_id is not None:
        stmt = stmt.where(Webinar.organization_id == filters.organization_id)
    if filters.level is not None:
        stmt = stmt.where(Webinar.organization_id.in_(
            [o.id for o in orgs if o.level == filters.level]))
    items: list[PlanItem] = []
    for webinar, note in (await session.execute(stmt)).unique().all():
        period = parse_period(webinar.plan_period) if (
            webinar.status == WebinarStatus.PLANNED and webinar.plan_period) else None
        if period is not None and not period.overlaps(window):
            continue
        if period is None and not start <= webinar.start_at < end:
            continue
        if note is not None and webinar.organization_id not in depth_of:
            source, depth = "joined", -1
        elif note is not None:
            source, depth = "joined", depth_of[webinar.organization_id]
        else:
            depth = depth_of[webinar.organization_id]
            source = "own" if depth == 0 else "inherited"
        items.append(PlanItem(webinar, source, depth, period, note or ""))
    items.sort(key=lambda i: (i.webinar.start_at, -_span(i), i.webinar.id))
    return items


def group_by_month(items: Sequence[PlanItem], zone: str) -> list[PlanGroup]:
    """Dated items by their month in `zone`; indicative ones under their period, the year's
    before its first quarter, a quarter's before its first month."""
    tz = ZoneInfo(zone)
    groups: dict[Period, PlanGroup] = {}
    for item in items:
        key = item.period or period_of("month", item.webinar.start_at.astimezone(tz).date())
        groups.setdefault(key, PlanGroup(key)).items.append(item)
    for group in groups.values():  # indicative items of a month first, then by start
        group.items.sort(key=lambda i: (i.period is None, i.webinar.start_at, i.webinar.id))
    return [groups[p] for p in sorted(groups, key=lambda p: (p.start, p.start - p.end))]


def rows_of(groups: Sequence[PlanGroup]) -> list[PlanItem]:
    """The items in the order the page shows them (and the exports write them)."""
    return [item for group in groups for item in group.items]


async def upcoming_counts(session: AsyncSession, now: datetime) -> dict[int, int]:
    """Upcoming public events (scheduled, not yet started) per organization, in one query."""
    rows = await session.execute(
        select(Webinar.organization_id, func.count())
        .where(Webinar.visibility == "public", Webinar.status == WebinarStatus.SCHEDULED,
               Webinar.start_at >= now)
        .group_by(Webinar.organization_id))
    return {org_id: count for org_id, count in rows.all()}


def subtree_counts(orgs: Sequence[Organization], counts: dict[int, int]) -> dict[int, int]:
    """Each organization's count summed over its subtree (`counts` from `upcoming_counts`)."""
    parent = {o.id: o.parent_id for o in orgs}
    total = {o.id: 0 for o in orgs}
    for org_id, count in counts.items():
        seen: set[int] = set()
        current: int | None = org_id
        while current is not None and current in total and current not in seen:
            seen.add(current)
            total[current] += count
            current = parent[current]
    return total
