"""Organizers are told, before the start, what members cannot fix: a meeting the platform did
not make, and (the daily check) a platform connection that stopped working."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.base import PlatformUnavailable
from integrations.registry import PLATFORMS
from webinars.connections import (
    CredentialsUnavailable,
    build_adapter,
    check_connection,
)
from webinars.mail import when_text
from webinars.mailer import OutgoingMail
from webinars.models import Account, Meeting, PlatformConnection, Role, Webinar
from webinars.notices import connection_broken_notice, meeting_failed_notice
from webinars.organizations import all_organizations, subtree_ids
from webinars.queue import meeting_failed_job, pending_jobs
from webinars.runtime import WorkerContext
from webinars.states import ConnectionStatus, MeetingStatus, WebinarStatus

from .handling import EventView, Step

log = logging.getLogger(__name__)

#: How far ahead the daily check looks for a webinar that needs a broken connection.
LOOKAHEAD = timedelta(days=60)


async def organizers(session: AsyncSession, organization_id: int,
                     creator_id: int | None = None) -> list[Account]:
    """The organization's organizers, and whoever made the webinar."""
    return list((await session.scalars(
        select(Account).outerjoin(Role, Role.account_id == Account.id)
        .where(or_(Role.organization_id == organization_id, Account.id == creator_id))
        .order_by(Account.id))).unique().all())


async def meeting_failed(session: AsyncSession, ctx: WorkerContext, event: EventView,
                         cursor: int) -> Step:
    """The handler of meeting.failed: the organizers' e-mail goes from a job, outside this
    transaction (the embedded outbox writes to the same database); reconcile queues it again
    if the job is lost."""
    pending_jobs(session).append(meeting_failed_job(event.webinar_id or 0, f"e{event.id}"))
    return Step(1)


async def tell_meeting_failed(ctx: WorkerContext, webinar_id: int) -> int:
    """E-mail the organizers that the meeting failed, once, if the start is still ahead. The
    notice is claimed first and given back if it could not go."""
    now = ctx["clock"].now()
    async with ctx["sessionmaker"]() as session:
        claimed = await session.execute(
            update(Meeting).where(Meeting.webinar_id == webinar_id,
                                  Meeting.status == MeetingStatus.FAILED,
                                  Meeting.failure_notified_at.is_(None))
            .values(failure_notified_at=now).execution_options(synchronize_session=False))
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return 0
        webinar = await session.get(Webinar, webinar_id)
        assert webinar is not None and webinar.meeting is not None
        mails = [] if webinar.status != WebinarStatus.SCHEDULED or webinar.start_at <= now else [
            meeting_failed_notice(
                ctx["config"], to=person.email, locale=person.locale, title=webinar.title,
                webinar_id=webinar.id, organization_id=webinar.organization_id,
                when=when_text(webinar.start_at, webinar.timezone, person.locale),
                reason=webinar.meeting.error or "", now=now)
            for person in await organizers(session, webinar.organization_id,
                                           webinar.created_by_id)]
        await session.commit()
    if await send_all(ctx, mails):
        return len(mails)
    async with ctx["sessionmaker"]() as session:
        await session.execute(update(Meeting).where(Meeting.webinar_id == webinar_id)
                              .values(failure_notified_at=None))
        await session.commit()
    return 0


async def send_all(ctx: WorkerContext, mails: list[OutgoingMail]) -> bool:
    try:
        for mail in mails:
            await ctx["mailer"].send(mail)
    except Exception:
        log.exception("an organizer notice could not be sent; it is tried again later")
        return False
    return True


async def check_connections(ctx: WorkerContext) -> int:
    """Daily: test every connection; the organizers of one that stopped working hear of it
    once, with a reconnect link, if a coming webinar needs it. Returns the notices sent."""
    sent = 0
    async with ctx["sessionmaker"]() as session:
        ids = list((await session.scalars(select(PlatformConnection.id))).all())
    for connection_id in ids:
        async with ctx["sessionmaker"]() as session:
            connection = await session.get(PlatformConnection, connection_id)
            if connection is None:
                continue
            try:
                adapter = build_adapter(ctx["config"], ctx["http"], ctx["tokens"],
                                        ctx["clock"], connection.platform, connection)
            except CredentialsUnavailable as exc:
                connection.status, connection.last_error = ConnectionStatus.BROKEN, str(exc)
            else:
                try:
                    await check_connection(adapter, connection, ctx["clock"])
                except PlatformUnavailable:
                    pass
            mails = (await broken_notices(session, ctx, connection)
                     if connection.status == ConnectionStatus.BROKEN
                     and connection.broken_notice_at is None else [])
            if mails:
                connection.broken_notice_at = ctx["clock"].now()
            await session.commit()
        if mails and await send_all(ctx, mails):
            sent += len(mails)
        elif mails:
            async with ctx["sessionmaker"]() as session:
                await session.execute(update(PlatformConnection)
                                      .where(PlatformConnection.id == connection_id)
                                      .values(broken_notice_at=None))
                await session.commit()
    return sent


async def next_webinar_needing(session: AsyncSession, connection: PlatformConnection,
                               ctx: WorkerContext) -> Webinar | None:
    now = ctx["clock"].now()
    orgs = await all_organizations(session)
    below = subtree_ids(orgs, [connection.organization_id])
    return await session.scalar(
        select(Webinar).outerjoin(Meeting, Meeting.webinar_id == Webinar.id)
        .where(Webinar.platform == connection.platform,
               Webinar.status == WebinarStatus.SCHEDULED,
               Webinar.start_at > now, Webinar.start_at < now + LOOKAHEAD,
               or_(Meeting.connection_id == connection.id,
                   Webinar.organization_id.in_(below)))
        .order_by(Webinar.start_at).limit(1))


async def broken_notices(session: AsyncSession, ctx: WorkerContext,
                         connection: PlatformConnection) -> list[OutgoingMail]:
    """The reconnect e-mails, if a coming webinar needs the connection."""
    webinar = await next_webinar_needing(session, connection, ctx)
    if webinar is None:
        return []
    now = ctx["clock"].now()
    label = PLATFORMS[connection.platform].label
    return [connection_broken_notice(
        ctx["config"], to=person.email, locale=person.locale, platform=connection.platform,
        label=label, organization_id=connection.organization_id,
        reason=connection.last_error or "", next_title=webinar.title,
        next_when=when_text(webinar.start_at, webinar.timezone, person.locale), now=now)
        for person in await organizers(session, connection.organization_id)]
