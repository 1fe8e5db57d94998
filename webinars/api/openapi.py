"""The OpenAPI 3.1 description of /api/v1, written as data.

The request schemas here are also what `inputs.check_shape` enforces before the domain rules
run, so the document and the behaviour cannot drift apart: a body the document rejects is
rejected with 422, formats included (`formats.py`). Rules the document cannot express (a start
in the future, an organization that exists, a link that matches its platform) are in the
descriptions and reported the same way.
"""

from __future__ import annotations

from typing import Any

from integrations.registry import PASTE_PLATFORMS, WEBINAR_PLATFORMS

from ..config import SUPPORTED_LOCALES
from ..models import (
    MEETING_STATUSES,
    ORG_LEVELS,
    REGISTRATION_MODES,
    REGISTRATION_STATUSES,
    VISIBILITIES,
    WEBINAR_KINDS,
    WEBINAR_STATUSES,
)
from ..organizations import SLUG_RE
from ..timezones import iana_zones
from ..validation import (
    MAX_CAPACITY,
    MAX_DESCRIPTION,
    MAX_DURATION,
    MAX_EMAIL,
    MAX_NAME,
    MAX_REMINDER,
    MAX_TITLE,
)
from ..web.routing import MAX_ID
from . import (
    activity_docs,
    adoption_docs,
    platform_docs,
    report_docs,
    series_docs,
    webhook_docs,
)

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_OFFSET = 1_000_000_000
MAX_QUERY = 200
#: Every zone the server accepts, as the `TimeZone` schema lists them.
ZONES = sorted(iana_zones())
#: ISO 8601 extended date and time with seconds and offset optional ("2027-03-01T15:00"): read
#: besides RFC 3339 date-time, as wall time in the webinar's zone (a filter: UTC).
ISO_DATE_TIME = (r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
                 r"T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
                 r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$")


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def page_of(item: str) -> dict[str, Any]:
    """A page of a list endpoint: the items and where they sit in the whole."""
    return {
        "type": "object",
        "required": ["items", "total", "limit", "offset"],
        "additionalProperties": False,
        "properties": {
            "items": {"type": "array", "items": ref(item)},
            "total": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    }

_DATETIME = {"type": "string", "format": "date-time"}
PLAN_PERIOD = "^[0-9]{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$"
_WEBINAR_FIELDS: dict[str, Any] = {
    "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
    "description": nullable({"type": "string", "maxLength": MAX_DESCRIPTION}),
    "kind": {"type": "string", "enum": list(WEBINAR_KINDS)},
    "start": {
        "type": "string", "maxLength": 64,
        "anyOf": [{"format": "date-time"}, {"pattern": ISO_DATE_TIME}],
        "description": "RFC 3339 date-time, or ISO 8601 date and time with seconds and offset "
                       "optional, e.g. 2027-03-01T15:00 or 2027-03-01T12:00:00Z. Without an "
                       "offset it is wall time in `timezone`. Must be a real date, in the "
                       "future and within five years (otherwise 422).",
    },
    "timezone": ref("TimeZone"),
    "duration_minutes": {"type": "integer", "minimum": 5, "maximum": MAX_DURATION},
    "capacity": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_CAPACITY,
                 "description": "Seats; null means no limit."},
    "registration_open": {"type": "boolean",
                          "description": "False exactly when `registration_mode` is closed; "
                                         "both may be given only if they agree (else 422)."},
    "registration_mode": {
        "type": "string", "enum": list(REGISTRATION_MODES),
        "description": "open: seats go to whoever registers, a full webinar puts them on a "
                       "waitlist; approval: each registration waits (pending) for an "
                       "organizer to confirm or decline it; closed: no registrations."},
    "visibility": {"type": "string", "enum": list(VISIBILITIES)},
    "platform": {"type": "string", "enum": list(WEBINAR_PLATFORMS)},
    "static_url": nullable({
        "type": "string", "maxLength": 500,
        "description": "https:// link pasted by hand; required when platform is static.",
    }),
    "static_platform": {"type": "string", "enum": list(PASTE_PLATFORMS),
                        "description": "Which service `static_url` belongs to (checked)."},
    "reminder_offsets": {
        "type": "array", "maxItems": 5,
        "items": {"type": "integer", "minimum": 1, "maximum": MAX_REMINDER},
        "description": "Reminders, in minutes before the start.",
    },
    "organization_id": _ID,
    "recording_url": nullable({"type": "string", "maxLength": 500,
                               "description": "https:// link to the recording."}),
    "followup_note": nullable({"type": "string", "maxLength": MAX_DESCRIPTION}),
    "status": {"type": "string", "enum": ["draft", "planned", "scheduled"],
               "description": "planned: an indicative item of the yearly plan, with "
                              "`plan_period` and no `start` (it reaches calendars and takes "
                              "registrations once it gets a start and the status scheduled)."},
    "plan_period": nullable({
        "type": "string", "pattern": PLAN_PERIOD, "maxLength": 7,
        "description": "When a planned item is meant to happen: a year (2027), a quarter "
                       "(2027-Q1) or a month (2027-03), not over yet and within five years. "
                       "Required for status planned, refused for any other status.",
    }),
    "all_day": {"type": "boolean",
                "description": "A period (a contest, a PR action) of whole days from "
                               "`start_date` to `end_date` instead of a meeting at `start`: "
                               "calendars get DTSTART;VALUE=DATE. `start` and "
                               "`duration_minutes` are then not used; the platform defaults "
                               "to none (no online meeting)."},
    "start_date": {"type": "string", "format": "date", "maxLength": 10,
                   "description": "An all-day period's first day (not in the past)."},
    "end_date": {"type": "string", "format": "date", "maxLength": 10,
                 "description": "An all-day period's last day, inclusive: on or after "
                                "`start_date`, at most 366 days."},
    "deadline": nullable({
        "type": "string", "pattern": ISO_DATE_TIME, "maxLength": 40,
        "description": "An all-day period's submission deadline, inside the period; without "
                       "an offset it is wall time in `timezone`. Members are reminded of it "
                       "a day before.",
    }),
}

SCHEMAS: dict[str, Any] = {
    "TimeZone": {"type": "string", "enum": ZONES,
                 "description": "An IANA time zone, e.g. Europe/Moscow."},
    "Error": {
        "type": "object",
        "required": ["error", "fields"],
        "additionalProperties": False,
        "properties": {
            "error": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "Each offending field with the reason."},
            "code": {"type": "string",
                     "description": "For 409: full, closed, duplicate or cancelled; "
                                    "for 429: rate_limited."},
        },
    },
    "Organization": {
        "type": "object",
        "required": ["id", "slug", "name", "level", "timezone", "parent_id"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer"},
            "slug": {"type": "string"},
            "name": {"type": "string"},
            "level": {"type": "string", "enum": list(ORG_LEVELS)},
            "timezone": {"type": "string"},
            "parent_id": {"type": ["integer", "null"]},
        },
    },
    "OrganizationList": {
        "type": "object",
        "required": ["items"],
        "additionalProperties": False,
        "properties": {"items": {"type": "array", "items": ref("Organization")}},
    },
    "Meeting": {
        "type": "object",
        "required": ["status"],
        "additionalProperties": False,
        "properties": {
            "status": {"type": "string", "enum": list(MEETING_STATUSES)},
            "join_url": {"type": "string"},
            "host_url": {"type": "string",
                         "description": "Only ever shown to organizers who manage the event."},
            "error": {"type": "string"},
        },
    },
    "Webinar": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "id", "public_id", "organization", "title", "description", "kind", "start",
            "timezone", "start_local", "duration_minutes", "end", "capacity",
            "registered_count", "seats_left", "registration_open", "registration_mode",
            "visibility", "platform",
            "static_url", "status", "uid", "sequence", "reminder_offsets", "recording_url",
            "followup_note", "page_url", "ics_url", "meeting", "plan_period", "all_day",
            "start_date", "end_date", "deadline",
        ],
        "properties": {
            "id": {"type": "integer"},
            "public_id": {"type": "string"},
            "organization": {
                "type": "object", "required": ["id", "slug", "name"],
                "additionalProperties": False,
                "properties": {"id": {"type": "integer"}, "slug": {"type": "string"},
                               "name": {"type": "string"}},
            },
            "title": {"type": "string"},
            "description": {"type": "string"},
            "kind": {"type": "string", "enum": list(WEBINAR_KINDS)},
            "start": {**_DATETIME, "pattern": "Z$", "description": "UTC."},
            "timezone": {"type": "string"},
            "start_local": {**_DATETIME, "description": "In `timezone`, with its offset."},
            "duration_minutes": {"type": "integer"},
            "end": {**_DATETIME, "pattern": "Z$"},
            "capacity": {"type": ["integer", "null"]},
            "registered_count": {"type": "integer", "minimum": 0},
            "seats_left": {"type": ["integer", "null"], "minimum": 0},
            "registration_open": {"type": "boolean"},
            "registration_mode": {"type": "string", "enum": list(REGISTRATION_MODES)},
            "visibility": {"type": "string", "enum": list(VISIBILITIES)},
            "platform": {"type": "string"},
            "static_url": {"type": ["string", "null"]},
            "status": {"type": "string", "enum": list(WEBINAR_STATUSES)},
            "uid": {"type": "string"},
            "sequence": {"type": "integer", "minimum": 0},
            "reminder_offsets": {"type": "array", "items": {"type": "integer"}},
            "recording_url": {"type": ["string", "null"]},
            "followup_note": {"type": ["string", "null"]},
            "page_url": {"type": "string"},
            "ics_url": {"type": "string"},
            "meeting": {"oneOf": [ref("Meeting"), {"type": "null"}]},
            "plan_period": {"type": ["string", "null"],
                            "description": "A planned item's period (then `start` is its "
                                           "first moment, for ordering)."},
            "all_day": {"type": "boolean"},
            "start_date": {"type": ["string", "null"], "format": "date",
                           "description": "An all-day period's first day."},
            "end_date": {"type": ["string", "null"], "format": "date",
                         "description": "An all-day period's last day (inclusive)."},
            "deadline": {"oneOf": [{**_DATETIME, "pattern": "Z$"}, {"type": "null"}],
                         "description": "The submission deadline, UTC."},
        },
    },
    "WebinarList": page_of("Webinar"),
    "WebinarCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["title", "organization_id"],
        "description": "`start` and `duration_minutes` are required unless the status is "
                       "planned (then `plan_period` is, and `start` is refused) or the event "
                       "is `all_day` (then `start_date` and `end_date` are).",
        "properties": _WEBINAR_FIELDS,
    },
    "WebinarUpdate": {
        "type": "object",
        "additionalProperties": False,
        "description": "Any subset of the fields; absent fields stay as they are. A change of "
                       "start, duration, title or description raises SEQUENCE and sends an "
                       "update to every confirmed registrant.",
        "properties": _WEBINAR_FIELDS,
    },
    "Registration": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "name", "email", "locale", "timezone", "status", "created_at",
                     "cancelled_at", "personal_url", "join_url", "waitlist_position"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "email": {"type": "string"},
            "locale": {"type": "string"},
            "timezone": {"type": "string"},
            "status": {"type": "string", "enum": list(REGISTRATION_STATUSES),
                       "description": "confirmed (holds a seat), pending (waits for an "
                                      "organizer), waitlisted (waits for a seat), declined, "
                                      "cancelled."},
            "waitlist_position": {"type": ["integer", "null"], "minimum": 1,
                                  "description": "1 for the first in line; null unless "
                                                 "waitlisted."},
            "created_at": _DATETIME,
            "cancelled_at": {"type": ["string", "null"], "format": "date-time"},
            "personal_url": {"type": "string"},
            "join_url": {"type": "string"},
        },
    },
    "RegistrationList": page_of("Registration"),
    "RegistrationDecisions": {
        "type": "object", "additionalProperties": False, "required": ["items"],
        "properties": {"items": {"type": "array", "items": ref("Registration")}},
    },
    "RegistrationCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "email"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
            "email": {
                "type": "string", "minLength": 3, "maxLength": MAX_EMAIL, "format": "idn-email",
                "description": "An address such as anna@school.example; host names in any "
                               "script (почта.рф) are fine. Its host must contain a dot; "
                               "quoted local parts and address literals are refused (422).",
            },
            "locale": {"type": "string", "enum": list(SUPPORTED_LOCALES)},
            "timezone": {**ref("TimeZone"), "description": "Defaults to the webinar's zone."},
            "organization_id": {**_ID, "description": "The member's own organization."},
        },
    },
}


