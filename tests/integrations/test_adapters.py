"""Adapters: the contract every registered adapter keeps, and Jitsi's room names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from integrations import PLATFORMS, build_adapters
from integrations.base import Adapter, MeetingSpec, PlatformRejected
from integrations.jitsi import ROOM_RE
from integrations.static import check_static_url

SPEC = MeetingSpec(title="Вебинар", start=datetime(2027, 3, 1, 12, tzinfo=UTC),
                   duration=timedelta(minutes=60), idempotency_key="webinar-1@union.example",
                   static_url="https://telemost.yandex.ru/j/12345678901234")


@pytest.fixture
async def adapters() -> AsyncIterator[dict[str, Adapter]]:
    async with aiohttp.ClientSession():
        yield build_adapters(jitsi_base_url="https://meet.example.org", secret="s" * 40)


def test_every_offered_platform_has_an_adapter(adapters: dict[str, Adapter]) -> None:
    assert set(PLATFORMS) == set(adapters)
    for name, adapter in adapters.items():
        assert adapter.link_kind == PLATFORMS[name]


@pytest.mark.parametrize("name", sorted(PLATFORMS))
async def test_contract_create_update_delete_twice(adapters: dict[str, Adapter], name: str) -> None:
    adapter = adapters[name]
    link = await adapter.create(SPEC)
    assert link.join_url.startswith("https://")
    assert await adapter.create(SPEC) == link  # the same event makes the same meeting
    moved = await adapter.update(link, MeetingSpec(**{**SPEC.__dict__,
                                                      "start": SPEC.start + timedelta(days=1)}))
    assert moved.join_url.startswith("https://")
    await adapter.delete(moved)
    await adapter.delete(moved)  # deleting what is gone is done, not an error


async def test_jitsi_rooms_are_unguessable_and_stable(adapters: dict[str, Adapter]) -> None:
    jitsi = adapters["jitsi"]
    a = await jitsi.create(SPEC)
    b = await jitsi.create(MeetingSpec(**{**SPEC.__dict__, "idempotency_key": "webinar-2@x"}))
    assert a.join_url.startswith("https://meet.example.org/Webinar")
    assert ROOM_RE.match(a.external_id) and a.external_id != b.external_id
    assert "webinar-1" not in a.join_url  # nothing derivable from the event id
    other_secret = build_adapters(jitsi_base_url="https://meet.example.org", secret="t" * 40)
    assert (await other_secret["jitsi"].create(SPEC)).join_url != a.join_url


async def test_static_adapter_refuses_a_missing_link(adapters: dict[str, Adapter]) -> None:
    with pytest.raises(PlatformRejected):
        await adapters["static"].create(MeetingSpec(**{**SPEC.__dict__, "static_url": None}))


@pytest.mark.parametrize(("url", "platform", "ok"), [
    ("https://us02web.zoom.us/j/8574606543?pwd=x", "zoom", True),
    ("https://zoom.us.evil.example/j/1", "zoom", False),
    ("http://zoom.us/j/1", "zoom", False),
    ("https://teams.microsoft.com/l/meetup-join/19%3a", "teams", True),
    ("https://telemost.yandex.ru/j/78566269088286", "telemost", True),
    ("https://meet.google.com/abc-defg-hij", "google_meet", True),
    ("https://meet.google.com.example/abc", "google_meet", False),
    ("https://my.mts-link.ru/12345/67890", "mts_link", True),
    ("https://sferum.ru/?call_link=abc", "vk", True),
    ("javascript:alert(1)", "other", False),
])
def test_pasted_links_must_match_their_platform(url: str, platform: str, ok: bool) -> None:
    assert (check_static_url(url, platform) is None) is ok
