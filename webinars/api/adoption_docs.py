"""The OpenAPI part for adopting down the tree and coverage, merged into `openapi.DOCUMENT`.
The copy's overrides take the webinar fields' own schemas (`schemas(webinar_fields)`)."""

from __future__ import annotations

from typing import Any

from ..adoption import MAX_CONTACT, MAX_NOTE, OVERRIDES
from ..models import ORG_LEVELS
from ..states import AdoptionKind, values
from ..web.routing import MAX_ID
from .webhook_docs import _path_id, body, errors, ok, ref

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_TIME = {"type": "string", "format": "date-time"}
_MAYBE_TIME = {"type": ["string", "null"], "format": "date-time"}
_COUNT = {"type": "integer", "minimum": 0}
REQUEST_SCHEMAS = ("AdoptionCreate",)


def schemas(webinar_fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "AdoptionOverrides": {
            "type": "object", "additionalProperties": False,
            "description": "For a copy: what differs from the original (the rest is the "
                           "original's). `start` is required when the original is an "
                           "indicative item (status planned); without an offset it is wall "
                           "time in `timezone`, by default the adopting organization's.",
            "properties": {name: webinar_fields[name] for name in OVERRIDES},
        },
        "AdoptionCreate": {
            "type": "object", "additionalProperties": False,
            "required": ["organization_id", "kind"],
            "properties": {
                "organization_id": {**_ID, "description": "The adopting organization: one "
                                    "the account manages, strictly below the event's."},
                "kind": {"type": "string", "enum": list(values(AdoptionKind)),
                         "description": "join: the one shared event shows in the "
                                        "organization's plan; copy: a new event of the "
                                        "organization, linked to the original."},
                "note": {"type": ["string", "null"], "maxLength": MAX_NOTE},
                "contact": {"type": ["string", "null"], "maxLength": MAX_CONTACT},
                "overrides": ref("AdoptionOverrides"),
            },
        },
        "Adoption": {
            "type": "object", "additionalProperties": False,
            "required": ["webinar_id", "organization_id", "kind", "copy_id", "note", "contact",
                         "created_at"],
            "properties": {
                "webinar_id": {"type": "integer"}, "organization_id": {"type": "integer"},
                "kind": {"type": "string", "enum": list(values(AdoptionKind))},
                "copy_id": {"type": ["integer", "null"],
                            "description": "For a copy: the organization's own webinar."},
                "note": {"type": "string"}, "contact": {"type": "string"},
                "created_at": _TIME,
            },
        },
        "Coverage": {
            "type": "object", "additionalProperties": False,
            "required": ["webinar_id", "level", "levels", "organizations"],
            "properties": {
                "webinar_id": {"type": "integer"},
                "level": {"type": "string", "enum": list(ORG_LEVELS)},
                "levels": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False,
                    "required": ["level", "total", "joined", "copied"],
                    "properties": {"level": {"type": "string", "enum": list(ORG_LEVELS)},
                                   "total": _COUNT, "joined": _COUNT, "copied": _COUNT}}},
                "organizations": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False,
                    "required": ["id", "slug", "name", "state", "copy_id", "copy_start",
                                 "note", "contact", "reminded_at"],
                    "properties": {
                        "id": {"type": "integer"}, "slug": {"type": "string"},
                        "name": {"type": "string"},
                        "state": {"type": "string", "enum": ["join", "copy", "none"]},
                        "copy_id": {"type": ["integer", "null"]},
                        "copy_start": _MAYBE_TIME,
                        "note": {"type": "string"}, "contact": {"type": "string"},
                        "reminded_at": _MAYBE_TIME,
                    }}},
            },
        },
    }


WEBINAR_ID = _path_id("webinar_id", "The higher level's event.")

PATHS: dict[str, Any] = {
    "/webinars/{webinar_id}/adoptions": {
        "parameters": [WEBINAR_ID],
        "post": {
            "operationId": "createAdoption",
            "summary": "Take a public event of a higher level into an organization's plan: join "
                       "it, or copy it as the organization's own event (its own UID and "
                       "meeting). A second adoption for the same organization is a 409.",
            "requestBody": body("AdoptionCreate"),
            "responses": {"201": ok("Adoption", "Created."),
                          **errors("BadRequest", "Unauthorized", "Forbidden", "NotFound",
                                   "Conflict", "TooLarge", "UnsupportedMediaType",
                                   "Invalid")},
        },
    },
    "/webinars/{webinar_id}/adoptions/{organization_id}": {
        "parameters": [WEBINAR_ID, _path_id("organization_id", "The adopting organization.")],
        "delete": {
            "operationId": "deleteAdoption",
            "summary": "Withdraw; a copy stays an event of the organization (cancel it to call "
                       "it off). Idempotent.",
            "responses": {"204": {"description": "Withdrawn."},
                          **errors("Unauthorized", "Forbidden", "NotFound")},
        },
    },
    "/webinars/{webinar_id}/coverage": {
        "parameters": [_path_id("webinar_id", "An event of an organization the account "
                                              "manages.")],
        "get": {
            "operationId": "getCoverage",
            "summary": "Which organizations below the event's joined or copied it, per level.",
            "parameters": [{"name": "level", "in": "query", "required": False,
                            "schema": {"type": "string", "enum": list(ORG_LEVELS)},
                            "description": "The level listed in `organizations` (default: "
                                           "the level right below the event's organization)."}],
            "responses": {"200": ok("Coverage"),
                          **errors("Unauthorized", "Forbidden", "NotFound", "Invalid")},
        },
    },
}
