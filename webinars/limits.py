"""Counting attempts over a sliding window, in the database so every web process shares it.

Used for logins (a client that keeps guessing is stopped, the address's owner is not) and for
public registrations (no one can use the form to mail strangers in bulk).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .errors import DomainError
from .models import RateEvent


class RateLimited(DomainError):
    """Too many attempts; `retry_after` seconds until the next one is accepted."""

    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.code = "rate_limited"


@dataclass(frozen=True)
class Window:
    limit: int
    period: timedelta


def _seconds_until(oldest: datetime | None, window: Window, now: datetime) -> int:
    if oldest is None:
        return 0
    return max(1, math.ceil((oldest + window.period - now).total_seconds()))


async def wait_for(session: AsyncSession, key: str, window: Window, now: datetime) -> int:
    """Seconds until `key` may be counted again; 0 while the window has room."""
    since = now - window.period
    seen, oldest = (await session.execute(
        select(func.count(), func.min(RateEvent.at))
        .where(RateEvent.key == key, RateEvent.at > since))).one()
    return 0 if seen < window.limit else _seconds_until(oldest, window, now)


async def wait_for_new(session: AsyncSession, prefix: str, key: str, window: Window,
                       now: datetime) -> int:
    """Like `wait_for`, counting the distinct keys under `prefix` (one client's addresses).

    A key already seen within the window is always let through: the limit is on new ones.
    """
    since = now - window.period
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    under = (RateEvent.key.like(escaped + "%", escape="\\"), RateEvent.at > since)
    keys = set((await session.scalars(select(RateEvent.key).where(*under).distinct())).all())
    if key in keys or len(keys) < window.limit:
        return 0
    oldest = await session.scalar(select(func.min(RateEvent.at)).where(*under))
    return _seconds_until(oldest, window, now)


def record(session: AsyncSession, now: datetime, *keys: str) -> None:
    session.add_all([RateEvent(key=key, at=now) for key in keys])


async def forget(session: AsyncSession, key: str) -> None:
    await session.execute(delete(RateEvent).where(RateEvent.key == key))


async def prune(session: AsyncSession, before: datetime) -> None:
    """Drop events too old to count in any window."""
    await session.execute(delete(RateEvent).where(RateEvent.at < before))
