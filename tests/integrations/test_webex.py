"""The Webex adapter against its fake (real HTTP over 127.0.0.1; nothing sleeps)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

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
    NotSupported,
    Person,
    PlatformUnavailable,
    RateLimited,
)
from integrations.webex import WebexAdapter
from tests.fakes import NoWait, adapter_for
from tests.fakes.webex import FakeWebex, serve

SPEC = MeetingSpec(title="Вебинар о профсоюзе", start=datetime(2027, 3, 1, 12, tzinfo=UTC),
                   duration=timedelta(minutes=90), description="Повестка",
                   idempotency_key="webinar-1@union.example", timezone="Europe/Moscow")
MEMBER = Person("r17", "Анна Петрова", "anna@union.example")
HOST = Person("h3", "Иван Организатор", "ivan@union.example")
NOW = datetime(2027, 3, 1, 12, 0, 10, tzinfo=UTC)


@pytest.fixture
async def fake() -> AsyncIterator[FakeWebex]:
    server = await serve()
    yield server
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def webex(fake: FakeWebex, session: aiohttp.ClientSession, *, sleep: NoWait | None = None,
          timeout: float = 2.0, **changes: str) -> WebexAdapter:
    adapter = adapter_for("webex", fake, session, credentials={**fake.credentials(), **changes},
                          sleep=sleep, timeout=timeout)
    assert isinstance(adapter, WebexAdapter)
    return adapter


def received(headers: dict[str, str], body: bytes, query: dict[str, str],
             method: str, at: datetime = NOW) -> HookRequest:
    return HookRequest(headers={k.lower(): v for k, v in headers.items()}, body=body,
                       query=query, received_at=at, method=method)


# --- the fake keeps the reference ------------------------------------------------------------

async def test_fake_refuses_what_webex_refuses(fake: FakeWebex,
                                               session: aiohttp.ClientSession) -> None:
    token_url = f"{fake.url}/v1/access_token"
    form = {"grant_type": "refresh_token", "client_id": fake.client_id,
            "client_secret": fake.client_secret, "refresh_token": fake.refresh_token}
    async with session.post(token_url, json=form) as answer:  # JSON, not a form
        assert answer.status == 400
    async with session.post(token_url, data=form) as answer:
        token = (await answer.json())["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    async with session.post(f"{fake.url}/v1/meetings", json={"title": "x"}) as answer:
        assert answer.status == 401  # no token
    async with session.post(f"{fake.url}/v1/meetings", headers=bearer,
                            json={"title": "x", "start": "2027-03-01T12:00:00Z"}) as answer:
        assert answer.status == 400 and "end" in (await answer.json())["message"]
    async with session.post(f"{fake.url}/v1/meetings", headers=bearer, json={
            "title": "x" * 129, "start": "2027-03-01T12:00:00Z",
            "end": "2027-03-01T13:00:00Z"}) as answer:
        assert answer.status == 400
    async with session.post(f"{fake.url}/v1/meetings", headers=bearer, data="title=x") as answer:
        assert answer.status == 415
    link = await webex(fake, session).create(SPEC)
    async with session.put(f"{fake.url}/v1/meetings/{link.external_id}", headers=bearer, json={
            "title": "x", "start": "2027-03-01T12:00:00Z",
            "end": "2027-03-01T13:00:00Z"}) as answer:  # PUT is a full replace: no password
        assert answer.status == 400 and "password" in (await answer.json())["message"]


# --- meetings --------------------------------------------------------------------------------

async def test_create_sends_the_reference_fields(fake: FakeWebex,
                                                 session: aiohttp.ClientSession) -> None:
    long = replace(SPEC, title="Т" * 200)
    link = await webex(fake, session, host_email="ivan@union.example").create(long)
    meeting = fake.meetings[link.external_id]
    assert meeting["title"] == "Т" * 128
    assert meeting["start"] == "2027-03-01T12:00:00Z" and meeting["end"] == "2027-03-01T13:30:00Z"
    assert meeting["timezone"] == "Europe/Moscow" and meeting["agenda"] == "Повестка"
    assert meeting["enabledJoinBeforeHost"] is False
    assert meeting["hostEmail"] == "ivan@union.example"
    assert link.join_url == meeting["webLink"]
    assert link.extra == {"meetingNumber": meeting["meetingNumber"],
                          "password": meeting["password"]}


async def test_update_moves_the_same_meeting_keeping_its_password(
        fake: FakeWebex, session: aiohttp.ClientSession) -> None:
    adapter = webex(fake, session)
    link = await adapter.create(SPEC)
    fake.meetings[link.external_id]["password"] = "Secret42"
    bare = MeetingLink(link.external_id, link.join_url)  # no password kept: read it first
    moved = await adapter.update(bare, replace(SPEC, start=SPEC.start + timedelta(days=1),
                                               title="Перенесён"))
    meeting = fake.meetings[link.external_id]
    assert moved.external_id == link.external_id and moved.join_url == link.join_url
    assert meeting["start"] == "2027-03-02T12:00:00Z" and meeting["title"] == "Перенесён"
    assert meeting["password"] == "Secret42"
    assert ("GET", f"/v1/meetings/{link.external_id}") in fake.requests


async def test_get_and_delete_of_a_missing_meeting(fake: FakeWebex,
                                                   session: aiohttp.ClientSession) -> None:
    adapter = webex(fake, session)
    gone = MeetingLink("0" * 32, "https://union.webex.com/union/j.php?MTID=m0")
    with pytest.raises(MeetingNotFound):
        await adapter.get(gone)
    await adapter.delete(gone)  # done, not an error
    assert ("DELETE", f"/v1/meetings/{'0' * 32}") in fake.requests


async def test_a_refused_field_is_an_invalid_request_with_webex_words(
        fake: FakeWebex, session: aiohttp.ClientSession) -> None:
    fake.fail_next(400, json.dumps({"message": "start cannot be in the past",
                                    "errors": [{"description": "start cannot be in the past"}],
                                    "trackingId": "ROUTER_1"}), path_contains="/meetings")
    with pytest.raises(InvalidRequest, match="start cannot be in the past.*ROUTER_1"):
        await webex(fake, session).create(SPEC)


# --- links -----------------------------------------------------------------------------------

async def test_join_link_is_personal_and_host_link_fresh(fake: FakeWebex,
                                                         session: aiohttp.ClientSession) -> None:
    adapter = webex(fake, session)
    link = await adapter.create(SPEC)
    joined = await adapter.join_link(link, MEMBER)
    sent = fake.join_requests[-1]
    assert sent["meetingId"] == link.external_id and sent["email"] == MEMBER.email
    assert sent["displayName"] == MEMBER.name and sent["joinDirectly"] is False
    assert sent["createJoinLinkAsWebLink"] is True
    assert joined.url.startswith(link.join_url) and joined.url != link.join_url
    assert joined.platform_id is None and joined.expires_at is None
    first, second = await adapter.host_link(link, HOST), await adapter.host_link(link, HOST)
    assert fake.join_requests[-1]["email"] == HOST.email
    assert first.url != second.url  # fetched on each click
    assert first.expires_at is not None and first.expires_at > datetime.now(UTC)


async def test_no_start_link_means_the_account_is_not_the_host(
        fake: FakeWebex, session: aiohttp.ClientSession) -> None:
    adapter = webex(fake, session)
    link = await adapter.create(SPEC)
    fake.fail_next(200, json.dumps({"joinLink": "https://union.webex.com/j"}),
                   headers={"Content-Type": "application/json"}, path_contains="/join")
    with pytest.raises(AuthError, match="neither the host nor a cohost"):
        await adapter.host_link(link, HOST)


# --- tokens and permissions ------------------------------------------------------------------

async def test_an_expired_token_is_refreshed_once_then_works(
        fake: FakeWebex, session: aiohttp.ClientSession) -> None:
    adapter = webex(fake, session)
    link = await adapter.create(SPEC)
    await adapter.get(link)
    assert fake.token_requests == 1  # cached between calls
    fake.expire_tokens()
    assert (await adapter.get(link)).external_id == link.external_id
    assert fake.token_requests == 2


async def test_a_token_refused_after_refresh_is_an_auth_error(
        fake: FakeWebex, session: aiohttp.ClientSession) -> None:
    adapter = webex(fake, session)
    body = json.dumps({"message": "The request requires a valid access token"})
    fake.fail_next(401, body, path_contains="/meetings")
    fake.fail_next(401, body, path_contains="/meetings")
    with pytest.raises(AuthError, match="even after refreshing.*reconnect Webex"):
        await adapter.create(SPEC)
    assert fake.token_requests == 2 and not fake.meetings


async def test_check_names_the_exact_problem(fake: FakeWebex,
                                             session: aiohttp.ClientSession) -> None:
    await webex(fake, session).check()
    assert ("GET", "/v1/meetings?max=1") in fake.requests
    with pytest.raises(AuthError, match=r"^reconnect Webex: the client ID or client secret is "
                                        r"wrong \(invalid_client\)"):
        await webex(fake, session, client_secret="wrong").check()
    with pytest.raises(AuthError, match=r"^reconnect Webex: the refresh token is invalid, "
                                        r"revoked or expired \(invalid_grant\)"):
        await webex(fake, session, refresh_token="revoked").check()
    fake.scopes.discard("meeting:schedules_read")
    with pytest.raises(AuthError, match="missing permission.*meeting:schedules_read"):
        await webex(fake, session).check()


async def test_a_missing_write_scope_is_named(fake: FakeWebex,
                                              session: aiohttp.ClientSession) -> None:
    fake.scopes.discard("meeting:schedules_write")
    with pytest.raises(AuthError, match="meeting:schedules_write"):
        await webex(fake, session).create(SPEC)


# --- transport -------------------------------------------------------------------------------

async def test_429_waits_out_retry_after_or_backs_off(fake: FakeWebex,
                                                      session: aiohttp.ClientSession) -> None:
    sleep = NoWait()
    adapter = webex(fake, session, sleep=sleep)
    fake.fail_next(429, headers={"Retry-After": "3"}, path_contains="/meetings")
    fake.fail_next(429, path_contains="/meetings")
    link = await adapter.create(SPEC)
    assert sleep.pauses == [3.0, 1.0]  # Retry-After, then back-off (0.5 * 2 ** 1)
    assert link.external_id in fake.meetings


async def test_a_long_retry_after_is_handed_to_the_job(fake: FakeWebex,
                                                       session: aiohttp.ClientSession) -> None:
    sleep = NoWait()
    fake.fail_next(429, headers={"Retry-After": "120"}, path_contains="/meetings")
    with pytest.raises(RateLimited) as caught:
        await webex(fake, session, sleep=sleep).create(SPEC)
    assert caught.value.retry_after == 120.0 and sleep.pauses == []
    assert not fake.meetings


async def test_5xx_is_retried_then_unavailable(fake: FakeWebex,
                                               session: aiohttp.ClientSession) -> None:
    sleep = NoWait()
    adapter = webex(fake, session, sleep=sleep)
    fake.fail_next(502, path_contains="/meetings")
    with pytest.raises(PlatformUnavailable, match="HTTP 502"):
        await adapter.create(SPEC)  # Webex may have made it: only the job may try again
    assert sleep.pauses == [] and not fake.meetings
    link = await adapter.create(SPEC)
    fake.fail_next(502, path_contains="/meetings")
    assert (await adapter.get(link)).external_id == link.external_id  # a read is retried
    for _ in range(4):
        fake.fail_next(503, path_contains="/meetings")
    with pytest.raises(PlatformUnavailable, match="HTTP 503"):
        await adapter.get(link)
    assert sleep.pauses == [0.5, 0.5, 1.0, 2.0] and len(fake.meetings) == 1


async def test_a_hanging_webex_is_unavailable(fake: FakeWebex,
                                              session: aiohttp.ClientSession) -> None:
    adapter = webex(fake, session, timeout=0.2)
    await adapter.check()  # the token is cached: only the meeting call hangs
    for _ in range(4):
        fake.fail_next(hang=True, path_contains="/meetings")
    with pytest.raises(PlatformUnavailable, match="no answer in time"):
        await adapter.create(SPEC)


@pytest.mark.parametrize("body", ["<html>gateway</html>", '{"title": "no id"}', "[]"])
async def test_a_malformed_meeting_answer_is_unavailable(
        fake: FakeWebex, session: aiohttp.ClientSession, body: str) -> None:
    fake.fail_next(200, body, path_contains="/meetings")
    with pytest.raises(PlatformUnavailable, match="JSON|malformed"):
        await webex(fake, session).create(SPEC)


async def test_a_malformed_token_answer_is_unavailable(fake: FakeWebex,
                                                       session: aiohttp.ClientSession) -> None:
    fake.fail_next(200, '{"expires_in": 3600}', path_contains="/access_token")
    with pytest.raises(PlatformUnavailable, match="no access_token"):
        await webex(fake, session).check()


# --- webhooks --------------------------------------------------------------------------------

def test_the_reference_signature_vector() -> None:
    body = b'{"eventType":"PARTICIPANT_JOINED"}'
    assert hmac.new(b"test_secret", body, hashlib.sha1).hexdigest() == \
        "81fdf13e0ad0569ef510816a58a9300f2e2e3c86"


async def test_the_reference_vector_is_accepted_by_the_adapter(
        fake: FakeWebex, session: aiohttp.ClientSession) -> None:
    adapter = webex(fake, session, webhook_secret="test_secret")
    body = b'{"eventType":"PARTICIPANT_JOINED"}'
    good = {"X-Spark-Signature": "81fdf13e0ad0569ef510816a58a9300f2e2e3c86"}
    reply = await adapter.handle_hook(received(good, body, {}, "POST"))
    assert reply.status == 400 and reply.events == ()  # genuine, but no Webex envelope
    with pytest.raises(BadSignature):
        await adapter.handle_hook(received(good, body.replace(b"JOINED", b"LEFT"), {}, "POST"))


@pytest.mark.parametrize(("kind", "name"), [
    (PARTICIPANT_JOINED, "Анна Петрова"), (PARTICIPANT_LEFT, "Анна Петрова"),
    (MEETING_STARTED, None), (MEETING_ENDED, None), (RECORDING_READY, None)])
async def test_signed_callbacks_become_events(fake: FakeWebex, session: aiohttp.ClientSession,
                                              kind: str, name: str | None) -> None:
    adapter = webex(fake, session)
    link = await adapter.create(SPEC)
    recording = "https://union.webex.com/recordingservice/sites/union/recording/play/1"
    reply = await adapter.handle_hook(received(*fake.hook(
        kind, link, MEMBER.id, recording_url=recording)))
    assert reply.status == 200
    [event] = reply.events
    assert event.kind == kind and event.external_id == link.external_id
    assert event.participant_id is None  # Webex echoes no id of ours; e-mails never match
    assert event.participant_name == name
    assert event.recording_url == (recording if kind == RECORDING_READY else None)
    assert event.occurred_at.tzinfo is not None and event.occurred_at != NOW


async def test_a_recording_without_its_address_still_counts(
        fake: FakeWebex, session: aiohttp.ClientSession) -> None:
    adapter = webex(fake, session)
    link = await adapter.create(SPEC)
    [event] = (await adapter.handle_hook(received(*fake.hook(RECORDING_READY, link)))).events
    assert event.kind == RECORDING_READY and event.recording_url is None


async def test_bad_or_missing_signatures_are_refused(fake: FakeWebex,
                                                     session: aiohttp.ClientSession) -> None:
    adapter = webex(fake, session)
    link = await adapter.create(SPEC)
    headers, body, query, method = fake.hook(PARTICIPANT_JOINED, link)
    with pytest.raises(BadSignature, match="missing or wrong"):
        await adapter.handle_hook(received({**headers, "X-Spark-Signature": "0" * 40},
                                           body, query, method))
    with pytest.raises(BadSignature):
        await adapter.handle_hook(received({"Content-Type": "application/json"},
                                           body, query, method))
    with pytest.raises(BadSignature):  # the body was altered after signing
        await adapter.handle_hook(received(headers, body.replace(b"joined", b"left"),
                                           query, method))
    with pytest.raises(BadSignature, match="no webhook secret"):
        await webex(fake, session, webhook_secret="").handle_hook(
            received(headers, body, query, method))


async def test_a_resent_callback_has_the_same_dedupe_key(
        fake: FakeWebex, session: aiohttp.ClientSession) -> None:
    """Webex sends no timestamp header: a replay, even days later, cannot be refused by age;
    its dedupe key is what keeps it from counting twice."""
    adapter = webex(fake, session)
    link = await adapter.create(SPEC)
    callback = fake.hook(PARTICIPANT_JOINED, link)
    [first] = (await adapter.handle_hook(received(*callback))).events
    [again] = (await adapter.handle_hook(received(*callback, at=NOW + timedelta(days=3)))).events
    assert first.dedupe_key == again.dedupe_key
    [left] = (await adapter.handle_hook(received(*fake.hook(PARTICIPANT_LEFT, link)))).events
    [other] = (await adapter.handle_hook(received(*fake.hook(PARTICIPANT_JOINED, link,
                                                             name="Пётр")))).events
    [rejoined] = (await adapter.handle_hook(received(*fake.hook(
        PARTICIPANT_JOINED, link, at=datetime(2027, 3, 1, 12, 30, tzinfo=UTC))))).events
    assert rejoined.occurred_at == datetime(2027, 3, 1, 12, 30, tzinfo=UTC)
    assert len({first.dedupe_key, left.dedupe_key, other.dedupe_key, rejoined.dedupe_key}) == 4


async def test_unrelated_webex_events_are_acknowledged_without_events(
        fake: FakeWebex, session: aiohttp.ClientSession) -> None:
    adapter = webex(fake, session)
    body = json.dumps({"id": "w1", "resource": "meetings", "event": "updated",
                       "data": {"id": "a" * 32}}).encode()
    reply = await adapter.handle_hook(received({"X-Spark-Signature": fake.sign(body)}, body,
                                               {}, "POST"))
    assert reply.status == 200 and reply.events == ()


async def test_attendance_comes_from_webhooks(fake: FakeWebex,
                                              session: aiohttp.ClientSession) -> None:
    adapter = webex(fake, session)
    with pytest.raises(NotSupported, match="webhooks"):
        await adapter.attendance(MeetingLink("x", "https://union.webex.com/meet/x"))
