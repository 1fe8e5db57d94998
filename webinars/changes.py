"""What changed in a webinar, as «было → стало» lines for a reader in their zone and language:
the copies' organizers (`workers.copies`) and the members told of an update (`mail`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .i18n import format_when, gettext

#: How each changed field is named in a message (catalog keys).
LABELS = {"title": "Title", "description": "Description", "kind": "Kind",
          "start_at": "Starts", "timezone": "Time zone", "duration_minutes": "Duration, minutes",
          "capacity": "Capacity", "registration_open": "Registration open",
          "registration_mode": "Registration",
          "visibility": "Visibility", "platform": "Platform", "static_url": "Meeting link",
          "status": "Status", "reminder_offsets": "Reminders", "recording_url": "Recording link",
          "followup_note": "Note after the event", "organization_id": "Organization"}
#: What a member is told changed: what their calendar and their attendance depend on. Never
#: the platform's raw link (members only ever get their /j/ address).
MEMBER_FIELDS = ("title", "start_at", "duration_minutes", "platform", "description")
LONGEST = 300


def shown(field: str, value: Any, zone: str, locale: str) -> str:
    if value is None or value == "":
        return "—"
    if field == "start_at" and isinstance(value, str):
        return format_when(datetime.fromisoformat(value), zone, locale)
    if isinstance(value, bool):
        return gettext(locale, "yes") if value else gettext(locale, "no")
    if field in ("kind", "visibility", "status", "platform", "registration_mode"):
        return gettext(locale, str(value))
    text = str(value)
    return text if len(text) <= LONGEST else text[:LONGEST] + "…"


def change_lines(changed: dict[str, Any], zone: str, locale: str,
                 fields: tuple[str, ...] | None = None) -> list[tuple[str, str, str]]:
    """(label, old, new) per changed field, the label a catalog key (translated where it is
    shown), the values in `locale`; `fields` keeps only those, in that order."""
    names = [f for f in fields if f in changed] if fields is not None else list(changed)
    return [(LABELS.get(field, field),
             shown(field, changed[field].get("old"), zone, locale),
             shown(field, changed[field].get("new"), zone, locale))
            for field in names]
