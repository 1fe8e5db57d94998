"""The Telemost adapter against its fake (real HTTP over 127.0.0.1; nothing sleeps)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from integrations.base import (
    AuthError,
    HookRequest,
    InvalidRequest,
    MeetingLink,
    MeetingNotFound,
    MeetingSpec,
    NotSupported,
    Person,
    PlanRestricted,
    PlatformUnavailable,
    RateLimited,
)
from integrations.telemost import TelemostAdapter
from tests.fakes import NoWait, adapter_for
from tests.fakes.telemost import ALL_SCOPES, FakeTelemost, serve

SPEC = MeetingSpec(title="Вебинар", start=datetime(2027, 3, 1, 12, tzinfo=UTC),
                   duration=timedelta(minutes=60), idempotency_key="webinar-1@union.example")
MEMBER = Person("r17", "Анна Петрова", "anna@union.example")
HOST = Person("h3", "Иван Организатор", "ivan@union.example")
API = "/v1/telemost-api/conferences"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelemost]:
    server = await serve()
    yield server
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def telemost(fake: FakeTelemost, session: aiohttp.ClientSession, *,
             sleep: NoWait | None = None, timeout: float = 2.0,
             **changes: str) -> TelemostAdapter:
    adapter = adapter_for("telemost", fake, session,
                          credentials={**fake.credentials(), **changes},
                          sleep=sleep, timeout=timeout)
    assert isinstance(adapter, TelemostAdapter)
    return adapter


def error_body(code: str, message: str) -> str:
    return json.dumps({"error": code, "message": message, "description": message})


# --- the fake keeps the reference ------------------------------------------------------------

async def test_fake_refuses_what_telemost_refuses(fake: FakeTelemost,
                                                  session: aiohttp.ClientSession) -> None:
    url = f"{fake.url}{API}"
    body = {"waiting_room_level": "PUBLIC"}
    async with session.post(url, json=body,
                            headers={"Authorization": f"Bearer {fake.token}"}) as answer:
        assert answer.status == 401  # the scheme is OAuth, never Bearer
        assert (await answer.json())["error"] == "UnauthorizedError"
    oauth = {"Authorization": f"OAuth {fake.token}"}
    async with session.post(url, json={"waiting_room_level": "EVERYONE"},
                            headers=oauth) as answer:
        assert answer.status == 400 and "waiting_room_level" in (await answer.json())[
            "description"]
    async with session.post(url, data="waiting_room_level=PUBLIC", headers=oauth) as answer:
        assert answer.status == 415
    async with session.post(url, json={**body, "live_stream": {"title": "Эфир"}},
                            headers=oauth) as answer:
        assert answer.status == 402
        assert (await answer.json())["error"] == "PaymentRequiredToUseLiveStreams"
    async with session.post(url, json={"cohosts": ["co@union.example"]},
                            headers=oauth) as answer:
        assert answer.status == 400  # cohosts are {email} objects
    personal = fake.add_token("y0_personal", organisation=False)
    async with session.post(url, json=body,
                            headers={"Authorization": f"OAuth {personal}"}) as answer:
        assert answer.status == 403
        assert (await answer.json())["error"] == "ApiRestrictedToOrganizations"
    assert not fake.meetings


# --- conferences -----------------------------------------------------------------------------

async def test_create_sends_the_waiting_room_and_cohosts(
        fake: FakeTelemost, session: aiohttp.ClientSession) -> None:
    adapter = telemost(fake, session, cohosts=" Co@Union.example, second@union.example ,")
    link = await adapter.create(SPEC)
    assert fake.bodies == [("POST", {"waiting_room_level": "ORGANIZATION", "cohosts": [
        {"email": "co@union.example"}, {"email": "second@union.example"}]})]
    assert link.external_id in fake.meetings and link.external_id.isdigit()
    assert link.join_url == f"https://telemost.yandex.ru/j/{link.external_id}"
    assert (await adapter.get(link)).join_url == link.join_url
    await adapter.get(link)
    assert len(fake.request_ids) == 3 and len(set(fake.request_ids)) == 3  # one per request


async def test_moving_the_webinar_leaves_telemost_alone(
        fake: FakeTelemost, session: aiohttp.ClientSession) -> None:
    adapter = telemost(fake, session)
    link = await adapter.create(SPEC)
    calls = len(fake.requests)
    moved = await adapter.update(link, replace(SPEC, start=SPEC.start + timedelta(days=1),
                                               title="Перенесён"))
    assert moved == link and len(fake.requests) == calls  # nothing on Telemost holds a time


async def test_a_changed_waiting_room_or_cohost_list_is_patched(
        fake: FakeTelemost, session: aiohttp.ClientSession) -> None:
    link = await telemost(fake, session).create(SPEC)
    changed = telemost(fake, session, waiting_room="ADMINS", cohosts="new@union.example")
    moved = await changed.update(link, SPEC)
    assert moved.external_id == link.external_id and moved.join_url == link.join_url
    assert fake.bodies[-1] == ("PATCH", {"waiting_room_level": "ADMINS",
                                         "cohosts": [{"email": "new@union.example"}]})
    assert fake.meetings[link.external_id]["waiting_room_level"] == "ADMINS"
    assert await changed.update(moved, SPEC) == moved  # recorded: no second PATCH
    assert [m for m, _ in fake.bodies].count("PATCH") == 1
    legacy = MeetingLink(link.external_id, link.join_url)  # made before we recorded them
    await changed.update(legacy, SPEC)
    assert [m for m, _ in fake.bodies].count("PATCH") == 2


async def test_get_and_delete_of_a_missing_conference(
        fake: FakeTelemost, session: aiohttp.ClientSession) -> None:
    adapter = telemost(fake, session)
    link = await adapter.create(SPEC)
    await adapter.delete(link)
    assert link.external_id not in fake.meetings
    with pytest.raises(MeetingNotFound, match="ConferenceNotFound"):
        await adapter.get(link)
    await adapter.delete(link)  # already gone: done
    assert fake.requests[-1] == ("DELETE", f"{API}/{link.external_id}")


async def test_an_unknown_waiting_room_is_an_invalid_request(
        fake: FakeTelemost, session: aiohttp.ClientSession) -> None:
    with pytest.raises(InvalidRequest, match="400 FieldValidationError.*waiting_room_level"):
        await telemost(fake, session, waiting_room="EVERYONE").create(SPEC)


async def test_everyone_shares_the_join_url_and_no_callbacks(
        fake: FakeTelemost, session: aiohttp.ClientSession) -> None:
    adapter = telemost(fake, session)
    link = await adapter.create(SPEC)
    assert (await adapter.join_link(link, MEMBER)).url == link.join_url
    host = await adapter.host_link(link, HOST)
    assert host.url == link.join_url and host.platform_id is None
    with pytest.raises(NotSupported):
        await adapter.handle_hook(HookRequest({}, b"{}", {}, datetime.now(UTC)))
    with pytest.raises(NotSupported, match="clicks"):
        await adapter.attendance(link)


# --- tokens, permissions and plans -----------------------------------------------------------

async def test_an_expired_token_cannot_be_refreshed_and_says_so(
        fake: FakeTelemost, session: aiohttp.ClientSession) -> None:
    adapter = telemost(fake, session)
    link = await adapter.create(SPEC)
    fake.tokens[fake.token].expired = True
    calls = len(fake.requests)
    with pytest.raises(AuthError, match=r"OAuth token is invalid or expired \(401 "
                                        r"UnauthorizedError\).*oauth\.yandex\.ru"):
        await adapter.get(link)
    assert len(fake.requests) == calls + 1  # no pointless retry with the same token


async def test_check_names_the_exact_problem(fake: FakeTelemost,
                                             session: aiohttp.ClientSession) -> None:
    await telemost(fake, session).check()  # 404 for conference 0: the token works
    assert fake.requests[-1] == ("GET", f"{API}/0")
    with pytest.raises(AuthError, match="invalid or expired"):
        await telemost(fake, session, oauth_token="y0_unknown").check()
    personal = fake.add_token("y0_personal", organisation=False)
    with pytest.raises(PlanRestricted, match=r"only for Yandex 360 for Business organisations "
                                             r"\(403 ApiRestrictedToOrganizations\)"):
        await telemost(fake, session, oauth_token=personal).check()
    unread = fake.add_token("y0_create_only",
                            scopes=frozenset({"telemost-api:conferences.create"}))
    with pytest.raises(AuthError, match=r"telemost-api:conferences\.read \(403 ForbiddenError"):
        await telemost(fake, session, oauth_token=unread).check()


async def test_check_accepts_a_malformed_id_answer(fake: FakeTelemost,
                                                   session: aiohttp.ClientSession) -> None:
    fake.fail_next(400, error_body("BadRequestError", "id must be a conference id"))
    await telemost(fake, session).check()


async def test_each_operation_names_its_missing_scope(fake: FakeTelemost,
                                                      session: aiohttp.ClientSession) -> None:
    link = await telemost(fake, session).create(SPEC)
    token = fake.add_token("y0_partial", scopes=ALL_SCOPES - {
        "telemost-api:conferences.create", "telemost-api:conferences.delete"})
    adapter = telemost(fake, session, oauth_token=token)
    with pytest.raises(AuthError, match=r"conferences\.create"):
        await adapter.create(SPEC)
    with pytest.raises(AuthError, match=r"conferences\.delete"):
        await adapter.delete(link)
    assert link.external_id in fake.meetings


async def test_payment_required_is_a_plan_restriction(fake: FakeTelemost,
                                                      session: aiohttp.ClientSession) -> None:
    fake.fail_next(402, error_body("PaymentRequiredToUseLiveStreams", "Payment required"))
    with pytest.raises(PlanRestricted, match="live streams need a paid Yandex 360 plan"):
        await telemost(fake, session).create(SPEC)


# --- transport -------------------------------------------------------------------------------

async def test_429_waits_out_retry_after_or_backs_off(fake: FakeTelemost,
                                                      session: aiohttp.ClientSession) -> None:
    sleep = NoWait()
    fake.fail_next(429, headers={"Retry-After": "2"})
    fake.fail_next(429)
    link = await telemost(fake, session, sleep=sleep).create(SPEC)
    assert sleep.pauses == [2.0, 1.0] and link.external_id in fake.meetings


async def test_a_long_retry_after_is_handed_to_the_job(fake: FakeTelemost,
                                                       session: aiohttp.ClientSession) -> None:
    fake.fail_next(429, headers={"Retry-After": "600"})
    with pytest.raises(RateLimited) as caught:
        await telemost(fake, session).create(SPEC)
    assert caught.value.retry_after == 600.0 and not fake.meetings


async def test_5xx_is_retried_then_unavailable(fake: FakeTelemost,
                                               session: aiohttp.ClientSession) -> None:
    sleep = NoWait()
    adapter = telemost(fake, session, sleep=sleep)
    fake.fail_next(500)
    with pytest.raises(PlatformUnavailable, match="HTTP 500"):
        await adapter.create(SPEC)  # Telemost may have made it: only the job may try again
    assert sleep.pauses == [] and not fake.meetings
    link = await adapter.create(SPEC)
    fake.fail_next(500)
    assert (await adapter.get(link)).external_id == link.external_id  # a read is retried
    for _ in range(4):
        fake.fail_next(503)
    with pytest.raises(PlatformUnavailable, match="HTTP 503"):
        await adapter.get(link)
    assert sleep.pauses == [0.5, 0.5, 1.0, 2.0] and len(fake.meetings) == 1


async def test_a_hanging_telemost_is_unavailable(fake: FakeTelemost,
                                                 session: aiohttp.ClientSession) -> None:
    for _ in range(4):
        fake.fail_next(hang=True)
    with pytest.raises(PlatformUnavailable, match="no answer in time"):
        await telemost(fake, session, timeout=0.2).create(SPEC)


@pytest.mark.parametrize("body", ["<html>502</html>", '{"join_url": "https://x"}',
                                  '{"id": "1"}', '["78566269088286"]'])
async def test_a_malformed_answer_is_unavailable(fake: FakeTelemost,
                                                 session: aiohttp.ClientSession,
                                                 body: str) -> None:
    fake.fail_next(201, body)
    with pytest.raises(PlatformUnavailable, match="JSON|malformed"):
        await telemost(fake, session).create(SPEC)
