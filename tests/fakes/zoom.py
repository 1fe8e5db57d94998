"""A fake Zoom: Server-to-Server OAuth token endpoint plus the /v2 meetings, webinars,
registrants and users API, answering and refusing like reference §3.

It enforces: Basic auth and grant_type/account_id on the token endpoint (400 invalid_client /
invalid_request), a known, unexpired bearer token on every API call (401 code 124), the scopes
each call needs (code 4711, [⚠] at HTTP 400), a JSON body with application/json on POST/PATCH
(300), required fields (topic/type/start_time; email/first_name for registrants → 300), the
host user (404 code 1001), the Webinar add-on (400 code 200 "Webinar plan is missing" [⚠]),
recurring meetings (type 8: a `recurrence` weekly with `weekly_days` and `end_times`, whose
occurrences it derives in the meeting's zone and can delete or edit one by one with
`occurrence_id`; type 3: no fixed time, no occurrences and no registration),
unknown meetings (404 code 3001), running meetings (delete → 400 code 3002), the per-host daily
limit of 100 creates/updates (429 with X-RateLimit-Type: Daily-limit and a Retry-After
timestamp; `daily_headers = False` drops them as forum reports say Zoom sometimes does).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from integrations.base import (
    MEETING_ENDED,
    MEETING_STARTED,
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
    RECORDING_READY,
    MeetingLink,
)
from integrations.zoom import signature
from tests.fakes import FakeServer

#: Scopes of a well-configured app; a call needs any one of the scopes listed for it.
ALL_SCOPES = ("meeting:read:admin meeting:write:admin webinar:read:admin webinar:write:admin "
              "user:read:admin")
NEEDS = {"meeting:read": ("meeting:read:admin",), "meeting:write": ("meeting:write:admin",),
         "webinar:read": ("webinar:read:admin",), "webinar:write": ("webinar:write:admin",),
         "user:read": ("user:read:admin",)}
HOOK_EVENTS = {MEETING_STARTED: "started", MEETING_ENDED: "ended",
               PARTICIPANT_JOINED: "participant_joined", PARTICIPANT_LEFT: "participant_left"}


def zoom_error(status: int, code: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"code": code, "message": message, **extra}, status=status)


class FakeZoom(FakeServer):
    platform = "zoom"

    def __init__(self) -> None:
        super().__init__()
        self.account_id = "AcCoUnT-123"
        self.client_id = "zoomClientId42"
        self.client_secret = "zoom-client-secret-0123456789"
        self.webhook_secret = "zoom-webhook-secret-token"
        self.host = "host@union.example"
        self.users = {self.host: "KDcuGIm1QgePTO8WbOqwIQ"}
        self.scopes = ALL_SCOPES
        self.webinar_plan = True
        self.daily_limit = 100
        self.daily_headers = True
        self.daily_used: dict[str, int] = {}
        self.tokens: dict[str, float] = {}  # token -> expiry (time.time())
        self.token_requests = 0
        self.meetings: dict[str, dict[str, Any]] = {}
        self.registrants: dict[str, dict[str, dict[str, Any]]] = {}
        self._ids = itertools.count(85746065432)
        self._event_ts = itertools.count(int(time.time() * 1000))
        self.app.router.add_post("/oauth/token", self.token)
        self.app.router.add_get("/v2/users/{user}", self.user)
        self.app.router.add_post("/v2/users/{user}/{kind:meetings|webinars}", self.create)
        self.app.router.add_get("/v2/users/{user}/{kind:meetings|webinars}", self.list)
        self.app.router.add_get("/v2/{kind:meetings|webinars}/{id}", self.get)
        self.app.router.add_patch("/v2/{kind:meetings|webinars}/{id}", self.patch)
        self.app.router.add_delete("/v2/{kind:meetings|webinars}/{id}", self.delete)
        self.app.router.add_post("/v2/{kind:meetings|webinars}/{id}/registrants", self.register)

    def credentials(self) -> dict[str, str]:
        return {"account_id": self.account_id, "client_id": self.client_id,
                "client_secret": self.client_secret, "host_user": self.host,
                "meeting_type": "meeting", "webhook_secret": self.webhook_secret}

    def endpoints(self) -> dict[str, str]:
        return {"oauth": self.url, "api": f"{self.url}/v2"}

    def expire_tokens(self) -> None:
        """Every token issued so far is refused from now on (expired or revoked)."""
        self.tokens.clear()

    def start_meeting(self, meeting_id: str) -> None:
        """The host has started it: Zoom refuses to delete it now (3002)."""
        self.meetings[meeting_id]["status"] = "started"

    # -- OAuth -----------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        if request.query.get("grant_type") != "account_credentials":
            return web.json_response({"reason": "Unsupported grant type",
                                      "error": "unsupported_grant_type"}, status=400)
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"reason": "Invalid client_id or client_secret",
                                      "error": "invalid_client"}, status=400)
        if request.query.get("account_id") != self.account_id:  # [⚠] wording
            return web.json_response({"reason": "Invalid request : Account does not exist.",
                                      "error": "invalid_request"}, status=400)
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.time() + 3599
        return web.json_response({"access_token": token, "token_type": "bearer",
                                  "expires_in": 3599, "scope": self.scopes,
                                  "api_url": self.url})

    def _refused(self, request: web.Request, need: str) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        if self.tokens.get(token, 0) < time.time():
            return zoom_error(401, 124, "Invalid access token.")
        if not set(NEEDS[need]) & set(self.scopes.split()):
            return zoom_error(400, 4711, "Invalid access token, does not contain scopes:"
                              f"[{', '.join(NEEDS[need])}].")
        return None

    async def _json(self, request: web.Request) -> dict[str, Any] | web.Response:
        if request.content_type != "application/json":
            return zoom_error(400, 300, "Request Body should be a valid JSON object.")
        try:
            body = await request.json()
        except ValueError:
            return zoom_error(400, 300, "Request Body should be a valid JSON object.")
        return body if isinstance(body, dict) else zoom_error(
            400, 300, "Request Body should be a valid JSON object.")

    def _user(self, user: str) -> web.Response | None:
        if user not in self.users and user not in self.users.values():
            return zoom_error(404, 1001, f"User does not exist: {user}.")
        return None

    def _daily(self, user: str) -> web.Response | None:
        self.daily_used[user] = self.daily_used.get(user, 0) + 1
        if self.daily_used[user] <= self.daily_limit:
            return None
        now = datetime.now(UTC)
        reset = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        headers = {"X-RateLimit-Category": "Medium", "X-RateLimit-Type": "Daily-limit",
                   "X-RateLimit-Limit": str(self.daily_limit), "X-RateLimit-Remaining": "0",
                   "Retry-After": reset.strftime("%Y-%m-%dT%H:%M:%SZ")}
        return web.json_response(
            {"code": 429, "message": f"You have exceeded the daily rate limit "
             f"({self.daily_limit}) of Meeting Create/Update API requests permitted for this "
             "particular user. You may resume these requests at GMT 00:00:00."},
            status=429, headers=headers if self.daily_headers else {})

    def _meeting(self, request: web.Request) -> dict[str, Any] | web.Response:
        kind = request.match_info["kind"][:-1]
        meeting = self.meetings.get(request.match_info["id"])
        if meeting is None or meeting["kind"] != kind:
            return zoom_error(404, 3001, f"{kind.title()} does not exist: "
                              f"{request.match_info['id']}.")
        return meeting

    def _plan(self, kind: str) -> web.Response | None:
        if kind == "webinars" and not self.webinar_plan:
            return zoom_error(400, 200, "Webinar plan is missing. You must subscribe to the "
                              "webinar plan and enable webinar for this user in order to "
                              "perform this action.")
        return None

    def _public(self, meeting: dict[str, Any]) -> dict[str, Any]:
        shown = {k: v for k, v in meeting.items() if k != "kind"}
        if "occurrences" in meeting:  # deleted occurrences are not shown by default
            shown["occurrences"] = [o for o in meeting["occurrences"]
                                    if o["status"] != "deleted"]
        # start_url carries a fresh ZAK on every read, like Zoom's.
        shown["start_url"] = (f"https://us02web.zoom.us/s/{meeting['id']}"
                              f"?zak={secrets.token_urlsafe(16)}")
        return shown

    # -- API -------------------------------------------------------------------------------

    async def user(self, request: web.Request) -> web.Response:
        user = request.match_info["user"]
        refused = self._refused(request, "user:read") or self._user(user)
        if refused:
            return refused
        return web.json_response({"id": self.users.get(user, user), "email": user,
                                  "type": 2, "status": "active"})

    async def list(self, request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        user = request.match_info["user"]
        refused = (self._refused(request, f"{kind[:-1]}:read") or self._user(user)
                   or self._plan(kind))
        if refused:
            return refused
        items = [self._public(m) for m in self.meetings.values() if m["kind"] == kind[:-1]]
        return web.json_response({"page_size": 30, "total_records": len(items),
                                  "next_page_token": "", kind: items})

    async def create(self, request: web.Request) -> web.Response:
        kind, user = request.match_info["kind"], request.match_info["user"]
        refused = (self._refused(request, f"{kind[:-1]}:write") or self._user(user)
                   or self._plan(kind))
        if refused:
            return refused
        body = await self._json(request)
        if isinstance(body, web.Response):
            return body
        scheduled = TYPES[kind]
        needed = ("topic", "type") if body.get("type") in NO_FIXED_TIME else (
            "topic", "type", "start_time")
        missing = [f for f in needed if not body.get(f)]
        if missing or body.get("type") not in scheduled or (
                "start_time" in needed and not _is_time(body["start_time"])):
            return zoom_error(400, 300, "Validation Failed.", errors=[
                {"field": f, "message": "Required or invalid"}
                for f in missing or ["type" if body.get("type") not in scheduled
                                     else "start_time"]])
        wrong = _recurrence_error(body)
        if wrong:
            return wrong
        refused = self._daily(user)
        if refused:
            return refused
        ident = str(next(self._ids))
        meeting = {
            "id": int(ident), "uuid": base64.b64encode(secrets.token_bytes(16)).decode(),
            "host_id": self.users.get(user, user), "host_email": user, "kind": kind[:-1],
            "topic": body["topic"], "type": body["type"], "status": "waiting",
            "start_time": body["start_time"], "duration": body.get("duration", 60),
            "timezone": body.get("timezone", "UTC"), "agenda": body.get("agenda", ""),
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "join_url": f"https://us02web.zoom.us/j/{ident}?pwd={secrets.token_urlsafe(12)}",
            "password": "a1B2c3", "settings": {"approval_type": 2, **body.get("settings", {})},
        }
        _recur(meeting, body)
        self.meetings[ident] = meeting
        return web.json_response(self._public(meeting), status=201)

    async def get(self, request: web.Request) -> web.Response:
        refused = self._refused(request, f"{request.match_info['kind'][:-1]}:read")
        meeting = refused or self._meeting(request)
        if isinstance(meeting, web.Response):
            return meeting
        return web.json_response(self._public(meeting))

    async def patch(self, request: web.Request) -> web.Response:
        refused = self._refused(request, f"{request.match_info['kind'][:-1]}:write")
        meeting = refused or self._meeting(request)
        if isinstance(meeting, web.Response):
            return meeting
        body = await self._json(request)
        if isinstance(body, web.Response):
            return body
        if "start_time" in body and not _is_time(body["start_time"]):
            return zoom_error(400, 300, "Invalid field.",
                              errors=[{"field": "start_time", "message": "Invalid"}])
        if "type" in body and body["type"] not in TYPES[request.match_info["kind"]]:
            return zoom_error(400, 300, "Invalid field.",
                              errors=[{"field": "type", "message": "Invalid"}])
        wrong = _recurrence_error({"type": meeting["type"],
                                   "recurrence": meeting.get("recurrence"), **body})
        if wrong:
            return wrong
        occurrence = request.query.get("occurrence_id")
        if occurrence is not None:  # [⚠] only the time and length of one occurrence
            found = next((o for o in meeting.get("occurrences", [])
                          if o["occurrence_id"] == occurrence), None)
            if found is None:
                return zoom_error(404, 3001, f"Meeting occurrence does not exist: {occurrence}.")
            found.update({k: body[k] for k in ("start_time", "duration") if k in body})
            return web.Response(status=204)
        refused = self._daily(meeting["host_email"])
        if refused:
            return refused
        for key in ("topic", "type", "start_time", "duration", "timezone", "agenda"):
            if key in body:
                meeting[key] = body[key]
        meeting["settings"].update(body.get("settings", {}))
        _recur(meeting, body)
        return web.Response(status=204)

    async def delete(self, request: web.Request) -> web.Response:
        refused = self._refused(request, f"{request.match_info['kind'][:-1]}:write")
        meeting = refused or self._meeting(request)
        if isinstance(meeting, web.Response):
            return meeting
        occurrence = request.query.get("occurrence_id")
        if occurrence is not None:
            found = next((o for o in meeting.get("occurrences", [])
                          if o["occurrence_id"] == occurrence), None)
            if found is None:  # [⚠] code for an occurrence id the meeting never had
                return zoom_error(404, 3001, f"Meeting occurrence does not exist: {occurrence}.")
            found["status"] = "deleted"
            return web.Response(status=204)
        if meeting["status"] == "started":
            return zoom_error(400, 3002, "Sorry, you cannot delete this meeting since it is "
                              "in progress.")
        del self.meetings[str(meeting["id"])]
        return web.Response(status=204)

    async def register(self, request: web.Request) -> web.Response:
        refused = self._refused(request, f"{request.match_info['kind'][:-1]}:write")
        meeting = refused or self._meeting(request)
        if isinstance(meeting, web.Response):
            return meeting
        body = await self._json(request)
        if isinstance(body, web.Response):
            return body
        missing = [f for f in ("email", "first_name") if not body.get(f)]
        if missing:
            return zoom_error(400, 300, "Validation Failed.", errors=[
                {"field": f, "message": "Required"} for f in missing])
        if meeting["settings"].get("approval_type") not in (0, 1):  # [⚠] code and wording
            return zoom_error(400, 3000, "Registration has not been enabled for this meeting: "
                              f"{meeting['id']}.")
        ident = str(meeting["id"])
        known = self.registrants.setdefault(ident, {})
        registrant = known.get(body["email"].lower())
        if registrant is None:  # the same e-mail again gets the same registrant back
            rid = secrets.token_urlsafe(16)
            registrant = {"id": meeting["id"], "registrant_id": rid,
                          "email": body["email"], "first_name": body["first_name"],
                          "last_name": body.get("last_name", ""), "topic": meeting["topic"],
                          "start_time": meeting["start_time"],
                          "join_url": f"https://us02web.zoom.us/w/{ident}"
                                      f"?tk={secrets.token_urlsafe(24)}"}
            known[body["email"].lower()] = registrant
        return web.json_response(registrant, status=201)

    # -- webhooks --------------------------------------------------------------------------

    def sign(self, body: bytes, ts: int | None = None) -> dict[str, str]:
        stamp = str(ts if ts is not None else int(time.time()))
        return {"content-type": "application/json; charset=utf-8",
                "x-zm-request-timestamp": stamp,
                "x-zm-signature": signature(self.webhook_secret, stamp, body)}

    def hook(self, kind: str, link: MeetingLink, participant_id: str | None = None, *,
             name: str = "Анна Петрова", recording_url: str | None = None,
             hook_url: str = "https://webinars.example/hooks/zoom/key",
             ts: int | None = None) -> tuple[dict[str, str], bytes, dict[str, str], str]:
        """A signed callback as Zoom sends it. `participant_id` is the registrant_id Zoom
        issued (PersonalLink.platform_id); None: someone who joined without registering."""
        prefix = link.extra.get("kind") or "meeting"
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        obj: dict[str, Any] = {"id": link.external_id, "uuid": link.extra.get("uuid", ""),
                               "host_id": self.users[self.host], "topic": "Вебинар",
                               "type": 5 if prefix == "webinar" else 2}
        if kind == RECORDING_READY:
            event = "recording.completed"
            obj["share_url"] = recording_url or ""
            obj["recording_files"] = [{"id": "f1", "file_type": "MP4", "recording_type":
                                       "shared_screen_with_speaker_view",
                                       "play_url": f"https://zoom.us/rec/play/{link.external_id}",
                                       "download_url": "https://zoom.us/rec/download/x"}]
        else:
            event = f"{prefix}.{HOOK_EVENTS[kind]}"
        if kind in (PARTICIPANT_JOINED, PARTICIPANT_LEFT):
            moment = "join_time" if kind == PARTICIPANT_JOINED else "leave_time"
            obj["participant"] = {"user_id": str(16778240 + len(name)), "user_name": name,
                                  "id": "", "participant_uuid": secrets.token_hex(8),
                                  "email": "anna@union.example", moment: now,
                                  **({"registrant_id": participant_id} if participant_id
                                     else {})}
        body = json.dumps({"event": event, "event_ts": next(self._event_ts),
                           "payload": {"account_id": self.account_id, "object": obj}},
                          ensure_ascii=False).encode()
        return self.sign(body, ts), body, {}, "POST"


TYPES = {"meetings": (2, 3, 8), "webinars": (5, 6, 9)}
NO_FIXED_TIME = (3, 6)
FIXED_RECURRING = (8, 9)


def _recurrence_error(body: dict[str, Any]) -> web.Response | None:
    """Zoom's checks of `recurrence` for a recurring meeting with a fixed time: type 1 daily,
    2 weekly (with `weekly_days`, 1 = Sunday … 7 = Saturday), 3 monthly; `end_times` at most
    60 (or `end_date_time`)."""
    if body.get("type") not in FIXED_RECURRING:
        return None
    rule = body.get("recurrence")
    bad = None
    if not isinstance(rule, dict) or rule.get("type") not in (1, 2, 3):
        bad = "recurrence.type"
    elif rule["type"] == 2 and not re.fullmatch(r"[1-7](,[1-7])*",
                                                str(rule.get("weekly_days", ""))):
        bad = "recurrence.weekly_days"
    elif not (isinstance(rule.get("end_times"), int) and 1 <= rule["end_times"] <= 60) \
            and not rule.get("end_date_time"):
        bad = "recurrence.end_times"
    if bad is None:
        return None
    return zoom_error(400, 300, "Validation Failed.",
                      errors=[{"field": bad, "message": "Invalid or missing"}])


def _recur(meeting: dict[str, Any], body: dict[str, Any]) -> None:
    """The occurrences Zoom derives from the rule, in the meeting's zone (local wall time,
    so an hour stays an hour across DST), each with its epoch-milliseconds occurrence id.
    A meeting with no fixed time has none and no registration."""
    if meeting["type"] in NO_FIXED_TIME:
        meeting.pop("occurrences", None)
        meeting.pop("recurrence", None)
        meeting["settings"]["approval_type"] = 2
        return
    if meeting["type"] not in FIXED_RECURRING:
        meeting.pop("occurrences", None)
        meeting.pop("recurrence", None)
        return
    if "recurrence" in body:
        meeting["recurrence"] = body["recurrence"]
    rule = meeting["recurrence"]
    zone = ZoneInfo(meeting["timezone"])
    local = datetime.fromisoformat(meeting["start_time"]).astimezone(zone).replace(tzinfo=None)
    days = {int(d) for d in str(rule.get("weekly_days", "1")).split(",")}
    step = timedelta(days=1)
    starts: list[datetime] = []
    day = local
    while len(starts) < rule["end_times"]:
        if rule["type"] != 2 or day.isoweekday() % 7 + 1 in days:
            starts.append(day.replace(tzinfo=zone).astimezone(UTC))
        day += step
    meeting["occurrences"] = [
        {"occurrence_id": str(int(start.timestamp() * 1000)),
         "start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "duration": meeting["duration"],
         "status": "available"} for start in starts]


def _is_time(value: Any) -> bool:
    try:
        datetime.fromisoformat(str(value))
    except ValueError:
        return False
    return True


async def serve() -> FakeZoom:
    fake = FakeZoom()
    await fake.start()
    return fake
