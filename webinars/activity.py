"""The activity log: who changed what and when, and what it set off, read from the events.

Every change is already an `events` row (`webinars.events`), and every handler's work points
back at it (`deliveries.event_id`, `webhook_messages.event_id`, `event_handlers`), so the log
is a read of those tables and can never disagree with what happened. A page is a keyset page
on the event id (newest first) plus one grouped query per table for all its events: the
number of queries is the same at ten events and at ten million.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from .errors import NotFound
from .models import (
    Account,
    Delivery,
    Event,
    EventHandled,
    Organization,
    Registration,
    WebhookMessage,
    Webinar,
)
from .organizations import all_organizations, managed_subtree, require_within, subtree_ids
from .scheduling import get_webinar
from .states import DeliveryStatus, EventKind, WebhookStatus

PAGE_SIZE = 50
#: Kinds a member sets off themselves: their name is the "who" unless an organizer acted.
MEMBER_KINDS = (EventKind.REGISTRATION_CONFIRMED, EventKind.REGISTRATION_CANCELLED,
                EventKind.REGISTRATION_PENDING, EventKind.REGISTRATION_WAITLISTED)


@dataclass(frozen=True)
class Change:
    """One field as the event recorded it (times are ISO 8601 in UTC)."""

    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Told:
    """The delivery rows an event's notifications handler wrote."""

    members: int = 0
    messages: int = 0
    sent: int = 0
    failed: int = 0
    superseded: int = 0

    @property
    def waiting(self) -> int:
        return self.messages - self.sent - self.failed - self.superseded


@dataclass(frozen=True)
class Hooks:
    """The webhook messages queued for an event, one per endpoint."""

    messages: int = 0
    sent: int = 0
    failed: int = 0

    @property
    def waiting(self) -> int:
        return self.messages - self.sent - self.failed


@dataclass(frozen=True)
class Progress:
    """One handler's marker: what it set off so far and whether it finished."""

    count: int
    done: bool


@dataclass(frozen=True)
class Entry:
    id: int
    kind: EventKind
    occurred_at: datetime
    organization_id: int | None
    webinar_id: int | None
    webinar_title: str | None
    #: The organizer account that acted (None: a member or the system).
    actor: str | None
    registrant: str | None
    data: dict[str, Any]
    changes: tuple[Change, ...]
    told: Told
    hooks: Hooks
    handlers: dict[str, Progress]
    dispatched: bool
    dispatch_attempts: int
    last_error: str | None

    @property
    def who(self) -> str | None:
        """The actor's name, the registrant's for what a member did, None for the system."""
        if self.actor is not None:
            return self.actor
        return self.registrant if self.kind in MEMBER_KINDS else None

    @property
    def meeting_jobs(self) -> int:
        progress = self.handlers.get("meetings")
        return 0 if progress is None else progress.count

    @property
    def in_progress(self) -> bool:
        return not self.dispatched and any(not p.done for p in self.handlers.values())


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    #: `before` for the next (older) page, or None on the last one.
    next_before: int | None
    #: Names of the organizations a change may name (`organization_id`).
    organization_names: dict[int, str] = field(default_factory=dict)


async def webinar_activity(session: AsyncSession, account: Account, webinar_id: int, *,
                           before: int | None = None, limit: int = PAGE_SIZE
                           ) -> tuple[Webinar, Page]:
    """One webinar's events, for an organizer who manages it (403/404 otherwise)."""
    webinar = await get_webinar(session, webinar_id)
    orgs = await all_organizations(session)
    require_within(managed_subtree(orgs, account), webinar.organization_id)
    page = await read_page(session, Event.webinar_id == webinar.id, before, limit)
    return webinar, with_names(page, orgs)


async def organization_activity(session: AsyncSession, account: Account, org_id: int, *,
                                before: int | None = None, limit: int = PAGE_SIZE
                                ) -> tuple[Organization, Page]:
    """The events of an organization and of every organization below it."""
    orgs = await all_organizations(session)
    org = next((o for o in orgs if o.id == org_id), None)
    if org is None:
        raise NotFound("no such organization")
    require_within(managed_subtree(orgs, account), org.id)
    ids = sorted(subtree_ids(orgs, [org.id]))
    page = await read_page(session, Event.organization_id.in_(ids), before, limit)
    return org, with_names(page, orgs)


