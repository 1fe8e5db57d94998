"""Organizers are told, before the start, what members cannot fix: a meeting the platform did
not make, and (the daily check) a platform connection that stopped working."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.base import PlatformUnavailable
from integrations.registry import PLATFORMS
from webinars.connections import (
    CredentialsUnavailable,
    build_adapter,
    check_connection,
)
from webinars.mail import when_text
from webinars.models import Account, Meeting, PlatformConnection, Role, Webinar
from webinars.notices import connection_broken_notice, meeting_failed_notice
from webinars.organizations import all_organizations, subtree_ids
from webinars.runtime import WorkerContext
from webinars.states import ConnectionStatus, WebinarStatus

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
    """The handler of meeting.failed: an e-mail to the organizers, if the start is ahead."""
    webinar = await session.get(Webinar, event.webinar_id)
    now = ctx["clock"].now()
    if webinar is None or webinar.status != WebinarStatus.SCHEDULED or webinar.start_at <= now:
        return Step()
    people = await organizers(session, webinar.organization_id, webinar.created_by_id)
    for person in people:
        await ctx["mailer"].send(meeting_failed_notice(
            ctx["config"], to=person.email, locale=person.locale, title=webinar.title,
            webinar_id=webinar.id, organization_id=webinar.organization_id,
            when=when_text(webinar.start_at, webinar.timezone, person.locale),
            reason=str(event.data.get("error") or ""), now=now))
    return Step(len(people))


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
            await session.commit()
            if connection.status == ConnectionStatus.BROKEN and \
                    connection.broken_notice_at is None:
                sent += await tell_broken(session, ctx, connection)
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


async def tell_broken(session: AsyncSession, ctx: WorkerContext,
                      connection: PlatformConnection) -> int:
    webinar = await next_webinar_needing(session, connection, ctx)
    if webinar is None:
        return 0
    now = ctx["clock"].now()
    people = await organizers(session, connection.organization_id)
    label = PLATFORMS[connection.platform].label
    for person in people:
        await ctx["mailer"].send(connection_broken_notice(
            ctx["config"], to=person.email, locale=person.locale, platform=connection.platform,
            label=label, organization_id=connection.organization_id,
            reason=connection.last_error or "", next_title=webinar.title,
            next_when=when_text(webinar.start_at, webinar.timezone, person.locale), now=now))
    connection.broken_notice_at = now
    await session.commit()
    return len(people)
