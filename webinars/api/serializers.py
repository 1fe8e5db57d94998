"""Rows to JSON, in the shapes `openapi.SCHEMAS` documents.

These are for the managing organizer only: the meeting's host link appears here and must never
be reused on public pages.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..calendars import first_day, last_day
from ..models import Meeting, Organization, Registration, Webinar


def utc(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def organization_json(org: Organization) -> dict[str, Any]:
    return {"id": org.id, "slug": org.slug, "name": org.name, "level": org.level,
            "timezone": org.timezone, "parent_id": org.parent_id}


def meeting_json(meeting: Meeting | None) -> dict[str, Any] | None:
    if meeting is None:
        return None
    result: dict[str, Any] = {"status": meeting.status}
    if meeting.join_url:
        result["join_url"] = meeting.join_url
    if meeting.host_url:
        result["host_url"] = meeting.host_url
    if meeting.error:
        result["error"] = meeting.error
    return result


def webinar_json(webinar: Webinar, base_url: str) -> dict[str, Any]:
    org = webinar.organization
    end = webinar.start_at + timedelta(minutes=webinar.duration_minutes)
    local = webinar.start_at.astimezone(ZoneInfo(webinar.timezone))
    seats_left = (None if webinar.capacity is None
                  else max(webinar.capacity - webinar.registered_count, 0))
    return {
        "id": webinar.id,
        "public_id": webinar.public_id,
        "organization": {"id": org.id, "slug": org.slug, "name": org.name},
        "title": webinar.title,
        "description": webinar.description,
        "kind": webinar.kind,
        "start": utc(webinar.start_at),
        "timezone": webinar.timezone,
        "start_local": local.isoformat(timespec="seconds"),
        "duration_minutes": webinar.duration_minutes,
        "end": utc(end),
        "capacity": webinar.capacity,
        "registered_count": webinar.registered_count,
        "seats_left": seats_left,
        "registration_open": webinar.registration_open,
        "registration_mode": webinar.registration_mode,
        "visibility": webinar.visibility,
        "platform": webinar.platform,
        "static_url": webinar.static_url,
        "status": webinar.status,
        "uid": webinar.uid,
        "sequence": webinar.sequence,
        "reminder_offsets": list(webinar.reminder_offsets or []),
        "recording_url": webinar.recording_url,
        "followup_note": webinar.followup_note,
        "page_url": f"{base_url}/w/{webinar.public_id}",
        "ics_url": f"{base_url}/w/{webinar.public_id}.ics",
        "meeting": meeting_json(webinar.meeting),
        "plan_period": webinar.plan_period,
        "all_day": webinar.all_day,
        "start_date": first_day(webinar).isoformat() if webinar.all_day else None,
        "end_date": last_day(webinar).isoformat() if webinar.all_day else None,
        "deadline": utc(webinar.deadline_at) if webinar.deadline_at else None,
    }


def registration_json(registration: Registration, base_url: str,
                      places: dict[int, int] | None = None) -> dict[str, Any]:
    """`places`: the waitlist's order (`registrations.places`), where it was looked up."""
    return {
        "id": registration.id,
        "name": registration.name,
        "email": registration.email,
        "locale": registration.locale,
        "timezone": registration.timezone,
        "status": registration.status,
        "created_at": utc(registration.created_at),
        "cancelled_at": utc(registration.cancelled_at) if registration.cancelled_at else None,
        "personal_url": f"{base_url}/r/{registration.token}",
        "join_url": f"{base_url}/j/{registration.join_token}",
        "waitlist_position": (places or {}).get(registration.id),
    }
