"""The OpenAPI part for an organization's participation report, merged into
`openapi.DOCUMENT`: the same tables the organizer's report page shows."""

from __future__ import annotations

from typing import Any

from ..reports import LEVELS, PERIOD_PATTERN
from ..states import WebinarStatus, values
from .webhook_docs import _ID, _TIME, _path_id, errors, ok

_COUNT = {"type": "integer", "minimum": 0}
_LEVEL = {"type": "string", "enum": list(LEVELS)}
_COUNTS_REF = {"$ref": "#/components/schemas/ReportCounts"}


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
}
