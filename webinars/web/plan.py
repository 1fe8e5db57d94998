"""The plan of an organization: `/o/<slug>/plan[/<year>]` a window at a time, and the whole
year as CSV and .xlsx (the same rows, the same filters, the same zone).

Anyone may read a plan (it holds what the organization's public calendar holds, plus the
indicative items not yet dated), so nothing here needs a login.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import xlsxwriter  # type: ignore[import-untyped]
from babel.dates import format_date
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from .. import organizations
from ..calendars import event_when
from ..errors import ValidationFailed
from ..i18n import gettext
from ..models import ORG_LEVELS, WEBINAR_KINDS, Organization
from ..periods import Period, parse_period, period_of
from ..plan import PlanFilters, PlanItem, group_by_month, plan_items, rows_of
from ..requests import base_url
from ..timezones import is_timezone
from .common import browser_zone, clock, db, locale, render
from .routing import route

YEAR_RE = re.compile(r"^[0-9]{4}$")
FILTERS = ("level", "kind", "org")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class PlanQuery:
    """What the reader asked for, checked: the zone, the filters, and the window."""

    org: Organization
    orgs: list[Organization]
    zone: str
    zone_chosen: bool
    filters: PlanFilters
    params: dict[str, str]


def year_of(request: Request, org: Organization) -> int:
    raw = request.path_params.get("year")
    if raw is None:
        return clock(request).now().astimezone(ZoneInfo(org.timezone)).year
    if not YEAR_RE.match(raw) or not 2000 <= int(raw) <= 2100:
        raise HTTPException(404, "Not found")
    return int(raw)


async def read_query(request: Request, session: Any) -> PlanQuery:
    org = await organizations.get_by_slug(session, request.path_params["slug"])
    orgs = await organizations.all_organizations(session)
    errors: dict[str, str] = {}
    params = {k: v for k in ("tz", *FILTERS) if (v := request.query_params.get(k, "").strip())}
    # The reader's zone: chosen here, else the browser's (local-time.js), else the organization's.
    zone = params.get("tz") or browser_zone(request) or org.timezone
    if not is_timezone(zone):
        errors["tz"] = "is not a known IANA time zone (e.g. Europe/Moscow)"
        zone = org.timezone
    level, kind = params.get("level"), params.get("kind")
    if level is not None and level not in ORG_LEVELS:
        errors["level"] = f"must be one of {', '.join(ORG_LEVELS)}"
    if kind is not None and kind not in WEBINAR_KINDS:
        errors["kind"] = f"must be one of {', '.join(WEBINAR_KINDS)}"
    org_id = None
    if "org" in params:
        match = next((o for o in orgs if o.slug == params["org"]), None)
        if match is None:
            errors["org"] = "no such organization"
        else:
            org_id = match.id
    if errors:
        raise ValidationFailed(errors)
    return PlanQuery(org, orgs, zone, "tz" in params, PlanFilters(level, kind, org_id), params)


def window_of(request: Request, year: int, today: date) -> Period:
    """`?window=YYYY-MM|YYYY-Qn|year` within `year`; by default the quarter of today in this
    year, the first quarter of any other."""
    raw = request.query_params.get("window", "").strip()
    if not raw:
        return period_of("quarter", today if today.year == year else date(year, 1, 1))
    if raw == "year":
        return period_of("year", date(year, 1, 1))
    period = parse_period(raw)
    if period is None or period.kind == "year" or period.year != year:
        raise ValidationFailed({"window": f"must be year, {year}-Q1..{year}-Q4 or "
                                          f"{year}-01..{year}-12"})
    return period


def link(slug: str, window: Period, params: dict[str, str], suffix: str = "") -> str:
    query = dict(params)
    if not suffix:
        query["window"] = "year" if window.kind == "year" else window.code
    encoded = urlencode(query)
    return f"/o/{slug}/plan/{window.year}{suffix}" + (f"?{encoded}" if encoded else "")


async def plan_page(request: Request) -> Response:
    lang = locale(request)
    async with db(request) as session:
        query = await read_query(request, session)
        org = query.org
        today = clock(request).now().astimezone(ZoneInfo(query.zone)).date()
        year = year_of(request, org)
        window = window_of(request, year, today)
        items = await plan_items(session, org, query.orgs, window, query.zone, query.filters)
    groups = group_by_month(items, query.zone)
    whole = period_of("year", date(year, 1, 1))
    ancestors = organizations.chain(query.orgs, org.id)
    return render(request, "pages/plan.html", {
        "org": org, "year": year, "window": window,
        "window_label": (gettext(lang, "The whole year") if window.kind == "year"
                         else window.label(lang)),
        "groups": [(g.label(lang), g.items) for g in groups],
        "rows_count": len(items),
        "zone": query.zone, "zone_chosen": query.zone_chosen,
        "reader_zone": query.zone,
        "zone_fallback": not query.zone_chosen and browser_zone(request) is None,
        "params": query.params,
        "levels": [lv for lv in ORG_LEVELS if any(o.level == lv for o in ancestors)],
        "kinds": WEBINAR_KINDS, "chain": ancestors,
        "previous_url": link(org.slug, window.previous(), query.params),
        "next_url": link(org.slug, window.next(), query.params),
        "windows": [(gettext(lang, "The whole year"), link(org.slug, whole, query.params),
                     window == whole)] + [
            (p.label(lang), link(org.slug, p, query.params), window == p)
            for p in (period_of("quarter", date(year, q * 3 - 2, 1)) for q in range(1, 5))],
        "months": [(format_date(p.start, "LLL", locale=lang), link(org.slug, p, query.params),
                    window == p)
                   for p in (period_of("month", date(year, m, 1)) for m in range(1, 13))],
        "csv_url": link(org.slug, whole, query.params, ".csv"),
        "xlsx_url": link(org.slug, whole, query.params, ".xlsx"),
        "sources": SOURCES,
        "when": lambda item: when_text(item, query.zone, lang),
    })


def when_text(item: PlanItem, zone: str, lang: str) -> str:
    if item.period is not None:
        return item.period.label(lang)
    return event_when(item.webinar, zone, lang)  # a period's days, else the start


# --- exports of the whole year ------------------------------------------------------------

HEADER = ("Date", "Title", "Kind", "Status", "Organization", "Level", "In the plan as",
          "Planned for", "Page")
SOURCES = {"own": "own", "inherited": "from above", "joined": "joined"}


async def year_rows(request: Request) -> tuple[Organization, int, str, list[PlanItem]]:
    async with db(request) as session:
        query = await read_query(request, session)
        year = year_of(request, query.org)
        window = period_of("year", date(year, 1, 1))
        items = await plan_items(session, query.org, query.orgs, window, query.zone,
                                 query.filters)
    return query.org, year, query.zone, rows_of(group_by_month(items, query.zone))


def row_values(item: PlanItem, lang: str, base: str) -> list[str]:
    w = item.webinar
    return [w.title, gettext(lang, w.kind), gettext(lang, w.status), w.organization.name,
            gettext(lang, w.organization.level), gettext(lang, SOURCES[item.source]),
            item.period.label(lang) if item.period else "", f"{base}/w/{w.public_id}"]


async def plan_csv(request: Request) -> Response:
    lang = locale(request)
    org, year, zone, rows = await year_rows(request)
    base = base_url(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([gettext(lang, h) for h in HEADER])
    tz = ZoneInfo(zone)
    for item in rows:
        when = "" if item.period else item.webinar.start_at.astimezone(tz).strftime(
            "%Y-%m-%d %H:%M")
        writer.writerow([when, *row_values(item, lang, base)])
    data = ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM: Excel reads it as UTF-8
    return Response(data, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="plan-{org.slug}-{year}.csv"'})


def build_xlsx(title: str, header: list[str], rows: list[tuple[Any, list[str]]]) -> bytes:
    """The workbook: a bold frozen header, dates as Excel datetimes, readable widths."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "remove_timezone": True})
    sheet = book.add_worksheet(title[:31])
    bold = book.add_format({"bold": True})
    when_format = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet.write_row(0, 0, header, bold)
    sheet.freeze_panes(1, 0)
    for index, (when, values) in enumerate(rows, start=1):
        if when is None:
            sheet.write_blank(index, 0, None, when_format)
        else:
            sheet.write_datetime(index, 0, when, when_format)
        sheet.write_row(index, 1, values)
    for column, width in enumerate((17, 50, 14, 14, 36, 14, 14, 20, 48)):
        sheet.set_column(column, column, width)
    sheet.autofilter(0, 0, max(len(rows), 1), len(header) - 1)
    book.close()
    return out.getvalue()


async def plan_xlsx(request: Request) -> Response:
    lang = locale(request)
    org, year, zone, rows = await year_rows(request)
    base = base_url(request)
    tz = ZoneInfo(zone)
    table = [(None if item.period else item.webinar.start_at.astimezone(tz).replace(tzinfo=None),
              row_values(item, lang, base)) for item in rows]
    header = [gettext(lang, h) for h in HEADER]
    data = await run_in_threadpool(build_xlsx, f"{year}", header, table)
    return Response(data, media_type=XLSX_TYPE, headers={
        "Content-Disposition": f'attachment; filename="plan-{org.slug}-{year}.xlsx"'})


routes = [
    route("/o/{slug:key}/plan", GET=plan_page),
    route("/o/{slug:key}/plan/{year}.csv", GET=plan_csv),
    route("/o/{slug:key}/plan/{year}.xlsx", GET=plan_xlsx),
    route("/o/{slug:key}/plan/{year}", GET=plan_page),
]