#: Bytes one character can take in JSON text: an astral one escaped as a surrogate pair,
#: `\ud83d\ude00`. Any character may be escaped, so this bounds every string and key.
ESCAPED_CHAR = 12
#: A number in JSON text: an integer up to 2**63 or an integral float such as -1.5e+300.
NUMBER_BYTES = 24
#: Room for whitespace a pretty-printer adds around the largest body.
BODY_MARGIN = 16 * 1024


def largest_json(schema: dict[str, Any]) -> int:
    """Bytes of the longest JSON text a valid value of `schema` can be (whitespace aside)."""
    if "$ref" in schema:
        return largest_json(SCHEMAS[schema["$ref"].rsplit("/", 1)[1]])
    if "enum" in schema:
        return max(ESCAPED_CHAR * len(str(v)) + 2 for v in schema["enum"])
    types = schema.get("type")
    sizes = [4]  # null
    for kind in [types] if isinstance(types, str) else list(types or []):
        if kind == "string":
            sizes.append(ESCAPED_CHAR * schema["maxLength"] + 2)
        elif kind in ("integer", "number"):
            sizes.append(NUMBER_BYTES)
        elif kind == "boolean":
            sizes.append(5)
        elif kind == "array":
            sizes.append(2 + schema["maxItems"] * (largest_json(schema["items"]) + 1))
        elif kind == "object":
            sizes.append(2 + sum(ESCAPED_CHAR * len(name) + 4 + largest_json(value)
                                 for name, value in schema["properties"].items()))
    return max(sizes)


