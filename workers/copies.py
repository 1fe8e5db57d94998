"""Plan items and the organizations below: the copies' organizers told what changed in the
original (never written over their copy), and the reminders a higher level sends to those
that have not taken an item up. Both e-mail from a job, after the commit: the message is
claimed first, sent, and given back if it could not go."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.adoption import REMIND_EVERY, visible
from webinars.i18n import gettext
from webinars.mail import when_text
from webinars.mailer import OutgoingMail
from webinars.models import (
    Account,
    Adoption,
    Event,
    EventHandled,
    Organization,
    PlanReminder,
    Webinar,
)
from webinars.notices import original_changed_notice, plan_reminder_notice
from webinars.queue import copies_changed_job, pending_jobs
from webinars.runtime import WorkerContext
from webinars.states import WebinarStatus

from .alerts import organizers, send_all
from .handling import EventView, Step

log = logging.getLogger(__name__)

#: The marker (an `event_handlers` row) of an event whose copies' organizers were told.
TOLD = "copies-told"
#: How each changed field is named in the message (catalog keys).
LABELS = {"title": "Title", "description": "Description", "kind": "Kind",
          "start_at": "Starts", "timezone": "Time zone", "duration_minutes": "Duration, minutes",
          "capacity": "Capacity", "registration_open": "Registration open",
          "visibility": "Visibility", "platform": "Platform", "static_url": "Meeting link",
          "status": "Status", "reminder_offsets": "Reminders", "recording_url": "Recording link",
          "followup_note": "Note after the event", "organization_id": "Organization"}
LONGEST = 300


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


def shown(field: str, value: Any, zone: str, locale: str) -> str:
    if value is None or value == "":
        return "—"
    if field == "start_at" and isinstance(value, str):
        return when_text(datetime.fromisoformat(value), zone, locale)
    if isinstance(value, bool):
        return gettext(locale, "yes" if value else "no")
    if field in ("kind", "visibility", "status", "platform"):
        return gettext(locale, str(value))
    text = str(value)
    return text if len(text) <= LONGEST else text[:LONGEST] + "…"


def change_lines(changed: dict[str, Any], zone: str, locale: str) -> list[tuple[str, str, str]]:
    return [(LABELS.get(field, field), shown(field, change.get("old"), zone, locale),
             shown(field, change.get("new"), zone, locale))
            for field, change in changed.items()]


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
                      account_id: int) -> int:
    """Remind the organizers of each organization that has still not taken the item up and
    was not reminded of it in the last 24 hours: one e-mail per organizer, a PlanReminder row
    per organization (claimed before sending, given back if its mail could not go)."""
    now = ctx["clock"].now()
    async with ctx["sessionmaker"]() as session:
        webinar = await session.scalar(select(Webinar).where(Webinar.id == webinar_id)
                                       .with_for_update(of=Webinar))
        if webinar is None or not visible(webinar):
            return 0
        adopted = set((await session.scalars(select(Adoption.organization_id).where(
            Adoption.webinar_id == webinar_id))).all())
        recent = set((await session.scalars(select(PlanReminder.organization_id).where(
            PlanReminder.webinar_id == webinar_id,
            PlanReminder.sent_at > now - REMIND_EVERY))).all())
        claimed: list[tuple[PlanReminder, list[OutgoingMail]]] = []
        sender = await session.get(Account, account_id)
        for org_id in sorted(set(organization_ids) - adopted - recent):
            org = await session.get(Organization, org_id)
            if org is None:
                continue
            row = PlanReminder(webinar_id=webinar_id, organization_id=org_id,
                               sent_by_id=sender.id if sender else None, sent_at=now)
            session.add(row)
            mails = [plan_reminder_notice(
                ctx["config"], to=person.email, locale=person.locale, title=webinar.title,
                when=when_of(webinar, person.locale), owner=webinar.organization.name,
                organization=org.name, webinar_id=webinar_id, organization_id=org_id, now=now)
                for person in await organizers(session, org_id)]
            claimed.append((row, mails))
        await session.commit()
    sent = 0
    for n, (row, mails) in enumerate(claimed):
        if await send_all(ctx, mails):
            sent += len(mails)
            continue
        async with ctx["sessionmaker"]() as session:  # this one and the rest go back
            await session.execute(delete(PlanReminder).where(
                PlanReminder.id.in_([r.id for r, _ in claimed[n:]])))
            await session.commit()
        break
    return sent


def when_of(webinar: Webinar, locale: str) -> str:
    if webinar.status == WebinarStatus.PLANNED and webinar.plan_period:
        return webinar.plan_period
    return when_text(webinar.start_at, webinar.timezone, locale)
