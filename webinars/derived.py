"""Columns derived from others, kept at every flush so no code path can forget them.

- `Webinar.ends_at`: when the whole event is over (`series.ends_at`), and `long_running`:
  whether that is more than a day after its start; the lists ask "upcoming" and "past" of
  them with indexed conditions (`webinars.listings`).
- `Organization.plan_version`: raised whenever something a calendar of its plan shows changes
  (a webinar of it or its sessions, added, changed, moved in or out, or the organization's own
  name, level or parent). Feeds take their ETag from the versions of the organizations they
  show, so a 304 is answered without loading an event.

A listener rather than calls in each service: services, jobs, the CLI and the API all change
webinars, and a version one of them forgets to raise serves a stale calendar for good. The
listener sits on this session class only (`db.make_sessionmaker` uses it), not on every
SQLAlchemy session in the process.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, event, inspect, select, update
from sqlalchemy.orm import Session

from .models import Organization, Webinar, WebinarSession
from .series import ends_at

#: Longer than this an event is `long_running` (every single meeting is shorter: MAX_DURATION).
LONG = timedelta(days=1)
#: Webinar columns no published calendar shows: changing them leaves the plan's version.
UNSHOWN = frozenset({"registered_count", "ends_at", "long_running"})
#: Organization columns a calendar of its plan (or of a plan below it) shows or depends on.
ORG_SHOWN = ("name", "level", "parent_id", "slug")


class DerivedSession(Session):
    """The ORM session of the product: keeps the derived columns (see the module)."""


def _changed(obj: Any, names: tuple[str, ...] | None = None,
             ignore: frozenset[str] = frozenset()) -> bool:
    state = inspect(obj)
    for attr in state.mapper.column_attrs:
        if attr.key in ignore or (names is not None and attr.key not in names):
            continue
        if state.attrs[attr.key].history.has_changes():
            return True
    return False


def _old_organization(webinar: Webinar) -> int | None:
    deleted = inspect(webinar).attrs["organization_id"].history.deleted
    return deleted[0] if deleted and isinstance(deleted[0], int) else None


@event.listens_for(DerivedSession, "before_flush")
def keep_derived(session: Session, _context: Any, _instances: Any) -> None:
    org_ids: set[int] = set()
    webinar_ids: set[int] = set()
    touched: list[Webinar] = []
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(obj, Webinar):
            touched.append(obj)
            if (obj in session.new or obj in session.deleted or _changed(obj, ignore=UNSHOWN)
                    or inspect(obj).attrs["sessions"].history.has_changes()):
                if obj.organization_id is not None:
                    org_ids.add(obj.organization_id)
                old = _old_organization(obj)
                if old is not None:
                    org_ids.add(old)
        elif isinstance(obj, WebinarSession):
            if obj.webinar_id is not None:
                webinar_ids.add(obj.webinar_id)
                parent = session.identity_map.get(
                    session.identity_key(Webinar, obj.webinar_id))
                if isinstance(parent, Webinar):
                    touched.append(parent)
        elif (isinstance(obj, Organization) and obj not in session.new
              and (obj in session.deleted or _changed(obj, ORG_SHOWN))):
            org_ids.add(obj.id)
    for webinar in touched:
        if webinar not in session.deleted and webinar.start_at is not None:
            end = ends_at(webinar)
            if webinar.ends_at != end:
                webinar.ends_at = end
            long_running = end - webinar.start_at > LONG
            if webinar.long_running is not long_running:
                webinar.long_running = long_running
    if not org_ids and not webinar_ids:
        return
    condition: ColumnElement[bool] = Organization.id.in_(sorted(org_ids))
    if webinar_ids:
        condition = condition | Organization.id.in_(
            select(Webinar.organization_id).where(Webinar.id.in_(sorted(webinar_ids))))
    session.connection().execute(
        update(Organization).where(condition)
        .values(plan_version=Organization.plan_version + 1))
