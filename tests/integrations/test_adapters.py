"""The contract every registered adapter keeps, against its platform's fake server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from integrations.base import MeetingNotFound, MeetingSpec, Person, PlatformRejected
from integrations.jitsi import ROOM_RE
from integrations.registry import PLATFORMS, WEBINAR_PLATFORMS, check_pasted_url
from tests.fakes import FakeServer, adapter_for, serve

SPEC = MeetingSpec(title="Вебинар", start=datetime(2027, 3, 1, 12, tzinfo=UTC),
                   duration=timedelta(minutes=60), idempotency_key="webinar-1@union.example",
                   static_url="https://telemost.yandex.ru/j/12345678901234",
                   timezone="Europe/Moscow")
MEMBER = Person("r17", "Анна Петрова", "anna@union.example")
HOST = Person("h3", "Иван Организатор", "ivan@union.example")


class NoServer(FakeServer):
    """Platforms that need no credentials are not called at all."""

    def credentials(self) -> dict[str, str]:
        return {}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def started(name: str) -> Any:
    if not PLATFORMS[name].fields:
        return NoServer()
    return await serve(name)


@pytest.mark.parametrize("name", [n for n in WEBINAR_PLATFORMS if PLATFORMS[n].factory])
async def test_contract_create_get_update_delete_twice(http: aiohttp.ClientSession,
                                                       name: str) -> None:
    fake = await started(name)
    try:
        adapter = adapter_for(name, fake, http)
        assert adapter.name == name and adapter.link_kind == PLATFORMS[name].link_kind
        link = await adapter.create(SPEC)
        assert link.join_url.startswith(("https://", "http://127.0.0.1"))
        assert (await adapter.get(link)).external_id == link.external_id
        moved = await adapter.update(link, MeetingSpec(**{**SPEC.__dict__,
                                                          "start": SPEC.start + timedelta(days=1),
                                                          "title": "Вебинар (перенесён)"}))
        if PLATFORMS[name].moves:
            assert moved.external_id == link.external_id  # the same meeting, moved
        joined = await adapter.join_link(moved, MEMBER)
        assert joined.url.startswith(("https://", "http://127.0.0.1"))
        if PLATFORMS[name].host_link:
            assert (await adapter.host_link(moved, HOST)).url
        await adapter.delete(moved)
        await adapter.delete(moved)  # deleting what is gone is done, not an error
        if name not in ("jitsi", "static", "jitsi_jwt", "jaas"):
            with pytest.raises(MeetingNotFound):
                await adapter.get(moved)
    finally:
        await fake.close()


async def test_jitsi_rooms_are_unguessable_and_stable(http: aiohttp.ClientSession) -> None:
    fake = NoServer()
    jitsi = adapter_for("jitsi", fake, http)
    a = await jitsi.create(SPEC)
    b = await jitsi.create(MeetingSpec(**{**SPEC.__dict__, "idempotency_key": "webinar-2@x"}))
    assert await jitsi.create(SPEC) == a  # the same event makes the same room
    assert ROOM_RE.match(a.external_id) and a.external_id != b.external_id
    assert "webinar-1" not in a.join_url  # nothing derivable from the event id


async def test_static_adapter_refuses_a_missing_link(http: aiohttp.ClientSession) -> None:
    with pytest.raises(PlatformRejected):
        await adapter_for("static", NoServer(), http).create(
            MeetingSpec(**{**SPEC.__dict__, "static_url": None}))


@pytest.mark.parametrize(("url", "platform", "ok"), [
    ("https://us02web.zoom.us/j/8574606543?pwd=x", "zoom", True),
    ("https://zoom.us/my/ivan.petrov", "zoom", True),
    ("https://zoom.us.evil.example/j/1", "zoom", False),
    ("http://zoom.us/j/1", "zoom", False),
    ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_x", "teams", True),
    ("https://teams.microsoft.com/", "teams", False),
    ("https://telemost.yandex.ru/j/78566269088286", "telemost", True),
    ("https://telemost.yandex.ru/", "telemost", False),
    ("https://meet.google.com/abc-defg-hij", "google_meet", True),
    ("https://meet.google.com.example/abc-defg-hij", "google_meet", False),
    ("https://union.webex.com/meet/ivan.petrov", "webex", True),
    ("https://union.webex.com.evil/meet/ivan", "webex", False),
    ("https://my.mts-link.ru/12345/67890", "mts_link", True),
    ("https://sferum.ru/?call_link=abc", "vk", True),
    ("https://vk.com/call/join/abcdef", "vk", True),
    ("https://vk.com/id1", "vk", False),
    ("javascript:alert(1)", "other", False),
    ("https://example.org/room", "other", True),
])
def test_pasted_links_must_match_their_platform(url: str, platform: str, ok: bool) -> None:
    assert (check_pasted_url(url, platform) is None) is ok
