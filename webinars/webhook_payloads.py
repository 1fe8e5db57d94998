"""What an integrator receives: `{"type", "timestamp", "data"}` built from an event.

Ids and the changed fields always; never a personal token (registration, join, feed); a
member's name and e-mail only for endpoints of the organization that manages the webinar or
one above it. The body is built once per message and stored, so every attempt sends and signs
the same bytes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .events import plain
from .models import Registration, Webinar

PING = "webhook.ping"
#: Keys of an event's data that are never sent, whoever the receiver is.
SECRET_KEYS = ("token", "join_token", "feed_token", "proof", "secret", "password")
#: Keys of an event's data that name a person: sent only to the managing chain.
PERSONAL_KEYS = ("name", "email", "recipient")


def webinar_part(webinar: Webinar, base_url: str) -> dict[str, Any]:
    return {"id": webinar.id, "public_id": webinar.public_id,
            "organization_id": webinar.organization_id, "title": webinar.title,
            "kind": webinar.kind, "status": webinar.status, "start": plain(webinar.start_at),
            "timezone": webinar.timezone, "duration_minutes": webinar.duration_minutes,
            "page_url": f"{base_url}/w/{webinar.public_id}"}


def registration_part(registration: Registration, *, personal: bool) -> dict[str, Any]:
    part: dict[str, Any] = {"id": registration.id, "status": registration.status,
                            "organization_id": registration.organization_id}
    if personal:
        part.update(name=registration.name, email=registration.email)
    return part


def scrub(value: Any, *, personal: bool) -> Any:
    """An event's data without secrets (and without names and e-mails unless `personal`)."""
    if isinstance(value, dict):
        return {k: scrub(v, personal=personal) for k, v in value.items()
                if not any(s in k for s in SECRET_KEYS)
                and (personal or not any(p in k for p in PERSONAL_KEYS))}
    if isinstance(value, list):
        return [scrub(v, personal=personal) for v in value]
    return plain(value)


def event_payload(kind: str, occurred_at: datetime, *, event_id: int,
                  organization_id: int | None, data: dict[str, Any],
                  webinar: Webinar | None, registration: Registration | None,
                  personal: bool, base_url: str) -> dict[str, Any]:
    body: dict[str, Any] = {"event_id": event_id, "organization_id": organization_id,
                            **scrub(data, personal=personal)}
    if webinar is not None:
        body["webinar"] = webinar_part(webinar, base_url)
    if registration is not None:
        body["registration"] = registration_part(registration, personal=personal)
    return {"type": kind, "timestamp": plain(occurred_at), "data": body}


def ping_payload(now: datetime, endpoint_id: int, organization_id: int) -> dict[str, Any]:
    return {"type": PING, "timestamp": plain(now),
            "data": {"endpoint_id": endpoint_id, "organization_id": organization_id}}


def encode(payload: dict[str, Any]) -> str:
    """The exact body: compact, UTF-8, stored as is."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