def with_names(page: Page, orgs: Iterable[Organization]) -> Page:
    return Page(page.entries, page.next_before, {o.id: o.name for o in orgs})


async def read_page(session: AsyncSession, where: ColumnElement[bool], before: int | None,
                    limit: int) -> Page:
    """Newest first from `before` (exclusive): the events, then one grouped query each for
    deliveries, webhook messages and handler markers of exactly those events."""
    stmt = (select(Event, Account.name, Registration.name, Webinar.title)
            .outerjoin(Account, Account.id == Event.actor_id)
            .outerjoin(Registration, Registration.id == Event.registration_id)
            .outerjoin(Webinar, Webinar.id == Event.webinar_id)
            .where(where).order_by(Event.id.desc()).limit(limit + 1))
    if before is not None:
        stmt = stmt.where(Event.id < before)
    rows = (await session.execute(stmt)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [event.id for event, *_ in rows]
    told = await told_of(session, ids)
    hooks = await hooks_of(session, ids)
    handlers = await handlers_of(session, ids)
    entries = [entry(event, actor, registrant, title, told.get(event.id, Told()),
                     hooks.get(event.id, Hooks()), handlers.get(event.id, {}))
               for event, actor, registrant, title in rows]
    return Page(entries, entries[-1].id if more and entries else None)


def entry(event: Event, actor: str | None, registrant: str | None, title: str | None,
          told: Told, hooks: Hooks, handlers: dict[str, Progress]) -> Entry:
    data = dict(event.data or {})
    changed: dict[str, Any] = data.get("changed") or {}
    changes = tuple(Change(name, value.get("old"), value.get("new"))
                    for name, value in changed.items() if isinstance(value, dict))
    return Entry(event.id, EventKind(event.kind), event.occurred_at, event.organization_id,
                 event.webinar_id, title, actor, registrant, data, changes, told, hooks,
                 handlers, event.dispatched_at is not None, event.dispatch_attempts,
                 event.last_error)


def counted(status: InstrumentedAttribute[str], value: str) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((status == value, 1), else_=0)), 0)


async def told_of(session: AsyncSession, ids: Sequence[int]) -> dict[int, Told]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Delivery.event_id, func.count(distinct(Delivery.registration_id)), func.count(),
               counted(Delivery.status, DeliveryStatus.SENT),
               counted(Delivery.status, DeliveryStatus.FAILED),
               counted(Delivery.status, DeliveryStatus.SUPERSEDED))
        .where(Delivery.event_id.in_(ids)).group_by(Delivery.event_id))
    return {event_id: Told(int(members), int(messages), int(sent), int(failed), int(gone))
            for event_id, members, messages, sent, failed, gone in rows.all()
            if event_id is not None}


async def hooks_of(session: AsyncSession, ids: Sequence[int]) -> dict[int, Hooks]:
    if not ids:
        return {}
    rows = await session.execute(
        select(WebhookMessage.event_id, func.count(),
               counted(WebhookMessage.status, WebhookStatus.SENT),
               counted(WebhookMessage.status, WebhookStatus.FAILED))
        .where(WebhookMessage.event_id.in_(ids)).group_by(WebhookMessage.event_id))
    return {event_id: Hooks(int(messages), int(sent), int(failed))
            for event_id, messages, sent, failed in rows.all() if event_id is not None}


async def handlers_of(session: AsyncSession, ids: Sequence[int]
                      ) -> dict[int, dict[str, Progress]]:
    if not ids:
        return {}
    rows = await session.execute(
        select(EventHandled.event_id, EventHandled.handler, EventHandled.count,
               EventHandled.done_at).where(EventHandled.event_id.in_(ids)))
    found: dict[int, dict[str, Progress]] = {}
    for event_id, handler, count, done_at in rows.all():
        found.setdefault(event_id, {})[handler] = Progress(count, done_at is not None)
    return found
