"""The route tables: ids in paths that no row can have are 404, and a method a path does not
serve is 405 naming every method it does serve. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

from webinars import feeds, webhooks
from webinars.app import create_app
from webinars.runtime import Runtime
from webinars.web.routing import MAX_ID, IdConvertor, route

from .api_support import World
from .factories import csrf_from, login, make_registration

BAD_IDS = ("0", str(2**31), str(10**20), "-1", "abc", "9" * 5000, "1.5", "%F0%9F%98%80")
PROBE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

#: Every route with an id in its path, as (method, path); the table test below keeps this list
#: complete, so a new route with an id is tested here too.
ID_ROUTES = [
    ("GET", "/webinars/{id}"),
    ("GET", "/webinars/{id}/edit"),
    ("POST", "/webinars/{id}/edit"),
    ("GET", "/webinars/{id}/cancel"),
    ("POST", "/webinars/{id}/cancel"),
    ("GET", "/webinars/{id}/registrants"),
    ("POST", "/webinars/{id}/registrants/confirm"),
    ("POST", "/webinars/{id}/registrants/decline"),
    ("POST", "/webinars/{id}/registrants/{registration_id}/confirm"),
    ("POST", "/webinars/{id}/registrants/{registration_id}/decline"),
    ("GET", "/webinars/{id}/adopt"),
    ("POST", "/webinars/{id}/adopt"),
    ("GET", "/webinars/{id}/coverage"),
    ("POST", "/webinars/{id}/coverage/remind"),
    ("POST", "/api/v1/webinars/{webinar_id}/adoptions"),
    ("DELETE", "/api/v1/webinars/{webinar_id}/adoptions/{organization_id}"),
    ("GET", "/api/v1/webinars/{webinar_id}/coverage"),
    ("GET", "/webinars/{id}/series"),
    ("POST", "/webinars/{id}/series"),
    ("POST", "/webinars/{id}/sessions/{number}/move"),
    ("POST", "/webinars/{id}/sessions/{number}/cancel"),
    ("GET", "/api/v1/webinars/{webinar_id}/series"),
    ("PUT", "/api/v1/webinars/{webinar_id}/series"),
    ("PATCH", "/api/v1/webinars/{webinar_id}/sessions/{number}"),
    ("POST", "/api/v1/webinars/{webinar_id}/sessions/{number}/cancel"),
    ("POST", "/tokens/{id}/revoke"),
    ("GET", "/outbox/{id}"),
    ("GET", "/outbox/{id}.eml"),
    ("GET", "/webinars/{id}/deliveries"),
    ("POST", "/webinars/{id}/deliveries/{registration_id}/resend"),
    ("GET", "/api/v1/webinars/{webinar_id}"),
    ("PATCH", "/api/v1/webinars/{webinar_id}"),
    ("POST", "/api/v1/webinars/{webinar_id}/cancel"),
    ("GET", "/api/v1/webinars/{webinar_id}/registrations"),
    ("POST", "/api/v1/webinars/{webinar_id}/registrations"),
    ("GET", "/api/v1/webinars/{webinar_id}/registrations/{registration_id}"),
    ("POST", "/api/v1/webinars/{webinar_id}/registrations/{registration_id}/cancel"),
    ("POST", "/api/v1/webinars/{webinar_id}/registrations/{registration_id}/confirm"),
    ("POST", "/api/v1/webinars/{webinar_id}/registrations/{registration_id}/decline"),
    ("POST", "/api/v1/webinars/{webinar_id}/registrations/confirm"),
    ("POST", "/api/v1/webinars/{webinar_id}/registrations/decline"),
    ("POST", "/r/{token}/feeds/{feed_id}/end"),
    ("GET", "/organizations/{id}/webhooks"),
    ("GET", "/webinars/{id}/activity"),
    ("GET", "/organizations/{id}/activity"),
    ("GET", "/api/v1/webinars/{webinar_id}/activity"),
    ("GET", "/organizations/{id}/reports"),
    ("GET", "/organizations/{id}/reports/{table}.csv"),
    ("GET", "/api/v1/organizations/{organization_id}/reports"),
    ("GET", "/organizations/{id}/reports/series/{webinar_id}"),
    ("GET", "/organizations/{id}/reports/series/{webinar_id}/{table}.csv"),
    ("GET", "/api/v1/organizations/{organization_id}/reports/series/{webinar_id}"),
    ("POST", "/organizations/{id}/webhooks"),
    ("GET", "/organizations/{id}/platforms"),
    ("GET", "/api/v1/organizations/{organization_id}/platforms"),
    ("PUT", "/api/v1/organizations/{organization_id}/platforms/{platform}"),
    ("DELETE", "/api/v1/organizations/{organization_id}/platforms/{platform}"),
    ("POST", "/organizations/{id}/platforms/{platform}"),
    ("POST", "/organizations/{id}/platforms/{platform}/test"),
    ("POST", "/organizations/{id}/platforms/{platform}/delete"),
    ("GET", "/webinars/{id}/start"),
    ("POST", "/webhooks/{id}/toggle"),
    ("POST", "/webhooks/{id}/delete"),
    ("POST", "/webhooks/{id}/ping"),
    ("POST", "/webhooks/{id}/messages/{message_id}/resend"),
    ("GET", "/api/v1/webhooks/{endpoint_id}"),
    ("PATCH", "/api/v1/webhooks/{endpoint_id}"),
    ("DELETE", "/api/v1/webhooks/{endpoint_id}"),
    ("GET", "/api/v1/webhooks/{endpoint_id}/messages"),
    ("POST", "/api/v1/webhooks/{endpoint_id}/ping"),
    ("POST", "/api/v1/webhooks/{endpoint_id}/messages/{message_id}/resend"),
    ("GET", "/organizations/{id}/edit"),
    ("POST", "/organizations/{id}/edit"),
    ("POST", "/organizations/{id}/logo"),
    ("POST", "/organizations/{id}/logo/remove"),
    ("POST", "/people/{id}/resend"),
    ("POST", "/roles/{id}/role"),
    ("POST", "/roles/{id}/remove"),
]


def flat_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Route]]:
    """Every Route with its full path template (mounts expanded)."""
    for item in routes:
        if isinstance(item, Mount):
            yield from flat_routes(item.routes, prefix + item.path)
        else:
            assert isinstance(item, Route), item
            yield prefix + item.path_format, item


def served_methods(runtime: Runtime) -> dict[str, set[str]]:
    """Each path template of the app with the methods its route table entries serve."""
    table: dict[str, set[str]] = {}
    for path, item in flat_routes(create_app(runtime).routes):
        table.setdefault(path, set()).update(item.methods or ())
    return table


def id_params(runtime: Runtime) -> dict[str, list[tuple[str, Any]]]:
    found: dict[str, list[tuple[str, Any]]] = {}
    for path, item in flat_routes(create_app(runtime).routes):
        params = [(n, c) for n, c in item.param_convertors.items()
                  if n == "id" or (n.endswith("_id") and n != "public_id")]
        if params:
            found.setdefault(path, []).extend(params)
    return found


def test_every_id_in_a_path_goes_through_the_id_convertor(runtime: Runtime) -> None:
    table = served_methods(runtime)
    ids = id_params(runtime)
    assert {(m, p) for p in ids for m in table[p] if m != "HEAD"} == set(ID_ROUTES)
    for path, params in ids.items():
        for name, convertor in params:
            assert isinstance(convertor, IdConvertor), (path, name)


def test_the_convertor_accepts_exactly_the_ids_a_row_can_have() -> None:
    convertor = IdConvertor()
    assert [convertor.convert(v) for v in ("1", "007", str(MAX_ID))] == [1, 7, MAX_ID]
    assert convertor.to_string(42) == "42"
    with pytest.raises(ValueError):
        convertor.to_string(0)


async def fill(runtime: Runtime, world: World) -> dict[str, str]:
    """Ids that exist, for the parameter that is not under test."""
    async with runtime.sessionmaker() as session:
        webinar = world.north_webinar
        registration = await make_registration(session, runtime.clock, webinar)
        feed, _ = await feeds.create_feed(session, runtime.clock, registration)
        created = await webhooks.create(session, world.north_account, world.north.id,
                                        {"url": "https://hooks.example/x"},
                                        secret_key=runtime.config.secret_key,
                                        now=runtime.clock.now())
        message = await webhooks.ping(session, created.endpoint, runtime.clock.now())
        await session.commit()  # the ping's job is never queued: nothing is sent
    return {"id": str(webinar.id), "webinar_id": str(webinar.id),
            "registration_id": str(registration.id), "token": registration.token,
            "feed_id": str(feed.id), "endpoint_id": str(created.endpoint.id),
            "message_id": str(message.id), "number": "1"}


async def test_ids_no_row_can_have_are_not_found_on_every_route(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    good = await fill(runtime, world)
    await login(client, "north@union.example")
    csrf = csrf_from((await client.get("/dashboard")).text)
    bearer = {"Authorization": f"Bearer {world.north_token}"}
    for method, template in ID_ROUTES:
        api = template.startswith("/api/")
        names = [n for n in good if "{" + n + "}" in template]
        for name in (n for n in names if n != "token"):  # the ids, not the key
            for bad in (*BAD_IDS, str(MAX_ID)):
                path = template
                for other in names:
                    path = path.replace("{" + other + "}", bad if other == name else good[other])
                kwargs: dict[str, Any] = (
                    {"json": {}, "headers": bearer} if api
                    else {"data": {"csrf_token": csrf}} if method == "POST" else {})
                response = await client.request(method, path, **kwargs)
                assert response.status_code == 404, (method, path[:80], response.text[:300])
                if api:
                    assert response.json()["error"] and response.json()["fields"] == {}


async def test_the_largest_id_is_still_looked_up(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    """2**31-1 is a valid id that no row has here: the handler's own 404, with its message."""
    bearer = {"Authorization": f"Bearer {world.north_token}"}
    response = await client.get(f"/api/v1/webinars/{MAX_ID}", headers=bearer)
    assert response.status_code == 404
    assert response.json()["error"] == "no such webinar"
    response = await client.get(f"/api/v1/webinars/{world.north_webinar.id:05d}", headers=bearer)
    assert response.status_code == 200 and response.json()["id"] == world.north_webinar.id


