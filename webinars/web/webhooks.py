"""An organization's webhooks page: its endpoints with their state, the add form, on/off,
delete, a test message, and per endpoint the recent messages with every attempt and "send
again". Permission is the organization's (`organizations.require_manage`), checked before
anything is read; the signing secret appears once, in the answer to the form that made it."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from .. import webhooks
from ..errors import NotFound, ValidationFailed
from ..models import Account, Organization, WebhookEndpoint
from ..organizations import require_manage
from ..requests import commit, runtime
from .common import clock, db, locale, read_form, redirect, render, require_account
from .organizer import reason_text
from .routing import route

#: Messages shown per endpoint (the API pages through all of them).
RECENT = 10


async def organization(session: AsyncSession, account: Account, org_id: int) -> Organization:
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("no such organization")
    await require_manage(session, account, org.id)
    return org


async def render_page(request: Request, session: AsyncSession, org: Organization, *,
                      secret: str | None = None, errors: dict[str, str] | None = None,
                      form: Mapping[str, object] | None = None) -> Response:
    lang = locale(request)
    endpoints = await webhooks.managed_endpoints_of(session, org.id)
    recent = {}
    for endpoint in endpoints:
        _, rows, attempts = await webhooks.messages_of(session, endpoint.id, limit=RECENT,
                                                       offset=0)
        recent[endpoint.id] = [(m, attempts[m.id]) for m in rows]
    return render(request, "pages/webhooks.html", {
        "org": org, "endpoints": endpoints, "recent": recent, "secret": secret,
        "kinds": webhooks.KINDS, "form": form or {"url": "", "description": "", "kinds": []},
        "errors": {k: reason_text(lang, v) for k, v in (errors or {}).items()},
        "zone": org.timezone,
    }, status_code=422 if errors else 200)


async def page(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        org = await organization(session, account, request.path_params["id"])
        return await render_page(request, session, org)


async def add(request: Request) -> Response:
    rt = runtime(request)
    async with db(request) as session:
        account = await require_account(request, session)
        org = await organization(session, account, request.path_params["id"])
        form = await read_form(request)
        raw = {"url": form.get("url"), "description": form.get("description"),
               "kinds": [k for k in form.getlist("kinds") if isinstance(k, str)]}
        try:
            values = webhooks.endpoint_input(raw, allow_loopback=rt.config.webhook_allow_loopback,
                                             partial=False)
        except ValidationFailed as exc:
            shown = {k: v if isinstance(v, str | list) else "" for k, v in raw.items()}
            return await render_page(request, session, org, errors=exc.fields, form=shown)
        created = await webhooks.create(session, account, org.id, values,
                                        secret_key=rt.config.secret_key, now=clock(request).now())
        await commit(request, session)
        # Shown in this answer only: never in a redirect, a cookie or a log.
        return await render_page(request, session, org, secret=created.secret)


async def managed_endpoint(request: Request, session: AsyncSession
                           ) -> tuple[Account, WebhookEndpoint]:
    account = await require_account(request, session)
    endpoint = await webhooks.get_managed(session, account, request.path_params["id"])
    await read_form(request)
    return account, endpoint


def back(endpoint: WebhookEndpoint) -> Response:
    return redirect(f"/organizations/{endpoint.organization_id}/webhooks#endpoint-{endpoint.id}")


async def toggle(request: Request) -> Response:
    async with db(request) as session:
        _, endpoint = await managed_endpoint(request, session)
        await webhooks.change(session, endpoint, {"enabled": not endpoint.enabled},
                              clock(request).now())
        await commit(request, session)
        return back(endpoint)


async def delete(request: Request) -> Response:
    async with db(request) as session:
        _, endpoint = await managed_endpoint(request, session)
        org_id = endpoint.organization_id
        await webhooks.remove(session, endpoint)
        await commit(request, session)
    return redirect(f"/organizations/{org_id}/webhooks")


async def ping(request: Request) -> Response:
    async with db(request) as session:
        _, endpoint = await managed_endpoint(request, session)
        await webhooks.ping(session, endpoint, clock(request).now())
        await commit(request, session)
        return back(endpoint)


async def resend(request: Request) -> Response:
    async with db(request) as session:
        _, endpoint = await managed_endpoint(request, session)
        await webhooks.resend(session, endpoint, request.path_params["message_id"],
                              clock(request).now())
        await commit(request, session)
        return back(endpoint)


routes = [
    route("/organizations/{id:id}/webhooks", GET=page, POST=add),
    route("/webhooks/{id:id}/toggle", POST=toggle),
    route("/webhooks/{id:id}/delete", POST=delete),
    route("/webhooks/{id:id}/ping", POST=ping),
    route("/webhooks/{id:id}/messages/{message_id:id}/resend", POST=resend),
]
