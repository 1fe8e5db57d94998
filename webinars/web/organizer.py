"""Organizer pages: dashboard, the webinar form, a webinar's page, registrants, API tokens.

Every page works without JavaScript. Each handler checks the signed-in account first and
the webinar's organization second, so a webinar outside the organizer's subtree answers
403 before anything is read for display or written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from integrations.base import ConferencingError
from integrations.registry import PLATFORMS, WEBINAR_PLATFORMS, guess_pasted_platform

from .. import calendars, joining, listings, registrations, series, series_report
from ..accounts import create_api_token
from ..adoption import from_above
from ..calendars import first_day, last_day
from ..errors import Conflict, NotFound, ValidationFailed
from ..i18n import gettext, ngettext
from ..models import (
    VISIBILITIES,
    WEBINAR_KINDS,
    Account,
    ApiToken,
    Attendance,
    Delivery,
    JoinClick,
    Organization,
    Registration,
    Webinar,
)
from ..organizations import all_organizations, managed_subtree, require_within
from ..requests import commit, runtime
from ..scheduling import (
    cancel_webinar,
    create_webinar,
    get_managed_webinar,
    members_told,
    update_webinar,
)
from ..validation import (
    STATIC_PLATFORMS,
    Errors,
    WebinarInput,
    text,
    webinar_input,
)
from .common import (
    as_local_inputs,
    clock,
    db,
    locale,
    page_number,
    private_headers,
    read_form,
    redirect,
    render,
    require_account,
)
from .routing import route

#: How far back the dashboard shows webinars that are over.
RECENT = timedelta(days=30)
#: Ended webinars the dashboard still shows (of the last RECENT).
RECENT_SHOWN = 20
FORM_FIELDS = (
    "title", "description", "kind", "organization_id", "date", "time", "timezone",
    "duration_minutes", "capacity", "registration_mode", "visibility", "platform", "static_url",
    "static_platform", "reminder_offsets", "status", "recording_url", "followup_note",
    "plan_period", "all_day", "start_date", "end_date", "deadline_date", "deadline_time",
)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIME_RE = re.compile(r"^\d{1,2}:\d{2}$")
#: Platform labels (catalog keys), from the registry.
STATIC_LABELS = {name: platform.label for name, platform in PLATFORMS.items()}


# --- organizations the account manages ---------------------------------------------------

async def managed_tree(session: AsyncSession, account: Account) -> list[tuple[Organization, int]]:
    """Managed organizations in tree order with their depth, for selects and listings."""
    orgs = await all_organizations(session)
    ids = managed_subtree(orgs, account)
    children: dict[int | None, list[Organization]] = {}
    for org in orgs:
        children.setdefault(org.parent_id, []).append(org)
    result: list[tuple[Organization, int]] = []
    stack: list[tuple[Organization, int]] = [
        (org, 0) for org in sorted(children.get(None, []), key=lambda o: o.name, reverse=True)]
    while stack:
        org, level = stack.pop()
        if org.id in ids:
            result.append((org, level))
        below = level + 1 if org.id in ids else level
        stack.extend((child, below) for child in sorted(children.get(org.id, []),
                                                         key=lambda o: o.name, reverse=True))
    return result


# --- translating validation reasons ----------------------------------------------------------

def reason_text(lang: str, reason: str) -> str:
    """A validation reason in the page's language; numbers and option lists are kept."""
    if lang == "en":
        return reason
    direct = gettext(lang, reason)
    if direct != reason:
        return direct
    if reason.startswith("must be one of "):
        options = ", ".join(gettext(lang, o) for o in reason[15:].split(", "))
        return gettext(lang, "must be one of {0}").format(options)
    match = re.fullmatch(r"is not a (\w+) meeting address", reason)
    if match:
        platform = STATIC_LABELS.get(match.group(1), match.group(1))
        return gettext(lang, "is not a {0} meeting address").format(gettext(lang, platform))
    numbers = re.findall(r"\d+", reason)
    counter = iter(range(len(numbers)))
    key = re.sub(r"\d+", lambda _m: f"{{{next(counter)}}}", reason)
    translated = gettext(lang, key)
    return translated.format(*numbers) if translated != key else reason


# --- the webinar form ----------------------------------------------------------------------

