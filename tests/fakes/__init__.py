"""Fake conferencing platforms: one aiohttp server per platform, written from
../shared/reference/platform-apis.md, answering like the real one and refusing what the real
one refuses (auth, checksum, content type, required fields).

Every module `tests/fakes/<platform>.py` (named as in `integrations.registry.PLATFORMS`) has
`async def serve() -> <Fake>`, a started `FakeServer` subclass whose
- `credentials()` are what an organization would enter, and `endpoints()` the platform's fixed
  addresses pointed at the fake (AdapterContext.endpoints);
- `meetings` dict holds what exists on the platform now;
- `hook(kind, link, person_id, ...)` (platforms with webhooks) returns a genuinely signed
  callback `(headers, body, query)` as the platform would send it to `/hooks/<platform>/<key>`.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from integrations.base import Adapter
from integrations.http import AdapterContext, PlatformHttp, TokenCache
from integrations.registry import PLATFORMS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Fault:
    """One scripted failure: the next matching request gets it instead of the real answer."""

    status: int = 500
    body: bytes | str = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Only requests whose path contains this; None: any.
    path_contains: str | None = None
    #: Never answer (the client's timeout fires).
    hang: bool = False


class FakeServer:
    """Common parts: listening on 127.0.0.1, a request log, scripted faults."""

    platform = ""

    def __init__(self) -> None:
        self.app = web.Application(middlewares=[self._faults])
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""
        self._never = asyncio.Event()

    def fail_next(self, status: int = 500, body: bytes | str = b"", *,
                  headers: Mapping[str, str] | None = None, path_contains: str | None = None,
                  hang: bool = False) -> None:
        self.faults.append(Fault(status, body, dict(headers or {}), path_contains, hang))

    @web.middleware
    async def _faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        for fault in self.faults:
            if fault.path_contains is None or fault.path_contains in request.path_qs:
                self.faults.remove(fault)
                if fault.hang:
                    await self._never.wait()
                body = fault.body.encode() if isinstance(fault.body, str) else fault.body
                return web.Response(status=fault.status, body=body, headers=fault.headers)
        return await handler(request)

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        self._never.set()
        if self.runner is not None:
            await self.runner.cleanup()

    def credentials(self) -> dict[str, str]:
        raise NotImplementedError

    def endpoints(self) -> dict[str, str]:
        return {}


async def serve(platform: str) -> Any:
    """The started fake of `platform` (its module's `serve()`)."""
    module = importlib.import_module(f"tests.fakes.{platform}")
    return await module.serve()


@dataclass
class NoWait:
    """The HTTP layer's sleep in tests: records the pauses it was asked for, waits for none."""

    pauses: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


def adapter_for(platform: str, fake: Any, session: aiohttp.ClientSession, *,
                credentials: Mapping[str, str] | None = None,
                tokens: TokenCache | None = None, sleep: NoWait | None = None,
                timeout: float = 2.0, hook_url: str | None = None) -> Adapter:
    """The registry's adapter for `platform`, pointed at its fake, as the core builds it."""
    factory = PLATFORMS[platform].factory
    assert factory is not None
    http = PlatformHttp(session, platform, tokens=tokens or TokenCache(), timeout=timeout,
                        sleep=sleep or NoWait())
    return factory(AdapterContext(
        http=http, credentials=dict(credentials if credentials is not None
                                    else fake.credentials()),
        endpoints=fake.endpoints(), hook_url=hook_url or "https://webinars.example/hooks/x/k",
        secret="installation-secret-for-tests-0123456789"))
