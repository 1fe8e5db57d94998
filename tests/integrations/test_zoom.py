"""The Zoom adapter against the fake Zoom (tests/fakes/zoom.py) over real HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
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
    InvalidState,
    MeetingLink,
    MeetingNotFound,
    MeetingSpec,
    NotSupported,
    Person,
    PlanRestricted,
    PlatformUnavailable,
    QuotaExceeded,
    RateLimited,
)
from integrations.http import AdapterContext, PlatformHttp, TokenCache, until_midnight_utc
from integrations.zoom import ZoomAdapter, encrypted_token, signature
from tests.fakes import NoWait
from tests.fakes.zoom import FakeZoom, serve

SPEC = MeetingSpec(title="Вебинар профсоюза", start=datetime(2027, 3, 1, 15, tzinfo=UTC),
                   duration=timedelta(minutes=90), description="Повестка",
                   idempotency_key="webinar-1@union.example", timezone="Europe/Moscow")
ANNA = Person("r17", "Анна Петрова", "anna@union.example")
IVAN = Person("h3", "Иван Организатор", "ivan@union.example")
ERR_124 = json.dumps({"code": 124, "message": "Invalid access token."})


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def fake() -> AsyncIterator[FakeZoom]:
    server = await serve()
    yield server
    await server.close()


def zoom(fake: FakeZoom, http: aiohttp.ClientSession, *, sleep: NoWait | None = None,
         timeout: float = 2.0, now: datetime | None = None, tokens: TokenCache | None = None,
         **credentials: str) -> ZoomAdapter:
    clock = (lambda: now) if now is not None else (lambda: datetime.now(UTC))
    return ZoomAdapter(AdapterContext(
        http=PlatformHttp(http, "Zoom", tokens=tokens or TokenCache(), timeout=timeout,
                          sleep=sleep or NoWait()),
        credentials={**fake.credentials(), **credentials}, endpoints=fake.endpoints(),
        hook_url="https://webinars.example/hooks/zoom/k", now=clock))


def received(headers: dict[str, str], body: bytes) -> HookRequest:
    return HookRequest(headers=headers, body=body, query={}, received_at=datetime.now(UTC))


# -- the fake refuses what Zoom refuses --------------------------------------------------------

async def test_fake_token_endpoint_checks_basic_auth_grant_and_account(
        fake: FakeZoom, http: aiohttp.ClientSession) -> None:
    good = base64.b64encode(f"{fake.client_id}:{fake.client_secret}".encode()).decode()
    bad = base64.b64encode(f"{fake.client_id}:wrong".encode()).decode()
    query = {"grant_type": "account_credentials", "account_id": fake.account_id}
    async with http.post(f"{fake.url}/oauth/token", params=query,
                         headers={"Authorization": f"Basic {bad}"}) as r:
        assert r.status == 400 and (await r.json())["error"] == "invalid_client"
    async with http.post(f"{fake.url}/oauth/token", params={**query, "grant_type": "password"},
                         headers={"Authorization": f"Basic {good}"}) as r:
        assert r.status == 400 and (await r.json())["error"] == "unsupported_grant_type"
    async with http.post(f"{fake.url}/oauth/token", params=query,
                         headers={"Authorization": f"Basic {good}"}) as r:
        assert r.status == 200 and (await r.json())["expires_in"] == 3599


async def test_fake_api_checks_token_content_type_and_required_fields(
        fake: FakeZoom, http: aiohttp.ClientSession) -> None:
    path = f"{fake.url}/v2/users/{fake.host}/meetings"
    async with http.post(path, json={"topic": "x", "type": 2}) as r:
        assert r.status == 401 and (await r.json())["code"] == 124
    async with http.post(path, json={}, headers={"Authorization": "Bearer made-up"}) as r:
        assert r.status == 401 and (await r.json())["code"] == 124
    good = base64.b64encode(f"{fake.client_id}:{fake.client_secret}".encode()).decode()
    async with http.post(f"{fake.url}/oauth/token", headers={"Authorization": f"Basic {good}"},
                         params={"grant_type": "account_credentials",
                                 "account_id": fake.account_id}) as r:
        bearer = {"Authorization": f"Bearer {(await r.json())['access_token']}"}
    async with http.post(path, data="topic=x&type=2", headers={
            **bearer, "Content-Type": "application/x-www-form-urlencoded"}) as r:
        assert r.status == 400 and (await r.json())["code"] == 300
    async with http.post(path, json={"topic": "x", "type": 2}, headers=bearer) as r:
        body = await r.json()
        assert r.status == 400 and body["code"] == 300
        assert body["errors"][0]["field"] == "start_time"
    async with http.post(path, json={"topic": "x", "type": 2,
                                     "start_time": "2027-03-01T15:00:00Z"}, headers=bearer) as r:
        assert r.status == 201
        meeting = await r.json()
    async with http.post(f"{fake.url}/v2/meetings/{meeting['id']}/registrants",
                         json={"email": "a@b.example"}, headers=bearer) as r:
        assert r.status == 400 and (await r.json())["errors"][0]["field"] == "first_name"
    async with http.get(f"{fake.url}/v2/users/nobody@x.example", headers=bearer) as r:
        assert r.status == 404 and (await r.json())["code"] == 1001


# -- meetings ------------------------------------------------------------------------------

async def test_create_sends_a_scheduled_registration_meeting_and_keeps_no_start_url(
        fake: FakeZoom, http: aiohttp.ClientSession) -> None:
    link = await zoom(fake, http).create(SPEC)
    stored = fake.meetings[link.external_id]
    assert stored["type"] == 2 and stored["topic"] == SPEC.title
    assert stored["start_time"] == "2027-03-01T15:00:00Z" and stored["duration"] == 90
    assert stored["timezone"] == "Europe/Moscow" and stored["agenda"] == "Повестка"
    assert stored["settings"]["approval_type"] == 0
    assert link.join_url == stored["join_url"] and link.host_url is None
    assert link.extra == {"uuid": stored["uuid"], "kind": "meeting"}
    assert "zak=" not in repr(link)
    assert ("POST", f"/v2/users/{fake.host}/meetings") in fake.requests


async def test_update_moves_the_same_meeting_and_delete_is_idempotent(
        fake: FakeZoom, http: aiohttp.ClientSession) -> None:
    adapter = zoom(fake, http)
    link = await adapter.create(SPEC)
    moved = await adapter.update(link, MeetingSpec(**{**SPEC.__dict__, "title": "Перенесён",
                                                      "start": SPEC.start + timedelta(days=2)}))
    assert (moved.external_id, moved.join_url) == (link.external_id, link.join_url)
    assert fake.meetings[link.external_id]["start_time"] == "2027-03-03T15:00:00Z"
    assert fake.meetings[link.external_id]["topic"] == "Перенесён"
    await adapter.delete(link)
    await adapter.delete(link)
    with pytest.raises(MeetingNotFound):
        await adapter.get(link)
    with pytest.raises(MeetingNotFound):
        await adapter.update(link, SPEC)


async def test_a_running_meeting_cannot_be_deleted(fake: FakeZoom,
                                                   http: aiohttp.ClientSession) -> None:
    adapter = zoom(fake, http)
    link = await adapter.create(SPEC)
    fake.start_meeting(link.external_id)
    with pytest.raises(InvalidState, match="in progress"):
        await adapter.delete(link)
    assert link.external_id in fake.meetings


async def test_host_link_is_read_fresh_every_time(fake: FakeZoom,
                                                  http: aiohttp.ClientSession) -> None:
    now = datetime(2027, 3, 1, 14, 50, tzinfo=UTC)
    adapter = zoom(fake, http, now=now)
    link = await adapter.create(SPEC)
    first, second = await adapter.host_link(link, IVAN), await adapter.host_link(link, IVAN)
    assert "zak=" in first.url and first.url != second.url
    assert first.expires_at == now + timedelta(hours=2)
    assert fake.requests.count(("GET", f"/v2/meetings/{link.external_id}")) == 2


async def test_join_link_registers_once_per_person(fake: FakeZoom,
                                                   http: aiohttp.ClientSession) -> None:
    adapter = zoom(fake, http)
    link = await adapter.create(SPEC)
    anna = await adapter.join_link(link, ANNA)
    again = await adapter.join_link(link, ANNA)
    ivan = await adapter.join_link(link, IVAN)
    assert anna == again and anna.platform_id and anna.platform_id != ivan.platform_id
    assert anna.url != link.join_url and "tk=" in anna.url
    registrants = fake.registrants[link.external_id]
    assert len(registrants) == 2
    assert registrants[ANNA.email]["first_name"] == "Анна"
    assert registrants[ANNA.email]["last_name"] == "Петрова"
    with pytest.raises(InvalidRequest, match="email"):
        await adapter.join_link(link, Person("r9", "Без почты", ""))


async def test_join_link_falls_back_to_the_shared_link_without_registration(
        fake: FakeZoom, http: aiohttp.ClientSession) -> None:
    adapter = zoom(fake, http)
    link = await adapter.create(SPEC)
    fake.meetings[link.external_id]["settings"]["approval_type"] = 2
    joined = await adapter.join_link(link, ANNA)
    assert joined.url == link.join_url and joined.platform_id is None
    fake.meetings[link.external_id]["settings"]["approval_type"] = 0
    fake.fail_next(400, json.dumps({"code": 200, "message": "No permission."}),
                   path_contains="/registrants")  # a Basic host: no registration in the plan
    assert (await adapter.join_link(link, ANNA)).url == link.join_url
    assert (await adapter.join_link(link, ANNA)).platform_id  # registered once allowed


async def test_webinars_use_the_webinar_paths(fake: FakeZoom,
                                              http: aiohttp.ClientSession) -> None:
    adapter = zoom(fake, http, meeting_type="webinar")
    await adapter.check()
    link = await adapter.create(SPEC)
    assert link.extra["kind"] == "webinar" and fake.meetings[link.external_id]["type"] == 5
    assert (await adapter.get(link)).external_id == link.external_id
    person = await adapter.join_link(link, ANNA)
    assert person.platform_id
    assert ("POST", f"/v2/webinars/{link.external_id}/registrants") in fake.requests
    # A link remembers its kind even if the connection now makes meetings.
    await zoom(fake, http).delete(link)
    assert ("DELETE", f"/v2/webinars/{link.external_id}") in fake.requests
    assert link.external_id not in fake.meetings


async def test_webinar_without_the_add_on_is_a_plan_restriction(
        fake: FakeZoom, http: aiohttp.ClientSession) -> None:
    fake.webinar_plan = False
    adapter = zoom(fake, http, meeting_type="webinar")
    with pytest.raises(PlanRestricted, match="Webinar add-on"):
        await adapter.create(SPEC)
    with pytest.raises(PlanRestricted, match="Webinar plan is missing"):
        await adapter.check()


# -- tokens and auth ---------------------------------------------------------------------------

async def test_token_is_cached_and_fetched_again_once_when_expired(
        fake: FakeZoom, http: aiohttp.ClientSession) -> None:
    adapter = zoom(fake, http)
    link = await adapter.create(SPEC)
    await adapter.get(link)
    assert fake.token_requests == 1
    fake.expire_tokens()
    assert (await adapter.get(link)).external_id == link.external_id
    assert fake.token_requests == 2


async def test_token_is_fetched_again_at_80_percent_of_its_hour(
        fake: FakeZoom, http: aiohttp.ClientSession) -> None:
    clock = [1000.0]
    adapter = zoom(fake, http, tokens=TokenCache(monotonic=lambda: clock[0]))
    await adapter.check()
    clock[0] += 0.8 * 3599 - 1
    await adapter.check()
    assert fake.token_requests == 1
    clock[0] += 2
    await adapter.check()
    assert fake.token_requests == 2


async def test_a_token_refused_twice_is_an_auth_error(fake: FakeZoom,
                                                      http: aiohttp.ClientSession) -> None:
    adapter = zoom(fake, http)
    await adapter.check()
    for _ in range(2):
        fake.fail_next(401, ERR_124, path_contains="/v2/")
    with pytest.raises(AuthError, match="even after fetching a new one"):
        await adapter.check()
    assert fake.token_requests == 2


async def test_wrong_secret_and_wrong_account_are_named(fake: FakeZoom,
                                                        http: aiohttp.ClientSession) -> None:
    with pytest.raises(AuthError, match="client secret is wrong.*invalid_client"):
        await zoom(fake, http, client_secret="nope").check()
    with pytest.raises(AuthError, match="account ID 'nope' is wrong"):
        await zoom(fake, http, account_id="nope").create(SPEC)
    fake.fail_next(401, "<html>Unauthorized</html>", path_contains="/oauth/token")
    with pytest.raises(AuthError, match="token request.*401.*Unauthorized"):
        await zoom(fake, http).check()


async def test_check_names_a_missing_scope(fake: FakeZoom, http: aiohttp.ClientSession) -> None:
    fake.scopes = "meeting:read:admin meeting:write:admin"
    with pytest.raises(AuthError, match=r"lacks the scope user:read:admin"):
        await zoom(fake, http).check()


async def test_check_names_an_unknown_host_user(fake: FakeZoom,
                                                http: aiohttp.ClientSession) -> None:
    await zoom(fake, http).check()
    with pytest.raises(InvalidRequest, match="host user 'ghost@union.example' does not exist"):
        await zoom(fake, http, host_user="ghost@union.example").check()
    with pytest.raises(InvalidRequest, match="host user"):
        await zoom(fake, http, host_user="ghost@union.example").create(SPEC)
    fake.fail_next(400, json.dumps({"code": 1010, "message": "User does not belong to this "
                                    "account: x."}), path_contains="/v2/users")
    with pytest.raises(AuthError, match="does not belong"):
        await zoom(fake, http).check()


async def test_403_is_a_missing_permission(fake: FakeZoom, http: aiohttp.ClientSession) -> None:
    adapter = zoom(fake, http)
    link = await adapter.create(SPEC)
    fake.fail_next(403, json.dumps({"code": 3003, "message": "You are not the meeting host."}),
                   path_contains="/v2/meetings")
    with pytest.raises(AuthError, match="missing permission.*not the meeting host"):
        await adapter.delete(link)


# -- the HTTP layer's cases, as Zoom sends them ------------------------------------------------

async def test_qps_429_is_waited_out(fake: FakeZoom, http: aiohttp.ClientSession) -> None:
    sleep = NoWait()
    adapter = zoom(fake, http, sleep=sleep)
    fake.fail_next(429, json.dumps({"code": 429, "message": "You have reached the maximum "
                                    "per-second rate limit for this API. Try again later."}),
                   headers={"Retry-After": "1", "X-RateLimit-Type": "QPS"},
                   path_contains="/v2/")
    fake.fail_next(429, '{"code":429,"message":"Too many requests"}', path_contains="/v2/")
    link = await adapter.create(SPEC)
    assert link.external_id in fake.meetings
    assert sleep.pauses == [1.0, 1.0]  # Retry-After: 1, then the back-off of the 2nd attempt


async def test_long_retry_after_is_rate_limited(fake: FakeZoom,
                                                http: aiohttp.ClientSession) -> None:
    fake.fail_next(429, '{"code":429,"message":"Too many requests"}',
                   headers={"Retry-After": "120", "X-RateLimit-Type": "QPS"},
                   path_contains="/v2/")
    with pytest.raises(RateLimited) as caught:
        await zoom(fake, http).create(SPEC)
    assert caught.value.retry_after == 120


@pytest.mark.parametrize("with_headers", [True, False])
async def test_daily_limit_is_a_quota_until_midnight_utc(
        fake: FakeZoom, http: aiohttp.ClientSession, with_headers: bool) -> None:
    fake.daily_limit, fake.daily_headers = 1, with_headers
    sleep = NoWait()
    adapter = zoom(fake, http, sleep=sleep)
    await adapter.create(SPEC)
    with pytest.raises(QuotaExceeded) as caught:
        await adapter.create(SPEC)
    assert caught.value.retry_after is not None
    assert abs(caught.value.retry_after - until_midnight_utc(datetime.now(UTC))) < 5
    assert sleep.pauses == [] and len(fake.meetings) == 1


async def test_5xx_is_retried_then_unavailable(fake: FakeZoom,
                                               http: aiohttp.ClientSession) -> None:
    sleep = NoWait()
    adapter = zoom(fake, http, sleep=sleep)
    await adapter.check()  # the token is cached; the faults below hit the API
    fake.fail_next(503, "Service Unavailable", path_contains="/v2/")
    with pytest.raises(PlatformUnavailable, match="HTTP 503"):
        await adapter.create(SPEC)  # Zoom may have made it: only the job may try again
    assert sleep.pauses == [] and not fake.meetings
    link = await adapter.create(SPEC)
    fake.fail_next(503, "Service Unavailable", path_contains="/v2/")
    assert (await adapter.get(link)).external_id == link.external_id  # a read is retried
    assert sleep.pauses == [0.5]
    for _ in range(4):
        fake.fail_next(500, "oops", path_contains="/v2/")
    with pytest.raises(PlatformUnavailable, match="HTTP 500"):
        await adapter.get(link)


async def test_a_hanging_zoom_is_unavailable(fake: FakeZoom,
                                             http: aiohttp.ClientSession) -> None:
    adapter = zoom(fake, http, timeout=0.2)
    await adapter.check()  # the token is cached; only the API call hangs
    for _ in range(4):
        fake.fail_next(hang=True, path_contains="/v2/")
    with pytest.raises(PlatformUnavailable, match="no answer in time"):
        await adapter.check()


async def test_malformed_answers_are_unavailable(fake: FakeZoom,
                                                 http: aiohttp.ClientSession) -> None:
    adapter = zoom(fake, http)
    fake.fail_next(200, '{"token_type":"bearer"}', path_contains="/oauth/token")
    with pytest.raises(PlatformUnavailable, match="access_token"):
        await adapter.check()
    fake.fail_next(201, '{"topic":"x"}', path_contains="/meetings")
    with pytest.raises(PlatformUnavailable, match="malformed"):
        await adapter.create(SPEC)
    fake.fail_next(201, "<html>oops</html>", path_contains="/meetings")
    with pytest.raises(PlatformUnavailable, match="not valid JSON"):
        await adapter.create(SPEC)
    link = await adapter.create(SPEC)
    fake.fail_next(200, '{"id":1,"join_url":"https://zoom.us/j/1"}', path_contains="/v2/")
    with pytest.raises(PlatformUnavailable, match="start_url"):
        await adapter.host_link(link, IVAN)


async def test_validation_errors_name_the_field(fake: FakeZoom,
                                                http: aiohttp.ClientSession) -> None:
    fake.fail_next(400, json.dumps({"code": 300, "message": "Validation Failed.", "errors": [
        {"field": "start_time", "message": "Invalid"}]}), path_contains="/meetings")
    with pytest.raises(InvalidRequest, match="Validation Failed.*start_time: Invalid"):
        await zoom(fake, http).create(SPEC)


async def test_attendance_comes_from_webhooks(fake: FakeZoom,
                                              http: aiohttp.ClientSession) -> None:
    with pytest.raises(NotSupported, match="webhooks"):
        await zoom(fake, http).attendance(MeetingLink("1", "https://zoom.us/j/1"))


# -- webhooks ----------------------------------------------------------------------------------

def test_reference_test_vectors() -> None:
    body = b'{"event":"meeting.started","event_ts":1700000000000}'
    assert signature("test_secret", "1700000000", body) == (
        "v0=cc132594d9cb248e87199410a982a967c1b5e7dc4cff7e5a70e939e9d67ff998")
    assert encrypted_token("test_secret", "qgg8vlvZRS6UYooatFL8Aw") == (
        "af2b71c039092798acffde4bc073be46286db03f4d82bfac9008822d0fac2449")


async def test_reference_vectors_through_handle_hook(fake: FakeZoom,
                                                     http: aiohttp.ClientSession) -> None:
    adapter = zoom(fake, http, webhook_secret="test_secret",
                   now=datetime.fromtimestamp(1700000100, UTC))
    body = b'{"event":"meeting.started","event_ts":1700000000000}'
    sig = "v0=cc132594d9cb248e87199410a982a967c1b5e7dc4cff7e5a70e939e9d67ff998"
    reply = await adapter.handle_hook(received(
        {"x-zm-request-timestamp": "1700000000", "x-zm-signature": sig}, body))
    assert reply.status == 200 and reply.events == ()  # genuine, but names no meeting
    with pytest.raises(BadSignature):
        await adapter.handle_hook(received(
            {"x-zm-request-timestamp": "1700000001", "x-zm-signature": sig}, body))

    challenge = json.dumps({"event": "endpoint.url_validation", "event_ts": 1700000000000,
                            "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}}).encode()
    headers = {"x-zm-request-timestamp": "1700000000",
               "x-zm-signature": signature("test_secret", "1700000000", challenge)}
    reply = await adapter.handle_hook(received(headers, challenge))
    assert reply.status == 200 and reply.content_type == "application/json"
    assert json.loads(reply.body) == {
        "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
        "encryptedToken": "af2b71c039092798acffde4bc073be46286db03f4d82bfac9008822d0fac2449"}
    with pytest.raises(BadSignature):  # the challenge is signature-checked too
        await adapter.handle_hook(received({}, challenge))


async def test_participant_hooks_echo_the_registrant_id(fake: FakeZoom,
                                                        http: aiohttp.ClientSession) -> None:
    adapter = zoom(fake, http)
    link = await adapter.create(SPEC)
    anna = await adapter.join_link(link, ANNA)
    headers, body, _, method = fake.hook(PARTICIPANT_JOINED, link, anna.platform_id)
    assert method == "POST" and b"meeting.participant_joined" in body
    reply = await adapter.handle_hook(received(headers, body))
    (event,) = reply.events
    assert (event.kind, event.external_id) == (PARTICIPANT_JOINED, link.external_id)
    assert event.participant_id == anna.platform_id
    assert event.participant_name == "Анна Петрова"
    assert abs(event.occurred_at - datetime.now(UTC)) < timedelta(seconds=5)
    again = await adapter.handle_hook(received(headers, body))
    assert again.events[0].dedupe_key == event.dedupe_key  # Zoom re-sent it
    headers, body, _, _ = fake.hook(PARTICIPANT_LEFT, link, anna.platform_id)
    (left,) = (await adapter.handle_hook(received(headers, body))).events
    assert left.kind == PARTICIPANT_LEFT and left.participant_id == anna.platform_id
    assert left.dedupe_key != event.dedupe_key
    headers, body, _, _ = fake.hook(PARTICIPANT_JOINED, link, None, name="Гость")
    (guest,) = (await adapter.handle_hook(received(headers, body))).events
    assert guest.participant_id is None and guest.participant_name == "Гость"


async def test_meeting_and_recording_hooks(fake: FakeZoom, http: aiohttp.ClientSession) -> None:
    adapter = zoom(fake, http, meeting_type="webinar")
    link = await adapter.create(SPEC)
    for kind in (MEETING_STARTED, MEETING_ENDED):
        headers, body, _, _ = fake.hook(kind, link)
        assert b'"webinar.' in body
        (event,) = (await adapter.handle_hook(received(headers, body))).events
        assert event.kind == kind and event.external_id == link.external_id
    headers, body, _, _ = fake.hook(RECORDING_READY, link,
                                    recording_url="https://zoom.us/rec/share/abc")
    (event,) = (await adapter.handle_hook(received(headers, body))).events
    assert event.recording_url == "https://zoom.us/rec/share/abc"
    headers, body, _, _ = fake.hook(RECORDING_READY, link)  # no share_url: the play_url
    (event,) = (await adapter.handle_hook(received(headers, body))).events
    assert event.recording_url == f"https://zoom.us/rec/play/{link.external_id}"


async def test_forged_missing_and_stale_signatures_are_refused(
        fake: FakeZoom, http: aiohttp.ClientSession) -> None:
    adapter = zoom(fake, http)
    link = await adapter.create(SPEC)
    headers, body, _, _ = fake.hook(PARTICIPANT_JOINED, link, "reg-1")
    with pytest.raises(BadSignature, match="signature is wrong"):
        await adapter.handle_hook(received(headers, body.replace(b"reg-1", b"reg-2")))
    with pytest.raises(BadSignature, match="no x-zm-signature"):
        await adapter.handle_hook(received({"x-zm-request-timestamp": "1"}, body))
    stale = int(datetime.now(UTC).timestamp()) - 301
    headers, body, _, _ = fake.hook(PARTICIPANT_JOINED, link, "reg-1", ts=stale)
    with pytest.raises(BadSignature, match="stale"):
        await adapter.handle_hook(received(headers, body))
    headers, body, _, _ = fake.hook(PARTICIPANT_JOINED, link, "reg-1")
    with pytest.raises(BadSignature, match="no webhook secret"):
        await zoom(fake, http, webhook_secret="").handle_hook(received(headers, body))
    with pytest.raises(BadSignature, match="signature is wrong"):
        await zoom(fake, http, webhook_secret="other").handle_hook(received(headers, body))
