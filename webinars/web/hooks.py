"""Callbacks from conferencing platforms: `/hooks/<platform>/<key>`.

The key in the address names the organization's connection (and is the whole secret for
platforms that sign nothing: BigBlueButton's end callback, MTS Link); the adapter checks the
platform's own signature. Anything not genuine gets 401 and changes nothing.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from integrations.base import BadSignature, ConferencingError, HookRequest, NotSupported
from integrations.registry import PLATFORMS

from .. import attendance
from ..connections import CredentialsUnavailable, build_adapter, connection_by_hook_key
from ..requests import commit, runtime
from ..states import AttendanceSource
from .common import db, read_body
from .routing import route

log = logging.getLogger(__name__)

MAX_HOOK_BYTES = 1024 * 1024


async def platform_hook(request: Request) -> Response:
    platform = request.path_params["platform"]
    entry = PLATFORMS.get(platform)
    if entry is None or not entry.fields:
        return PlainTextResponse("no such platform", status_code=404)
    body = await read_body(request, MAX_HOOK_BYTES)
    rt = runtime(request)
    now = rt.clock.now()
    async with db(request) as session:
        connection = await connection_by_hook_key(session, platform,
                                                  request.path_params["key"])
        if connection is None:
            return PlainTextResponse("unknown callback address", status_code=401)
        try:
            adapter = build_adapter(rt.config, rt.http, rt.tokens, rt.clock, platform,
                                    connection)
        except CredentialsUnavailable:
            log.warning("a %s callback came for connection %s, whose credentials cannot be "
                        "opened", platform, connection.id)
            return PlainTextResponse("not available", status_code=503)
        hook = HookRequest(headers={k.lower(): v for k, v in request.headers.items()},
                           body=body, query=dict(request.query_params), received_at=now,
                           method=request.method)
        try:
            reply = await adapter.handle_hook(hook)
        except BadSignature as exc:
            log.info("refused a %s callback: %s", platform, exc)
            return PlainTextResponse("bad signature", status_code=401)
        except NotSupported:
            return PlainTextResponse("this platform sends no callbacks", status_code=404)
        except ConferencingError as exc:  # the platform may send it again
            log.warning("a %s callback could not be taken: %s", platform, exc)
            return PlainTextResponse("try again later", status_code=503)
        await attendance.take(session, connection.id, platform, reply.events,
                              AttendanceSource.WEBHOOK, now)
        await commit(request, session)
    return Response(reply.body, status_code=reply.status, media_type=reply.content_type)


routes = [
    route("/hooks/{platform:key}/{key:key}", GET=platform_hook, POST=platform_hook),
]
