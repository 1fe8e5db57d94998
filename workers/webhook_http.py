"""One POST to an integrator's endpoint, safe against SSRF.

The address that is checked is the address connected to: names are resolved by
`GuardedResolver` inside aiohttp's connector (no DNS cache, no proxies, no redirects), and an
address literal in the URL, which aiohttp never resolves, is checked before the request. Every
outcome, refusals included, comes back as an `Answer`, never as an exception.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)
#: What is kept of an error text for the organizer.
MAX_ERROR = 500


class RefusedAddress(OSError):
    """The endpoint resolves to an address we do not send to."""


def refusal(address: IPv4Address | IPv6Address, allow_loopback: bool) -> str | None:
    """Why this address is refused, or None. IPv4-mapped IPv6 is judged as the IPv4 it maps."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None if allow_loopback else "loopback"
    for why, flag in (("unspecified", address.is_unspecified),
                      ("link-local", address.is_link_local),
                      ("multicast", address.is_multicast),
                      ("private", address.is_private),
                      ("reserved", address.is_reserved or not address.is_global)):
        if flag:
            return why
    return None


class GuardedResolver(AbstractResolver):
    """Resolves like `inner`, and refuses the name if any of its addresses is not public
    (one bad address among good ones is how DNS rebinding gets in)."""

    def __init__(self, allow_loopback: bool, inner: AbstractResolver | None = None) -> None:
        self.allow_loopback = allow_loopback
        self.inner = inner or aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        for result in results:
            why = refusal(ip_address(result["host"].split("%")[0]), self.allow_loopback)
            if why is not None:
                raise RefusedAddress(f"{host} resolves to a {why} address ({result['host']}); "
                                     "refused")
        return results

    async def close(self) -> None:
        await self.inner.close()


@dataclass(frozen=True)
class Answer:
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int


def literal_refusal(url: str, allow_loopback: bool) -> str | None:
    host = (urlsplit(url).hostname or "").split("%")[0]
    try:
        address = ip_address(host)
    except ValueError:
        return None
    why = refusal(address, allow_loopback)
    return None if why is None else f"{host} is a {why} address; refused"


def describe(exc: BaseException) -> str:
    """An error for the organizer: what went wrong, never a header or the secret."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, RefusedAddress):
            return str(cause)
        cause = getattr(cause, "os_error", None) or cause.__cause__
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer in time"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect: {exc.os_error.strerror or type(exc.os_error).__name__}"
    return f"{type(exc).__name__}: {exc}"


def connector(allow_loopback: bool, resolver: AbstractResolver | None = None
              ) -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(resolver=GuardedResolver(allow_loopback, resolver),
                                use_dns_cache=False, limit=10)


async def post(url: str, body: bytes, headers: dict[str, str], *, allow_loopback: bool,
               resolver: AbstractResolver | None = None) -> Answer:
    """POST once. 2xx is success; anything else, refusals included, is a failed attempt."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    refused = literal_refusal(url, allow_loopback)
    if refused is not None:
        return Answer(False, None, refused, 0)
    try:
        async with (aiohttp.ClientSession(connector=connector(allow_loopback, resolver),
                                          timeout=TIMEOUT, trust_env=False) as http,
                    http.post(url, data=body, headers=headers,
                              allow_redirects=False) as response):
            status = response.status
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
        return Answer(False, None, describe(exc)[:MAX_ERROR], took())
    if 200 <= status < 300:
        return Answer(True, status, None, took())
    return Answer(False, status, f"answered {status}", took())
