"""The OpenAPI part for /webhooks, merged into `openapi.DOCUMENT` (kept apart to keep that
module readable). Request schemas here are what `inputs.check_shape` enforces too."""

from __future__ import annotations

from typing import Any

from ..states import WebhookStatus
from ..web.routing import MAX_ID
from ..webhooks import KINDS, MAX_DESCRIPTION, MAX_URL

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_TIME = {"type": "string", "format": "date-time"}
_MAYBE_TIME = {"type": ["string", "null"], "format": "date-time"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def errors(*names: str) -> dict[str, Any]:
    codes = {"BadRequest": "400", "Unauthorized": "401", "Forbidden": "403", "NotFound": "404",
             "Conflict": "409", "TooLarge": "413", "UnsupportedMediaType": "415",
             "Invalid": "422"}
    return {codes[n]: {"$ref": f"#/components/responses/{n}"} for n in names}


def ok(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


def body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(schema)}}}


_FIELDS: dict[str, Any] = {
    "url": {"type": "string", "minLength": 1, "maxLength": MAX_URL,
            "description": "https:// address (http:// only for loopback in development). "
                           "An address literal that is private, loopback, link-local or "
                           "reserved is refused (422); names are checked on every send, on "
                           "the address they resolve to."},
    "description": {"type": ["string", "null"], "maxLength": MAX_DESCRIPTION},
    "kinds": {"type": "array", "maxItems": len(KINDS), "items": {"type": "string",
                                                                  "enum": list(KINDS)},
              "description": "Event kinds to receive; empty or absent means every kind."},
}
_ENDPOINT_PROPERTIES: dict[str, Any] = {
    "id": {"type": "integer"},
    "organization_id": {"type": "integer"},
    "url": {"type": "string"},
    "description": {"type": "string"},
    "kinds": {"type": "array", "items": {"type": "string"}},
    "enabled": {"type": "boolean"},
    "disabled_at": _MAYBE_TIME,
    "disabled_reason": {"type": ["string", "null"]},
    "failing_since": _MAYBE_TIME,
    "created_at": _TIME,
}

SCHEMAS: dict[str, Any] = {
    "WebhookEndpoint": {
        "type": "object", "additionalProperties": False,
        "required": list(_ENDPOINT_PROPERTIES),
        "properties": _ENDPOINT_PROPERTIES,
    },
    "WebhookEndpointCreated": {
        "type": "object", "additionalProperties": False,
        "required": [*_ENDPOINT_PROPERTIES, "secret"],
        "properties": {**_ENDPOINT_PROPERTIES, "secret": {
            "type": "string", "pattern": "^whsec_",
            "description": "The signing secret (Standard Webhooks). Shown in this answer only."}},
    },
    "WebhookEndpointList": {
        "type": "object", "additionalProperties": False, "required": ["items"],
        "properties": {"items": {"type": "array", "items": ref("WebhookEndpoint")}},
    },
    "WebhookCreate": {
        "type": "object", "additionalProperties": False,
        "required": ["url", "organization_id"],
        "properties": {**_FIELDS, "organization_id": {
            **_ID, "description": "An organization the account manages; the endpoint gets "
                                  "the events of its whole subtree."}},
    },
    "WebhookUpdate": {
        "type": "object", "additionalProperties": False,
        "description": "Any subset; turning an endpoint on again sends what waited meanwhile.",
        "properties": {**_FIELDS, "enabled": {"type": "boolean"}},
    },
    "WebhookAttempt": {
        "type": "object", "additionalProperties": False,
        "required": ["attempted_at", "succeeded", "status_code", "error", "duration_ms"],
        "properties": {"attempted_at": _TIME, "succeeded": {"type": "boolean"},
                       "status_code": {"type": ["integer", "null"]},
                       "error": {"type": ["string", "null"]},
                       "duration_ms": {"type": "integer"}},
    },
    "WebhookMessage": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "msg_id", "kind", "event_id", "status", "attempts", "due_at",
                     "created_at", "sent_at", "last_status_code", "last_error", "history"],
        "properties": {
            "id": {"type": "integer"},
            "msg_id": {"type": "string", "description": "The `webhook-id` header: the same on "
                                                        "every attempt and every resend."},
            "kind": {"type": "string"},
            "event_id": {"type": ["integer", "null"]},
            "status": {"type": "string", "enum": [s.value for s in WebhookStatus]},
            "attempts": {"type": "integer", "minimum": 0},
            "due_at": _TIME, "created_at": _TIME, "sent_at": _MAYBE_TIME,
            "last_status_code": {"type": ["integer", "null"]},
            "last_error": {"type": ["string", "null"]},
            "history": {"type": "array", "items": ref("WebhookAttempt")},
        },
    },
    "WebhookMessageList": {
        "type": "object", "additionalProperties": False,
        "required": ["items", "total", "limit", "offset"],
        "properties": {"items": {"type": "array", "items": ref("WebhookMessage")},
                       "total": {"type": "integer", "minimum": 0},
                       "limit": {"type": "integer"}, "offset": {"type": "integer"}},
    },
}

