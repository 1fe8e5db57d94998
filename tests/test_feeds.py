"""Personal calendar feeds: made from a registration, holding the chain's plans tagged with
levels without the events the member holds by invitation, cached by content version, dead once
revoked, and blind to whatever merely shares the member's address."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webinars import feeds
from webinars.clock import FixedClock
from webinars.errors import NotFound
from webinars.models import Delivery, MemberFeed, OutboxMessage, Registration, Webinar
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.registrations import cancel
from webinars.runtime import Runtime
from webinars.security import hash_token
from webinars.web.feeds import IcsCache

from .factories import csrf_from, make_registration, make_webinar
from .smtp import parse
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
FEED_URL = re.compile(r'id="feed-url" href="http://testserver/feeds/([A-Za-z0-9_-]+)\.ics"')


async def csrf(client: httpx.AsyncClient) -> str:
    return csrf_from((await client.get("/login")).text)


async def all_feeds(runtime: Runtime) -> list[MemberFeed]:
    """Read in a session of its own: on SQLite, an open test transaction would lock the app out."""
    async with runtime.sessionmaker() as session:
        return list((await session.scalars(select(MemberFeed).order_by(MemberFeed.id))).all())


async def subscribe(client: httpx.AsyncClient, registration_token: str) -> str:
    """Press "subscribe" on the personal page; return the feed token the answer shows once."""
    response = await client.post(f"/r/{registration_token}/feed",
                                 data={"csrf_token": await csrf(client)})
    assert response.status_code == 200
    match = FEED_URL.search(response.text)
    assert match, "the new feed's address is shown"
    return match.group(1)


async def open_mailbox_link(client: httpx.AsyncClient, runtime: Runtime, queue: InProcessQueue,
                            registration: Registration) -> None:
    """Open "your page" from the registration's own invitation, as its addressee does."""
    await queue.drain()
    async with runtime.sessionmaker() as session:
        raw = (await session.scalars(
            select(OutboxMessage.raw).join(Delivery, Delivery.id == OutboxMessage.delivery_id)
            .where(Delivery.registration_id == registration.id,
                   Delivery.kind == "invitation"))).first()
    assert raw is not None, "the invitation was sent"
    text = parse(raw).get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(rf"http://testserver(/r/{registration.token}/confirm/[A-Za-z0-9_-]+)", text)
    assert link, "the invitation links the personal page through the address proof"
    response = await client.get(link.group(1))
    assert response.status_code == 303
    assert response.headers["location"] == f"/r/{registration.token}"


