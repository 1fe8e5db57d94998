"""The OpenAPI part for courses and recurring series, merged into `openapi.DOCUMENT`."""

from __future__ import annotations

from typing import Any

from ..series import MAX_SESSIONS, MIN_SESSIONS
from ..states import SessionStatus, values
from .webhook_docs import _path_id, body, errors, ok

_TIME = {"type": "string", "format": "date-time"}
_LOCAL = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}$"
REQUEST_SCHEMAS = ("SeriesRule", "SessionMove")


def schemas(webinar_fields: dict[str, Any]) -> dict[str, Any]:
    rule_properties: dict[str, Any] = {
        "kind": {"type": "string", "enum": ["weekly", "dates"],
                 "description": "weekly: `weekday`, `time`, `count` and `from`; dates: "
                                "`starts`."},
        "weekday": {"type": "integer", "minimum": 0, "maximum": 6,
                    "description": "0 is Monday, 6 Sunday."},
        "time": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
                 "maxLength": 5,
                 "description": "Local time in the webinar's zone, e.g. 15:00."},
        "count": {"type": "integer", "minimum": MIN_SESSIONS, "maximum": MAX_SESSIONS},
        "from": {"type": "string", "format": "date", "maxLength": 10,
                 "description": "The first session is the first `weekday` on or after it."},
        "starts": {"type": "array", "minItems": MIN_SESSIONS, "maxItems": MAX_SESSIONS,
                   "uniqueItems": True,
                   "items": {"type": "string", "pattern": _LOCAL, "maxLength": 16},
                   "description": "Local start times in the webinar's zone, e.g. "
                                  "2027-01-12T15:00."},
    }
    return {
        "SeriesRule": {
            "type": "object", "additionalProperties": False, "required": ["kind"],
            "description": "A course's sessions, all in the webinar's zone (a series across a "
                           "DST change keeps its local time). Every session must be in the "
                           "future and within five years, and at a local time the zone's "
                           "clocks do not skip (otherwise 422). Setting a rule makes the "
                           "sessions anew, each `duration_minutes` long. An all-day period or "
                           "an indicative item cannot be a series (409).",
            "properties": rule_properties,
            "oneOf": [
                {"required": ["weekday", "time", "count", "from"],
                 "properties": {"kind": {"const": "weekly"}},
                 "not": {"required": ["starts"]}},
                {"required": ["starts"], "properties": {"kind": {"const": "dates"}},
                 "not": {"anyOf": [{"required": [name]}
                                   for name in ("weekday", "time", "count", "from")]}},
            ],
        },
        "SessionMove": {
            "type": "object", "additionalProperties": False, "required": ["start"],
            "properties": {"start": webinar_fields["start"],
                           "duration_minutes": webinar_fields["duration_minutes"]},
        },
        "Series": {
            "type": "object", "additionalProperties": False,
            "required": ["webinar_id", "timezone", "rule", "sequence", "sessions"],
            "properties": {
                "webinar_id": {"type": "integer"},
                "timezone": {"type": "string"},
                "rule": {"type": ["object", "null"],
                         "description": "The rule as stored (null for a single event)."},
                "sequence": {"type": "integer",
                             "description": "The series' SEQUENCE: raised by every change."},
                "sessions": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False,
                    "required": ["number", "start", "start_local", "original_start",
                                 "duration_minutes", "status", "moved"],
                    "properties": {
                        "number": {"type": "integer", "minimum": 1},
                        "start": {**_TIME, "pattern": "Z$"},
                        "start_local": _TIME,
                        "original_start": {**_TIME, "pattern": "Z$",
                                           "description": "Where the rule put it (its "
                                                          "RECURRENCE-ID)."},
                        "duration_minutes": {"type": "integer"},
                        "status": {"type": "string", "enum": list(values(SessionStatus))},
                        "moved": {"type": "boolean"},
                    }}},
            },
        },
    }


WEBINAR_ID = _path_id("webinar_id", "A webinar of an organization the account manages.")
NUMBER = _path_id("number", "The session's number in the series, from 1.")
_WRITE_ERRORS = errors("BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict",
                       "TooLarge", "UnsupportedMediaType", "Invalid")

PATHS: dict[str, Any] = {
    "/webinars/{webinar_id}/series": {
        "parameters": [WEBINAR_ID],
        "get": {
            "operationId": "getSeries",
            "summary": "The webinar's sessions (none for a single event).",
            "responses": {"200": ok("Series"), **errors("Unauthorized", "Forbidden",
                                                        "NotFound")},
        },
        "put": {
            "operationId": "setSeries",
            "summary": "Make the webinar a course of several sessions, or change its rule. "
                       "One registration and one capacity for all sessions; members get one "
                       "update of the series (one UID, SEQUENCE raised).",
            "requestBody": body("SeriesRule"),
            "responses": {"200": ok("Series"), **_WRITE_ERRORS},
        },
    },
    "/webinars/{webinar_id}/sessions/{number}": {
        "parameters": [WEBINAR_ID, NUMBER],
        "patch": {
            "operationId": "moveSession",
            "summary": "Move one session; members get an update under the series' UID (the "
                       "master and the moved session's RECURRENCE-ID override) and its "
                       "reminders move.",
            "requestBody": body("SessionMove"),
            "responses": {"200": ok("Series"), **_WRITE_ERRORS},
        },
    },
    "/webinars/{webinar_id}/sessions/{number}/cancel": {
        "parameters": [WEBINAR_ID, NUMBER],
        "post": {
            "operationId": "cancelSession",
            "summary": "Cancel one session (an EXDATE in calendars); the others stay. "
                       "Idempotent. The last session left is a 409: cancel the webinar.",
            "responses": {"200": ok("Series"), **errors("Unauthorized", "Forbidden",
                                                        "NotFound", "Conflict", "Invalid")},
        },
    },
}
