"""People on the web: admins invite organizers and admins, change roles, remove access;
anyone sets a password from a one-time link (an invitation or a forgotten password).

A link is signed, expires, and is bound to the account's current password hash: setting a
password changes the hash, so the link stops working; nothing is stored for it. An invited
account has no usable password until then (its hash is a random marker argon2 never accepts).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from . import limits
from .accounts import MIN_PASSWORD, start_session
from .clock import Clock
from .errors import Conflict, Forbidden, NotFound, ValidationFailed
from .models import ROLES, Account, LoginSession, Organization, Role
from .organizations import admin_subtree, all_organizations, require_admin_within
from .security import hash_password, new_token
from .validation import EMAIL_RE, one_line

INVITE_LIFETIME = timedelta(days=7)
RESET_LIFETIME = timedelta(hours=2)
#: "Forgot password" from one client, and for one address (so nobody floods a mailbox).
RESET_CLIENT = limits.Window(10, timedelta(hours=1))
RESET_ADDRESS = limits.Window(3, timedelta(hours=1))
#: The hash of an account that has no password yet; argon2 never verifies it.
UNSET_PREFIX = "!unset:"


def has_password(account: Account) -> bool:
    return not account.password_hash.startswith(UNSET_PREFIX)


def _mac(secret: str, account: Account, expires: int) -> str:
    message = f"set-password:{account.id}:{expires}:{account.password_hash}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:32]


def password_link_token(secret: str, account: Account, expires_at: datetime) -> str:
    """`<account id>-<expiry>-<mac>`: only URL-safe characters, under 64 of them."""
    expires = int(expires_at.timestamp())
    return f"{account.id}-{expires}-{_mac(secret, account, expires)}"


async def account_for_link(session: AsyncSession, secret: str, token: str,
                           now: datetime) -> Account | None:
    """The account the link is for, if it is genuine, unexpired and not yet used."""
    parts = token.split("-", 2)
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() \
            or len(parts[0]) > 10 or len(parts[1]) > 12:
        return None
    account_id, expires = int(parts[0]), int(parts[1])
    if expires < now.timestamp() or account_id > 2**31 - 1:
        return None
    account = await session.get(Account, account_id)
    if account is None or not hmac.compare_digest(_mac(secret, account, expires), parts[2]):
        return None
    return account


async def set_password(session: AsyncSession, clock: Clock, account: Account,
                       new: str) -> str:
    """Set the password from a link and end every session; returns this browser's new one."""
    if len(new) < MIN_PASSWORD:
        raise ValidationFailed({"new_password": f"must be at least {MIN_PASSWORD} characters"})
    if len(new) > 1000:
        raise ValidationFailed({"new_password": "must be at most 1000 characters"})
    account.password_hash = hash_password(new)
    await session.execute(delete(LoginSession).where(LoginSession.account_id == account.id))
    return await start_session(session, clock, account)


@dataclass(frozen=True)
class Person:
    role: Role
    account: Account
    organization: Organization


async def people(session: AsyncSession, actor: Account) -> list[Person]:
    """Every role in the admin's part of the tree, by organization and name."""
    orgs = await all_organizations(session)
    administered = admin_subtree(orgs, actor)
    by_id = {org.id: org for org in orgs}
    rows = (await session.execute(
        select(Role, Account).join(Account, Account.id == Role.account_id)
        .where(Role.organization_id.in_(sorted(administered)))
        .order_by(Role.organization_id, Account.name, Account.id))).all()
    return [Person(role, account, by_id[role.organization_id]) for role, account in rows]