async def test_every_subscription_is_a_new_secret_kept_only_as_a_hash(
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

    one = await subscribe(client, reg1.token)
    two = await subscribe(client, reg1.token)
    # A second sign-up with the same address in the same organization gets a secret of its own.
    other = await subscribe(client, reg2.token)
    assert len({one, two, other}) == 3
    stored = await all_feeds(runtime)
    assert [f.token_hash for f in stored] == [hash_token(t) for t in (one, two, other)]
    assert [f.registration_id for f in stored] == [reg1.id, reg1.id, reg2.id]
    assert {f.organization_id for f in stored} == {tree.school.id}
    for token in (one, two, other):
        assert (await client.get(f"/feeds/{token}.ics")).status_code == 200

    # The page lists the feeds made from it (never their addresses) and ends them.
    page = (await client.get(f"/r/{reg1.token}")).text
    assert one not in page and two not in page and other not in page
    ends = re.findall(rf'action="/r/{reg1.token}/feeds/(\d+)/end"', page)
    assert ends == [str(stored[0].id), str(stored[1].id)]
    foreign = await client.post(f"/r/{reg2.token}/feeds/{stored[0].id}/end",
                                data={"csrf_token": await csrf(client)})
    assert foreign.status_code == 404  # another registration's page cannot end it
    ended = await client.post(f"/r/{reg1.token}/feeds/{stored[0].id}/end",
                              data={"csrf_token": await csrf(client)})
    assert ended.status_code == 303
    assert (await client.get(f"/feeds/{one}.ics")).status_code == 404
    assert (await client.get(f"/feeds/{two}.ics")).status_code == 200

    # Without a member organization, the webinar's organization is the member's.
    reg3 = await make_registration(session, clock, first, "other@school.example")
    await commit_and_enqueue(session, queue, clock)
    await subscribe(client, reg3.token)
    assert (await all_feeds(runtime))[-1].organization_id == tree.region.id


async def test_knowing_an_address_grants_nothing(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    """The attack: register as the victim elsewhere, subscribe, look for the victim's events."""
    tree = await make_tree(session, clock)
    unlisted = await make_webinar(session, clock, tree.account, tree.city, title="Закрытая встреча",
                                  visibility="unlisted")
    plan = await make_vladivostok_webinar(session, clock, tree, title="Региональный семинар")
    bait = await make_webinar(session, clock, tree.account, tree.sibling, title="Приманка")
    victim_unlisted = await make_registration(session, clock, unlisted, MEMBER,
                                              organization_id=tree.school.id)
    victim_plan = await make_registration(session, clock, plan, MEMBER,
                                          organization_id=tree.school.id)
    await commit_and_enqueue(session, queue, clock)
    await open_mailbox_link(client, runtime, queue, victim_plan)  # the victim proved the address
    victims_feed = await subscribe(client, victim_plan.token)

    # The stranger registers the victim's address in the same organization, then subscribes.
    stranger = await make_registration(session, clock, bait, MEMBER.upper(),
                                       organization_id=tree.school.id)
    await commit_and_enqueue(session, queue, clock)
    strangers_feed = await subscribe(client, stranger.token)
    assert strangers_feed != victims_feed
    data = (await client.get(f"/feeds/{strangers_feed}.ics")).content
    for secret in (victim_unlisted.token, victim_unlisted.join_token, victim_plan.token,
                   victim_plan.join_token, victims_feed):
        assert secret.encode() not in data
    assert unlisted.uid.encode() not in data and "Закрытая встреча".encode() not in data
    # The victim's public plan event is there as for anyone in the chain, with no personal link:
    # its absence would tell the stranger the victim had registered.
    assert str(by_uid(assert_published(data))[plan.uid]["LOCATION"]) == (
        f"{BASE}/w/{plan.public_id}")
    page = (await client.get(f"/r/{stranger.token}")).text
    for secret in (victim_unlisted.join_token, victim_plan.join_token, victims_feed):
        assert secret not in page
    feeds_rows = await all_feeds(runtime)
    assert [f.registration_id for f in feeds_rows] == [victim_plan.id, stranger.id]
    # Only the stranger's own feed is listed to end; the victim's goes on working.
    assert re.findall(r'/feeds/(\d+)/end"', page) == [str(feeds_rows[1].id)]
    assert (await client.post(f"/r/{stranger.token}/feeds/{feeds_rows[0].id}/end",
                              data={"csrf_token": await csrf(client)})).status_code == 404
    assert (await client.get(f"/feeds/{victims_feed}.ics")).status_code == 200


async def test_personal_feed_is_the_chain_plans_without_the_members_own_events(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    """One event per calendar: what the member registered for comes by invitation only."""
    tree: Tree = await make_tree(session, clock)
    account = tree.account
    federal_plan = await make_webinar(session, clock, account, tree.federal, title="План года")
    regional = await make_vladivostok_webinar(session, clock, tree)
    school_event = await make_webinar(session, clock, account, tree.school, title="Школьный")
    elsewhere = await make_webinar(session, clock, account, tree.sibling, title="Казань")
    unlisted = await make_webinar(session, clock, account, tree.city, title="По ссылке",
                                  visibility="unlisted")
    draft = await make_webinar(session, clock, account, tree.school, title="Черновик",
                               status="draft")
    at_region = await make_registration(session, clock, regional, MEMBER,
                                        organization_id=tree.school.id)
    await make_registration(session, clock, school_event, MEMBER,
                                        organization_id=tree.school.id)
    await make_registration(session, clock, unlisted, MEMBER, organization_id=tree.school.id)
    await commit_and_enqueue(session, queue, clock)
    token = await subscribe(client, at_region.token)

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
    # The feed was made from the regional registration: that event reaches the calendar by
    # invitation. The school event is the same address's, but unproven yet: still a plan item.
    assert set(events) == {federal_plan.uid, school_event.uid}
    for absent in (elsewhere, draft, unlisted, regional):
        assert absent.title.encode() not in data
    assert b"/j/" not in data  # no personal join address in a feed: they travel by invitation
    for uid, event in events.items():
        assert str(event["LOCATION"]).startswith(f"{BASE}/w/"), uid
    levels = {uid: categories(e) for uid, e in events.items()}
    assert levels[federal_plan.uid] == ["federal", "Общероссийский Профсоюз"]
    assert levels[school_event.uid] == ["primary", "Школа № 5"]

    etag, modified = response.headers["etag"], response.headers["last-modified"]
    again = await client.get(f"/feeds/{token}.ics", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag
    since = await client.get(f"/feeds/{token}.ics", headers={"If-Modified-Since": modified})
    assert since.status_code == 304

    # Opening the regional invitation's link proves the address: the school registration,
    # made before, is the member's too and leaves the feed.
    clock.advance(timedelta(minutes=1))
    await open_mailbox_link(client, runtime, queue, at_region)
    proven = await client.get(f"/feeds/{token}.ics", headers={"If-None-Match": etag})
    assert proven.status_code == 200
    assert set(by_uid(assert_published(proven.content))) == {federal_plan.uid}
    assert proven.headers["last-modified"] != modified
    stale = await client.get(f"/feeds/{token}.ics", headers={"If-Modified-Since": modified})
    assert stale.status_code == 200

    # A later registration joins only once its own invitation's link is opened.
    clock.advance(timedelta(minutes=1))
    later = await make_registration(session, clock, federal_plan, MEMBER,
                                    organization_id=tree.school.id)
    await commit_and_enqueue(session, queue, clock)
    assert federal_plan.uid in by_uid(assert_published(
        (await client.get(f"/feeds/{token}.ics")).content))
    await open_mailbox_link(client, runtime, queue, later)
    assert by_uid(assert_published((await client.get(f"/feeds/{token}.ics")).content)) == {}

    # Cancelling the regional registration brings the regional plan item back.
    clock.advance(timedelta(minutes=1))
    await cancel(session, clock, at_region)
    await commit_and_enqueue(session, queue, clock)
    after = await client.get(f"/feeds/{token}.ics")
    assert set(by_uid(assert_published(after.content))) == {regional.uid}
    assert by_uid(assert_published(after.content))[regional.uid].decoded("DTSTART") == (
        vladivostok_utc("2026-12-10T10:00"))
    assert icaljs_starts(after.content)[regional.uid] == iso_z(vladivostok_utc("2026-12-10T10:00"))


async def test_only_the_mailbox_link_proves_the_address(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    tree = await make_tree(session, clock)
    webinar = await make_vladivostok_webinar(session, clock, tree)
    registration = await make_registration(session, clock, webinar, MEMBER)
    await commit_and_enqueue(session, queue, clock)

    async def proven() -> bool:
        async with runtime.sessionmaker() as s:
            stored = await s.get(Registration, registration.id)
            return stored is not None and stored.address_confirmed_at is not None

    assert (await client.get(f"/r/{registration.token}")).status_code == 200
    wrong = await client.get(f"/r/{registration.token}/confirm/{'A' * 22}")
    assert wrong.status_code == 303 and not await proven()
    await open_mailbox_link(client, runtime, queue, registration)
    assert await proven()


async def test_revoked_feed_is_gone(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    tree = await make_tree(session, clock)
    webinar = await make_vladivostok_webinar(session, clock, tree)
    registration = await make_registration(session, clock, webinar, MEMBER)
    await commit_and_enqueue(session, queue, clock)
    token = await subscribe(client, registration.token)
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
    fresh = await subscribe(client, registration.token)
    assert fresh != token
    assert (await client.get(f"/feeds/{fresh}.ics")).status_code == 200
    assert (await client.get(f"/feeds/{token}.ics")).status_code == 404


async def test_feed_service_revoke_and_lookup(
    session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    tree = await make_tree(session, clock)
    webinar = await make_vladivostok_webinar(session, clock, tree)
    registration = await make_registration(session, clock, webinar, MEMBER)
    feed, token = await feeds.create_feed(session, clock, registration)
    assert feed.token_hash == hash_token(token) and token not in feed.token_hash
    assert (await feeds.by_token(session, token)).id == feed.id
    clock.advance(timedelta(minutes=5))
    await feeds.revoke(session, clock, token)
    assert feed.revoked_at == clock.now()
    assert await feeds.feeds_of_registration(session, registration) == []
    with pytest.raises(NotFound):
        await feeds.by_token(session, token)
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


async def test_registering_again_takes_nothing_of_the_feeds_made_before(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    """The owner made a feed, then cancelled; whoever registers the address again gets a fresh
    registration: they cannot see or end the owner's feed."""
    tree = await make_tree(session, clock)
    webinar = await make_vladivostok_webinar(session, clock, tree)
    owner = await make_registration(session, clock, webinar, MEMBER)
    await commit_and_enqueue(session, queue, clock)
    owners_feed, owners_token = await subscribe(client, owner.token), owner.token
    [feed] = await all_feeds(runtime)
    await cancel(session, clock, owner)
    await commit_and_enqueue(session, queue, clock)
    stranger = await make_registration(session, clock, webinar, MEMBER)
    await commit_and_enqueue(session, queue, clock)
    assert stranger.id == feed.registration_id and stranger.token != owners_token
    page = (await client.get(f"/r/{stranger.token}")).text
    assert "/end" not in page
    ended = await client.post(f"/r/{stranger.token}/feeds/{feed.id}/end",
                              data={"csrf_token": await csrf(client)})
    assert ended.status_code == 404
    assert (await client.get(f"/feeds/{owners_feed}.ics")).status_code == 200
