"""The OpenAPI document is valid, lists exactly the routes, and says exactly what is accepted.

Responses are checked against it in every API test (`api_support.Api`); here the document
itself is checked, and generated bodies show that it predicts which requests are refused.
"""

from __future__ import annotations

import copy
import random
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from starlette.routing import Route

from webinars.api import v1
from webinars.api.openapi import DOCUMENT, SCHEMAS
from webinars.clock import FixedClock
from webinars.errors import ValidationFailed
from webinars.validation import registration_input, webinar_input

from .api_support import (
    FORMATS,
    Api,
    World,
    schema_errors,
    webinar_body,
)

METHODS = ("get", "put", "post", "patch", "delete")


def document_operations() -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in DOCUMENT["paths"].items()
            for method in item if method in METHODS}


def route_operations() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in v1.routes:
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":
                found.add((route.path_format, method))
    return found


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"].startswith("3.1")
    validate(DOCUMENT)
    broken = copy.deepcopy(DOCUMENT)  # the validator is real: it notices a wrong type name
    broken["components"]["schemas"]["Webinar"]["properties"]["id"] = {"type": "integr"}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    assert route_operations() == document_operations()


def test_path_parameters_match_the_templates() -> None:
    for path, item in DOCUMENT["paths"].items():
        names = set(re.findall(r"\{([a-z_]+)\}", path))
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        assert names == declared, path


def test_every_operation_documents_its_errors() -> None:
    for path, item in DOCUMENT["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            codes = set(op["responses"])
            if path == "/openapi.json":
                assert op["security"] == []
                continue
            assert "security" not in op  # the document-wide bearer scheme applies
            assert "401" in codes, (path, method)
            if "{webinar_id}" in path:
                assert {"403", "404"} <= codes, (path, method)
            if "requestBody" in op:
                assert {"400", "413", "415", "422"} <= codes, (path, method)
                schema = op["requestBody"]["content"]["application/json"]["schema"]
                target = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
                assert target["additionalProperties"] is False
    assert DOCUMENT["security"] == [{"bearer": []}]
    assert DOCUMENT["components"]["securitySchemes"]["bearer"] == {
        **DOCUMENT["components"]["securitySchemes"]["bearer"], "type": "http",
        "scheme": "bearer"}


def test_documented_fields_are_exactly_the_fields_the_validators_know() -> None:
    clock = FixedClock(datetime(2026, 12, 1, tzinfo=UTC))

    def unknown_webinar(names: list[str]) -> set[str]:
        try:
            webinar_input({n: None for n in names}, clock, default_timezone="UTC", partial=True)
        except ValidationFailed as exc:
            return {k for k, v in exc.fields.items() if v == "is not a known field"}
        return set()

    documented = list(SCHEMAS["WebinarCreate"]["properties"])
    assert unknown_webinar(documented) == set()
    assert unknown_webinar([*documented, "host_url"]) == {"host_url"}
    assert SCHEMAS["WebinarUpdate"]["properties"] == SCHEMAS["WebinarCreate"]["properties"]

    with pytest.raises(ValidationFailed) as raised:
        registration_input({n: None for n in [*SCHEMAS["RegistrationCreate"]["properties"],
                                              "status"]},
                           default_locale="ru", default_timezone="UTC")
    fields = raised.value.fields
    assert {k for k, v in fields.items() if v == "is not a known field"} == {"status"}


def test_response_checks_can_fail() -> None:
    """The checks every API test runs would notice a wrong time format or an extra field."""
    assert "date-time" in FORMATS.checkers
    assert schema_errors({"error": "x", "fields": {}}, {"$ref": "#/components/schemas/Error"}) == []
    assert schema_errors({"error": "x"}, {"$ref": "#/components/schemas/Error"})
    assert schema_errors({"error": "x", "fields": {}, "trace": "..."},
                         {"$ref": "#/components/schemas/Error"})
    registration = {"id": 1, "name": "A", "email": "a@b.example", "locale": "ru",
                    "timezone": "UTC", "status": "confirmed", "created_at": "2026-12-01T09:00:00Z",
                    "cancelled_at": None, "personal_url": "x", "join_url": "y"}
    schema = {"$ref": "#/components/schemas/Registration"}
    assert schema_errors(registration, schema) == []
    assert schema_errors({**registration, "created_at": "yesterday"}, schema)
    assert schema_errors({**registration, "token": "secret"}, schema)


async def test_the_document_is_served_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == DOCUMENT


# --- the document predicts what is refused --------------------------------------------------

POOLS: dict[str, list[Any]] = {
    "title": ["Школа", "", "x" * 201, 5, None],
    "description": ["Про медиа", None, "x" * 10_001, 3],
    "kind": ["training", "party", None],
    "start": ["2026-12-10T15:00", "2026-12-10T10:00:00Z", "", 5, None],
    "timezone": ["Asia/Omsk", "", 7, None],
    "duration_minutes": [45, 4, 1441, 60.0, "60", None],
    "capacity": [10, None, 0, "5", 2.5],
    "registration_open": [True, False, "yes", None],
    "visibility": ["public", "unlisted", "secret"],
    "platform": ["jitsi", "skype"],
    "reminder_offsets": [[60], [], [0], "60", [1, 2, 3, 4, 5, 6]],
    "recording_url": [None, "https://video.example/rec"],
    "followup_note": [None, "Спасибо", 1],
    "status": ["draft", "scheduled", "cancelled"],
    "color": ["red"],
}


def generated_bodies(world: World, count: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    bodies = []
    for _ in range(count):
        body = webinar_body(world.north)
        for name in rng.sample(sorted(POOLS), rng.randint(1, 4)):
            body[name] = rng.choice(POOLS[name])
        if rng.random() < 0.15:
            del body[rng.choice(["title", "start", "duration_minutes", "organization_id"])]
        bodies.append(body)
    return bodies


def offending_fields(body: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """Top-level fields the document rejects; a missing required one names itself."""
    found: set[str] = set()
    for error in Draft202012Validator(schema, format_checker=FORMATS).iter_errors(body):
        if error.path:
            found.add(str(error.path[0]))
        elif error.validator == "required":
            found.add(re.findall(r"'([^']+)'", error.message)[0])
        elif error.validator == "additionalProperties":
            found.update(set(body) - set(schema["properties"]))
    return found



async def test_the_request_schema_predicts_which_bodies_are_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    api = Api(client, world.north_token)
    outcomes = {"refused by the document": 0, "accepted": 0}
    for body in generated_bodies(world, 60):
        offending = offending_fields(body, SCHEMAS["WebinarCreate"])
        response = await api.post("/webinars", json=body)
        if offending:
            assert response.status_code == 422, (body, response.text)
            assert offending <= set(response.json()["fields"]), (body, response.json())
            outcomes["refused by the document"] += 1
        else:
            # Only rules the document states in words may still refuse it.
            assert response.status_code in (201, 422), response.text
            if response.status_code == 422:
                assert set(response.json()["fields"]) <= {"timezone", "title", "start"}, (
                    body, response.json())
            else:
                outcomes["accepted"] += 1
    assert all(outcomes.values()), outcomes  # both kinds were generated
