"""/api/v1/platforms and an organization's platform connections, from the registry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from integrations.registry import CONNECTABLE, PLATFORMS

from ..config import AppConfig
from ..connections import (
    HOOK_KEY,
    CredentialsUnavailable,
    connection_for,
    delete_connection,
    hook_url,
    open_credentials,
    save_connection,
)
from ..errors import NotFound, ValidationFailed
from ..models import Organization, PlatformConnection
from ..organizations import require_manage
from ..requests import commit, runtime
from ..web.routing import route
from .auth import authorized
from .inputs import check_shape, read_json
from .openapi import SCHEMAS
from .serializers import utc
from .webhooks import maybe_utc


def platform_json(name: str) -> dict[str, Any]:
    p = PLATFORMS[name]
    return {"name": p.name, "label": p.label, "link_kind": p.link_kind,
            "attendance": p.attendance, "personal_links": p.personal_links,
            "host_link": p.host_link,
            "fields": [{"name": f.name, "label": f.label, "secret": f.secret,
                        "required": f.required, "kind": f.kind, "choices": list(f.choices),
                        "default": f.default} for f in p.fields]}


def connection_json(config: AppConfig, c: PlatformConnection) -> dict[str, Any]:
    try:
        key = open_credentials(config, c.credentials_sealed).get(HOOK_KEY)
    except CredentialsUnavailable:
        key = None
    return {"platform": c.platform, "organization_id": c.organization_id, "status": c.status,
            "last_error": c.last_error, "checked_at": maybe_utc(c.checked_at),
            "updated_at": utc(c.updated_at), "values": dict(c.hints),
            "callback_url": hook_url(config, c.platform, key) if key else None}


def platform_name(request: Request) -> str:
    name: str = request.path_params["platform"]
    if name not in CONNECTABLE:
        raise NotFound("no such platform to connect")
    return name


async def list_platforms(request: Request) -> Response:
    async with authorized(request):
        return JSONResponse({"items": [platform_json(n) for n, p in PLATFORMS.items()
                                       if p.link_kind != "paste"]})


async def list_connections(request: Request) -> Response:
    config = runtime(request).config
    async with authorized(request) as (session, account):
        org = await session.get(Organization, request.path_params["organization_id"])
        if org is None:
            raise NotFound("no such organization")
        await require_manage(session, account, org.id)
        own = {c.platform: c for c in await session.scalars(
            select(PlatformConnection).where(PlatformConnection.organization_id == org.id))}
        items = []
        for name in CONNECTABLE:
            above = (await connection_for(session, org.parent_id, name)
                     if name not in own and org.parent_id is not None else None)
            items.append({"platform": name,
                          "connection": connection_json(config, own[name]) if name in own
                          else None,
                          "inherited_from": above.organization_id if above else None})
        return JSONResponse({"items": items})


async def save(request: Request) -> Response:
    rt = runtime(request)
    name = platform_name(request)
    async with authorized(request) as (session, account):
        org_id = request.path_params["organization_id"]
        if await session.get(Organization, org_id) is None:
            raise NotFound("no such organization")
        await require_manage(session, account, org_id)  # before anything about the body
        data = await read_json(request)
        body, fields = check_shape(data, SCHEMAS["PlatformCredentials"])
        if fields:
            raise ValidationFailed(fields)
        connection = await save_connection(session, rt.config, rt.clock, account, org_id,
                                           name, body)
        await commit(request, session)
        return JSONResponse(connection_json(rt.config, connection))


async def remove(request: Request) -> Response:
    name = platform_name(request)
    async with authorized(request) as (session, account):
        org_id = request.path_params["organization_id"]
        if await session.get(Organization, org_id) is None:
            raise NotFound("no such organization")
        await delete_connection(session, account, org_id, name)
        await commit(request, session)
        return Response(status_code=204)


routes: list[Route] = [
    route("/platforms", GET=list_platforms),
    route("/organizations/{organization_id:id}/platforms", GET=list_connections),
    route("/organizations/{organization_id:id}/platforms/{platform:key}", PUT=save,
          DELETE=remove),
]
