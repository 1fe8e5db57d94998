"""/api/v1/webhooks through the app; every answer is checked against the OpenAPI document."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from webinars.config import AppConfig
from webinars.queue import InProcessQueue

from .api_support import Api, World
from .webhook_receiver import Receiver


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    return replace(config, webhook_allow_loopback=True)


async def test_create_ping_list_and_send_again_under_the_same_id(
        client: httpx.AsyncClient, world: World, queue: InProcessQueue,
        receiver: Receiver) -> None:
    api = Api(client, world.north_token)
    created = await api.post("/webhooks", json={"url": receiver.url, "organization_id":
                                                world.north.id, "description": "CRM",
                                                "kinds": ["webinar.changed"]})
    assert created.status_code == 201
    endpoint = created.json()
    receiver.secret = endpoint["secret"]
    assert endpoint["kinds"] == ["webinar.changed"] and endpoint["enabled"]
    fetched = (await api.get(f"/webhooks/{endpoint['id']}")).json()
    assert "secret" not in fetched and endpoint["secret"] not in str(fetched)
    assert [e["id"] for e in (await api.get("/webhooks")).json()["items"]] == [endpoint["id"]]

    ping = await api.post(f"/webhooks/{endpoint['id']}/ping")
    assert ping.status_code == 202
    await queue.drain()
    [payload] = receiver.verified()
    assert payload["type"] == "webhook.ping"

    page = (await api.get(f"/webhooks/{endpoint['id']}/messages")).json()
    [message] = page["items"]
    assert message["status"] == "sent" and message["history"][0]["status_code"] == 200
    again = await api.post(f"/webhooks/{endpoint['id']}/messages/{message['id']}/resend")
    assert again.status_code == 202
    await queue.drain()
    assert [r.msg_id for r in receiver.received] == [message["msg_id"]] * 2
    assert receiver.received[0].body == receiver.received[1].body
    receiver.verified()
    history = (await api.get(f"/webhooks/{endpoint['id']}/messages")).json()["items"][0]
    assert len(history["history"]) == 2


async def test_patch_turns_off_and_on_and_delete_removes(
        client: httpx.AsyncClient, world: World) -> None:
    api = Api(client, world.north_token)
    endpoint = (await api.post("/webhooks", json={
        "url": "https://hooks.example/a", "organization_id": world.north_city.id})).json()
    off = await api.patch(f"/webhooks/{endpoint['id']}", json={"enabled": False,
                                                               "url": "https://hooks.example/b"})
    assert off.status_code == 200
    assert off.json()["enabled"] is False and off.json()["url"] == "https://hooks.example/b"
    on = await api.patch(f"/webhooks/{endpoint['id']}", json={"enabled": True, "kinds": []})
    assert on.json()["enabled"] is True and on.json()["disabled_at"] is None
    assert (await api.request("DELETE", f"/webhooks/{endpoint['id']}")).status_code == 200
    assert (await api.get(f"/webhooks/{endpoint['id']}")).status_code == 404
    assert (await api.request("DELETE", f"/webhooks/{endpoint['id']}")).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "http://hooks.example/x"}, "url"),
    ({"url": "https://10.0.0.1/x"}, "url"),
    ({"url": "https://hooks.example/x", "kinds": ["webinar.exploded"]}, "kinds"),
    ({"url": "https://hooks.example/x", "kinds": "webinar.changed"}, "kinds"),
    ({"url": "https://hooks.example/x", "description": "x" * 201}, "description"),
    ({"url": 5}, "url"),
    ({}, "url"),
    ({"url": "https://hooks.example/x", "secret": "whsec_mine"}, "secret"),
    ({"url": "https://hooks.example/x", "organization_id": 999999}, "organization_id"),
])
async def test_bad_bodies_are_422_naming_the_field(
        client: httpx.AsyncClient, world: World, body: dict[str, object], field: str) -> None:
    api = Api(client, world.north_token)
    response = await api.post("/webhooks", json={"organization_id": world.north.id, **body})
    assert response.status_code == 422, response.text
    assert field in response.json()["fields"]


async def test_another_organizations_endpoints_are_neither_seen_nor_changed(
        client: httpx.AsyncClient, world: World) -> None:
    north = Api(client, world.north_token)
    south = Api(client, world.south_token)
    endpoint = (await north.post("/webhooks", json={
        "url": "https://hooks.example/n", "organization_id": world.north.id})).json()
    assert (await south.get("/webhooks")).json()["items"] == []
    ep = endpoint["id"]
    assert (await south.get(f"/webhooks/{ep}")).status_code == 403
    assert (await south.patch(f"/webhooks/{ep}", json={"enabled": False})).status_code == 403
    assert (await south.request("DELETE", f"/webhooks/{ep}")).status_code == 403
    assert (await south.post(f"/webhooks/{ep}/ping")).status_code == 403
    assert (await south.get(f"/webhooks/{ep}/messages")).status_code == 403
    refused = await south.post("/webhooks", json={"url": "https://hooks.example/s",
                                                  "organization_id": world.north.id})
    assert refused.status_code == 403
    # The federation's admin manages the whole tree.
    admin = Api(client, world.admin_token)
    assert [e["id"] for e in (await admin.get("/webhooks")).json()["items"]] == [ep]
    assert (await north.get("/webhooks/999999")).status_code == 404
    assert (await Api(client, None).get("/webhooks")).status_code == 401
