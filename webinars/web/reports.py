"""An organization's participation report: tables per organization of its subtree, per level,
per webinar and per month, bar charts drawn here as SVG (no script, no CDN: presentation
attributes, since the CSP allows no inline style), and each table as CSV.

`webinars.reports` counts; this module only puts the counts into words, cells and bars, so the
page, its CSV files and its charts show the same numbers.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from functools import partial
from urllib.parse import quote

from babel.dates import format_date
from starlette.requests import Request
from starlette.responses import Response

from .. import reports
from ..errors import NotFound
from ..i18n import format_when, gettext
from ..reports import Counts, Period, Report
from .common import clock, db, locale, render, require_account
from .routing import route

COUNT_HEADERS = ("Registered", "Cancelled", "Clicked the join address",
                 "Attended (platform report)")
TABLES = ("organizations", "levels", "webinars", "months")
#: Bar chart geometry, in SVG user units.
CHART_WIDTH = 720
LABEL_WIDTH = 260
NUMBER_WIDTH = 90
ROW_HEIGHT = 26
TOP = 30
INDENT = 12
LABEL_CHARS = 36
REGISTERED_FILL = "#9dbce6"
ATTENDED_FILL = "#1f7a4d"


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    headers: list[str]
    rows: list[list[str]]
    #: How far the first cell is indented (the organization's depth in the tree).
    depths: list[int]


@dataclass(frozen=True)
class Bar:
    label: str
    indent: int
    y: int
    registered: int
    attended: int
    registered_width: float
    attended_width: float


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    width: int
    height: int
    label_width: int
    bar_x: int
    number_x: int
    bars: list[Bar]


def counts_cells(counts: Counts) -> list[str]:
    return [str(counts.registered), str(counts.cancelled), str(counts.clicked),
            str(counts.attended)]


def period_label(period: Period, lang: str) -> str:
    first = date(period.year, period.first_month, 1)
    if period.kind == "month":
        return format_date(first, "LLLL y", locale=lang)
    if period.kind == "quarter":
        return format_date(first, "QQQQ y", locale=lang)
    return str(period.year)


def month_label(key: str, lang: str) -> str:
    year, month = key.split("-")
    return format_date(date(int(year), int(month), 1), "LLLL y", locale=lang)


def tables(report: Report, lang: str) -> dict[str, Table]:
    _ = partial(gettext, lang)
    counts = [_(h) for h in COUNT_HEADERS]
    zone = report.organization.timezone
    own_only = _("only members of {0}").format(report.organization.name)
    return {
        "organizations": Table(
            "organizations", _("By organization (with everything below it)"),
            [_("Organization"), _("Level"), *counts],
            [[r.name, _(r.level), *counts_cells(r.total)] for r in report.organizations],
            [r.depth for r in report.organizations]),
        "levels": Table(
            "levels", _("By level"), [_("Level"), _("Organizations"), *counts],
            [[_(r.level), str(r.organizations), *counts_cells(r.counts)]
             for r in report.levels], [0] * len(report.levels)),
        "webinars": Table(
            "webinars", _("By webinar"),
            [_("When"), _("Webinar"), _("Organization"), _("Level"), _("Counted"), *counts],
            [[format_when(w.start_at, zone, lang),
              w.title + (f" ({_(w.status)})" if w.status == "cancelled" else "")
              + (f" · {_('course, sessions: {0}').format(w.sessions)}" if w.sessions else ""),
              w.organization_name, _(w.level),
              own_only if w.higher_level else _("all registrants"), *counts_cells(w.counts)]
             for w in report.webinars], [0] * len(report.webinars)),
        "months": Table(
            "months", _("By month"), [_("Month"), _("Webinars"), *counts],
            [[month_label(m.month, lang), str(m.webinars), *counts_cells(m.counts)]
             for m in report.months], [0] * len(report.months)),
    }


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def chart(key: str, title: str, rows: list[tuple[str, int, Counts]]) -> Chart:
    """Horizontal bars: registered (light) with attended (dark) inside, one bar per row."""
    bar_x = LABEL_WIDTH + 8
    span = CHART_WIDTH - bar_x - NUMBER_WIDTH
    largest = max([1, *(max(c.registered, c.attended) for _, _, c in rows)])
    bars = [Bar(label=shorten(label, LABEL_CHARS - depth * 2), indent=depth * INDENT,
                y=TOP + i * ROW_HEIGHT, registered=c.registered, attended=c.attended,
                registered_width=round(span * c.registered / largest, 1),
                attended_width=round(span * c.attended / largest, 1))
            for i, (label, depth, c) in enumerate(rows)]
    return Chart(key=key, title=title, width=CHART_WIDTH,
                 height=TOP + ROW_HEIGHT * len(rows) + 6, label_width=LABEL_WIDTH,
                 bar_x=bar_x, number_x=CHART_WIDTH - NUMBER_WIDTH + 6, bars=bars)


def charts(report: Report, lang: str) -> list[Chart]:
    _ = partial(gettext, lang)
    return [
        chart("organizations", _("Registered and attended, by organization"),
              [(r.name, r.depth, r.total) for r in report.organizations]),
        chart("months", _("Registered and attended, by month"),
              [(month_label(m.month, lang), 0, m.counts) for m in report.months]),
    ]


async def load(request: Request) -> tuple[Report, str]:
    lang = locale(request)
    async with db(request) as session:
        account = await require_account(request, session)
        report = await reports.organization_report(
            session, account, request.path_params["id"],
            request.query_params.get("period") or None, clock(request).now())
    return report, lang


async def page(request: Request) -> Response:
    report, lang = await load(request)
    before, after = report.period.shifted(-1), report.period.shifted(1)
    return render(request, "pages/reports.html", {
        "org": report.organization, "report": report, "period": report.period,
        "period_label": period_label(report.period, lang),
        "previous": before.key if before else None, "next": after.key if after else None,
        "tables": list(tables(report, lang).values()), "charts": charts(report, lang),
        "courses": [w for w in report.webinars if w.sessions],
    })


def csv_text(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.headers)
    # A cell a spreadsheet would read as a formula is written as text.
    writer.writerows([["'" + c if c[:1] in ("=", "+", "-", "@") else c for c in row]
                      for row in table.rows])
    return out.getvalue()


async def export(request: Request) -> Response:
    name = request.path_params["table"]
    if name not in TABLES:
        raise NotFound("no such table")
    report, lang = await load(request)
    table = tables(report, lang)[name]
    filename = f"report-{report.organization.slug}-{report.period.key}-{name}.csv"
    return Response("\ufeff" + csv_text(table), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f"attachment; filename=\"{filename}\"; "
                               f"filename*=UTF-8''{quote(filename)}",
        "Cache-Control": "no-store"})


routes = [
    route("/organizations/{id:id}/reports", GET=page),
    route("/organizations/{id:id}/reports/{table:key}.csv", GET=export),
]
