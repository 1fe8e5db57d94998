"""The organization tree and who may act where: a role covers its organization's subtree."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .clock import Clock
from .errors import Forbidden, NotFound, ValidationFailed
from .models import ORG_LEVELS, Account, Organization
from .timezones import is_timezone
from .validation import one_line

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


async def all_organizations(session: AsyncSession) -> list[Organization]:
    return list((await session.scalars(select(Organization).order_by(Organization.id))).all())


def subtree_ids(orgs: Iterable[Organization], root_ids: Iterable[int]) -> set[int]:
    children: dict[int | None, list[int]] = {}
    for org in orgs:
        children.setdefault(org.parent_id, []).append(org.id)
    found: set[int] = set()
    stack = list(root_ids)
    while stack:
        current = stack.pop()
        if current in found:
            continue
        found.add(current)
        stack.extend(children.get(current, []))
    return found


def chain(orgs: Iterable[Organization], org_id: int) -> list[Organization]:
    """The organization and its ancestors, nearest first (school → … → federation)."""
    by_id = {org.id: org for org in orgs}
    result: list[Organization] = []
    current = by_id.get(org_id)
    while current is not None and current not in result:
        result.append(current)
        current = by_id.get(current.parent_id) if current.parent_id is not None else None
    return result


def depth(orgs: Iterable[Organization], org_id: int) -> int:
    return len(chain(orgs, org_id)) - 1


# Who manages what: every page and endpoint that shows or changes an organization's data asks
# these functions, so the rule "a role covers its organization's subtree" is written once.

def managed_subtree(orgs: Iterable[Organization], account: Account) -> set[int]:
    """Every organization the account manages: each role's organization and all below it."""
    return subtree_ids(orgs, [role.organization_id for role in account.roles])


async def managed_ids(session: AsyncSession, account: Account) -> set[int]:
    """`managed_subtree` over the stored tree."""
    return managed_subtree(await all_organizations(session), account)


def require_within(managed: Collection[int], organization_id: int) -> None:
    """Refuse an organization outside `managed` (a `managed_subtree` or `managed_ids`)."""
    if organization_id not in managed:
        raise Forbidden("this organization is outside your part of the tree")


async def require_manage(session: AsyncSession, account: Account, organization_id: int) -> None:
    require_within(await managed_ids(session, account), organization_id)


async def get_by_slug(session: AsyncSession, slug: str) -> Organization:
    org = await session.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        raise NotFound("no such organization")
    return org


async def create_organization(
    session: AsyncSession,
    clock: Clock,
    *,
    slug: str,
    name: str,
    timezone: str,
    parent: Organization | None = None,
    level: str = "other",
) -> Organization:
    errors: dict[str, str] = {}
    if not SLUG_RE.match(slug):
        errors["slug"] = "use 1-63 lower-case latin letters, digits and hyphens"
    elif await session.scalar(select(Organization.id).where(Organization.slug == slug)):
        errors["slug"] = "is already taken"
    name = one_line(name)
    if not name or len(name) > 200:
        errors["name"] = "must be 1 to 200 characters"
    if not is_timezone(timezone):
        errors["timezone"] = "is not an IANA time zone"
    if level not in ORG_LEVELS:
        errors["level"] = f"must be one of {', '.join(ORG_LEVELS)}"
    if errors:
        raise ValidationFailed(errors)
    org = Organization(
        slug=slug,
        name=name,
        timezone=timezone,
        parent_id=parent.id if parent else None,
        level=level,
        created_at=clock.now(),
    )
    session.add(org)
    await session.flush()
    return org


# Admins manage the tree itself and the people in it; organizers only plan events there.

def admin_subtree(orgs: Iterable[Organization], account: Account) -> set[int]:
    """Every organization the account administers: each admin role's organization and below."""
    return subtree_ids(orgs, [r.organization_id for r in account.roles if r.role == "admin"])


def is_admin(account: Account) -> bool:
    return any(role.role == "admin" for role in account.roles)


def require_admin_within(administered: Collection[int], organization_id: int) -> None:
    if organization_id not in administered:
        raise Forbidden("managing organizations and people needs an admin role here")


def check_fields(*, name: str, level: str, timezone: str) -> dict[str, str]:
    """The reasons, per field, that these values cannot describe an organization."""
    errors: dict[str, str] = {}
    if not name or len(name) > 200:
        errors["name"] = "must be 1 to 200 characters"
    if level not in ORG_LEVELS:
        errors["level"] = f"must be one of {', '.join(ORG_LEVELS)}"
    if not is_timezone(timezone):
        errors["timezone"] = "is not an IANA time zone"
    return errors


async def update_organization(session: AsyncSession, org: Organization, administered: set[int],
                              *, name: str, level: str, timezone: str,
                              parent_id: int | None) -> None:
    """Rename, re-level, re-zone and move `org` within the admin's part of the tree.

    It never moves under itself or one of its descendants (the tree would become a loop) nor
    out of `administered`; the top of an admin's part stays where it is (moving it would
    change a part of the tree the admin does not manage)."""
    name = one_line(name)
    errors = check_fields(name=name, level=level, timezone=timezone)
    orgs = await all_organizations(session)
    if parent_id != org.parent_id:
        if org.parent_id is None or org.parent_id not in administered:
            errors["parent_id"] = "the top of your part of the tree cannot be moved"
        elif parent_id is None or parent_id not in administered:
            errors["parent_id"] = "must be an organization of your part of the tree"
        elif parent_id in subtree_ids(orgs, [org.id]):
            errors["parent_id"] = "cannot be the organization itself or one below it"
    if errors:
        raise ValidationFailed(errors)
    org.name, org.level, org.timezone, org.parent_id = name, level, timezone, parent_id
    await session.flush()