SCHEMAS.update(webhook_docs.SCHEMAS)
SCHEMAS.update(activity_docs.SCHEMAS)
SCHEMAS.update(platform_docs.SCHEMAS)
SCHEMAS.update(report_docs.SCHEMAS)
SCHEMAS.update(adoption_docs.schemas(_WEBINAR_FIELDS))
SCHEMAS.update(series_docs.schemas(_WEBINAR_FIELDS))
REQUEST_SCHEMAS = ("WebinarCreate", "WebinarUpdate", "RegistrationCreate",
                   *webhook_docs.REQUEST_SCHEMAS, *platform_docs.REQUEST_SCHEMAS,
                   *adoption_docs.REQUEST_SCHEMAS, *series_docs.REQUEST_SCHEMAS)
#: The largest valid request body, every string at its maxLength and escaped, plus a margin:
#: a valid body is never refused for its size.
MAX_BODY_BYTES = max(largest_json(SCHEMAS[name]) for name in REQUEST_SCHEMAS) + BODY_MARGIN


def error_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": ref("Error")}}}


RESPONSES: dict[str, Any] = {
    "BadRequest": error_response("Malformed JSON, or the body is not a JSON object."),
    "Unauthorized": {
        **error_response("No bearer token, or it is unknown or revoked."),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    },
    "Forbidden": error_response("Outside the part of the tree the account manages."),
    "NotFound": error_response("No such webinar, registration, webhook endpoint or message."),
    "Conflict": error_response("The state forbids it; `code` says why."),
    "TooLarge": error_response(f"The body is larger than {MAX_BODY_BYTES} bytes."),
    "UnsupportedMediaType": error_response("The body is not application/json."),
    "Invalid": error_response("A field is wrong; `fields` names each with the reason."),
    "TooMany": {
        **error_response("Too many registrations of this address lately; `Retry-After` says "
                         "how many seconds to wait."),
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
    },
}


