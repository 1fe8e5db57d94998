"""The JSON API, version 1: webinars and registrations in the caller's part of the tree.

Every handler: authenticate (401), find the row and check the tree (404, 403), read and check
the body (400, 413, 415, 422), call the domain service, commit then enqueue, answer with the
row as `serializers` shapes it. `openapi.DOCUMENT` describes exactly these routes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import calendars, registrations, scheduling
from ..errors import Conflict, NotFound, ValidationFailed
from ..models import (
    WEBINAR_KINDS,
    WEBINAR_STATUSES,
    Account,
    Organization,
    Registration,
    Webinar,
)
from ..organizations import (
    SLUG_RE,
    all_organizations,
    managed_subtree,
    require_within,
    subtree_ids,
)
from ..requests import base_url, commit, runtime
from ..validation import registration_input, webinar_input
from ..web.routing import route
from .activity import routes as activity_routes
from .adoptions import routes as adoption_routes
from .auth import authorized
from .inputs import check_shape, check_value, query_instant, query_int, read_json
from .openapi import DEFAULT_LIMIT, DOCUMENT, MAX_LIMIT, MAX_OFFSET, MAX_QUERY, SCHEMAS
from .platforms import routes as platform_routes
from .reports import routes as report_routes
from .serializers import organization_json, registration_json, webinar_json
from .series import routes as series_routes
from .webhooks import routes as webhook_routes

T = TypeVar("T")
LIST_FILTERS = ("organization", "status", "kind", "from", "to", "q", "limit", "offset")
PAGING = ("limit", "offset")


def validated(data: Mapping[str, Any], schema: str, run: Callable[[dict[str, Any]], T], *,
              extra: Mapping[str, str] | None = None) -> T:
    """Check the shape the document promises, then the domain rules; report all at once."""
    body, fields = check_shape(data, SCHEMAS[schema])
    good = {k: v for k, v in body.items() if k not in fields}
    try:
        result = run(good)
    except ValidationFailed as exc:
        fields = {**exc.fields, **fields}
    fields = {**(extra or {}), **fields}
    if fields:
        raise ValidationFailed(fields)
    return result


def unknown_params(request: Request, known: tuple[str, ...]) -> dict[str, str]:
    return {name: "is not a known parameter" for name in request.query_params
            if name not in known}


def paging(request: Request, fields: dict[str, str]) -> tuple[int, int]:
    params = request.query_params
    limit = query_int(params.get("limit"), "limit", fields, default=DEFAULT_LIMIT, minimum=1,
                      maximum=MAX_LIMIT)
    offset = query_int(params.get("offset"), "offset", fields, default=0, minimum=0,
                       maximum=MAX_OFFSET)
    return limit, offset


async def load_webinar(session: AsyncSession, webinar_id: int) -> Webinar:
    """Re-read after a commit: counters changed by UPDATE statements and relations are fresh."""
    webinar = await session.scalar(select(Webinar).where(Webinar.id == webinar_id)
                                   .execution_options(populate_existing=True))
    if webinar is None:
        raise NotFound("no such webinar")
    return webinar


async def require_organization(session: AsyncSession, org_id: int | None) -> None:
    if org_id is not None and await session.get(Organization, org_id) is None:
        raise ValidationFailed({"organization_id": "no such organization"})


async def openapi_document(request: Request) -> Response:
    return JSONResponse(DOCUMENT)


async def list_organizations(request: Request) -> Response:
    async with authorized(request) as (session, account):
        orgs = await all_organizations(session)
        managed = managed_subtree(orgs, account)
        return JSONResponse({"items": [organization_json(o) for o in orgs if o.id in managed]})


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_webinars(request: Request) -> Response:
    params = request.query_params
    async with authorized(request) as (session, account):
        fields = unknown_params(request, LIST_FILTERS)
        limit, offset = paging(request, fields)
        orgs = await all_organizations(session)
        scope = managed = managed_subtree(orgs, account)
        conditions: list[ColumnElement[bool]] = []
        slug = params.get("organization")
        if slug is not None:
            org = next((o for o in orgs if o.slug == slug), None) if SLUG_RE.match(slug) else None
            if org is None:
                fields["organization"] = "no such organization"
            else:
                require_within(managed, org.id)
                scope = subtree_ids(orgs, [org.id])
        status = params.get("status")
        if status is not None:
            if status in WEBINAR_STATUSES:
                conditions.append(Webinar.status == status)
            else:
                fields["status"] = f"must be one of {', '.join(WEBINAR_STATUSES)}"
        kind = params.get("kind")
        if kind is not None:
            if kind in WEBINAR_KINDS:
                conditions.append(Webinar.kind == kind)
            else:
                fields["kind"] = f"must be one of {', '.join(WEBINAR_KINDS)}"
        start_from = query_instant(params.get("from"), "from", fields, end_of_day=False)
        start_to = query_instant(params.get("to"), "to", fields, end_of_day=True)
        if start_from is not None:
            conditions.append(Webinar.start_at >= start_from)
        if start_to is not None:
            conditions.append(Webinar.start_at < start_to)
            if start_from is not None and start_to <= start_from:
                fields["to"] = "must be after from"
        q = params.get("q")
        if q is not None and q.strip():
            if len(q) > MAX_QUERY:
                fields["q"] = f"must be at most {MAX_QUERY} characters"
            elif "\x00" in q:
                fields["q"] = "contains a NUL character"
            else:
                conditions.append(Webinar.title.ilike(like_pattern(q.strip()), escape="\\"))
        if fields:
            raise ValidationFailed(fields)
        conditions.append(Webinar.organization_id.in_(sorted(scope)))
        total = await session.scalar(select(func.count(Webinar.id)).where(*conditions))
        rows = await session.scalars(select(Webinar).where(*conditions)
                                     .order_by(Webinar.start_at, Webinar.id)
                                     .limit(limit).offset(offset))
        items = [webinar_json(w, base_url(request)) for w in rows]
    return JSONResponse({"items": items, "total": total or 0, "limit": limit,
                         "offset": offset})


async def create_webinar(request: Request) -> Response:
    rt = runtime(request)
    async with authorized(request) as (session, account):
        data = await read_json(request)
        org_id, reason = check_value(data.get("organization_id"),
                                     SCHEMAS["WebinarCreate"]["properties"]["organization_id"])
        org = await session.get(Organization, org_id) if reason is None else None
        zone = org.timezone if org is not None else rt.config.default_timezone
        values = validated(data, "WebinarCreate", lambda good: webinar_input(
            good, rt.clock, default_timezone=zone, partial=False),
            extra={"organization_id": "no such organization"} if org is None else None)
        webinar = await scheduling.create_webinar(session, rt.clock, account, values,
                                                  uid_domain=rt.config.uid_domain)
        await commit(request, session)
        webinar = await load_webinar(session, webinar.id)
        body = webinar_json(webinar, base_url(request))
    return JSONResponse(body, status_code=201, headers={
        "Location": f"{base_url(request)}/api/v1/webinars/{webinar.id}"})


async def get_webinar(request: Request) -> Response:
    async with authorized(request) as (session, account):
        webinar_id = request.path_params["webinar_id"]
        webinar = await scheduling.get_managed_webinar(session, account, webinar_id)
        return JSONResponse(webinar_json(webinar, base_url(request)))


async def update_webinar(request: Request) -> Response:
    rt = runtime(request)
    async with authorized(request) as (session, account):
        webinar_id = request.path_params["webinar_id"]
        webinar = await scheduling.get_managed_webinar(session, account, webinar_id)
        zone = webinar.timezone
        data = await read_json(request)

        def check(good: dict[str, Any]) -> Any:
            # An absent zone means "unchanged"; a naive new start is wall time in that zone.
            return webinar_input({"timezone": zone, **good}, rt.clock, default_timezone=zone,
                                 partial=True, period=calendars.period_days(webinar))

        values = validated(data, "WebinarUpdate", check)
        await require_organization(session, values.values.get("organization_id"))
        await scheduling.update_webinar(session, rt.clock, account, webinar_id, values)
        await commit(request, session)
        webinar = await load_webinar(session, webinar_id)
        return JSONResponse(webinar_json(webinar, base_url(request)))


async def cancel_webinar(request: Request) -> Response:
    rt = runtime(request)
    async with authorized(request) as (session, account):
        webinar_id = request.path_params["webinar_id"]
        await scheduling.cancel_webinar(session, rt.clock, account, webinar_id)
        await commit(request, session)
        webinar = await load_webinar(session, webinar_id)
        return JSONResponse(webinar_json(webinar, base_url(request)))


async def list_registrations(request: Request) -> Response:
    async with authorized(request) as (session, account):
        webinar_id = request.path_params["webinar_id"]
        await scheduling.get_managed_webinar(session, account, webinar_id)
        fields = unknown_params(request, PAGING)
        limit, offset = paging(request, fields)
        if fields:
            raise ValidationFailed(fields)
        where = Registration.webinar_id == webinar_id
        total = await session.scalar(select(func.count(Registration.id)).where(where))
        rows = await session.scalars(select(Registration).where(where)
                                     .order_by(Registration.id).limit(limit).offset(offset))
        line = await registrations.places(session, webinar_id)
        items = [registration_json(r, base_url(request), line) for r in rows]
    return JSONResponse({"items": items, "total": total or 0, "limit": limit,
                         "offset": offset})


def registration_location(request: Request, registration: Registration) -> str:
    return (f"{base_url(request)}/api/v1/webinars/{registration.webinar_id}"
            f"/registrations/{registration.id}")


async def create_registration(request: Request) -> Response:
    rt = runtime(request)
    async with authorized(request) as (session, account):
        webinar_id = request.path_params["webinar_id"]
        webinar = await scheduling.get_managed_webinar(session, account, webinar_id)
        data = await read_json(request)
        values = validated(data, "RegistrationCreate", lambda good: registration_input(
            good, default_locale=rt.config.default_locale, default_timezone=webinar.timezone))
        await require_organization(session, values.organization_id)
        await registrations.admit(session, rt.clock, registrations.RegistrationLimits.of(rt.config),
                                  address=values.email, client=None)
        try:
            registration = await registrations.register(session, rt.clock, webinar, values,
                                                        registered_by=account.id)
            await commit(request, session)
        except IntegrityError as exc:  # another request registered the same e-mail first
            await session.rollback()
            raise Conflict("this e-mail is already registered", "duplicate") from exc
        line = await registrations.places(session, webinar.id)
        return JSONResponse(registration_json(registration, base_url(request), line),
                            status_code=201,
                            headers={"Location": registration_location(request, registration)})


async def managed_registration(request: Request, session: AsyncSession,
                               account: Account) -> Registration:
    webinar_id = request.path_params["webinar_id"]
    registration_id = request.path_params["registration_id"]
    await scheduling.get_managed_webinar(session, account, webinar_id)
    registration = await session.get(Registration, registration_id)
    if registration is None or registration.webinar_id != webinar_id:
        raise NotFound("no such registration")
    return registration


async def get_registration(request: Request) -> Response:
    async with authorized(request) as (session, account):
        registration = await managed_registration(request, session, account)
        line = await registrations.places(session, registration.webinar_id)
        return JSONResponse(registration_json(registration, base_url(request), line))


async def decide(request: Request, action: str, *, single: bool) -> Response:
    """Confirm or decline one registration, or every pending one of the webinar."""
    rt = runtime(request)
    async with authorized(request) as (session, account):
        if single:
            targets = [await managed_registration(request, session, account)]
        else:
            webinar = await scheduling.get_managed_webinar(
                session, account, request.path_params["webinar_id"])
            targets = await registrations.pending_of(session, webinar.id)
        for registration in targets:
            await (registrations.confirm if action == "confirm" else registrations.decline)(
                session, rt.clock, registration, actor_id=account.id)
        await commit(request, session)
        line = await registrations.places(session, request.path_params["webinar_id"])
        items = [registration_json(r, base_url(request), line) for r in targets]
    return JSONResponse(items[0] if single else {"items": items})


async def confirm_registration(request: Request) -> Response:
    return await decide(request, "confirm", single=True)


async def decline_registration(request: Request) -> Response:
    return await decide(request, "decline", single=True)


async def confirm_all_pending(request: Request) -> Response:
    return await decide(request, "confirm", single=False)


async def decline_all_pending(request: Request) -> Response:
    return await decide(request, "decline", single=False)


async def cancel_registration(request: Request) -> Response:
    rt = runtime(request)
    async with authorized(request) as (session, account):
        registration = await managed_registration(request, session, account)
        await registrations.cancel(session, rt.clock, registration)
        await commit(request, session)
        return JSONResponse(registration_json(registration, base_url(request)))


routes: list[Route] = [
    route("/openapi.json", GET=openapi_document),
    route("/organizations", GET=list_organizations),
    route("/webinars", GET=list_webinars, POST=create_webinar),
    route("/webinars/{webinar_id:id}", GET=get_webinar, PATCH=update_webinar),
    route("/webinars/{webinar_id:id}/cancel", POST=cancel_webinar),
    route("/webinars/{webinar_id:id}/registrations", GET=list_registrations,
          POST=create_registration),
    route("/webinars/{webinar_id:id}/registrations/{registration_id:id}",
          GET=get_registration),
    route("/webinars/{webinar_id:id}/registrations/{registration_id:id}/cancel",
          POST=cancel_registration),
    route("/webinars/{webinar_id:id}/registrations/{registration_id:id}/confirm",
          POST=confirm_registration),
    route("/webinars/{webinar_id:id}/registrations/{registration_id:id}/decline",
          POST=decline_registration),
    route("/webinars/{webinar_id:id}/registrations/confirm", POST=confirm_all_pending),
    route("/webinars/{webinar_id:id}/registrations/decline", POST=decline_all_pending),
    *webhook_routes,
    *platform_routes,
    *activity_routes,
    *report_routes,
    *adoption_routes,
    *series_routes,
]
