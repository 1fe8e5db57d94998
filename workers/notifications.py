"""Telling members: the delivery rows each event implies. Run by the dispatcher
(`workers.dispatch`); sending them is `workers.deliveries`.

A change to a webinar with 50,000 registrants is not written in one transaction: each call
writes one batch of members (`BATCH`) and returns where it stopped, and the dispatcher commits
the batch with its cursor, so the first messages leave while later batches are written.
Whatever the state has become since the event (cancelled meanwhile, registered again), the
worker decides each row anew before sending (`recheck.decide`): a row written here for a
version the member already holds is never sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webinars import deliveries, series
from webinars.models import Registration, Webinar
from webinars.runtime import WorkerContext
from webinars.scheduling import SIGNIFICANT
from webinars.states import DeliveryKind, RegistrationStatus, WebinarStatus

from .handling import EventView, Step

#: Members per transaction of a fan-out.
BATCH = 1000

RowsFor = Callable[[int], list[dict[str, Any]]]
ALL_KINDS = (DeliveryKind.INVITATION, DeliveryKind.UPDATE, DeliveryKind.REMINDER,
             DeliveryKind.FOLLOWUP, DeliveryKind.DEADLINE, DeliveryKind.PROMOTED)


async def registration_confirmed(session: AsyncSession, ctx: WorkerContext, event: EventView,
                                 cursor: int) -> Step:
    """The invitation (saying a seat freed up, for one promoted from the waitlist), and the
    reminders whose moment is still ahead."""
    registration, webinar = await load(session, event)
    if registration is None or webinar is None:
        return Step()
    now = ctx["clock"].now()
    kind = DeliveryKind.PROMOTED if event.data.get("promoted") else DeliveryKind.INVITATION
    rows = [deliveries.row(webinar, registration.id, kind, now, now),
            *deliveries.reminder_rows(webinar, registration.id, now),
            *deliveries.deadline_rows(webinar, registration.id, now)]
    await deliveries.write(session, rows, event_id=event.id)
    return Step(1)


async def registration_cancelled(session: AsyncSession, ctx: WorkerContext, event: EventView,
                                 cursor: int) -> Step:
    """Nothing more for them but the CANCEL that takes the event out of their calendar; one
    who only waited (pending, waitlisted) has no event there and gets nothing."""
    registration, webinar = await load(session, event)
    if registration is None or webinar is None:
        return Step()
    now = ctx["clock"].now()
    await deliveries.supersede(session, webinar_id=webinar.id, kinds=ALL_KINDS,
                               registration_id=registration.id)
    if not event.data.get("held_seat", True):
        return Step()
    await deliveries.write(session, [deliveries.row(webinar, registration.id,
                                                    DeliveryKind.CANCELLATION, now, now)],
                           event_id=event.id)
    return Step(1)


async def registration_pending(session: AsyncSession, ctx: WorkerContext, event: EventView,
                               cursor: int) -> Step:
    """"Your request was received": no calendar part until an organizer confirms."""
    return await notice(session, ctx, event, DeliveryKind.PENDING)


async def registration_waitlisted(session: AsyncSession, ctx: WorkerContext, event: EventView,
                                  cursor: int) -> Step:
    """"You are on the waitlist": no calendar part, they have no seat."""
    return await notice(session, ctx, event, DeliveryKind.WAITLISTED)


async def registration_declined(session: AsyncSession, ctx: WorkerContext, event: EventView,
                                cursor: int) -> Step:
    """A plain notice; one who held a seat also gets the CANCEL for their calendar."""
    registration, webinar = await load(session, event)
    if registration is None or webinar is None:
        return Step()
    now = ctx["clock"].now()
    await deliveries.supersede(session, webinar_id=webinar.id,
                               kinds=(*ALL_KINDS, DeliveryKind.PENDING,
                                      DeliveryKind.WAITLISTED),
                               registration_id=registration.id)
    rows = [deliveries.row(webinar, registration.id, DeliveryKind.DECLINED, now, now)]
    if event.data.get("held_seat"):
        rows.append(deliveries.row(webinar, registration.id, DeliveryKind.CANCELLATION,
                                   now, now))
    await deliveries.write(session, rows, event_id=event.id)
    return Step(len(rows))


async def notice(session: AsyncSession, ctx: WorkerContext, event: EventView,
                 kind: DeliveryKind) -> Step:
    registration, webinar = await load(session, event)
    if registration is None or webinar is None:
        return Step()
    now = ctx["clock"].now()
    await deliveries.write(session, [deliveries.row(webinar, registration.id, kind, now, now)],
                           event_id=event.id)
    return Step(1)


async def webinar_changed(session: AsyncSession, ctx: WorkerContext, event: EventView,
                          cursor: int) -> Step:
    """An update when members must see the change, new reminders when the time or the
    reminder plan moved, a follow-up when a recording or note was added."""
    webinar = await session.get(Webinar, event.webinar_id)
    if webinar is None or webinar.status != WebinarStatus.SCHEDULED:
        return Step()
    changed = set(event.changed)
    now = ctx["clock"].now()
    update = bool(changed & set(SIGNIFICANT))
    # A series' session moved or cancelled, or its rule changed: its reminders are
    # written anew (the cancelled session's are superseded and not written again).
    replan = bool(changed & {"start_at", "reminder_offsets", "sessions", "series_rule"})
    # A moved or removed deadline supersedes its reminder; a new one is written.
    redeadline = "deadline_at" in changed
    followup = bool(changed & {"recording_url", "followup_note"}) and bool(
        webinar.recording_url or webinar.followup_note)
    stale = ([DeliveryKind.UPDATE] if update else []) + (
        [DeliveryKind.REMINDER] if replan else []) + ([DeliveryKind.FOLLOWUP] if followup else [])
    stale += [DeliveryKind.DEADLINE] if redeadline else []
    if not stale:
        return Step()
    if cursor == 0:
        await deliveries.supersede(session, webinar_id=webinar.id, kinds=stale)
    end = series.ends_at(webinar)

    def rows_for(registration_id: int) -> list[dict[str, Any]]:
        rows = []
        if update:
            rows.append(deliveries.row(webinar, registration_id, DeliveryKind.UPDATE, now, now))
        if replan:
            rows += deliveries.reminder_rows(webinar, registration_id, now)
        if redeadline:
            rows += deliveries.deadline_rows(webinar, registration_id, now)
        if followup:
            rows.append(deliveries.row(webinar, registration_id, DeliveryKind.FOLLOWUP,
                                       max(end, now), now))
        return rows

    return await fan_out(session, webinar, event, cursor, rows_for)


async def webinar_cancelled(session: AsyncSession, ctx: WorkerContext, event: EventView,
                            cursor: int) -> Step:
    webinar = await session.get(Webinar, event.webinar_id)
    if webinar is None:
        return Step()
    now = ctx["clock"].now()
    if cursor == 0:
        await deliveries.supersede(session, webinar_id=webinar.id, kinds=ALL_KINDS)
    return await fan_out(session, webinar, event, cursor, lambda rid: [
        deliveries.row(webinar, rid, DeliveryKind.CANCELLATION, now, now)])


async def fan_out(session: AsyncSession, webinar: Webinar, event: EventView, cursor: int,
                  rows_for: RowsFor) -> Step:
    """One batch of the webinar's members after `cursor` (a registration id)."""
    ids = list((await session.scalars(
        select(Registration.id).where(Registration.webinar_id == webinar.id,
                                      Registration.status == RegistrationStatus.CONFIRMED,
                                      Registration.id > cursor)
        .order_by(Registration.id).limit(BATCH))).all())
    await deliveries.write(session, [row for rid in ids for row in rows_for(rid)],
                           event_id=event.id)
    return Step(len(ids), ids[-1] if len(ids) == BATCH else None)


async def load(session: AsyncSession, event: EventView
               ) -> tuple[Registration | None, Webinar | None]:
    if event.registration_id is None or event.webinar_id is None:
        return None, None
    registration = await session.scalar(
        select(Registration).where(Registration.id == event.registration_id))
    return registration, None if registration is None else registration.webinar
