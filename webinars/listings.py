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

from sqlalchemy import ColumnElement, Select, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from .derived import LONG
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


def _listed(org_id: int, public_only: bool) -> list[ColumnElement[bool]]:
    shown = [Webinar.organization_id == org_id]
    if public_only:
        shown += [Webinar.visibility == "public", Webinar.status.in_(PUBLISHED_STATUSES)]
    return shown


def _page_by_ids(ids: Select[Any], descending: bool) -> Select[Any]:
    order = (Webinar.start_at.desc(), Webinar.id.desc()) if descending else (
        Webinar.start_at, Webinar.id)
    return select(Webinar).where(Webinar.id.in_(ids)).order_by(*order)


async def upcoming(session: AsyncSession, org_ids: Sequence[int], now: datetime, number: int,
                   *, public_only: bool = True, size: int = EVENTS_PER_PAGE) -> Page[Webinar]:
    """Events not over yet (those under way first), soonest first.

    Per organization (an ordered index scan each; one over an IN list would sort all of
    them): what began at most a day ago and is not over, read in order only as far as this
    page, plus the few `long_running` events still running from before that. The past is
    never scanned."""
    reach = number * size + 1
    day_ago = now - LONG
    parts: list[Select[int, datetime]] = []
    for org_id in org_ids:
        shown = _listed(org_id, public_only)
        parts.append(select(Webinar.id, Webinar.start_at)
                     .where(*shown, Webinar.start_at >= day_ago, Webinar.ends_at > now)
                     .order_by(Webinar.start_at, Webinar.id).limit(reach))
        parts.append(select(Webinar.id, Webinar.start_at)
                     .where(*shown, Webinar.long_running.is_(True), Webinar.ends_at > now,
                            Webinar.start_at < day_ago))
    return await _page_of_parts(session, parts, number, size, descending=False)


async def past(session: AsyncSession, org_ids: Sequence[int], now: datetime, number: int,
               *, public_only: bool = True, since: datetime | None = None,
               size: int = EVENTS_PER_PAGE) -> Page[Webinar]:
    """Events that are over, the latest start first (the archive; the dashboard's recent
    ones): per organization, an index scan back from now as far as this page."""
    reach = number * size + 1
    parts: list[Select[int, datetime]] = []
    for org_id in org_ids:
        stmt = (select(Webinar.id, Webinar.start_at)
                .where(*_listed(org_id, public_only), Webinar.start_at <= now,
                       Webinar.ends_at <= now))
        if since is not None:
            stmt = stmt.where(Webinar.ends_at >= since)
        parts.append(stmt.order_by(Webinar.start_at.desc(), Webinar.id.desc()).limit(reach))
    return await _page_of_parts(session, parts, number, size, descending=True)


async def _page_of_parts(session: AsyncSession, parts: list[Select[int, datetime]], number: int,
                         size: int, *, descending: bool) -> Page[Webinar]:
    if not parts:
        return Page([], number, False)
    # Each part in a subquery of its own: SQLite takes no LIMIT inside a compound SELECT.
    wrapped = [part.subquery() for part in parts]
    found = union_all(*(select(w.c.id, w.c.start_at) for w in wrapped)).subquery()
    order = (found.c.start_at.desc(), found.c.id.desc()) if descending else (
        found.c.start_at, found.c.id)
    ids = (select(found.c.id).order_by(*order)
           .offset((number - 1) * size).limit(size + 1))
    rows = list((await session.scalars(_page_by_ids(ids, descending))).unique().all())
    return Page(rows[:size], number, len(rows) > size)


async def registrants(session: AsyncSession, webinar_id: int, number: int,
                      size: int = REGISTRANTS_PER_PAGE) -> Page[tuple[Registration, int]]:
    """Registrations in the order they came, each with its count of join clicks (counted for
    the page's rows only, not for every row an OFFSET passes)."""
    ids = (select(Registration.id).where(Registration.webinar_id == webinar_id)
           .order_by(Registration.created_at, Registration.id)
           .offset((number - 1) * size).limit(size + 1))
    clicks = (select(func.count()).select_from(JoinClick)
              .where(JoinClick.registration_id == Registration.id)
              .correlate(Registration).scalar_subquery())
    rows = (await session.execute(
        select(Registration, clicks).where(Registration.id.in_(ids))
        .order_by(Registration.created_at, Registration.id))).all()
    found = [(r, int(n or 0)) for r, n in rows]
    return Page(found[:size], number, len(found) > size)


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
