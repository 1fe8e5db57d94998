"""What published calendars contain: an organization's plan and a member's personal feed.

A personal feed is a revocable secret token (subscribers cannot send credentials, so the token in
the URL is the credential; only its hash is stored). It holds the public plans of the member's
organization and all its ancestors (school → municipality → region → federation), without the
events the member holds by invitation. Knowing an address grants nothing: what a feed knows of
the member's registrations comes from the registration it was made from and its proven address.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import lazyload
from sqlalchemy.orm.attributes import set_committed_value

from .calendars import FORMAT_VERSION, EventLinks, FeedItem
from .clock import Clock
from .errors import NotFound
from .models import MemberFeed, Organization, Registration, Webinar, WebinarSession
from .security import hash_token, new_token

#: Statuses a published calendar shows. Cancelled ones stay (struck out) so they don't vanish;
#: finished ones stay so a subscriber's history doesn't empty itself as events end.
PUBLISHED_STATUSES = ("scheduled", "cancelled", "finished")
#: How far back feeds reach: old events stay in subscribers' calendars, but feeds stop growing.
PAST_WINDOW = timedelta(days=366)
MAX_TOKEN_LENGTH = 64
#: Deeper than any real tree (federation → region → municipality → school): stops a cycle.
MAX_DEPTH = 32
#: A webinar's public id: uuid4().hex, as `scheduling.create_webinar` makes it.
PUBLIC_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def page_url(base_url: str, webinar: Webinar) -> str:
    return f"{base_url}/w/{webinar.public_id}"


def join_address(base_url: str, join_token: str) -> str:
    """The personal join address: our domain, redirecting to the current meeting link."""
    return f"{base_url}/j/{join_token}"


def feed_url(base_url: str, feed_token: str) -> str:
    return f"{base_url}/feeds/{feed_token}.ics"


def org_feed_url(base_url: str, slug: str) -> str:
    return f"{base_url}/o/{slug}.ics"


def webinar_ics_url(base_url: str, webinar: Webinar) -> str:
    return f"{base_url}/w/{webinar.public_id}.ics"


def registration_ics_url(base_url: str, registration_token: str) -> str:
    return f"{base_url}/r/{registration_token}.ics"


def categories(org: Organization) -> tuple[str, ...]:
    """CATEGORIES of an event: its organization's level and name, so a member sees the source."""
    return (org.level, org.name)


def public_links(base_url: str, webinar: Webinar) -> EventLinks:
    """Links for readers we don't know: never the raw platform link, only the event page."""
    return EventLinks(page_url=page_url(base_url, webinar), join_url=None)


def registrant_links(base_url: str, registration: Registration) -> EventLinks:
    """Links for a known registrant: the personal join address while the registration stands."""
    join = (join_address(base_url, registration.join_token)
            if registration.status == "confirmed" else None)
    return EventLinks(page_url=page_url(base_url, registration.webinar), join_url=join)


def org_items(webinars: Iterable[Webinar], base_url: str) -> list[FeedItem]:
    return [FeedItem(w, public_links(base_url, w), categories(w.organization)) for w in webinars]


async def get_public_webinar(session: AsyncSession, public_id: str) -> Webinar:
    """A webinar by its unguessable key, for anyone holding its address (its page and its .ics
    alike): drafts are not published anywhere."""
    if not PUBLIC_ID_RE.match(public_id):
        raise NotFound("no such webinar")
    webinar = await session.scalar(select(Webinar).where(Webinar.public_id == public_id))
    if webinar is None or webinar.status == "draft":
        raise NotFound("no such webinar")
    return webinar


@dataclass(frozen=True)
class PlanOrg:
    """What a feed needs of one organization of its chain, read without the ORM (a poll must
    stay cheap)."""

    id: int
    slug: str
    name: str
    level: str
    plan_version: int
    plan_changed_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class PlanChain:
    """An organization and its ancestors, nearest first, and the window's marker: the earliest
    start at or after the window's beginning among their webinars (any status). The marker
    moves exactly when the sliding PAST_WINDOW lets an event go, so it is part of a feed's
    version."""

    orgs: list[PlanOrg]
    marker: datetime | None

    @property
    def ids(self) -> list[int]:
        return [o.id for o in self.orgs]


