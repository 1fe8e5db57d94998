"""Adopting down the tree: an organization below takes an event of a higher level into its own
plan, by joining it (its members register for the one shared event) or by copying it (its own
event, linked to the original by `source_id`, with local overrides). The higher level sees
the coverage of each item and may remind those that have not taken it up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from .clock import Clock
from .errors import Conflict, NotFound, ValidationFailed
from .models import ORG_LEVELS, Account, Adoption, Organization, PlanReminder, Webinar
from .organizations import all_organizations, chain, managed_subtree, require_within, subtree_ids
from .queue import pending_jobs, remind_plan_job
from .scheduling import create_webinar, get_managed_webinar, get_webinar, touch_plans
from .states import AdoptionKind, Visibility, WebinarStatus
from .validation import Errors, WebinarInput, text, webinar_input

#: The fields a copy may set differently from the original; the rest are the original's.
OVERRIDES = ("title", "description", "start", "timezone", "platform", "static_url",
             "static_platform", "capacity", "start_date", "end_date", "deadline")
MAX_NOTE = 2000
MAX_CONTACT = 200
#: A lower organization is reminded of one item at most once in this time.
REMIND_EVERY = timedelta(hours=24)
#: Only these can be taken up: a dated event or an indicative item of a plan.
ADOPTABLE = (WebinarStatus.SCHEDULED, WebinarStatus.PLANNED)


def is_above(orgs: Sequence[Organization], webinar: Webinar, organization_id: int) -> bool:
    """The webinar's organization is a strict ancestor of `organization_id`."""
    return webinar.organization_id in [o.id for o in chain(orgs, organization_id)[1:]]


def lower_managed(orgs: Sequence[Organization], account: Account,
                  webinar: Webinar) -> list[Organization]:
    """The organizations the account manages strictly below the webinar's, in tree order."""
    managed = managed_subtree(orgs, account)
    return [o for o in orgs if o.id in managed and is_above(orgs, webinar, o.id)]


def visible(webinar: Webinar) -> bool:
    return webinar.visibility == Visibility.PUBLIC and webinar.status in ADOPTABLE


async def adoptable(session: AsyncSession, account: Account, webinar_id: int,
                    organization_id: int) -> tuple[Webinar, list[Organization]]:
    """The original, once the account may adopt it for `organization_id`: it manages that
    organization (403), the event is public and not a draft (404) and of a higher level (422)."""
    orgs = await all_organizations(session)
    require_within(managed_subtree(orgs, account), organization_id)
    webinar = await get_webinar(session, webinar_id)
    if not visible(webinar):
        raise NotFound("no such event to adopt")
    if not is_above(orgs, webinar, organization_id):
        raise ValidationFailed({"organization_id": "the event is not of a level above this "
                                                   "organization"})
    return webinar, orgs


async def adoption_of(session: AsyncSession, webinar_id: int,
                      organization_id: int) -> Adoption | None:
    return await session.scalar(select(Adoption).where(
        Adoption.webinar_id == webinar_id, Adoption.organization_id == organization_id))


async def refuse_twice(session: AsyncSession, webinar_id: int, organization_id: int) -> None:
    existing = await adoption_of(session, webinar_id, organization_id)
    if existing is not None:
        done = "joined" if existing.kind == AdoptionKind.JOIN else "copied"
        raise Conflict(f"this organization has already {done} the event; withdraw first to "
                       "change it", "already_adopted")


def local_fields(data: Mapping[str, Any]) -> tuple[str, str]:
    errors = Errors()
    note = text(data, "note", errors, required=False, max_len=MAX_NOTE, multiline=True) or ""
    contact = text(data, "contact", errors, required=False, max_len=MAX_CONTACT) or ""
    errors.check()
    return note, contact


async def join(session: AsyncSession, clock: Clock, account: Account, webinar_id: int,
               organization_id: int, data: Mapping[str, Any]) -> Adoption:
    """The organization takes the event into its plan as it is; its members register for it."""
    webinar, _ = await adoptable(session, account, webinar_id, organization_id)
    note, contact = local_fields(data)
    await refuse_twice(session, webinar.id, organization_id)
    now = clock.now()
    adoption = Adoption(webinar_id=webinar.id, organization_id=organization_id,
                        kind=AdoptionKind.JOIN, note=note, contact=contact,
                        created_by_id=account.id, created_at=now)
    session.add(adoption)
    await touch_plans(session, [organization_id], now)
    await session.flush()
    return adoption


