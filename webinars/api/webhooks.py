"""/api/v1/webhooks: an organization's endpoints, their messages and attempts, a test ping
and "send again". Same steps as `v1`: authenticate, check the tree, check the body against
the document, call the domain (`webinars.webhooks`), commit then enqueue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import webhooks
from ..errors import ValidationFailed
from ..models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from ..requests import commit, runtime
from ..web.routing import route
from .auth import authorized
from .inputs import check_shape, query_int, read_json
from .openapi import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, SCHEMAS
from .serializers import utc


def maybe_utc(instant: datetime | None) -> str | None:
    return None if instant is None else utc(instant)


def endpoint_json(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {"id": endpoint.id, "organization_id": endpoint.organization_id, "url": endpoint.url,
            "description": endpoint.description, "kinds": list(endpoint.kinds),
            "enabled": endpoint.enabled, "disabled_at": maybe_utc(endpoint.disabled_at),
            "disabled_reason": endpoint.disabled_reason,
            "failing_since": maybe_utc(endpoint.failing_since),
            "created_at": utc(endpoint.created_at)}


def attempt_json(attempt: WebhookAttempt) -> dict[str, Any]:
    return {"attempted_at": utc(attempt.attempted_at), "succeeded": attempt.succeeded,
            "status_code": attempt.status_code, "error": attempt.error,
            "duration_ms": attempt.duration_ms}


def message_json(message: WebhookMessage, history: list[WebhookAttempt]) -> dict[str, Any]:
    return {"id": message.id, "msg_id": message.msg_id, "kind": message.kind,
            "event_id": message.event_id, "status": message.status,
            "attempts": message.attempts, "due_at": utc(message.due_at),
            "created_at": utc(message.created_at), "sent_at": maybe_utc(message.sent_at),
            "last_status_code": message.last_status_code, "last_error": message.last_error,
            "history": [attempt_json(a) for a in history]}


def checked(data: dict[str, Any], schema: str, *, allow_loopback: bool, partial: bool
            ) -> dict[str, Any]:
    """The document's shape first, then the domain's rules; every field reported at once."""
    body, fields = check_shape(data, SCHEMAS[schema])
    good = {k: v for k, v in body.items() if k not in fields}
    values: dict[str, Any] = {}
    try:
        values = webhooks.endpoint_input(good, allow_loopback=allow_loopback, partial=partial)
    except ValidationFailed as exc:
        fields = {**exc.fields, **fields}
    if fields:
        raise ValidationFailed(fields)
    return values


def endpoint_location(request: Request, endpoint_id: int) -> str:
    return f"{runtime(request).config.base_url}/api/v1/webhooks/{endpoint_id}"


async def list_webhooks(request: Request) -> Response:
    async with authorized(request) as (session, account):
        rows = await webhooks.managed_endpoints(session, account)
        return JSONResponse({"items": [endpoint_json(e) for e in rows]})


async def create_webhook(request: Request) -> Response:
    rt = runtime(request)
    async with authorized(request) as (session, account):
        data = await read_json(request)
        values = checked(data, "WebhookCreate", allow_loopback=rt.config.webhook_allow_loopback,
                         partial=False)
        created = await webhooks.create(session, account, data["organization_id"], values,
                                        secret_key=rt.config.secret_key, now=rt.clock.now())
        await commit(request, session)
        body = {**endpoint_json(created.endpoint), "secret": created.secret}
        return JSONResponse(body, status_code=201, headers={
            "Location": endpoint_location(request, created.endpoint.id)})


async def get_webhook(request: Request) -> Response:
    async with authorized(request) as (session, account):
        endpoint = await webhooks.get_managed(session, account,
                                              request.path_params["endpoint_id"])
        return JSONResponse(endpoint_json(endpoint))


async def update_webhook(request: Request) -> Response:
    rt = runtime(request)
    async with authorized(request) as (session, account):
        endpoint = await webhooks.get_managed(session, account,
                                              request.path_params["endpoint_id"])
        data = await read_json(request)
        values = checked(data, "WebhookUpdate", allow_loopback=rt.config.webhook_allow_loopback,
                         partial=True)
        await webhooks.change(session, endpoint, values, rt.clock.now())
        await commit(request, session)
        return JSONResponse(endpoint_json(endpoint))


async def delete_webhook(request: Request) -> Response:
    async with authorized(request) as (session, account):
        endpoint = await webhooks.get_managed(session, account,
                                              request.path_params["endpoint_id"])
        body = endpoint_json(endpoint)
        await webhooks.remove(session, endpoint)
        await commit(request, session)
        return JSONResponse(body)


async def list_messages(request: Request) -> Response:
    async with authorized(request) as (session, account):
        endpoint = await webhooks.get_managed(session, account,
                                              request.path_params["endpoint_id"])
        fields = {name: "is not a known parameter" for name in request.query_params
                  if name not in ("limit", "offset")}
        params = request.query_params
        limit = query_int(params.get("limit"), "limit", fields, default=DEFAULT_LIMIT,
                          minimum=1, maximum=MAX_LIMIT)
        offset = query_int(params.get("offset"), "offset", fields, default=0, minimum=0,
                           maximum=MAX_OFFSET)
        if fields:
            raise ValidationFailed(fields)
        total, rows, attempts = await webhooks.messages_of(session, endpoint.id, limit=limit,
                                                           offset=offset)
        return JSONResponse({"items": [message_json(m, attempts[m.id]) for m in rows],
                             "total": total, "limit": limit, "offset": offset})


async def ping_webhook(request: Request) -> Response:
    rt = runtime(request)
    async with authorized(request) as (session, account):
        endpoint = await webhooks.get_managed(session, account,
                                              request.path_params["endpoint_id"])
        message = await webhooks.ping(session, endpoint, rt.clock.now())
        await commit(request, session)
        return JSONResponse(message_json(message, []), status_code=202)


async def resend_message(request: Request) -> Response:
    rt = runtime(request)
    async with authorized(request) as (session, account):
        endpoint = await webhooks.get_managed(session, account,
                                              request.path_params["endpoint_id"])
        message = await webhooks.resend(session, endpoint, request.path_params["message_id"],
                                        rt.clock.now())
        await commit(request, session)
        return JSONResponse(message_json(message, []), status_code=202)


routes: list[Route] = [
    route("/webhooks", GET=list_webhooks, POST=create_webhook),
    route("/webhooks/{endpoint_id:id}", GET=get_webhook, PATCH=update_webhook,
          DELETE=delete_webhook),
    route("/webhooks/{endpoint_id:id}/messages", GET=list_messages),
    route("/webhooks/{endpoint_id:id}/ping", POST=ping_webhook),
    route("/webhooks/{endpoint_id:id}/messages/{message_id:id}/resend", POST=resend_message),
]
