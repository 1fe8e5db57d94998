"""Personal calendar feeds: made from a registration, holding the member's events and their
chain's plans, tagged with levels, cached by content version, and dead once revoked."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webinars import feeds
from webinars.clock import FixedClock
from webinars.errors import NotFound
from webinars.models import MemberFeed, Webinar
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.registrations import by_token, cancel
from webinars.runtime import Runtime
from webinars.web.feeds import IcsCache

from .factories import csrf_from, make_registration, make_webinar
from .test_calendars import (
    BASE,
    Tree,
    assert_published,
    by_uid,
    categories,
    events_of,
    icaljs_starts,
    iso_z,
    make_tree,
    make_vladivostok_webinar,
    vladivostok_utc,
)

MEMBER = "Teacher@School5.example"


async def csrf(client: httpx.AsyncClient) -> str:
    return csrf_from((await client.get("/login")).text)


async def all_feeds(runtime: Runtime) -> list[MemberFeed]:
    """Read in a session of its own: on SQLite, an open test transaction would lock the app out."""
    async with runtime.sessionmaker() as session:
        return list((await session.scalars(select(MemberFeed).order_by(MemberFeed.id))).all())


async def subscribe(client: httpx.AsyncClient, runtime: Runtime, registration_token: str) -> str:
    """Press "subscribe" on the personal page; return the feed token that was made."""
    response = await client.post(f"/r/{registration_token}/feed",
                                 data={"csrf_token": await csrf(client)})
    assert response.status_code == 303
    assert response.headers["location"] == f"/r/{registration_token}?feed=1"
    async with runtime.sessionmaker() as session:
        registration = await by_token(session, registration_token)
        feed = await feeds.feed_of_registration(session, registration)
        assert feed is not None
        return feed.token


async def test_subscribing_makes_one_feed_per_member_and_organization(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    tree = await make_tree(session, clock)
    first = await make_vladivostok_webinar(session, clock, tree)
    second = await make_webinar(session, clock, tree.account, tree.federal)
    reg1 = await make_registration(session, clock, first, MEMBER, organization_id=tree.school.id)
    reg2 = await make_registration(session, clock, second, MEMBER.lower(),
                                   organization_id=tree.school.id)
    await commit_and_enqueue(session, queue, clock)

    forged = await client.post(f"/r/{reg1.token}/feed", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    assert await all_feeds(runtime) == []
    unknown = await client.post("/r/no-such-token/feed", data={"csrf_token": await csrf(client)})
    assert unknown.status_code == 404

    token = await subscribe(client, runtime, reg1.token)
    assert await subscribe(client, runtime, reg1.token) == token
    assert await subscribe(client, runtime, reg2.token) == token  # same e-mail, same organization
    (feed,) = await all_feeds(runtime)
    assert feed.token == token
    assert feed.email_normalized == "teacher@school5.example"
    assert feed.organization_id == tree.school.id

    # Without a member organization, the webinar's organization is the member's.
    reg3 = await make_registration(session, clock, first, "other@school.example")
    await commit_and_enqueue(session, queue, clock)
    await subscribe(client, runtime, reg3.token)
    other = [f for f in await all_feeds(runtime) if f.email_normalized == "other@school.example"]
    assert [f.organization_id for f in other] == [tree.region.id]


async def test_personal_feed_holds_registrations_and_the_chain_plans(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    tree: Tree = await make_tree(session, clock)
    account = tree.account
    federal_plan = await make_webinar(session, clock, account, tree.federal, title="План года")
    regional = await make_vladivostok_webinar(session, clock, tree)
    school_event = await make_webinar(session, clock, account, tree.school, title="Школьный")
    elsewhere = await make_webinar(session, clock, account, tree.sibling, title="Казань")
    unlisted = await make_webinar(session, clock, account, tree.city, title="По ссылке",
                                  visibility="unlisted")
    other_sibling = await make_webinar(session, clock, account, tree.sibling, title="Не моё")
    dropped = await make_webinar(session, clock, account, tree.sibling, title="Передумала")
    draft = await make_webinar(session, clock, account, tree.school, title="Черновик",
                               status="draft")
    at_region = await make_registration(session, clock, regional, MEMBER,
                                        organization_id=tree.school.id)
    at_sibling = await make_registration(session, clock, elsewhere, MEMBER,
                                         organization_id=tree.school.id)
    at_unlisted = await make_registration(session, clock, unlisted, MEMBER,
                                          organization_id=tree.school.id)
    gone = await make_registration(session, clock, dropped, MEMBER,
                                   organization_id=tree.school.id)
    await cancel(session, clock, gone)
    stranger = await make_registration(session, clock, other_sibling, "stranger@school.example",
                                       organization_id=tree.school.id)
    await commit_and_enqueue(session, queue, clock)
    token = await subscribe(client, runtime, at_region.token)

    response = await client.get(f"/feeds/{token}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["cache-control"].startswith("private")
    data = response.content
    cal = assert_published(data)
    assert str(cal["NAME"]) == "Мои мероприятия: Школа № 5"
    assert str(cal["X-WR-CALNAME"]) == str(cal["NAME"])
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT6H" in data and b"X-PUBLISHED-TTL:PT6H" in data
    events = by_uid(cal)
    assert set(events) == {federal_plan.uid, regional.uid, school_event.uid, elsewhere.uid,
                           unlisted.uid}
    assert len(events_of(cal)) == 5  # the registered regional event is not repeated as a plan
    for absent in (other_sibling, dropped, draft):
        assert absent.title.encode() not in data
    assert stranger.token.encode() not in data

    def location(webinar: Webinar) -> str:
        return str(events[webinar.uid]["LOCATION"])

    # Registered events open through the member's personal join address, plans via their page.
    for webinar, registration in ((regional, at_region), (elsewhere, at_sibling),
                                  (unlisted, at_unlisted)):
        assert location(webinar) == f"{BASE}/j/{registration.join_token}"
    for webinar in (federal_plan, school_event):
        assert location(webinar) == f"{BASE}/w/{webinar.public_id}"
    levels = {uid: categories(e) for uid, e in events.items()}
    assert levels[federal_plan.uid] == ["federal", "Общероссийский Профсоюз"]
    assert levels[regional.uid] == ["regional", "Приморская краевая организация"]
    assert levels[school_event.uid] == ["primary", "Школа № 5"]
    assert levels[elsewhere.uid] == ["regional", "Татарстанская республиканская"]
    assert events[regional.uid].decoded("DTSTART") == vladivostok_utc("2026-12-10T10:00")
    assert icaljs_starts(data)[regional.uid] == iso_z(vladivostok_utc("2026-12-10T10:00"))

    etag = response.headers["etag"]
    again = await client.get(f"/feeds/{token}.ics", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag

    # Cancelling a registration removes the event, which changes the ETag.
    await cancel(session, clock, at_sibling)
    await commit_and_enqueue(session, queue, clock)
    after = await client.get(f"/feeds/{token}.ics", headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag
    assert elsewhere.uid not in by_uid(assert_published(after.content))


async def test_revoked_feed_is_gone(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    tree = await make_tree(session, clock)
    webinar = await make_vladivostok_webinar(session, clock, tree)
    registration = await make_registration(session, clock, webinar, MEMBER)
    await commit_and_enqueue(session, queue, clock)
    token = await subscribe(client, runtime, registration.token)
    assert (await client.get(f"/feeds/{token}.ics")).status_code == 200

    forged = await client.post(f"/feeds/{token}/revoke", data={"csrf_token": "x"})
    assert forged.status_code == 403
    assert (await client.get(f"/feeds/{token}.ics")).status_code == 200

    revoked = await client.post(f"/feeds/{token}/revoke", data={
        "csrf_token": await csrf(client), "registration_token": registration.token})
    assert revoked.status_code == 303
    assert revoked.headers["location"] == f"/r/{registration.token}"
    assert (await client.get(f"/feeds/{token}.ics")).status_code == 404
    assert (await client.get("/feeds/never-existed.ics")).status_code == 404

    # Revoking again is fine and, with no (or a malformed) way back, shows a confirmation.
    page = await client.post(f"/feeds/{token}/revoke", data={
        "csrf_token": await csrf(client), "registration_token": "//evil.example/x"})
    assert page.status_code == 200
    assert "Подписка на календарь отключена" in page.text
    assert "evil.example" not in page.text
    unknown = await client.post("/feeds/never-existed/revoke",
                                data={"csrf_token": await csrf(client)})
    assert unknown.status_code == 404

    # Subscribing again gives a new secret; the old one stays dead.
    fresh = await subscribe(client, runtime, registration.token)
    assert fresh != token
    assert (await client.get(f"/feeds/{fresh}.ics")).status_code == 200
    assert (await client.get(f"/feeds/{token}.ics")).status_code == 404


async def test_feed_service_revoke_and_lookup(
    session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    tree = await make_tree(session, clock)
    webinar = await make_vladivostok_webinar(session, clock, tree)
    registration = await make_registration(session, clock, webinar, MEMBER)
    feed = await feeds.feed_for_registration(session, clock, registration)
    assert (await feeds.by_token(session, feed.token)).id == feed.id
    clock.advance(timedelta(minutes=5))
    await feeds.revoke(session, clock, feed.token)
    assert feed.revoked_at == clock.now()
    assert await feeds.feed_of_registration(session, registration) is None
    with pytest.raises(NotFound):
        await feeds.by_token(session, feed.token)
    with pytest.raises(NotFound):
        await feeds.revoke(session, clock, "x" * 65)
    await session.rollback()


async def test_a_thousand_event_feed_is_built_once_and_then_served_from_cache(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    tree = await make_tree(session, clock)
    now = clock.now()
    session.add_all([
        Webinar(organization_id=tree.federal.id, public_id=uuid.uuid4().hex,
                title=f"Занятие {n} годового плана", description="Описание " * 20,
                kind="training", start_at=now + timedelta(days=1, hours=n),
                timezone="Europe/Moscow", duration_minutes=60, registered_count=0,
                registration_open=True,
                visibility="public", platform="jitsi", status="scheduled",
                uid=f"webinar-{uuid.uuid4()}@union.example", sequence=0, reminder_offsets=[],
                created_at=now, updated_at=now)
        for n in range(1000)
    ])
    await session.commit()

    first = await client.get("/o/school-5.ics")
    assert first.status_code == 200
    cal = assert_published(first.content)
    assert len(events_of(cal)) == 1000
    cache = runtime.extra["ics_cache"]
    assert isinstance(cache, IcsCache)
    assert (cache.hits, cache.misses) == (0, 1)

    # A poll without a validator gets the cached bytes; with one, a 304.
    second = await client.get("/o/school-5.ics")
    assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
    assert (cache.hits, cache.misses) == (1, 1)
    conditional = await client.get("/o/school-5.ics",
                                   headers={"If-None-Match": first.headers["etag"]})
    assert conditional.status_code == 304
    assert (cache.hits, cache.misses) == (1, 1)
