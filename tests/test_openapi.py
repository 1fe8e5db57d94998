"""The OpenAPI document is valid, lists exactly the routes, and says exactly what is accepted.

Responses are checked against it in every API test (`api_support.Api`); here the document
itself is checked, and generated bodies show that it predicts which requests are refused.
"""

from __future__ import annotations

import copy
import json
import random
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import jsonschema_rs
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from starlette.routing import Route

from webinars.api import formats, v1
from webinars.api.inputs import check_shape
from webinars.api.openapi import DOCUMENT, MAX_BODY_BYTES, SCHEMAS, largest_json
from webinars.clock import FixedClock
from webinars.errors import ValidationFailed
from webinars.timezones import iana_zones
from webinars.validation import registration_input, webinar_input

from .api_support import (
    FORMATS,
    Api,
    World,
    resolve,
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
                    "cancelled_at": None, "personal_url": "x", "join_url": "y",
                    "waitlist_position": None}
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
    root = {**schema, "components": DOCUMENT["components"]}  # $refs resolve in the document
    for error in Draft202012Validator(root, format_checker=FORMATS).iter_errors(body):
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


# --- formats, zones, links and the body limit ----------------------------------------------

def test_the_time_zone_enum_is_exactly_what_the_server_accepts() -> None:
    zones = SCHEMAS["TimeZone"]["enum"]
    assert zones == sorted(iana_zones()) and "Europe/Moscow" in zones
    for schema in ("WebinarCreate", "WebinarUpdate", "RegistrationCreate"):
        assert SCHEMAS[schema]["properties"]["timezone"]["$ref"].endswith("/TimeZone")
    clock = FixedClock(datetime(2026, 12, 1, tzinfo=UTC))
    for zone in zones:  # every documented zone passes the shape check and the domain rules
        body, fields = check_shape({"timezone": zone}, SCHEMAS["WebinarUpdate"])
        assert fields == {}, zone
        webinar_input(body, clock, default_timezone="UTC", partial=True)
        registration_input({"name": "A", "email": "a@b.example", **body},
                           default_locale="ru", default_timezone="UTC")
    for name in ("posixrules", "Factory", "localtime", "right/Europe/Moscow", "europe/moscow",
                 "Europe/Moscow ", "Mars/Olympus"):
        _, fields = check_shape({"timezone": name}, SCHEMAS["RegistrationCreate"])
        assert fields["timezone"].startswith("is not a known IANA time zone"), name


DATE_TIMES = [
    "2027-03-01T10:00:00Z", "2027-03-01t10:00:00z", "2027-03-01T10:00:00.5+03:00",
    "2027-03-01T10:00:00.123456789-11:30", "2027-06-30T23:59:60Z", "2027-07-01T02:59:60+03:00",
    "2027-03-01T10:00:60Z", "0000-01-01T00:00:00Z", "2028-02-29T00:00:00Z", "2027-02-29T00:00:00Z",
    "2027-04-31T00:00:00Z", "2027-03-01T24:00:00Z", "2027-03-01T10:60:00Z", "2027-03-01T10:00Z",
    "2027-03-01T10:00:00", "2027-03-01 10:00:00Z", "2027-03-01T10:00:00+24:00",
    "2027-03-01T10:00:00+05", "2027-3-01T10:00:00Z", "20270301T100000Z", "2027-03-01T10:00:00.Z",
    "2027-03-01T10:00:00Z ", "２０２７-03-01T10:00:00Z", "",
]
DATES = ["2027-03-01", "0000-02-29", "2027-02-29", "2028-02-29", "2027-13-01", "2027-00-10",
         "2027-03-00", "2027-3-1", "20270301", "2027-03-01T00:00:00Z", "2027-W09-1", ""]


def test_date_formats_agree_with_the_validator_test_tools_use() -> None:
    """The server's RFC 3339 checks against jsonschema-rs, which Schemathesis validates with."""
    for format_name, samples, check in (("date-time", DATE_TIMES, formats.is_date_time),
                                        ("date", DATES, formats.is_date)):
        validator = jsonschema_rs.validator_for({"type": "string", "format": format_name},
                                                validate_formats=True)
        for sample in samples:
            assert check(sample) == validator.is_valid(sample), (format_name, sample)


def test_addresses_are_idn_emails_the_union_can_write_to() -> None:
    email = SCHEMAS["RegistrationCreate"]["properties"]["email"]
    assert email["format"] == "idn-email"
    validator = jsonschema_rs.validator_for(email, validate_formats=True)
    for good in ("anna@school.example", "анна@почта.рф", "a.b+c@x-y.example", "!#$%&*@x.example"):
        assert formats.is_idn_email(good) and validator.is_valid(good), good
    for bad in ("a..b@school.example", ".a@school.example", "a.@school.example",
                "a@school..example", "a@-school.example", "a b@school.example", "a@b@c.example",
                "@school.example", "a@", "a@school_x.example"):
        assert not formats.is_idn_email(bad), bad
        assert not validator.is_valid(bad), bad