def copy_input(original: Webinar, organization: Organization, overrides: Mapping[str, Any],
               clock: Clock) -> WebinarInput:
    """The copy's fields: the original's, with the overrides; checked as any new webinar."""
    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise ValidationFailed({f"overrides.{k}": "is not a field a copy may change"
                                for k in unknown})
    if original.status == WebinarStatus.PLANNED and not overrides.get("start"):
        raise ValidationFailed({"start": "is required: an indicative item is copied with your "
                                         "own date"})
    data: dict[str, Any] = {
        "title": original.title, "description": original.description, "kind": original.kind,
        "duration_minutes": original.duration_minutes, "capacity": original.capacity,
        "registration_open": True, "visibility": original.visibility,
        "platform": original.platform, "reminder_offsets": list(original.reminder_offsets),
        "organization_id": organization.id, "status": WebinarStatus.SCHEDULED.value,
    }
    if original.static_url and original.platform == "static":
        data["static_url"] = original.static_url
    if original.all_day:
        # A period is copied as a period: its days (and deadline) unless the copy moves them.
        data.pop("duration_minutes")
        zone = overrides.get("timezone") or original.timezone
        data.update(all_day=True, timezone=zone,
                    start_date=original.start_at.astimezone(ZoneInfo(original.timezone))
                    .date().isoformat(),
                    end_date=original.end_date.isoformat() if original.end_date else None,
                    deadline=(original.deadline_at.astimezone(ZoneInfo(zone)).replace(
                        tzinfo=None).isoformat() if original.deadline_at else None))
    elif overrides.get("start"):
        data["timezone"] = overrides.get("timezone") or organization.timezone
    else:  # the original's time, in the original's zone (unless another zone is asked for)
        data["start"] = original.start_at.isoformat()
        data["timezone"] = overrides.get("timezone") or original.timezone
    data.update({k: v for k, v in overrides.items() if k != "timezone"})
    if data.get("platform") != "static":
        data.pop("static_url", None)
        data.pop("static_platform", None)
    return webinar_input(data, clock, default_timezone=organization.timezone, partial=False)


async def copy(session: AsyncSession, clock: Clock, account: Account, webinar_id: int,
               organization_id: int, data: Mapping[str, Any], overrides: Mapping[str, Any], *,
               uid_domain: str) -> Adoption:
    """A new event of the organization made from the original (own UID, meeting, events)."""
    original, orgs = await adoptable(session, account, webinar_id, organization_id)
    note, contact = local_fields(data)
    values = copy_input(original, next(o for o in orgs if o.id == organization_id), overrides,
                        clock)
    await refuse_twice(session, original.id, organization_id)
    made = await create_webinar(session, clock, account, values, uid_domain=uid_domain)
    made.source_id = original.id
    adoption = Adoption(webinar_id=original.id, organization_id=organization_id,
                        kind=AdoptionKind.COPY, copy_id=made.id, note=note, contact=contact,
                        created_by_id=account.id, created_at=clock.now())
    session.add(adoption)
    await session.flush()
    return adoption


async def withdraw(session: AsyncSession, clock: Clock, account: Account, webinar_id: int,
                   organization_id: int) -> bool:
    """Take the item out of the organization's plan; a copy stays an event of its own (cancel
    it to call it off). Idempotent: returns whether there was an adoption."""
    orgs = await all_organizations(session)
    require_within(managed_subtree(orgs, account), organization_id)
    await get_webinar(session, webinar_id)
    result = await session.execute(delete(Adoption).where(
        Adoption.webinar_id == webinar_id, Adoption.organization_id == organization_id))
    if result.rowcount:  # type: ignore[attr-defined]
        await touch_plans(session, [organization_id], clock.now())
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- coverage -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Covered:
    """One organization below the item's owner: what it did with the item."""

    organization: Organization
    #: "join", "copy" or "" (not yet).
    kind: str
    copy: Webinar | None
    note: str
    contact: str
    reminded_at: datetime | None


@dataclass(frozen=True)
class LevelCount:
    level: str
    total: int
    joined: int
    copied: int

    @property
    def adopted(self) -> int:
        return self.joined + self.copied


@dataclass(frozen=True)
class Coverage:
    webinar: Webinar
    level: str
    levels: list[LevelCount]
    #: The organizations of `level` below the owner, by name.
    rows: list[Covered]

    @property
    def missing(self) -> list[Covered]:
        return [r for r in self.rows if not r.kind]