async def invite(session: AsyncSession, clock: Clock, actor: Account, *, email: str,
                 name: str, organization_id: int, role: str, locale: str) -> Account:
    """Give `email` a role in an organization of the admin's part of the tree; a new
    address gets an account without a password (the caller mails it a link)."""
    require_admin_within(admin_subtree(await all_organizations(session), actor),
                         organization_id)
    errors: dict[str, str] = {}
    email = email.strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 254:
        errors["email"] = "is not an e-mail address"
    name = one_line(name)
    if not name or len(name) > 200:
        errors["name"] = "must be 1 to 200 characters"
    if role not in ROLES:
        errors["role"] = f"must be one of {', '.join(ROLES)}"
    if locale not in ("ru", "en"):
        errors["locale"] = "must be one of ru, en"
    if errors:
        raise ValidationFailed(errors)
    account = await session.scalar(select(Account).where(Account.email == email))
    if account is None:
        account = Account(email=email, name=name, locale=locale, created_at=clock.now(),
                          password_hash=UNSET_PREFIX + new_token(), roles=[])
        session.add(account)
        await session.flush()
    if any(r.organization_id == organization_id for r in account.roles):
        raise Conflict("this person already has a role in this organization", "role_exists")
    account.roles.append(Role(account_id=account.id, organization_id=organization_id,
                              role=role))
    await session.flush()
    return account


async def renew_invitation(session: AsyncSession, actor: Account, account_id: int) -> Account:
    """A fresh link for someone who has not set a password yet; older links stop working."""
    account = await session.get(Account, account_id)
    administered = admin_subtree(await all_organizations(session), actor)
    if account is None or not any(r.organization_id in administered for r in account.roles):
        raise NotFound("no such person in your part of the tree")
    if has_password(account):
        raise Conflict("this person has already set a password", "already_joined")
    account.password_hash = UNSET_PREFIX + new_token()
    await session.flush()
    return account


async def _managed_role(session: AsyncSession, actor: Account, role_id: int) -> Role:
    role = await session.get(Role, role_id)
    if role is None:
        raise NotFound("no such role")
    require_admin_within(admin_subtree(await all_organizations(session), actor),
                         role.organization_id)
    return role


async def _keep_an_admin(session: AsyncSession, actor: Account, role: Role) -> None:
    """Refuse to take away the last admin of a top organization, or the actor's last admin
    role (nobody could manage the tree, or the admin would lock themself out)."""
    if role.role != "admin":
        return
    org = await session.get(Organization, role.organization_id)
    assert org is not None
    others = (await session.scalars(select(Role.id).where(
        Role.organization_id == org.id, Role.role == "admin", Role.id != role.id))).all()
    if org.parent_id is None and not others:
        raise Forbidden("the last admin of the top organization cannot lose that role")
    if role.account_id == actor.id and not any(
            r.role == "admin" and r.id != role.id for r in actor.roles):
        raise Forbidden("this is your last admin role; ask another admin to change it")


async def change_role(session: AsyncSession, actor: Account, role_id: int, new: str) -> Role:
    role = await _managed_role(session, actor, role_id)
    if new not in ROLES:
        raise ValidationFailed({"role": f"must be one of {', '.join(ROLES)}"})
    if new != role.role:
        await _keep_an_admin(session, actor, role)
        role.role = new
        await session.flush()
    return role


async def remove_role(session: AsyncSession, actor: Account, role_id: int) -> Account:
    """Take away one role; with no role left, the person's sessions end too."""
    role = await _managed_role(session, actor, role_id)
    await _keep_an_admin(session, actor, role)
    account = await session.get(Account, role.account_id)
    assert account is not None
    account.roles.remove(role)
    await session.delete(role)
    if not account.roles:
        await session.execute(delete(LoginSession).where(LoginSession.account_id == account.id))
    await session.flush()
    return account


async def forgotten(session: AsyncSession, clock: Clock, email: str,
                    client: str) -> Account | None:
    """The account to mail a reset link to, or None: no such address, or asked too often.
    The caller answers the same either way. Raises RateLimited for a client that keeps asking."""
    email = email.strip().lower()[:254]
    now = clock.now()
    wait = await limits.wait_for(session, f"reset-client:{client}", RESET_CLIENT, now)
    if wait:
        raise limits.RateLimited("too many requests; try again later", wait)
    limits.record(session, now, f"reset-client:{client}")
    if not EMAIL_RE.match(email):
        return None
    if await limits.wait_for(session, f"reset-address:{email}", RESET_ADDRESS, now):
        return None
    limits.record(session, now, f"reset-address:{email}")
    account = await session.scalar(select(Account).where(Account.email == email))
    return account if account is not None and account.roles else None
