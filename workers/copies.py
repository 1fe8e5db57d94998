"""Plan items and the organizations below: the copies' organizers told what changed in the
original (never written over their copy), and the reminders a higher level sends to those
that have not taken an item up. Both e-mail from a job, after the commit: the message is
claimed first, sent, and given back if it could not go."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.adoption import visible
from webinars.changes import change_lines
from webinars.mail import when_text
from webinars.mailer import OutgoingMail
from webinars.models import (
    Adoption,
    Event,
    EventHandled,
    Organization,
    PlanReminder,
    Webinar,
)
from webinars.notices import original_changed_notice, plan_reminder_notice
from webinars.queue import copies_changed_job, pending_jobs, remind_plan_job
from webinars.runtime import WorkerContext
from webinars.states import EventKind, WebinarStatus

from .alerts import organizers, send_all
from .handling import EventView, Step

log = logging.getLogger(__name__)

#: The marker (an `event_handlers` row) of an event whose copies' organizers were told.
TOLD = "copies-told"


async def copies_of(session: AsyncSession, original_id: int) -> list[Webinar]:
    return list((await session.scalars(
        select(Webinar).where(Webinar.source_id == original_id,
                              Webinar.status != WebinarStatus.CANCELLED)
        .order_by(Webinar.id))).unique().all())


async def original_changed(session: AsyncSession, ctx: WorkerContext, event: EventView,
                           cursor: int) -> Step:
    """The handler of webinar.changed: if the webinar has copies, a job tells their
    organizers (outside this transaction: the embedded outbox writes to the same database)."""
    if event.webinar_id is None or not event.changed:
        return Step()
    copies = await copies_of(session, event.webinar_id)
    if copies:
        pending_jobs(session).append(copies_changed_job(event.id))
    return Step(len(copies))


async def tell_copies_changed(ctx: WorkerContext, event_id: int) -> int:
    """E-mail each copy's organizers what changed in the original, once per event."""
    now = ctx["clock"].now()
    async with ctx["sessionmaker"]() as session:
        event = await session.get(Event, event_id)
        if event is None or event.webinar_id is None:
            return 0
        view = EventView.of(event)
        original = await session.get(Webinar, event.webinar_id)
        copies = await copies_of(session, event.webinar_id)
        if original is None or not copies or not view.changed:
            return 0
        session.add(EventHandled(event_id=event_id, handler=TOLD, cursor=0, count=0,
                                 started_at=now, done_at=now))
        try:
            await session.flush()
        except IntegrityError:
            return 0  # told already (or being told by another run)
        mails: list[OutgoingMail] = []
        for made in copies:
            for person in await organizers(session, made.organization_id, made.created_by_id):
                mails.append(original_changed_notice(
                    ctx["config"], to=person.email, locale=person.locale, title=made.title,
                    original=original.title, copy_id=made.id, now=now,
                    changes=change_lines(view.changed, original.timezone, person.locale)))
        await session.commit()
    if await send_all(ctx, mails):
        return len(mails)
    async with ctx["sessionmaker"]() as session:
        await session.execute(delete(EventHandled).where(EventHandled.event_id == event_id,
                                                         EventHandled.handler == TOLD))
        await session.commit()
    return 0


