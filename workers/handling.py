"""What a handler receives and returns (`workers.dispatch` runs them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from webinars.models import Event
from webinars.runtime import WorkerContext
from webinars.states import EventKind


@dataclass(frozen=True)
class EventView:
    """An event as handlers see it: plain values, detached from any session."""

    id: int
    kind: EventKind
    occurred_at: datetime
    organization_id: int | None
    webinar_id: int | None
    registration_id: int | None
    actor_id: int | None
    data: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> EventView:
        return cls(event.id, EventKind(event.kind), event.occurred_at, event.organization_id,
                   event.webinar_id, event.registration_id, event.actor_id, dict(event.data))

    @property
    def changed(self) -> dict[str, Any]:
        changed: dict[str, Any] = self.data.get("changed", {})
        return changed


@dataclass(frozen=True)
class Step:
    """What one transaction of a handler did: `count` rows or messages it set off, and where
    to continue (`cursor`), or None when it is done."""

    count: int = 0
    cursor: int | None = None


#: A handler runs inside the transaction the dispatcher opened (and commits), once per batch.
Handler = Callable[[AsyncSession, WorkerContext, EventView, int], Awaitable[Step]]

