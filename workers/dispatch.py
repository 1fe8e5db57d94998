"""The one dispatcher. What happens after a change is read in `HANDLERS`: each event kind,
the handlers that react to it, in the order they run.

Each (event, handler) runs once. A handler's progress is a row in `event_handlers`, written
in the handler's own transaction, first thing: of two runners (a job queued twice, reconcile
after a crash) one holds it and the other stops. A handler that works in batches (the members
told of a change) commits each batch with its cursor, so a handler interrupted after batch
three continues with batch four. Events of one webinar reach each handler in the order they
happened. What no job dispatched (Redis flushed, worker killed) `reconcile` queues again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.models import Event, EventHandled
from webinars.queue import commit_and_enqueue, dispatch_job
from webinars.runtime import WorkerContext
from webinars.states import EventKind

from . import alerts, copies, meetings, notifications, webhooks
from .handling import EventView, Handler

log = logging.getLogger(__name__)


NOTIFICATIONS = "notifications"
MEETINGS = "meetings"
WEBHOOKS = "webhooks"
ORGANIZERS = "organizers"
COPIES = "copies"

HANDLERS: dict[EventKind, tuple[tuple[str, Handler], ...]] = {
    EventKind.WEBINAR_DRAFTED: (
        (MEETINGS, meetings.sync),
        (WEBHOOKS, webhooks.queue_messages),
    ),
    EventKind.WEBINAR_SCHEDULED: (
        (MEETINGS, meetings.sync),
        (WEBHOOKS, webhooks.queue_messages),
    ),
    EventKind.WEBINAR_CHANGED: (  # updates and new reminders to members, follow-ups
        (NOTIFICATIONS, notifications.webinar_changed),
        (MEETINGS, meetings.sync),
        (COPIES, copies.original_changed),  # the copies' organizers told, copies untouched
        (WEBHOOKS, webhooks.queue_messages),
    ),
    EventKind.WEBINAR_CANCELLED: (
        (NOTIFICATIONS, notifications.webinar_cancelled),
        (MEETINGS, meetings.sync),
        (WEBHOOKS, webhooks.queue_messages),
    ),
    EventKind.REGISTRATION_CONFIRMED: (  # the invitation and the reminders
        (NOTIFICATIONS, notifications.registration_confirmed),
        (WEBHOOKS, webhooks.queue_messages),
    ),
    EventKind.REGISTRATION_CANCELLED: (
        (NOTIFICATIONS, notifications.registration_cancelled),
        (WEBHOOKS, webhooks.queue_messages),
    ),
    EventKind.REGISTRATION_PENDING: (  # "your request was received"
        (NOTIFICATIONS, notifications.registration_pending),
        (WEBHOOKS, webhooks.queue_messages),
    ),
    EventKind.REGISTRATION_WAITLISTED: (  # "you are on the waitlist", no calendar part
        (NOTIFICATIONS, notifications.registration_waitlisted),
        (WEBHOOKS, webhooks.queue_messages),
    ),
    EventKind.REGISTRATION_DECLINED: (
        (NOTIFICATIONS, notifications.registration_declined),
        (WEBHOOKS, webhooks.queue_messages),
    ),
    EventKind.MEETING_READY: (  # members' /j/ addresses follow the link: no mail to them
        (WEBHOOKS, webhooks.queue_messages),
    ),
    EventKind.MEETING_FAILED: (  # organizers are told before the start
        (ORGANIZERS, alerts.meeting_failed),
        (WEBHOOKS, webhooks.queue_messages),
    ),
    EventKind.DELIVERY_FAILED: (
        (WEBHOOKS, webhooks.queue_messages),
    ),
}

#: A handler that failed is tried again by reconcile; after this many tries it is left to
#: the organizer, whose activity log shows the error.
MAX_ATTEMPTS = 10
#: How long to wait for another runner that holds an earlier event of the same webinar.
WAIT = timedelta(seconds=2)


def handler_for(kind: EventKind, name: str) -> Handler | None:
    return next((h for n, h in HANDLERS.get(kind, ()) if n == name), None)


async def dispatch(ctx: WorkerContext, event_id: int) -> str:
    """Hand the event to each of its handlers; safe to run any number of times.

    One read finds the event, its handlers' progress and any earlier event of the webinar
    still open; the last handler's final transaction marks the event dispatched, so an event
    whose handlers have nothing to do costs one transaction per handler.
    """
    async with ctx["sessionmaker"]() as session:
        row = await session.get(Event, event_id)
        if row is None or row.dispatched_at is not None:
            return "nothing to do"
        event = EventView.of(row)
        earlier = await open_before(session, event)
        progress = await markers(session, [event.id, *(e.id for e in earlier)])
    handlers = HANDLERS.get(event.kind, ())
    outcome = DONE_ELSEWHERE
    for n, (name, handler) in enumerate(handlers):
        for previous in earlier:
            previous_handler = handler_for(previous.kind, name)
            if previous_handler is None or progress.get((previous.id, name)) == DONE:
                continue
            try:
                outcome = await run(ctx, previous, name, previous_handler,
                                    progress.get((previous.id, name)))
            except Exception as exc:
                log.exception("dispatching event %s (%s) failed", previous.id, previous.kind)
                await failed(ctx, previous, exc)
                return "waiting"  # for the earlier one; reconcile comes back to this one
            if outcome == BUSY:
                return await wait_for_other(ctx, event)
        if progress.get((event.id, name)) == DONE:
            continue
        try:
            outcome = await run(ctx, event, name, handler, progress.get((event.id, name)),
                                last=n == len(handlers) - 1)
        except Exception as exc:
            log.exception("dispatching event %s (%s) failed", event.id, event.kind)
            await failed(ctx, event, exc)
            return "failed"
        if outcome == BUSY:
            return await wait_for_other(ctx, event)
    if outcome != MARKED:  # nothing to do, or another runner did the last handler's work
        async with ctx["sessionmaker"]() as session:
            await mark_dispatched(session, event.id, ctx["clock"].now())
            await session.commit()
    return "dispatched"


#: A marker's state as `markers` reads it: DONE, or the cursor of a handler under way.
DONE = -1
#: How `run` ended: this runner finished the handler (and, for the event's last handler,
#: marked the event dispatched in the same transaction); another runner had finished it; or
#: another runner is still at it.
FINISHED, MARKED, DONE_ELSEWHERE, BUSY = "finished", "marked", "done elsewhere", "busy"


async def markers(session: AsyncSession, event_ids: list[int]) -> dict[tuple[int, str], int]:
    rows = (await session.execute(
        select(EventHandled.event_id, EventHandled.handler, EventHandled.cursor,
               EventHandled.done_at).where(EventHandled.event_id.in_(event_ids)))).all()
    return {(r.event_id, r.handler): DONE if r.done_at is not None else r.cursor for r in rows}


async def open_before(session: AsyncSession, event: EventView) -> list[EventView]:
    """Earlier events of the same webinar not dispatched yet: each handler finishes them
    first (one given up after MAX_ATTEMPTS no longer holds the later ones back)."""
    if event.webinar_id is None:
        return []
    rows = (await session.scalars(
        select(Event).where(Event.webinar_id == event.webinar_id,
                            Event.dispatched_at.is_(None), Event.id < event.id,
                            Event.dispatch_attempts < MAX_ATTEMPTS)
        .order_by(Event.id))).all()
    return [EventView.of(r) for r in rows]


async def mark_dispatched(session: AsyncSession, event_id: int, now: datetime) -> None:
    await session.execute(update(Event).where(Event.id == event_id)
                          .values(dispatched_at=now, last_error=None))


async def failed(ctx: WorkerContext, event: EventView, exc: Exception) -> None:
    """Count the try and keep the reason for the activity log; reconcile tries again."""
    async with ctx["sessionmaker"]() as session:
        await session.execute(
            update(Event).where(Event.id == event.id)
            .values(dispatch_attempts=Event.dispatch_attempts + 1,
                    last_error=f"{type(exc).__name__}: {exc}"[:1000]))
        await session.commit()


async def wait_for_other(ctx: WorkerContext, event: EventView) -> str:
    """Another runner holds this event or an earlier one: look again shortly."""
    now = ctx["clock"].now()
    queue = ctx.get("queue")
    if queue is not None:
        await queue.enqueue(dispatch_job(event.id, f":w{now:%H%M%S%f}", now + WAIT))
    return "waiting"


async def run(ctx: WorkerContext, event: EventView, name: str, handler: Handler,
              cursor: int | None, *, last: bool = False) -> str:
    """Run one handler to the end from `cursor` (None: not started); see FINISHED and the
    rest for what it returns. `last`: the event's last handler, whose final transaction also
    marks the event dispatched."""
    clock = ctx["clock"]
    while True:
        async with ctx["sessionmaker"]() as session:
            if not await hold(session, event.id, name, cursor, clock.now()):
                return DONE_ELSEWHERE if await finished(ctx, event.id, name) else BUSY
            step = await handler(session, ctx, event, cursor or 0)
            await session.execute(
                update(EventHandled)
                .where(EventHandled.event_id == event.id, EventHandled.handler == name)
                .values(cursor=step.cursor if step.cursor is not None else cursor or 0,
                        count=EventHandled.count + step.count,
                        done_at=clock.now() if step.cursor is None else None))
            if last and step.cursor is None:
                await mark_dispatched(session, event.id, clock.now())
            await commit_and_enqueue(session, ctx.get("queue"), clock)
        if step.cursor is None:
            return MARKED if last else FINISHED
        cursor = step.cursor


async def finished(ctx: WorkerContext, event_id: int, name: str) -> bool:
    """Whether the runner that held the marker finished (most handlers are one transaction)."""
    async with ctx["sessionmaker"]() as session:
        marker = await session.get(EventHandled, (event_id, name))
        return marker is not None and marker.done_at is not None


async def hold(session: AsyncSession, event_id: int, name: str, cursor: int | None,
               now: datetime) -> bool:
    """Take the handler's marker for this transaction: insert it the first time, else touch
    it where we left it. Either waits for a runner that holds it (a row lock, or SQLite's one
    writer) and fails once that one has moved on."""
    if cursor is None:
        session.add(EventHandled(event_id=event_id, handler=name, cursor=0, count=0,
                                 started_at=now))
        try:
            await session.flush()
        except IntegrityError:
            await session.rollback()
            return False
        return True
    result = await session.execute(
        update(EventHandled)
        .where(EventHandled.event_id == event_id, EventHandled.handler == name,
               and_(EventHandled.cursor == cursor, EventHandled.done_at.is_(None)))
        .values(cursor=cursor))
    return bool(result.rowcount)  # type: ignore[attr-defined]
