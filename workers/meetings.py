"""Creating and updating the meeting on the conferencing platform, outside any request."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from integrations.base import MeetingLink, MeetingSpec, PlatformRejected, PlatformUnavailable
from webinars.db import Sessionmaker
from webinars.models import Meeting, Webinar
from webinars.queue import Job, Queue, commit_and_enqueue, pending_jobs
from webinars.scheduling import link_changed

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6


def backoff(attempt: int, retry_after: float | None) -> timedelta:
    seconds = max(retry_after or 0, min(30 * 2 ** (attempt - 1), 3600))
    return timedelta(seconds=seconds)


def spec_of(webinar: Webinar) -> MeetingSpec:
    return MeetingSpec(
        title=webinar.title,
        start=webinar.start_at,
        duration=timedelta(minutes=webinar.duration_minutes),
        description=webinar.description,
        idempotency_key=webinar.uid,
        static_url=webinar.static_url,
    )


async def create_meeting(ctx: dict[str, Any], webinar_id: int) -> str:
    """Make the webinar's meeting match the webinar. Safe to run twice: it re-reads the row."""
    sessionmaker: Sessionmaker = ctx["sessionmaker"]
    clock = ctx["clock"]
    async with sessionmaker() as session:
        webinar = await session.scalar(select(Webinar).where(Webinar.id == webinar_id))
        if webinar is None or webinar.meeting is None or webinar.meeting.status != "pending":
            return "nothing to do"
        if webinar.status == "cancelled":
            return "cancelled"
        meeting = webinar.meeting
        adapter = ctx["adapters"].get(webinar.platform)
        spec = spec_of(webinar)
        seen_at = meeting.updated_at
        previous = (MeetingLink(meeting.external_id, meeting.join_url or "", meeting.host_url)
                    if meeting.external_id and meeting.platform == webinar.platform else None)

    error: str | None = None
    retry: timedelta | None = None
    link: MeetingLink | None = None
    if adapter is None:
        error = f"platform {webinar.platform!r} is not configured"
    else:
        try:
            link = await (adapter.update(previous, spec) if previous else adapter.create(spec))
        except PlatformUnavailable as exc:
            error = str(exc)
            retry = backoff(meeting.attempts + 1, exc.retry_after)
        except PlatformRejected as exc:
            error = str(exc)

    async with sessionmaker() as session:
        meeting_row = await session.get(Meeting, meeting.id)
        if meeting_row is None or meeting_row.updated_at != seen_at:
            return "superseded"  # the webinar changed meanwhile; a newer job handles it
        now = clock.now()
        meeting_row.attempts += 1
        meeting_row.updated_at = now
        if link is not None:
            old_url = meeting_row.join_url
            meeting_row.external_id = link.external_id
            meeting_row.join_url = link.join_url
            meeting_row.host_url = link.host_url
            meeting_row.status = "ready"
            meeting_row.error = None
            meeting_row.next_attempt_at = None
            if old_url and old_url != link.join_url:
                target = await session.get(Webinar, webinar_id)
                assert target is not None
                await link_changed(session, target, now)
        elif retry is not None and meeting_row.attempts < MAX_ATTEMPTS:
            meeting_row.error = error
            meeting_row.next_attempt_at = now + retry
            pending_jobs(session).append(Job("create_meeting", (webinar_id,),
                                             f"meeting:{webinar_id}:retry:{meeting_row.attempts}",
                                             now + retry))
        else:
            meeting_row.status = "failed"
            meeting_row.error = error
            meeting_row.next_attempt_at = None
        queue: Queue = ctx["queue"]
        await commit_and_enqueue(session, queue, clock)
        return meeting_row.status


async def sync(session: Any, ctx: Any, event: Any, cursor: int) -> Any:
    """Scaffold only (the webhooks branch): main's meetings handler replaces this on merge."""
    from .handling import Step

    return Step()
