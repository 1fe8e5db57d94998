"""Fake 8x8 JaaS (reference §1c): the token check of `GET /<AppID>/<room>?jwt=…`, and signed
webhooks.

A join is accepted as JaaS does: header `alg` RS256 and a `kid` "<AppID>/<keyId>" whose public
key was uploaded (here: `public_keys`), a valid signature with that key, `iss` "chat", `aud`
"jitsi", `sub` the AppID of the path, `room` the room of the path (or `*`), `exp` present and
not past, `nbf` not future, `context.user` values strings, `context.features` values
"true"/"false". 200 "joined as moderator|participant"; 401 (bad token) or 403 (another app or
room) with the reason. `hook()` makes webhooks signed with X-Jaas-Signature.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from integrations.base import (
    MEETING_ENDED,
    MEETING_STARTED,
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
    RECORDING_READY,
    MeetingLink,
)
from integrations.jitsi_tokens import jaas_signature

from . import FakeServer
from .jitsi_jwt import check_claims, joined

EVENT_TYPES = {MEETING_STARTED: "ROOM_CREATED", MEETING_ENDED: "ROOM_DESTROYED",
               PARTICIPANT_JOINED: "PARTICIPANT_JOINED", PARTICIPANT_LEFT: "PARTICIPANT_LEFT",
               RECORDING_READY: "RECORDING_UPLOADED"}


@functools.cache
def key_pair(bits: int = 2048) -> tuple[str, rsa.RSAPublicKey]:
    """One generated key per size for the whole test run (PEM private half, public half)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, key.public_key()


class FakeJaas(FakeServer):
    platform = "jaas"
    APP_ID = "vpaas-magic-cookie-0123456789abcdef0123456789abcdef"
    KEY_ID = "4f2a9c"
    WEBHOOK_SECRET = "jaas-endpoint-secret-for-tests"

    def __init__(self) -> None:
        super().__init__()
        pem, public = key_pair()
        self.private_key = pem
        self.public_keys: dict[str, rsa.RSAPublicKey] = {f"{self.APP_ID}/{self.KEY_ID}": public}
        self.clock: Callable[[], float] = time.time
        self.meetings: dict[str, list[dict[str, Any]]] = {}
        self.app.router.add_get("/{app_id}/{room}", self.join)

    def credentials(self) -> dict[str, str]:
        return {"app_id": self.APP_ID, "key_id": self.KEY_ID, "private_key": self.private_key,
                "webhook_secret": self.WEBHOOK_SECRET}

    def endpoints(self) -> dict[str, str]:
        return {"base": self.url}

    async def join(self, request: web.Request) -> web.Response:
        app_id, room = request.match_info["app_id"], request.match_info["room"].lower()
        token = request.query.get("jwt")
        if not token:
            return web.Response(status=401, text="a jwt is required")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "RS256":
                return web.Response(status=401, text="alg must be RS256")
            public = self.public_keys.get(str(header.get("kid")))
            if public is None:
                return web.Response(status=401, text=f"unknown kid {header.get('kid')!r}")
            claims = jwt.decode(token, public, algorithms=["RS256"],
                                options={"verify_exp": False, "verify_nbf": False,
                                         "verify_aud": False, "verify_iss": False})
        except jwt.InvalidSignatureError:
            return web.Response(status=401, text="signature verification failed")
        except jwt.InvalidTokenError as exc:
            return web.Response(status=401, text=f"invalid token: {exc}")
        if not str(header["kid"]).startswith(f"{app_id}/"):
            return web.Response(status=403, text="the key belongs to another AppID")
        if claims.get("iss") != "chat" or claims.get("aud") != "jitsi":
            return web.Response(status=401, text='iss must be "chat" and aud "jitsi"')
        problem = check_claims(claims, self.clock())
        if problem:
            return web.Response(status=401, text=problem)
        features = claims["context"].get("features", {})
        if not isinstance(features, dict) or any(
                v not in ("true", "false") for v in features.values()):
            return web.Response(status=401, text='context.features values are "true"/"false"')
        if claims.get("sub") != app_id:
            return web.Response(status=403, text="sub is not this AppID")
        if str(claims.get("room", "")).lower() not in (room, "*"):
            return web.Response(status=403, text="the token is for another room")
        user = claims["context"]["user"]
        role = joined(user, {})  # JaaS reads only context.user.moderator
        self.meetings.setdefault(room, []).append(
            {"user": user, "role": role, "features": features})
        return web.Response(text=f"joined as {role}")

    def envelope(self, kind: str, room: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"idempotencyKey": str(uuid.uuid4()), "customerId": "c0ffee-customer",
                "appId": self.APP_ID, "eventType": EVENT_TYPES[kind],
                "sessionId": str(uuid.uuid5(uuid.NAMESPACE_URL, room)),
                "timestamp": int(self.clock() * 1000), "fqn": f"{self.APP_ID}/{room}",
                "data": data}

    def sign(self, body: bytes, stamp: int | None = None) -> dict[str, str]:
        t = str(stamp if stamp is not None else int(self.clock()))
        return {"content-type": "application/json",
                "x-jaas-signature": f"t={t},v1={jaas_signature(self.WEBHOOK_SECRET, t, body)}"}

    def hook(self, kind: str, link: MeetingLink, participant_id: str | None = None, *,
             name: str = "Анна Петрова", recording_url: str | None = None,
             hook_url: str = "https://webinars.example/hooks/jaas/key",
             ) -> tuple[dict[str, str], bytes, dict[str, str], str]:
        room = link.external_id
        data: dict[str, Any]
        if kind in (PARTICIPANT_JOINED, PARTICIPANT_LEFT):
            data = {"name": name, "email": "", "id": participant_id, "group": "",
                    "moderator": False, "participantJid": f"{room}@muc/{uuid.uuid4().hex[:8]}"}
        elif kind == RECORDING_READY:
            data = {"preAuthenticatedLink": recording_url or "https://8x8.vc/rec/1.mp4",
                    "share": True, "participants": []}
        else:
            data = {"conference": f"{room}@conference.8x8.vc", "isBreakout": False}
        body = json.dumps(self.envelope(kind, room, data), ensure_ascii=False).encode()
        return self.sign(body), body, {}, "POST"


async def serve() -> FakeJaas:
    fake = FakeJaas()
    await fake.start()
    return fake
