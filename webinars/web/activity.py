"""Activity pages: a webinar's and an organization's log, in the reader's language.

`webinars.activity` reads the events and what they set off; this module only turns each
entry into words (field labels, old and new values, times with `format_when` in the zone of
the page: the webinar's, or the organization's) and answers `?before=<id>` pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from .. import activity
from ..activity import Entry
from ..i18n import before_text, format_when, gettext, zone_label
from ..states import EventKind
from .common import db, locale, render, require_account
from .routing import MAX_ID, route

KIND_LABELS = {
    EventKind.WEBINAR_DRAFTED: "Draft created",
    EventKind.WEBINAR_SCHEDULED: "Webinar scheduled",
    EventKind.WEBINAR_CHANGED: "Webinar changed",
    EventKind.WEBINAR_CANCELLED: "Webinar cancelled",
    EventKind.REGISTRATION_CONFIRMED: "Member registered",
    EventKind.REGISTRATION_CANCELLED: "Registration cancelled",
    EventKind.REGISTRATION_PENDING: "Member asked to register",
    EventKind.REGISTRATION_WAITLISTED: "Member put on the waitlist",
    EventKind.REGISTRATION_DECLINED: "Registration declined",
    EventKind.MEETING_READY: "Meeting link ready",
    EventKind.MEETING_FAILED: "Meeting could not be created",
    EventKind.DELIVERY_FAILED: "A message could not be delivered",
}
FIELD_LABELS = {
    "title": "Title", "description": "Description", "kind": "Kind", "start_at": "Starts",
    "timezone": "Time zone", "duration_minutes": "Duration, minutes", "capacity": "Capacity",
    "registration_open": "Registration open", "registration_mode": "Registration",
    "visibility": "Visibility",
    "platform": "Platform", "static_url": "Meeting link (pasted)", "status": "Status",
    "reminder_offsets": "Reminders, minutes before", "recording_url": "Recording link",
    "followup_note": "Note after the event", "organization_id": "Organization",
}
#: Values that are words of the catalog themselves ("scheduled", "public", "jitsi", ...).
TRANSLATED = ("kind", "visibility", "platform", "status", "registration_mode")
#: Long texts (a description) are cut in the log; the webinar's page shows them whole.
LONG = 160


@dataclass(frozen=True)
class Row:
    """One entry in words, ready for the template."""

    id: int
    kind: str
    label: str
    when: str
    who: str
    system: bool
    webinar_id: int | None
    webinar_title: str | None
    details: list[str]
    changes: list[tuple[str, str, str]]
    set_off: list[str]
    problem: str | None
    #: The problem is only that the handlers have not finished yet.
    waiting: bool


def shown(field: str, value: Any, zone: str, lang: str, names: dict[int, str]) -> str:
    """A recorded value as the reader reads it."""
    if value is None and field == "capacity":
        return gettext(lang, "no limit")
    if value is None or value == "" or value == []:
        return "—"
    if field == "start_at" and isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value)
        except ValueError:
            return value
        return format_when(instant if instant.tzinfo else instant.replace(tzinfo=UTC),
                           zone, lang)
    if field == "timezone" and isinstance(value, str):
        return zone_label(value, lang)
    if isinstance(value, bool):
        return gettext(lang, "yes") if value else gettext(lang, "no")
    if field in TRANSLATED:
        return gettext(lang, str(value))
    if field == "organization_id" and isinstance(value, int):
        return names.get(value, str(value))
    if field == "reminder_offsets" and isinstance(value, list):
        return ", ".join(before_text(v, lang) for v in value if isinstance(v, int))
    text = str(value)
    return text if len(text) <= LONG else text[:LONG - 1] + "…"


def set_off(entry: Entry, lang: str) -> list[str]:
    lines = []
    told, hooks = entry.told, entry.hooks
    if told.messages:
        text = ("{0} member told: {1} messages, {2} sent, {3} failed" if told.members == 1
                else "{0} members told: {1} messages, {2} sent, {3} failed")
        lines.append(gettext(lang, text).format(told.members, told.messages, told.sent,
                                                told.failed))
    if hooks.messages:
        text = ("{0} webhook message: {1} sent, {2} failed" if hooks.messages == 1
                else "{0} webhook messages: {1} sent, {2} failed")
        lines.append(gettext(lang, text).format(hooks.messages, hooks.sent, hooks.failed))
    if entry.meeting_jobs:
        lines.append(gettext(lang, "The platform meeting job was started"))
    return lines


def details(entry: Entry, lang: str) -> list[str]:
    data = entry.data
    lines = []
    if entry.registrant and entry.registrant != entry.who:  # an organizer's or a failed message
        lines.append(f"{gettext(lang, 'Member')}: {entry.registrant}")
    if entry.kind == EventKind.DELIVERY_FAILED and data.get("delivery_kind"):
        lines.append(gettext(lang, str(data["delivery_kind"])))
    if entry.kind in (EventKind.MEETING_READY, EventKind.MEETING_FAILED) and data.get("platform"):
        lines.append(gettext(lang, str(data["platform"])))
    if data.get("link_changed"):
        lines.append(gettext(lang, "The meeting link changed"))
    return lines


def problem(entry: Entry, lang: str) -> str | None:
    if entry.kind == EventKind.MEETING_FAILED and entry.data.get("error"):
        return str(entry.data["error"])
    if entry.dispatched:
        return None
    if entry.last_error:
        return gettext(lang, "Processing failed ({0} attempts): {1}").format(
            entry.dispatch_attempts, entry.last_error)
    return gettext(lang, "Being processed")


def row(entry: Entry, zone: str, lang: str, names: dict[int, str]) -> Row:
    who = entry.who
    return Row(
        id=entry.id, kind=entry.kind.value, label=gettext(lang, KIND_LABELS[entry.kind]),
        when=format_when(entry.occurred_at, zone, lang),
        who=who if who is not None else gettext(lang, "system"), system=who is None,
        webinar_id=entry.webinar_id, webinar_title=entry.webinar_title,
        details=details(entry, lang),
        changes=[(gettext(lang, FIELD_LABELS.get(c.field, c.field)),
                  shown(c.field, c.old, zone, lang, names),
                  shown(c.field, c.new, zone, lang, names)) for c in entry.changes],
        set_off=set_off(entry, lang), problem=problem(entry, lang),
        waiting=not entry.dispatched and not entry.last_error
        and entry.kind != EventKind.MEETING_FAILED)


def before_of(request: Request) -> int | None:
    raw = request.query_params.get("before")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 10 or not 1 <= int(raw) <= MAX_ID:
        raise HTTPException(400, "before must be an event id")
    return int(raw)


def rows_of(page: activity.Page, zone: str, lang: str) -> list[Row]:
    return [row(e, zone, lang, page.organization_names) for e in page.entries]


async def webinar_page(request: Request) -> Response:
    before = before_of(request)
    lang = locale(request)
    async with db(request) as session:
        account = await require_account(request, session)
        webinar, page = await activity.webinar_activity(
            session, account, request.path_params["id"], before=before)
    return render(request, "pages/activity.html", {
        "w": webinar, "org": None, "rows": rows_of(page, webinar.timezone, lang),
        "next_before": page.next_before, "first": before is None, "zone": webinar.timezone})


async def organization_page(request: Request) -> Response:
    before = before_of(request)
    lang = locale(request)
    async with db(request) as session:
        account = await require_account(request, session)
        org, page = await activity.organization_activity(
            session, account, request.path_params["id"], before=before)
    return render(request, "pages/activity.html", {
        "w": None, "org": org, "rows": rows_of(page, org.timezone, lang),
        "next_before": page.next_before, "first": before is None, "zone": org.timezone})


routes = [
    route("/webinars/{id:id}/activity", GET=webinar_page),
    route("/organizations/{id:id}/activity", GET=organization_page),
]
