"""MTS Link adapter against its fake (real HTTP over 127.0.0.1)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from integrations.base import (
    MEETING_ENDED,
    MEETING_STARTED,
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
    RECORDING_READY,
    AuthError,
    BadSignature,
    HookRequest,
    InvalidRequest,
    MeetingLink,
    MeetingNotFound,
    MeetingSpec,
    Person,
    PlanRestricted,
    PlatformUnavailable,
    RateLimited,
)
from integrations.mts_link import MTS_TIMEZONES, MtsLinkAdapter, iso_duration
from tests.fakes import NoWait, adapter_for
from tests.fakes.mts_link import FakeMtsLink, serve

SPEC = MeetingSpec(title="Вебинар профкома", start=datetime(2027, 3, 1, 12, tzinfo=UTC),
                   duration=timedelta(minutes=90), description="Повестка",
                   idempotency_key="webinar-1@union.example", timezone="Europe/Moscow")
ANNA = Person("r17", "Анна Петрова", "anna@union.example")
BORIS = Person("r18", "Борис", "boris@union.example")
ERROR = json.dumps({"error": {"message": "name is too long", "code": 400}})


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def fake() -> AsyncIterator[FakeMtsLink]:
    server = await serve()
    yield server
    await server.close()


def make(fake: FakeMtsLink, http: aiohttp.ClientSession, **kw: Any) -> MtsLinkAdapter:
    adapter = adapter_for("mts_link", fake, http, **kw)
    assert isinstance(adapter, MtsLinkAdapter)
    return adapter


def received(headers: dict[str, str], body: bytes, query: dict[str, str],
             method: str) -> HookRequest:
    return HookRequest(headers=headers, body=body, query=query,
                       received_at=datetime.now(UTC), method=method)


# --- the fake refuses what MTS Link refuses ----------------------------------------------

async def test_fake_refuses_missing_key_json_bodies_and_missing_fields(
        fake: FakeMtsLink, http: aiohttp.ClientSession) -> None:
    api = fake.endpoints()["api"]
    form = {"name": "x", "startsAt[date][year]": "2027", "startsAt[date][month]": "3",
            "startsAt[date][day]": "1", "startsAt[time][hour]": "12",
            "startsAt[time][minute]": "0"}
    async with http.post(f"{api}/events", data=form) as r:
        assert r.status == 401 and "error" in await r.json()
    async with http.post(f"{api}/events", data=form, headers={"x-auth-token": "nope"}) as r:
        assert r.status == 401
    key = {"x-auth-token": FakeMtsLink.API_KEY}
    async with http.post(f"{api}/events", json=form, headers=key) as r:
        assert r.status == 400 and "x-www-form-urlencoded" in (await r.json())["error"]["message"]
    async with http.post(f"{api}/events", data={**form, "name": ""}, headers=key) as r:
        assert r.status == 400
    without_hour = {k: v for k, v in form.items() if k != "startsAt[time][hour]"}
    async with http.post(f"{api}/events", data=without_hour, headers=key) as r:
        assert r.status == 400 and "startsAt" in (await r.json())["error"]["message"]
    async with http.post(f"{api}/events", data={**form, "duration": "90"}, headers=key) as r:
        assert r.status == 400
    async with http.post(f"{api}/events", data=form, headers=key) as r:
        assert r.status == 201 and "eventId" in await r.json()


# --- create / get / update / delete ------------------------------------------------------

async def test_create_makes_an_event_and_its_session_in_the_events_zone(
        fake: FakeMtsLink, http: aiohttp.ClientSession) -> None:
    link = await make(fake, http).create(SPEC)
    session = fake.meetings[link.external_id]
    assert link.extra["event_id"] == str(session.event_id)
    assert link.join_url == fake.link(session)
    event = fake.events[session.event_id]
    assert event.fields["name"] == SPEC.title and event.fields["access"] == "4"
    assert event.fields["duration"] == "PT1H30M0S" and event.fields["type"] == "webinar"
    assert event.fields["lang"] == "RU" and event.fields["description"] == "Повестка"
    assert event.fields["timezone"] == str(MTS_TIMEZONES["Europe/Moscow"])
    assert event.fields["startsAt[time][hour]"] == "15"  # 12:00 UTC is 15:00 in Moscow
    assert session.starts_at == SPEC.start


async def test_a_zone_missing_from_the_table_is_sent_as_moscow_time(
        fake: FakeMtsLink, http: aiohttp.ClientSession) -> None:
    spec = MeetingSpec(**{**SPEC.__dict__, "timezone": "America/New_York"})
    link = await make(fake, http).create(spec)
    assert link.extra["timezone"] == "Europe/Moscow"
    assert fake.meetings[link.external_id].starts_at == SPEC.start  # the same instant


def test_durations_are_iso_8601() -> None:
    assert iso_duration(timedelta(minutes=90)) == "PT1H30M0S"
    assert iso_duration(timedelta(hours=2, seconds=5)) == "PT2H0M5S"


@pytest.mark.parametrize("status", [400, 500])
async def test_a_failed_session_leaves_no_orphan_event(
        fake: FakeMtsLink, http: aiohttp.ClientSession, status: int) -> None:
    for _ in range(4):
        fake.fail_next(status, ERROR, path_contains="/sessions")
    with pytest.raises(InvalidRequest if status == 400 else PlatformUnavailable):
        await make(fake, http).create(SPEC)
    assert fake.events == {} and fake.meetings == {}
    assert any(m == "DELETE" and "/organization/events/" in p for m, p in fake.requests)


async def test_get_update_delete(fake: FakeMtsLink, http: aiohttp.ClientSession) -> None:
    adapter = make(fake, http)
    link = await adapter.create(SPEC)
    assert (await adapter.get(link)).extra["event_id"] == link.extra["event_id"]
    moved = await adapter.update(link, MeetingSpec(**{**SPEC.__dict__, "title": "Перенесён",
                                                      "start": SPEC.start + timedelta(days=2)}))
    assert moved.external_id == link.external_id and moved.join_url == link.join_url
    session = fake.meetings[link.external_id]
    assert session.starts_at == SPEC.start + timedelta(days=2) and session.name == "Перенесён"
    await adapter.delete(moved)
    assert fake.events == {}
    await adapter.delete(moved)  # already gone: done
    with pytest.raises(MeetingNotFound):
        await adapter.get(moved)
    with pytest.raises(MeetingNotFound):
        await adapter.update(moved, SPEC)


async def test_delete_without_the_event_id_finds_it_through_the_session(
        fake: FakeMtsLink, http: aiohttp.ClientSession) -> None:
    adapter = make(fake, http)
    link = await adapter.create(SPEC)
    await adapter.delete(MeetingLink(link.external_id, link.join_url))
    assert fake.events == {}
    await adapter.delete(MeetingLink(link.external_id, link.join_url))


# --- people and attendance ---------------------------------------------------------------

async def test_members_are_registered_with_their_own_link(
        fake: FakeMtsLink, http: aiohttp.ClientSession) -> None:
    adapter = make(fake, http)
    link = await adapter.create(SPEC)
    anna = await adapter.join_link(link, ANNA)
    boris = await adapter.join_link(link, BORIS)
    assert anna.platform_id and anna.platform_id != boris.platform_id
    assert anna.url != boris.url and anna.url.startswith(link.join_url)
    stored = fake.meetings[link.external_id].participations["anna@union.example"]
    assert (stored.name, stored.second_name) == ("Анна", "Петрова")
    assert (await adapter.join_link(link, ANNA)).platform_id == anna.platform_id
    assert (await adapter.host_link(link, ANNA)).url == link.join_url
    with pytest.raises(MeetingNotFound):
        await adapter.join_link(MeetingLink("999999", link.join_url), ANNA)


async def test_attendance_reports_who_visited_by_participation_id(
        fake: FakeMtsLink, http: aiohttp.ClientSession) -> None:
    adapter = make(fake, http)
    link = await adapter.create(SPEC)
    anna = await adapter.join_link(link, ANNA)
    await adapter.join_link(link, BORIS)
    assert await adapter.attendance(link) == []
    fake.attend(link.external_id, ANNA.email)
    events = await adapter.attendance(link)
    assert [(e.kind, e.participant_id, e.participant_name) for e in events] == [
        (PARTICIPANT_JOINED, anna.platform_id, "Анна Петрова")]
    assert (await adapter.attendance(link))[0].dedupe_key == events[0].dedupe_key


# --- errors ------------------------------------------------------------------------------

async def test_a_bad_key_is_final_after_one_call(fake: FakeMtsLink,
                                                 http: aiohttp.ClientSession) -> None:
    adapter = make(fake, http, credentials={"api_key": "revoked"})
    with pytest.raises(AuthError, match="invalid or revoked.*Бизнес → API"):
        await adapter.create(SPEC)
    assert len(fake.requests) == 1  # a static key: nothing to refresh, no retry


async def test_check_names_the_problem(fake: FakeMtsLink, http: aiohttp.ClientSession) -> None:
    await make(fake, http).check()
    with pytest.raises(AuthError, match="invalid or revoked"):
        await make(fake, http, credentials={"api_key": "wrong"}).check()
    with pytest.raises(AuthError, match="no access.*access list"):
        await make(fake, http, credentials={"api_key": FakeMtsLink.LIMITED_KEY}).check()
    with pytest.raises(AuthError, match="no API key"):
        await make(fake, http, credentials={"api_key": ""}).check()
    fake.api_tariff = False
    with pytest.raises(PlanRestricted, match="tariff"):
        await make(fake, http).check()


async def test_4xx_bodies_are_mapped(fake: FakeMtsLink, http: aiohttp.ClientSession) -> None:
    adapter = make(fake, http)
    fake.fail_next(400, ERROR)
    with pytest.raises(InvalidRequest, match="name is too long"):
        await adapter.create(SPEC)
    fake.fail_next(422, json.dumps({"error": {"message": "bad startsAt", "code": 422}}))
    with pytest.raises(InvalidRequest, match="bad startsAt"):
        await adapter.create(SPEC)
    fake.fail_next(402, json.dumps({"error": {"message": "Payment required"}}))
    with pytest.raises(PlanRestricted):
        await adapter.create(SPEC)


async def test_429_waits_out_a_short_retry_after_and_hands_over_a_long_one(
        fake: FakeMtsLink, http: aiohttp.ClientSession) -> None:
    sleep = NoWait()
    adapter = make(fake, http, sleep=sleep)
    fake.fail_next(429, headers={"Retry-After": "3"})
    fake.fail_next(429)
    await adapter.check()
    assert sleep.pauses == [3.0, 1.0]  # Retry-After, then the back-off of the 2nd attempt
    fake.fail_next(429, headers={"Retry-After": "120"})
    with pytest.raises(RateLimited) as caught:
        await adapter.check()
    assert caught.value.retry_after == 120.0


async def test_5xx_is_retried_then_unavailable(fake: FakeMtsLink,
                                               http: aiohttp.ClientSession) -> None:
    sleep = NoWait()
    adapter = make(fake, http, sleep=sleep)
    fake.fail_next(502)
    await adapter.check()
    for _ in range(4):
        fake.fail_next(503)
    with pytest.raises(PlatformUnavailable, match="HTTP 503"):
        await adapter.check()
    assert sleep.pauses == [0.5, 0.5, 1.0, 2.0]


async def test_a_hanging_platform_is_unavailable(fake: FakeMtsLink,
                                                 http: aiohttp.ClientSession) -> None:
    adapter = make(fake, http, timeout=0.1)
    for _ in range(4):
        fake.fail_next(hang=True)
    with pytest.raises(PlatformUnavailable, match="no answer in time"):
        await adapter.check()


@pytest.mark.parametrize("body", ["{}", "<html>oops</html>", '{"eventId": {"x": 1}}'])
async def test_a_malformed_answer_is_unavailable(fake: FakeMtsLink, http: aiohttp.ClientSession,
                                                 body: str) -> None:
    fake.fail_next(201, body, path_contains="/events")
    with pytest.raises(PlatformUnavailable):
        await make(fake, http).create(SPEC)


# --- webhooks ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", [PARTICIPANT_JOINED, PARTICIPANT_LEFT, MEETING_STARTED,
                                  MEETING_ENDED, RECORDING_READY])
async def test_webhooks_are_normalised(fake: FakeMtsLink, http: aiohttp.ClientSession,
                                       kind: str) -> None:
    adapter = make(fake, http)
    link = await adapter.create(SPEC)
    anna = await adapter.join_link(link, ANNA)
    person = kind in (PARTICIPANT_JOINED, PARTICIPANT_LEFT)
    hook = fake.hook(kind, link, anna.platform_id if person else None,
                     recording_url="https://records.mts-link.ru/r/1" if kind == RECORDING_READY
                     else None)
    reply = await adapter.handle_hook(received(*hook))
    assert reply.status == 200 and len(reply.events) == 1
    event = reply.events[0]
    assert (event.kind, event.external_id) == (kind, link.external_id)
    assert event.participant_id == (anna.platform_id if person else None)
    assert event.participant_name == ("Анна Петрова" if person else None)
    assert event.recording_url == ("https://records.mts-link.ru/r/1"
                                   if kind == RECORDING_READY else None)
    again = await adapter.handle_hook(received(*hook))
    assert again.events[0].dedupe_key == event.dedupe_key  # a re-sent hook is the same event


async def test_different_people_and_times_make_different_events(
        fake: FakeMtsLink, http: aiohttp.ClientSession) -> None:
    adapter = make(fake, http)
    link = MeetingLink("7001", "https://my.mts-link.ru/j/1/7001")
    keys = set()
    for body in ({"event": "participation.joined", "eventSessionId": 7001,
                  "participationId": 1, "timestamp": "2027-03-01T12:00:00Z"},
                 {"event": "participation.joined", "eventSessionId": 7001,
                  "participationId": 2, "timestamp": "2027-03-01T12:00:00Z"},
                 {"event": "participation.left", "eventSessionId": 7001,
                  "participationId": 1, "timestamp": "2027-03-01T12:00:00Z"},
                 {"event": "participation.joined", "eventSessionId": 7001,  # came back
                  "participationId": 1, "timestamp": 1803906000}):
        reply = await adapter.handle_hook(received({}, json.dumps(body).encode(), {}, "POST"))
        keys.add(reply.events[0].dedupe_key)
        assert reply.events[0].occurred_at.year == 2027
    assert len(keys) == 4 and link.external_id == "7001"


async def test_hooks_that_are_not_mts_link_json_are_refused(
        fake: FakeMtsLink, http: aiohttp.ClientSession) -> None:
    adapter = make(fake, http)
    with pytest.raises(BadSignature):
        await adapter.handle_hook(received({}, b"event=x", {}, "POST"))
    with pytest.raises(BadSignature):
        await adapter.handle_hook(received({}, b"[1, 2]", {}, "POST"))
    with pytest.raises(BadSignature):
        await adapter.handle_hook(received({}, b"", {}, "GET"))
    ignored = json.dumps({"event": "event.beforeReminder.sent", "eventSessionId": 1}).encode()
    assert (await adapter.handle_hook(received({}, ignored, {}, "POST"))).events == ()
