"""The JSON API as another system uses it: tokens, the tree, and what each change sends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select, text, update

from webinars.clock import FixedClock
from webinars.models import ApiToken, Delivery, Registration, Webinar
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.registrations import register
from webinars.runtime import Runtime
from webinars.validation import registration_input

from .api_support import (
    Api,
    World,
    registration_body,
    webinar_body,
)


async def webinar_row(runtime: Runtime, webinar_id: int) -> Webinar:
    async with runtime.sessionmaker() as s:
        row = await s.get(Webinar, webinar_id)
        assert row is not None
        return row


async def deliveries(runtime: Runtime, webinar_id: int, kind: str) -> list[Delivery]:
    async with runtime.sessionmaker() as s:
        return list((await s.scalars(select(Delivery).where(
            Delivery.webinar_id == webinar_id, Delivery.kind == kind)
            .order_by(Delivery.id))).all())



# --- tokens ---------------------------------------------------------------------------------

async def test_missing_or_unknown_token_gets_401_with_a_bearer_challenge(
    client: httpx.AsyncClient, world: World
) -> None:
    for header in (None, "Bearer", "Bearer ", "Basic d2J0X3g6eA==", "wbt_nothing",
                   "Bearer wbt_not-a-real-token", "Bearer not_a_wbt_token",
                   "Bearer " + "wbt_" + "x" * 5000, f"Token {world.north_token}"):
        headers = {"Authorization": header} if header is not None else {}
        for path in ("/organizations", "/webinars", f"/webinars/{world.north_webinar.id}"):
            response = await Api(client, None).get(path, headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["error"]
            assert "wbt_" not in response.text  # the token is never echoed


async def test_revoked_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, world: World, clock: FixedClock
) -> None:
    api = Api(client, world.north_token)
    assert (await api.get(f"/webinars/{world.north_webinar.id}")).status_code == 200
    async with runtime.sessionmaker() as s:
        await s.execute(update(ApiToken).where(
            ApiToken.account_id == world.north_account.id).values(revoked_at=clock.now()))
        await s.commit()
    response = await api.patch(f"/webinars/{world.north_webinar.id}", json={"title": "Hacked"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert (await webinar_row(runtime, world.north_webinar.id)).title == "North media"
    assert (await api.post(f"/webinars/{world.north_webinar.id}/cancel")).status_code == 401
    assert (await webinar_row(runtime, world.north_webinar.id)).status == "scheduled"


async def test_a_used_token_records_when_it_was_last_used(
    client: httpx.AsyncClient, runtime: Runtime, world: World, clock: FixedClock
) -> None:
    clock.advance(timedelta(minutes=3))
    assert (await Api(client, world.south_token).get("/organizations")).status_code == 200
    async with runtime.sessionmaker() as s:
        used = await s.scalar(select(ApiToken.last_used_at).where(
            ApiToken.account_id == world.south_account.id))
    assert used == clock.now()


# --- organizations --------------------------------------------------------------------------

async def test_organizations_are_the_accounts_subtree(
    client: httpx.AsyncClient, world: World
) -> None:
    north = (await Api(client, world.north_token).get("/organizations")).json()["items"]
    assert [o["slug"] for o in north] == ["north", "north-city"]
    assert north[1] == {"id": world.north_city.id, "slug": "north-city",
                        "name": "Org north-city", "level": "municipal",
                        "timezone": "Asia/Yekaterinburg", "parent_id": world.north.id}
    everything = (await Api(client, world.admin_token).get("/organizations")).json()["items"]
    assert {o["slug"] for o in everything} == {"union", "north", "north-city", "south"}


# --- the webinar flow -----------------------------------------------------------------------

async def test_create_read_list_update_cancel(
    client: httpx.AsyncClient, runtime: Runtime, world: World, queue: InProcessQueue
) -> None:
    api = Api(client, world.north_token)
    created = await api.post("/webinars", json=webinar_body(
        world.north_city, capacity=30, reminder_offsets=[60, 1440], visibility="unlisted"))
    assert created.status_code == 201, created.text
    webinar = created.json()
    assert created.headers["location"] == f"http://testserver/api/v1/webinars/{webinar['id']}"
    # Wall time without an offset is read in the organization's zone (Yekaterinburg, UTC+5).
    assert webinar["start"] == "2026-12-10T10:00:00Z"
    assert webinar["start_local"] == "2026-12-10T15:00:00+05:00"
    assert webinar["timezone"] == "Asia/Yekaterinburg"
    assert webinar["end"] == "2026-12-10T11:00:00Z"
    assert webinar["organization"] == {"id": world.north_city.id, "slug": "north-city",
                                       "name": "Org north-city"}
    assert (webinar["capacity"], webinar["seats_left"], webinar["registered_count"]) == (30, 30, 0)
    assert webinar["reminder_offsets"] == [1440, 60]
    assert webinar["visibility"] == "unlisted"
    assert webinar["status"] == "scheduled" and webinar["sequence"] == 0
    assert webinar["page_url"] == f"http://testserver/w/{webinar['public_id']}"
    assert webinar["ics_url"] == f"http://testserver/w/{webinar['public_id']}.ics"
    assert webinar["meeting"]["status"] in ("pending", "ready")  # a job makes it, after commit

    await queue.drain()  # the meeting is created by a job after the commit
    read = (await api.get(f"/webinars/{webinar['id']}")).json()
    assert read["meeting"]["status"] == "ready"
    assert read["meeting"]["join_url"].startswith("https://meet.jit.si/")
    assert read["meeting"]["host_url"]  # the managing organizer may see the host link

    listed = (await api.get("/webinars")).json()
    assert [w["title"] for w in listed["items"]] == ["North media", "Медиашкола профсоюза",
                                                     "City contest"]
    assert listed["total"] == 3

    changed = await api.patch(f"/webinars/{webinar['id']}", json={
        "title": "Медиашкола: весенний поток", "duration_minutes": 90, "capacity": None})
    assert changed.status_code == 200, changed.text
    assert changed.json()["title"] == "Медиашкола: весенний поток"
    assert changed.json()["end"] == "2026-12-10T11:30:00Z"
    assert changed.json()["capacity"] is None and changed.json()["seats_left"] is None
    assert changed.json()["sequence"] == 1

    cancelled = await api.post(f"/webinars/{webinar['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["registration_open"] is False
    assert cancelled.json()["sequence"] == 2
    again = await api.post(f"/webinars/{webinar['id']}/cancel")
    assert again.json()["sequence"] == 2  # cancelling twice changes nothing

    refused = await api.patch(f"/webinars/{webinar['id']}", json={"title": "Back again"})
    assert refused.status_code == 409 and refused.json()["code"] == "cancelled"
    assert (await webinar_row(runtime, webinar["id"])).title == "Медиашкола: весенний поток"


async def test_explicit_offset_and_zone_are_respected(
    client: httpx.AsyncClient, world: World
) -> None:
    api = Api(client, world.admin_token)
    body = webinar_body(world.union, start="2026-12-10T12:00:00Z", timezone="Asia/Vladivostok")
    webinar = (await api.post("/webinars", json=body)).json()
    assert webinar["start"] == "2026-12-10T12:00:00Z"
    assert webinar["start_local"] == "2026-12-10T22:00:00+10:00"
    moved = await api.patch(f"/webinars/{webinar['id']}", json={"start": "2026-12-11T09:30"})
    assert moved.json()["start"] == "2026-12-10T23:30:00Z"  # wall time in its own zone


async def test_list_filters(client: httpx.AsyncClient, world: World) -> None:
    api = Api(client, world.admin_token)

    async def titles(**params: str) -> list[str]:
        response = await api.get("/webinars", params=params)
        assert response.status_code == 200, response.text
        return [w["title"] for w in response.json()["items"]]

    assert await titles() == ["North media", "South school", "City contest", "Federal plan"]
    assert await titles(organization="north") == ["North media", "City contest"]
    assert await titles(organization="north-city") == ["City contest"]
    assert await titles(kind="contest") == ["City contest"]
    assert await titles(q="MEDIA") == ["North media"]
    assert await titles(q="%") == []  # wildcards are literal
    # Days 5, 7, 10, 20 after 2026-12-01 09:00 UTC.
    assert await titles(**{"from": "2026-12-07", "to": "2026-12-11"}) == [
        "South school", "City contest"]
    assert await titles(to="2026-12-06") == ["North media"]  # the whole day counts
    assert await titles(**{"from": "2026-12-08T12:00:00+03:00"}) == [  # 09:00Z, inclusive
        "South school", "City contest", "Federal plan"]
    assert await titles(**{"from": "2026-12-08T09:00:01"}) == ["City contest", "Federal plan"]
    assert await titles(limit="2", offset="1") == ["South school", "City contest"]
    page = (await api.get("/webinars", params={"limit": "1"})).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (4, 1, 0, 1)
    assert await titles(status="cancelled") == []
    await api.post(f"/webinars/{world.south_webinar.id}/cancel")
    assert await titles(status="cancelled") == ["South school"]


# --- the tree -------------------------------------------------------------------------------

async def test_regional_organizer_cannot_touch_a_sibling_or_the_federal_level(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    api = Api(client, world.north_token)
    listed = (await api.get("/webinars")).json()
    assert {w["title"] for w in listed["items"]} == {"North media", "City contest"}
    assert (await api.get("/webinars", params={"organization": "south"})).status_code == 403
    assert (await api.get("/webinars", params={"organization": "union"})).status_code == 403

    for target in (world.south_webinar, world.federal_webinar):
        before = await webinar_row(runtime, target.id)
        path = f"/webinars/{target.id}"
        assert (await api.get(path)).status_code == 403
        assert (await api.patch(path, json={"title": "Taken over"})).status_code == 403
        assert (await api.patch(path, json={"title": 5})).status_code == 403  # no validation leak
        assert (await api.post(path + "/cancel")).status_code == 403
        assert (await api.get(path + "/registrations")).status_code == 403
        assert (await api.post(path + "/registrations",
                               json=registration_body())).status_code == 403
        after = await webinar_row(runtime, target.id)
        assert (after.title, after.status, after.sequence, after.registered_count) == (
            before.title, before.status, before.sequence, before.registered_count)

    # Planning in a sibling's organization, or moving one's own webinar there, is refused too.
    assert (await api.post("/webinars", json=webinar_body(world.south))).status_code == 403
    moved = await api.patch(f"/webinars/{world.north_webinar.id}",
                            json={"organization_id": world.south.id})
    assert moved.status_code == 403
    assert (await webinar_row(runtime, world.north_webinar.id)).organization_id == world.north.id
    async with runtime.sessionmaker() as s:
        assert await s.scalar(select(func.count(Webinar.id))) == 4


async def test_federal_admin_acts_in_every_subtree(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    api = Api(client, world.admin_token)
    city = await api.patch(f"/webinars/{world.city_webinar.id}", json={"title": "Federal edit"})
    assert city.status_code == 200 and city.json()["title"] == "Federal edit"
    assert (await api.post(f"/webinars/{world.south_webinar.id}/cancel")).status_code == 200
    registered = await api.post(f"/webinars/{world.north_webinar.id}/registrations",
                                json=registration_body())
    assert registered.status_code == 201
    created = await api.post("/webinars", json=webinar_body(world.north_city))
    assert created.status_code == 201
    assert (await webinar_row(runtime, world.south_webinar.id)).status == "cancelled"
    # The regional organizer sees what the federal admin planned in their municipality.
    north = Api(client, world.north_token)
    assert (await north.get(f"/webinars/{created.json()['id']}")).status_code == 200


async def test_unknown_or_malformed_webinar_id_is_404(
    client: httpx.AsyncClient, world: World
) -> None:
    api = Api(client, world.admin_token)
    for webinar_id in ("999999", "abc", "0", "-1", "1.5", "99999999999999999999", "2147483648",
                       "%F0%9F%98%80", "1e3", "%00"):
        for method, suffix in (("GET", ""), ("PATCH", ""), ("POST", "/cancel"),
                               ("GET", "/registrations"), ("POST", "/registrations")):
            response = await api.request(method, f"/webinars/{webinar_id}{suffix}", json={})
            assert response.status_code == 404, (method, webinar_id, suffix, response.text)
            assert response.json()["error"]


async def test_registration_ids_are_scoped_to_their_webinar(
    client: httpx.AsyncClient, world: World
) -> None:
    api = Api(client, world.admin_token)
    reg = (await api.post(f"/webinars/{world.north_webinar.id}/registrations",
                          json=registration_body())).json()
    assert (await api.get(f"/webinars/{world.north_webinar.id}/registrations/{reg['id']}")
            ).status_code == 200
    for path in (f"/webinars/{world.south_webinar.id}/registrations/{reg['id']}/cancel",
                 f"/webinars/{world.north_webinar.id}/registrations/{reg['id'] + 1000}/cancel",
                 f"/webinars/{world.north_webinar.id}/registrations/x/cancel"):
        assert (await api.post(path)).status_code == 404
    listed = (await api.get(f"/webinars/{world.north_webinar.id}/registrations")).json()
    assert listed["items"][0]["status"] == "confirmed"


# --- what changes send ----------------------------------------------------------------------

async def test_moving_the_start_raises_sequence_and_sends_updates_to_confirmed_registrants(
    client: httpx.AsyncClient, runtime: Runtime, world: World, queue: InProcessQueue
) -> None:
    api = Api(client, world.north_token)
    path = f"/webinars/{world.north_webinar.id}"
    anna = (await api.post(path + "/registrations", json=registration_body())).json()
    ivan = (await api.post(path + "/registrations", json=registration_body(
        name="Иван", email="ivan@school.example"))).json()
    assert (await api.post(f"{path}/registrations/{ivan['id']}/cancel")).json()[
        "status"] == "cancelled"
    await queue.drain()

    moved = await api.patch(path, json={"start": "2026-12-07T18:00"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["sequence"] == 1
    assert moved.json()["start"] == "2026-12-07T15:00:00Z"  # wall time in Moscow
    await queue.drain()
    updates = await deliveries(runtime, world.north_webinar.id, "update")
    assert [(d.registration_id, d.sequence) for d in updates] == [(anna["id"], 1)]
    reminders = await deliveries(runtime, world.north_webinar.id, "reminder")
    start = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    assert {d.due_at for d in reminders if d.status == "pending"} == {
        start - timedelta(minutes=1440), start - timedelta(minutes=15)}
    assert (await webinar_row(runtime, world.north_webinar.id)).sequence == 1


async def test_unchanged_title_does_not_raise_sequence(
    client: httpx.AsyncClient, runtime: Runtime, world: World, queue: InProcessQueue
) -> None:
    api = Api(client, world.north_token)
    path = f"/webinars/{world.north_webinar.id}"
    await api.post(path + "/registrations", json=registration_body())
    same = await api.patch(path, json={"title": "North media"})
    assert same.status_code == 200 and same.json()["sequence"] == 0
    also_same = await api.patch(path, json={"title": "  North media  ", "kind": "training"})
    assert also_same.json()["sequence"] == 0
    await queue.drain()
    assert await deliveries(runtime, world.north_webinar.id, "update") == []
    assert (await webinar_row(runtime, world.north_webinar.id)).sequence == 0


# --- registrations --------------------------------------------------------------------------

async def test_registration_on_behalf_of_a_member(
    client: httpx.AsyncClient, runtime: Runtime, world: World, queue: InProcessQueue
) -> None:
    api = Api(client, world.north_token)
    await api.patch(f"/webinars/{world.north_webinar.id}", json={"capacity": 1})
    path = f"/webinars/{world.north_webinar.id}/registrations"
    created = await api.post(path, json=registration_body(
        email="Anna@School.Example", locale="en", timezone="Asia/Omsk"))
    assert created.status_code == 201, created.text
    reg = created.json()
    assert created.headers["location"].endswith(f"{path}/{reg['id']}")
    assert (reg["email"], reg["locale"], reg["timezone"], reg["status"]) == (
        "Anna@School.Example", "en", "Asia/Omsk", "confirmed")
    assert reg["personal_url"].startswith("http://testserver/r/")
    assert reg["join_url"].startswith("http://testserver/j/")
    # two different secrets: the join address cannot open the page that cancels
    assert reg["personal_url"][len("http://testserver/r/"):] != reg["join_url"][
        len("http://testserver/j/"):]
    await queue.drain()
    assert [d.registration_id for d in await deliveries(
        runtime, world.north_webinar.id, "invitation")] == [reg["id"]]

    duplicate = await api.post(path, json=registration_body(email="anna@school.example"))
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "duplicate")
    full = await api.post(path, json=registration_body(email="petr@school.example"))
    assert full.status_code == 201
    assert (full.json()["status"], full.json()["waitlist_position"]) == ("waitlisted", 1)
    webinar = (await api.get(f"/webinars/{world.north_webinar.id}")).json()
    assert (webinar["registered_count"], webinar["seats_left"]) == (1, 0)

    cancelled = await api.post(f"{path}/{reg['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["cancelled_at"]
    # The freed seat went to the first in line at once.
    petr = (await api.get(f"{path}/{full.json()['id']}")).json()
    assert (petr["status"], petr["waitlist_position"]) == ("confirmed", None)
    assert (await api.get(f"/webinars/{world.north_webinar.id}")).json()["seats_left"] == 0
    listed = (await api.get(path)).json()
    assert [(r["email"], r["status"]) for r in listed["items"]] == [
        ("Anna@School.Example", "cancelled"), ("petr@school.example", "confirmed")]
    assert listed["total"] == 2


async def test_approval_mode_confirm_and_decline_one_or_all(
    client: httpx.AsyncClient, runtime: Runtime, world: World, queue: InProcessQueue
) -> None:
    api = Api(client, world.north_token)
    webinar_path = f"/webinars/{world.north_webinar.id}"
    changed = (await api.patch(webinar_path, json={"registration_mode": "approval",
                                                   "capacity": 1})).json()
    assert (changed["registration_mode"], changed["registration_open"]) == ("approval", True)
    contradiction = await api.patch(webinar_path, json={"registration_mode": "closed",
                                                        "registration_open": True})
    assert contradiction.status_code == 422
    # An organizer registering someone has approved them; a public one would be pending.
    async with runtime.sessionmaker() as session:
        webinar = await session.get(Webinar, world.north_webinar.id)
        assert webinar is not None
        for email in ("a@school.example", "b@school.example", "c@school.example"):
            await register(session, runtime.clock, webinar, registration_input(
                {"name": "Член профсоюза", "email": email}, default_locale="ru",
                default_timezone="Europe/Moscow"))
        await commit_and_enqueue(session, queue, runtime.clock)
    path = f"{webinar_path}/registrations"
    ids = {r["email"]: r["id"] for r in (await api.get(path)).json()["items"]}
    assert {r["status"] for r in (await api.get(path)).json()["items"]} == {"pending"}

    one = await api.post(f"{path}/{ids['a@school.example']}/confirm")
    assert (one.status_code, one.json()["status"]) == (200, "confirmed")
    assert (await api.post(f"{path}/{ids['a@school.example']}/confirm")).json()["status"] \
        == "confirmed"  # idempotent
    declined = await api.post(f"{path}/{ids['b@school.example']}/decline")
    assert declined.json()["status"] == "declined"
    rest = await api.post(f"{path}/confirm")  # the one left pending; no seat: the waitlist
    assert [(r["email"], r["status"], r["waitlist_position"]) for r in rest.json()["items"]] \
        == [("c@school.example", "waitlisted", 1)]
    assert (await api.post(f"{path}/decline")).json() == {"items": []}
    await queue.drain()
    async with runtime.sessionmaker() as session:
        kinds = sorted((await session.scalars(select(Delivery.kind).where(
            Delivery.webinar_id == world.north_webinar.id))).all())
    assert kinds.count("pending") == 3 and "declined" in kinds and "waitlisted" in kinds
    assert kinds.count("invitation") == 1


async def test_registration_refused_when_closed_or_cancelled(
    client: httpx.AsyncClient, runtime: Runtime, world: World, clock: FixedClock
) -> None:
    api = Api(client, world.admin_token)
    south = f"/webinars/{world.south_webinar.id}"
    await api.patch(south, json={"registration_open": False})
    closed = await api.post(south + "/registrations", json=registration_body())
    assert (closed.status_code, closed.json()["code"]) == (409, "closed")
    federal = f"/webinars/{world.federal_webinar.id}"
    await api.post(federal + "/cancel")
    gone = await api.post(federal + "/registrations", json=registration_body())
    assert (gone.status_code, gone.json()["code"]) == (409, "cancelled")
    clock.advance(timedelta(days=6))  # the north webinar (day 5) has started
    late = await api.post(f"/webinars/{world.north_webinar.id}/registrations",
                          json=registration_body())
    assert (late.status_code, late.json()["code"]) == (409, "closed")
    async with runtime.sessionmaker() as s:
        assert await s.scalar(select(func.count(Registration.id))) == 0


async def test_duplicate_registration_race_is_a_409_not_a_500(
    client: httpx.AsyncClient, runtime: Runtime, world: World, clock: FixedClock
) -> None:
    """Another transaction inserts the same e-mail after the API looked and before it wrote.

    On PostgreSQL the API's write waits on the other transaction's row lock and then hits the
    unique constraint; SQLite takes the write lock up front, so there the API waits for the
    other transaction before it looks. Both must answer 409 and keep one registration.
    """
    on_postgresql = runtime.config.database_url.startswith("postgresql")
    api = Api(client, world.north_token)
    async with runtime.sessionmaker() as other:
        webinar = await other.get(Webinar, world.north_webinar.id)
        assert webinar is not None
        await register(other, clock, webinar, registration_input(
            registration_body(), default_locale="ru", default_timezone="Europe/Moscow"))
        request = asyncio.create_task(api.post(
            f"/webinars/{world.north_webinar.id}/registrations", json=registration_body()))
        if on_postgresql:
            async with runtime.engine.connect() as watcher:
                for _ in range(2000):  # until the API's write waits on the other transaction
                    waiting = await watcher.scalar(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                        " current_database() AND wait_event_type = 'Lock'"
                        " AND query LIKE 'UPDATE webinars%'"))
                    await watcher.rollback()
                    if waiting or request.done():
                        break
                    await asyncio.sleep(0.005)
            assert not request.done(), request.result().text
        await other.commit()
    response = await request
    assert (response.status_code, response.json()["code"]) == (409, "duplicate")
    async with runtime.sessionmaker() as s:
        assert await s.scalar(select(func.count(Registration.id))) == 1
        assert (await s.get(Webinar, world.north_webinar.id)).registered_count == 1  # type: ignore[union-attr]


async def test_unknown_routes_and_methods_answer_in_json(
    client: httpx.AsyncClient, world: World
) -> None:
    api = Api(client, world.admin_token)
    missing = await api.get("/nothing-here")
    assert missing.status_code == 404 and missing.json()["fields"] == {}
    wrong = await api.request("DELETE", f"/webinars/{world.north_webinar.id}")
    assert wrong.status_code == 405 and wrong.json()["error"]
    assert (await api.request("PUT", "/webinars")).status_code == 405


async def test_nobody_registers_for_a_draft_not_even_an_organizer(
    client: httpx.AsyncClient, world: World
) -> None:
    api = Api(client, world.admin_token)
    path = f"/webinars/{world.south_webinar.id}"
    assert (await api.patch(path, json={"status": "draft"})).status_code == 200
    refused = await api.post(f"{path}/registrations", json=registration_body())
    assert refused.status_code == 409 and refused.json()["code"] == "closed"
