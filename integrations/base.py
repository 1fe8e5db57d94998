"""The one interface every conferencing platform adapter implements, and its error tree.

Adapters take plain values and return plain values: no ORM objects, no sessions. They receive
the process's shared aiohttp session and never create their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import aiohttp


@dataclass(frozen=True)
class MeetingSpec:
    """What the core wants: a meeting for this event. `idempotency_key` is stable per event."""

    title: str
    start: datetime
    duration: timedelta
    description: str = ""
    idempotency_key: str = ""
    static_url: str | None = None


@dataclass(frozen=True)
class MeetingLink:
    """What the platform gave back: where attendees and the host go."""

    external_id: str
    join_url: str
    host_url: str | None = None


class ConferencingError(Exception):
    """Base of every error an adapter raises."""


class PlatformUnavailable(ConferencingError):
    """Temporary: timeouts, 5xx, 429. The job retries with back-off."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PlatformRejected(ConferencingError):
    """Final: bad credentials, invalid request, plan restrictions. The organizer must act."""


class MeetingNotFound(ConferencingError):
    """The platform no longer knows the meeting; delete treats this as done."""


class Adapter(Protocol):
    name: str
    #: "dynamic" adapters call an API; "static" ones validate a pasted link.
    link_kind: str

    async def create(self, spec: MeetingSpec) -> MeetingLink:
        """Create the meeting; calling it twice with the same idempotency key is harmless."""
        ...

    async def update(self, link: MeetingLink, spec: MeetingSpec) -> MeetingLink:
        """Move or rename the meeting; may return a different link."""
        ...

    async def delete(self, link: MeetingLink) -> None:
        """Remove the meeting; a meeting that is already gone counts as deleted."""
        ...


@contextmanager
def translate_errors(platform: str) -> Iterator[None]:
    """Map transport failures onto the error tree, keeping the cause."""
    try:
        yield
    except ConferencingError:
        raise
    except TimeoutError as exc:
        raise PlatformUnavailable(f"{platform}: no answer in time") from exc
    except aiohttp.ClientResponseError as exc:
        if exc.status == 429 or exc.status >= 500:
            raise PlatformUnavailable(f"{platform}: HTTP {exc.status}") from exc
        raise PlatformRejected(f"{platform}: HTTP {exc.status}") from exc
    except aiohttp.ClientError as exc:
        raise PlatformUnavailable(f"{platform}: {type(exc).__name__}") from exc