def _chain_statement(start: ColumnElement[bool]
                     ) -> Select[int, str, str, str, int, datetime | None, datetime, datetime]:
    """One query up the tree from `start`, each organization with the first start of its
    webinars from `:since` on (an index seek on `ix_webinars_org_start`). Built once: a poll
    pays only for running it."""
    org = Organization
    up = (select(org.id, org.parent_id, literal(0).label("depth"))
          .where(start).cte("up", recursive=True))
    up = up.union_all(select(org.id, org.parent_id, (up.c.depth + 1).label("depth"))
                      .where(org.id == up.c.parent_id, up.c.depth < MAX_DEPTH))
    first = (select(func.min(Webinar.start_at))
             .where(Webinar.organization_id == org.id,
                    Webinar.start_at >= bindparam("since"))
             .correlate(org).scalar_subquery())
    return (select(org.id, org.slug, org.name, org.level, org.plan_version,
                   org.plan_changed_at, org.created_at, first.label("first_start"))
            .join(up, up.c.id == org.id).order_by(up.c.depth))


CHAIN_BY_SLUG = _chain_statement(Organization.slug == bindparam("slug"))
CHAIN_BY_ID = _chain_statement(Organization.id == bindparam("org_id"))


async def plan_chain(session: AsyncSession | AsyncConnection, since: datetime, *,
                     slug: str | None = None, organization_id: int | None = None
                     ) -> PlanChain:
    """The chain whose plans a calendar shows (by slug or id); NotFound when there is none."""
    if slug is not None:
        rows = (await session.execute(CHAIN_BY_SLUG, {"slug": slug, "since": since})).all()
    else:
        rows = (await session.execute(CHAIN_BY_ID,
                                      {"org_id": organization_id, "since": since})).all()
    orgs: list[PlanOrg] = []
    firsts: list[datetime] = []
    for row in rows:
        if any(o.id == row.id for o in orgs):  # a cycle stored by mistake must not repeat
            break
        orgs.append(PlanOrg(row.id, row.slug, row.name, row.level, row.plan_version,
                            row.plan_changed_at, row.created_at))
        if row.first_start is not None:
            firsts.append(row.first_start)
    if not orgs:
        raise NotFound("no such organization")
    return PlanChain(orgs, min(firsts) if firsts else None)


def plan_version_key(chain: PlanChain, *extra: object) -> str:
    """A feed's version without loading one event: the format, each organization of the chain
    with its `plan_version` (raised by `webinars.derived` with every change shown) and what
    a calendar prints of it, the sliding window's marker, and what the caller adds (base URL,
    sender, title; a personal feed's covered registrations)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([
        FORMAT_VERSION, [[o.id, o.plan_version, o.name, o.level] for o in chain.orgs],
        chain.marker.isoformat() if chain.marker else None, *map(str, extra)],
        ensure_ascii=False).encode())
    return digest.hexdigest()


def plans_last_modified(orgs: Sequence[PlanOrg]) -> datetime:
    """When the plans of these organizations last changed (`scheduling.touch_plans`)."""
    return max(org.plan_changed_at or org.created_at for org in orgs)


async def plan_webinars(session: AsyncSession, org_ids: Sequence[int],
                        since: datetime) -> list[Webinar]:
    """The public plans of these organizations: listed, never drafts, from `since` on.

    Courses' sessions come in one query for the whole feed (selectin loading would ask in
    batches of 500: a query more per 500 events)."""
    shown = (Webinar.organization_id.in_(list(org_ids)),
             Webinar.visibility == "public",
             Webinar.status.in_(PUBLISHED_STATUSES),
             Webinar.start_at >= since)
    stmt = (select(Webinar).where(*shown).options(lazyload(Webinar.sessions))
            .order_by(Webinar.start_at, Webinar.id))
    webinars = list((await session.scalars(stmt)).unique().all())
    sessions: dict[int, list[WebinarSession]] = {}
    for item in (await session.scalars(
            select(WebinarSession)
            .where(WebinarSession.webinar_id.in_(select(Webinar.id).where(*shown)))
            .order_by(WebinarSession.webinar_id, WebinarSession.position))).all():
        sessions.setdefault(item.webinar_id, []).append(item)
    for webinar in webinars:
        set_committed_value(webinar, "sessions", sessions.get(webinar.id, []))
    return webinars


def feed_organization_id(registration: Registration) -> int:
    return registration.organization_id or registration.webinar.organization_id


async def create_feed(session: AsyncSession, clock: Clock,
                      registration: Registration) -> tuple[MemberFeed, str]:
    """A new feed made from this registration's page; returns it with its token, shown once.

    Every request makes a new feed: a token is never handed to a second requester, even one
    who registered the same address in the same organization.
    """
    token = new_token()
    feed = MemberFeed(email_normalized=registration.email_normalized,
                      organization_id=feed_organization_id(registration),
                      registration_id=registration.id, token_hash=hash_token(token),
                      created_at=clock.now())
    session.add(feed)
    await session.flush()
    return feed, token


async def feeds_of_registration(session: AsyncSession,
                                registration: Registration) -> list[MemberFeed]:
    """The active feeds made from this registration's page (for that page to list and end)."""
    return list((await session.scalars(
        select(MemberFeed).where(MemberFeed.registration_id == registration.id,
                                 MemberFeed.revoked_at.is_(None))
        .order_by(MemberFeed.id))).all())


