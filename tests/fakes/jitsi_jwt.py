"""Fake self-hosted Jitsi with Prosody token auth (reference §1b).

There is no API: the fake plays the token check a join goes through. `GET /<room>?jwt=…`
verifies the token as `mod_auth_token` + `token_affiliation` do: signature with the app
secret and the configured algorithm only, `iss` = app_id, `aud` among the accepted audiences,
`exp` present and not past, `nbf` not future, every `context.user` value a string, `sub` the
domain (or `*`), `room` the room in the path (or `*`, compared lower-cased). It answers
200 "joined as moderator|participant" (moderator from `context.user.moderator` or the
top-level `moderator`), 401 with the reason for a bad token, 403 for a token of another
room or domain. `meetings` maps each room to the joins it saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
from aiohttp import web

from . import FakeServer


def check_claims(claims: dict[str, Any], now: float) -> str | None:
    """The checks Prosody and JaaS share: lifetime and string-only user context."""
    exp = claims.get("exp")
    if not isinstance(exp, int | float):
        return "exp is required"
    if exp <= now:
        return "token expired"
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, int | float) or nbf > now):
        return "token not yet valid (nbf)"
    context = claims.get("context", {})
    user = context.get("user", {}) if isinstance(context, dict) else None
    if not isinstance(user, dict):
        return "context.user must be an object"
    for key, value in user.items():
        if not isinstance(value, str):
            return f"context.user.{key} must be a string, not {type(value).__name__}"
    return None


def joined(user: dict[str, Any], claims: dict[str, Any]) -> str:
    moderator = user.get("moderator") in ("true", True) or claims.get("moderator") is True
    return "moderator" if moderator else "participant"


class FakeJitsiJwt(FakeServer):
    platform = "jitsi_jwt"
    APP_ID = "webinars-app"
    APP_SECRET = "prosody-app-secret-for-the-tests-0123456789abcdef-long-enough-for-hs512"

    def __init__(self, algorithm: str = "HS256") -> None:
        super().__init__()
        self.algorithm = algorithm
        self.audiences = {"jitsi"}
        self.clock: Callable[[], float] = time.time
        self.meetings: dict[str, list[dict[str, Any]]] = {}
        self.app.router.add_get("/{room}", self.join)

    def credentials(self) -> dict[str, str]:
        return {"base_url": self.url, "app_id": self.APP_ID, "app_secret": self.APP_SECRET,
                "audience": "jitsi", "algorithm": self.algorithm}

    @property
    def domain(self) -> str:
        return "127.0.0.1"

    async def join(self, request: web.Request) -> web.Response:
        room = request.match_info["room"].lower()
        token = request.query.get("jwt")
        if not token:
            return web.Response(status=401, text="not-allowed: a token is required")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != self.algorithm:
                return web.Response(status=401, text=f"alg must be {self.algorithm}")
            claims = jwt.decode(token, self.APP_SECRET, algorithms=[self.algorithm],
                                options={"verify_exp": False, "verify_nbf": False,
                                         "verify_aud": False, "verify_iss": False})
        except jwt.InvalidSignatureError:
            return web.Response(status=401, text="signature verification failed")
        except jwt.InvalidTokenError as exc:
            return web.Response(status=401, text=f"invalid token: {exc}")
        if claims.get("iss") != self.APP_ID:
            return web.Response(status=401, text="iss is not an accepted issuer")
        if claims.get("aud") not in self.audiences:
            return web.Response(status=401, text="aud is not an accepted audience")
        problem = check_claims(claims, self.clock())
        if problem:
            return web.Response(status=401, text=problem)
        if claims.get("sub") not in (self.domain, "*"):
            return web.Response(status=403, text="sub does not match this domain")
        if str(claims.get("room", "")).lower() not in (room, "*"):
            return web.Response(status=403, text="the token is for another room")
        user = claims["context"]["user"]
        role = joined(user, claims)
        self.meetings.setdefault(room, []).append({"user": user, "role": role})
        return web.Response(text=f"joined as {role}")


async def serve() -> FakeJitsiJwt:
    fake = FakeJitsiJwt()
    await fake.start()
    return fake
