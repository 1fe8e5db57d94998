"""Organizer pages for adopting down the tree: take a higher level's event into your plan
(`/webinars/<id>/adopt`: join it, copy it, withdraw) and, for the event's own organizers, its
coverage below (`/webinars/<id>/coverage`) with the reminder to those that have not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from integrations.registry import WEBINAR_PLATFORMS

from .. import adoption
from ..errors import Forbidden, NotFound, ValidationFailed
from ..models import Account, Organization, Webinar
from ..organizations import all_organizations
from ..requests import commit, runtime
from ..scheduling import get_webinar
from ..validation import STATIC_PLATFORMS
from .common import clock, current_account, db, locale, read_form, redirect, render, require_account
from .organizer import DATE_RE, STATIC_LABELS, TIME_RE, reason_text
from .routing import route

COPY_FIELDS = ("date", "time", "timezone", "platform", "static_url", "static_platform",
               "capacity", "title", "description")


async def can_adopt(request: Request, session: AsyncSession, webinar: Webinar) -> bool:
    """For the public event page: the signed-in organizer manages an organization below."""
    account = await current_account(request, session)
    if account is None or not adoption.visible(webinar):
        return False
    return bool(adoption.lower_managed(await all_organizations(session), account, webinar))


async def adoptable_for(session: AsyncSession, account: Account, webinar_id: int
                        ) -> tuple[Webinar, list[Organization]]:
    webinar = await get_webinar(session, webinar_id)
    if not adoption.visible(webinar):
        raise NotFound("no such event to adopt")
    lower = adoption.lower_managed(await all_organizations(session), account, webinar)
    if not lower:
        raise Forbidden("you manage no organization below this event's")
    return webinar, lower


def overrides_of(raw: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The copy form's fields as `adoption.copy` overrides; empty ones keep the original."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    day, time = raw.get("date", "").strip(), raw.get("time", "").strip()
    if day or time:
        if not DATE_RE.match(day):
            errors["date"] = "must be a date such as 2027-03-01"
        if not TIME_RE.match(time):
            errors["time"] = "must be a time such as 15:00"
        if not errors:
            out["start"] = f"{day}T{time.zfill(5)}"
    for name in ("timezone", "platform", "capacity", "title", "description"):
        if raw.get(name, "").strip():
            out[name] = raw[name]
    if raw.get("platform") == "static":
        out["static_url"] = raw.get("static_url", "")
        out["static_platform"] = raw.get("static_platform", "") or "other"
    return out, errors


async def render_adopt(request: Request, session: AsyncSession, webinar: Webinar,
                       lower: list[Organization], raw: Mapping[str, str] | None = None,
                       errors: Mapping[str, str] | None = None, action: str = "") -> Response:
    lang = locale(request)
    taken = await adoption.adoptions_for(session, webinar.id, [o.id for o in lower])
    chosen = request.query_params.get("organization_id", "")
    return render(request, "pages/adopt.html", {
        "w": webinar, "orgs": lower, "taken": taken, "form": raw or {}, "action": action,
        "chosen": (raw or {}).get("organization_id", chosen),
        "errors": {k: reason_text(lang, v) for k, v in (errors or {}).items()},
        "platforms": WEBINAR_PLATFORMS, "static_platforms": STATIC_PLATFORMS,
        "static_labels": STATIC_LABELS,
    }, status_code=422 if errors else 200)


async def adopt_page(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        webinar, lower = await adoptable_for(session, account, request.path_params["id"])
        return await render_adopt(request, session, webinar, lower)


async def adopt(request: Request) -> Response:
    rt = runtime(request)
    async with db(request) as session:
        account = await require_account(request, session)
        form = await read_form(request)
        raw = {k: v for k, v in form.items() if isinstance(v, str)}
        org_id = raw.get("organization_id", "").strip()
        if not (org_id.isascii() and org_id.isdigit() and 0 < int(org_id) < 2**31):
            raise NotFound("no such organization")
        organization_id = int(org_id)
        webinar_id = request.path_params["id"]
        action = raw.get("action", "")
        if action == "withdraw":
            await adoption.withdraw(session, clock(request), account, webinar_id,
                                    organization_id)
            await commit(request, session)
            return redirect(f"/webinars/{webinar_id}/adopt")
        # Permission first (403), then the event (404), then the form (422).
        await adoption.adoptable(session, account, webinar_id, organization_id)
        local = {"note": raw.get("note", ""), "contact": raw.get("contact", "")}
        try:
            if action == "join":
                await adoption.join(session, clock(request), account, webinar_id,
                                    organization_id, local)
                target = f"/webinars/{webinar_id}/adopt"
            elif action == "copy":
                overrides, errors = overrides_of(raw)
                if errors:
                    raise ValidationFailed(errors)
                made = await adoption.copy(session, clock(request), account, webinar_id,
                                           organization_id, local, overrides,
                                           uid_domain=rt.config.uid_domain)
                target = f"/webinars/{made.copy_id}"
            else:
                raise ValidationFailed({"action": "must be one of join, copy, withdraw"})
        except ValidationFailed as exc:  # raised before anything is written
            webinar, lower = await adoptable_for(session, account, webinar_id)
            return await render_adopt(request, session, webinar, lower, raw, exc.fields,
                                      action)
        await commit(request, session)
        return redirect(target)


async def coverage_page(request: Request) -> Response:
    level = request.query_params.get("level") or None
    async with db(request) as session:
        account = await require_account(request, session)
        seen = await adoption.coverage(session, account, request.path_params["id"], level)
    reminded = request.query_params.get("reminded")
    return render(request, "pages/coverage.html", {
        "c": seen, "w": seen.webinar, "can_remind": adoption.visible(seen.webinar),
        "reminded": int(reminded) if reminded and reminded.isdigit() else None})


async def remind(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        form = await read_form(request)
        level = form.get("level")
        webinar_id = request.path_params["id"]
        chosen = level if isinstance(level, str) and level else None
        org_ids = await adoption.request_reminders(session, account, webinar_id, chosen,
                                                   clock(request).now())
        await commit(request, session)
    query = urlencode({"level": chosen or "", "reminded": len(org_ids)})
    return redirect(f"/webinars/{webinar_id}/coverage?{query}")


routes = [
    route("/webinars/{id:id}/adopt", GET=adopt_page, POST=adopt),
    route("/webinars/{id:id}/coverage", GET=coverage_page),
    route("/webinars/{id:id}/coverage/remind", POST=remind),
]
