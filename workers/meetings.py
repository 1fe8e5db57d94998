"""The platform's meeting follows the webinar: created, moved or deleted outside any request.

The meetings handler (`sync`, run by the dispatcher) records that the meeting must change and
queues the job; the job (`sync_meeting`) compares the webinar with the meeting and does what
is missing. Both re-read the rows, so either may run twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.base import (
    Adapter,
    AuthError,
    ConferencingError,
    MeetingLink,
    MeetingNotFound,
    MeetingSpec,
    Occurrence,
    PlatformRejected,
    PlatformUnavailable,
    translate_errors,
)
from integrations.registry import NO_MEETING, PLATFORMS
from webinars import events
from webinars.connections import CredentialsUnavailable, build_adapter, connection_for
from webinars.joining import meeting_link
from webinars.models import Meeting, PlatformConnection, Webinar
from webinars.queue import commit_and_enqueue, meeting_job, pending_jobs
from webinars.runtime import WorkerContext
from webinars.scheduling import MEETING_FIELDS
from webinars.series import held, is_series
from webinars.states import ConnectionStatus, EventKind, MeetingStatus, WebinarStatus

from .handling import EventView, Step

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6


def backoff(attempt: int, retry_after: float | None) -> timedelta:
    seconds = max(retry_after or 0, min(30 * 2 ** (attempt - 1), 3600))
    return timedelta(seconds=seconds)


def spec_of(webinar: Webinar) -> MeetingSpec:
    """The meeting the webinar wants; a course lists its held sessions, so a platform whose
    meetings are bound to a time covers every one, not only the first."""
    occurrences = tuple(
        Occurrence(position=s.position, start=s.start_at,
                   duration=timedelta(minutes=s.duration_minutes),
                   original_start=s.original_start)
        for s in sorted(held(webinar), key=lambda s: s.start_at)) if is_series(webinar) else ()
    return MeetingSpec(
        title=webinar.title,
        start=occurrences[0].start if occurrences else webinar.start_at,
        duration=(occurrences[0].duration if occurrences
                  else timedelta(minutes=webinar.duration_minutes)),
        description=webinar.description,
        idempotency_key=webinar.uid,
        static_url=webinar.static_url,
        timezone=webinar.timezone,
        occurrences=occurrences,
    )


async def adapter_of(session: AsyncSession, ctx: WorkerContext, webinar: Webinar,
                     meeting: Meeting, platform: str) -> tuple[Adapter | None, int | None, str]:
    """The adapter for `platform`, with the credentials that made the meeting (or, for a new
    one, the nearest connection up the tree); else why there is none. Never another
    platform in its place: the organizer chose this one."""
    preset = ctx["adapters"].get(platform)
    if preset is not None:
        return preset, None, ""
    entry = PLATFORMS.get(platform)
    if entry is None or entry.factory is None:
        return None, None, f"platform {platform!r} is not available"
    connection = None
    if meeting.connection_id is not None and meeting.platform == platform:
        connection = await session.get(PlatformConnection, meeting.connection_id)
    if connection is None:
        connection = await connection_for(session, webinar.organization_id, platform)
    if connection is None:
        return None, None, (f"no {entry.label} account is connected for this organization or "
                            "the ones above it: connect one on the organization's platforms "
                            "page, or choose another platform")
    try:
        adapter = build_adapter(ctx["config"], ctx["http"], ctx["tokens"], ctx["clock"],
                                platform, connection)
    except CredentialsUnavailable as exc:
        return None, connection.id, str(exc)
    return adapter, connection.id, ""


async def sync(session: AsyncSession, ctx: WorkerContext, event: EventView, cursor: int) -> Step:
    """The handler: a new webinar wants a meeting, a moved one a moved meeting, a cancelled
    one none at all."""
    if event.kind == EventKind.WEBINAR_CHANGED and not set(event.changed) & set(MEETING_FIELDS):
        return Step()
    webinar = await session.scalar(select(Webinar).where(Webinar.id == event.webinar_id))
    if webinar is None or webinar.status == WebinarStatus.PLANNED:
        return Step()  # an indicative item has no date: its meeting waits for one
    meeting = webinar.meeting
    if event.kind == EventKind.WEBINAR_CANCELLED and (meeting is None or not meeting.external_id):
        return Step()
    if webinar.platform == NO_MEETING and (meeting is None or not meeting.external_id):
        return Step()  # no online meeting was asked for, and none was made before
    now = ctx["clock"].now()
    if meeting is None:
        meeting = webinar.meeting = Meeting(platform=webinar.platform, attempts=0)
    meeting.status = MeetingStatus.PENDING
    meeting.error = None
    meeting.failure_notified_at = None
    meeting.attempts = 0
    meeting.updated_at = now
    pending_jobs(session).append(meeting_job(webinar.id, f"e{event.id}"))
    return Step(1)


async def sync_meeting(ctx: WorkerContext, webinar_id: int) -> str:
    """The job: make the platform's meeting match the webinar. Safe to run twice."""
    sessionmaker = ctx["sessionmaker"]
    clock = ctx["clock"]
    async with sessionmaker() as session:
        webinar = await session.scalar(select(Webinar).where(Webinar.id == webinar_id))
        if webinar is None or webinar.meeting is None \
                or webinar.meeting.status != MeetingStatus.PENDING \
                or webinar.status == WebinarStatus.PLANNED:
            return "nothing to do"
        meeting = webinar.meeting
        spec = spec_of(webinar)
        # An event that no longer wants an online meeting has its old one removed.
        cancelled = webinar.status == WebinarStatus.CANCELLED or webinar.platform == NO_MEETING
        seen_at = meeting.updated_at
        platform = meeting.platform if cancelled else webinar.platform
        adapter, connection_id, error_text = await adapter_of(session, ctx, webinar, meeting,
                                                              platform)
        replaced = None  # a meeting on the platform the organizer left
        if meeting.external_id and not cancelled and meeting.platform != webinar.platform:
            old, _, _ = await adapter_of(session, ctx, webinar, meeting, meeting.platform)
            replaced = (old, meeting_link(meeting)) if old is not None else None
        previous = (meeting_link(meeting) if meeting.external_id and (
            cancelled or meeting.platform == webinar.platform) else None)

    error: str | None = None
    retry: timedelta | None = None
    link: MeetingLink | None = None
    refused_credentials = False
    if adapter is None:
        error = error_text
    else:
        try:
            link = await call(adapter, previous, spec, delete=cancelled)
        except PlatformUnavailable as exc:
            error = str(exc)
            retry = backoff(meeting.attempts + 1, exc.retry_after)
        except PlatformRejected as exc:
            error = str(exc)
            refused_credentials = isinstance(exc, AuthError)
    if replaced is not None and link is not None:
        await leave_behind(*replaced)

    async with sessionmaker() as session:
        meeting_row = await session.get(Meeting, meeting.id)
        if meeting_row is None or meeting_row.updated_at != seen_at:
            return "superseded"  # the webinar changed meanwhile; a newer job handles it
        target = await session.get(Webinar, webinar_id)
        assert target is not None
        now = clock.now()
        meeting_row.attempts += 1
        meeting_row.updated_at = now
        if refused_credentials and connection_id is not None:
            connection = await session.get(PlatformConnection, connection_id)
            if connection is not None:
                connection.status = ConnectionStatus.BROKEN
                connection.last_error = error
                connection.checked_at = now
        if error is None and cancelled:
            meeting_row.status = MeetingStatus.DELETED
            meeting_row.error = None
            meeting_row.next_attempt_at = None
        elif link is not None:
            old_url = meeting_row.join_url
            meeting_row.platform = target.platform
            meeting_row.connection_id = connection_id
            meeting_row.external_id = link.external_id
            meeting_row.join_url = link.join_url
            meeting_row.host_url = link.host_url
            meeting_row.extra = dict(link.extra)
            meeting_row.status = MeetingStatus.READY
            meeting_row.error = None
            meeting_row.next_attempt_at = None
            # Members hold only their /j/ address, which follows the meeting: a new platform
            # link needs no message to them (webhook consumers are told).
            moved = bool(old_url and old_url != link.join_url)
            events.record(session, EventKind.MEETING_READY, now, webinar=target,
                          data={"platform": target.platform, "link_changed": moved})
        elif retry is not None and meeting_row.attempts < MAX_ATTEMPTS:
            meeting_row.error = error
            meeting_row.next_attempt_at = now + retry
            pending_jobs(session).append(meeting_job(webinar_id,
                                                     f"retry:{meeting_row.attempts}", now + retry))
        else:
            meeting_row.status = MeetingStatus.FAILED
            meeting_row.error = error
            meeting_row.next_attempt_at = None
            events.record(session, EventKind.MEETING_FAILED, now, webinar=target,
                          data={"platform": target.platform, "error": error})
        await commit_and_enqueue(session, ctx.get("queue"), clock)
        return meeting_row.status


async def leave_behind(adapter: Adapter, link: MeetingLink) -> None:
    """Delete the meeting on the platform the webinar moved away from; a failure there is
    logged, never in the way of the new meeting."""
    try:
        with translate_errors(adapter.name):
            await adapter.delete(link)
    except MeetingNotFound:
        pass
    except ConferencingError as exc:
        log.warning("the old %s meeting %s was left behind: %s", adapter.name,
                    link.external_id, exc)


async def call(adapter: Adapter, previous: MeetingLink | None, spec: MeetingSpec, *,
               delete: bool) -> MeetingLink | None:
    """One platform call in the adapter error tree; a meeting the platform no longer knows is
    deleted already, or is made anew."""
    with translate_errors(adapter.name):
        if delete:
            if previous is not None:
                try:
                    await adapter.delete(previous)
                except MeetingNotFound:
                    pass
            return None
        if previous is None:
            return await adapter.create(spec)
        try:
            return await adapter.update(previous, spec)
        except MeetingNotFound:
            return await adapter.create(spec)
