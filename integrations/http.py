"""The one HTTP layer every adapter calls platforms through.

It owns what no adapter should write again: the timeout, retries with back-off on 5xx and
timeouts, 429 answers (a short Retry-After is waited out, a long one or a daily quota is handed
to the job as RateLimited / QuotaExceeded, never retried hot), and OAuth bearer tokens cached
per credentials and fetched again before they expire or on the first 401. Everything else
(4xx bodies) comes back as a `Response` for the adapter to translate: adapters know their
platform's error format, this layer does not.
"""

from __future__ import annotations

import asyncio
import hashlib
import json as jsonlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from .base import PlatformUnavailable, QuotaExceeded, RateLimited

#: Fetches a token: returns (access token, lifetime in seconds).
TokenFetch = Callable[[], Awaitable[tuple[str, float]]]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self, platform: str) -> Any:
        """The body as JSON; an answer that is not JSON is the platform misbehaving, which
        is temporary as far as we can tell."""
        try:
            return jsonlib.loads(self.body) if self.body else {}
        except ValueError:
            raise PlatformUnavailable(
                f"{platform}: the answer (HTTP {self.status}) is not valid JSON") from None


@dataclass(frozen=True)
class Bearer:
    """Where a request's token comes from: the cache key and how to fetch a new one."""

    key: str
    fetch: TokenFetch
    scheme: str = "Bearer"


def credentials_key(platform: str, *parts: str) -> str:
    """A token cache key that changes when the credentials change, without holding them."""
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]
    return f"{platform}:{digest}"


@dataclass
class _Cached:
    token: str
    refresh_at: float


@dataclass
class TokenCache:
    """Process-wide OAuth tokens. A token is fetched again at 80 % of its lifetime, so a call
    never goes out with one about to expire; one fetch per key at a time."""

    monotonic: Callable[[], float] = time.monotonic
    _tokens: dict[str, _Cached] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    fetches: int = 0

    async def get(self, key: str, fetch: TokenFetch) -> str:
        cached = self._tokens.get(key)
        if cached is not None and self.monotonic() < cached.refresh_at:
            return cached.token
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._tokens.get(key)
            if cached is not None and self.monotonic() < cached.refresh_at:
                return cached.token
            token, lifetime = await fetch()
            self.fetches += 1
            self._tokens[key] = _Cached(token, self.monotonic() + 0.8 * max(lifetime, 0))
            return token

    def forget(self, key: str, token: str) -> None:
        """The platform refused `token` (401): the next call fetches a new one."""
        cached = self._tokens.get(key)
        if cached is not None and cached.token == token:
            del self._tokens[key]


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds: a number of seconds, an HTTP date, or (Zoom's daily limits)
    an ISO timestamp or a Unix time."""
    if not value:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        if number > 10 ** 9:  # a Unix time, not a delay
            return max(number - now.timestamp(), 0.0)
        return max(number, 0.0)
    for parse in (parsedate_to_datetime, datetime.fromisoformat):
        try:
            when = parse(value.replace("Z", "+00:00") if "T" in value else value)
        except (TypeError, ValueError, IndexError):
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max((when - now).total_seconds(), 0.0)
    return None


def is_daily_quota(response: Response) -> bool:
    """A 429 for a quota that resets once a day. Zoom sends X-RateLimit-Type: Daily-limit,
    but not always: its body says "daily" then."""
    kind = response.headers.get("X-RateLimit-Type", "")
    return kind.lower().startswith("daily") or b"daily" in response.body.lower()


def until_midnight_utc(now: datetime) -> float:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds()


class PlatformHttp:
    """Requests to one platform over the process's shared aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, platform: str, *, tokens: TokenCache,
                 timeout: float = 15.0, retries: int = 3, backoff: float = 0.5,
                 max_wait: float = 10.0, sleep: Sleep = asyncio.sleep,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.session = session
        self.platform = platform
        self.tokens = tokens
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.sleep = sleep
        self.now = now

    async def request(self, method: str, url: str, *, params: Mapping[str, str] | None = None,
                      headers: Mapping[str, str] | None = None, json: Any = None,
                      data: Any = None, auth: Bearer | None = None,
                      idempotent: bool | None = None) -> Response:
        """`idempotent` (by default: every method but POST) allows retrying after a 5xx or a
        timeout, when the platform may already have acted: a POST that creates a meeting is
        retried only by the job, which knows what it already has. A connection that never
        opened and a 429 are retried for every method: nothing was done."""
        if idempotent is None:
            idempotent = method.upper() != "POST"
        attempt = 0
        refreshed = False
        while True:
            sent = dict(headers or {})
            token = None
            if auth is not None:
                token = await self.tokens.get(auth.key, auth.fetch)
                sent["Authorization"] = f"{auth.scheme} {token}"
            try:
                async with self.session.request(
                        method, url, params=params, headers=sent, json=json, data=data,
                        timeout=aiohttp.ClientTimeout(total=self.timeout),
                        allow_redirects=False) as answer:
                    response = Response(answer.status, answer.headers, await answer.read())
            except (TimeoutError, aiohttp.ClientError) as exc:
                never_sent = isinstance(exc, aiohttp.ClientConnectorError)
                if attempt < self.retries and (idempotent or never_sent):
                    await self.sleep(self.backoff * 2 ** attempt)
                    attempt += 1
                    continue
                reason = ("no answer in time" if isinstance(exc, TimeoutError)
                          else f"cannot reach the platform ({type(exc).__name__})")
                raise PlatformUnavailable(f"{self.platform}: {reason}") from exc

            if response.status == 401 and auth is not None and token and not refreshed:
                self.tokens.forget(auth.key, token)  # revoked or expired early: ask again once
                refreshed = True
                continue
            if response.status == 429:
                now = self.now()
                wait = retry_after_seconds(response.headers.get("Retry-After"), now)
                if is_daily_quota(response):
                    raise QuotaExceeded(
                        f"{self.platform}: the daily quota of API calls is used up; "
                        "the meeting is made when it resets",
                        retry_after=wait if wait else until_midnight_utc(now))
                wait = wait if wait is not None else self.backoff * 2 ** attempt
                if attempt < self.retries and wait <= self.max_wait:
                    await self.sleep(wait)
                    attempt += 1
                    continue
                raise RateLimited(f"{self.platform}: too many requests (HTTP 429)",
                                  retry_after=wait)
            if response.status >= 500:
                if attempt < self.retries and idempotent:
                    await self.sleep(self.backoff * 2 ** attempt)
                    attempt += 1
                    continue
                raise PlatformUnavailable(f"{self.platform}: HTTP {response.status}")
            return response


@dataclass(frozen=True)
class AdapterContext:
    """What a platform's adapter factory receives: built per organization's connection."""

    http: PlatformHttp
    #: The organization's credentials, as entered (field names from the registry's schema).
    credentials: Mapping[str, str]
    #: The platform's fixed addresses where they differ from the real ones ("api", "oauth"):
    #: the test suite's fake servers, a regional cloud, a proxy. Setting PLATFORM_ENDPOINTS.
    endpoints: Mapping[str, str] = field(default_factory=dict)
    #: Our callback address for this connection (`<BASE_URL>/hooks/<platform>/<key>`).
    hook_url: str | None = None
    #: A key of this installation for names derived from events (unguessable room names).
    secret: str = ""
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def endpoint(self, name: str, default: str) -> str:
        return self.endpoints.get(name, default).rstrip("/")

    def credential(self, name: str, default: str = "") -> str:
        return (self.credentials.get(name) or default).strip()
