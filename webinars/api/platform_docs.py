"""The OpenAPI part for conferencing platforms, built from `integrations.registry`: the
platform enum, each platform's credential fields and the connection an organization has."""

from __future__ import annotations

from typing import Any

from integrations.registry import CONNECTABLE, PLATFORMS

from .webhook_docs import WRITE, _path_id, body, errors, ok, ref

_TIME = {"type": "string", "format": "date-time"}
_MAYBE_TIME = {"type": ["string", "null"], "format": "date-time"}


def _field_doc(name: str) -> dict[str, Any]:
    users = [(p.name, f) for p in PLATFORMS.values() for f in p.fields if f.name == name]
    longest = max(f.max_length for _, f in users)
    where = "; ".join(f"{p}: {f.label}{' (secret)' if f.secret else ''}"
                      f"{', one of ' + ', '.join(f.choices) if f.choices else ''}"
                      for p, f in users)
    return {"type": "string", "maxLength": longest, "description": where}


FIELD_NAMES = sorted({f.name for p in PLATFORMS.values() for f in p.fields})
_CONNECTION: dict[str, Any] = {
    "platform": {"type": "string", "enum": list(CONNECTABLE)},
    "organization_id": {"type": "integer"},
    "status": {"type": "string", "enum": ["untested", "ok", "broken"]},
    "last_error": {"type": ["string", "null"]},
    "checked_at": _MAYBE_TIME,
    "updated_at": _TIME,
    "values": {"type": "object", "additionalProperties": {"type": "string"},
               "description": "What was entered; secrets masked (never shown back in full)."},
    "callback_url": {"type": ["string", "null"],
                     "description": "Where the platform sends its webhooks and callbacks."},
}
_FIELD = {
    "type": "object", "additionalProperties": False,
    "required": ["name", "label", "secret", "required", "kind", "choices", "default"],
    "properties": {"name": {"type": "string"}, "label": {"type": "string"},
                   "secret": {"type": "boolean"}, "required": {"type": "boolean"},
                   "kind": {"type": "string", "enum": ["text", "url", "email", "textarea",
                                                       "choice"]},
                   "choices": {"type": "array", "items": {"type": "string"}},
                   "default": {"type": "string"}},
}

SCHEMAS: dict[str, Any] = {
    "Platform": {
        "type": "object", "additionalProperties": False,
        "required": ["name", "label", "link_kind", "attendance", "personal_links",
                     "host_link", "fields"],
        "properties": {
            "name": {"type": "string"}, "label": {"type": "string"},
            "link_kind": {"type": "string", "enum": ["dynamic", "static", "paste", "none"]},
            "attendance": {"type": "string", "enum": ["webhooks", "report", "clicks"]},
            "personal_links": {"type": "boolean"}, "host_link": {"type": "boolean"},
            "fields": {"type": "array", "items": _FIELD},
        },
    },
    "PlatformList": {
        "type": "object", "additionalProperties": False, "required": ["items"],
        "properties": {"items": {"type": "array", "items": ref("Platform")}},
    },
    "PlatformConnection": {
        "type": "object", "additionalProperties": False, "required": list(_CONNECTION),
        "properties": _CONNECTION,
    },
    "PlatformConnectionList": {
        "type": "object", "additionalProperties": False, "required": ["items"],
        "properties": {"items": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["platform", "connection", "inherited_from"],
            "properties": {
                "platform": {"type": "string", "enum": list(CONNECTABLE)},
                "connection": {"oneOf": [ref("PlatformConnection"), {"type": "null"}]},
                "inherited_from": {"type": ["integer", "null"], "description":
                                   "Without a connection of its own: the organization above "
                                   "whose connection serves this one."},
            }}}},
    },
    "PlatformCredentials": {
        "type": "object", "additionalProperties": False,
        "description": "The platform's fields (GET /platforms lists them per platform). A "
                       "secret left out keeps the stored one.",
        "properties": {name: _field_doc(name) for name in FIELD_NAMES},
    },
}
REQUEST_SCHEMAS = ("PlatformCredentials",)

ORGANIZATION_ID = _path_id("organization_id", "An organization the account manages.")
PLATFORM = {"name": "platform", "in": "path", "required": True,
            "description": "A platform that takes an organization's account.",
            "schema": {"type": "string", "enum": list(CONNECTABLE)}}

PATHS: dict[str, Any] = {
    "/platforms": {
        "get": {"operationId": "listPlatforms",
                "summary": "The conferencing platforms and the credentials each needs.",
                "responses": {"200": ok("PlatformList"), **errors("Unauthorized")}},
    },
    "/organizations/{organization_id}/platforms": {
        "parameters": [ORGANIZATION_ID],
        "get": {"operationId": "listPlatformConnections",
                "summary": "The organization's connections, and those it inherits.",
                "responses": {"200": ok("PlatformConnectionList"),
                              **errors("Unauthorized", "Forbidden", "NotFound")}},
    },
    "/organizations/{organization_id}/platforms/{platform}": {
        "parameters": [ORGANIZATION_ID, PLATFORM],
        "put": {"operationId": "savePlatformConnection",
                "summary": "Connect the organization's account (or change it); the "
                           "organizer page's \"test connection\" calls the platform.",
                "requestBody": body("PlatformCredentials"),
                "responses": {"200": ok("PlatformConnection"), **errors(*WRITE, "NotFound")}},
        "delete": {"operationId": "deletePlatformConnection",
                   "summary": "Disconnect; the organizations below fall back to the "
                              "connection above, if any.",
                   "responses": {"204": {"description": "Disconnected."},
                                 **errors("Unauthorized", "Forbidden", "NotFound")}},
    },
}
