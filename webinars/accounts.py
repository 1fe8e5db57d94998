"""Organizer accounts: creation, login with a rate limit, server-side sessions, API tokens."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from . import limits
from .clock import Clock
from .errors import ValidationFailed
from .models import ROLES, Account, ApiToken, LoginSession, Organization, Role
from .security import hash_password, hash_token, new_token, verify_password
from .validation import EMAIL_RE, one_line

#: Failures of one client for one address: that client is stopped for that address only, so
#: someone guessing from elsewhere cannot lock the owner out.
LOGIN_PAIR = limits.Window(5, timedelta(minutes=15))
#: Failures of one client for any address (guessing across accounts).
LOGIN_CLIENT = limits.Window(20, timedelta(minutes=15))
#: How long a signed-in browser stays signed in.
SESSION_LIFETIME = timedelta(days=14)
MIN_PASSWORD = 10


async def create_account(session: AsyncSession, clock: Clock, *, email: str, name: str,
                         password: str, organization: Organization, role: str,
                         locale: str = "ru") -> Account:
    errors: dict[str, str] = {}
    email = email.strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 254:
        errors["email"] = "is not an e-mail address"
    elif await session.scalar(select(Account.id).where(Account.email == email)):
        errors["email"] = "already has an account"
    name = one_line(name)
    if not name or len(name) > 200:
        errors["name"] = "must be 1 to 200 characters"
    if len(password) < MIN_PASSWORD:
        errors["password"] = f"must be at least {MIN_PASSWORD} characters"
    if role not in ROLES:
        errors["role"] = f"must be one of {', '.join(ROLES)}"
    if errors:
        raise ValidationFailed(errors)
    account = Account(email=email, name=name, password_hash=hash_password(password),
                      locale=locale, created_at=clock.now(), roles=[])
    session.add(account)
    await session.flush()
    account.roles.append(Role(account_id=account.id, organization_id=organization.id, role=role))
    await session.flush()
    return account


async def get_account(session: AsyncSession, account_id: int) -> Account | None:
    return await session.get(Account, account_id)


def _pair_key(email: str, client: str) -> str:
    return f"login:{client}:{email.strip().lower()[:254]}"


async def login_wait(session: AsyncSession, clock: Clock, email: str, client: str) -> int:
    """Seconds this client must wait before trying this address again (0: go ahead)."""
    now = clock.now()
    return max(await limits.wait_for(session, _pair_key(email, client), LOGIN_PAIR, now),
               await limits.wait_for(session, f"login-client:{client}", LOGIN_CLIENT, now))


async def authenticate(session: AsyncSession, clock: Clock, email: str, password: str,
                       client: str) -> Account | None:
    """The account, or None after recording a failed attempt (which counts for the limit)."""
    email = email.strip().lower()[:254]
    account = await session.scalar(select(Account).where(Account.email == email))
    if verify_password(account.password_hash if account else None, password) and account:
        await limits.forget(session, _pair_key(email, client))
        return account
    now = clock.now()
    limits.record(session, now, _pair_key(email, client), f"login-client:{client}")
    await limits.prune(session, now - max(LOGIN_PAIR.period, LOGIN_CLIENT.period))
    return None


async def start_session(session: AsyncSession, clock: Clock, account: Account) -> str:
    """A new signed-in browser; returns the id its cookie carries (only the hash is kept)."""
    session_id = new_token(32)
    now = clock.now()
    session.add(LoginSession(account_id=account.id, session_hash=hash_token(session_id),
                             created_at=now, expires_at=now + SESSION_LIFETIME))
    await session.flush()
    return session_id


async def account_for_session(session: AsyncSession, clock: Clock,
                              session_id: str) -> Account | None:
    if not session_id or len(session_id) > 100:
        return None
    account_id = await session.scalar(select(LoginSession.account_id).where(
        LoginSession.session_hash == hash_token(session_id),
        LoginSession.expires_at > clock.now()))
    return await session.get(Account, account_id) if account_id is not None else None


async def end_session(session: AsyncSession, session_id: str) -> None:
    await session.execute(delete(LoginSession).where(
        LoginSession.session_hash == hash_token(session_id)))


async def change_password(session: AsyncSession, clock: Clock, account: Account, *,
                          current: str, new: str) -> str:
    """Set a new password and sign out every browser; returns a fresh session id for this one."""
    errors: dict[str, str] = {}
    if not verify_password(account.password_hash, current):
        errors["current_password"] = "is not your current password"
    if len(new) < MIN_PASSWORD:
        errors["new_password"] = f"must be at least {MIN_PASSWORD} characters"
    elif len(new) > 1000:
        errors["new_password"] = "must be at most 1000 characters"
    if errors:
        raise ValidationFailed(errors)
    account.password_hash = hash_password(new)
    await session.execute(delete(LoginSession).where(LoginSession.account_id == account.id))
    return await start_session(session, clock, account)


async def create_api_token(session: AsyncSession, clock: Clock, account: Account,
                           name: str) -> str:
    """Return the token once; only its hash is stored."""
    token = "wbt_" + new_token(32)
    session.add(ApiToken(account_id=account.id, name=name[:100], token_hash=hash_token(token),
                         created_at=clock.now()))
    await session.flush()
    return token


async def account_for_token(session: AsyncSession, clock: Clock, token: str) -> Account | None:
    if not token.startswith("wbt_") or len(token) > 100:
        return None
    api_token = await session.scalar(select(ApiToken).where(
        ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)))
    if api_token is None:
        return None
    api_token.last_used_at = clock.now()
    return await session.get(Account, api_token.account_id)