REQUEST_SCHEMAS = ("WebhookCreate", "WebhookUpdate")
WRITE = ("BadRequest", "Unauthorized", "Forbidden", "TooLarge", "UnsupportedMediaType",
         "Invalid")


def _path_id(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": _ID}


ENDPOINT_ID = _path_id("endpoint_id", "The webhook endpoint's id.")
MESSAGE_ID = _path_id("message_id", "The message's id.")
_PAGING = [
    {"name": "limit", "in": "query", "required": False, "description": "Page size.",
     "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
    {"name": "offset", "in": "query", "required": False, "description": "Items to skip.",
     "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000, "default": 0}},
]
_LINK_ID = "$response.body#/id"
_CREATED_LINKS = {
    "GetWebhook": {"operationId": "getWebhook", "parameters": {"endpoint_id": _LINK_ID},
                   "description": "Read it back."},
    "PingWebhook": {"operationId": "pingWebhook", "parameters": {"endpoint_id": _LINK_ID},
                    "description": "Send a test message."},
}

PATHS: dict[str, Any] = {
    "/webhooks": {
        "get": {
            "operationId": "listWebhooks",
            "summary": "Webhook endpoints of the organizations the account manages.",
            "responses": {"200": ok("WebhookEndpointList"), **errors("Unauthorized")},
        },
        "post": {
            "operationId": "createWebhook",
            "summary": "Add an endpoint; the answer carries its signing secret, once.",
            "requestBody": body("WebhookCreate"),
            "responses": {"201": {**ok("WebhookEndpointCreated", "Created."),
                                  "headers": {"Location": {"description": "Its address.",
                                                           "schema": {"type": "string"}}},
                                  "links": _CREATED_LINKS},
                          **errors(*WRITE)},
        },
    },
    "/webhooks/{endpoint_id}": {
        "parameters": [ENDPOINT_ID],
        "get": {"operationId": "getWebhook", "summary": "One endpoint.",
                "responses": {"200": ok("WebhookEndpoint"),
                              **errors("Unauthorized", "Forbidden", "NotFound")}},
        "patch": {"operationId": "updateWebhook",
                  "summary": "Change the address, description or kinds; turn it on or off.",
                  "requestBody": body("WebhookUpdate"),
                  "responses": {"200": ok("WebhookEndpoint"), **errors(*WRITE, "NotFound")}},
        "delete": {"operationId": "deleteWebhook",
                   "summary": "Remove it with its messages; the answer is what was removed.",
                   "responses": {"200": ok("WebhookEndpoint"),
                                 **errors("Unauthorized", "Forbidden", "NotFound")}},
    },
    "/webhooks/{endpoint_id}/messages": {
        "parameters": [ENDPOINT_ID],
        "get": {"operationId": "listWebhookMessages",
                "summary": "Its messages, newest first, each with every attempt.",
                "parameters": _PAGING,
                "responses": {"200": ok("WebhookMessageList"),
                              **errors("Unauthorized", "Forbidden", "NotFound", "Invalid")}},
    },
    "/webhooks/{endpoint_id}/ping": {
        "parameters": [ENDPOINT_ID],
        "post": {"operationId": "pingWebhook",
                 "summary": "Send a test message (`webhook.ping`) through the same path, "
                            "even to an endpoint that is turned off.",
                 "responses": {"202": ok("WebhookMessage", "Queued."),
                               **errors("Unauthorized", "Forbidden", "NotFound")}},
    },
    "/webhooks/{endpoint_id}/messages/{message_id}/resend": {
        "parameters": [ENDPOINT_ID, MESSAGE_ID],
        "post": {"operationId": "resendWebhookMessage",
                 "summary": "Send a message again: same `webhook-id`, same body, due now, "
                            "with a fresh retry budget.",
                 "responses": {"202": ok("WebhookMessage", "Queued."),
                               **errors("Unauthorized", "Forbidden", "NotFound", "Conflict")}},
    },
}
