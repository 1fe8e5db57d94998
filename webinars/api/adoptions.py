"""/api/v1/webinars/{id}/adoptions and /coverage: adopting down the tree through the API,
the same rules as the organizer's pages (`webinars.adoption`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import adoption
from ..errors import ValidationFailed
from ..models import Adoption
from ..organizations import all_organizations, managed_subtree, require_within
from ..requests import commit, runtime
from ..scheduling import get_webinar
from ..web.routing import route
from .auth import authorized
from .inputs import check_shape, check_value, read_json
from .openapi import SCHEMAS
from .serializers import utc


def adoption_json(row: Adoption) -> dict[str, Any]:
    return {"webinar_id": row.webinar_id, "organization_id": row.organization_id,
            "kind": row.kind, "copy_id": row.copy_id, "note": row.note, "contact": row.contact,
            "created_at": utc(row.created_at)}


async def create_adoption(request: Request) -> Response:
    rt = runtime(request)
    async with authorized(request) as (session, account):
        webinar_id = request.path_params["webinar_id"]
        await get_webinar(session, webinar_id)  # 404 before anything about the body
        data = await read_json(request)
        schema = SCHEMAS["AdoptionCreate"]
        org_id, reason = check_value(data.get("organization_id"),
                                     schema["properties"]["organization_id"])
        if reason is None and isinstance(org_id, int):  # whose it is before what is wrong
            require_within(managed_subtree(await all_organizations(session), account), org_id)
        body, fields = check_shape(data, schema)
        raw_overrides = body.get("overrides") or {}
        if "overrides" in body and "overrides" not in fields:
            if not isinstance(raw_overrides, dict):
                fields["overrides"] = "must be an object"
                raw_overrides = {}
            else:
                raw_overrides, bad = check_shape(raw_overrides, SCHEMAS["AdoptionOverrides"])
                fields.update({f"overrides.{k}": v for k, v in bad.items()})
        if fields:
            raise ValidationFailed(fields)
        await adoption.adoptable(session, account, webinar_id, body["organization_id"])
        local = {"note": body.get("note"), "contact": body.get("contact")}
        if body["kind"] == "join":
            if raw_overrides:
                raise ValidationFailed({"overrides": "only a copy has overrides"})
            made = await adoption.join(session, rt.clock, account, webinar_id,
                                       body["organization_id"], local)
        else:
            made = await adoption.copy(session, rt.clock, account, webinar_id,
                                       body["organization_id"], local,
                                       {k: v for k, v in raw_overrides.items() if v is not None
                                        or k == "capacity"},
                                       uid_domain=rt.config.uid_domain)
        await commit(request, session)
        return JSONResponse(adoption_json(made), status_code=201)


async def delete_adoption(request: Request) -> Response:
    async with authorized(request) as (session, account):
        await adoption.withdraw(session, runtime(request).clock, account,
                                request.path_params["webinar_id"],
                                request.path_params["organization_id"])
        await commit(request, session)
        return Response(status_code=204)


async def get_coverage(request: Request) -> Response:
    async with authorized(request) as (session, account):
        params = request.query_params
        fields = {name: "is not a known parameter" for name in params if name != "level"}
        if fields:
            raise ValidationFailed(fields)
        seen = await adoption.coverage(session, account, request.path_params["webinar_id"],
                                       params.get("level"))
        return JSONResponse({
            "webinar_id": seen.webinar.id, "level": seen.level,
            "levels": [{"level": lc.level, "total": lc.total, "joined": lc.joined,
                        "copied": lc.copied} for lc in seen.levels],
            "organizations": [{
                "id": r.organization.id, "slug": r.organization.slug,
                "name": r.organization.name, "state": r.kind or "none",
                "copy_id": r.copy.id if r.copy else None,
                "copy_start": utc(r.copy.start_at) if r.copy else None,
                "note": r.note, "contact": r.contact,
                "reminded_at": utc(r.reminded_at) if r.reminded_at else None,
            } for r in seen.rows]})


routes: list[Route] = [
    route("/webinars/{webinar_id:id}/adoptions", POST=create_adoption),
    route("/webinars/{webinar_id:id}/adoptions/{organization_id:id}", DELETE=delete_adoption),
    route("/webinars/{webinar_id:id}/coverage", GET=get_coverage),
]