def json_body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(schema)}}}


def ok(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


def errors(*names: str) -> dict[str, Any]:
    codes = {"BadRequest": "400", "Unauthorized": "401", "Forbidden": "403", "NotFound": "404",
             "Conflict": "409", "TooLarge": "413", "UnsupportedMediaType": "415",
             "Invalid": "422", "TooMany": "429"}
    return {codes[n]: {"$ref": f"#/components/responses/{n}"} for n in names}


WRITE_ERRORS = ("BadRequest", "Unauthorized", "Forbidden", "TooLarge", "UnsupportedMediaType",
                "Invalid")
CREATED_HEADERS = {"Location": {"description": "Address of the new resource.",
                                "schema": {"type": "string"}}}


def path_id(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


PAGING = [
    query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                    "default": DEFAULT_LIMIT}, "Page size."),
    query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
          "Items to skip."),
]
#: A date, an RFC 3339 date-time, or ISO 8601 date and time with seconds and offset optional.
INSTANT_FILTER = {"type": "string", "maxLength": 64, "anyOf": [
    {"format": "date"}, {"format": "date-time"}, {"pattern": ISO_DATE_TIME}]}


def link(operation: str, description: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation, "parameters": parameters, "description": description}


#: Where a created webinar or registration can be used next (OpenAPI links, which stateful
#: clients and test tools follow).
WEBINAR_LINKS = {
    "GetWebinar": link("getWebinar", "Read it back.", webinar_id="$response.body#/id"),
    "UpdateWebinar": link("updateWebinar", "Change it.", webinar_id="$response.body#/id"),
    "CancelWebinar": link("cancelWebinar", "Cancel it.", webinar_id="$response.body#/id"),
    "ListRegistrations": link("listRegistrations", "Its registrations.",
                              webinar_id="$response.body#/id"),
    "CreateRegistration": link("createRegistration", "Register someone.",
                               webinar_id="$response.body#/id"),
}
REGISTRATION_LINKS = {
    "GetRegistration": link("getRegistration", "Read it back.",
                            webinar_id="$request.path.webinar_id",
                            registration_id="$response.body#/id"),
    "CancelRegistration": link("cancelRegistration", "Cancel it.",
                               webinar_id="$request.path.webinar_id",
                               registration_id="$response.body#/id"),
}
WEBINAR_ID = path_id("webinar_id", "The webinar's id.")
REGISTRATION_ID = path_id("registration_id", "The registration's id.")

