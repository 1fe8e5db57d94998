"""Bad input to the API: every field's wrong values get 4xx naming the field, nothing is
written, and no input at all produces a 500 (the `Api` client fails on any 5xx)."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
from sqlalchemy import func, select

from webinars.api.openapi import MAX_BODY_BYTES
from webinars.models import Registration, Webinar
from webinars.runtime import Runtime

from .api_support import (
    Api,
    World,
    registration_body,
    webinar_body,
)


async def counts(runtime: Runtime) -> tuple[int, int]:
    async with runtime.sessionmaker() as s:
        return (await s.scalar(select(func.count(Webinar.id))) or 0,
                await s.scalar(select(func.count(Registration.id))) or 0)


HUGE = 10**400
BAD_WEBINAR_VALUES: dict[str, list[Any]] = {
    "title": [None, 123, True, [], {}, "", "   ", "x" * 201, "a\x00b"],
    "description": [123, ["a"], "x" * 10_001, "bad\x00text"],
    "kind": ["party", 1, None, ["webinar"]],
    "start": [None, "", "tomorrow", "2026-13-01T10:00", 20261210, "2026-11-30T10:00Z",
              "9999-12-31T23:59-14:00", "0001-01-01T00:00+14:00", "0001-01-01T00:00",
              "2026-12-01T11:59+03:00", "2040-01-01T10:00Z", "9999-12-31T23:59", "x" * 65,
              ["2026-12-10T10:00"]],
    "timezone": [None, "", "Mars/Olympus", "../../etc/passwd", "Europe/Moscow\x00", 3,
                 "x" * 65, "/etc/localtime", "localtime", "Factory", "posixrules",
                 "right/Europe/Moscow", "posix/Europe/Moscow"],
    "duration_minutes": [None, 0, 4, 1441, -5, "ninety", "90", 1.5, HUGE, True, 1e308,
                         float("nan"), float("inf"), [90]],
    "capacity": [0, -1, 100_001, "many", "10", 2.5, HUGE, False, {}],
    "registration_open": ["maybe", "true", 1, 0, [True]],
    "visibility": ["secret", "", 0, None],
    "platform": ["skype", "", 7, None],
    "static_platform": ["myspace", 1],
    "reminder_offsets": ["60", 60, [0], [-1], [43_201], [HUGE], ["60"], [1.5], [True],
                         [1, 2, 3, 4, 5, 6], [None], {"a": 1}],
    "organization_id": [None, 0, -1, "1", 2**31, HUGE, 1.5, True, 99_999, 99_999.0],
    "recording_url": ["http://insecure.example/rec", "ftp://x.example/", "notaurl", 5,
                      "https://" + "x" * 500],
    "followup_note": [5, "x" * 10_001, "\x00"],
    "status": ["cancelled", "finished", "", 1],
    "surprise": ["field", None],
    "": [1],
    "tïtle": ["unicode key"],
}


def bad_cases() -> list[tuple[str, Any]]:
    return [(name, value) for name, values in BAD_WEBINAR_VALUES.items() for value in values]


async def test_every_bad_field_value_on_create_is_a_422_naming_it(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    api = Api(client, world.north_token)
    before = await counts(runtime)
    for name, value in bad_cases():
        body = webinar_body(world.north, **{name: value})
        response = await api.post("/webinars", json=body)
        assert response.status_code == 422, (name, value, response.text)
        assert name in response.json()["fields"], (name, value, response.json())
        assert response.json()["fields"][name]  # a reason, not just a name
    # A link that does not belong to the platform it claims, and a pasted link that is missing.
    for extra, field in (({"platform": "static", "static_url": "https://evil.example/x",
                           "static_platform": "zoom"}, "static_url"),
                         ({"platform": "static", "static_url": "http://zoom.us/j/1",
                           "static_platform": "zoom"}, "static_url"),
                         ({"platform": "static"}, "static_url")):
        response = await api.post("/webinars", json=webinar_body(world.north, **extra))
        assert response.status_code == 422 and field in response.json()["fields"], extra
    assert await counts(runtime) == before


async def test_missing_required_fields_are_each_reported(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await Api(client, world.north_token).post("/webinars", json={})
    assert response.status_code == 422
    assert set(response.json()["fields"]) == {"title", "start", "duration_minutes",
                                              "organization_id"}
    several = await Api(client, world.north_token).post("/webinars", json=webinar_body(
        world.north, title=5, timezone="Nowhere/City", capacity=0, extra=1))
    assert set(several.json()["fields"]) == {"title", "timezone", "capacity", "extra"}


async def test_every_bad_field_value_on_update_is_a_422_and_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    api = Api(client, world.north_token)
    path = f"/webinars/{world.north_webinar.id}"
    before = (await api.get(path)).json()
    for name, value in bad_cases():
        if name in ("organization_id",) and value is None:
            continue  # checked below: null is "no change" for nothing, so it is a type error
        response = await api.patch(path, json={name: value})
        assert response.status_code == 422, (name, value, response.text)
        assert name in response.json()["fields"], (name, value, response.json())
    assert (await api.patch(path, json={"organization_id": None})).status_code == 422
    # One good field beside a bad one: nothing at all is written.
    mixed = await api.patch(path, json={"title": "Half written", "capacity": 0})
    assert mixed.status_code == 422 and set(mixed.json()["fields"]) == {"capacity"}
    assert (await api.get(path)).json() == before


async def test_bad_registration_input(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    api = Api(client, world.north_token)
    path = f"/webinars/{world.north_webinar.id}/registrations"
    cases: dict[str, list[Any]] = {
        "name": [None, "", "  ", 5, "x" * 201, "a\x00"],
        "email": [None, "", "not-an-address", "a@b", "a b@c.example", 5, "x" * 250 + "@a.ru",
                  "a@b.example\x00"],
        "locale": ["fr", "", 1, None],
        "timezone": ["Atlantis/Capital", 5, "x" * 65],
        "organization_id": [0, "1", 99_999, HUGE],
        "webinar_id": [1],
    }
    for name, values in cases.items():
        for value in values:
            response = await api.post(path, json=registration_body(**{name: value}))
            assert response.status_code == 422, (name, value, response.text)
            assert name in response.json()["fields"], (name, value)
    missing = await api.post(path, json={})
    assert set(missing.json()["fields"]) == {"name", "email"}
    assert (await counts(runtime))[1] == 0


BAD_FILTERS: list[tuple[dict[str, str], str]] = [
    ({"status": "bogus"}, "status"), ({"kind": "party"}, "kind"),
    ({"from": "yesterday"}, "from"), ({"to": "2026-13-01"}, "to"),
    ({"from": "2027-01-02", "to": "2027-01-01"}, "to"),
    ({"from": "2027-02-30T10:00"}, "from"), ({"from": "2027-03-01 10:00"}, "from"),
    ({"to": "20270301"}, "to"), ({"to": "2027-W09-1"}, "to"), ({"from": "2027-03-01T10"}, "from"),
    ({"from": "2027-03-01T10:00:00+24:00"}, "from"), ({"to": "2027-02-29"}, "to"),
    ({"to": "2027-03-01T10:00\n"}, "to"), ({"to": ""}, "to"),
    ({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"limit": "9" * 40}, "limit"), ({"offset": "-1"}, "offset"),
    ({"offset": "1e3"}, "offset"), ({"organization": "no-such-org"}, "organization"),
    ({"organization": "Bad Slug"}, "organization"), ({"organization": "a\x00"}, "organization"),
    ({"q": "x" * 201}, "q"), ({"q": "a\x00b"}, "q"), ({"page": "2"}, "page"),
]


async def test_bad_list_filters_are_a_422_naming_the_filter(
    client: httpx.AsyncClient, world: World
) -> None:
    api = Api(client, world.admin_token)
    for params, field in BAD_FILTERS:
        response = await api.get("/webinars", params=params)
        assert response.status_code == 422, (params, response.text)
        assert field in response.json()["fields"], params
    # The ends of the calendar are fine: nothing, or everything.
    for params in ({"to": "9999-12-31"}, {"from": "0001-01-01"}, {"from": "9999-12-31T23:59Z"},
                   {"from": "0001-01-01T00:00+14:00"}, {"from": "0000-01-01"},
                   {"to": "9999-12-31T23:59:59-14:00"}, {"from": "2027-06-30t23:59:60z"}):
        assert (await api.get("/webinars", params=params)).status_code == 200, params


async def test_bad_paging_on_registrations(client: httpx.AsyncClient, world: World) -> None:
    api = Api(client, world.admin_token)
    path = f"/webinars/{world.north_webinar.id}/registrations"
    for params in ({"limit": "0"}, {"offset": "x"}, {"status": "confirmed"}):
        response = await api.get(path, params=params)
        assert response.status_code == 422 and set(response.json()["fields"]) == set(params)


MALFORMED: list[tuple[bytes, int]] = [
    (b"", 400), (b"{", 400), (b"{'title': 1}", 400), (b"[]", 400), (b'"title"', 400),
    (b"null", 400), (b"42", 400), (b"\xff\xfe{}", 400), (b'{"title": "\\ud800"}', 400),
    (b'{"\\udfff": 1}', 400), (b"[" * 10_000 + b"]" * 10_000, 400),
    (b'{"capacity": ' + b"9" * 5000 + b"}", 400), (b'{"a": 1}' + b" " * MAX_BODY_BYTES, 413),
]


async def test_malformed_bodies(client: httpx.AsyncClient, world: World) -> None:
    api = Api(client, world.north_token)
    for content, status in MALFORMED:
        for method, path in (
            ("POST", "/webinars"), ("PATCH", f"/webinars/{world.north_webinar.id}"),
            ("POST", f"/webinars/{world.north_webinar.id}/registrations"),
        ):
            response = await api.request(method, path, content=content,
                                         headers={"Content-Type": "application/json"})
            assert response.status_code == status, (content[:40], method, path, response.text)
            assert response.json()["fields"] == {}


async def test_body_size_and_media_type(client: httpx.AsyncClient, world: World) -> None:
    api = Api(client, world.north_token)
    big = json.dumps(webinar_body(world.north, description="x" * MAX_BODY_BYTES)).encode()

    async def chunks() -> Any:  # no Content-Length: the limit holds while reading
        for start in range(0, len(big), 4096):
            yield big[start:start + 4096]

    streamed = await api.post("/webinars", content=chunks(),
                              headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    lied = await api.post("/webinars", content=b"{}", headers={
        "Content-Type": "application/json", "Content-Length": "99999999"})
    assert lied.status_code == 413
    form = await api.post("/webinars", data={"title": "x"})
    assert form.status_code == 415
    text = await api.post("/webinars", content=b"{}", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    # application/json with a charset, or a +json type, is fine.
    ok = await api.post("/webinars", content=json.dumps(webinar_body(world.north)).encode(),
                        headers={"Content-Type": "application/json; charset=utf-8"})
    assert ok.status_code == 201


def fuzz_value(rng: random.Random, depth: int = 0) -> Any:
    choices: list[Any] = [
        None, True, False, 0, -1, 1, 2**31, 2**63, -(2**63), 10**300, 1e308, -1e-308, 0.5,
        float("nan"), float("inf"), "", " ", "\x00", "\u202e", "🎉" * 50, "я" * 300,
        "x" * 20_000, "2026-12-10T10:00", "Europe/Moscow", "https://zoom.us/j/1",
        "' OR 1=1 --", "<script>alert(1)</script>", "%s%s%n", "\\", "\ufeff",
    ]
    if depth < 2:
        choices += [[fuzz_value(rng, depth + 1) for _ in range(rng.randint(0, 3))],
                    {str(fuzz_value(rng, depth + 1))[:20]: fuzz_value(rng, depth + 1)}]
    return rng.choice(choices)


async def test_fuzzed_bodies_never_cause_a_server_error(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    api = Api(client, world.north_token)
    rng = random.Random(20261201)
    names = [*BAD_WEBINAR_VALUES, "name", "email", "locale"]
    targets = [("POST", "/webinars"), ("PATCH", f"/webinars/{world.north_webinar.id}"),
               ("POST", f"/webinars/{world.north_webinar.id}/registrations")]
    for _ in range(150):
        method, path = rng.choice(targets)
        if path == "/webinars":
            body: dict[str, Any] = webinar_body(world.north)
        elif method == "PATCH":
            body = {}
        else:
            body = registration_body(email=f"fuzz{rng.randint(0, 10**6)}@school.example")
        for name in rng.sample(names, rng.randint(1, 3)):
            body[name] = fuzz_value(rng)
        content = json.dumps(body, allow_nan=True).encode()
        response = await api.request(method, path, content=content,
                                     headers={"Content-Type": "application/json"})
        assert response.status_code in (200, 201, 400, 409, 413, 422), response.text


async def test_integral_numbers_count_as_integers_as_json_schema_says(
    client: httpx.AsyncClient, world: World
) -> None:
    body = webinar_body(world.north, duration_minutes=60.0, organization_id=float(world.north.id),
                        reminder_offsets=[30.0])
    response = await Api(client, world.north_token).post("/webinars", json=body)
    assert response.status_code == 201, response.text
    assert (response.json()["duration_minutes"], response.json()["reminder_offsets"]) == (60, [30])
