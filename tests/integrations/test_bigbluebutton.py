"""BigBlueButton adapter against its fake server (real HTTP on 127.0.0.1, no mocks)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
import jwt
import pytest

from integrations.base import (
    MEETING_ENDED,
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
    PlatformUnavailable,
    RateLimited,
)
from integrations.bigbluebutton import (
    BigBlueButtonAdapter,
    api_base,
    checksum,
    meeting_id,
    meeting_name,
)
from tests.fakes import NoWait, adapter_for
from tests.fakes.bigbluebutton import FakeBigBlueButton, serve

HOOK_URL = "https://webinars.example/hooks/bigbluebutton/key"
SPEC = MeetingSpec(title="Вебинар: профсоюз & co", start=datetime(2027, 3, 1, 12, tzinfo=UTC),
                   duration=timedelta(hours=1), idempotency_key="webinar-7@union.example")
MEMBER = Person("r17", "Анна Петрова", "anna@union.example")
HOST = Person("h3", "Иван Организатор", "ivan@union.example")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def fake() -> AsyncIterator[FakeBigBlueButton]:
    server = await serve()
    yield server
    await server.close()


def bbb(fake: FakeBigBlueButton, http: aiohttp.ClientSession, **kwargs: Any
        ) -> BigBlueButtonAdapter:
    kwargs.setdefault("hook_url", HOOK_URL)
    adapter = adapter_for("bigbluebutton", fake, http, **kwargs)
    assert isinstance(adapter, BigBlueButtonAdapter)
    return adapter


def request(headers: dict[str, str], body: bytes, query: dict[str, str], method: str,
            at: datetime | None = None) -> HookRequest:
    return HookRequest(headers=headers, body=body, query=query,
                       received_at=at or datetime.now(UTC), method=method)


async def follow(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    """A browser following a link once: the status and the redirect target or body."""
    async with http.get(url, allow_redirects=False) as answer:
        return answer.status, answer.headers.get("Location") or await answer.text()


# -- signatures --------------------------------------------------------------------------

def test_reference_checksum_vectors() -> None:
    query = "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444"
    secret = "639259d4-9dd8-4b25-bf01-95f9567eaf4b"
    assert checksum("create", query, secret, "sha1") == "1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17"
    assert checksum("create", query, secret, "sha256") == (
        "da9185f7f333cfdfcd6eeac32dca3777510c4c436020d8b887ba5515bd1d189e")


def test_meeting_ids_names_and_addresses() -> None:
    one, two = meeting_id("s", "webinar-1"), meeting_id("s", "webinar-2")
    assert one == meeting_id("s", "webinar-1") and one != two and one != meeting_id("t", "webinar-1")
    assert one.startswith("webinar-") and all(c.isalnum() or c in "-_" for c in one)
    assert "webinar-1" not in one[8:]
    assert len(meeting_name("Я" * 100)) == 64 and meeting_name(" x ") == "Webinar"
    assert len(meeting_name("😀" * 40).encode("utf-16-le")) == 128  # 32 emoji = 64 UTF-16 units
    assert api_base("https://bbb.example.org/bigbluebutton/") == (
        "https://bbb.example.org/bigbluebutton/api")
    assert api_base("https://bbb.example.org") == "https://bbb.example.org/bigbluebutton/api"
    assert api_base("https://bbb.example.org/bigbluebutton/api/") == (
        "https://bbb.example.org/bigbluebutton/api")


# -- the fake refuses what BBB refuses ---------------------------------------------------

async def test_fake_refuses_bad_checksums_and_missing_fields(
        fake: FakeBigBlueButton, http: aiohttp.ClientSession) -> None:
    api = f"{fake.url}/bigbluebutton/api"

    async def key(call: str, query: str, digest: str | None = None) -> str:
        digest = digest or checksum(call, query, fake.secret, "sha1")
        async with http.get(f"{api}/{call}?{query}&checksum={digest}") as answer:
            assert answer.status == 200  # FAILED answers come at 200
            text = await answer.text()
        return text.split("<messageKey>")[1].split("<")[0] if "<messageKey>" in text else "OK"

    query = "name=Test&meetingID=m-1"
    assert await key("create", query, "0" * 40) == "checksumError"
    assert await key("create", query, checksum("getMeetings", query, fake.secret)) == (
        "checksumError")  # a checksum for another call
    assert await key("create", "name=Test&meetingID=m-1&record=true",
                     checksum("create", query, fake.secret, "sha1")) == "checksumError"
    async with http.get(f"{api}/create?{query}") as answer:
        assert "checksumError" in await answer.text()  # no checksum at all
    assert await key("create", "name=Test") == "missingParamMeetingID"
    assert await key("create", "meetingID=m-1") == "missingParamName"
    assert await key("create", "name=Test&meetingID=a,b") == "validationError"
    assert await key("create", "name=" + "x" * 65 + "&meetingID=m-1") == "validationError"
    assert await key("join", "fullName=A&meetingID=nope&role=VIEWER") == "invalidMeetingIdentifier"
    assert await key("end", "meetingID=nope") == "notFound"
    assert await key("create", query) == "OK"
    assert await key("create", "name=Other&meetingID=m-1") == "idNotUnique"  # no passwords
    assert await key("join", "fullName=A&meetingID=m-1&role=OWNER") == "validationError"
    fake.supported = {"sha256", "sha512"}  # sha1 switched off in supportedChecksumAlgorithms
    assert await key("getMeetings", "") == "checksumError"
    digest = checksum("create", "", fake.secret, "sha256")
    async with http.post(f"{api}/create?checksum={digest}", data=b"{}",
                         headers={"Content-Type": "application/json"}) as answer:
        assert "unsupportedContentType" in await answer.text()


# -- meetings ----------------------------------------------------------------------------

async def test_create_is_idempotent_and_registers_callbacks(
        fake: FakeBigBlueButton, http: aiohttp.ClientSession) -> None:
    adapter = bbb(fake, http)
    link = await adapter.create(SPEC)
    assert link == await adapter.create(SPEC)  # a repeat is duplicateWarning, same link
    assert link.external_id == meeting_id("installation-secret-for-tests-0123456789",
                                          SPEC.idempotency_key)
    meeting = fake.meetings[link.external_id]
    assert meeting.name == "Вебинар: профсоюз & co" and meeting.record
    assert meeting.metadata["bbb-recording-ready-url"] == HOOK_URL
    end = urlsplit(meeting.metadata["endcallbackurl"])
    assert f"{end.scheme}://{end.netloc}{end.path}" == HOOK_URL
    assert dict(parse_qsl(end.query))["meetingID"] == link.external_id
    assert list(fake.hooks.values()) == [HOOK_URL]  # bbb-webhooks, once per callback URL
    assert "webinar-7" not in link.join_url
    status, target = await follow(http, link.join_url)  # the shared link is a signed guest join
    assert status == 302 and "/html5client/" in target
    assert fake.meetings[link.external_id].attendees[0]["fullName"] == "Guest"


async def test_update_keeps_the_meeting_and_a_running_one_keeps_its_name(
        fake: FakeBigBlueButton, http: aiohttp.ClientSession) -> None:
    adapter = bbb(fake, http)
    link = await adapter.create(SPEC)
    moved = await adapter.update(link, replace(SPEC, title="Перенесён",
                                               start=SPEC.start + timedelta(days=2)))
    assert (moved.external_id, moved.join_url) == (link.external_id, link.join_url)
    assert moved.extra["name"] == "Перенесён"
    assert fake.meetings[link.external_id].name == SPEC.title  # applies on the next create


async def test_a_foreign_meeting_with_the_same_id_is_invalid_request(
        fake: FakeBigBlueButton, http: aiohttp.ClientSession) -> None:
    adapter = bbb(fake, http)
    link = await adapter.create(SPEC)
    fake.meetings[link.external_id].moderator_pw = "someone-else"
    with pytest.raises(InvalidRequest, match="idNotUnique"):
        await adapter.update(link, SPEC)


async def test_get_delete_and_not_found(fake: FakeBigBlueButton,
                                        http: aiohttp.ClientSession) -> None:
    adapter = bbb(fake, http)
    link = await adapter.create(SPEC)
    assert await adapter.get(link) == link
    await adapter.delete(link)
    assert link.external_id in fake.ended and link.external_id not in fake.meetings
    await adapter.delete(link)  # notFound: done
    with pytest.raises(MeetingNotFound, match="notFound"):
        await adapter.get(link)


async def test_join_links_are_signed_per_person(fake: FakeBigBlueButton,
                                                http: aiohttp.ClientSession) -> None:
    adapter = bbb(fake, http)
    link = await adapter.create(SPEC)
    personal = await adapter.join_link(link, MEMBER)
    params = dict(parse_qsl(urlsplit(personal.url).query))
    assert params["fullName"] == "Анна Петрова" and params["userID"] == "r17"
    assert params["role"] == "VIEWER" and "createTime" not in params
    assert personal.platform_id is None  # BBB echoes our own id
    status, _ = await follow(http, personal.url)
    assert status == 302
    forged = personal.url.replace("role=VIEWER", "role=MODERATOR")
    status, body = await follow(http, forged)
    assert status == 200 and "checksumError" in body


async def test_host_link_creates_the_meeting_first_and_binds_the_session(
        fake: FakeBigBlueButton, http: aiohttp.ClientSession) -> None:
    adapter = bbb(fake, http)
    link = await adapter.create(SPEC)
    fake.meetings.clear()  # BBB dropped the meeting nobody joined
    host = await adapter.host_link(link, HOST)
    meeting = fake.meetings[link.external_id]
    assert meeting.name == SPEC.title  # the title travels in MeetingLink.extra
    params = dict(parse_qsl(urlsplit(host.url).query))
    assert (params["role"], params["userID"]) == ("MODERATOR", "h3")
    assert params["createTime"] == str(meeting.create_time)
    assert (await follow(http, host.url))[0] == 302
    await adapter.delete(link)
    await adapter.create(SPEC)  # a later session of the same meeting
    status, body = await follow(http, host.url)
    assert status == 200  # FAILED answers come at 200, never a redirect into the meeting
    assert "mismatchCreateTimeParam" in body  # yesterday's host link is stale
    fresh = await adapter.host_link(link, HOST)
    assert fresh.url != host.url and (await follow(http, fresh.url))[0] == 302
    bare = await adapter.host_link(MeetingLink(link.external_id, link.join_url), HOST)
    assert bare.url  # a link without `extra` still works (name "Webinar" if created anew)


async def test_attendance_reads_who_is_in_the_meeting(fake: FakeBigBlueButton,
                                                      http: aiohttp.ClientSession) -> None:
    adapter = bbb(fake, http)
    link = await adapter.create(SPEC)
    assert await adapter.attendance(link) == []  # created, not running
    await follow(http, (await adapter.join_link(link, MEMBER)).url)
    await follow(http, link.join_url)  # a guest: BBB makes up its id
    first = await adapter.attendance(link)
    assert [(e.kind, e.participant_id) for e in first] == [(PARTICIPANT_JOINED, "r17"),
                                                         (PARTICIPANT_JOINED, None)]
    assert first[0].participant_name == "Анна Петрова"
    again = await adapter.attendance(link)
    assert [e.dedupe_key for e in again] == [e.dedupe_key for e in first]
    await adapter.delete(link)
    assert await adapter.attendance(link) == []


# -- errors ------------------------------------------------------------------------------

async def test_wrong_secret_and_disabled_algorithm_are_auth_errors(
        fake: FakeBigBlueButton, http: aiohttp.ClientSession) -> None:
    wrong = bbb(fake, http, credentials={**fake.credentials(), "shared_secret": "nope"})
    with pytest.raises(AuthError, match="shared secret is wrong"):
        await wrong.check()
    fake.supported = {"sha1"}
    with pytest.raises(AuthError, match="sha256 is not enabled"):
        await bbb(fake, http).check()
    await bbb(fake, http, credentials={**fake.credentials(), "checksum": "sha1"}).check()
    with pytest.raises(AuthError, match="unknown checksum algorithm 'md5'"):
        await bbb(fake, http, credentials={**fake.credentials(), "checksum": "md5"}).check()
    with pytest.raises(AuthError, match="missing"):
        await bbb(fake, http, credentials={**fake.credentials(), "shared_secret": ""}).check()


async def test_check_names_a_wrong_address(fake: FakeBigBlueButton,
                                           http: aiohttp.ClientSession) -> None:
    await bbb(fake, http, credentials={**fake.credentials(),
                                       "api_url": f"{fake.url}/bigbluebutton/"}).check()
    with pytest.raises(InvalidRequest, match="HTTP 404.*bigbluebutton/api"):
        await bbb(fake, http, credentials={**fake.credentials(),
                                           "api_url": f"{fake.url}/bbb/api"}).check()
    fake.fail_next(200, "<html><body>Welcome to nginx</body></html>")
    with pytest.raises(PlatformUnavailable, match="not a BigBlueButton response.*API address"):
        await bbb(fake, http).check()
    fake.fail_next(200, "<!doctype html><html><body>Welcome<br></body></html>")
    with pytest.raises(PlatformUnavailable, match="not XML.*API address"):
        await bbb(fake, http).check()


async def test_http_401_and_403_from_a_proxy_are_auth_errors(
        fake: FakeBigBlueButton, http: aiohttp.ClientSession) -> None:
    fake.fail_next(403, "Forbidden")
    with pytest.raises(AuthError, match="HTTP 403"):
        await bbb(fake, http).create(SPEC)
    fake.fail_next(401, "Unauthorized")
    with pytest.raises(AuthError, match="HTTP 401"):
        await bbb(fake, http).check()


async def test_429_with_and_without_retry_after(fake: FakeBigBlueButton,
                                               http: aiohttp.ClientSession) -> None:
    sleep = NoWait()
    fake.fail_next(429, headers={"Retry-After": "3"})
    fake.fail_next(429)
    link = await bbb(fake, http, sleep=sleep).create(SPEC)
    assert sleep.pauses[:2] == [3.0, 1.0] and link.external_id in fake.meetings
    fake.fail_next(429, headers={"Retry-After": "3600"})
    with pytest.raises(RateLimited) as caught:
        await bbb(fake, http, sleep=NoWait()).get(link)
    assert caught.value.retry_after == 3600


async def test_5xx_is_retried_then_unavailable(fake: FakeBigBlueButton,
                                               http: aiohttp.ClientSession) -> None:
    sleep = NoWait()
    fake.fail_next(502)
    link = await bbb(fake, http, sleep=sleep).create(SPEC)
    assert sleep.pauses == [0.5] and link.external_id in fake.meetings
    for _ in range(4):
        fake.fail_next(503)
    with pytest.raises(PlatformUnavailable, match="HTTP 503"):
        await bbb(fake, http).get(link)


async def test_timeout_is_unavailable(fake: FakeBigBlueButton,
                                      http: aiohttp.ClientSession) -> None:
    for _ in range(4):
        fake.fail_next(hang=True)
    with pytest.raises(PlatformUnavailable, match="no answer in time"):
        await bbb(fake, http, timeout=0.05).check()


@pytest.mark.parametrize("body", [
    "<response><returncode>SUCC",  # cut off
    "<response><meetingID>x</meetingID></response>",  # no returncode
    "<html><returncode>SUCCESS</returncode></html>",  # not a response
    '<!DOCTYPE r [<!ENTITY a "aaaa">]><response><returncode>SUCCESS</returncode></response>',
])
async def test_malformed_answers_are_unavailable(fake: FakeBigBlueButton,
                                                 http: aiohttp.ClientSession, body: str) -> None:
    fake.fail_next(200, body, headers={"Content-Type": "text/xml"})
    with pytest.raises(PlatformUnavailable):
        await bbb(fake, http).get(MeetingLink("webinar-x", "https://x"))


async def test_missing_bbb_webhooks_does_not_fail_create(fake: FakeBigBlueButton,
                                                         http: aiohttp.ClientSession) -> None:
    fake.webhooks_installed = False
    link = await bbb(fake, http).create(SPEC)
    assert link.external_id in fake.meetings and fake.hooks == {}


# -- callbacks ---------------------------------------------------------------------------

async def test_end_callback(fake: FakeBigBlueButton, http: aiohttp.ClientSession) -> None:
    adapter = bbb(fake, http)
    link = await adapter.create(SPEC)
    await adapter.delete(link)
    headers, body, query, method = fake.hook(MEETING_ENDED, link)
    assert method == "GET" and query["recordingmarks"] == "false"
    reply = await adapter.handle_hook(request(headers, body, query, method))
    [event] = reply.events
    assert (reply.status, event.kind, event.external_id) == (200, MEETING_ENDED, link.external_id)
    again = await adapter.handle_hook(request(headers, body, query, method))
    assert again.events[0].dedupe_key == event.dedupe_key
    other = meeting_id("installation-secret-for-tests-0123456789", "someone-else")
    for forged in ({**query, "meetingID": other}, {**query, "sig": "0" * 64},
                   {k: v for k, v in query.items() if k != "sig"}, {"recordingmarks": "true"},
                   {**query, "sig": "подпись"}):
        with pytest.raises(BadSignature):
            await adapter.handle_hook(request({}, b"", forged, "GET"))


async def test_recording_ready_callback(fake: FakeBigBlueButton,
                                        http: aiohttp.ClientSession) -> None:
    adapter = bbb(fake, http)
    link = await adapter.create(SPEC)
    headers, body, query, method = fake.hook(RECORDING_READY, link)
    [event] = (await adapter.handle_hook(request(headers, body, query, method))).events
    assert event.kind == RECORDING_READY and event.external_id == link.external_id
    assert event.recording_url and event.recording_url.startswith(
        f"{fake.url}/playback/presentation/2.3/")
    again = await adapter.handle_hook(request(headers, body, query, method))
    assert again.events[0].dedupe_key == event.dedupe_key
    # getRecordings failing: the recording is still reported, without a URL
    for _ in range(4):
        fake.fail_next(500, path_contains="getRecordings")
    [bare] = (await adapter.handle_hook(request(headers, body, query, method))).events
    assert bare.kind == RECORDING_READY and bare.recording_url is None
    forged = jwt.encode({"meeting_id": link.external_id, "record_id": "x"}, "not-the-shared-secret-of-this-server-at-all",
                        algorithm="HS256")
    for fields in ({"signed_parameters": forged}, {"signed_parameters": "garbage"},
                   {"something": "else"}):
        with pytest.raises(BadSignature):
            await adapter.handle_hook(request(headers, urlencode(fields).encode(), {}, "POST"))
    unsigned = jwt.encode({"meeting_id": link.external_id}, fake.secret, algorithm="HS256")
    with pytest.raises(BadSignature, match="record_id"):
        await adapter.handle_hook(request(
            headers, urlencode({"signed_parameters": unsigned}).encode(), {}, "POST"))


async def test_webhook_joins_and_leaves(fake: FakeBigBlueButton,
                                        http: aiohttp.ClientSession) -> None:
    adapter = bbb(fake, http)
    link = await adapter.create(SPEC)
    joined = fake.hook(PARTICIPANT_JOINED, link, "r17", hook_url=HOOK_URL)
    [event] = (await adapter.handle_hook(request(*joined))).events
    assert (event.kind, event.participant_id, event.participant_name) == (
        PARTICIPANT_JOINED, "r17", "Анна Петрова")
    assert event.external_id == link.external_id
    assert abs(event.occurred_at - datetime.now(UTC)) < timedelta(minutes=1)
    again = (await adapter.handle_hook(request(*joined))).events[0]
    assert again.dedupe_key == event.dedupe_key
    [left] = (await adapter.handle_hook(request(
        *fake.hook(PARTICIPANT_LEFT, link, "r17", hook_url=HOOK_URL)))).events
    assert left.kind == PARTICIPANT_LEFT and left.dedupe_key != event.dedupe_key
    [guest] = (await adapter.handle_hook(request(
        *fake.hook(PARTICIPANT_JOINED, link, None, hook_url=HOOK_URL)))).events
    assert guest.participant_id is None  # BBB's own w_… id is not ours


async def test_webhook_variants(fake: FakeBigBlueButton, http: aiohttp.ClientSession) -> None:
    adapter = bbb(fake, http)
    link = await adapter.create(SPEC)
    single = fake.webhook("user-joined", link, "r17", hook_url=HOOK_URL, as_array=False,
                          algorithm="sha256")
    assert (await adapter.handle_hook(request(*single))).events[0].participant_id == "r17"
    ended = fake.webhook("meeting-ended", link, hook_url=HOOK_URL)
    assert [e.kind for e in (await adapter.handle_hook(request(*ended))).events] == [
        MEETING_ENDED]
    published = fake.webhook("rap-publish-ended", link, hook_url=HOOK_URL,
                             recording_url="https://bbb.example.org/playback/presentation/2.3/x")
    [recording] = (await adapter.handle_hook(request(*published))).events
    assert recording.recording_url == "https://bbb.example.org/playback/presentation/2.3/x"
    assert recording.dedupe_key.startswith(f"bbb:{link.external_id}:recording:")
    ignored = fake.webhook("meeting-created", link, hook_url=HOOK_URL)
    assert (await adapter.handle_hook(request(*ignored))).events == ()
    headers, body, _, method = fake.webhook("user-joined", link, "r17", hook_url=HOOK_URL)
    bearer = {**headers, "authorization": f"Bearer {fake.secret}"}  # bbb-webhooks auth2_0
    assert (await adapter.handle_hook(request(bearer, body, {}, method))).events


async def test_webhook_signature_and_staleness(fake: FakeBigBlueButton,
                                               http: aiohttp.ClientSession) -> None:
    adapter = bbb(fake, http)
    link = await adapter.create(SPEC)
    headers, body, query, method = fake.hook(PARTICIPANT_JOINED, link, "r17", hook_url=HOOK_URL)
    tampered = body.replace(b"r17", b"r18")
    elsewhere = fake.hook(PARTICIPANT_JOINED, link, "r17", hook_url=HOOK_URL + "-other")
    cases = [
        (headers, tampered, query),  # body changed
        (headers, body, {}),  # no checksum
        (headers, body, {"checksum": "0" * 40}),
        (headers, body, {"checksum": "abc"}),  # no algorithm has that length
        (elsewhere[0], elsewhere[1], elsewhere[2]),  # signed for another callback URL
        ({**headers, "authorization": "Bearer wrong"}, body, {}),
        ({**headers, "authorization": "Bearer ключ"}, body, {}),
        (headers, body, {"checksum": "я" * 40}),
    ]
    for case in cases:
        with pytest.raises(BadSignature):
            await adapter.handle_hook(request(*case, method))
    stale_ms = int((datetime.now(UTC) - timedelta(minutes=6)).timestamp() * 1000)
    stale = fake.webhook("user-joined", link, "r17", hook_url=HOOK_URL, timestamp_ms=stale_ms)
    with pytest.raises(BadSignature, match="stale"):
        await adapter.handle_hook(request(*stale))
    wrong_secret = bbb(fake, http, credentials={**fake.credentials(), "shared_secret": "x"})
    with pytest.raises(BadSignature):
        await wrong_secret.handle_hook(request(headers, body, query, method))


def test_the_fake_signs_webhooks_as_bbb_webhooks_does(fake: FakeBigBlueButton) -> None:
    """callbackURL + the form body as sent + secret; the URL gets `checksum`."""
    link = MeetingLink("webinar-x", "https://x")
    _, body, query, _ = fake.webhook("user-left", link, "r17", hook_url=HOOK_URL)
    assert set(dict(parse_qsl(body.decode()))) == {"domain", "event", "timestamp"}
    assert query["checksum"] == hashlib.sha1(
        HOOK_URL.encode() + body + fake.secret.encode()).hexdigest()
