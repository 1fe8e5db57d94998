"""An organization's conferencing platforms page: per platform the connection it uses (its
own, or inherited from above), the form built from the registry's credential schema, "test
connection", and the callback address to give the platform. Secrets are never shown back: a
secret field left empty keeps the stored value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from integrations.registry import CONNECTABLE, PLATFORMS

from ..connections import (
    HOOK_KEY,
    CredentialsUnavailable,
    build_adapter,
    check_connection,
    connection_for,
    delete_connection,
    hook_url,
    open_credentials,
    save_connection,
)
from ..errors import NotFound, ValidationFailed
from ..models import Organization, PlatformConnection
from ..requests import commit, runtime
from .common import db, locale, read_form, redirect, render, require_account
from .organizer import reason_text
from .routing import route
from .webhooks import organization


def platform_of(request: Request) -> str:
    name: str = request.path_params["platform"]
    if name not in CONNECTABLE:
        raise NotFound("no such platform to connect")
    return name


async def render_page(request: Request, session: AsyncSession, org: Organization, *,
                      errors: Mapping[str, Mapping[str, str]] | None = None,
                      forms: Mapping[str, Mapping[str, Any]] | None = None) -> Response:
    rt = runtime(request)
    lang = locale(request)
    own = {c.platform: c for c in await session.scalars(
        select(PlatformConnection).where(PlatformConnection.organization_id == org.id))}
    rows = []
    for name in CONNECTABLE:
        connection = own.get(name)
        inherited = None
        if connection is None and org.parent_id is not None:
            inherited = await connection_for(session, org.parent_id, name)
        callback = None
        if connection is not None:
            try:
                key = open_credentials(rt.config, connection.credentials_sealed).get(HOOK_KEY)
                callback = hook_url(rt.config, name, key) if key else None
            except CredentialsUnavailable:
                callback = None
        inherited_from = (await session.get(Organization, inherited.organization_id)
                          if inherited is not None else None)
        rows.append({
            "platform": PLATFORMS[name], "connection": connection,
            "inherited": inherited, "inherited_from": inherited_from,
            "callback": callback if PLATFORMS[name].attendance == "webhooks" else None,
            "form": (forms or {}).get(name) or (connection.hints if connection else {}),
            "errors": {k: reason_text(lang, v) for k, v in ((errors or {}).get(name) or {}
                                                             ).items()},
        })
    return render(request, "pages/platforms.html", {
        "org": org, "rows": rows, "can_store": bool(rt.config.credentials_keys),
    }, status_code=422 if errors else 200)


async def page(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        org = await organization(session, account, request.path_params["id"])
        return await render_page(request, session, org)


async def save(request: Request) -> Response:
    rt = runtime(request)
    name = platform_of(request)
    async with db(request) as session:
        account = await require_account(request, session)
        org = await organization(session, account, request.path_params["id"])
        form = await read_form(request)
        data = {f.name: form.get(f.name) for f in PLATFORMS[name].fields
                if isinstance(form.get(f.name), str)}
        try:
            await save_connection(session, rt.config, rt.clock, account, org.id, name, data)
        except ValidationFailed as exc:  # raised before anything was changed
            shown = {k: ("" if k in PLATFORMS[name].secret_fields else v)
                     for k, v in data.items()}
            return await render_page(request, session, org, errors={name: exc.fields},
                                     forms={name: shown})
        await commit(request, session)
    return redirect(f"/organizations/{org.id}/platforms#{name}")


async def test(request: Request) -> Response:
    """Call the platform with the stored credentials and show exactly what it said."""
    rt = runtime(request)
    name = platform_of(request)
    async with db(request) as session:
        account = await require_account(request, session)
        org = await organization(session, account, request.path_params["id"])
        await read_form(request)
        connection = await session.scalar(select(PlatformConnection).where(
            PlatformConnection.organization_id == org.id, PlatformConnection.platform == name))
        if connection is None:
            raise NotFound("this organization has no connection to test")
        try:
            adapter = build_adapter(rt.config, rt.http, rt.tokens, rt.clock, name, connection)
        except CredentialsUnavailable as exc:
            connection.status, connection.last_error = "broken", str(exc)
        else:
            await check_connection(adapter, connection, rt.clock)
        await commit(request, session)
    return redirect(f"/organizations/{org.id}/platforms#{name}")


async def remove(request: Request) -> Response:
    name = platform_of(request)
    async with db(request) as session:
        account = await require_account(request, session)
        org = await organization(session, account, request.path_params["id"])
        await read_form(request)
        await delete_connection(session, account, org.id, name)
        await commit(request, session)
    return redirect(f"/organizations/{org.id}/platforms")


routes = [
    route("/organizations/{id:id}/platforms", GET=page),
    route("/organizations/{id:id}/platforms/{platform:key}", POST=save),
    route("/organizations/{id:id}/platforms/{platform:key}/test", POST=test),
    route("/organizations/{id:id}/platforms/{platform:key}/delete", POST=remove),
]
