"""Jitsi with JWT auth: a self-hosted server with Prosody token auth (`jitsi_jwt`, reference
§1b) and 8x8 JaaS (`jaas`, §1c).

Neither has a meeting API: a room exists once someone joins it, so create/get/update/delete
make no call. What they have is a token check: every person gets their own link
`<room URL>?jwt=<token>` signed here. The room name is a keyed hash of the event's
idempotency key (unguessable, the same for the same event, lower-case because Prosody
compares room names lower-cased).

Token lifetimes, chosen so a link works for the whole meeting but not for long after:
- a member's token expires one hour after the meeting's end (Prosody/JaaS check it again at
  every reconnect, and links handed out early must still work); when the end is unknown (a
  link made before we kept it), 24 hours from now;
- a host's token is minted when the host clicks: valid until one hour after the end, at
  least two hours, at most 24 hours from now (a leaked moderator token dies within a day);
- `nbf` is five minutes in the past to absorb clock skew.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from .base import (
    MEETING_ENDED,
    MEETING_STARTED,
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
    RECORDING_READY,
    AuthError,
    BadSignature,
    HookReply,
    HookRequest,
    MeetingLink,
    MeetingSpec,
    NotSupported,
    Person,
    PersonalLink,
    PlatformEvent,
)
from .http import AdapterContext

MEMBER_MARGIN = timedelta(hours=1)
MEMBER_UNKNOWN_END = timedelta(hours=24)
HOST_MIN = timedelta(hours=2)
HOST_MAX = timedelta(hours=24)
NBF_SKEW = timedelta(minutes=5)
#: Minimum HMAC secret length per algorithm (RFC 7518 §3.2: at least the hash size).
SECRET_BYTES = {"HS256": 32, "HS512": 64}
LOOPBACK = ("127.0.0.1", "localhost", "::1")
JAAS_BASE = "https://8x8.vc"
JAAS_APP_PREFIX = "vpaas-magic-cookie-"
HOOK_MAX_AGE = 300.0

#: JaaS webhook event types -> our kinds. ROOM_DESTROYED and RECORDING_UPLOADED are the
#: reference's [⚠] likely names; the recording link field [⚠] is `preAuthenticatedLink`.
JAAS_EVENTS = {
    "ROOM_CREATED": MEETING_STARTED,
    "ROOM_DESTROYED": MEETING_ENDED,
    "PARTICIPANT_JOINED": PARTICIPANT_JOINED,
    "PARTICIPANT_LEFT": PARTICIPANT_LEFT,
    "RECORDING_UPLOADED": RECORDING_READY,
}
JAAS_RECORDING_FIELD = "preAuthenticatedLink"


def room_name(secret: str, key: str) -> str:
    digest = hmac.new(secret.encode(), f"jitsi-tokens\0{key}".encode(),
                      hashlib.sha256).hexdigest()[:32]
    return f"webinar{digest}"


def jaas_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`base64(HMAC-SHA256(secret, "<t>." + body))`, the `v1` of X-Jaas-Signature."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def _stamp(when: datetime) -> int:
    return int(when.timestamp())


class _TokenAdapter:
    """What both token flavours share: rooms, links, lifetimes. Subclasses sign."""

    name = ""
    link_kind = "dynamic"
    label = ""

    def __init__(self, ctx: AdapterContext) -> None:
        self.ctx = ctx

    def _room_base(self) -> str:
        raise NotImplementedError

    def _sign(self, room: str, person: Person, moderator: bool,
              exp: datetime, now: datetime) -> str:
        raise NotImplementedError

    def _link(self, room: str, spec: MeetingSpec) -> MeetingLink:
        end = spec.end  # a course's last session: tokens bound by it serve every session
        return MeetingLink(external_id=room, join_url=f"{self._room_base()}/{room}",
                           extra={"start": spec.start.isoformat(), "end": end.isoformat()})

    async def create(self, spec: MeetingSpec) -> MeetingLink:
        self._room_base()  # refuse bad settings now rather than at the first click
        return self._link(room_name(self.ctx.secret, spec.idempotency_key or spec.title), spec)

    async def get(self, link: MeetingLink) -> MeetingLink:
        return link  # a room is only a name

    async def update(self, link: MeetingLink, spec: MeetingSpec) -> MeetingLink:
        """The same room; only the times that bound the tokens change."""
        return self._link(link.external_id, spec)

    async def delete(self, link: MeetingLink) -> None:
        return None  # rooms vanish when empty; tokens expire by themselves

    def _end(self, link: MeetingLink) -> datetime | None:
        try:
            end = datetime.fromisoformat(link.extra["end"])
        except (KeyError, ValueError):
            return None
        return end if end.tzinfo else end.replace(tzinfo=UTC)

    def _personal(self, link: MeetingLink, person: Person, moderator: bool) -> PersonalLink:
        now = self.ctx.now()
        end = self._end(link)
        if moderator:
            wanted = end + MEMBER_MARGIN if end else now + HOST_MAX
            exp = min(max(wanted, now + HOST_MIN), now + HOST_MAX)
        elif end is None:
            exp = now + MEMBER_UNKNOWN_END
        else:
            exp = max(end + MEMBER_MARGIN, now + MEMBER_MARGIN)
        token = self._sign(link.external_id, person, moderator, exp, now)
        url = f"{self._room_base()}/{link.external_id}?jwt={token}"
        return PersonalLink(url=url, expires_at=exp)

    @staticmethod
    def _user(person: Person, moderator: bool) -> dict[str, str]:
        """Every value a string: Prosody refuses null or numbers in context.user."""
        return {"id": str(person.id), "name": str(person.name), "email": str(person.email),
                "avatar": "", "moderator": "true" if moderator else "false"}

    async def host_link(self, link: MeetingLink, host: Person) -> PersonalLink:
        return self._personal(link, host, moderator=True)

    async def join_link(self, link: MeetingLink, person: Person) -> PersonalLink:
        return self._personal(link, person, moderator=False)

    async def attendance(self, link: MeetingLink) -> list[PlatformEvent]:
        raise NotSupported(f"{self.label} has no attendance report; our /j/ clicks count")


def _base_url(value: str, label: str) -> str:
    parts = urlsplit(value.strip())
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)
    if not parts.hostname or not secure:
        raise AuthError(f"{label}: the server address must be an https:// address "
                        f"(got {value!r})")
    return value.strip().rstrip("/")


class JitsiTokenAdapter(_TokenAdapter):
    """Self-hosted Jitsi with `jitsi-meet-tokens`: HS256/HS512 with Prosody's app_secret."""

    name = "jitsi_jwt"
    label = "Jitsi"

    def _settings(self) -> tuple[str, str, str, str, str]:
        base = _base_url(self.ctx.credential("base_url"), self.label)
        app_id = self.ctx.credential("app_id")
        secret = self.ctx.credential("app_secret")
        audience = self.ctx.credential("audience", "jitsi")
        algorithm = self.ctx.credential("algorithm", "HS256").upper()
        if not app_id:
            raise AuthError(f"{self.label}: the application id (Prosody app_id) is empty")
        if algorithm not in SECRET_BYTES:
            raise AuthError(f"{self.label}: the signature must be HS256 or HS512, "
                            f"not {algorithm}")
        need = SECRET_BYTES[algorithm]
        if len(secret.encode()) < need:
            raise AuthError(
                f"{self.label}: the application secret is {len(secret.encode())} bytes; "
                f"{algorithm} needs at least {need} (a short one lets anyone forge moderator "
                "tokens): set a longer app_secret in Prosody and here")
        return base, app_id, secret, audience, algorithm

    def _room_base(self) -> str:
        return self._settings()[0]

    def _subject(self, base: str) -> str:
        """The tenant for `https://host/<tenant>/<room>` servers, else the domain."""
        parts = urlsplit(base)
        tenant = parts.path.strip("/")
        return (tenant or parts.hostname or "").lower()

    def _sign(self, room: str, person: Person, moderator: bool,
              exp: datetime, now: datetime) -> str:
        base, app_id, secret, audience, algorithm = self._settings()
        claims: dict[str, Any] = {
            "iss": app_id, "aud": audience, "sub": self._subject(base), "room": room,
            "exp": _stamp(exp), "nbf": _stamp(now - NBF_SKEW),
            # token_affiliation reads context.user.moderator, token_moderation the top level.
            "context": {"user": self._user(person, moderator)},
            "moderator": moderator,
        }
        return jwt.encode(claims, secret, algorithm=algorithm)

    async def check(self) -> None:
        """A Prosody server has no API to ask: this only checks the settings (https address,
        algorithm, secret length). A wrong secret shows when the first person joins."""
        self._settings()

    async def handle_hook(self, request: HookRequest) -> HookReply:
        raise NotSupported("a self-hosted Jitsi server sends no callbacks")


