"""The organization's webhooks page: render, add (secret once), test, send again, on/off,
delete, and nothing for an organizer of another organization."""

from __future__ import annotations

import re
from dataclasses import replace

import httpx
import pytest

from webinars.config import AppConfig
from webinars.queue import InProcessQueue

from .api_support import World
from .factories import csrf_from, login
from .webhook_receiver import Receiver


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    return replace(config, webhook_allow_loopback=True)


async def test_add_ping_and_send_again_from_the_page(
        client: httpx.AsyncClient, world: World, queue: InProcessQueue,
        receiver: Receiver) -> None:
    await login(client, "north@union.example")
    dashboard = await client.get("/dashboard")
    assert f"/organizations/{world.north.id}/webhooks" in dashboard.text
    path = f"/organizations/{world.north.id}/webhooks"
    page = await client.get(path)
    assert page.status_code == 200 and "Вебхуки" in page.text
    csrf = csrf_from(page.text)

    bad = await client.post(path, data={"csrf_token": csrf, "url": "http://hooks.example/x"})
    assert bad.status_code == 422 and "https://" in bad.text and 'aria-invalid="true"' in bad.text

    added = await client.post(path, data={"csrf_token": csrf, "url": receiver.url,
                                          "description": "CRM", "kinds": "webinar.changed"})
    assert added.status_code == 200
    secret = re.search(r'id="new-secret" class="token-value">(whsec_[^<]+)<', added.text)
    assert secret is not None
    receiver.secret = secret.group(1)
    endpoint_id = re.search(r'data-endpoint="(\d+)"', added.text)
    assert endpoint_id is not None
    ep = endpoint_id.group(1)
    again_page = await client.get(path)
    assert receiver.secret not in again_page.text  # shown once

    pinged = await client.post(f"/webhooks/{ep}/ping", data={"csrf_token": csrf})
    assert pinged.status_code == 303
    await queue.drain()
    assert receiver.verified()[0]["type"] == "webhook.ping"
    shown = (await client.get(path)).text
    assert "webhook.ping" in shown and "отправлено" in shown and "200" in shown
    message_id = re.search(r'data-message="(\d+)"', shown)
    assert message_id is not None
    resent = await client.post(f"/webhooks/{ep}/messages/{message_id.group(1)}/resend",
                               data={"csrf_token": csrf})
    assert resent.status_code == 303
    await queue.drain()
    assert [r.msg_id for r in receiver.received] == [receiver.received[0].msg_id] * 2

    off = await client.post(f"/webhooks/{ep}/toggle", data={"csrf_token": csrf})
    assert off.status_code == 303 and "выключен" in (await client.get(path)).text
    gone = await client.post(f"/webhooks/{ep}/delete", data={"csrf_token": csrf})
    assert gone.status_code == 303 and "Адресов пока нет." in (await client.get(path)).text


async def test_another_organizations_organizer_gets_403(
        client: httpx.AsyncClient, world: World) -> None:
    await login(client, "south@union.example")
    page = await client.get(f"/organizations/{world.north.id}/webhooks")
    assert page.status_code == 403
    csrf = csrf_from((await client.get(f"/organizations/{world.south.id}/webhooks")).text)
    added = await client.post(f"/organizations/{world.north.id}/webhooks",
                              data={"csrf_token": csrf, "url": "https://hooks.example/x"})
    assert added.status_code == 403