async def coverage(session: AsyncSession, account: Account, webinar_id: int,
                   level: str | None = None) -> Coverage:
    """Which organizations below the item's owner joined or copied it, per level; `level`
    picks the list (default: the level of the organizations right below)."""
    webinar = await get_managed_webinar(session, account, webinar_id)
    orgs = await all_organizations(session)
    below = subtree_ids(orgs, [webinar.organization_id]) - {webinar.organization_id}
    lower = [o for o in orgs if o.id in below]
    adoptions = {a.organization_id: a for a in (await session.scalars(
        select(Adoption).where(Adoption.webinar_id == webinar.id))).all()}
    copy_ids = [a.copy_id for a in adoptions.values() if a.copy_id is not None]
    copies = {w.id: w for w in (await session.scalars(
        select(Webinar).where(Webinar.id.in_(copy_ids)))).unique().all()} if copy_ids else {}
    present = [lv for lv in ORG_LEVELS if any(o.level == lv for o in lower)]
    if level is not None and level not in ORG_LEVELS:
        raise ValidationFailed({"level": f"must be one of {', '.join(ORG_LEVELS)}"})
    if level is None:
        children = [o.level for o in lower if o.parent_id == webinar.organization_id]
        level = children[0] if children else (present[0] if present else "regional")
    levels = []
    for lv in present:
        at = [o for o in lower if o.level == lv]
        kinds = [adoptions[o.id].kind for o in at if o.id in adoptions]
        levels.append(LevelCount(lv, len(at), kinds.count(AdoptionKind.JOIN),
                                 kinds.count(AdoptionKind.COPY)))
    reminded = await last_reminders(session, webinar.id)
    rows = []
    for org in sorted((o for o in lower if o.level == level), key=lambda o: (o.name, o.id)):
        adoption = adoptions.get(org.id)
        rows.append(Covered(
            org, adoption.kind if adoption else "",
            copies.get(adoption.copy_id) if adoption and adoption.copy_id else None,
            adoption.note if adoption else "", adoption.contact if adoption else "",
            reminded.get(org.id)))
    return Coverage(webinar, level, levels, rows)


async def last_reminders(session: AsyncSession, webinar_id: int) -> dict[int, datetime]:
    found: dict[int, datetime] = {}
    for org_id, sent_at in (await session.execute(
            select(PlanReminder.organization_id, PlanReminder.sent_at)
            .where(PlanReminder.webinar_id == webinar_id))).all():
        if org_id not in found or sent_at > found[org_id]:
            found[org_id] = sent_at
    return found


async def to_remind(session: AsyncSession, account: Account, webinar_id: int,
                    level: str | None, now: datetime) -> list[int]:
    """The organizations of the level that have not taken the item up and were not reminded
    in the last 24 hours (the job checks again when it claims them)."""
    seen = await coverage(session, account, webinar_id, level)
    if not visible(seen.webinar):
        raise Conflict("only a public item that is planned or scheduled can be reminded of",
                       "not_adoptable")
    return [r.organization.id for r in seen.missing
            if r.reminded_at is None or r.reminded_at <= now - REMIND_EVERY]


async def request_reminders(session: AsyncSession, account: Account, webinar_id: int,
                            level: str | None, now: datetime) -> list[int]:
    """Record a reminder for each organization due one, in the caller's transaction, and
    queue the job that mails them: the rows, not the job, are the request, so a lost job is
    found by the reconcile (`workers.copies.lost_reminders`)."""
    org_ids = await to_remind(session, account, webinar_id, level, now)
    session.add_all([PlanReminder(webinar_id=webinar_id, organization_id=org_id,
                                  sent_by_id=account.id, sent_at=now) for org_id in org_ids])
    if org_ids:
        pending_jobs(session).append(remind_plan_job(webinar_id, org_ids,
                                                     now.strftime("%Y%m%d%H%M%S%f")))
    return org_ids


async def from_above(session: AsyncSession, account: Account, now: datetime, *,
                     limit: int = 50) -> list[Webinar]:
    """Coming public items of the levels above the account's organizations, to take up."""
    orgs = await all_organizations(session)
    managed = managed_subtree(orgs, account)
    above = {o.id for role in account.roles for o in chain(orgs, role.organization_id)[1:]}
    above -= managed
    if not above:
        return []
    return list((await session.scalars(
        select(Webinar).where(Webinar.organization_id.in_(sorted(above)),
                              Webinar.visibility == Visibility.PUBLIC,
                              Webinar.status.in_([s.value for s in ADOPTABLE]),
                              Webinar.start_at >= now - timedelta(days=1))
        .order_by(Webinar.start_at, Webinar.id).limit(limit))).unique().all())


async def adoptions_for(session: AsyncSession, webinar_id: int,
                        organization_ids: Sequence[int]) -> dict[int, Adoption]:
    rows = (await session.scalars(select(Adoption).where(
        Adoption.webinar_id == webinar_id,
        Adoption.organization_id.in_(list(organization_ids))))).all()
    return {a.organization_id: a for a in rows}
