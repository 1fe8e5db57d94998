"""A burst of visitors to one event page: the page is rendered once and served from memory,
carries nothing personal (no cookie, no token), shows a change within PAGE_CACHE_SECONDS, and
each language and zone gets its own page."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from webinars.app import SESSION_COOKIE, SecurityHeaders
from webinars.clock import FixedClock
from webinars.config import AppConfig
from webinars.models import Organization, Webinar
from webinars.page_cache import PageCache
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime
from webinars.web.kept_pages import KeptPages

from .factories import login
from .test_public_pages import open_webinar, post_registration


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    """The suite's config, with public pages kept as in production."""
    return dataclasses.replace(config, page_cache_seconds=1.0)


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def test_a_burst_is_served_from_one_render_with_nothing_personal(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue, runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock, capacity=40)
    first = await client.get(f"/w/{webinar.public_id}")
    assert first.status_code == 200
    assert "set-cookie" not in first.headers and 'name="csrf_token"' not in first.text
    with statements(runtime.engine) as seen:
        for _ in range(20):
            again = await client.get(f"/w/{webinar.public_id}")
            assert again.text == first.text
            assert again.headers["content-security-policy"] == first.headers[
                "content-security-policy"]
    assert seen == []  # not one query for twenty visitors
    assert again.headers["content-encoding"] == "gzip"  # compressed once, kept compressed
    assert "Accept-Encoding" in again.headers["vary"]
    plain = await client.get(f"/w/{webinar.public_id}", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == first.text

    # Registering here shows the seat gone at once.
    assert (await post_registration(client, webinar)).status_code == 200
    client.cookies.clear()
    assert "Осталось 39 мест из 40" in (await client.get(f"/w/{webinar.public_id}")).text


async def test_a_change_made_elsewhere_shows_within_the_cache_time(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue, runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    assert "Вебинар о новых медиа" in (await client.get(f"/w/{webinar.public_id}")).text
    async with runtime.sessionmaker() as s:  # as another process would, behind this one's back
        row = await s.get(Webinar, webinar.id)
        assert row is not None
        row.title = "Новое название"
        await s.commit()
    clock.advance(timedelta(seconds=0.5))
    assert "Вебинар о новых медиа" in (await client.get(f"/w/{webinar.public_id}")).text
    clock.advance(timedelta(seconds=0.5))
    assert "Новое название" in (await client.get(f"/w/{webinar.public_id}")).text


async def test_each_language_and_zone_has_its_own_page_and_organizers_get_theirs(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    path = f"/w/{webinar.public_id}"
    russian = (await client.get(path)).text
    english = (await client.get(path, headers={"accept-language": "en"})).text
    assert "Зарегистрироваться" in russian and "Register" in english
    client.cookies.set("tz", "Asia/Novosibirsk")
    novosibirsk = await client.get(path)
    assert "(19:00 КРАС)" in novosibirsk.text and "(19:00 КРАС)" not in russian
    client.cookies.clear()
    assert (await client.get(path)).text == russian

    await login(client)  # the federation's organizer, made with the webinar
    signed_in = (await client.get(path)).text
    assert 'action="/logout"' in signed_in and 'action="/logout"' not in russian
    client.cookies.clear()
    assert 'action="/logout"' not in (await client.get(path)).text


async def test_a_crowd_at_an_expired_page_waits_for_one_render(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue, runtime: Runtime,
) -> None:
    """When the kept page expires under load, the visitors who arrive while it is rendered
    share that render instead of each taking a database connection."""
    webinar = await open_webinar(session, queue, clock)
    path = f"/w/{webinar.public_id}"
    clock.advance(timedelta(seconds=5))
    with statements(runtime.engine) as alone:
        page = (await client.get(path)).text
    assert alone

    clock.advance(timedelta(seconds=5))
    with statements(runtime.engine) as crowd:
        pages = await asyncio.gather(*(client.get(path) for _ in range(20)))
    assert {p.text for p in pages} == {page}
    assert len(crowd) == len(alone)


async def test_a_registration_during_a_render_is_not_hidden_by_it(
    clock: FixedClock) -> None:
    cache = PageCache()
    key = ("abc", "ru", "")
    release = asyncio.Event()

    async def render() -> bytes:
        await release.wait()
        return b"40 seats"

    visitor = asyncio.create_task(cache.serve(key, clock.now(), 1.0, render))
    await asyncio.sleep(0)  # the render has started and waits on the database
    cache.forget("abc")  # a registration commits meanwhile
    release.set()
    assert (await visitor).body == b"40 seats"  # the visitor asked before it: fine
    assert cache.get(key, clock.now(), ttl=60) is None  # the next one sees the new count


async def test_a_busy_page_is_renewed_before_it_expires_and_nobody_waits(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue, runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    path = f"/w/{webinar.public_id}"
    assert "Вебинар о новых медиа" in (await client.get(path)).text
    async with runtime.sessionmaker() as s:  # changed by another process
        row = await s.get(Webinar, webinar.id)
        assert row is not None
        row.title = "Новое название"
        await s.commit()
    clock.advance(timedelta(seconds=0.6))  # past half its time: served, and renewed meanwhile
    assert "Вебинар о новых медиа" in (await client.get(path)).text
    await runtime.pages.settled()
    clock.advance(timedelta(seconds=0.6))  # the first page would have expired by now
    with statements(runtime.engine) as seen:
        assert "Новое название" in (await client.get(path)).text
    assert seen == []  # the renewed page, rendered while the first one was still served


async def test_an_organization_page_and_its_archive_are_kept_per_page(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue, runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    org = await session.get(Organization, webinar.organization_id)
    assert org is not None
    path, webinar_id = f"/o/{org.slug}", webinar.id
    await session.rollback()  # SQLite: the write below must not wait on this reader
    first = await client.get(path)
    assert "Вебинар о новых медиа" in first.text
    with statements(runtime.engine) as seen:
        for _ in range(5):
            assert (await client.get(path)).text == first.text
    assert seen == []
    assert (await client.get(path, params={"page": "2"})).text != first.text
    assert (await client.get(path + "/archive")).status_code == 200
    assert (await client.get(path, params={"page": "x"})).status_code == 400

    async with runtime.sessionmaker() as s:  # a new title, saved by another process
        row = await s.get(Webinar, webinar_id)
        assert row is not None
        row.title = "Новое название"
        await s.commit()
    clock.advance(timedelta(seconds=1))
    assert "Новое название" in (await client.get(path)).text


async def test_a_visitor_without_a_session_gets_the_same_page_from_in_front_of_the_app(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue, runtime: Runtime,
) -> None:
    """The kept page answered before the application (webinars.web.kept_pages) is byte for
    byte and header for header what the application answers; a visitor whose answer could
    differ (a session, a query string) goes through the application."""
    webinar = await open_webinar(session, queue, clock)
    path = f"/w/{webinar.public_id}"
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app: Any = transport.app
    lane = KeptPages(app, session_cookie=SESSION_COOKIE, headers=SecurityHeaders.DEFAULTS)

    def scope(*headers: tuple[bytes, bytes], query: bytes = b"") -> dict[str, Any]:
        return {"type": "http", "method": "GET", "path": path, "query_string": query,
                "headers": list(headers), "app": app}

    for encoding in ("gzip, deflate", "identity"):
        rendered = await client.get(path, headers={"accept-encoding": encoding})
        assert lane.kept(scope((b"accept-encoding", encoding.encode()))) is not None
        kept = await client.get(path, headers={"accept-encoding": encoding})
        assert kept.content == rendered.content

        def tokens(vary: str) -> set[str]:
            names = [token.strip() for token in vary.split(",")]
            assert len(names) == len(set(names)), f"named twice: {vary}"
            return set(names)

        assert tokens(kept.headers.pop("vary")) == tokens(rendered.headers.pop("vary")) == {
            "Accept-Encoding", "Cookie"}
        assert dict(kept.headers) == dict(rendered.headers)
        runtime.pages.forget(webinar.public_id)

    await client.get(path)
    assert lane.kept(scope((b"cookie", f"{SESSION_COOKIE}=x".encode()))) is None
    assert lane.kept(scope((b"accept-language", b"en"))) is None  # not rendered in English yet
    english = await client.get(path, params={"lang": "en"})  # through the app: English
    assert "Register" in english.text
    client.cookies.clear()
    assert "Зарегистрироваться" in (await client.get(path)).text
    assert "Register" in (await client.get(path, headers={"accept-language": "en"})).text
    assert lane.kept(scope((b"accept-language", b"en"))) is not None

    client.cookies.set("tz", "Asia/Novosibirsk")
    assert "(19:00 КРАС)" in (await client.get(path)).text
    assert lane.kept(scope((b"cookie", b"tz=Asia/Novosibirsk"))) is not None
    clock.advance(timedelta(seconds=0.5))  # due for renewal: the application renews it
    assert lane.kept(scope((b"cookie", b"tz=Asia/Novosibirsk"))) is None
