"""Organizer accounts: creation, login with a rate limit, API tokens."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .clock import Clock
from .errors import ValidationFailed
from .models import ROLES, Account, ApiToken, LoginAttempt, Organization, Role
from .security import hash_password, hash_token, new_token, verify_password
from .validation import EMAIL_RE

LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_LIMIT = 5  # failures per e-mail, and 4x that per client address, within the window
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
    if not name.strip() or len(name) > 200:
        errors["name"] = "must be 1 to 200 characters"
    if len(password) < MIN_PASSWORD:
        errors["password"] = f"must be at least {MIN_PASSWORD} characters"
    if role not in ROLES:
        errors["role"] = f"must be one of {', '.join(ROLES)}"
    if errors:
        raise ValidationFailed(errors)
    account = Account(email=email, name=name.strip(), password_hash=hash_password(password),
                      locale=locale, created_at=clock.now(), roles=[])
    session.add(account)
    await session.flush()
    account.roles.append(Role(account_id=account.id, organization_id=organization.id, role=role))
    await session.flush()
    return account


async def get_account(session: AsyncSession, account_id: int) -> Account | None:
    return await session.get(Account, account_id)


async def login_blocked(session: AsyncSession, clock: Clock, email: str, client: str) -> bool:
    since = clock.now() - LOGIN_WINDOW
    by_email = await session.scalar(select(func.count()).where(
        LoginAttempt.key == f"email:{email.lower()}", LoginAttempt.at > since))
    by_client = await session.scalar(select(func.count()).where(
        LoginAttempt.key == f"client:{client}", LoginAttempt.at > since))
    return (by_email or 0) >= LOGIN_LIMIT or (by_client or 0) >= LOGIN_LIMIT * 4


async def authenticate(session: AsyncSession, clock: Clock, email: str, password: str,
                       client: str) -> Account | None:
    """The account, or None after recording a failed attempt (which counts for the limit)."""
    email = email.strip().lower()[:254]
    account = await session.scalar(select(Account).where(Account.email == email))
    if verify_password(account.password_hash if account else None, password) and account:
        await session.execute(delete(LoginAttempt).where(LoginAttempt.key == f"email:{email}"))
        return account
    now = clock.now()
    session.add_all([LoginAttempt(key=f"email:{email}", at=now),
                     LoginAttempt(key=f"client:{client}", at=now)])
    await session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - LOGIN_WINDOW))
    return None


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
