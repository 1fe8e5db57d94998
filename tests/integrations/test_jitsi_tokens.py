"""Self-hosted Jitsi tokens and 8x8 JaaS: the links the adapters mint are opened on fakes that
check tokens the way Prosody and JaaS do, so a test passes only if the server would let the
person in (and refuses what it would refuse)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from integrations.base import (
    MEETING_ENDED,
    MEETING_STARTED,
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
    RECORDING_READY,
    AuthError,
    BadSignature,
    HookRequest,
    MeetingLink,
    MeetingSpec,
    NotSupported,
    Person,
)
from integrations.jitsi_tokens import JaasAdapter, JitsiTokenAdapter, jaas_signature
from tests.fakes import adapter_for
from tests.fakes.jaas import FakeJaas, key_pair
from tests.fakes.jaas import serve as serve_jaas
from tests.fakes.jitsi_jwt import FakeJitsiJwt
from tests.fakes.jitsi_jwt import serve as serve_jitsi

NOW = datetime.now(UTC).replace(microsecond=0)
SPEC = MeetingSpec(title="Вебинар", start=NOW + timedelta(days=3), duration=timedelta(hours=2),
                   idempotency_key="webinar-1@union.example", timezone="Europe/Moscow")
MEMBER = Person("r17", "Анна Петрова", "anna@union.example")
HOST = Person("h3", "Иван Организатор", "ivan@union.example")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def jitsi() -> AsyncIterator[FakeJitsiJwt]:
    server = await serve_jitsi()
    yield server
    await server.close()


@pytest.fixture
async def jaas() -> AsyncIterator[FakeJaas]:
    server = await serve_jaas()
    yield server
    await server.close()


def make(platform: str, fake: Any, http: aiohttp.ClientSession, *,
         now: datetime | None = None, **credentials: str) -> Any:
    adapter = adapter_for(platform, fake, http,
                          credentials={**fake.credentials(), **credentials})
    assert isinstance(adapter, JitsiTokenAdapter | JaasAdapter)
    if now is not None:
        adapter.ctx = dataclasses.replace(adapter.ctx, now=lambda: now)
    return adapter


async def open_link(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as answer:
        return answer.status, await answer.text()


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["jwt"][0]


def claims_of(url: str) -> dict[str, Any]:
    return jwt.decode(token_of(url), options={"verify_signature": False})


def hs(claims: dict[str, Any], secret: str = FakeJitsiJwt.APP_SECRET,
       algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def good_claims(path_room: str, **changes: Any) -> dict[str, Any]:
    claims = {"iss": FakeJitsiJwt.APP_ID, "aud": "jitsi", "sub": "127.0.0.1", "room": path_room,
              "exp": int(time.time()) + 600, "nbf": int(time.time()) - 60,
              "context": {"user": {"id": "r1", "name": "A", "email": "a@x", "moderator": "false"}}}
    claims.update(changes)
    return claims


# --- self-hosted Jitsi: the fake refuses what Prosody refuses ------------------------------

@pytest.mark.parametrize(("change", "status", "reason"), [
    ({}, 200, "joined as participant"),
    ({"room": "*"}, 200, "joined as participant"),
    ({"exp": int(time.time()) - 1}, 401, "expired"),
    ({"exp": None}, 401, "exp is required"),
    ({"nbf": int(time.time()) + 600}, 401, "nbf"),
    ({"aud": "other"}, 401, "audience"),
    ({"iss": "other"}, 401, "issuer"),
    ({"sub": "meet.other.org"}, 403, "domain"),
    ({"room": "anotherroom"}, 403, "another room"),
    ({"context": {"user": {"id": 17, "name": "A"}}}, 401, "must be a string"),
    ({"context": {"user": {"id": "r1", "name": None}}}, 401, "must be a string"),
])
async def test_fake_prosody_checks_tokens(jitsi: FakeJitsiJwt, http: aiohttp.ClientSession,
                                          change: dict[str, Any], status: int,
                                          reason: str) -> None:
    claims = good_claims("webinarroom", **change)
    if claims["exp"] is None:
        del claims["exp"]
    got_status, text = await open_link(http, f"{jitsi.url}/webinarroom?jwt={hs(claims)}")
    assert got_status == status and reason in text


async def test_fake_prosody_refuses_no_token_a_wrong_secret_and_another_algorithm(
        jitsi: FakeJitsiJwt, http: aiohttp.ClientSession) -> None:
    assert (await open_link(http, f"{jitsi.url}/webinarroom"))[0] == 401
    forged = hs(good_claims("webinarroom"), secret="x" * 40)
    assert await open_link(http, f"{jitsi.url}/webinarroom?jwt={forged}") == (
        401, "signature verification failed")
    other = hs(good_claims("webinarroom"), algorithm="HS512")
    assert (await open_link(http, f"{jitsi.url}/webinarroom?jwt={other}"))[0] == 401


# --- self-hosted Jitsi: the adapter ------------------------------------------------------

async def test_minted_links_open_the_room_with_the_right_role(
        jitsi: FakeJitsiJwt, http: aiohttp.ClientSession) -> None:
    adapter = make("jitsi_jwt", jitsi, http)
    link = await adapter.create(SPEC)
    assert link.join_url == f"{jitsi.url}/{link.external_id}"
    member = await adapter.join_link(link, MEMBER)
    host = await adapter.host_link(link, HOST)
    assert await open_link(http, member.url) == (200, "joined as participant")
    assert await open_link(http, host.url) == (200, "joined as moderator")
    assert [j["user"]["id"] for j in jitsi.meetings[link.external_id]] == ["r17", "h3"]
    claims = claims_of(member.url)
    assert claims["iss"] == FakeJitsiJwt.APP_ID and claims["aud"] == "jitsi"
    assert claims["sub"] == "127.0.0.1" and claims["room"] == link.external_id
    assert claims["context"]["user"] == {"id": "r17", "name": "Анна Петрова",
                                         "email": "anna@union.example", "avatar": "",
                                         "moderator": "false"}
    assert claims["moderator"] is False and claims_of(host.url)["moderator"] is True
    assert claims_of(host.url)["context"]["user"]["moderator"] == "true"


async def test_hs512_servers(http: aiohttp.ClientSession) -> None:
    fake = FakeJitsiJwt(algorithm="HS512")
    await fake.start()
    try:
        adapter = make("jitsi_jwt", fake, http)
        link = await adapter.join_link(await adapter.create(SPEC), MEMBER)
        assert jwt.get_unverified_header(token_of(link.url))["alg"] == "HS512"
        assert (await open_link(http, link.url))[0] == 200
    finally:
        await fake.close()


async def test_a_wrong_secret_or_another_room_is_refused_by_the_server(
        jitsi: FakeJitsiJwt, http: aiohttp.ClientSession) -> None:
    wrong = make("jitsi_jwt", jitsi, http, app_secret="another-secret-" + "x" * 40)
    link = await wrong.create(SPEC)
    assert await open_link(http, (await wrong.join_link(link, MEMBER)).url) == (
        401, "signature verification failed")
    adapter = make("jitsi_jwt", jitsi, http)
    other = await adapter.create(MeetingSpec(**{**SPEC.__dict__, "idempotency_key": "w2"}))
    token = token_of((await adapter.join_link(link, MEMBER)).url)
    assert (await open_link(http, f"{other.join_url}?jwt={token}"))[0] == 403


async def test_rooms_are_stable_unguessable_and_kept_when_the_webinar_moves(
        jitsi: FakeJitsiJwt, http: aiohttp.ClientSession) -> None:
    adapter = make("jitsi_jwt", jitsi, http)
    link = await adapter.create(SPEC)
    assert (await adapter.create(SPEC)).external_id == link.external_id
    other = await adapter.create(MeetingSpec(**{**SPEC.__dict__, "idempotency_key": "w2"}))
    assert other.external_id != link.external_id
    assert link.external_id == link.external_id.lower() and "webinar-1" not in link.join_url
    later = SPEC.start + timedelta(days=7)
    moved = await adapter.update(link, MeetingSpec(**{**SPEC.__dict__, "start": later}))
    assert moved.external_id == link.external_id and moved.join_url == link.join_url
    assert await adapter.get(moved) == moved
    exp = claims_of((await adapter.join_link(moved, MEMBER)).url)["exp"]
    assert exp == int((later + SPEC.duration + timedelta(hours=1)).timestamp())
    await adapter.delete(moved)


async def test_token_lifetimes(jitsi: FakeJitsiJwt, http: aiohttp.ClientSession) -> None:
    adapter = make("jitsi_jwt", jitsi, http, now=NOW)
    link = await adapter.create(SPEC)
    end = SPEC.start + SPEC.duration
    member = await adapter.join_link(link, MEMBER)
    assert member.expires_at == end + timedelta(hours=1)  # works through the whole meeting
    assert claims_of(member.url)["nbf"] == int((NOW - timedelta(minutes=5)).timestamp())
    host = await adapter.host_link(link, HOST)
    assert host.expires_at == NOW + timedelta(hours=24)  # a moderator token lives a day at most
    at_start = make("jitsi_jwt", jitsi, http, now=SPEC.start)
    assert (await at_start.host_link(link, HOST)).expires_at == end + timedelta(hours=1)
    unknown = MeetingLink(link.external_id, link.join_url)  # made before we kept the times
    assert (await adapter.join_link(unknown, MEMBER)).expires_at == NOW + timedelta(hours=24)


async def test_an_expired_link_is_refused_and_a_fresh_one_works(
        jitsi: FakeJitsiJwt, http: aiohttp.ClientSession) -> None:
    yesterday = make("jitsi_jwt", jitsi, http, now=NOW - timedelta(days=2))
    link = await yesterday.create(SPEC)
    old = await yesterday.host_link(link, HOST)
    assert await open_link(http, old.url) == (401, "token expired")
    fresh = await make("jitsi_jwt", jitsi, http).host_link(link, HOST)
    assert await open_link(http, fresh.url) == (200, "joined as moderator")


async def test_tenant_servers_use_the_tenant_as_subject(http: aiohttp.ClientSession) -> None:
    adapter = make("jitsi_jwt", FakeJitsiJwt(), http,
                   base_url="https://meet.example.org/Union/")
    link = await adapter.create(SPEC)
    assert link.join_url.startswith("https://meet.example.org/Union/webinar")
    assert claims_of((await adapter.join_link(link, MEMBER)).url)["sub"] == "union"


@pytest.mark.parametrize(("changes", "message"), [
    ({"base_url": "http://meet.example.org"}, "https://"),
    ({"base_url": "meet.example.org"}, "https://"),
    ({"app_secret": "short"}, "5 bytes; HS256 needs at least 32"),
    ({"algorithm": "HS512", "app_secret": "s" * 40}, "HS512 needs at least 64"),
    ({"algorithm": "RS256"}, "HS256 or HS512"),
    ({"app_id": ""}, "app_id"),
])
async def test_jitsi_check_validates_the_settings_locally(
        jitsi: FakeJitsiJwt, http: aiohttp.ClientSession, changes: dict[str, str],
        message: str) -> None:
    await make("jitsi_jwt", jitsi, http).check()
    await make("jitsi_jwt", jitsi, http, base_url="https://meet.example.org").check()
    bad = make("jitsi_jwt", jitsi, http, **changes)
    with pytest.raises(AuthError, match=message):
        await bad.check()
    with pytest.raises(AuthError):
        await bad.create(SPEC)
    assert jitsi.requests == []  # nothing to call


async def test_jitsi_has_no_hooks_or_reports(jitsi: FakeJitsiJwt,
                                             http: aiohttp.ClientSession) -> None:
    adapter = make("jitsi_jwt", jitsi, http)
    with pytest.raises(NotSupported):
        await adapter.handle_hook(HookRequest({}, b"{}", {}, NOW))
    with pytest.raises(NotSupported):
        await adapter.attendance(await adapter.create(SPEC))


# --- JaaS: the fake refuses what JaaS refuses --------------------------------------------

def rs(claims: dict[str, Any], kid: str, pem: str | None = None) -> str:
    return jwt.encode(claims, pem or key_pair()[0], algorithm="RS256",
                      headers={"kid": kid, "typ": "JWT"})


def jaas_claims(path_room: str, **changes: Any) -> dict[str, Any]:
    claims = {"iss": "chat", "aud": "jitsi", "sub": FakeJaas.APP_ID, "room": path_room,
              "exp": int(time.time()) + 600, "nbf": int(time.time()) - 10,
              "context": {"user": {"id": "r1", "name": "A", "email": "", "avatar": "",
                                   "moderator": "false"},
                          "features": {"recording": "false"}}}
    claims.update(changes)
    return claims


async def test_fake_jaas_checks_tokens(jaas: FakeJaas, http: aiohttp.ClientSession) -> None:
    kid = f"{FakeJaas.APP_ID}/{FakeJaas.KEY_ID}"
    room_url = f"{jaas.url}/{FakeJaas.APP_ID}/webinarroom"
    assert await open_link(http, f"{room_url}?jwt={rs(jaas_claims('webinarroom'), kid)}") == (
        200, "joined as participant")
    cases: list[tuple[str, int, str]] = [
        (rs(jaas_claims("webinarroom"), f"{FakeJaas.APP_ID}/unknown"), 401, "unknown kid"),
        (rs(jaas_claims("webinarroom", exp=int(time.time()) - 5), kid), 401, "expired"),
        (rs(jaas_claims("webinarroom", iss="my_app"), kid), 401, "iss"),
        (rs(jaas_claims("webinarroom", room="other"), kid), 403, "another room"),
        (rs(jaas_claims("webinarroom", sub="vpaas-magic-cookie-other"), kid), 403, "AppID"),
        (rs(jaas_claims("webinarroom", context={"user": {"moderator": True}}), kid), 401,
         "must be a string"),
        (rs(jaas_claims("webinarroom", context={"user": {}, "features": {"recording": True}}),
            kid), 401, "features"),
        (hs(jaas_claims("webinarroom"), secret="x" * 40), 401, "RS256"),
    ]
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger_pem = stranger.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()).decode()
    cases.append((rs(jaas_claims("webinarroom"), kid, stranger_pem), 401, "signature"))
    for token, status, reason in cases:
        got_status, text = await open_link(http, f"{room_url}?jwt={token}")
        assert (got_status, reason in text) == (status, True), text
    assert (await open_link(http, room_url))[0] == 401


# --- JaaS: the adapter -------------------------------------------------------------------

async def test_jaas_links_are_accepted_with_the_right_role_and_features(
        jaas: FakeJaas, http: aiohttp.ClientSession) -> None:
    adapter = make("jaas", jaas, http)
    link = await adapter.create(SPEC)
    assert link.join_url == f"{jaas.url}/{FakeJaas.APP_ID}/{link.external_id}"
    member = await adapter.join_link(link, MEMBER)
    host = await adapter.host_link(link, HOST)
    assert await open_link(http, member.url) == (200, "joined as participant")
    assert await open_link(http, host.url) == (200, "joined as moderator")
    header = jwt.get_unverified_header(token_of(member.url))
    assert header == {"alg": "RS256", "kid": f"{FakeJaas.APP_ID}/{FakeJaas.KEY_ID}",
                      "typ": "JWT"}
    claims = claims_of(member.url)
    assert (claims["iss"], claims["aud"], claims["sub"], claims["room"]) == (
        "chat", "jitsi", FakeJaas.APP_ID, link.external_id)
    assert claims["context"]["user"] == {"id": "r17", "name": "Анна Петрова",
                                         "email": "anna@union.example", "avatar": "",
                                         "moderator": "false"}
    assert claims["context"]["features"] == {"livestreaming": "false", "recording": "false",
                                             "transcription": "false", "outbound-call": "false"}
    assert claims_of(host.url)["context"]["features"]["recording"] == "true"
    assert claims["nbf"] <= time.time() < claims["exp"]


async def test_jaas_key_id_may_be_given_with_the_app_id_and_keys_pasted_on_one_line(
        jaas: FakeJaas, http: aiohttp.ClientSession) -> None:
    adapter = make("jaas", jaas, http, key_id=f"{FakeJaas.APP_ID}/{FakeJaas.KEY_ID}",
                   private_key=jaas.private_key.replace("\n", "\\n"))
    await adapter.check()
    link = await adapter.join_link(await adapter.create(SPEC), MEMBER)
    assert (await open_link(http, link.url))[0] == 200


async def test_jaas_expired_links_are_refused_and_a_wrong_key_too(
        jaas: FakeJaas, http: aiohttp.ClientSession) -> None:
    old = make("jaas", jaas, http, now=NOW - timedelta(days=2))
    link = await old.create(SPEC)
    assert await open_link(http, (await old.host_link(link, HOST)).url) == (
        401, "token expired")
    unknown = make("jaas", jaas, http, key_id="not-uploaded")
    assert (await open_link(http, (await unknown.join_link(link, MEMBER)).url))[0] == 401


def pem_of(key: Any) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.mark.parametrize(("changes", "message"), [
    (lambda: {"private_key": "not a key"}, "not a PEM private key"),
    (lambda: {"private_key": pem_of(ec.generate_private_key(ec.SECP256R1()))}, "not an RSA"),
    (lambda: {"private_key": pem_of(rsa.generate_private_key(65537, 1024))}, "1024 bits"),
    (lambda: {"app_id": "my-app"}, "vpaas-magic-cookie-"),
    (lambda: {"key_id": ""}, "key id is empty"),
])
async def test_jaas_check_names_the_problem(jaas: FakeJaas, http: aiohttp.ClientSession,
                                            changes: Callable[[], dict[str, str]],
                                            message: str) -> None:
    await make("jaas", jaas, http).check()
    with pytest.raises(AuthError, match=message):
        await make("jaas", jaas, http, **changes()).check()


# --- JaaS webhooks -----------------------------------------------------------------------

def test_jaas_signature_test_vector() -> None:
    assert jaas_signature("test_secret", "1632490060", b'{"eventType":"PARTICIPANT_JOINED"}'
                          ) == "FMlNFyq8lhly3J6jTE9ABEr59hSOrqUst2Fi8ubAAqY="


async def test_jaas_verifies_the_reference_vector(jaas: FakeJaas,
                                                  http: aiohttp.ClientSession) -> None:
    adapter = make("jaas", jaas, http, webhook_secret="test_secret",
                   now=datetime.fromtimestamp(1632490060 + 30, UTC))
    header = "t=1632490060,v1=FMlNFyq8lhly3J6jTE9ABEr59hSOrqUst2Fi8ubAAqY="
    request = HookRequest({"x-jaas-signature": header}, b'{"eventType":"PARTICIPANT_JOINED"}',
                          {}, NOW)
    assert (await adapter.handle_hook(request)).events == ()  # genuine, but names no room
    tampered = dataclasses.replace(request, body=b'{"eventType":"PARTICIPANT_LEFT"}')
    with pytest.raises(BadSignature, match="does not match"):
        await adapter.handle_hook(tampered)


def received(hook: tuple[dict[str, str], bytes, dict[str, str], str]) -> HookRequest:
    headers, body, query, method = hook
    return HookRequest(headers, body, query, datetime.now(UTC), method)


@pytest.mark.parametrize("kind", [PARTICIPANT_JOINED, PARTICIPANT_LEFT, MEETING_STARTED,
                                  MEETING_ENDED, RECORDING_READY])
async def test_jaas_webhooks_are_normalised(jaas: FakeJaas, http: aiohttp.ClientSession,
                                            kind: str) -> None:
    adapter = make("jaas", jaas, http)
    link = await adapter.create(SPEC)
    person = kind in (PARTICIPANT_JOINED, PARTICIPANT_LEFT)
    hook = jaas.hook(kind, link, MEMBER.id if person else None,
                     recording_url="https://8x8.vc/rec/abc.mp4")
    reply = await adapter.handle_hook(received(hook))
    assert reply.status == 200 and len(reply.events) == 1
    event = reply.events[0]
    assert (event.kind, event.external_id) == (kind, link.external_id)
    assert event.participant_id == (MEMBER.id if person else None)
    assert event.participant_name == ("Анна Петрова" if person else None)
    assert event.recording_url == ("https://8x8.vc/rec/abc.mp4"
                                   if kind == RECORDING_READY else None)
    assert event.dedupe_key == json.loads(hook[1])["idempotencyKey"]
    assert abs((event.occurred_at - datetime.now(UTC)).total_seconds()) < 5
    assert (await adapter.handle_hook(received(hook))).events[0].dedupe_key == event.dedupe_key
    other = await adapter.handle_hook(received(jaas.hook(kind, link, MEMBER.id)))
    assert other.events[0].dedupe_key != event.dedupe_key


async def test_jaas_refuses_unsigned_forged_and_stale_webhooks(
        jaas: FakeJaas, http: aiohttp.ClientSession) -> None:
    adapter = make("jaas", jaas, http)
    link = await adapter.create(SPEC)
    headers, body, query, method = jaas.hook(PARTICIPANT_JOINED, link, MEMBER.id)

    async def refused(hdrs: dict[str, str], raw: bytes, match: str) -> None:
        with pytest.raises(BadSignature, match=match):
            await adapter.handle_hook(HookRequest(hdrs, raw, query, NOW, method))

    await refused({}, body, "missing")
    await refused({**headers, "x-jaas-signature": "t=1700000000"}, body, "missing")
    await refused(headers, body.replace(b"r17", b"r99"), "does not match")
    forged = jaas_signature("guessed-secret", str(int(time.time())), body)
    await refused({"x-jaas-signature": f"t={int(time.time())},v1={forged}"}, body,
                  "does not match")
    stale = int(time.time()) - 301
    await refused(jaas.sign(body, stale), body, "older than 5 minutes")
    # Other schemes are ignored: a v0 next to the good v1 is fine, a v0 alone is not enough.
    stamp = headers["x-jaas-signature"]
    with_v0 = {"x-jaas-signature": stamp.replace(",v1=", ",v0=bogus,v1=")}
    assert (await adapter.handle_hook(HookRequest(with_v0, body, query, NOW))).events
    await refused({"x-jaas-signature": stamp.replace("v1=", "v0=")}, body, "missing")
    no_secret = make("jaas", jaas, http, webhook_secret="")
    with pytest.raises(BadSignature, match="no webhook secret"):
        await no_secret.handle_hook(HookRequest(headers, body, query, NOW))


async def test_jaas_ignores_unknown_events_and_has_no_report(
        jaas: FakeJaas, http: aiohttp.ClientSession) -> None:
    adapter = make("jaas", jaas, http)
    body = json.dumps({"idempotencyKey": "k", "eventType": "TRANSCRIPTION_UPLOADED",
                       "fqn": f"{FakeJaas.APP_ID}/room", "data": {}}).encode()
    assert (await adapter.handle_hook(HookRequest(jaas.sign(body), body, {}, NOW))).events == ()
    with pytest.raises(NotSupported):
        await adapter.attendance(await adapter.create(SPEC))
