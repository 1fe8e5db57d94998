"""/api/v1/webinars/{id}/series and /sessions: a course of several sessions through the API,
the same rules as the organizer's pages (`webinars.series`)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import series
from ..errors import ValidationFailed
from ..models import Webinar
from ..requests import commit, runtime
from ..scheduling import get_managed_webinar
from ..web.routing import route
from .auth import authorized
from .inputs import check_shape, read_json
from .openapi import SCHEMAS
from .serializers import utc


def series_json(webinar: Webinar) -> dict[str, Any]:
    zone = ZoneInfo(webinar.timezone)
    return {
        "webinar_id": webinar.id,
        "timezone": webinar.timezone,
        "rule": webinar.series_rule,
        "sequence": webinar.sequence,
        "sessions": [{
            "number": s.position + 1,
            "start": utc(s.start_at),
            "start_local": s.start_at.astimezone(zone).isoformat(timespec="seconds"),
            "original_start": utc(s.original_start),
            "duration_minutes": s.duration_minutes,
            "status": s.status,
            "moved": s.start_at != s.original_start,
        } for s in webinar.sessions],
    }


async def api_get_series(request: Request) -> Response:
    async with authorized(request) as (session, account):
        webinar = await get_managed_webinar(session, account, request.path_params["webinar_id"])
        return JSONResponse(series_json(webinar))


async def api_put_series(request: Request) -> Response:
    rt = runtime(request)
    async with authorized(request) as (session, account):
        webinar_id = request.path_params["webinar_id"]
        await get_managed_webinar(session, account, webinar_id)  # 404/403 before the body
        body, fields = check_shape(await read_json(request), SCHEMAS["SeriesRule"])
        if fields:
            raise ValidationFailed(fields)
        webinar = await series.set_series(session, rt.clock, account, webinar_id, body)
        await commit(request, session)
        return JSONResponse(series_json(webinar))


async def api_move_session(request: Request) -> Response:
    rt = runtime(request)
    async with authorized(request) as (session, account):
        webinar_id = request.path_params["webinar_id"]
        # Whose it is and whether the session exists before what is wrong with the body.
        series.session_at(await get_managed_webinar(session, account, webinar_id),
                          request.path_params["number"] - 1)
        body, fields = check_shape(await read_json(request), SCHEMAS["SessionMove"])
        if fields:
            raise ValidationFailed(fields)
        webinar = await series.move_session(session, rt.clock, account, webinar_id,
                                            request.path_params["number"] - 1, body["start"],
                                            body.get("duration_minutes"))
        await commit(request, session)
        return JSONResponse(series_json(webinar))


async def api_cancel_session(request: Request) -> Response:
    rt = runtime(request)
    async with authorized(request) as (session, account):
        webinar = await series.cancel_session(session, rt.clock, account,
                                              request.path_params["webinar_id"],
                                              request.path_params["number"] - 1)
        await commit(request, session)
        return JSONResponse(series_json(webinar))


routes: list[Route] = [
    route("/webinars/{webinar_id:id}/series", GET=api_get_series, PUT=api_put_series),
    route("/webinars/{webinar_id:id}/sessions/{number:id}", PATCH=api_move_session),
    route("/webinars/{webinar_id:id}/sessions/{number:id}/cancel", POST=api_cancel_session),
]
