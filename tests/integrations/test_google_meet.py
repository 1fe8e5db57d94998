"""Google Meet adapter against the fake Google (OAuth token endpoint + Calendar API v3)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import jwt
import pytest

from integrations import google_meet
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
    PlatformRejected,
    PlatformUnavailable,
    QuotaExceeded,
    RateLimited,
)
from integrations.google_meet import GoogleMeetAdapter
from integrations.http import TokenCache
from tests.fakes import NoWait, adapter_for
from tests.fakes.google_meet import FakeGoogle, serve

SPEC = MeetingSpec(title="Вебинар", start=datetime(2027, 3, 1, 12, tzinfo=UTC),
                   duration=timedelta(minutes=90), description="Повестка",
                   idempotency_key="webinar-1@union.example", timezone="Europe/Moscow")
HOST = Person("h3", "Иван Организатор", "ivan@union.example")
MEMBER = Person("r17", "Анна Петрова", "anna@union.example")


def google_error(status: int, reason: str, message: str) -> str:
    return json.dumps({"error": {"errors": [{"domain": "usageLimits", "reason": reason,
                                             "message": message}],
                                 "code": status, "message": message}})


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def fake() -> AsyncIterator[FakeGoogle]:
    server = await serve()
    yield server
    await server.close()


def meet(fake: FakeGoogle, http: aiohttp.ClientSession, *, sleep: NoWait | None = None,
         credentials: dict[str, str] | None = None, timeout: float = 2.0,
         tokens: TokenCache | None = None) -> GoogleMeetAdapter:
    adapter = adapter_for("google_meet", fake, http, sleep=sleep, credentials=credentials,
                          timeout=timeout, tokens=tokens)
    assert isinstance(adapter, GoogleMeetAdapter)
    return adapter


async def bearer(fake: FakeGoogle, http: aiohttp.ClientSession) -> str:
    form = {"grant_type": "refresh_token", **{k: v for k, v in fake.oauth_credentials().items()
                                              if k != "calendar_id"}}
    async with http.post(f"{fake.url}/token", data=form) as answer:
        return str((await answer.json())["access_token"])


# --- the fake refuses what Google refuses ---------------------------------------------------

async def test_fake_ignores_conference_data_without_conference_data_version(
        fake: FakeGoogle, http: aiohttp.ClientSession) -> None:
    body = {"summary": "x", "start": {"dateTime": "2027-03-01T12:00:00Z"},
            "end": {"dateTime": "2027-03-01T13:00:00Z"},
            "conferenceData": {"createRequest": {"requestId": "r1", "conferenceSolutionKey":
                                                 {"type": "hangoutsMeet"}}}}
    headers = {"Authorization": f"Bearer {await bearer(fake, http)}"}
    url = f"{fake.url}/calendar/v3/calendars/primary/events"
    async with http.post(url, json=body, headers=headers) as answer:
        assert answer.status == 200
        event = await answer.json()
    assert "conferenceData" not in event and "hangoutLink" not in event
    async with http.post(url, data={"summary": "x"}, headers=headers) as answer:
        assert answer.status == 400  # form-encoded bodies are refused
        assert (await answer.json())["error"]["errors"][0]["reason"] == "parseError"
    async with http.post(url, json={"summary": "x"}, headers=headers) as answer:
        assert (await answer.json())["error"]["message"] == "Missing start time."
    async with http.post(url, json=body, headers={"Authorization": "Bearer ya29.forged"}) as a:
        assert a.status == 401


async def test_adapter_fails_clearly_when_google_ignores_the_conference_request(
        fake: FakeGoogle, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(google_meet, "QUIET", {"sendUpdates": "none"})  # a regression
    with pytest.raises(InvalidRequest, match="no Meet link"):
        await meet(fake, http).create(SPEC)
    [event] = fake.events().values()
    assert event["status"] == "cancelled"  # no linkless event left in the calendar


async def test_fake_refuses_assertions_it_should(fake: FakeGoogle,
                                                 http: aiohttp.ClientSession) -> None:
    now = int(datetime.now(UTC).timestamp())
    claims = {"iss": fake.client_email, "sub": "organizer@union.example",
              "scope": google_meet.SCOPE, "aud": f"{fake.url}/token", "iat": now,
              "exp": now + 3600}
    key = google_meet_key(fake)

    async def grant(**changes: object) -> tuple[int, str]:
        assertion = jwt.encode({**claims, **changes}, key, algorithm="RS256")
        async with http.post(f"{fake.url}/token", data={
                "grant_type": google_meet.JWT_BEARER, "assertion": assertion}) as answer:
            return answer.status, (await answer.json()).get("error", "")

    assert (await grant())[0] == 200
    assert await grant(aud="https://oauth2.googleapis.com/token") == (400, "invalid_grant")
    assert await grant(exp=now + 7200) == (400, "invalid_grant")
    assert await grant(scope="https://www.googleapis.com/auth/drive") == (400, "invalid_scope")
    other = jwt.encode(claims, "not-the-key-but-long-enough-for-hs256-0123456789abcdef")
    async with http.post(f"{fake.url}/token", data={"grant_type": google_meet.JWT_BEARER,
                                                    "assertion": other}) as answer:
        assert answer.status == 400


def google_meet_key(fake: FakeGoogle) -> str:
    return str(json.loads(fake.credentials()["service_account_json"])["private_key"])


# --- meetings -------------------------------------------------------------------------------

async def test_create_makes_an_event_with_a_meet_link_and_sends_no_invitations(
        fake: FakeGoogle, http: aiohttp.ClientSession) -> None:
    link = await meet(fake, http).create(SPEC)
    event = fake.events()[link.external_id]
    assert link.join_url == event["hangoutLink"]
    assert link.join_url.startswith("https://meet.google.com/")
    assert link.extra == {"calendar_id": "primary",
                          "conference_id": event["conferenceData"]["conferenceId"]}
    assert fake.inserts == [{"conferenceDataVersion": "1", "sendUpdates": "none"}]
    assert event["start"] == {"dateTime": "2027-03-01T15:00:00+03:00",
                              "timeZone": "Europe/Moscow"}
    assert event["end"]["dateTime"] == "2027-03-01T16:30:00+03:00"
    assert (event["summary"], event["description"]) == ("Вебинар", "Повестка")
    [claims] = fake.assertions
    assert claims["sub"] == "organizer@union.example" and claims["exp"] - claims["iat"] <= 3600
    assert claims["scope"] == "https://www.googleapis.com/auth/calendar.events"


async def test_the_same_idempotency_key_makes_the_same_event(
        fake: FakeGoogle, http: aiohttp.ClientSession) -> None:
    adapter = meet(fake, http)
    first = await adapter.create(SPEC)
    assert first.external_id == google_meet.event_id(SPEC.idempotency_key)
    assert await adapter.create(SPEC) == first  # 409 duplicate: the event that is there
    other = await adapter.create(MeetingSpec(**{**SPEC.__dict__, "idempotency_key": "w2"}))
    assert other.external_id != first.external_id
    assert google_meet.request_id("w2") != google_meet.request_id(SPEC.idempotency_key)
    assert len(fake.events()) == 2 and len(fake.inserts) == 2


def test_event_ids_are_what_calendar_accepts() -> None:
    ids = {google_meet.event_id(key) for key in ("a", "b", SPEC.idempotency_key, "é" * 500)}
    assert len(ids) == 4
    assert all(re.fullmatch("[0-9a-v]{52}", i) for i in ids)
    assert google_meet.event_id("a") == google_meet.event_id("a")


@pytest.mark.parametrize("hang", [True, False])
async def test_a_create_whose_answer_is_lost_is_found_again(
        fake: FakeGoogle, http: aiohttp.ClientSession, hang: bool) -> None:
    fake.fail_after_create(503, hang=hang)
    with pytest.raises(PlatformUnavailable, match="no answer in time" if hang else "HTTP 503"):
        await meet(fake, http, timeout=0.2).create(SPEC)
    [stored] = fake.events().values()  # Google made it; we never heard
    link = await meet(fake, http).create(SPEC)  # the job's next attempt
    assert (link.external_id, link.join_url) == (stored["id"], stored["hangoutLink"])
    assert list(fake.events()) == [stored["id"]] and stored["sequence"] == 0  # untouched
    events = "/calendar/v3/calendars/primary/events"
    assert [r for r in fake.requests if "/events" in r[1]][-2:] == [
        ("POST", f"{events}?conferenceDataVersion=1&sendUpdates=none"),
        ("GET", f"{events}/{stored['id']}?conferenceDataVersion=1")]


async def test_a_lost_create_of_a_webinar_moved_since_is_moved(
        fake: FakeGoogle, http: aiohttp.ClientSession) -> None:
    fake.fail_after_create(hang=True)
    with pytest.raises(PlatformUnavailable):
        await meet(fake, http, timeout=0.2).create(SPEC)
    moved = MeetingSpec(**{**SPEC.__dict__, "title": "Перенесён",
                           "start": SPEC.start + timedelta(days=1)})
    link = await meet(fake, http).create(moved)
    [event] = fake.events().values()
    assert (link.external_id, link.join_url) == (event["id"], event["hangoutLink"])
    assert event["summary"] == "Перенесён"
    assert event["start"]["dateTime"] == "2027-03-02T15:00:00+03:00"


async def test_a_deleted_event_created_again_is_restored(
        fake: FakeGoogle, http: aiohttp.ClientSession) -> None:
    adapter = meet(fake, http)
    first = await adapter.create(SPEC)
    await adapter.delete(first)  # e.g. the webinar moved to another platform, or by hand
    assert fake.events()[first.external_id]["status"] == "cancelled"
    again = MeetingSpec(**{**SPEC.__dict__, "start": SPEC.start + timedelta(days=7)})
    link = await adapter.create(again)  # Google keeps the id: 409, then restored
    [event] = fake.events().values()
    assert event["status"] == "confirmed" and link.external_id == first.external_id
    assert link.join_url == event["hangoutLink"] and link.join_url.startswith(
        "https://meet.google.com/")
    assert event["start"]["dateTime"] == "2027-03-08T15:00:00+03:00"
    assert (await adapter.get(link)).join_url == link.join_url
    path = f"/calendar/v3/calendars/primary/events/{first.external_id}"
    assert ("PATCH", path + "?conferenceDataVersion=1&sendUpdates=none") in fake.requests


async def test_a_deleted_event_google_will_not_restore(
        fake: FakeGoogle, http: aiohttp.ClientSession) -> None:
    adapter = meet(fake, http)
    first = await adapter.create(SPEC)
    await adapter.delete(first)
    fake.fail_next(410, google_error(410, "deleted", "Resource has been deleted"),
                   path_contains=f"/events/{first.external_id}?conferenceDataVersion=1&send")
    with pytest.raises(PlatformRejected, match="restore the event from Google Calendar's Bin"):
        await adapter.create(SPEC)
    assert fake.events()[first.external_id]["status"] == "cancelled"


async def test_fake_refuses_malformed_and_taken_event_ids(
        fake: FakeGoogle, http: aiohttp.ClientSession) -> None:
    headers = {"Authorization": f"Bearer {await bearer(fake, http)}"}
    url = f"{fake.url}/calendar/v3/calendars/primary/events"
    body = {"summary": "x", "start": {"dateTime": "2027-03-01T12:00:00Z"},
            "end": {"dateTime": "2027-03-01T13:00:00Z"}}

    async def insert(event_id: object) -> tuple[int, str]:
        async with http.post(url, json={**body, "id": event_id}, headers=headers) as answer:
            reply = await answer.json()
            return answer.status, reply["error"]["errors"][0]["reason"] if (
                answer.status >= 400) else reply["id"]

    for bad in ("abcd", "ABCDEF", "abcdw", "abc-def", "a" * 1025, 12345):
        assert await insert(bad) == (400, "invalid"), bad
    assert await insert("0av9" + "a" * 1020) == (200, "0av9" + "a" * 1020)
    assert await insert("abcde") == (200, "abcde")
    assert await insert("abcde") == (409, "duplicate")
    async with http.delete(f"{url}/abcde", headers=headers) as answer:
        assert answer.status == 204
    async with http.get(f"{url}/abcde", headers=headers) as answer:
        assert (await answer.json())["status"] == "cancelled"
    assert await insert("abcde") == (409, "duplicate")  # a deleted event's id stays taken
    assert len(fake.events()) == 2


async def test_pending_conference_is_read_again_until_ready(
        fake: FakeGoogle, http: aiohttp.ClientSession) -> None:
    fake.pending_reads = 2
    sleep = NoWait()
    link = await meet(fake, http, sleep=sleep).create(SPEC)
    assert link.join_url.startswith("https://meet.google.com/")
    assert sleep.pauses == [0.5, 1.0, 2.0]
    assert sum(1 for method, _ in fake.requests if method == "GET") == 3


async def test_conference_pending_for_too_long_or_failed_leaves_no_event(
        fake: FakeGoogle, http: aiohttp.ClientSession) -> None:
    fake.pending_reads = 50
    with pytest.raises(PlatformUnavailable, match="still being created"):
        await meet(fake, http).create(SPEC)
    fake.pending_reads, fake.conference_outcome = 0, "failure"
    with pytest.raises(PlatformRejected, match="could not create a Meet conference"):
        await meet(fake, http).create(MeetingSpec(**{**SPEC.__dict__, "idempotency_key": "w2"}))
    fake.pending_reads, fake.conference_outcome = 1, "success"
    fake.fail_next(404, google_error(404, "notFound", "Not Found"), path_contains="/events/")
    with pytest.raises(PlatformUnavailable, match="vanished"):
        await meet(fake, http).create(MeetingSpec(**{**SPEC.__dict__, "idempotency_key": "w3"}))
    assert [e["status"] for e in fake.events().values()] == ["cancelled"] * 3


async def test_update_moves_the_same_event_and_keeps_the_link(
        fake: FakeGoogle, http: aiohttp.ClientSession) -> None:
    adapter = meet(fake, http)
    link = await adapter.create(SPEC)
    moved = await adapter.update(link, MeetingSpec(**{**SPEC.__dict__, "title": "Перенесён",
                                                      "start": SPEC.start + timedelta(days=1)}))
    assert (moved.external_id, moved.join_url) == (link.external_id, link.join_url)
    event = fake.events()[link.external_id]
    assert event["start"]["dateTime"] == "2027-03-02T15:00:00+03:00"
    assert event["summary"] == "Перенесён" and event["sequence"] == 1
    path = f"/calendar/v3/calendars/primary/events/{link.external_id}"
    assert ("PATCH", path + "?conferenceDataVersion=1&sendUpdates=none") in fake.requests


async def test_get_and_delete_of_missing_or_deleted_events(
        fake: FakeGoogle, http: aiohttp.ClientSession) -> None:
    adapter = meet(fake, http)
    link = await adapter.create(SPEC)
    assert (await adapter.get(link)).join_url == link.join_url
    await adapter.delete(link)
    assert fake.events()[link.external_id]["status"] == "cancelled"
    with pytest.raises(MeetingNotFound):
        await adapter.get(link)  # Google still returns it, as "cancelled"
    with pytest.raises(MeetingNotFound):
        await adapter.update(link, SPEC)
    await adapter.delete(link)  # 410 Resource has been deleted: done
    gone = MeetingLink("nosuchevent0000", "https://meet.google.com/aaa-bbbb-ccc")
    await adapter.delete(gone)  # 404: done
    with pytest.raises(MeetingNotFound):
        await adapter.get(gone)
    assert sum(1 for method, _ in fake.requests if method == "DELETE") == 3


async def test_links_and_what_meet_does_not_have(fake: FakeGoogle,
                                                 http: aiohttp.ClientSession) -> None:
    adapter = meet(fake, http)
    link = await adapter.create(SPEC)
    assert (await adapter.host_link(link, HOST)).url == link.join_url
    assert (await adapter.join_link(link, MEMBER)).url == link.join_url
    with pytest.raises(NotSupported):
        await adapter.handle_hook(HookRequest({}, b"{}", {}, datetime.now(UTC)))
    with pytest.raises(NotSupported):
        await adapter.attendance(link)


async def test_calendar_from_the_link_is_used(fake: FakeGoogle,
                                              http: aiohttp.ClientSession) -> None:
    creds = {**fake.credentials(), "calendar_id": "organizer@union.example"}
    link = await meet(fake, http, credentials=creds).create(SPEC)
    assert link.extra["calendar_id"] == "organizer@union.example"
    assert link.external_id in fake.events("organizer@union.example")
    await meet(fake, http).delete(link)  # another connection's default calendar: extra wins
    assert fake.events("organizer@union.example")[link.external_id]["status"] == "cancelled"


# --- credentials ----------------------------------------------------------------------------

async def test_refresh_token_mode(fake: FakeGoogle, http: aiohttp.ClientSession) -> None:
    adapter = meet(fake, http, credentials=fake.oauth_credentials())
    await adapter.check()
    assert (await adapter.create(SPEC)).join_url.startswith("https://meet.google.com/")
    assert fake.assertions == []


async def test_revoked_refresh_token_and_wrong_client_secret(
        fake: FakeGoogle, http: aiohttp.ClientSession) -> None:
    revoked = {**fake.oauth_credentials(), "refresh_token": "1//0revoked"}
    with pytest.raises(AuthError, match=r"revoked.*invalid_grant"):
        await meet(fake, http, credentials=revoked).check()
    wrong = {**fake.oauth_credentials(), "client_secret": "GOCSPX-wrong"}
    with pytest.raises(AuthError, match=r"client secret is wrong \(invalid_client"):
        await meet(fake, http, credentials=wrong).create(SPEC)


async def test_missing_credentials_are_named(fake: FakeGoogle,
                                             http: aiohttp.ClientSession) -> None:
    with pytest.raises(AuthError, match="client_id, client_secret and refresh_token"):
        await meet(fake, http, credentials={"calendar_id": "primary"}).check()
    partial = {"client_id": "x", "refresh_token": "y"}
    with pytest.raises(AuthError, match="lacks client_secret$"):
        await meet(fake, http, credentials=partial).create(SPEC)
    no_subject = {**fake.credentials(), "subject": ""}
    with pytest.raises(AuthError, match="User to act as"):
        await meet(fake, http, credentials=no_subject).check()
    with pytest.raises(AuthError, match="not valid JSON"):
        await meet(fake, http, credentials={**fake.credentials(),
                                            "service_account_json": "{oops"}).check()
    no_key = json.dumps({"client_email": fake.client_email})
    with pytest.raises(AuthError, match="lacks private_key"):
        await meet(fake, http, credentials={**fake.credentials(),
                                            "service_account_json": no_key}).check()
    bad_pem = json.dumps({"client_email": fake.client_email, "private_key": "garbage"})
    with pytest.raises(AuthError, match="private key .* cannot be read"):
        await meet(fake, http, credentials={**fake.credentials(),
                                            "service_account_json": bad_pem}).check()
    assert fake.token_requests == 0


async def test_check_reports_missing_delegation_unknown_user_and_calendar(
        fake: FakeGoogle, http: aiohttp.ClientSession) -> None:
    await meet(fake, http).check()
    fake.delegation = False
    with pytest.raises(AuthError, match="no domain-wide delegation.*unauthorized_client"):
        await meet(fake, http).check()
    fake.delegation = True
    stranger = {**fake.credentials(), "subject": "stranger@union.example"}
    with pytest.raises(AuthError, match="Invalid email or User ID"):
        await meet(fake, http, credentials=stranger).check()
    elsewhere = {**fake.credentials(), "calendar_id": "nobody@elsewhere.example"}
    with pytest.raises(AuthError, match="calendar 'nobody@elsewhere.example' does not exist"):
        await meet(fake, http, credentials=elsewhere).check()
    with pytest.raises(AuthError, match="calendar 'nobody@elsewhere.example' does not exist"):
        await meet(fake, http, credentials=elsewhere).create(SPEC)


async def test_identity_that_cannot_create_meet_conferences(
        fake: FakeGoogle, http: aiohttp.ClientSession) -> None:
    fake.fail_next(400, google_error(400, "invalid", "Invalid conference type value."),
                   headers={"Content-Type": "application/json"}, path_contains="/events")
    with pytest.raises(PlanRestricted, match="cannot create Meet conferences.*delegation"):
        await meet(fake, http).create(SPEC)


# --- errors ---------------------------------------------------------------------------------

async def test_expired_token_is_fetched_again_once(fake: FakeGoogle,
                                                   http: aiohttp.ClientSession) -> None:
    tokens = TokenCache()
    adapter = meet(fake, http, tokens=tokens)
    link = await adapter.create(SPEC)
    fake.expire_tokens()
    assert (await adapter.get(link)).external_id == link.external_id
    assert fake.token_requests == 2
    unauthorized = google_error(401, "authError", "Invalid Credentials")
    fake.fail_next(401, unauthorized, path_contains="/events")
    fake.fail_next(401, unauthorized, path_contains="/events")
    with pytest.raises(AuthError, match="refused the access token.*Invalid Credentials"):
        await adapter.get(link)
    assert fake.token_requests == 3  # refreshed once, not in a loop


@pytest.mark.parametrize(("reason", "error"), [
    ("rateLimitExceeded", RateLimited), ("userRateLimitExceeded", RateLimited),
    ("dailyLimitExceeded", QuotaExceeded), ("insufficientPermissions", AuthError),
    ("forbidden", AuthError)])
async def test_403_by_reason(fake: FakeGoogle, http: aiohttp.ClientSession, reason: str,
                             error: type[Exception]) -> None:
    fake.fail_next(403, google_error(403, reason, "Nope"), path_contains="/events")
    with pytest.raises(error) as caught:
        await meet(fake, http).create(SPEC)
    if error is AuthError:
        assert "no permission to change events of calendar 'primary'" in str(caught.value)
        assert "calendar.events" in str(caught.value)


async def test_429_with_and_without_retry_after(fake: FakeGoogle,
                                                http: aiohttp.ClientSession) -> None:
    sleep = NoWait()
    adapter = meet(fake, http, sleep=sleep)
    fake.fail_next(429, google_error(429, "rateLimitExceeded", "x"),
                   headers={"Retry-After": "3"}, path_contains="/events")
    fake.fail_next(429, google_error(429, "rateLimitExceeded", "x"), path_contains="/events")
    await adapter.create(SPEC)
    assert sleep.pauses == [3.0, 1.0]
    fake.fail_next(429, "", headers={"Retry-After": "120"}, path_contains="/events")
    with pytest.raises(RateLimited) as caught:
        await adapter.create(SPEC)
    assert caught.value.retry_after == 120


async def test_5xx_retried_then_unavailable_and_timeouts(fake: FakeGoogle,
                                                         http: aiohttp.ClientSession) -> None:
    sleep = NoWait()
    fake.fail_next(503)
    assert (await meet(fake, http, sleep=sleep).create(SPEC)).join_url
    for _ in range(4):
        fake.fail_next(500, path_contains="/events")
    with pytest.raises(PlatformUnavailable, match="HTTP 500"):
        await meet(fake, http, sleep=sleep).check()
    assert sleep.pauses == [0.5, 0.5, 1.0, 2.0]
    for _ in range(4):
        fake.fail_next(hang=True, path_contains="/token")
    with pytest.raises(PlatformUnavailable, match="no answer in time"):
        await meet(fake, http, timeout=0.1).check()


async def test_malformed_answers(fake: FakeGoogle, http: aiohttp.ClientSession) -> None:
    fake.fail_next(200, "<html>", path_contains="/events")
    with pytest.raises(PlatformUnavailable, match="not valid JSON"):
        await meet(fake, http).create(SPEC)
    fake.fail_next(200, '{"kind": "calendar#event"}', path_contains="/events")
    with pytest.raises(PlatformUnavailable, match="no id"):
        await meet(fake, http).create(SPEC)
    fake.fail_next(200, '{"token_type": "Bearer"}', path_contains="/token")
    with pytest.raises(PlatformUnavailable, match="no access_token"):
        await meet(fake, http).check()
