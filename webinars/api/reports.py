"""/api/v1/organizations/{id}/reports: the participation report as JSON, the same tables the
organizer's page shows (`webinars.reports`); and .../reports/series/{webinar_id}, a course's
report (`webinars.series_report`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import reports
from ..errors import ValidationFailed
from ..reports import Counts, Report
from ..requests import runtime
from ..series_report import SeriesReport, series_report
from ..web.routing import route
from .auth import authorized
from .serializers import utc


def counts_json(counts: Counts) -> dict[str, int]:
    return {"registered": counts.registered, "cancelled": counts.cancelled,
            "clicked": counts.clicked, "attended": counts.attended}


def report_json(report: Report) -> dict[str, Any]:
    return {
        "organization_id": report.organization.id, "period": report.period.key,
        "from": utc(report.start), "to": utc(report.end),
        "timezone": report.organization.timezone, "declared_by_member": True,
        "total": counts_json(report.total),
        "organizations": [{"id": r.id, "name": r.name, "level": r.level,
                           "parent_id": r.parent_id, "depth": r.depth,
                           "own": counts_json(r.own), "total": counts_json(r.total)}
                          for r in report.organizations],
        "levels": [{"level": r.level, "organizations": r.organizations,
                    "counts": counts_json(r.counts)} for r in report.levels],
        "webinars": [{"id": w.id, "title": w.title, "start_at": utc(w.start_at),
                      "status": w.status, "organization_id": w.organization_id,
                      "level": w.level, "higher_level": w.higher_level,
                      "counts": counts_json(w.counts), "sessions": w.sessions}
                     for w in report.webinars],
        "months": [{"month": m.month, "webinars": m.webinars, "counts": counts_json(m.counts)}
                   for m in report.months],
    }


async def organization_report(request: Request) -> Response:
    async with authorized(request) as (session, account):
        params = request.query_params
        unknown = {name: "is not a known parameter" for name in params if name != "period"}
        if unknown:
            raise ValidationFailed(unknown)
        report = await reports.organization_report(
            session, account, request.path_params["organization_id"], params.get("period"),
            runtime(request).clock.now())
        return JSONResponse(report_json(report))


def series_report_json(report: SeriesReport) -> dict[str, Any]:
    return {
        "organization_id": report.organization.id, "webinar_id": report.webinar.id,
        "title": report.webinar.title, "timezone": report.organization.timezone,
        "higher_level": report.higher_level, "declared_by_member": True,
        "held_sessions": report.held, "members": sum(report.completion),
        "sessions": [{"number": s.number, "start_at": utc(s.start_at), "status": s.status,
                      **({"registered": s.registered, "clicked": s.clicked,
                          "attended_platform": s.platform, "attended": s.attended} if s.held
                         else dict.fromkeys(("registered", "clicked", "attended_platform",
                                             "attended")))}
                     for s in report.sessions],
        "completion": report.completion,
        "organizations": [{"id": r.id, "name": r.name, "level": r.level,
                           "parent_id": r.parent_id, "depth": r.depth, "own": r.own,
                           "total": r.total} for r in report.organizations],
    }


async def course_report(request: Request) -> Response:
    async with authorized(request) as (session, account):
        unknown = {name: "is not a known parameter" for name in request.query_params}
        if unknown:
            raise ValidationFailed(unknown)
        report = await series_report(session, account, request.path_params["organization_id"],
                                     request.path_params["webinar_id"])
        return JSONResponse(series_report_json(report))


routes: list[Route] = [
    route("/organizations/{organization_id:id}/reports", GET=organization_report),
    route("/organizations/{organization_id:id}/reports/series/{webinar_id:id}",
          GET=course_report),
]
