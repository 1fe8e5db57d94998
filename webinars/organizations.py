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
