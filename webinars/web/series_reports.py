"""A course's report in an organization's reports (`/organizations/<id>/reports/series/<w>`):
each session with its seats, clicks and attendance, how many members attended 6 of 6, 5 of
6, ... 0, and the same rolled up by declared organization; SVG bars and each table as CSV.

`webinars.series_report` counts; this module puts the counts into cells and bars, so the
page, its CSV files and its charts show the same numbers (as `web.reports` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from ..errors import NotFound
from ..i18n import format_when, gettext
from ..reports import Counts
from ..series_report import SeriesReport, series_report
from .common import db, locale, render, require_account
from .reports import Chart, Table, chart, csv_text
from .routing import route

TABLES = ("sessions", "completion", "organizations")
#: What a cancelled session shows instead of counts: it is in no one's "of N".
NOT_HELD = "—"


@dataclass(frozen=True)
class Charts:
    sessions: Chart
    completion: Chart


def of_n(lang: str, k: int, n: int) -> str:
    return gettext(lang, "{0} of {1}").format(k, n)


def tables(report: SeriesReport, lang: str) -> dict[str, Table]:
    _ = partial(gettext, lang)
    zone = report.organization.timezone
    n = report.held
    steps = list(range(n, -1, -1))  # n of n first, 0 last
    return {
        "sessions": Table(
            "sessions", _("By session"),
            ["№", _("When"), _("Status"), _("Registered"), _("Clicked the join address"),
             _("Attended (platform report)"), _("Attended (click or platform)")],
            [[str(s.number), format_when(s.start_at, zone, lang), _(s.status),
              *([str(s.registered), str(s.clicked), str(s.platform), str(s.attended)]
                if s.held else [NOT_HELD] * 4)]
             for s in report.sessions], [0] * len(report.sessions)),
        "completion": Table(
            "completion", _("Sessions attended by each member"),
            [_("Sessions attended"), _("Members")],
            [[of_n(lang, k, n), str(report.completion[k])] for k in steps], [0] * (n + 1)),
        "organizations": Table(
            "organizations", _("By organization (with everything below it)"),
            [_("Organization"), _("Level"), _("Members"), *(of_n(lang, k, n) for k in steps)],
            [[r.name, _(r.level), str(sum(r.total)), *(str(r.total[k]) for k in steps)]
             for r in report.organizations],
            [r.depth for r in report.organizations]),
    }


def charts(report: SeriesReport, lang: str) -> Charts:
    _ = partial(gettext, lang)
    n = report.held
    return Charts(
        sessions=chart("sessions", _("Registered and attended, by session"), [
            (f"№ {s.number}", 0, Counts(registered=s.registered, attended=s.attended))
            for s in report.sessions if s.held]),
        # One bar per "k of n": every member counted (light), those who attended k (dark).
        completion=chart("completion", _("Members by sessions attended"), [
            (of_n(lang, k, n), 0, Counts(registered=sum(report.completion),
                                         attended=report.completion[k]))
            for k in range(n, -1, -1)]))


async def load(request: Request) -> tuple[SeriesReport, str]:
    async with db(request) as session:
        account = await require_account(request, session)
        report = await series_report(session, account, request.path_params["id"],
                                     request.path_params["webinar_id"])
    return report, locale(request)


async def page(request: Request) -> Response:
    report, lang = await load(request)
    return render(request, "pages/series_report.html", {
        "org": report.organization, "w": report.webinar, "report": report,
        "members": sum(report.completion),
        "tables": list(tables(report, lang).values()), "charts": charts(report, lang),
    })


async def export(request: Request) -> Response:
    name = request.path_params["table"]
    if name not in TABLES:
        raise NotFound("no such table")
    report, lang = await load(request)
    filename = f"course-{report.webinar.id}-{report.organization.slug}-{name}.csv"
    return Response("\ufeff" + csv_text(tables(report, lang)[name]),
                    media_type="text/csv; charset=utf-8", headers={
                        "Content-Disposition": f"attachment; filename=\"{filename}\"; "
                                               f"filename*=UTF-8''{quote(filename)}",
                        "Cache-Control": "no-store"})


routes = [
    route("/organizations/{id:id}/reports/series/{webinar_id:id}", GET=page),
    route("/organizations/{id:id}/reports/series/{webinar_id:id}/{table:key}.csv",
          GET=export),
]
