"""Adopting down the tree: joining and copying a higher level's event, the coverage the higher
level sees, its reminders, and the copies' organizers told of changes to the original."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any, cast

import httpx
from sqlalchemy import select

from webinars.clock import FixedClock
from webinars.models import Adoption, Meeting, OutboxMessage, PlanReminder, Webinar
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime

from .api_support import Api, World
from .factories import csrf_from, login, make_account, make_org


async def outbox(runtime: Runtime) -> list[EmailMessage]:
    async with runtime.sessionmaker() as s:
        rows = (await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    return [cast(EmailMessage, message_from_bytes(r.raw, policy=default)) for r in rows]


def body_of(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert part is not None
    return str(cast(EmailMessage, part).get_content())


async def webinar(runtime: Runtime, webinar_id: int) -> Webinar:
    async with runtime.sessionmaker() as s:
        found = await s.scalar(select(Webinar).where(Webinar.id == webinar_id))
        assert found is not None
        return found


def adopt(org_id: int, kind: str, **extra: Any) -> dict[str, Any]:
    return {"organization_id": org_id, "kind": kind, **extra}


async def test_join_and_copy_make_one_shared_event_and_one_event_of_its_own(
    client: httpx.AsyncClient, world: World, runtime: Runtime, queue: InProcessQueue,
) -> None:
    north = Api(client, world.north_token)
    federal = world.federal_webinar
    before = await webinar(runtime, federal.id)
    joined = await north.post(f"/webinars/{federal.id}/adoptions", json=adopt(
        world.north.id, "join", note="Собираемся в актовом зале", contact="Ольга, 8-900"))
    assert joined.status_code == 201, joined.text
    assert joined.json()["kind"] == "join" and joined.json()["copy_id"] is None
    copied = await north.post(f"/webinars/{federal.id}/adoptions", json=adopt(
        world.north_city.id, "copy", overrides={
            "start": "2026-12-23T16:00", "capacity": 30, "platform": "jitsi",
            "description": "Городской прогон федерального семинара"}))
    assert copied.status_code == 201, copied.text
    await queue.drain()
    made = await webinar(runtime, copied.json()["copy_id"])
    assert made.source_id == federal.id and made.organization_id == world.north_city.id
    assert made.uid != federal.uid and made.public_id != federal.public_id
    assert made.title == federal.title and made.capacity == 30
    assert made.timezone == "Asia/Yekaterinburg"  # the city's zone: 16:00 there is 11:00 UTC
    assert made.start_at.strftime("%Y-%m-%d %H:%M") == "2026-12-23 11:00"
    assert made.description == "Городской прогон федерального семинара"
    async with runtime.sessionmaker() as s:
        meetings = {m.webinar_id: m for m in (await s.scalars(select(Meeting))).all()}
    assert meetings[made.id].status == "ready" and meetings[federal.id].status == "ready"
    assert meetings[made.id].join_url != meetings[federal.id].join_url
    after = await webinar(runtime, federal.id)
    assert (after.title, after.start_at, after.sequence, after.capacity, after.description) == (
        before.title, before.start_at, before.sequence, before.capacity, before.description)
    # The copy is an event of the city's: its organizer manages it like any other.
    assert (await north.get(f"/webinars/{made.id}")).json()["organization"]["id"] == \
        world.north_city.id


async def test_refused_twice_not_above_and_not_managed(
    client: httpx.AsyncClient, world: World, runtime: Runtime,
) -> None:
    north, south = Api(client, world.north_token), Api(client, world.south_token)
    federal = world.federal_webinar
    path = f"/webinars/{federal.id}/adoptions"
    assert (await north.post(path, json=adopt(world.north.id, "join"))).status_code == 201
    twice = await north.post(path, json=adopt(world.north.id, "copy"))
    assert twice.status_code == 409 and twice.json()["code"] == "already_adopted"
    again = await north.post(path, json=adopt(world.north.id, "join"))
    assert again.status_code == 409
    # A sibling's event, and an event of one's own level or below, are not of a level above.
    sibling = await north.post(f"/webinars/{world.south_webinar.id}/adoptions",
                               json=adopt(world.north.id, "join"))
    assert sibling.status_code == 422 and "organization_id" in sibling.json()["fields"]
    below = await north.post(f"/webinars/{world.city_webinar.id}/adoptions",
                             json=adopt(world.north.id, "join"))
    own = await north.post(f"/webinars/{world.north_webinar.id}/adoptions",
                           json=adopt(world.north.id, "copy"))
    assert below.status_code == 422 and own.status_code == 422
    # Another region's organizer cannot adopt for you, nor withdraw yours.
    foreign = await south.post(path, json=adopt(world.north_city.id, "join"))
    assert foreign.status_code == 403
    withdraw = await client.delete(f"/api/v1/webinars/{federal.id}/adoptions/{world.north.id}",
                                   headers={"Authorization": f"Bearer {world.south_token}"})
    assert withdraw.status_code == 403
    # A copy of an indicative item needs a date of one's own; a draft cannot be adopted.
    async with runtime.sessionmaker() as s:
        item = await s.get(Webinar, federal.id)
        assert item is not None
        item.status, item.plan_period = "planned", "2027-Q1"
        await s.commit()
    dateless = await north.post(path, json=adopt(world.north_city.id, "copy"))
    assert dateless.status_code == 422 and "start" in dateless.json()["fields"]
    dated = await north.post(path, json=adopt(world.north_city.id, "copy",
                                              overrides={"start": "2027-02-10T10:00"}))
    assert dated.status_code == 201
    async with runtime.sessionmaker() as s:
        item = await s.get(Webinar, federal.id)
        assert item is not None
        item.status = "draft"
        await s.commit()
    draft = await south.post(path, json=adopt(world.south.id, "join"))
    assert draft.status_code == 404
    # Withdrawing: the adoption goes, the copy stays an event of the city's.
    gone = await client.delete(f"/api/v1/webinars/{federal.id}/adoptions/{world.north_city.id}",
                               headers={"Authorization": f"Bearer {world.north_token}"})
    assert gone.status_code == 204
    copy = await webinar(runtime, dated.json()["copy_id"])
    assert copy.status == "scheduled"
    async with runtime.sessionmaker() as s:
        left = (await s.scalars(select(Adoption.organization_id))).all()
    assert left == [world.north.id]


async def more_regions(runtime: Runtime, clock: FixedClock, world: World) -> list[int]:
    """Four more regions with an organizer each, and a school below one of them."""
    async with runtime.sessionmaker() as s:
        union = await s.get(type(world.union), world.union.id)
        assert union is not None
        ids = []
        for n in range(4):
            region = await make_org(s, clock, f"region-{n}", parent=union, level="regional",
                                    name=f"Регион {n}", timezone="Asia/Novosibirsk")
            await make_account(s, clock, region, f"r{n}-a@union.example")
            await make_account(s, clock, region, f"r{n}-b@union.example", name="Второй")
            ids.append(region.id)
        await make_org(s, clock, "school-1", parent=region, level="primary")
        await s.commit()
    return ids


async def test_coverage_counts_per_level_as_counted_here(
    client: httpx.AsyncClient, world: World, runtime: Runtime, clock: FixedClock,
    queue: InProcessQueue,
) -> None:
    regions = await more_regions(runtime, clock, world)
    federal = world.federal_webinar
    north = Api(client, world.north_token)
    await north.post(f"/webinars/{federal.id}/adoptions", json=adopt(world.north.id, "join"))
    await north.post(f"/webinars/{federal.id}/adoptions", json=adopt(
        world.north_city.id, "copy", overrides={"start": "2026-12-24T09:00"}))
    async with runtime.sessionmaker() as s:
        first = await s.scalar(select(type(world.admin)).where(
            type(world.admin).email == "r0-a@union.example"))
        assert first is not None
    first_token = await token_for(runtime, clock, "r0-a@union.example")
    await Api(client, first_token).post(f"/webinars/{federal.id}/adoptions", json=adopt(
        regions[0], "copy", overrides={"start": "2026-12-21T10:00", "timezone": "Europe/Moscow"}))
    await queue.drain()
    admin = Api(client, world.admin_token)
    seen = (await admin.get(f"/webinars/{federal.id}/coverage")).json()
    # Counted here from the rows, independently of the service.
    async with runtime.sessionmaker() as s:
        orgs = (await s.scalars(select(type(world.union)))).all()
        adoptions = {a.organization_id: a.kind for a in (await s.scalars(select(Adoption))).all()}
    below = [o for o in orgs if o.id != world.union.id]
    expected = {}
    for level in sorted({o.level for o in below}):
        at = [o for o in below if o.level == level]
        expected[level] = (len(at), sum(adoptions.get(o.id) == "join" for o in at),
                           sum(adoptions.get(o.id) == "copy" for o in at))
    assert {lc["level"]: (lc["total"], lc["joined"], lc["copied"]) for lc in seen["levels"]} \
        == expected == {"regional": (6, 1, 1), "municipal": (1, 0, 1), "primary": (1, 0, 0)}
    assert seen["level"] == "regional"
    states = {o["id"]: o["state"] for o in seen["organizations"]}
    assert states == {world.north.id: "join", world.south.id: "none", regions[0]: "copy",
                      regions[1]: "none", regions[2]: "none", regions[3]: "none"}
    copy_row = next(o for o in seen["organizations"] if o["id"] == regions[0])
    assert copy_row["copy_start"] == "2026-12-21T07:00:00Z"
    municipal = (await admin.get(f"/webinars/{federal.id}/coverage",
                                 params={"level": "municipal"})).json()
    assert [(o["id"], o["state"]) for o in municipal["organizations"]] == [
        (world.north_city.id, "copy")]
    # The page says "2 of 6" for regions.
    await login(client, "admin@union.example")
    page = await client.get(f"/webinars/{federal.id}/coverage")
    assert page.status_code == 200 and "2 из 6" in page.text
    # Not for those who do not manage the event's organization.
    south = Api(client, world.south_token)
    assert (await south.get(f"/webinars/{federal.id}/coverage")).status_code == 403
    assert (await north.get(f"/webinars/{world.south_webinar.id}/coverage")).status_code == 403


async def token_for(runtime: Runtime, clock: FixedClock, email: str) -> str:
    from webinars.accounts import create_api_token
    from webinars.models import Account

    async with runtime.sessionmaker() as s:
        account = await s.scalar(select(Account).where(Account.email == email))
        assert account is not None
        token = await create_api_token(s, clock, account, "test")
        await s.commit()
    return token


async def test_reminders_go_once_per_organizer_and_not_twice_a_day(
    client: httpx.AsyncClient, world: World, runtime: Runtime, clock: FixedClock,
    queue: InProcessQueue,
) -> None:
    regions = await more_regions(runtime, clock, world)
    federal = world.federal_webinar
    await Api(client, world.north_token).post(f"/webinars/{federal.id}/adoptions",
                                              json=adopt(world.north.id, "join"))
    await queue.drain()
    already = len(await outbox(runtime))
    await login(client, "admin@union.example")
    page = await client.get(f"/webinars/{federal.id}/coverage")
    sent = await client.post(f"/webinars/{federal.id}/coverage/remind",
                             data={"csrf_token": csrf_from(page.text), "level": "regional"})
    assert sent.status_code == 303
    await queue.drain()
    mails = (await outbox(runtime))[already:]
    # south has one organizer, each new region two; north joined and hears nothing.
    expected = ["south@union.example"] + [f"r{n}-{x}@union.example" for n in range(4)
                                          for x in "ab"]
    assert sorted(str(m["To"]) for m in mails) == sorted(expected)
    assert all("Пункт плана" in str(m["Subject"]) for m in mails)
    assert f"/webinars/{federal.id}/adopt?organization_id={regions[0]}" in body_of(
        next(m for m in mails if m["To"] == "r0-a@union.example"))
    async with runtime.sessionmaker() as s:
        rows = (await s.scalars(select(PlanReminder))).all()
    assert sorted(r.organization_id for r in rows) == sorted([world.south.id, *regions])
    assert {r.sent_by_id for r in rows} == {world.admin.id}
    # Again within 24 hours: nothing more.
    clock.advance(timedelta(hours=23))
    page = await client.get(f"/webinars/{federal.id}/coverage")
    await client.post(f"/webinars/{federal.id}/coverage/remind",
                      data={"csrf_token": csrf_from(page.text), "level": "regional"})
    await queue.drain()
    assert len(await outbox(runtime)) == already + len(expected)
    # A day later, those who still have not hear again; one that copied meanwhile does not.
    token = await token_for(runtime, clock, "r1-a@union.example")
    await Api(client, token).post(f"/webinars/{federal.id}/adoptions", json=adopt(
        regions[1], "join"))
    clock.advance(timedelta(hours=2))
    page = await client.get(f"/webinars/{federal.id}/coverage")
    await client.post(f"/webinars/{federal.id}/coverage/remind",
                      data={"csrf_token": csrf_from(page.text), "level": "regional"})
    await queue.drain()
    later = (await outbox(runtime))[already + len(expected):]
    assert sorted(str(m["To"]) for m in later) == sorted(
        e for e in expected if not e.startswith("r1-"))
    # Another region's organizer can neither see the coverage nor send reminders.
    client.cookies.clear()
    await login(client, "south@union.example")
    assert (await client.get(f"/webinars/{federal.id}/coverage")).status_code == 403
    dashboard = await client.get("/dashboard")
    refused = await client.post(f"/webinars/{federal.id}/coverage/remind",
                                data={"csrf_token": csrf_from(dashboard.text)})
    assert refused.status_code == 403


async def test_a_change_to_the_original_tells_the_copys_organizer_and_leaves_the_copy(
    client: httpx.AsyncClient, world: World, runtime: Runtime, queue: InProcessQueue,
) -> None:
    federal = world.federal_webinar
    copied = await Api(client, world.north_token).post(
        f"/webinars/{federal.id}/adoptions", json=adopt(world.north.id, "copy", overrides={
            "start": "2026-12-22T15:00", "title": "Региональный прогон"}))
    assert copied.status_code == 201
    await queue.drain()
    copy_before = await webinar(runtime, copied.json()["copy_id"])
    already = len(await outbox(runtime))
    changed = await Api(client, world.admin_token).patch(f"/webinars/{federal.id}", json={
        "start": "2026-12-25T12:00", "timezone": "Europe/Moscow", "title": "Федеральный план 2"})
    assert changed.status_code == 200
    await queue.drain()
    mails = [m for m in (await outbox(runtime))[already:] if m["To"] == "north@union.example"]
    assert len(mails) == 1, [m["Subject"] for m in mails]
    text = body_of(mails[0])
    assert "Региональный прогон" in str(mails[0]["Subject"])
    assert "Название: Federal plan → Федеральный план 2" in text
    assert "25 декабря 2026" in text and "→" in text
    copy_after = await webinar(runtime, copy_before.id)
    assert (copy_after.start_at, copy_after.title, copy_after.sequence) == (
        copy_before.start_at, copy_before.title, copy_before.sequence)
    # Dispatched twice (reconcile after a crash): told once.
    from workers.copies import tell_copies_changed

    async with runtime.sessionmaker() as s:
        from webinars.models import Event
        event_id = await s.scalar(select(Event.id).where(
            Event.webinar_id == federal.id, Event.kind == "webinar.changed"))
    assert event_id is not None
    assert await tell_copies_changed(queue.ctx, event_id) == 0  # type: ignore[arg-type]


async def test_the_adopt_page_joins_copies_and_withdraws_without_javascript(
    client: httpx.AsyncClient, world: World, runtime: Runtime, queue: InProcessQueue,
) -> None:
    federal = world.federal_webinar
    await login(client, "north@union.example")
    public = await client.get(f"/w/{federal.public_id}")
    assert f'href="/webinars/{federal.id}/adopt"' in public.text
    dashboard = await client.get("/dashboard")
    assert f'href="/webinars/{federal.id}/adopt"' in dashboard.text
    page = await client.get(f"/webinars/{federal.id}/adopt")
    assert page.status_code == 200 and "Взять в свой план" in page.text
    csrf = csrf_from(page.text)
    joined = await client.post(f"/webinars/{federal.id}/adopt", data={
        "csrf_token": csrf, "action": "join", "organization_id": str(world.north.id),
        "note": "Смотрим вместе", "contact": "Ольга"})
    assert joined.status_code == 303
    bad = await client.post(f"/webinars/{federal.id}/adopt", data={
        "csrf_token": csrf, "action": "copy", "organization_id": str(world.north_city.id),
        "date": "2026-11-01", "time": "10:00"})
    assert bad.status_code == 422 and "в будущем" in bad.text
    copied = await client.post(f"/webinars/{federal.id}/adopt", data={
        "csrf_token": csrf, "action": "copy", "organization_id": str(world.north_city.id),
        "date": "2026-12-28", "time": "10:00", "capacity": "25"})
    assert copied.status_code == 303
    copy_id = int(copied.headers["location"].rsplit("/", 1)[1])
    assert (await webinar(runtime, copy_id)).source_id == federal.id
    page = await client.get(f"/webinars/{federal.id}/adopt")
    assert "Смотрим вместе" in page.text and f'href="/webinars/{copy_id}"' in page.text
    withdrawn = await client.post(f"/webinars/{federal.id}/adopt", data={
        "csrf_token": csrf, "action": "withdraw", "organization_id": str(world.north.id)})
    assert withdrawn.status_code == 303
    async with runtime.sessionmaker() as s:
        kinds = (await s.scalars(select(Adoption.kind))).all()
    assert list(kinds) == ["copy"]
    # The region's organizer cannot adopt a sibling's event, nor for another region.
    assert (await client.get(f"/webinars/{world.south_webinar.id}/adopt")).status_code == 403
    foreign = await client.post(f"/webinars/{federal.id}/adopt", data={
        "csrf_token": csrf, "action": "join", "organization_id": str(world.south.id)})
    assert foreign.status_code == 403
    await queue.drain()
