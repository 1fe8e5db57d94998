"""What platforms tell us about a meeting (webhooks, attendance reports): who was there, and
where the recording is. Members are matched only by ids we issued — our "r<id>" person id
echoed back, or the id the platform gave the registrant we made there — never by an e-mail.
A fact already taken (same connection, same dedupe key) is recognised and ignored."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import String, cast, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.base import (
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
    RECORDING_READY,
    MeetingLink,
    PlatformEvent,
    occurrence_link,
)

from . import events
from .models import Attendance, HookReceipt, Meeting, PersonalJoin, Registration, Webinar
from .states import AttendanceSource, EventKind

OUR_PERSON_ID = re.compile(r"^r(\d{1,12})$")


async def take(session: AsyncSession, connection_id: int, platform: str,
               facts: Sequence[PlatformEvent], source: AttendanceSource,
               now: datetime) -> int:
    """Record each new fact; returns how many were new."""
    taken = 0
    for fact in facts:
        if not await first_time(session, connection_id, fact.dedupe_key, now):
            continue
        meeting = await session.scalar(select(Meeting).where(
            Meeting.platform == platform, Meeting.connection_id == connection_id,
            Meeting.external_id == fact.external_id))
        meeting = meeting or await of_session(session, connection_id, platform,
                                              fact.external_id)
        if meeting is None:
            continue  # not a meeting of ours (another app on the same account)
        taken += 1
        if fact.kind in (PARTICIPANT_JOINED, PARTICIPANT_LEFT):
            registration_id = await match(session, meeting, fact.participant_id)
            await attendance(session, meeting.webinar_id, registration_id, fact, source)
        elif fact.kind == RECORDING_READY and fact.recording_url:
            await recording(session, meeting.webinar_id, fact.recording_url, now)
    return taken


async def of_session(session: AsyncSession, connection_id: int, platform: str,
                     external_id: str) -> Meeting | None:
    """The course's meeting one of whose sessions has its own meeting `external_id` on the
    platform (an MTS Link eventsession, kept under `occurrence.<position>` in `extra`)."""
    if not external_id:
        return None
    candidates = await session.scalars(select(Meeting).where(
        Meeting.platform == platform, Meeting.connection_id == connection_id,
        cast(Meeting.extra, String).contains(f'"{external_id}|', autoescape=True)))
    for meeting in candidates:
        link = MeetingLink(meeting.external_id or "", meeting.join_url or "", None,
                           dict(meeting.extra or {}))
        if any(occurrence_link(link, int(key.partition(".")[2])).external_id == external_id
               for key in link.extra if key.startswith("occurrence.")
               and key.partition(".")[2].isdigit()):
            return meeting
    return None


async def first_time(session: AsyncSession, connection_id: int, key: str,
                     now: datetime) -> bool:
    try:
        async with session.begin_nested():
            session.add(HookReceipt(connection_id=connection_id, dedupe_key=key[:300],
                                    received_at=now))
            await session.flush()
    except IntegrityError:
        return False
    return True


async def match(session: AsyncSession, meeting: Meeting, participant_id: str | None
                ) -> int | None:
    if not participant_id:
        return None
    ours = OUR_PERSON_ID.match(participant_id)
    if ours:
        return await session.scalar(select(Registration.id).where(
            Registration.id == int(ours.group(1)),
            Registration.webinar_id == meeting.webinar_id))
    return await session.scalar(select(PersonalJoin.registration_id).where(
        PersonalJoin.meeting_id == meeting.id,
        PersonalJoin.platform_person_id == participant_id).limit(1))


async def attendance(session: AsyncSession, webinar_id: int, registration_id: int | None,
                     fact: PlatformEvent, source: AttendanceSource) -> None:
    name = (fact.participant_name or "")[:200] or None
    if fact.kind == PARTICIPANT_JOINED:
        session.add(Attendance(webinar_id=webinar_id, registration_id=registration_id,
                               participant_name=name, source=source,
                               joined_at=fact.occurred_at))
        return
    same = (Attendance.registration_id == registration_id if registration_id is not None
            else (Attendance.registration_id.is_(None)) & (Attendance.participant_name == name))
    open_visit = await session.scalar(
        select(Attendance).where(Attendance.webinar_id == webinar_id, same,
                                 Attendance.left_at.is_(None),
                                 Attendance.joined_at <= fact.occurred_at)
        .order_by(Attendance.joined_at.desc()).limit(1))
    if open_visit is not None:
        open_visit.left_at = fact.occurred_at


async def recording(session: AsyncSession, webinar_id: int, url: str, now: datetime) -> None:
    """The platform's recording becomes the webinar's, unless the organizer gave one: the
    change goes through the usual event, so the follow-up goes to registrants."""
    webinar = await session.get(Webinar, webinar_id)
    if webinar is None or webinar.recording_url or not url.startswith("https://"):
        return
    webinar.recording_url = url[:500]
    webinar.updated_at = now
    events.record(session, EventKind.WEBINAR_CHANGED, now, webinar=webinar,
                  data={"changed": events.changes({"recording_url": None},
                                                  {"recording_url": webinar.recording_url})})
