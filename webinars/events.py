"""Recording what happened. A service calls `record` in the transaction that makes the change;
after the commit, `queue.commit_and_enqueue` puts one dispatch job per event on the queue, and
`workers.dispatch` hands the event to whoever reacts. Services never know who that is."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from .models import Event, Webinar
from .states import EventKind

#: Fields whose values an event may carry. Anything personal or secret (tokens, e-mails)
#: never enters `data`: payloads to integrators are built from it.
WEBINAR_FIELDS = ("title", "description", "kind", "start_at", "timezone", "duration_minutes",
                  "capacity", "registration_open", "registration_mode", "visibility", "platform", "static_url",
                  "status", "reminder_offsets", "recording_url", "followup_note",
                  "organization_id", "all_day", "end_date", "deadline_at",
                  # a course: its rule and its sessions (`webinars.series`)
                  "series_rule", "sessions")


def plain(value: Any) -> Any:
    """JSON-ready: times as ISO 8601 in UTC."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: {"old": .., "new": ..}} for every field whose value differs."""
    return {k: {"old": plain(before.get(k)), "new": plain(after[k])}
            for k in sorted(after) if k in WEBINAR_FIELDS and before.get(k) != after[k]}


def record(session: AsyncSession, kind: EventKind, now: datetime, *,
           webinar: Webinar | None = None, organization_id: int | None = None,
           registration_id: int | None = None, actor_id: int | None = None,
           data: dict[str, Any] | None = None) -> Event:
    event = Event(kind=kind.value, occurred_at=now,
                  organization_id=organization_id if webinar is None
                  else webinar.organization_id,
                  webinar_id=None if webinar is None else webinar.id,
                  registration_id=registration_id, actor_id=actor_id, data=data or {},
                  dispatch_attempts=0)
    session.add(event)
    recorded(session).append(event)
    return event


def recorded(session: AsyncSession) -> list[Event]:
    """Events added in this transaction, for the dispatch jobs queued after its commit."""
    events: list[Event] = session.info.setdefault("events", [])
    return events