def test_every_link_names_an_operation_and_its_path_parameters() -> None:
    operations = {op["operationId"]: (path, op) for path, item in DOCUMENT["paths"].items()
                  for method, op in item.items() if method in METHODS}
    links = 0
    for path, item in DOCUMENT["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            for response in op["responses"].values():
                for name, link in response.get("links", {}).items():
                    links += 1
                    target_path, _ = operations[link["operationId"]]
                    wanted = set(re.findall(r"\{([a-z_]+)\}", target_path))
                    assert set(link["parameters"]) == wanted, name
                    for expression in link["parameters"].values():
                        if expression.startswith("$request.path."):
                            assert "{" + expression.removeprefix("$request.path.") + "}" in path
                        else:
                            schema = resolve(response)["content"]["application/json"]["schema"]
                            field = expression.removeprefix("$response.body#/")
                            assert field in resolve(schema)["properties"], (name, field)
    assert links == 9  # webinars 5, registrations 2, webhooks 2


def largest_body(world: World) -> bytes:
    """A valid body at the size limit's premise: long texts of astral characters, escaped."""
    body = webinar_body(world.north, title="😀" * 200, description="😀" * 10_000,
                        followup_note="🎓" * 10_000, start="2026-12-10T15:00:00.123456+05:00",
                        timezone="America/Argentina/ComodRivadavia")
    return json.dumps(body, ensure_ascii=True).encode()


async def test_the_largest_valid_body_is_accepted_and_one_byte_more_than_the_limit_is_not(
    client: httpx.AsyncClient, world: World
) -> None:
    api = Api(client, world.north_token)
    content = largest_body(world)
    assert len(content) > 240_000  # 20,000 characters of 12 bytes each
    created = await api.post("/webinars", content=content,
                             headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.text[:300]
    assert created.json()["description"] == "😀" * 10_000
    patched = await api.patch(f"/webinars/{created.json()['id']}", content=content,
                              headers={"Content-Type": "application/json"})
    assert patched.status_code == 200, patched.text[:300]
    padded = content[:-1] + b" " * (MAX_BODY_BYTES + 1 - len(content)) + b"}"
    assert len(padded) == MAX_BODY_BYTES + 1
    refused = await api.post("/webinars", content=padded,
                             headers={"Content-Type": "application/json"})
    assert refused.status_code == 413
    assert str(MAX_BODY_BYTES) in DOCUMENT["components"]["responses"]["TooLarge"]["description"]


def test_the_limit_covers_every_field_at_its_longest() -> None:
    for name in ("WebinarCreate", "WebinarUpdate", "RegistrationCreate"):
        assert largest_json(SCHEMAS[name]) < MAX_BODY_BYTES
    strings = sum(p.get("maxLength", 0) for p in SCHEMAS["WebinarCreate"]["properties"].values())
    assert MAX_BODY_BYTES > 12 * strings


START_ACCEPTED = {
    "2026-12-10T10:00:00Z": "2026-12-10T10:00:00Z",
    "2026-12-10t10:00:00z": "2026-12-10T10:00:00Z",
    "2026-12-10T13:00:00.123456789+03:00": "2026-12-10T10:00:00Z",
    "2026-12-31T23:59:60Z": "2026-12-31T23:59:59Z",
    "2026-12-10T15:00": "2026-12-10T10:00:00Z",  # wall time in Yekaterinburg, the zone below
    "2026-12-10T15:00:30": "2026-12-10T10:00:30Z",
    "2026-12-10T10:00Z": "2026-12-10T10:00:00Z",
}
START_REFUSED = ["2026-12-10", "2026-12-10 15:00", "20261210T1500", "2026-12-10T15",
                 "2026-02-30T10:00", "2026-12-10T10:00:00+24:00", "0000-01-01T00:00:00Z",
                 "2026-11-30T10:00:00Z", "in a week", "2026-12-10T15:00\n",
                 " 2026-12-10T15:00"]


async def test_start_takes_exactly_the_documented_forms(
    client: httpx.AsyncClient, world: World
) -> None:
    api = Api(client, world.north_token)
    # jsonschema-rs, like Schemathesis; Python's rfc3339-validator knows no leap seconds.
    documented = jsonschema_rs.validator_for(SCHEMAS["WebinarCreate"]["properties"]["start"],
                                             validate_formats=True)
    for text, utc in START_ACCEPTED.items():
        assert documented.is_valid(text), text
        response = await api.post("/webinars", json=webinar_body(
            world.north, start=text, timezone="Asia/Yekaterinburg"))
        assert response.status_code == 201, (text, response.text)
        assert response.json()["start"] == utc, text
    for text in START_REFUSED:
        response = await api.post("/webinars", json=webinar_body(world.north, start=text))
        assert response.status_code == 422, (text, response.text)
        assert set(response.json()["fields"]) == {"start"}, text


async def test_registration_addresses_in_any_script_but_never_malformed(
    client: httpx.AsyncClient, world: World
) -> None:
    api = Api(client, world.north_token)
    path = f"/webinars/{world.north_webinar.id}/registrations"
    ok = await api.post(path, json={"name": "Анна", "email": "анна@почта.рф"})
    assert ok.status_code == 201 and ok.json()["email"] == "анна@почта.рф"
    for bad in ("a..b@school.example", ".anna@school.example", "anna@school..example",
                "anna@-school.example"):
        response = await api.post(path, json={"name": "Анна", "email": bad})
        assert response.status_code == 422 and "email" in response.json()["fields"], bad