async def remind_plan(ctx: WorkerContext, webinar_id: int, organization_ids: list[int],
                      *_: Any) -> int:
    """Mail the reminders asked for (PlanReminder rows not yet delivered) to the organizers
    of each organization: claimed first (`delivered_at`), given back if their mail could not
    go, so the reconcile sends them later. An organization that took the item up meanwhile
    is not reminded. (A job queued before 0006 carries the sender's id too: ignored.)"""
    now = ctx["clock"].now()
    async with ctx["sessionmaker"]() as session:
        webinar = await session.scalar(select(Webinar).where(Webinar.id == webinar_id)
                                       .with_for_update(of=Webinar))
        if webinar is None:
            return 0
        rows = list((await session.scalars(select(PlanReminder).where(
            PlanReminder.webinar_id == webinar_id,
            PlanReminder.organization_id.in_(organization_ids),
            PlanReminder.delivered_at.is_(None)).order_by(PlanReminder.id))).all())
        adopted = set((await session.scalars(select(Adoption.organization_id).where(
            Adoption.webinar_id == webinar_id))).all())
        claimed: list[tuple[PlanReminder, list[OutgoingMail]]] = []
        for row in rows:
            org = await session.get(Organization, row.organization_id)
            if org is None or row.organization_id in adopted or not visible(webinar):
                await session.delete(row)  # nothing left to remind of
                continue
            row.delivered_at = now
            claimed.append((row, [plan_reminder_notice(
                ctx["config"], to=person.email, locale=person.locale, title=webinar.title,
                when=when_of(webinar, person.locale), owner=webinar.organization.name,
                organization=org.name, webinar_id=webinar_id, organization_id=org.id, now=now)
                for person in await organizers(session, org.id)]))
        await session.commit()
    sent = 0
    for n, (row, mails) in enumerate(claimed):
        if await send_all(ctx, mails):
            sent += len(mails)
            continue
        async with ctx["sessionmaker"]() as session:  # this one and the rest go back
            await session.execute(update(PlanReminder).where(
                PlanReminder.id.in_([r.id for r, _ in claimed[n:]])).values(delivered_at=None))
            await session.commit()
        break
    return sent


#: How far back the reconcile looks for a lost reminder or "original changed" notice.
LOOKBACK = timedelta(days=2)


async def reconcile_copies(ctx: WorkerContext) -> dict[str, int]:
    """Periodic: queue again the reminders and the "original changed" notices whose job was
    lost (Redis flushed, a worker killed) or whose mail could not go."""
    config = ctx["config"]
    now = ctx["clock"].now()
    settled = now - timedelta(seconds=config.reconcile_grace)
    async with ctx["sessionmaker"]() as session:
        reminders = (await session.execute(
            select(PlanReminder.webinar_id, PlanReminder.organization_id).where(
                PlanReminder.delivered_at.is_(None), PlanReminder.sent_at <= settled,
                PlanReminder.sent_at > now - LOOKBACK))).all()
        told = select(EventHandled.event_id).where(EventHandled.event_id == Event.id,
                                                   EventHandled.handler == TOLD)
        with_copies = select(Webinar.source_id).where(
            Webinar.source_id.is_not(None), Webinar.status != WebinarStatus.CANCELLED)
        changes = (await session.scalars(select(Event).where(
            Event.kind == EventKind.WEBINAR_CHANGED, Event.dispatched_at.is_not(None),
            Event.occurred_at <= settled, Event.occurred_at > now - LOOKBACK,
            Event.webinar_id.in_(with_copies), ~told.exists()))).all()
    jobs_by_webinar: dict[int, list[int]] = {}
    for webinar_id, org_id in reminders:
        jobs_by_webinar.setdefault(webinar_id, []).append(org_id)
    stamp = f":r{now:%Y%m%d%H%M}"
    jobs = [remind_plan_job(webinar_id, org_ids, stamp)
            for webinar_id, org_ids in sorted(jobs_by_webinar.items())]
    jobs += [copies_changed_job(event.id, stamp) for event in changes
             if EventView.of(event).changed]
    queue = ctx.get("queue")
    if queue is not None:
        for job in jobs:
            await queue.enqueue(job)
    return {"plan_reminders": len(jobs_by_webinar), "copies_told": len(jobs) - len(jobs_by_webinar)}


def when_of(webinar: Webinar, locale: str) -> str:
    if webinar.status == WebinarStatus.PLANNED and webinar.plan_period:
        return webinar.plan_period
    return when_text(webinar.start_at, webinar.timezone, locale)
