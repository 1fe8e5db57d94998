"""Planning webinars: create, change, cancel. Each change checks its rules, changes the rows
and records what happened (`events.record`); who reacts is `workers.dispatch.HANDLERS`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.registry import NO_MEETING, PLATFORMS, WEBINAR_PLATFORMS

from . import events
from .clock import Clock
from .connections import connection_for
from .errors import Conflict, NotFound, ValidationFailed
from .models import (
    DEFAULT_REMINDER_OFFSETS,
    Account,
    Meeting,
    Organization,
    Registration,
    Webinar,
)
from .organizations import require_manage
from .periods import parse_period
from .states import (
    EventKind,
    MeetingStatus,
    RegistrationMode,
    RegistrationStatus,
    WebinarStatus,
)
from .validation import Errors, WebinarInput, check_deadline

#: Changes an attendee must see in their calendar: each raises SEQUENCE and sends an update.
SIGNIFICANT = ("start_at", "duration_minutes", "title", "description", "all_day",
               # a course's rule or one of its sessions (`webinars.series`)
               "series_rule", "sessions")
#: Changes that need the platform told (a new time or title for the meeting): the meetings
#: handler reads them.
MEETING_FIELDS = ("start_at", "duration_minutes", "title", "platform", "static_url",
                  # a course's sessions: a time-bound meeting must cover every one held
                  "series_rule", "sessions")


def new_uid(domain: str) -> str:
    return f"webinar-{uuid.uuid4()}@{domain}"


async def get_webinar(session: AsyncSession, webinar_id: int, *, lock: bool = False) -> Webinar:
    stmt = select(Webinar).where(Webinar.id == webinar_id)
    if lock:
        stmt = stmt.with_for_update(of=Webinar)
    webinar = await session.scalar(stmt)
    if webinar is None:
        raise NotFound("no such webinar")
    return webinar


async def get_managed_webinar(session: AsyncSession, account: Account, webinar_id: int, *,
                              lock: bool = False) -> Webinar:
    webinar = await get_webinar(session, webinar_id, lock=lock)
    await require_manage(session, account, webinar.organization_id)
    return webinar


async def touch_plans(session: AsyncSession, org_ids: Iterable[int], now: datetime) -> None:
    """Record that these organizations' plans changed: their calendars' Last-Modified."""
    await session.execute(
        update(Organization).where(Organization.id.in_(sorted(set(org_ids))))
        .values(plan_changed_at=now).execution_options(synchronize_session=False))


async def place_in_plan(session: AsyncSession, values: dict[str, Any],
                        webinar: Webinar | None = None) -> None:
    """Hold `values` to the rule of indicative items: a `planned` one has a plan period and
    no date (its `start_at` is the period's first moment in its organization's zone, for
    ordering); any other status has a date and no plan period."""
    status = values.get("status", webinar.status if webinar else WebinarStatus.SCHEDULED)
    if status != WebinarStatus.PLANNED:
        if values.get("plan_period"):
            raise ValidationFailed({"plan_period": "is only for planned items (with no date "
                                                   "yet)"})
        if webinar is not None and webinar.plan_period is not None:
            values["plan_period"] = None
            if "start_at" not in values:
                raise ValidationFailed({"start": "is required once the item gets its date"})
        return
    if webinar is not None and webinar.registered_count > 0 and \
            webinar.status != WebinarStatus.PLANNED:
        raise ValidationFailed({"status": "a webinar with registrants cannot go back to the "
                                          "plan; cancel it instead"})
    code = values.get("plan_period", webinar.plan_period if webinar else None)
    period = parse_period(code) if code else None
    if period is None:
        raise ValidationFailed({"plan_period": "is required for a planned item"})
    if "start_at" in values:
        raise ValidationFailed({"start": "a planned item has no date yet: leave it empty, "
                                         "or make it scheduled"})
    org_id = values.get("organization_id", webinar.organization_id if webinar else None)
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("no such organization")
    values["start_at"] = period.first_moment(org.timezone)


def hold_deadline(values: dict[str, Any], webinar: Webinar | None = None) -> None:
    """A deadline belongs to an all-day period and lies inside it, whichever of them the
    change touched."""
    merged = {key: values.get(key, getattr(webinar, key, None)) for key in (
        "all_day", "start_at", "duration_minutes", "deadline_at")}
    errors = Errors()
    if merged["deadline_at"] is not None and not merged["all_day"]:
        errors["deadline"] = "is only for all-day periods (contests, actions)"
    check_deadline(merged, errors)
    errors.check()


async def create_webinar(session: AsyncSession, clock: Clock, account: Account,
                         data: WebinarInput, *, uid_domain: str) -> Webinar:
    values = dict(data.values)
    await require_manage(session, account, values["organization_id"])
    await place_in_plan(session, values)
    hold_deadline(values)
    now = clock.now()
    if values.get("platform") not in WEBINAR_PLATFORMS:
        values["platform"] = NO_MEETING if values.get("all_day") else "jitsi"
    await require_connected(session, values["platform"], values["organization_id"])
    values.setdefault("reminder_offsets", list(DEFAULT_REMINDER_OFFSETS))
    # An event with no online meeting has no meeting row: nothing waits for a link.
    meeting = None if values["platform"] == NO_MEETING else Meeting(
        platform=values["platform"], status=MeetingStatus.PENDING, updated_at=now)
    webinar = Webinar(**values, uid=new_uid(uid_domain), public_id=uuid.uuid4().hex,
                      sequence=0, registered_count=0, created_by_id=account.id, created_at=now,
                      updated_at=now, meeting=meeting)
    session.add(webinar)
    await session.flush()
    await touch_plans(session, [webinar.organization_id], now)
    events.record(session, EventKind.WEBINAR_SCHEDULED
                  if webinar.status == WebinarStatus.SCHEDULED else EventKind.WEBINAR_DRAFTED,
                  now, webinar=webinar, actor_id=account.id)
    return webinar


async def require_connected(session: AsyncSession, platform: str,
                            organization_id: int) -> None:
    """A platform that needs an account must have one connected for the organization (or
    above it): refused here, with what to do, rather than failing in the meeting job."""
    entry = PLATFORMS[platform]
    if entry.needs_connection and await connection_for(session, organization_id,
                                                       platform) is None:
        raise ValidationFailed({"platform": f"no {entry.label} account is connected for this "
                                            "organization; connect one on its platforms page"})


async def update_webinar(session: AsyncSession, clock: Clock, account: Account,
                         webinar_id: int, data: WebinarInput) -> Webinar:
    webinar = await get_managed_webinar(session, account, webinar_id, lock=True)
    if webinar.status == "cancelled":
        raise Conflict("a cancelled webinar cannot be changed", "cancelled")
    values = dict(data.values)
    if "organization_id" in values and values["organization_id"] != webinar.organization_id:
        await require_manage(session, account, values["organization_id"])
    await place_in_plan(session, values, webinar)
    hold_deadline(values, webinar)
    now = clock.now()
    align_mode(values, webinar)
    changed = {k for k, v in values.items() if getattr(webinar, k) != v}
    if ("status" in changed and values["status"] == "draft" and webinar.registered_count > 0):
        # Members hold invitations: going quiet would leave the event in their calendars.
        raise ValidationFailed({"status": "a webinar with registrants cannot go back to draft;"
                                          " cancel it instead"})
    if not changed:
        return webinar
    if webinar.series_rule is not None and changed & {"start_at", "timezone",
                                                      "duration_minutes"}:
        # Its sessions hold the times: they move one by one, or with a new rule.
        raise ValidationFailed({"start" if key == "start_at" else key:
                                "a series changes through its sessions or its rule"
                                for key in changed & {"start_at", "timezone",
                                                      "duration_minutes"}})
    if changed & {"platform", "organization_id"}:
        await require_connected(session, values.get("platform", webinar.platform),
                                values.get("organization_id", webinar.organization_id))
    await touch_plans(session, {webinar.organization_id,
                                values.get("organization_id", webinar.organization_id)}, now)
    before = {key: getattr(webinar, key) for key in changed}
    for key in changed:
        setattr(webinar, key, values[key])
    if changed & set(SIGNIFICANT):
        webinar.sequence += 1
    webinar.updated_at = now
    await session.flush()
    # A draft or an indicative item that becomes a dated event is new to everyone who reacts.
    scheduled = before.get("status") in (WebinarStatus.DRAFT, WebinarStatus.PLANNED) and \
        webinar.status == WebinarStatus.SCHEDULED
    events.record(session, EventKind.WEBINAR_SCHEDULED if scheduled
                  else EventKind.WEBINAR_CHANGED, now, webinar=webinar, actor_id=account.id,
                  data={"changed": events.changes(before, {k: values[k] for k in changed})})
    if "capacity" in changed:  # more seats go to those waiting, in order
        # Imported here: registrations → series → scheduling would close a cycle.
        from .registrations import promote
        await promote(session, clock, webinar)
    return webinar


def align_mode(values: dict[str, Any], webinar: Webinar) -> None:
    """`registration_open` alone: closing closes; opening keeps an approval mode."""
    if "registration_open" in values and "registration_mode" not in values:
        if not values["registration_open"]:
            values["registration_mode"] = RegistrationMode.CLOSED.value
        elif webinar.registration_mode == RegistrationMode.CLOSED:
            values["registration_mode"] = RegistrationMode.OPEN.value


async def members_told(session: AsyncSession, webinar: Webinar, sequence_before: int) -> int:
    """How many members an edit sends an update: every confirmed registrant when it changed
    what their calendar holds (the SEQUENCE grew, `workers.notifications.webinar_changed`),
    else none."""
    if webinar.status != WebinarStatus.SCHEDULED or webinar.sequence <= sequence_before:
        return 0
    return await session.scalar(select(func.count(Registration.id)).where(
        Registration.webinar_id == webinar.id,
        Registration.status == RegistrationStatus.CONFIRMED)) or 0


async def cancel_webinar(session: AsyncSession, clock: Clock, account: Account,
                         webinar_id: int) -> Webinar:
    webinar = await get_managed_webinar(session, account, webinar_id, lock=True)
    if webinar.status == "cancelled":
        return webinar  # cancelling twice changes nothing and sends nothing
    now = clock.now()
    webinar.status = WebinarStatus.CANCELLED
    webinar.registration_open = False
    webinar.registration_mode = RegistrationMode.CLOSED
    webinar.sequence += 1
    webinar.updated_at = now
    await touch_plans(session, [webinar.organization_id], now)
    await session.flush()
    events.record(session, EventKind.WEBINAR_CANCELLED, now, webinar=webinar,
                  actor_id=account.id)
    return webinar