class JaasAdapter(_TokenAdapter):
    """8x8 JaaS: RS256 tokens with the key pair whose public half is in the JaaS console;
    signed webhooks (X-Jaas-Signature)."""

    name = "jaas"
    label = "8x8 JaaS"

    def __init__(self, ctx: AdapterContext) -> None:
        super().__init__(ctx)
        self._key: RSAPrivateKey | None = None

    def _app_id(self) -> str:
        app_id = self.ctx.credential("app_id")
        if not app_id.startswith(JAAS_APP_PREFIX):
            raise AuthError(f"{self.label}: the AppID must start with {JAAS_APP_PREFIX} "
                            "(JaaS console → API keys)")
        return app_id

    def _room_base(self) -> str:
        return f"{self.ctx.endpoint('base', JAAS_BASE)}/{self._app_id()}"

    def _private_key(self) -> RSAPrivateKey:
        if self._key is not None:
            return self._key
        pem = self.ctx.credential("private_key")
        if "\\n" in pem and "\n" not in pem:
            pem = pem.replace("\\n", "\n")  # pasted from a one-line environment variable
        try:
            key = serialization.load_pem_private_key(pem.encode(), password=None)
        except (ValueError, TypeError):
            raise AuthError(f"{self.label}: the private key is not a PEM private key "
                            "(paste the whole file, BEGIN and END lines included)") from None
        if not isinstance(key, RSAPrivateKey):
            raise AuthError(f"{self.label}: the private key is not an RSA key; JaaS signs "
                            "with RS256")
        if key.key_size < 2048:
            raise AuthError(f"{self.label}: the RSA key has {key.key_size} bits; "
                            "generate a 2048-bit (or larger) key pair")
        self._key = key
        return key

    def _kid(self, app_id: str) -> str:
        key_id = self.ctx.credential("key_id")
        if not key_id:
            raise AuthError(f"{self.label}: the API key id is empty (JaaS console → API keys)")
        # The console shows it either bare or as "<AppID>/<keyId>".
        return key_id if key_id.startswith(f"{app_id}/") else f"{app_id}/{key_id}"

    def _sign(self, room: str, person: Person, moderator: bool,
              exp: datetime, now: datetime) -> str:
        app_id = self._app_id()
        flag = "true" if moderator else "false"
        claims: dict[str, Any] = {
            "iss": "chat", "aud": "jitsi", "sub": app_id, "room": room,
            "exp": _stamp(exp), "nbf": _stamp(now - NBF_SKEW),
            "context": {
                "user": self._user(person, moderator),
                "features": {"livestreaming": "false", "recording": flag,
                             "transcription": "false", "outbound-call": "false"},
            },
        }
        return jwt.encode(claims, self._private_key(), algorithm="RS256",
                          headers={"kid": self._kid(app_id), "typ": "JWT"})

    async def check(self) -> None:
        """JaaS has no harmless call for these keys: the AppID, key id and private key are
        checked here; the console's public key is only checked at the first join."""
        self._kid(self._app_id())
        self._private_key()

    async def handle_hook(self, request: HookRequest) -> HookReply:
        secret = self.ctx.credential("webhook_secret")
        if not secret:
            raise BadSignature(f"{self.label}: no webhook secret is set, so callbacks cannot "
                               "be verified: copy it from the JaaS console → Webhooks")
        stamp, signatures = "", []
        for part in request.headers.get("x-jaas-signature", "").split(","):
            scheme, _, value = part.strip().partition("=")
            if scheme == "t":
                stamp = value
            elif scheme == "v1":
                signatures.append(value)  # other schemes are ignored, as JaaS asks
        if not stamp.isdigit() or not signatures:
            raise BadSignature(f"{self.label}: the X-Jaas-Signature header is missing "
                               "or has no t/v1")
        expected = jaas_signature(secret, stamp, request.body)
        if not any(hmac.compare_digest(expected, s) for s in signatures):
            raise BadSignature(f"{self.label}: the webhook signature does not match the "
                               "webhook secret")
        if abs(self.ctx.now().timestamp() - int(stamp)) > HOOK_MAX_AGE:
            raise BadSignature(f"{self.label}: the webhook is older than 5 minutes "
                               "(replayed, or the clocks differ)")
        try:
            body = json.loads(request.body)
        except ValueError:
            raise BadSignature(f"{self.label}: the signed webhook is not JSON") from None
        if not isinstance(body, dict):
            raise BadSignature(f"{self.label}: the signed webhook is not a JSON object")
        return HookReply(events=self._events(body, request.received_at))

    def _events(self, body: dict[str, Any], received: datetime) -> tuple[PlatformEvent, ...]:
        kind = JAAS_EVENTS.get(str(body.get("eventType", "")))
        fqn = str(body.get("fqn") or "")
        room = fqn.partition("/")[2] or fqn
        if kind is None or not room:
            return ()
        raw = body.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        stamp = body.get("timestamp")
        occurred = (datetime.fromtimestamp(stamp / 1000, UTC)
                    if isinstance(stamp, int | float) and not isinstance(stamp, bool)
                    else received)
        key = str(body.get("idempotencyKey") or ":".join(str(p) for p in (
            "jaas", body.get("eventType"), body.get("sessionId"), stamp, data.get("id"))))
        person = kind in (PARTICIPANT_JOINED, PARTICIPANT_LEFT)
        pid, name = data.get("id"), data.get("name")
        link = data.get(JAAS_RECORDING_FIELD)
        return (PlatformEvent(
            kind=kind, external_id=room.lower(), occurred_at=occurred, dedupe_key=key,
            participant_id=str(pid) if person and pid not in (None, "") else None,
            participant_name=str(name) if person and name else None,
            recording_url=str(link) if kind == RECORDING_READY and link else None),)
