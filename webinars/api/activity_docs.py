"""The OpenAPI part for a webinar's activity log, merged into `openapi.DOCUMENT`."""

from __future__ import annotations

from typing import Any

from ..states import EventKind, values
from ..web.routing import MAX_ID

#: The page size the endpoint takes (`api.activity` reads them from here).
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_COUNT = {"type": "integer", "minimum": 0}


def _counts(*names: str) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": list(names),
            "properties": {name: _COUNT for name in names}}


SCHEMAS: dict[str, Any] = {
    "ActivityEntry": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "kind", "occurred_at", "organization_id", "webinar_id", "actor",
                     "registrant", "data", "members_told", "webhooks", "meeting_jobs",
                     "dispatched", "dispatch_attempts", "last_error"],
        "properties": {
            "id": _ID,
            "kind": {"type": "string", "enum": list(values(EventKind))},
            "occurred_at": {"type": "string", "format": "date-time"},
            "organization_id": {"type": ["integer", "null"]},
            "webinar_id": {"type": ["integer", "null"]},
            "actor": {"type": ["string", "null"],
                      "description": "The organizer who acted; null for members and the system."},
            "registrant": {"type": ["string", "null"],
                           "description": "The registrant's name for registration and "
                                          "delivery events."},
            "data": {"type": "object",
                     "description": "What the event recorded: ids, and for webinar.changed "
                                    "`changed` as {field: {old, new}} (times in UTC)."},
            "members_told": {**_counts("members", "messages", "sent", "failed", "superseded"),
                             "description": "The messages the event's notifications wrote."},
            "webhooks": {**_counts("messages", "sent", "failed"),
                         "description": "Webhook messages queued for the event."},
            "meeting_jobs": _COUNT,
            "dispatched": {"type": "boolean",
                           "description": "Every handler of the event has finished."},
            "dispatch_attempts": _COUNT,
            "last_error": {"type": ["string", "null"]},
        },
    },
    "ActivityPage": {
        "type": "object",
        "additionalProperties": False,
        "required": ["items", "next_before"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/ActivityEntry"}},
            "next_before": {"type": ["integer", "null"],
                            "description": "`before` for the next (older) page; null on the "
                                           "last one."},
        },
    },
}

PATHS: dict[str, Any] = {
    "/webinars/{webinar_id}/activity": {
        "parameters": [{"name": "webinar_id", "in": "path", "required": True,
                        "description": "The webinar's id.", "schema": _ID}],
        "get": {
            "operationId": "getWebinarActivity",
            "summary": "The webinar's activity log, newest first: who changed what, and what "
                       "it set off.",
            "parameters": [
                {"name": "before", "in": "query", "required": False, "schema": _ID,
                 "description": "Entries older than this event id (`next_before`)."},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                            "default": DEFAULT_LIMIT},
                 "description": "Page size."},
            ],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ActivityPage"}}}},
                **{code: {"$ref": f"#/components/responses/{name}"} for code, name in (
                    ("401", "Unauthorized"), ("403", "Forbidden"), ("404", "NotFound"),
                    ("422", "Invalid"))},
            },
        },
    },
}
