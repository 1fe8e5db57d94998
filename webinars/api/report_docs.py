"""The OpenAPI part for an organization's participation report, merged into
`openapi.DOCUMENT`: the same tables the organizer's report page shows."""

from __future__ import annotations

from typing import Any

from ..reports import LEVELS, PERIOD_PATTERN
from ..states import SessionStatus, WebinarStatus, values
from .webhook_docs import _ID, _TIME, _path_id, errors, ok

_COUNT = {"type": "integer", "minimum": 0}
_LEVEL = {"type": "string", "enum": list(LEVELS)}
_COUNTS_REF = {"$ref": "#/components/schemas/ReportCounts"}
_NULLABLE_COUNT = {"type": ["integer", "null"], "minimum": 0}
_DISTRIBUTION = {"type": "array", "items": _COUNT}


def _object(properties: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False,
                              "required": list(properties), "properties": properties}
    if description:
        schema["description"] = description
    return schema


SCHEMAS: dict[str, Any] = {
    "ReportCounts": _object({
        "registered": {**_COUNT, "description": "Registrations that stand (confirmed)."},
        "cancelled": {**_COUNT, "description": "Registrations cancelled."},
        "clicked": {**_COUNT, "description": "Registrations whose join address was followed."},
        "attended": {**_COUNT, "description": "Registrations a platform reported in the "
                                              "meeting (only platforms that report it)."},
    }),
    "ReportOrganization": _object({
        "id": _ID, "name": {"type": "string"}, "level": _LEVEL,
        "parent_id": {"type": ["integer", "null"]},
        "depth": {**_COUNT, "description": "0 for the report's organization, 1 below it, ..."},
        "own": {**_COUNTS_REF, "description": "Members who declared this organization."},
        "total": {**_COUNTS_REF, "description": "Its own members and those of every "
                                                "organization below it."},
    }),
    "ReportLevel": _object({"level": _LEVEL, "organizations": _COUNT, "counts": _COUNTS_REF}),
    "ReportWebinar": _object({
        "id": _ID, "title": {"type": "string"}, "start_at": _TIME,
        "status": {"type": "string", "enum": list(values(WebinarStatus))},
        "organization_id": _ID, "level": _LEVEL,
        "higher_level": {"type": "boolean",
                         "description": "An event of an organization above the report's: "
                                        "only members declared inside its subtree count."},
        "counts": _COUNTS_REF,
        "sessions": {**_COUNT, "description": "Sessions held, for a course (counted once, as "
                                              "one event with one registration per member); "
                                              "0 for a single event."},
    }),
    "ReportMonth": _object({
        "month": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$"},
        "webinars": _COUNT, "counts": _COUNTS_REF}),
    "Report": _object({
        "organization_id": _ID,
        "period": {"type": "string", "pattern": PERIOD_PATTERN},
        "from": {**_TIME, "description": "The period's first moment (in the organization's "
                                         "zone), in UTC."},
        "to": {**_TIME, "description": "The first moment after the period, in UTC."},
        "timezone": {"type": "string"},
        "declared_by_member": {"type": "boolean", "const": True,
                               "description": "A registration counts for the organization "
                                              "the member declared; nobody checked it."},
        "total": _COUNTS_REF,
        "organizations": {"type": "array",
                          "items": {"$ref": "#/components/schemas/ReportOrganization"}},
        "levels": {"type": "array", "items": {"$ref": "#/components/schemas/ReportLevel"}},
        "webinars": {"type": "array", "items": {"$ref": "#/components/schemas/ReportWebinar"}},
        "months": {"type": "array", "items": {"$ref": "#/components/schemas/ReportMonth"}},
    }, "Participation in an organization's subtree over a period: its own events (every "
       "registration) and those of the organizations above it (members declared inside the "
       "subtree only)."),
    "SeriesReportSession": _object({
        "number": {"type": "integer", "minimum": 1},
        "start_at": _TIME,
        "status": {"type": "string", "enum": list(values(SessionStatus))},
        "registered": {**_NULLABLE_COUNT, "description": "Members counted (a seat is a seat "
                                                         "in every session); null when the "
                                                         "session is cancelled, as below."},
        "clicked": {**_NULLABLE_COUNT, "description": "Members who followed their join "
                                                      "address in the session's window."},
        "attended_platform": {**_NULLABLE_COUNT, "description": "Members the platform "
                                                                "reported in the meeting "
                                                                "during the session."},
        "attended": {**_NULLABLE_COUNT, "description": "Members who clicked or whom the "
                                                       "platform reported."},
    }),
    "SeriesReportOrganization": _object({
        "id": _ID, "name": {"type": "string"}, "level": _LEVEL,
        "parent_id": {"type": ["integer", "null"]},
        "depth": {**_COUNT, "description": "0 for the report's organization, 1 below it, ..."},
        "own": {**_DISTRIBUTION, "description": "Members who declared this organization, "
                                                "by sessions attended (index = sessions)."},
        "total": {**_DISTRIBUTION, "description": "The same with every organization below "
                                                  "it."},
    }),
    "SeriesReport": _object({
        "organization_id": _ID, "webinar_id": _ID, "title": {"type": "string"},
        "timezone": {"type": "string", "description": "The organization's zone."},
        "higher_level": {"type": "boolean",
                         "description": "A course of an organization above the report's: "
                                        "only members declared inside its subtree count."},
        "declared_by_member": {"type": "boolean", "const": True},
        "held_sessions": {**_COUNT, "description": "Sessions not cancelled: the N of "
                                                   "\"attended k of N\"."},
        "members": {**_COUNT, "description": "Standing registrations counted."},
        "sessions": {"type": "array",
                     "items": {"$ref": "#/components/schemas/SeriesReportSession"}},
        "completion": {**_DISTRIBUTION, "description": "Members by sessions attended (a "
                                                       "join click in a session's window or "
                                                       "the platform's report): index k "
                                                       "holds those who attended k of "
                                                       "held_sessions."},
        "organizations": {"type": "array",
                          "items": {"$ref": "#/components/schemas/SeriesReportOrganization"}},
    }, "A course's attendance for an organization: per session, and how many members "
       "attended how many sessions, rolled up by declared organization."),
}

PATHS: dict[str, Any] = {
    "/organizations/{organization_id}/reports": {
        "parameters": [_path_id("organization_id", "An organization the account manages.")],
        "get": {
            "operationId": "getOrganizationReport",
            "summary": "Registered, cancelled, clicked and attended, per organization of the "
                       "subtree (rolled up), per level, per webinar and per month.",
            "parameters": [
                {"name": "period", "in": "query", "required": False,
                 "schema": {"type": "string", "pattern": PERIOD_PATTERN},
                 "description": "A month (2026-12), a quarter (2026-Q4) or a year (2026) in "
                                "the organization's zone; the current month if left out."},
            ],
            "responses": {"200": ok("Report"),
                          **errors("Unauthorized", "Forbidden", "NotFound", "Invalid")},
        },
    },
    "/organizations/{organization_id}/reports/series/{webinar_id}": {
        "parameters": [_path_id("organization_id", "An organization the account manages."),
                       _path_id("webinar_id", "A course of that organization, of one below "
                                              "it or of one above it.")],
        "get": {
            "operationId": "getSeriesReport",
            "summary": "A course's sessions (clicked, attended) and how many members attended "
                       "how many of them, rolled up by declared organization.",
            "responses": {"200": ok("SeriesReport"),
                          **errors("Unauthorized", "Forbidden", "NotFound", "Invalid")},
        },
    },
}
