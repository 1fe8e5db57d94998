"""What published calendars contain: an organization's plan and a member's personal feed.

A personal feed is a revocable secret token per e-mail and organization (subscribers cannot send
credentials, so the token in the URL is the credential). It holds the events the e-mail has a
confirmed registration for, in any organization, plus the public plans of the member's
organization and all its ancestors (school → municipality → region → federation).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .calendars import EventLinks, FeedItem
from .clock import Clock
from .errors import NotFound
from .models import MemberFeed, Organization, Registration, Webinar
from .organizations import all_organizations, chain
from .security import new_token

#: Statuses a published calendar shows. Cancelled ones stay (struck out) so they don't vanish;
#: finished ones stay so a subscriber's history doesn't empty itself as events end.
PUBLISHED_STATUSES = ("scheduled", "cancelled", "finished")
#: How far back feeds reach: old events stay in subscribers' calendars, but feeds stop growing.
PAST_WINDOW = timedelta(days=366)
MAX_TOKEN_LENGTH = 64
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PersonalEvent:
    """A webinar in a personal feed; `registration` is set when the member registered for it."""

    webinar: Webinar
    registration: Registration | None


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


def personal_items(events: Iterable[PersonalEvent], base_url: str) -> list[FeedItem]:
    items: list[FeedItem] = []
    for event in events:
        links = (registrant_links(base_url, event.registration) if event.registration
                 else public_links(base_url, event.webinar))
        items.append(FeedItem(event.webinar, links, categories(event.webinar.organization)))
    return items


async def get_public_webinar(session: AsyncSession, public_id: str) -> Webinar:
    """A webinar anyone holding its address may see: drafts are not published anywhere."""
    if not public_id or len(public_id) > 32:
        raise NotFound("no such webinar")
    webinar = await session.scalar(select(Webinar).where(Webinar.public_id == public_id))
    if webinar is None or webinar.status == "draft":
        raise NotFound("no such webinar")
    return webinar


async def chain_ids(session: AsyncSession, organization_id: int) -> list[int]:
    return [org.id for org in chain(await all_organizations(session), organization_id)]


async def plan_webinars(session: AsyncSession, org_ids: Sequence[int],
                        since: datetime) -> list[Webinar]:
    """The public plans of these organizations: listed, never drafts, from `since` on."""
    stmt = (select(Webinar)
            .where(Webinar.organization_id.in_(list(org_ids)),
                   Webinar.visibility == "public",
                   Webinar.status.in_(PUBLISHED_STATUSES),
                   Webinar.start_at >= since)
            .order_by(Webinar.start_at, Webinar.id))
    return list((await session.scalars(stmt)).unique().all())


async def org_feed_webinars(session: AsyncSession, org: Organization,
                            now: datetime) -> list[Webinar]:
    """An organization's calendar: its own public events plus its ancestors' yearly plan."""
    return await plan_webinars(session, await chain_ids(session, org.id), now - PAST_WINDOW)


def feed_organization_id(registration: Registration) -> int:
    return registration.organization_id or registration.webinar.organization_id


async def active_feed(session: AsyncSession, email_normalized: str,
                      organization_id: int) -> MemberFeed | None:
    return await session.scalar(
        select(MemberFeed)
        .where(MemberFeed.email_normalized == email_normalized,
               MemberFeed.organization_id == organization_id,
               MemberFeed.revoked_at.is_(None))
        .order_by(MemberFeed.id)
        .limit(1))


async def feed_of_registration(session: AsyncSession,
                               registration: Registration) -> MemberFeed | None:
    """The registrant's active personal feed, if they made one (for the personal page)."""
    return await active_feed(session, registration.email_normalized,
                             feed_organization_id(registration))


async def feed_for_registration(session: AsyncSession, clock: Clock,
                                registration: Registration) -> MemberFeed:
    """The active feed for this e-mail and organization, made on first request."""
    existing = await feed_of_registration(session, registration)
    if existing is not None:
        return existing
    feed = MemberFeed(email_normalized=registration.email_normalized,
                      organization_id=feed_organization_id(registration),
                      token=new_token(), created_at=clock.now())
    session.add(feed)
    await session.flush()
    return feed


async def by_token(session: AsyncSession, token: str) -> MemberFeed:
    """An active feed; unknown and revoked tokens are alike "not found"."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise NotFound("no such calendar feed")
    feed = await session.scalar(select(MemberFeed).where(MemberFeed.token == token))
    if feed is None or feed.revoked_at is not None:
        raise NotFound("no such calendar feed")
    return feed


async def revoke(session: AsyncSession, clock: Clock, token: str) -> MemberFeed:
    """Stop a feed for good; revoking twice is fine, an unknown token is "not found"."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise NotFound("no such calendar feed")
    feed = await session.scalar(select(MemberFeed).where(MemberFeed.token == token))
    if feed is None:
        raise NotFound("no such calendar feed")
    if feed.revoked_at is None:
        feed.revoked_at = clock.now()
        await session.flush()
    return feed


async def personal_feed_events(session: AsyncSession, feed: MemberFeed, *,
                               since: datetime | None = None) -> list[PersonalEvent]:
    """The member's registrations (any organization) plus their chain's public plans, once each.

    A webinar both registered for and in the plan appears once, with the personal join address.
    """
    registered = select(Registration).join(Webinar, Registration.webinar_id == Webinar.id).where(
        Registration.email_normalized == feed.email_normalized,
        Registration.status == "confirmed",
        Webinar.status.in_(PUBLISHED_STATUSES))
    if since is not None:
        registered = registered.where(Webinar.start_at >= since)
    events: dict[int, PersonalEvent] = {}
    for registration in (await session.scalars(registered)).unique().all():
        events[registration.webinar_id] = PersonalEvent(registration.webinar, registration)
    plans = await plan_webinars(session, await chain_ids(session, feed.organization_id),
                                since if since is not None else EPOCH)
    for webinar in plans:
        events.setdefault(webinar.id, PersonalEvent(webinar, None))
    return sorted(events.values(), key=lambda e: (e.webinar.start_at, e.webinar.id))