def decision_docs(action: str, single: bool) -> dict[str, Any]:
    what = ("Confirm: a seat and the invitation, or the waitlist when full"
            if action == "confirm" else
            "Decline: the member gets a plain notice (and a CANCEL if they held a seat, "
            "which goes to the first in line)")
    return {
        "parameters": [WEBINAR_ID, REGISTRATION_ID] if single else [WEBINAR_ID],
        "post": {
            "operationId": f"{action}Registration" if single else f"{action}AllPending",
            "summary": (f"{what}. Idempotent." if single else
                        f"{what}, for every pending registration of the webinar."),
            "responses": {"200": ok("Registration" if single else "RegistrationDecisions"),
                          **errors("Unauthorized", "Forbidden", "NotFound")},
        },
    }


PATHS: dict[str, Any] = {
    "/openapi.json": {
        "get": {
            "operationId": "getOpenAPI",
            "summary": "This document.",
            "security": [],
            "responses": {"200": {"description": "The OpenAPI document.",
                                  "content": {"application/json": {
                                      "schema": {"type": "object"}}}}},
        },
    },
    "/organizations": {
        "get": {
            "operationId": "listOrganizations",
            "summary": "Organizations the account manages: each role's organization and below.",
            "responses": {"200": ok("OrganizationList"), **errors("Unauthorized")},
        },
    },
    "/webinars": {
        "get": {
            "operationId": "listWebinars",
            "summary": "Webinars in the account's part of the tree, by start time.",
            "parameters": [
                query("organization", {"type": "string", "pattern": SLUG_RE.pattern},
                      "Organization slug; includes its subtree. One that no organization has "
                      "is a 422."),
                query("status", {"type": "string", "enum": list(WEBINAR_STATUSES)}, "Status."),
                query("kind", {"type": "string", "enum": list(WEBINAR_KINDS)}, "Kind."),
                query("from", INSTANT_FILTER,
                      "Starting at or after: a date (UTC midnight) or a date and time "
                      "(UTC when it has no offset)."),
                query("to", INSTANT_FILTER,
                      "Starting before: a date (the whole day is included) or a date and time "
                      "(UTC when it has no offset). Must be after `from` (otherwise 422)."),
                query("q", {"type": "string", "maxLength": MAX_QUERY},
                      "Title contains (case-insensitive for latin letters)."),
                *PAGING,
            ],
            "responses": {"200": ok("WebinarList"),
                          **errors("Unauthorized", "Forbidden", "Invalid")},
        },
        "post": {
            "operationId": "createWebinar",
            "summary": "Plan a webinar; the meeting is created in the background.",
            "requestBody": json_body("WebinarCreate"),
            "responses": {"201": {**ok("Webinar", "Created."), "headers": CREATED_HEADERS,
                                  "links": WEBINAR_LINKS},
                          **errors(*WRITE_ERRORS)},
        },
    },
    "/webinars/{webinar_id}": {
        "parameters": [WEBINAR_ID],
        "get": {
            "operationId": "getWebinar",
            "summary": "One webinar.",
            "responses": {"200": ok("Webinar"),
                          **errors("Unauthorized", "Forbidden", "NotFound")},
        },
        "patch": {
            "operationId": "updateWebinar",
            "summary": "Change a webinar; attendees get an update when they must see it.",
            "requestBody": json_body("WebinarUpdate"),
            "responses": {"200": ok("Webinar"),
                          **errors(*WRITE_ERRORS, "NotFound", "Conflict")},
        },
    },
    "/webinars/{webinar_id}/cancel": {
        "parameters": [WEBINAR_ID],
        "post": {
            "operationId": "cancelWebinar",
            "summary": "Cancel; every confirmed registrant gets a cancellation. Idempotent.",
            "responses": {"200": ok("Webinar"),
                          **errors("Unauthorized", "Forbidden", "NotFound")},
        },
    },
    "/webinars/{webinar_id}/registrations": {
        "parameters": [WEBINAR_ID],
        "get": {
            "operationId": "listRegistrations",
            "summary": "Registrations of one webinar, oldest first.",
            "parameters": PAGING,
            "responses": {"200": ok("RegistrationList"),
                          **errors("Unauthorized", "Forbidden", "NotFound", "Invalid")},
        },
        "post": {
            "operationId": "createRegistration",
            "summary": "Register a member on their behalf; they get the invitation by e-mail.",
            "requestBody": json_body("RegistrationCreate"),
            "responses": {"201": {**ok("Registration", "Created."),
                                  "headers": CREATED_HEADERS, "links": REGISTRATION_LINKS},
                          **errors(*WRITE_ERRORS, "NotFound", "Conflict", "TooMany")},
        },
    },
    "/webinars/{webinar_id}/registrations/{registration_id}": {
        "parameters": [WEBINAR_ID, REGISTRATION_ID],
        "get": {
            "operationId": "getRegistration",
            "summary": "One registration.",
            "responses": {"200": ok("Registration"),
                          **errors("Unauthorized", "Forbidden", "NotFound")},
        },
    },
    "/webinars/{webinar_id}/registrations/{registration_id}/cancel": {
        "parameters": [WEBINAR_ID, REGISTRATION_ID],
        "post": {
            "operationId": "cancelRegistration",
            "summary": "Cancel a registration; the member gets a cancellation. Idempotent.",
            "responses": {"200": ok("Registration"),
                          **errors("Unauthorized", "Forbidden", "NotFound")},
        },
    },
}

PATHS.update({
    "/webinars/{webinar_id}/registrations/{registration_id}/confirm":
        decision_docs("confirm", True),
    "/webinars/{webinar_id}/registrations/{registration_id}/decline":
        decision_docs("decline", True),
    "/webinars/{webinar_id}/registrations/confirm": decision_docs("confirm", False),
    "/webinars/{webinar_id}/registrations/decline": decision_docs("decline", False),
})
PATHS.update(webhook_docs.PATHS)
PATHS.update(activity_docs.PATHS)
PATHS.update(platform_docs.PATHS)
PATHS.update(report_docs.PATHS)
PATHS.update(adoption_docs.PATHS)
PATHS.update(series_docs.PATHS)

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Webinars API",
        "version": "1.0.0",
        "description": "Plan webinars and manage registrations in the part of the organization "
                       "tree an API token's account manages. Errors are always JSON "
                       "`{error, fields, code?}`.",
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "responses": RESPONSES,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "An API token (wbt_...) made on the /tokens page."},
        },
    },
}