async def by_token(session: AsyncSession, token: str) -> MemberFeed:
    """An active feed; unknown and revoked tokens are alike "not found"."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise NotFound("no such calendar feed")
    feed = await session.scalar(select(MemberFeed).where(
        MemberFeed.token_hash == hash_token(token)))
    if feed is None or feed.revoked_at is not None:
        raise NotFound("no such calendar feed")
    return feed


async def end_feed(session: AsyncSession, clock: Clock, feed: MemberFeed) -> None:
    if feed.revoked_at is None:
        feed.revoked_at = clock.now()
        await session.flush()


async def revoke(session: AsyncSession, clock: Clock, token: str) -> MemberFeed:
    """Stop a feed for good; revoking twice is fine, an unknown token is "not found"."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise NotFound("no such calendar feed")
    feed = await session.scalar(select(MemberFeed).where(
        MemberFeed.token_hash == hash_token(token)))
    if feed is None:
        raise NotFound("no such calendar feed")
    await end_feed(session, clock, feed)
    return feed


def _covered(origin: Registration) -> ColumnElement[bool]:
    """The registrations a feed made from `origin` counts as its holder's (any status).

    The origin itself; and, once a link sent to its address was opened from the mailbox, every
    registration that address had by then, and later ones whose own link was opened. Nothing
    else that merely shares the address.
    """
    if origin.address_confirmed_at is None:
        return Registration.id == origin.id
    return or_(Registration.id == origin.id, and_(
        Registration.email_normalized == origin.email_normalized,
        or_(Registration.created_at <= origin.address_confirmed_at,
            Registration.address_confirmed_at.is_not(None))))


async def origin_of(session: AsyncSession, feed: MemberFeed) -> Registration | None:
    if feed.registration_id is None:
        return None
    return await session.get(Registration, feed.registration_id)


async def covered_webinar_ids(session: AsyncSession, feed: MemberFeed) -> set[int]:
    """Webinars the feed's holder is registered for, as far as the holder has shown."""
    origin = await origin_of(session, feed)
    if origin is None:
        return set()
    return set((await session.scalars(select(Registration.webinar_id).where(
        _covered(origin), Registration.status == "confirmed"))).all())


async def personal_feed_webinars(session: AsyncSession, feed: MemberFeed,
                                 chain: Sequence[PlanOrg], *,
                                 since: datetime) -> list[Webinar]:
    """The plans of the member's chain, without the events they hold by invitation.

    An event the member registered for reaches their calendar by e-mail (REQUEST, updated
    and cancelled in place); the same UID in a subscribed calendar would show it twice, so
    the feed leaves it out (README, "One event per calendar").
    """
    plans = await plan_webinars(session, [org.id for org in chain], since)
    covered = await covered_webinar_ids(session, feed)
    return [w for w in plans if w.id not in covered]


async def personal_last_modified(session: AsyncSession, feed: MemberFeed,
                                 chain: Sequence[PlanOrg]) -> datetime:
    """The plans' last change, or the last change to a registration the feed counts."""
    moments = [plans_last_modified(chain) if chain else feed.created_at, feed.created_at]
    origin = await origin_of(session, feed)
    if origin is not None:
        row = (await session.execute(select(
            func.max(Registration.created_at), func.max(Registration.cancelled_at),
            func.max(Registration.address_confirmed_at)).where(_covered(origin)))).one()
        moments.extend(m.replace(tzinfo=UTC) if m.tzinfo is None else m
                       for m in row if m is not None)
    return max(moments)
