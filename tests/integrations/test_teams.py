"""Microsoft Teams adapter against the fake Entra ID + Graph."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from integrations.base import (
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
    AuthError,
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
from integrations.http import TokenCache
from integrations.teams import TeamsAdapter, external_id
from tests.fakes import NoWait, adapter_for
from tests.fakes.teams import ARTIFACTS, MEETINGS, FakeTeams, serve

SPEC = MeetingSpec(title="Вебинар", start=datetime(2027, 3, 1, 12, tzinfo=UTC),
                   duration=timedelta(minutes=90), idempotency_key="webinar-1@union.example",
                   timezone="Europe/Moscow")
HOST = Person("h3", "Иван Организатор", "ivan@union.example")
MEMBER = Person("r17", "Анна Петрова", "anna@union.example")
T0 = datetime(2027, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def fake() -> AsyncIterator[FakeTeams]:
    server = await serve()
    yield server
    await server.close()


def teams(fake: FakeTeams, http: aiohttp.ClientSession, *, sleep: NoWait | None = None,
          credentials: dict[str, str] | None = None, timeout: float = 2.0,
          tokens: TokenCache | None = None) -> TeamsAdapter:
    adapter = adapter_for("teams", fake, http, sleep=sleep, credentials=credentials,
                          timeout=timeout, tokens=tokens)
    assert isinstance(adapter, TeamsAdapter)
    return adapter


async def token(fake: FakeTeams, http: aiohttp.ClientSession) -> str:
    async with http.post(f"{fake.url}/{fake.tenant_id}/oauth2/v2.0/token", data={
            "client_id": fake.client_id, "client_secret": fake.client_secret,
            "scope": "https://graph.microsoft.com/.default",
            "grant_type": "client_credentials"}) as answer:
        assert answer.status == 200
        return str((await answer.json())["access_token"])


# --- the fake refuses what Microsoft refuses ------------------------------------------------

async def test_fake_refuses_bad_token_requests_and_bad_meeting_requests(
        fake: FakeTeams, http: aiohttp.ClientSession) -> None:
    url = f"{fake.url}/{fake.tenant_id}/oauth2/v2.0/token"
    async with http.post(url, json={"grant_type": "client_credentials"}) as answer:
        assert answer.status == 400
        assert (await answer.json())["error_codes"] == [900144]  # a JSON body is no form
    meetings = f"{fake.url}/v1.0/users/organizer@union.example/onlineMeetings"
    good = {"subject": "x", "startDateTime": "2027-03-01T12:00:00Z",
            "endDateTime": "2027-03-01T13:00:00Z"}
    async with http.post(meetings, json=good) as answer:
        assert answer.status == 401
        assert (await answer.json())["error"]["code"] == "InvalidAuthenticationToken"
    headers = {"Authorization": f"Bearer {await token(fake, http)}"}
    async with http.post(meetings, data=json.dumps(good), headers={
            **headers, "Content-Type": "text/plain"}) as answer:
        assert answer.status == 415
    async with http.post(meetings, json={**good, "subject": ""}, headers=headers) as answer:
        assert answer.status == 400
        error = (await answer.json())["error"]
        assert error["code"] == "BadRequest" and "'subject'" in error["message"]
        assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    async with http.post(meetings, json={**good, "endDateTime": good["startDateTime"]},
                         headers=headers) as answer:
        assert answer.status == 400
    async with http.post(meetings, json=good, headers=headers) as answer:
        assert answer.status == 201
    assert len(fake.meetings) == 1


# --- meetings -------------------------------------------------------------------------------

async def test_create_get_update_delete(fake: FakeTeams, http: aiohttp.ClientSession) -> None:
    adapter = teams(fake, http)
    link = await adapter.create(SPEC)
    meeting = fake.meetings[link.external_id]
    assert link.join_url == meeting["joinWebUrl"]
    assert link.join_url.startswith("https://teams.microsoft.com/l/meetup-join/19%3ameeting_")
    assert (meeting["subject"], meeting["startDateTime"], meeting["endDateTime"]) == (
        "Вебинар", "2027-03-01T12:00:00Z", "2027-03-01T13:30:00Z")
    assert link.extra["join_meeting_id"] == meeting["joinMeetingIdSettings"]["joinMeetingId"]
    assert (await adapter.get(link)).external_id == link.external_id
    moved = await adapter.update(link, MeetingSpec(**{**SPEC.__dict__, "title": "Перенесён",
                                                      "start": SPEC.start + timedelta(days=1)}))
    assert (moved.external_id, moved.join_url) == (link.external_id, link.join_url)
    assert (meeting["subject"], meeting["startDateTime"]) == ("Перенесён",
                                                              "2027-03-02T12:00:00Z")
    assert (await adapter.host_link(moved, HOST)).url == link.join_url
    assert (await adapter.join_link(moved, MEMBER)).url == link.join_url
    await adapter.delete(moved)
    assert fake.meetings == {}
    await adapter.delete(moved)  # 404: done
    with pytest.raises(MeetingNotFound):
        await adapter.get(moved)
    with pytest.raises(MeetingNotFound):
        await adapter.update(moved, SPEC)


async def test_create_goes_through_create_or_get_with_a_stable_external_id(
        fake: FakeTeams, http: aiohttp.ClientSession) -> None:
    adapter = teams(fake, http)
    first = await adapter.create(SPEC)
    assert await adapter.create(SPEC) == first  # 200: the meeting of that externalId
    [meeting] = fake.meetings.values()
    assert meeting["externalId"] == external_id(SPEC.idempotency_key)
    other = await adapter.create(MeetingSpec(**{**SPEC.__dict__, "idempotency_key": "w2"}))
    assert other.external_id != first.external_id and len(fake.meetings) == 2
    assert external_id("w2") != external_id(SPEC.idempotency_key)
    path = "/v1.0/users/organizer@union.example/onlineMeetings/createOrGet"
    assert [r for r in fake.requests if "/onlineMeetings" in r[1]] == [("POST", path)] * 3


@pytest.mark.parametrize("hang", [True, False])
async def test_a_create_whose_answer_is_lost_is_found_again(
        fake: FakeTeams, http: aiohttp.ClientSession, hang: bool) -> None:
    fake.fail_after_create(503, hang=hang)
    with pytest.raises(PlatformUnavailable, match="no answer in time" if hang else "HTTP 503"):
        await teams(fake, http, timeout=0.2).create(SPEC)
    [stored] = fake.meetings.values()  # Teams made it; we never heard
    link = await teams(fake, http).create(SPEC)  # the job's next attempt
    assert (link.external_id, link.join_url) == (stored["id"], stored["joinWebUrl"])
    assert list(fake.meetings) == [stored["id"]]
    assert not any(method == "PATCH" for method, _ in fake.requests)  # nothing to move


async def test_a_lost_create_of_a_webinar_moved_since_is_moved(
        fake: FakeTeams, http: aiohttp.ClientSession) -> None:
    fake.fail_after_create(hang=True)
    with pytest.raises(PlatformUnavailable):
        await teams(fake, http, timeout=0.2).create(SPEC)
    moved = MeetingSpec(**{**SPEC.__dict__, "title": "Перенесён",
                           "start": SPEC.start + timedelta(days=1)})
    link = await teams(fake, http).create(moved)  # createOrGet gives it as it was: moved
    [meeting] = fake.meetings.values()
    assert (link.external_id, link.join_url) == (meeting["id"], meeting["joinWebUrl"])
    assert (meeting["subject"], meeting["startDateTime"], meeting["endDateTime"]) == (
        "Перенесён", "2027-03-02T12:00:00Z", "2027-03-02T13:30:00Z")


async def test_a_deleted_meeting_created_again_is_a_new_one(
        fake: FakeTeams, http: aiohttp.ClientSession) -> None:
    adapter = teams(fake, http)
    first = await adapter.create(SPEC)
    await adapter.delete(first)
    again = await adapter.create(SPEC)
    assert again.external_id != first.external_id and again.join_url != first.join_url
    assert list(fake.meetings) == [again.external_id]


async def test_fake_create_or_get_by_external_id_and_organizer(
        fake: FakeTeams, http: aiohttp.ClientSession) -> None:
    headers = {"Authorization": f"Bearer {await token(fake, http)}"}
    fake.users["other@union.example"] = "other-oid"
    good = {"subject": "x", "startDateTime": "2027-03-01T12:00:00Z",
            "endDateTime": "2027-03-01T13:00:00Z", "externalId": "e1"}

    async def create_or_get(user: str, body: dict[str, str]) -> tuple[int, str]:
        url = f"{fake.url}/v1.0/users/{user}/onlineMeetings/createOrGet"
        async with http.post(url, json=body, headers=headers) as answer:
            reply = await answer.json()
            return answer.status, reply["id"] if answer.status < 300 else reply["error"]["code"]

    status, first = await create_or_get("organizer@union.example", good)
    assert status == 201
    assert await create_or_get("organizer@union.example", {**good, "subject": "y"}) == (
        200, first)
    assert fake.meetings[first]["subject"] == "x"  # returned as it is
    status, theirs = await create_or_get("other@union.example", good)
    assert status == 201 and theirs != first  # externalIds are per organizer
    assert await create_or_get("organizer@union.example", {**good, "externalId": ""}) == (
        400, "BadRequest")
    assert len(fake.meetings) == 2


async def test_organizer_by_object_id_and_unknown_organizer(
        fake: FakeTeams, http: aiohttp.ClientSession) -> None:
    oid = fake.users["organizer@union.example"]
    link = await teams(fake, http, credentials={**fake.credentials(), "organizer": oid}).create(
        SPEC)
    assert (await teams(fake, http).get(link)).external_id == link.external_id
    stranger = {**fake.credentials(), "organizer": "stranger@union.example"}
    with pytest.raises(InvalidRequest, match="stranger@union.example is not a user"):
        await teams(fake, http, credentials=stranger).create(SPEC)
    with pytest.raises(InvalidRequest, match="stranger@union.example is not a user"):
        await teams(fake, http, credentials=stranger).check()


async def test_no_callbacks(fake: FakeTeams, http: aiohttp.ClientSession) -> None:
    with pytest.raises(NotSupported, match="subscriptions"):
        await teams(fake, http).handle_hook(HookRequest({}, b"{}", {}, datetime.now(UTC)))


# --- attendance -----------------------------------------------------------------------------

async def test_attendance_from_reports(fake: FakeTeams, http: aiohttp.ClientSession) -> None:
    adapter = teams(fake, http)
    link = await adapter.create(SPEC)
    assert await adapter.attendance(link) == []
    m = timedelta(minutes=1)
    fake.record_attendance(link.external_id, "Анна Петрова", T0 + 2 * m, T0 + 30 * m)
    fake.record_attendance(link.external_id, "Борис", T0, T0 + 60 * m)
    fake.record_attendance(link.external_id, "Анна Петрова", T0 + 40 * m, T0 + 50 * m)
    fake.record_attendance(link.external_id, "Вера", T0 + 5 * m, None)  # still there
    fake.record_attendance(link.external_id, "Борис", T0 + 1440 * m, T0 + 1500 * m,
                           new_report=True)
    events = await adapter.attendance(link)
    assert [(e.kind, e.participant_name, e.occurred_at - T0) for e in events] == [
        (PARTICIPANT_JOINED, "Борис", 0 * m), (PARTICIPANT_JOINED, "Анна Петрова", 2 * m),
        (PARTICIPANT_JOINED, "Вера", 5 * m), (PARTICIPANT_LEFT, "Анна Петрова", 30 * m),
        (PARTICIPANT_JOINED, "Анна Петрова", 40 * m), (PARTICIPANT_LEFT, "Анна Петрова", 50 * m),
        (PARTICIPANT_LEFT, "Борис", 60 * m), (PARTICIPANT_JOINED, "Борис", 1440 * m),
        (PARTICIPANT_LEFT, "Борис", 1500 * m)]
    assert all(e.participant_id is None and e.external_id == link.external_id for e in events)
    assert len({e.dedupe_key for e in events}) == len(events)
    assert [e.dedupe_key for e in await adapter.attendance(link)] == [
        e.dedupe_key for e in events]  # polling again gives the same keys
    assert any("$skiptoken=2" in path for _, path in fake.requests)  # 3 records, pages of 2


async def test_attendance_errors(fake: FakeTeams, http: aiohttp.ClientSession) -> None:
    adapter = teams(fake, http)
    link = await adapter.create(SPEC)
    fake.record_attendance(link.external_id, "Анна Петрова", T0, T0 + timedelta(hours=1))
    fake.permissions = {MEETINGS}
    with pytest.raises(AuthError, match=ARTIFACTS):
        await adapter.attendance(link)
    fake.permissions = {MEETINGS, ARTIFACTS}
    foreign = json.dumps({"value": [], "@odata.nextLink": "http://127.0.0.1:9/v1.0/x"})
    fake.fail_next(200, foreign, path_contains="/attendanceReports")
    assert await adapter.attendance(link) == []  # a next page off Graph is not followed
    fake.fail_next(200, '{"items": []}', path_contains="/attendanceReports")
    with pytest.raises(PlatformUnavailable, match="has no value"):
        await adapter.attendance(link)
    with pytest.raises(MeetingNotFound):
        await adapter.attendance(MeetingLink("gone", link.join_url))


# --- credentials and permissions ------------------------------------------------------------

@pytest.mark.parametrize(("field", "value", "message"), [
    ("client_secret", "wrong", r"client secret is wrong.*\(invalid_client: AADSTS7000215"),
    ("client_id", "00000000-0000-0000-0000-000000000000",
     r"client\) ID is not registered in this tenant \(unauthorized_client: AADSTS700016"),
    ("tenant_id", "no-such-tenant.example", r"tenant ID does not exist.*AADSTS90002"),
])
async def test_sign_in_errors_name_the_field(fake: FakeTeams, http: aiohttp.ClientSession,
                                             field: str, value: str, message: str) -> None:
    with pytest.raises(AuthError, match=message) as caught:
        await teams(fake, http, credentials={**fake.credentials(), field: value}).check()
    assert "Trace ID" not in str(caught.value)  # only the first line of the description


async def test_missing_fields_are_named(fake: FakeTeams, http: aiohttp.ClientSession) -> None:
    with pytest.raises(AuthError, match="fill in client_secret, organizer$"):
        await teams(fake, http, credentials={**fake.credentials(), "client_secret": "",
                                             "organizer": " "}).create(SPEC)
    assert fake.token_requests == 0


async def test_missing_access_policy_and_permission(fake: FakeTeams,
                                                    http: aiohttp.ClientSession) -> None:
    adapter = teams(fake, http)
    await adapter.check()
    fake.access_policy = False
    with pytest.raises(AuthError) as caught:
        await adapter.check()
    message = str(caught.value)
    assert "a Teams administrator must allow this app" in message
    assert f"New-CsApplicationAccessPolicy -Identity Webinars -AppIds {fake.client_id}" in message
    assert "Grant-CsApplicationAccessPolicy -PolicyName Webinars -Identity " \
           "organizer@union.example" in message
    with pytest.raises(AuthError, match="Grant-CsApplicationAccessPolicy"):
        await adapter.create(SPEC)
    fake.access_policy, fake.permissions = True, set()
    with pytest.raises(AuthError, match="lacks the application permission "
                                        "OnlineMeetings.ReadWrite.All"):
        await adapter.create(SPEC)


# --- errors ---------------------------------------------------------------------------------

async def test_expired_token_is_fetched_again_once(fake: FakeTeams,
                                                   http: aiohttp.ClientSession) -> None:
    adapter = teams(fake, http, tokens=TokenCache())
    link = await adapter.create(SPEC)
    fake.expire_tokens()
    assert (await adapter.get(link)).join_url == link.join_url
    assert fake.token_requests == 2
    expired = json.dumps({"error": {"code": "InvalidAuthenticationToken",
                                    "message": "Lifetime validation failed"}})
    fake.fail_next(401, expired, path_contains="/onlineMeetings")
    fake.fail_next(401, expired, path_contains="/onlineMeetings")
    with pytest.raises(AuthError, match="refused the access token.*InvalidAuthenticationToken"):
        await adapter.get(link)
    assert fake.token_requests == 3


async def test_429_with_and_without_retry_after(fake: FakeTeams,
                                                http: aiohttp.ClientSession) -> None:
    sleep = NoWait()
    adapter = teams(fake, http, sleep=sleep)
    throttled = json.dumps({"error": {"code": "TooManyRequests", "message": "Throttled"}})
    fake.fail_next(429, throttled, headers={"Retry-After": "7"}, path_contains="/onlineM")
    fake.fail_next(429, throttled, path_contains="/onlineM")
    await adapter.create(SPEC)
    assert sleep.pauses == [7.0, 1.0]
    fake.fail_next(429, throttled, headers={"Retry-After": "300"}, path_contains="/onlineM")
    with pytest.raises(RateLimited) as caught:
        await adapter.create(SPEC)
    assert caught.value.retry_after == 300
    assert len(fake.meetings) == 1


async def test_5xx_timeout_and_malformed(fake: FakeTeams, http: aiohttp.ClientSession) -> None:
    sleep = NoWait()
    fake.fail_next(502, path_contains="/token")  # a token request is retried
    fake.fail_next(503, path_contains="/onlineMeetings")  # a create is not: the job decides
    with pytest.raises(PlatformUnavailable, match="HTTP 503"):
        await teams(fake, http, sleep=sleep).create(SPEC)
    assert sleep.pauses == [0.5] and not fake.meetings
    link = await teams(fake, http, sleep=sleep).create(SPEC)
    for _ in range(4):
        fake.fail_next(500, path_contains="/onlineMeetings")
    with pytest.raises(PlatformUnavailable, match="HTTP 500"):
        await teams(fake, http).get(link)  # a read is retried, then given up
    fake.fail_next(hang=True, path_contains="/onlineMeetings")
    with pytest.raises(PlatformUnavailable, match="no answer in time"):
        await teams(fake, http, timeout=0.1).create(SPEC)
    fake.fail_next(201, '{"id": "MSp"}', path_contains="/onlineMeetings")
    with pytest.raises(PlatformUnavailable, match="no id or joinWebUrl"):
        await teams(fake, http).create(SPEC)
    fake.fail_next(200, "<html>", path_contains="/token")
    with pytest.raises(PlatformUnavailable, match="not valid JSON"):
        await teams(fake, http).check()
