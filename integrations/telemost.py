"""Yandex Telemost conferences (reference §7).

A conference is a persistent link with no start time: scheduling is ours, so moving a webinar
changes nothing on Telemost. The conference holds only its waiting room and cohosts; `update`
sends a PATCH only when one of those changed. Everyone shares `join_url` (the host is the
token's owner and the cohosts); Telemost has no webhooks or reports, so attendance comes from
our own /j/ clicks.

Auth is a long-lived Yandex OAuth token sent as `Authorization: OAuth <token>` (not Bearer);
it cannot be refreshed here, so a 401 means the organizer must paste a new one.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from .base import (
    AuthError,
    HookReply,
    HookRequest,
    InvalidRequest,
    MeetingLink,
    MeetingNotFound,
    MeetingSpec,
    NotSupported,
    Person,
    PersonalLink,
    PlanRestricted,
    PlatformEvent,
    PlatformUnavailable,
    translate_errors,
)
from .http import AdapterContext, Response

PLATFORM = "Telemost"
#: Our setting → the API's `waiting_room_level`. The admins-only value is [⚠]: "ADMINS" in
#: several clients, "ADMINISTRATOR" in one; change it here if Telemost answers 400.
WAITING_ROOM_LEVELS = {"PUBLIC": "PUBLIC", "ORGANIZATION": "ORGANIZATION", "ADMINS": "ADMINS"}
#: check() reads a conference that cannot exist: 404 proves the token and the read scope [⚠ —
#: the real API may answer 400 to a malformed id; both count as "the token works"].
CHECK_ID = "0"


def _problem(response: Response) -> tuple[str, str]:
    """(error code, human text) from Yandex cloud-api's {error, message, description}."""
    try:
        body = json.loads(response.body)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return "", f"HTTP {response.status}"
    code = str(body.get("error") or "")
    text = str(body.get("description") or body.get("message") or f"HTTP {response.status}")
    return code, text


class TelemostAdapter:
    name = "telemost"
    link_kind = "dynamic"

    def __init__(self, ctx: AdapterContext) -> None:
        self.ctx = ctx
        self.api = ctx.endpoint("api", "https://cloud-api.yandex.net/v1/telemost-api")
        self.token = ctx.credential("oauth_token")
        level = ctx.credential("waiting_room", "PUBLIC").upper()
        self.waiting_room = WAITING_ROOM_LEVELS.get(level, level)
        self.cohosts = sorted({e.strip().lower() for e in ctx.credential("cohosts").split(",")
                               if e.strip()})

    async def _call(self, method: str, path: str, scope: str,
                    json_body: Any = None) -> Response:
        """One call; `scope` names the permission the organizer must grant if it is missing."""
        headers = {"Authorization": f"OAuth {self.token}", "Accept": "application/json",
                   "X-Request-ID": str(uuid.uuid4())}
        with translate_errors(PLATFORM):
            response = await self.ctx.http.request(method, f"{self.api}{path}",
                                                   headers=headers, json=json_body)
        if response.ok:
            return response
        code, text = _problem(response)
        tag = f"{response.status} {code}".strip()
        if response.status == 401:
            raise AuthError(f"Telemost: the OAuth token is invalid or expired ({tag}): get a "
                            "new one at oauth.yandex.ru and reconnect Telemost")
        if response.status == 403 and code == "ApiRestrictedToOrganizations":
            raise PlanRestricted("Telemost's API works only for Yandex 360 for Business "
                                 f"organisations ({tag}): connect a token of a user of such "
                                 "an organisation")
        if response.status == 403:
            raise AuthError(f"Telemost: the OAuth token lacks the permission "
                            f"telemost-api:conferences.{scope} ({tag}: {text}): add it to the "
                            "app at oauth.yandex.ru and get a new token")
        if response.status == 402:
            raise PlanRestricted("Telemost: live streams need a paid Yandex 360 plan "
                                 f"({tag}: {text})")
        if response.status == 404:
            raise MeetingNotFound(f"Telemost: the conference is gone ({tag})")
        raise InvalidRequest(f"Telemost refused the request ({tag}): {text}")

    def _settings(self) -> dict[str, Any]:
        body: dict[str, Any] = {"waiting_room_level": self.waiting_room}
        if self.cohosts:
            body["cohosts"] = [{"email": email} for email in self.cohosts]
        return body

    def _extra(self) -> dict[str, str]:
        """What the conference holds, kept to tell whether an update must reach Telemost."""
        return {"waiting_room_level": self.waiting_room, "cohosts": ",".join(self.cohosts)}

    def _link(self, response: Response, extra: dict[str, str],
              fallback: MeetingLink | None = None) -> MeetingLink:
        body = response.json(PLATFORM)
        if not isinstance(body, dict):
            raise PlatformUnavailable("Telemost: the conference answer is not an object "
                                      "(malformed)")
        conference_id = body.get("id", fallback.external_id if fallback else None)
        join_url = body.get("join_url", fallback.join_url if fallback else None)
        if not isinstance(conference_id, str | int) or isinstance(conference_id, bool) \
                or not str(conference_id) or not isinstance(join_url, str) or not join_url:
            raise PlatformUnavailable("Telemost: the conference answer has no id or join_url "
                                      "(malformed)")
        return MeetingLink(external_id=str(conference_id), join_url=join_url, extra=extra)

    async def create(self, spec: MeetingSpec) -> MeetingLink:
        response = await self._call("POST", "/conferences", "create", self._settings())
        return self._link(response, self._extra())

    async def get(self, link: MeetingLink) -> MeetingLink:
        response = await self._call("GET", f"/conferences/{link.external_id}", "read")
        body = response.json(PLATFORM)
        extra = dict(link.extra)
        if isinstance(body, dict) and isinstance(body.get("waiting_room_level"), str):
            extra["waiting_room_level"] = body["waiting_room_level"]
        return self._link(response, extra)

    async def update(self, link: MeetingLink, spec: MeetingSpec) -> MeetingLink:
        """Time and title live with us; only a changed waiting room or cohost list (or a link
        made before we recorded them) is sent. Whether PATCHed cohosts replace the old list
        is [⚠]: the full list is always sent."""
        if all(link.extra.get(k) == v for k, v in self._extra().items()):
            return link
        response = await self._call("PATCH", f"/conferences/{link.external_id}", "update",
                                    self._settings())
        return self._link(response, self._extra(), fallback=link)

    async def delete(self, link: MeetingLink) -> None:
        """204 is [⚠]: any 2xx counts; a conference already gone counts as deleted."""
        try:
            await self._call("DELETE", f"/conferences/{link.external_id}", "delete")
        except MeetingNotFound:
            return

    async def check(self) -> None:
        try:
            await self._call("GET", f"/conferences/{CHECK_ID}", "read")
        except MeetingNotFound:
            return  # the token is accepted and may read conferences
        except InvalidRequest:
            return  # a malformed id refused after authentication: the token works

    async def host_link(self, link: MeetingLink, host: Person) -> PersonalLink:
        """The host is the token's owner (or a cohost): they open the shared link signed in."""
        return PersonalLink(link.join_url)

    async def join_link(self, link: MeetingLink, person: Person) -> PersonalLink:
        return PersonalLink(link.join_url)

    async def handle_hook(self, request: HookRequest) -> HookReply:
        raise NotSupported("Telemost sends no callbacks")

    async def attendance(self, link: MeetingLink) -> list[PlatformEvent]:
        raise NotSupported("Telemost has no attendance report: attendance comes from our "
                           "/j/ clicks")
