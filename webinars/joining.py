"""Where a click on "join" or "start as host" leads: the person's own link on the platform.

Links that cost the platform a record (a Zoom registrant, an MTS Link registration) are made
on the member's first click and kept for that meeting; signed links (BigBlueButton joins,
Jitsi tokens) are signed on every click, so none outlives its use. Host links are never
stored: Zoom's start_url carries a host token that expires.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.base import (
    Adapter,
    ConferencingError,
    MeetingLink,
    Person,
    PersonalLink,
    occurrence_link,
    translate_errors,
)
from integrations.registry import PLATFORMS

from .connections import adapter_for_meeting
from .models import Account, Meeting, PersonalJoin, Registration, Webinar
from .runtime import Runtime
from .series import end_of, held, is_series, session_of_click

log = logging.getLogger(__name__)


def member(registration: Registration) -> Person:
    return Person(f"r{registration.id}", registration.name, registration.email)


def host(account: Account) -> Person:
    return Person(f"h{account.id}", account.name, account.email)


def meeting_link(meeting: Meeting) -> MeetingLink:
    return MeetingLink(meeting.external_id or "", meeting.join_url or "", meeting.host_url,
                       dict(meeting.extra or {}))


def session_in_view(webinar: Webinar, now: datetime) -> int | None:
    """The position of a course's session a click is for: the one on now (from half an hour
    before its start), else the next, else the last held; None for a single webinar."""
    if not is_series(webinar):
        return None
    on = session_of_click(webinar.sessions, now)
    if on is not None:
        return on
    sessions = sorted(held(webinar) or webinar.sessions, key=lambda s: s.start_at)
    later = [s for s in sessions if s.start_at > now]
    return (later[0] if later else sessions[-1]).position


def start_in_view(webinar: Webinar, now: datetime) -> tuple[datetime, datetime]:
    """The start and end of the meeting a member would join now: the webinar's, or for a
    course the session on now or next (what the "Join" button and its opening time show)."""
    position = session_in_view(webinar, now)
    if position is None:
        return webinar.start_at, webinar.start_at + timedelta(minutes=webinar.duration_minutes)
    session = next(s for s in webinar.sessions if s.position == position)
    return session.start_at, end_of(session)


def link_in_view(meeting: Meeting, webinar: Webinar | None, now: datetime) -> MeetingLink:
    """The meeting's link for the session in view, where each session has its own meeting
    on the platform (MTS Link eventsessions); the meeting's link otherwise."""
    link = meeting_link(meeting)
    return link if webinar is None else occurrence_link(link, session_in_view(webinar, now))


async def adapter(session: AsyncSession, rt: Runtime, meeting: Meeting) -> Adapter | None:
    return await adapter_for_meeting(
        session, presets=rt.adapters, config=rt.config, http=rt.http, tokens=rt.tokens,
        clock=rt.clock, platform=meeting.platform, connection_id=meeting.connection_id)


async def member_target(session: AsyncSession, rt: Runtime, registration: Registration,
                        meeting: Meeting) -> str:
    """The member's own link where the platform has them, else the shared one. A platform
    that fails here costs the member nothing: they get the meeting's shared link."""
    now = rt.clock.now()
    link = link_in_view(meeting, registration.webinar, now)
    shared = link.join_url
    entry = PLATFORMS.get(meeting.platform)
    if entry is None or not entry.personal_links or not link.external_id:
        return shared
    kept = await session.scalar(select(PersonalJoin).where(
        PersonalJoin.registration_id == registration.id,
        PersonalJoin.external_meeting_id == link.external_id))
    if kept is not None and (kept.expires_at is None or kept.expires_at > now):
        return kept.url
    platform = await adapter(session, rt, meeting)
    if platform is None:
        return shared
    try:
        with translate_errors(platform.name):
            personal = await platform.join_link(link, member(registration))
    except ConferencingError as exc:
        log.warning("no personal %s link for registration %s: %s", meeting.platform,
                    registration.id, exc)
        return shared
    if personal.platform_id is not None:  # a record on the platform: keep it for this meeting
        await keep(session, meeting, link.external_id, registration, personal, now, kept)
    return personal.url


async def keep(session: AsyncSession, meeting: Meeting, external_id: str,
               registration: Registration, link: PersonalLink, now: datetime,
               kept: PersonalJoin | None) -> None:
    """Keeps the person's platform record for the meeting (for a course on a platform with a
    meeting per session, for that session's: `external_id`)."""
    if kept is None:
        kept = PersonalJoin(meeting_id=meeting.id, registration_id=registration.id,
                            external_meeting_id=external_id, created_at=now)
        session.add(kept)
    kept.url = link.url
    kept.platform_person_id = link.platform_id
    kept.expires_at = link.expires_at
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        pass  # a second click at the same moment kept the same registrant


async def host_target(session: AsyncSession, rt: Runtime, account: Account,
                      meeting: Meeting) -> PersonalLink:
    """A fresh host link, fetched or signed now (ConferencingError when the platform says
    no: the page shows why)."""
    link = link_in_view(meeting, await session.get(Webinar, meeting.webinar_id),
                        rt.clock.now())
    platform = await adapter(session, rt, meeting)
    if platform is None:
        return PersonalLink(link.host_url or link.join_url)
    with translate_errors(platform.name):
        return await platform.host_link(link, host(account))
