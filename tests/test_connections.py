"""Platform connections: entered on the organizer page, sealed under CREDENTIALS_KEY and never
shown back, inherited down the tree, tested against the platform (its exact complaint shown),
found broken on use and by the daily check (organizers told, no other platform substituted),
rotated to a new key; start-as-host fetches a fresh link every time."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from tests.fakes import serve
from tests.fakes.zoom import FakeZoom
from webinars.cli import main as cli
from webinars.clock import FixedClock
from webinars.config import AppConfig
from webinars.connections import (
    CredentialsUnavailable,
    connection_for,
    open_credentials,
    save_connection,
)
from webinars.logs import redact_path
from webinars.models import OutboxMessage, PlatformConnection
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.runtime import Runtime
from webinars.scheduling import get_webinar
from webinars.sealing import Unsealable, unseal
from workers.alerts import check_connections

from .api_support import World
from .factories import csrf_from, login, make_registration, make_webinar

SECRET = "zoom-client-secret-9f8e7d6c5b4a"


@pytest.fixture
async def zoom(runtime: Runtime, queue: InProcessQueue) -> AsyncIterator[FakeZoom]:
    fake: FakeZoom = await serve("zoom")
    runtime.config = replace(runtime.config, platform_endpoints={"zoom": fake.endpoints()})
    queue.ctx["config"] = runtime.config
    try:
        yield fake
    finally:
        await fake.close()


def zoom_form(fake: FakeZoom, csrf: str, **changes: str) -> dict[str, str]:
    return {**fake.credentials(), "client_secret": SECRET, "csrf_token": csrf, **changes}


async def outbox(runtime: Runtime) -> list[Any]:
    async with runtime.sessionmaker() as s:
        rows = (await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    return [message_from_bytes(r.raw, policy=default) for r in rows]


async def test_credentials_are_sealed_never_shown_and_kept_when_left_empty(
    client: httpx.AsyncClient, world: World, runtime: Runtime, zoom: FakeZoom,
) -> None:
    zoom.client_secret = SECRET  # the fake accepts the secret the organizer types
    await login(client, "north@union.example")
    path = f"/organizations/{world.north.id}/platforms"
    page = await client.get(path)
    assert page.status_code == 200 and "Платформы видеосвязи" in page.text
    csrf = csrf_from(page.text)
    missing = await client.post(f"{path}/zoom", data={"csrf_token": csrf, "account_id": "x"})
    assert missing.status_code == 422 and 'aria-invalid="true"' in missing.text
    saved = await client.post(f"{path}/zoom", data=zoom_form(zoom, csrf))
    assert saved.status_code == 303
    shown = (await client.get(path)).text
    assert SECRET not in shown and "••••" + SECRET[-4:] in shown
    assert re.search(r'<code class="callback">http://testserver/hooks/zoom/[\w-]+</code>', shown)

    async with runtime.sessionmaker() as s:
        raw = (await s.execute(text("SELECT credentials_sealed, hints FROM "
                                    "platform_connections"))).one()
        assert SECRET not in str(raw.credentials_sealed) and SECRET not in str(raw.hints)
        with pytest.raises(Unsealable):  # SECRET_KEY does not open it: a key of its own
            unseal(runtime.config.secret_key, "platform-credentials", raw.credentials_sealed)
    listed = await client.get(f"/api/v1/organizations/{world.north.id}/platforms",
                              headers={"Authorization": f"Bearer {world.north_token}"})
    zoom_row = next(i for i in listed.json()["items"] if i["platform"] == "zoom")
    assert SECRET not in listed.text and zoom_row["connection"]["status"] == "untested"

    # Editing other fields leaves the secret as it was.
    edited = await client.post(f"{path}/zoom", data=zoom_form(zoom, csrf, client_secret="",
                                                             meeting_type="meeting"))
    assert edited.status_code == 303
    async with runtime.sessionmaker() as s:
        row = await s.scalar(select(PlatformConnection))
        assert row is not None
        assert open_credentials(runtime.config, row.credentials_sealed)["client_secret"] == SECRET


async def test_test_connection_reports_the_platforms_exact_complaint(
    client: httpx.AsyncClient, world: World, zoom: FakeZoom,
) -> None:
    await login(client, "north@union.example")
    path = f"/organizations/{world.north.id}/platforms"
    csrf = csrf_from((await client.get(path)).text)
    await client.post(f"{path}/zoom", data=zoom_form(zoom, csrf, client_secret="wrong-one"))
    tested = await client.post(f"{path}/zoom/test", data={"csrf_token": csrf})
    assert tested.status_code == 303
    page = (await client.get(path)).text
    assert "не работает" in page and "client secret" in page
    await client.post(f"{path}/zoom", data=zoom_form(zoom, csrf,
                                                     client_secret=zoom.credentials()[
                                                         "client_secret"]))
    await client.post(f"{path}/zoom/test", data={"csrf_token": csrf})
    page = (await client.get(path)).text
    assert "подключено" in page and "client secret" not in page


async def test_a_connection_serves_the_subtree_unless_one_below_has_its_own(
    runtime: Runtime, world: World, clock: FixedClock, zoom: FakeZoom,
) -> None:
    async with runtime.sessionmaker() as s:
        upper = await save_connection(s, runtime.config, clock, world.admin, world.union.id,
                                      "zoom", zoom.credentials())
        await s.commit()
        assert (await connection_for(s, world.north_city.id, "zoom")).id == upper.id
        own = await save_connection(s, runtime.config, clock, world.north_account,
                                    world.north.id, "zoom", zoom.credentials())
        await s.commit()
        assert (await connection_for(s, world.north_city.id, "zoom")).id == own.id
        assert (await connection_for(s, world.south.id, "zoom")).id == upper.id
        assert await connection_for(s, world.south.id, "webex") is None


async def test_a_platform_without_a_connection_is_refused_at_the_edge(
    client: httpx.AsyncClient, world: World,
) -> None:
    answer = await client.post("/api/v1/webinars", headers={
        "Authorization": f"Bearer {world.north_token}"}, json={
        "title": "Zoom", "start": "2026-12-20T10:00:00Z", "timezone": "Europe/Moscow",
        "duration_minutes": 60, "organization_id": world.north.id, "platform": "zoom"})
    assert answer.status_code == 422
    assert "Zoom" in answer.json()["fields"]["platform"]


async def test_revoked_credentials_fail_the_meeting_tell_the_organizers_and_substitute_nothing(
    runtime: Runtime, world: World, clock: FixedClock, queue: InProcessQueue, zoom: FakeZoom,
    client: httpx.AsyncClient,
) -> None:
    async with runtime.sessionmaker() as s:
        await save_connection(s, runtime.config, clock, world.north_account, world.north.id,
                              "zoom", zoom.credentials())
        await s.commit()
    zoom.client_secret = "rotated-on-zoom-side"  # the app's secret was regenerated there
    async with runtime.sessionmaker() as s:
        webinar = await make_webinar(s, clock, world.north_account, world.north,
                                     platform="zoom", title="Zoom training")
        await commit_and_enqueue(s, queue, clock)
    await queue.drain()
    async with runtime.sessionmaker() as s:
        fresh = await get_webinar(s, webinar.id)
        connection = await s.scalar(select(PlatformConnection))
    assert fresh.platform == "zoom" and fresh.meeting is not None
    assert (fresh.meeting.status, fresh.meeting.join_url) == ("failed", None)
    assert "client secret" in (fresh.meeting.error or "")
    assert connection is not None and connection.status == "broken"
    mails = [m for m in await outbox(runtime) if "Zoom training" in str(m["Subject"])]
    assert [m["To"] for m in mails] == ["north@union.example"]
    body = mails[0].get_content()
    assert "client secret" in body and f"/organizations/{world.north.id}/platforms" in body
    await login(client, "north@union.example")
    page = (await client.get(f"/webinars/{webinar.id}")).text
    assert "client secret" in page and 'data-platform="zoom"' in page


async def test_the_daily_check_asks_for_a_reconnect_once_before_the_next_webinar(
    runtime: Runtime, world: World, clock: FixedClock, queue: InProcessQueue, zoom: FakeZoom,
) -> None:
    async with runtime.sessionmaker() as s:
        await save_connection(s, runtime.config, clock, world.north_account, world.north.id,
                              "zoom", zoom.credentials())
        await make_webinar(s, clock, world.north_account, world.north_city, platform="zoom",
                           title="City on Zoom", start_at=clock.now() + timedelta(days=9))
        await commit_and_enqueue(s, queue, clock)
    await queue.drain()
    assert await check_connections(queue.ctx) == 0  # working: nobody is bothered
    zoom.client_secret = "revoked"
    zoom.expire_tokens()
    runtime.tokens._tokens.clear()
    assert await check_connections(queue.ctx) == 1
    assert await check_connections(queue.ctx) == 0  # once per breakage
    notice = [m for m in await outbox(runtime) if "Zoom" in str(m["Subject"])][-1]
    body = notice.get_content()
    assert "City on Zoom" in body and f"/organizations/{world.north.id}/platforms#zoom" in body


async def test_start_as_host_fetches_a_fresh_link_that_is_never_stored(
    runtime: Runtime, world: World, clock: FixedClock, queue: InProcessQueue, zoom: FakeZoom,
    client: httpx.AsyncClient,
) -> None:
    async with runtime.sessionmaker() as s:
        await save_connection(s, runtime.config, clock, world.north_account, world.north.id,
                              "zoom", zoom.credentials())
        webinar = await make_webinar(s, clock, world.north_account, world.north,
                                     platform="zoom")
        await make_registration(s, clock, webinar)
        await commit_and_enqueue(s, queue, clock)
    await queue.drain()
    await login(client, "north@union.example")
    first = await client.get(f"/webinars/{webinar.id}/start")
    second = await client.get(f"/webinars/{webinar.id}/start")
    assert first.status_code == second.status_code == 303
    assert "zak=" in first.headers["location"]
    assert first.headers["location"] != second.headers["location"]  # fetched at each click
    async with runtime.sessionmaker() as s:
        dump = " ".join(str(v) for row in (await s.execute(text(
            "SELECT join_url, host_url, extra FROM meetings"))).all() for v in row)
    assert "zak=" not in dump
    other = await client.get(f"/webinars/{world.south_webinar.id}/start")
    assert other.status_code in (403, 404)


def test_hook_secrets_are_redacted_from_access_logs() -> None:
    assert redact_path("/hooks/zoom/abcDEF123_-xyz") == "/hooks/zoom/…"
    assert redact_path("/hooks/bigbluebutton/k3y?checksum=1") == "/hooks/bigbluebutton/…?checksum=1"


async def test_rotating_credentials_key(runtime: Runtime, world: World, clock: FixedClock,
                                        zoom: FakeZoom, config: AppConfig,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    async with runtime.sessionmaker() as s:
        await save_connection(s, runtime.config, clock, world.north_account, world.north.id,
                              "zoom", zoom.credentials())
        await s.commit()
    old = runtime.config.credentials_keys[0]
    new = "a-new-credentials-key-for-2027-Qw8rT5yU"
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    monkeypatch.setenv("SECRET_KEY", config.secret_key)
    monkeypatch.setenv("CREDENTIALS_KEY", f"{new},{old}")
    import importlib
    import sys
    sys.modules.pop("settings", None)
    try:
        assert await asyncio.to_thread(cli, ["db", "rotate-credentials"]) == 0
    finally:
        sys.modules.pop("settings", None)
        importlib.import_module("settings")
    only_new = replace(runtime.config, credentials_keys=(new,))
    only_old = replace(runtime.config, credentials_keys=(old,))
    async with runtime.sessionmaker() as s:
        row = await s.scalar(select(PlatformConnection))
        assert row is not None
        assert open_credentials(only_new, row.credentials_sealed)["client_id"]
        with pytest.raises(CredentialsUnavailable):
            open_credentials(only_old, row.credentials_sealed)