def form_values(form: FormData) -> dict[str, str]:
    return {n: v for n in FORM_FIELDS if isinstance(v := form.get(n), str)}




def values_of(webinar: Webinar) -> dict[str, str]:
    """The edit form filled in from the stored webinar."""
    date, time = as_local_inputs(webinar.start_at, webinar.timezone)
    return {
        "title": webinar.title, "description": webinar.description, "kind": webinar.kind,
        "organization_id": str(webinar.organization_id), "date": date, "time": time,
        "timezone": webinar.timezone, "duration_minutes": str(webinar.duration_minutes),
        "capacity": "" if webinar.capacity is None else str(webinar.capacity),
        "registration_mode": webinar.registration_mode,
        "visibility": webinar.visibility, "platform": webinar.platform,
        "static_url": webinar.static_url or "",
        "static_platform": guess_pasted_platform(webinar.static_url),
        "reminder_offsets": ", ".join(str(m) for m in webinar.reminder_offsets or []),
        "status": webinar.status, "recording_url": webinar.recording_url or "",
        "followup_note": webinar.followup_note or "",
        "plan_period": webinar.plan_period or "",
        **({"date": "", "time": ""} if webinar.status == "planned" else {}),
        **(period_inputs(webinar) if webinar.all_day else {}),
    }


def period_inputs(webinar: Webinar) -> dict[str, str]:
    """An all-day period's form fields: its days and the deadline in its zone."""
    deadline_date, deadline_time = (as_local_inputs(webinar.deadline_at, webinar.timezone)
                                    if webinar.deadline_at else ("", ""))
    return {"all_day": "on", "start_date": first_day(webinar).isoformat(),
            "end_date": last_day(webinar).isoformat(), "date": "", "time": "",
            "deadline_date": deadline_date, "deadline_time": deadline_time}


def new_values(tree: list[tuple[Organization, int]]) -> dict[str, str]:
    return {"kind": "webinar", "organization_id": str(tree[0][0].id) if tree else "",
            "timezone": "", "duration_minutes": "90", "registration_mode": "open",
            "visibility": "public", "platform": "jitsi", "static_platform": "other",
            "reminder_offsets": "1440, 15", "status": "scheduled"}


def to_input(request: Request, raw: Mapping[str, str], managed: Mapping[int, Organization],
             webinar: Webinar | None) -> dict[str, Any]:
    """Validated values for the services, or ValidationFailed naming each bad field.

    The date, time and zone inputs become webinar_input's `start`; an empty zone means the
    chosen organization's. On edit an unchanged start is left out, so a webinar that has
    already begun can still get its recording link.
    """
    errors = Errors()
    data: dict[str, Any] = {k: raw.get(k, "") for k in (
        "title", "description", "kind", "duration_minutes", "capacity", "visibility",
        "platform", "reminder_offsets", "registration_mode")}
    org_id = raw.get("organization_id", "").strip()
    numeric = org_id.isascii() and org_id.isdigit()
    if not org_id:
        errors["organization_id"] = "is required"
    else:
        if numeric:
            require_within(managed, int(org_id))
        data["organization_id"] = org_id
    org = managed.get(int(org_id)) if numeric else None
    default_zone = org.timezone if org else runtime(request).config.default_timezone
    zone = raw.get("timezone", "").strip() or default_zone
    data["timezone"] = zone
    date, time = raw.get("date", "").strip(), raw.get("time", "").strip()
    if raw.get("all_day") == "on":
        # A period: its days instead of a date and time, and an optional deadline.
        data.update(all_day="true", start_date=raw.get("start_date", ""),
                    end_date=raw.get("end_date", ""))
        data.pop("duration_minutes", None)
        deadline_date = raw.get("deadline_date", "").strip()
        data["deadline"] = (f"{deadline_date}T{raw.get('deadline_time', '').strip() or '23:59'}"
                            if deadline_date else "")
        date = time = ""
    elif webinar is not None and webinar.all_day:
        data["all_day"] = "false"
    planned = raw.get("status", "") == "planned" and (
        webinar is None or webinar.status in ("draft", "planned", "scheduled"))
    if planned:
        # An indicative item: a period instead of a date (validation says what is wrong).
        data["plan_period"] = raw.get("plan_period", "")
        if date or time:
            errors["date"] = "a planned item has no date yet: leave it empty, or make it scheduled"
        date = time = ""
    period = data.get("all_day") == "true"
    if not date and not planned and not period:
        errors["date"] = "is required"
    elif date and not DATE_RE.match(date):
        errors["date"] = "must be a date such as 2027-03-01"
    if not time and not planned and not period:
        errors["time"] = "is required"
    elif time and not TIME_RE.match(time):
        errors["time"] = "must be a time such as 15:00"
    elif len(time) == 4:
        time = "0" + time
    unchanged = webinar is not None and webinar.status != "planned" and (date, time, zone) == (
        *as_local_inputs(webinar.start_at, webinar.timezone), webinar.timezone)
    if not planned and not period and not unchanged and "date" not in errors \
            and "time" not in errors:
        data["start"] = f"{date}T{time}"
    if data["platform"] == "static":
        data["static_url"] = raw.get("static_url", "")
        data["static_platform"] = raw.get("static_platform", "") or "other"
    else:
        data["static_url"] = ""  # a meeting made by the platform replaces any pasted link
    if webinar is None or webinar.status in ("draft", "planned", "scheduled"):
        data["status"] = raw.get("status", "")
    if webinar is not None:
        data["recording_url"] = raw.get("recording_url", "")
        data["followup_note"] = raw.get("followup_note", "")
    values: dict[str, Any] = {}
    try:
        values = webinar_input(data, clock(request), default_timezone=default_zone,
                               partial=webinar is not None,
                               period=calendars.period_days(webinar) if webinar else None
                               ).values
    except ValidationFailed as exc:
        errors = Errors({**exc.fields, **errors})
    if "date" in errors or "time" in errors:
        errors.pop("start", None)
    errors.check()
    return values


