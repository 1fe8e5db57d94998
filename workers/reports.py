"""Attendance from platforms that report it after the meeting instead of calling us (Microsoft
Teams' attendance reports): polled for meetings that ended in the last two days. The facts
are taken like webhooks' (`webinars.attendance`), so polling again adds nothing twice."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from integrations.base import ConferencingError, NotSupported, translate_errors
from integrations.registry import PLATFORMS
from webinars import attendance
from webinars.connections import adapter_for_meeting
from webinars.joining import meeting_link
from webinars.models import Meeting, Webinar, WebinarSession
from webinars.runtime import WorkerContext
from webinars.states import AttendanceSource, MeetingStatus, SessionStatus

log = logging.getLogger(__name__)

#: Reports are read from this long after the end (platforms need a while to write them)…
SETTLE = timedelta(minutes=15)
#: …until this long after it.
WINDOW = timedelta(days=2)


async def poll_attendance(ctx: WorkerContext) -> int:
    """Returns how many new facts were recorded."""
    reporting = [name for name, p in PLATFORMS.items() if p.attendance == "report"]
    now = ctx["clock"].now()
    ready = (Meeting.platform.in_(reporting), Meeting.status == MeetingStatus.READY,
             Meeting.connection_id.is_not(None))
    async with ctx["sessionmaker"]() as session:
        candidates = list((await session.execute(
            select(Meeting.id, Webinar.start_at, Webinar.duration_minutes)
            .join(Webinar, Webinar.id == Meeting.webinar_id)
            .where(*ready, Webinar.start_at > now - WINDOW - timedelta(days=1),
                   Webinar.start_at < now))).all())
        # A course's meeting has a report after each of its sessions, not only the first.
        candidates += (await session.execute(
            select(Meeting.id, WebinarSession.start_at, WebinarSession.duration_minutes)
            .join(WebinarSession, WebinarSession.webinar_id == Meeting.webinar_id)
            .where(*ready, WebinarSession.status == SessionStatus.SCHEDULED,
                   WebinarSession.start_at > now - WINDOW - timedelta(days=1),
                   WebinarSession.start_at < now))).all()
    ids = sorted({mid for mid, start, minutes in candidates
                  if now - WINDOW < start + timedelta(minutes=minutes) < now - SETTLE})
    taken = 0
    for meeting_id in ids:
        async with ctx["sessionmaker"]() as session:
            meeting = await session.get(Meeting, meeting_id)
            if meeting is None or meeting.connection_id is None:
                continue
            adapter = await adapter_for_meeting(
                session, presets=ctx["adapters"], config=ctx["config"], http=ctx["http"],
                tokens=ctx["tokens"], clock=ctx["clock"], platform=meeting.platform,
                connection_id=meeting.connection_id)
            if adapter is None:
                continue
            try:
                with translate_errors(adapter.name):
                    facts = await adapter.attendance(meeting_link(meeting))
            except NotSupported:
                continue
            except ConferencingError as exc:
                log.warning("the %s attendance report of meeting %s: %s", meeting.platform,
                            meeting_id, exc)
                continue
            taken += await attendance.take(session, meeting.connection_id, meeting.platform,
                                           facts, AttendanceSource.REPORT, now)
            await session.commit()
    return taken
