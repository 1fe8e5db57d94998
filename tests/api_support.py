"""What the API tests share: a small organization tree with tokens, and a client that checks
every answer against the OpenAPI document (status documented, body matching its schema)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from webinars.api.openapi import DOCUMENT
from webinars.clock import Clock
from webinars.models import Account, Organization, Webinar
from webinars.queue import commit_and_enqueue
from webinars.runtime import Runtime

from .factories import make_account, make_org, make_token, make_webinar

PREFIX = "/api/v1"
FORMATS = Draft202012Validator.FORMAT_CHECKER


def schema_errors(instance: Any, schema: dict[str, Any]) -> list[str]:
    """Validate against a schema from the document; its $refs resolve inside the document."""
    root = {**schema, "components": DOCUMENT["components"]}
    validator = Draft202012Validator(root, format_checker=FORMATS)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(instance)]


def _template_re(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[a-z_]+\}", "[^/]+", template) + "$")


#: A literal segment wins over a parameter (`…/registrations/confirm` is not registration
#: "confirm"), as the app's id convertor decides.
TEMPLATES = sorted(((path, _template_re(path)) for path in DOCUMENT["paths"]),
                   key=lambda item: item[0].count("{"))


def operation_for(method: str, path: str) -> dict[str, Any] | None:
    for template, pattern in TEMPLATES:
        if pattern.match(path):
            op: dict[str, Any] | None = DOCUMENT["paths"][template].get(method.lower())
            return op
    return None


def resolve(item: dict[str, Any]) -> dict[str, Any]:
    ref = item.get("$ref")
    if ref is None:
        return item
    node: Any = DOCUMENT
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    result: dict[str, Any] = node
    return result


def check_against_document(response: httpx.Response) -> None:
    """Fail unless the answer is what the document promises for this operation."""
    path = response.request.url.path.removeprefix(PREFIX)
    op = operation_for(response.request.method, path)
    body = response.json()
    if op is None:  # no such route: still the documented error shape
        assert response.status_code in (404, 405), response.text
        assert not schema_errors(body, {"$ref": "#/components/schemas/Error"})
        return
    status = str(response.status_code)
    assert status in op["responses"], (
        f"{response.request.method} {path} answered {status}, which is not documented: "
        f"{response.text[:500]}")
    documented = resolve(op["responses"][status])
    schema = documented["content"]["application/json"]["schema"]
    problems = schema_errors(body, schema)
    assert not problems, f"{response.request.method} {path} {status}: {problems}"
    for header in documented.get("headers", {}):
        assert header in response.headers, f"{header} missing from {status}"


class Api:
    """The API through the ASGI app, as one token's holder; every answer is checked."""

    def __init__(self, client: httpx.AsyncClient, token: str | None) -> None:
        self.client = client
        self.token = token

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        if "json" in kwargs:  # Python's encoder, so NaN and Infinity can be sent as well
            kwargs["content"] = json.dumps(kwargs.pop("json"), allow_nan=True).encode()
            headers.setdefault("Content-Type", "application/json")
        response = await self.client.request(method, PREFIX + path, headers=headers, **kwargs)
        assert response.status_code < 500, response.text
        assert response.headers["content-type"].startswith("application/json"), response.text
        check_against_document(response)
        return response

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", path, **kwargs)


@dataclass
class World:
    """union (federal) → north (regional) → north-city (municipal); union → south (regional).

    admin: admin of union; north/south: organizers of their region. One webinar in each
    organization, planned by the organizer who manages it.
    """

    union: Organization
    north: Organization
    north_city: Organization
    south: Organization
    admin: Account
    north_account: Account
    south_account: Account
    admin_token: str
    north_token: str
    south_token: str
    federal_webinar: Webinar
    north_webinar: Webinar
    city_webinar: Webinar
    south_webinar: Webinar


async def make_world(runtime: Runtime, clock: Clock) -> World:
    async with runtime.sessionmaker() as session:
        union = await make_org(session, clock, "union", level="federal")
        north = await make_org(session, clock, "north", parent=union, level="regional",
                               timezone="Asia/Yekaterinburg")
        city = await make_org(session, clock, "north-city", parent=north, level="municipal",
                              timezone="Asia/Yekaterinburg")
        south = await make_org(session, clock, "south", parent=union, level="regional",
                               timezone="Europe/Samara")
        admin = await make_account(session, clock, union, "admin@union.example", role="admin")
        north_account = await make_account(session, clock, north, "north@union.example")
        south_account = await make_account(session, clock, south, "south@union.example")
        now = clock.now()
        federal = await make_webinar(session, clock, admin, union, title="Federal plan",
                                     start_at=now + timedelta(days=20))
        north_w = await make_webinar(session, clock, north_account, north, title="North media",
                                     start_at=now + timedelta(days=5), kind="training")
        city_w = await make_webinar(session, clock, north_account, city, title="City contest",
                                    start_at=now + timedelta(days=10), kind="contest")
        south_w = await make_webinar(session, clock, south_account, south, title="South school",
                                     start_at=now + timedelta(days=7))
        world = World(
            union=union, north=north, north_city=city, south=south, admin=admin,
            north_account=north_account, south_account=south_account,
            admin_token=await make_token(session, clock, admin),
            north_token=await make_token(session, clock, north_account),
            south_token=await make_token(session, clock, south_account),
            federal_webinar=federal, north_webinar=north_w, city_webinar=city_w,
            south_webinar=south_w,
        )
        assert runtime.queue is not None
        await commit_and_enqueue(session, runtime.queue, clock)
    return world


def webinar_body(org: Organization, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Медиашкола профсоюза",
        "description": "Как писать новости первичной организации",
        "kind": "webinar",
        "start": "2026-12-10T15:00",
        "duration_minutes": 60,
        "organization_id": org.id,
    }
    body.update(overrides)
    return body


def registration_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "Анна Петрова", "email": "anna@school.example"}
    body.update(overrides)
    return body
