"""The lists pages show, a page at a time: every one is an indexed query with a LIMIT, so a page
costs the same with ten events or ten thousand (bench/lists.py measures it).

A page is read with one row more than it shows: that row only says whether a next page exists
(no COUNT over the whole list).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .feeds import PUBLISHED_STATUSES
from .models import JoinClick, Registration, Webinar

T = TypeVar("T")
#: Events per page of an organization's calendar, its archive and the dashboard.
EVENTS_PER_PAGE = 50
#: Registrants per page of a webinar's registrants list.
REGISTRANTS_PER_PAGE = 100
#: The highest page number a list accepts (beyond it a request is refused, not run).
MAX_PAGE = 100_000


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its rows, its number (from 1) and whether another follows."""

    rows: list[T]
    number: int
    more: bool


async def page_of(session: AsyncSession, stmt: Select[Any], number: int, size: int,
                  *, scalars: bool = True) -> Page[Any]:
    stmt = stmt.offset((number - 1) * size).limit(size + 1)
    result = await session.execute(stmt)
    rows = list(result.unique().scalars().all() if scalars else result.all())
    return Page(rows[:size], number, len(rows) > size)


def public_plans(org_ids: Sequence[int]) -> Select[Any]:
    return select(Webinar).where(Webinar.organization_id.in_(list(org_ids)),
                                 Webinar.visibility == "public",
                                 Webinar.status.in_(PUBLISHED_STATUSES))


async def upcoming(session: AsyncSession, org_ids: Sequence[int], now: datetime, number: int,
                   *, public_only: bool = True, size: int = EVENTS_PER_PAGE) -> Page[Webinar]:
    """Events not over yet (those under way first), soonest first."""
    stmt = public_plans(org_ids) if public_only else select(Webinar).where(
        Webinar.organization_id.in_(list(org_ids)))
    return await page_of(session, stmt.where(Webinar.ends_at > now)
                         .order_by(Webinar.start_at, Webinar.id), number, size)


async def past(session: AsyncSession, org_ids: Sequence[int], now: datetime, number: int,
               *, public_only: bool = True, since: datetime | None = None,
               size: int = EVENTS_PER_PAGE) -> Page[Webinar]:
    """Events that are over, the latest first (the archive; the dashboard's recent ones)."""
    stmt = public_plans(org_ids) if public_only else select(Webinar).where(
        Webinar.organization_id.in_(list(org_ids)))
    stmt = stmt.where(Webinar.ends_at <= now)
    if since is not None:
        stmt = stmt.where(Webinar.ends_at >= since)
    return await page_of(session, stmt.order_by(Webinar.start_at.desc(), Webinar.id.desc()),
                         number, size)


async def registrants(session: AsyncSession, webinar_id: int, number: int,
                      size: int = REGISTRANTS_PER_PAGE) -> Page[tuple[Registration, int]]:
    """Registrations in the order they came, each with its count of join clicks."""
    clicks = (select(func.count()).select_from(JoinClick)
              .where(JoinClick.registration_id == Registration.id)
              .correlate(Registration).scalar_subquery())
    page = await page_of(session, select(Registration, clicks)
                         .where(Registration.webinar_id == webinar_id)
                         .order_by(Registration.created_at, Registration.id),
                         number, size, scalars=False)
    return Page([(r, int(n or 0)) for r, n in page.rows], page.number, page.more)


async def count_with_status(session: AsyncSession, webinar_id: int, status: str) -> int:
    return int(await session.scalar(select(func.count()).select_from(Registration).where(
        Registration.webinar_id == webinar_id, Registration.status == status)) or 0)


async def waitlist_places(session: AsyncSession, webinar_id: int,
                          ids: Sequence[int]) -> dict[int, int]:
    """The place in the waitlist's line of each of these registrations that waits."""
    if not ids:
        return {}
    line = (select(Registration.id, func.row_number().over(order_by=(
        func.coalesce(Registration.queued_at, Registration.created_at),
        Registration.id)).label("place"))
        .where(Registration.webinar_id == webinar_id, Registration.status == "waitlisted")
        .subquery())
    rows = await session.execute(select(line.c.id, line.c.place)
                                 .where(line.c.id.in_(list(ids))))
    return {int(i): int(p) for i, p in rows.all()}