async def render_form(request: Request, session: AsyncSession, account: Account,
                      raw: Mapping[str, str], webinar: Webinar | None,
                      errors: Mapping[str, str] | None = None) -> Response:
    lang = locale(request)
    tree = await managed_tree(session, account)
    return render(request, "pages/webinar_form.html", {
        "webinar": webinar, "form": raw, "orgs": tree,
        "errors": {k: reason_text(lang, v) for k, v in (errors or {}).items()},
        "kinds": WEBINAR_KINDS, "visibilities": VISIBILITIES, "platforms": WEBINAR_PLATFORMS,
        "static_platforms": STATIC_PLATFORMS, "static_labels": STATIC_LABELS,
    }, status_code=422 if errors else 200)


async def new_form(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        tree = await managed_tree(session, account)
        return await render_form(request, session, account, new_values(tree), None)


async def create(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        form = await read_form(request)
        raw = form_values(form)
        managed = {org.id: org for org, _ in await managed_tree(session, account)}
        try:
            values = to_input(request, raw, managed, None)
        except ValidationFailed as exc:
            return await render_form(request, session, account, raw, None, exc.fields)
        webinar = await create_webinar(session, clock(request), account, WebinarInput(values),
                                       uid_domain=runtime(request).config.uid_domain)
        await commit(request, session)
        return redirect(f"/webinars/{webinar.id}")


async def edit_form(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        webinar = await get_managed_webinar(session, account, request.path_params["id"])
        if webinar.status == "cancelled":
            raise Conflict("a cancelled webinar cannot be changed", "cancelled")
        return await render_form(request, session, account, values_of(webinar), webinar)


async def update(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        webinar = await get_managed_webinar(session, account, request.path_params["id"])
        form = await read_form(request)
        if webinar.status == "cancelled":
            raise Conflict("a cancelled webinar cannot be changed", "cancelled")
        raw = form_values(form)
        managed = {org.id: org for org, _ in await managed_tree(session, account)}
        try:
            values = to_input(request, raw, managed, webinar)
        except ValidationFailed as exc:
            return await render_form(request, session, account, raw, webinar, exc.fields)
        sequence = webinar.sequence
        await update_webinar(session, clock(request), account, webinar.id,
                             WebinarInput(values))
        told = await members_told(session, webinar, sequence)
        await commit(request, session)
        request.session["saved"] = told  # the webinar's page says it once
        return redirect(f"/webinars/{webinar.id}")


# --- dashboard and the webinar's own pages ------------------------------------------------

async def dashboard(request: Request) -> Response:
    """Coming webinars of the organizations managed, fifty a page; the last month's ended
    ones (the latest RECENT_SHOWN) under them on the first page."""
    number = page_number(request)
    async with db(request) as session:
        account = await require_account(request, session)
        tree = await managed_tree(session, account)
        now = clock(request).now()
        ids = [org.id for org, _ in tree]
        page = await listings.upcoming(session, ids, now, number, public_only=False)
        recent = (await listings.past(session, ids, now, 1, public_only=False,
                                      since=now - RECENT, size=RECENT_SHOWN)).rows \
            if number == 1 else []
        above = await from_above(session, account, now) if number == 1 else []
    return render(request, "pages/dashboard.html", {
        "account": account, "upcoming": page.rows, "page": page.number, "more": page.more,
        "recent": recent, "orgs": tree,
        # Organizer pages show times in the organizer's organization's zone.
        "zone": tree[0][0].timezone if tree else runtime(request).config.default_timezone,
        "above": above})


async def counts_of(session: AsyncSession, webinar_id: int) -> dict[str, dict[str, int]]:
    registrations = await session.execute(
        select(Registration.status, func.count()).where(Registration.webinar_id == webinar_id)
        .group_by(Registration.status))
    deliveries = await session.execute(
        select(Delivery.status, func.count()).where(Delivery.webinar_id == webinar_id)
        .group_by(Delivery.status))
    clicks = await session.scalar(
        select(func.count()).select_from(JoinClick).join(
            Registration, Registration.id == JoinClick.registration_id)
        .where(Registration.webinar_id == webinar_id))
    attended = (await session.execute(
        select(func.count(func.distinct(Attendance.registration_id)),
               func.count().filter(Attendance.registration_id.is_(None)))
        .where(Attendance.webinar_id == webinar_id))).one()
    return {"registrations": {s: n for s, n in registrations.all()},
            "deliveries": {s: n for s, n in deliveries.all()},
            "clicks": {"all": clicks or 0},
            "attendance": {"members": attended[0] or 0, "others": attended[1] or 0}}


async def admin_page(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        webinar = await get_managed_webinar(session, account, request.path_params["id"])
        counts = await counts_of(session, webinar.id)
    saved = request.session.pop("saved", None)
    return render(request, "pages/webinar_admin.html", {
        "w": webinar, "counts": counts,
        "saved": saved_text(locale(request), saved) if isinstance(saved, int) else None, "platform": PLATFORMS.get(webinar.platform),
        "host_error": request.query_params.get("host_error")})


async def start_as_host(request: Request) -> Response:
    """A fresh host link, fetched or signed at the click (Zoom's start_url expires)."""
    async with db(request) as session:
        account = await require_account(request, session)
        webinar = await get_managed_webinar(session, account, request.path_params["id"])
        meeting = webinar.meeting
        if meeting is None or meeting.status != "ready" or webinar.status == "cancelled":
            return redirect(f"/webinars/{webinar.id}")
        try:
            link = await joining.host_target(session, runtime(request), account, meeting)
        except ConferencingError as exc:
            return redirect(f"/webinars/{webinar.id}?{urlencode({'host_error': str(exc)})}")
    return private_headers(RedirectResponse(link.url, status_code=303))


async def cancel_confirm(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        webinar = await get_managed_webinar(session, account, request.path_params["id"])
    return render(request, "pages/org_cancel.html", {"w": webinar})


async def cancel(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        webinar = await get_managed_webinar(session, account, request.path_params["id"])
        await read_form(request)
        await cancel_webinar(session, clock(request), account, webinar.id)
        await commit(request, session)
        return redirect(f"/webinars/{webinar.id}")


def saved_text(lang: str, told: int) -> str:
    """"Saved; 3 members will be told", with the count's plural form."""
    if not told:
        return gettext(lang, "Saved; nothing members must see changed, so nobody is told.")
    return ngettext(lang, "Saved; %(num)d member will be told.",
                    "Saved; %(num)d members will be told.", told) % {"num": told}


async def confirm_registrations(request: Request) -> Response:
    return await decide_registrations(request, "confirm")


async def decline_registrations(request: Request) -> Response:
    return await decide_registrations(request, "decline")


async def decide_registrations(request: Request, action: str) -> Response:
    """Confirm or decline one registration, or every pending one (no id in the path)."""
    await read_form(request)
    async with db(request) as session:
        account = await require_account(request, session)
        webinar = await get_managed_webinar(session, account, request.path_params["id"])
        chosen = request.path_params.get("registration_id")
        if chosen is None:
            targets = await registrations.pending_of(session, webinar.id)
        else:
            found = await session.get(Registration, chosen)
            if found is None or found.webinar_id != webinar.id:
                raise NotFound("no such registration")
            targets = [found]
        for registration in targets:
            if action == "confirm":
                await registrations.confirm(session, clock(request), registration,
                                            actor_id=account.id)
            else:
                await registrations.decline(session, clock(request), registration,
                                            actor_id=account.id)
        await commit(request, session)
    return redirect(f"/webinars/{webinar.id}/registrants")


async def registrants(request: Request) -> Response:
    """A webinar's registrants, a hundred at a time in the order they came."""
    number = page_number(request)
    async with db(request) as session:
        account = await require_account(request, session)
        webinar = await get_managed_webinar(session, account, request.path_params["id"])
        page = await listings.registrants(session, webinar.id, number)
        pending = await listings.count_with_status(session, webinar.id, "pending")
        places = await listings.waitlist_places(
            session, webinar.id, [r.id for r, _ in page.rows if r.status == "waitlisted"])
        done: dict[int, series.Completion] = {}
        per_session: dict[int, int] = {}
        if series.is_series(webinar):
            # Attendance per session: join clicks and the platform's visits in its window.
            found = await series_report.attendances(session, webinar)
            done = {m.id: m.done for m in found.members}
            per_session = {row.number - 1: row.attended for row in found.sessions}
    return render(request, "pages/registrants.html", {
        "w": webinar, "rows": page.rows, "page": page.number, "more": page.more,
        "pending": pending, "places": places,
        "is_series": series.is_series(webinar), "done": done, "per_session": per_session,
        "held": len(series.held(webinar))})


# --- API tokens ----------------------------------------------------------------------------

async def render_tokens(request: Request, session: AsyncSession, account: Account, *,
                        created: str | None = None, error: str | None = None,
                        name: str = "") -> Response:
    tokens = list((await session.scalars(
        select(ApiToken).where(ApiToken.account_id == account.id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc()))).all())
    lang = locale(request)
    return render(request, "pages/tokens.html", {
        "tokens": tokens, "created": created, "name": name,
        "error": reason_text(lang, error) if error else None,
        "zone": runtime(request).config.default_timezone,
    }, status_code=422 if error else 200)


async def tokens_page(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        return await render_tokens(request, session, account)


async def token_create(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        form = await read_form(request)
        errors = Errors()
        name = text({"name": form.get("name")}, "name", errors, required=True, max_len=100)
        if name is None:
            raw_name = form.get("name")
            return await render_tokens(request, session, account, error=errors["name"],
                                       name=raw_name if isinstance(raw_name, str) else "")
        token = await create_api_token(session, clock(request), account, name)
        await session.commit()
        # Shown in this answer only: never in a redirect, a cookie or a log.
        return await render_tokens(request, session, account, created=token)


async def token_revoke(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        await read_form(request)
        token = await session.get(ApiToken, request.path_params["id"])
        if token is None or token.account_id != account.id:
            raise NotFound("no such token")
        if token.revoked_at is None:
            token.revoked_at = clock(request).now()
        await session.commit()
    return redirect("/tokens")


routes = [
    route("/dashboard", GET=dashboard),
    route("/webinars/new", GET=new_form, POST=create),
    route("/webinars/{id:id}", GET=admin_page),
    route("/webinars/{id:id}/edit", GET=edit_form, POST=update),
    route("/webinars/{id:id}/cancel", GET=cancel_confirm, POST=cancel),
    route("/webinars/{id:id}/start", GET=start_as_host),
    route("/webinars/{id:id}/registrants", GET=registrants),
    route("/webinars/{id:id}/registrants/confirm", POST=confirm_registrations),
    route("/webinars/{id:id}/registrants/decline", POST=decline_registrations),
    route("/webinars/{id:id}/registrants/{registration_id:id}/confirm",
          POST=confirm_registrations),
    route("/webinars/{id:id}/registrants/{registration_id:id}/decline",
          POST=decline_registrations),
    route("/tokens", GET=tokens_page, POST=token_create),
    route("/tokens/{id:id}/revoke", POST=token_revoke),
]
