"""A fake Yandex Telemost API (reference §7): conferences with waiting rooms and cohosts.

It refuses what Telemost refuses: a missing token or any scheme but `OAuth` (401
UnauthorizedError), an unknown or expired token (401), a personal (non-Yandex 360 for
Business) account (403 ApiRestrictedToOrganizations), a token without the operation's scope
(403 ForbiddenError), bodies that are not application/json (415), an unknown
`waiting_room_level` or malformed cohosts (400), a live stream without a paid plan (402).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import FakeServer

ALL_SCOPES = frozenset(f"telemost-api:conferences.{op}"
                       for op in ("create", "read", "update", "delete"))
#: [⚠] the admins-only level: "ADMINS" here (several clients); change with the adapter's table.
LEVELS = {"PUBLIC", "ORGANIZATION", "ADMINS"}


@dataclass
class Token:
    scopes: frozenset[str] = ALL_SCOPES
    #: A user of a Yandex 360 for Business organisation (else 403 ApiRestrictedToOrganizations).
    organisation: bool = True
    expired: bool = False
    paid_plan: bool = False


def error(status: int, code: str, message: str, description: str = "") -> web.Response:
    return web.json_response({"error": code, "message": message,
                              "description": description or message}, status=status,
                             headers={"Yandex-Cloud-Request-ID": f"fake-{uuid.uuid4()}"})


class FakeTelemost(FakeServer):
    platform = "telemost"

    def __init__(self) -> None:
        super().__init__()
        self.token = "y0_AgAAAAB-business-token"
        self.tokens: dict[str, Token] = {self.token: Token()}
        self.meetings: dict[str, dict[str, Any]] = {}
        self.request_ids: list[str] = []
        self.bodies: list[tuple[str, dict[str, Any]]] = []
        self._next = 78566269088286
        base = "/v1/telemost-api/conferences"
        self.app.router.add_post(base, self.create)
        self.app.router.add_get(base + "/{id}", self.get)
        self.app.router.add_patch(base + "/{id}", self.patch)
        self.app.router.add_delete(base + "/{id}", self.delete)

    def credentials(self) -> dict[str, str]:
        return {"oauth_token": self.token, "waiting_room": "ORGANIZATION",
                "cohosts": "co@union.example"}

    def endpoints(self) -> dict[str, str]:
        return {"api": f"{self.url}/v1/telemost-api"}

    def add_token(self, token: str, **kwargs: Any) -> str:
        self.tokens[token] = Token(**kwargs)
        return token

    def _refuse(self, request: web.Request, op: str) -> web.Response | None:
        if request.headers.get("X-Request-ID"):
            self.request_ids.append(request.headers["X-Request-ID"])
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = self.tokens.get(value) if scheme == "OAuth" else None
        if token is None or token.expired:
            return error(401, "UnauthorizedError", "Unauthorized",
                         "Не авторизован." if token is None else "Токен истёк.")
        if not token.organisation:
            return error(403, "ApiRestrictedToOrganizations",
                         "API is available only to Yandex 360 for Business organizations",
                         "API Телемоста доступен только организациям Яндекс 360 для бизнеса.")
        if f"telemost-api:conferences.{op}" not in token.scopes:
            return error(403, "ForbiddenError", "Forbidden", "Нет доступа.")
        return None

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        if request.content_type != "application/json":
            return error(415, "UnsupportedMediaTypeError", "Unsupported Media Type",
                         "Content-Type must be application/json")
        try:
            body = await request.json()
        except ValueError:
            return error(400, "BadRequestError", "Bad Request", "The body is not valid JSON.")
        if not isinstance(body, dict):
            return error(400, "BadRequestError", "Bad Request", "The body must be an object.")
        return body

    def _validate(self, request: web.Request, body: dict[str, Any]) -> web.Response | None:
        level = body.get("waiting_room_level")
        if level is not None and level not in LEVELS:
            return error(400, "FieldValidationError", "Validation error",
                         f"waiting_room_level: unknown value {level!r}")
        cohosts = body.get("cohosts", [])
        if not isinstance(cohosts, list) or not all(
                isinstance(c, dict) and isinstance(c.get("email"), str) and "@" in c["email"]
                for c in cohosts):
            return error(400, "FieldValidationError", "Validation error",
                         "cohosts: a list of {email} objects is expected")
        value = request.headers["Authorization"].partition(" ")[2]
        if body.get("live_stream") is not None and not self.tokens[value].paid_plan:
            return error(402, "PaymentRequiredToUseLiveStreams", "Payment required",
                         "Трансляции доступны только на платных тарифах Яндекс 360.")
        return None

    def _short(self, conference: dict[str, Any]) -> dict[str, Any]:
        return {key: conference[key] for key in ("id", "join_url", "live_stream")
                if key in conference}

    async def create(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request, "create"):
            return refused
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        if invalid := self._validate(request, body):
            return invalid
        self.bodies.append(("POST", body))
        conference_id = str(self._next)
        self._next += 1
        conference: dict[str, Any] = {
            "id": conference_id, "join_url": f"https://telemost.yandex.ru/j/{conference_id}",
            "waiting_room_level": body.get("waiting_room_level", "PUBLIC"),
            "cohosts": body.get("cohosts", []),
            "sip_uri_meeting": f"{conference_id}@sip.telemost.yandex.ru"}
        if body.get("live_stream"):
            conference["live_stream"] = {"watch_url": "https://telemost.yandex.ru/live/"
                                                      f"{uuid.uuid4().hex}"}
        self.meetings[conference_id] = conference
        return web.json_response(self._short(conference), status=201)

    def _found(self, request: web.Request) -> dict[str, Any] | web.Response:
        conference = self.meetings.get(request.match_info["id"])
        if conference is None:
            return error(404, "ConferenceNotFound", "Conference not found",
                         "Конференция не найдена.")
        return conference

    async def get(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request, "read"):
            return refused
        conference = self._found(request)
        if isinstance(conference, web.Response):
            return conference
        return web.json_response({k: v for k, v in conference.items() if k != "cohosts"})

    async def patch(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request, "update"):
            return refused
        conference = self._found(request)
        if isinstance(conference, web.Response):
            return conference
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        if invalid := self._validate(request, body):
            return invalid
        self.bodies.append(("PATCH", body))
        conference.update({k: v for k, v in body.items()
                           if k in ("waiting_room_level", "cohosts", "live_stream")})
        return web.json_response(self._short(conference))

    async def delete(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request, "delete"):
            return refused
        conference = self._found(request)
        if isinstance(conference, web.Response):
            return conference
        del self.meetings[conference["id"]]
        return web.Response(status=204)


async def serve() -> FakeTelemost:
    fake = FakeTelemost()
    await fake.start()
    return fake
