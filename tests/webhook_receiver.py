"""A real integrator's endpoint on 127.0.0.1: aiohttp, verifying with `standardwebhooks`."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from standardwebhooks import Webhook


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def msg_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers `status` (503 while "down"); records every request, valid or not."""

    secret: str = ""
    status: int = 200
    received: list[Received] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(dict(request.headers), body))
        return web.Response(status=self.status, text="ok")

    def verified(self) -> list[Any]:
        """Every accepted body, each checked by the independent library (raises if forged).

        Its timestamp check compares with the wall clock, which is what we sign with."""
        hook = Webhook(self.secret)
        headers = [{k.lower(): v for k, v in r.headers.items()} for r in self.received]
        return [hook.verify(r.body, h) for r, h in zip(self.received, headers, strict=True)]

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


class LocalOnlyDns(AbstractResolver):
    """The test suite's name server: knows localhost and nothing else, so no test (the API
    fuzzer creating endpoints on random https hosts included) ever asks a real DNS server."""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if host != "localhost":
            raise socket.gaierror(socket.EAI_NONAME,
                                  f"tests resolve no names but localhost ({host})")
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": 0}]

    async def close(self) -> None:
        return None
