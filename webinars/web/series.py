"""Organizer pages for a course of several sessions (`/webinars/<id>/series`): set its rule
(weekly, or a list of local start times), move or cancel one session on its own. The rules
are `webinars.series`; the API has the same (`api/series.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from .. import series, series_report
from ..errors import Conflict, ValidationFailed
from ..models import Webinar
from ..requests import commit
from ..scheduling import get_managed_webinar
from .common import clock, db, locale, read_form, redirect, render, require_account
from .organizer import reason_text
from .routing import route

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def form_of(webinar: Webinar) -> dict[str, str]:
    rule = webinar.series_rule or {}
    if rule.get("kind") == "dates":
        return {"kind": "dates", "starts": "\n".join(t.replace("T", " ") for t in rule["starts"])}
    local = series.to_local(webinar.start_at, webinar.timezone)
    return {"kind": "weekly", "weekday": str(rule.get("weekday", local.weekday())),
            "time": rule.get("time", f"{local:%H:%M}"), "count": str(rule.get("count", 6)),
            "from": rule.get("from", f"{local:%Y-%m-%d}")}


async def render_series(request: Request, session: AsyncSession, webinar: Webinar, *,
                        form: Mapping[str, str] | None = None,
                        errors: Mapping[str, str] | None = None,
                        status_code: int = 200) -> Response:
    lang = locale(request)
    found = (await series_report.attendances(session, webinar)
             if series.is_series(webinar) else None)
    return render(request, "pages/series.html", {
        "attendance": found,
        "counts": {row.number - 1: row for row in found.sessions} if found else {},
        "w": webinar, "form": form or form_of(webinar), "weekdays": WEEKDAY_NAMES,
        "errors": {k: reason_text(lang, v) for k, v in (errors or {}).items()},
        "sessions": [(s, series.to_local(s.start_at, webinar.timezone))
                     for s in webinar.sessions],
    }, status_code=status_code)


async def series_page(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        webinar = await get_managed_webinar(session, account, request.path_params["id"])
        return await render_series(request, session, webinar)


def rule_of(raw: Mapping[str, str]) -> dict[str, Any]:
    if raw.get("kind") == "dates":
        return {"kind": "dates", "starts": raw.get("starts", "").replace(" ", "T")
                .replace("\r", "").split("\n")}
    return {"kind": "weekly", "weekday": raw.get("weekday", "").strip(),
            "time": raw.get("time", "").strip(), "count": raw.get("count", "").strip(),
            "from": raw.get("from", "").strip()}


def _weekday(rule: dict[str, Any]) -> dict[str, Any]:
    if rule["kind"] == "weekly" and str(rule["weekday"]).isdigit():
        rule["weekday"] = int(rule["weekday"])
    return rule


async def save_series(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        webinar = await get_managed_webinar(session, account, request.path_params["id"])
        raw = {k: str(v) for k, v in (await read_form(request)).items()}
        try:
            await series.set_series(session, clock(request), account, webinar.id,
                                    _weekday(rule_of(raw)))
        except (ValidationFailed, Conflict) as exc:
            # Refused before anything changed: the page shows the rows as they are.
            refused = isinstance(exc, ValidationFailed)
            return await render_series(request, session, webinar, form=raw,
                                       errors=exc.fields if isinstance(exc, ValidationFailed)
                                       else {"series": exc.message},
                                       status_code=422 if refused else 409)
        await commit(request, session)
        return redirect(f"/webinars/{webinar.id}/series")


async def move(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        webinar = await get_managed_webinar(session, account, request.path_params["id"])
        number = request.path_params["number"]
        series.session_at(webinar, number - 1)
        raw = await read_form(request)
        start = f"{str(raw.get('date', '')).strip()}T{str(raw.get('time', '')).strip()}"
        try:
            await series.move_session(session, clock(request), account, webinar.id,
                                      number - 1, start)
        except (ValidationFailed, Conflict) as exc:
            fields = exc.fields if isinstance(exc, ValidationFailed) else {"start": exc.message}
            return await render_series(request, session, webinar, errors={
                f"session-{number}": "; ".join(fields.values())}, status_code=422)
        await commit(request, session)
        return redirect(f"/webinars/{webinar.id}/series")


async def cancel(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        webinar = await get_managed_webinar(session, account, request.path_params["id"])
        number = request.path_params["number"]
        series.session_at(webinar, number - 1)
        await read_form(request)
        try:
            await series.cancel_session(session, clock(request), account, webinar.id,
                                        number - 1)
        except Conflict as exc:
            return await render_series(request, session, webinar, errors={
                f"session-{number}": exc.message}, status_code=409)
        await commit(request, session)
        return redirect(f"/webinars/{webinar.id}/series")


routes = [
    route("/webinars/{id:id}/series", GET=series_page, POST=save_series),
    route("/webinars/{id:id}/sessions/{number:id}/move", POST=move),
    route("/webinars/{id:id}/sessions/{number:id}/cancel", POST=cancel),
]