def concrete(path: str) -> str:
    """A path the template matches: ids that could exist, keys that are well formed."""
    for name in ("id", "webinar_id", "registration_id", "feed_id", "endpoint_id", "message_id",
                 "organization_id", "number"):
        path = path.replace("{" + name + "}", "1")
    for name in ("slug", "public_id", "token", "feed_token", "proof", "platform", "key",
                 "table"):
        path = path.replace("{" + name + "}", "abc")
    path = path.replace("{year}", "2027")  # the plan's year
    assert "{" not in path, path
    return path


async def test_a_method_a_path_does_not_serve_is_405_naming_every_method_it_does(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    table = served_methods(runtime)
    assert len(table) >= 30
    for template, methods in table.items():
        for method in PROBE_METHODS:
            if method in methods:
                continue
            response = await client.request(method, concrete(template))
            assert response.status_code == 405, (method, template, response.status_code)
            allow = {m.strip() for m in response.headers["allow"].split(",")}
            assert allow == methods, (method, template)


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("DELETE", "/login", {"GET", "HEAD", "POST"}),
    ("PUT", "/webinars/7/cancel", {"GET", "HEAD", "POST"}),
    ("PUT", "/api/v1/webinars", {"GET", "HEAD", "POST"}),
    ("DELETE", "/api/v1/webinars/7", {"GET", "HEAD", "PATCH"}),
    ("GET", "/api/v1/webinars/7/registrations/3/cancel", {"POST"}),
])
async def test_allow_lists_every_method_of_the_path(
    client: httpx.AsyncClient, method: str, path: str, allow: set[str]
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == allow
    if path.startswith("/api/"):
        assert response.json()["error"]


async def test_one_route_serves_each_method_with_its_own_handler() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response

    async def show(request: Request) -> Response:
        return PlainTextResponse("show " + str(request.path_params["id"] + 1))

    async def save(request: Request) -> Response:
        return PlainTextResponse("save", status_code=201)

    app = Starlette(routes=[route("/things/{id:id}", GET=show, POST=save)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as c:
        assert (await c.get("/things/41")).text == "show 42"
        head = await c.head("/things/41")
        assert head.status_code == 200 and head.text == ""
        assert (await c.post("/things/41")).status_code == 201
        assert (await c.delete("/things/41")).headers["allow"].count(",") == 2
        assert (await c.get(f"/things/{MAX_ID + 1}")).status_code == 404
    with pytest.raises(ValueError):
        route("/empty")
