"""A fake Webex REST API (reference §6): the integration token endpoint, meetings, join links
and signed webhooks.

It refuses what Webex refuses: a token request that is not a form or names the wrong client,
secret or refresh token; calls without a current bearer token (401), without the meeting
scopes (403), JSON bodies with another content type, a meeting missing title/start/end (or,
on PUT, the password), a title over 128 characters, an end before the start, a `recurrence`
it cannot read. A series' occurrences ("<series id>_<start>" [⚠]) are laid out by its rule in
its zone and can be read, moved (PUT) and cancelled (DELETE) one by one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
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

from . import FakeServer

SITE = "union.webex.com"
BYDAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
ALL_SCOPES = frozenset({"meeting:schedules_read", "meeting:schedules_write"})
HOOK_EVENTS = {
    PARTICIPANT_JOINED: ("meetingParticipants", "joined"),
    PARTICIPANT_LEFT: ("meetingParticipants", "left"),
    MEETING_STARTED: ("meetings", "started"),
    MEETING_ENDED: ("meetings", "ended"),
    RECORDING_READY: ("recordings", "created"),
}


def error(status: int, message: str) -> web.Response:
    """Webex's error body: message, errors[].description, trackingId."""
    return web.json_response({"message": message, "errors": [{"description": message}],
                              "trackingId": f"ROUTER_{secrets.token_hex(8).upper()}"},
                             status=status)


def _time(value: object) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


class FakeWebex(FakeServer):
    platform = "webex"

    def __init__(self) -> None:
        super().__init__()
        self.client_id = "C0ffee0123456789integration"
        self.client_secret = "webex-client-secret"
        self.refresh_token = "webex-refresh-token-OTk5"
        self.webhook_secret = "webex-webhook-secret"
        self.webhook_id = "Y2lzY29zcGFyazovL3VzL1dFQkhPT0svZmFrZQ"
        self.scopes: set[str] = set(ALL_SCOPES)
        self.token_lifetime = 1209599
        #: access token → still accepted
        self.access_tokens: dict[str, bool] = {}
        #: series id → its occurrences by occurrence id
        self.occurrences: dict[str, dict[str, dict[str, Any]]] = {}
        self.token_requests = 0
        self.meetings: dict[str, dict[str, Any]] = {}
        self.join_requests: list[dict[str, Any]] = []
        self.app.router.add_post("/v1/access_token", self.access_token)
        self.app.router.add_get("/v1/meetings", self.list_meetings)
        self.app.router.add_post("/v1/meetings", self.create)
        self.app.router.add_post("/v1/meetings/join", self.join)
        self.app.router.add_get("/v1/meetings/{id}", self.get)
        self.app.router.add_put("/v1/meetings/{id}", self.put)
        self.app.router.add_delete("/v1/meetings/{id}", self.delete)

    def credentials(self) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "refresh_token": self.refresh_token, "host_email": "",
                "webhook_secret": self.webhook_secret}

    def endpoints(self) -> dict[str, str]:
        return {"api": f"{self.url}/v1"}

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (expired or revoked early)."""
        self.access_tokens = dict.fromkeys(self.access_tokens, False)

    # --- auth ------------------------------------------------------------------------------

    async def access_token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        if request.content_type != "application/x-www-form-urlencoded":
            return error(400, "Content type must be application/x-www-form-urlencoded")
        form = await request.post()
        if form.get("grant_type") != "refresh_token":
            return error(400, "(unsupported_grant_type) grant_type must be refresh_token here")
        if form.get("client_id") != self.client_id or \
                form.get("client_secret") != self.client_secret:
            return error(401, "POST failed: HTTP/1.1 401 Unauthorized (error = "
                              "'(invalid_client) The client_id or client_secret is invalid.')")
        if form.get("refresh_token") != self.refresh_token:
            return error(400, "POST failed: HTTP/1.1 400 Bad Request (error = '(invalid_grant) "
                              "Refresh token provided in the request is invalid or expired.')")
        token = secrets.token_urlsafe(24)
        self.access_tokens[token] = True
        # Webex may rotate the refresh token; the fake keeps it, as Webex does until expiry.
        return web.json_response({"access_token": token, "expires_in": self.token_lifetime,
                                  "refresh_token": self.refresh_token,
                                  "refresh_token_expires_in": 7775999})

    def _refuse(self, request: web.Request, scope: str) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not self.access_tokens.get(token):
            return error(401, "The request requires a valid access token set in the "
                              "Authorization request header.")
        if scope not in self.scopes:
            return error(403, "The server understood the request, but refused to fulfill it "
                              "because the access token is missing required scopes or the user "
                              "is missing required roles or licenses.")
        return None

    async def _json(self, request: web.Request) -> dict[str, Any] | web.Response:
        if request.content_type != "application/json":
            return error(415, "Content-Type must be application/json")
        try:
            body = await request.json()
        except ValueError:
            return error(400, "The request body is not valid JSON")
        return body if isinstance(body, dict) else error(400, "The body must be an object")

    # --- meetings --------------------------------------------------------------------------

    def _validate(self, body: dict[str, Any], *, put: bool) -> web.Response | None:
        required = ("title", "password", "start", "end") if put else ("title", "start", "end")
        missing = [name for name in required if not body.get(name)]
        if missing:
            return error(400, f"{', '.join(missing)} cannot be null or empty")
        if len(str(body["title"])) > 128:
            return error(400, "title cannot exceed 128 characters")
        start, end = _time(body["start"]), _time(body["end"])
        if start is None or end is None:
            return error(400, "start and end must be ISO 8601 date-times")
        if end <= start:
            return error(400, "end must be after start")
        return None

    def _found(self, request: web.Request) -> dict[str, Any] | web.Response:
        meeting = self.meetings.get(request.match_info["id"])
        return meeting if meeting is not None else error(404, "Meeting not found.")

    def _occurrence(self, meeting_id: str) -> dict[str, Any] | None:
        series, _, _ = meeting_id.partition("_")
        return self.occurrences.get(series, {}).get(meeting_id)

    def _lay_out(self, meeting: dict[str, Any]) -> web.Response | None:
        """A series' occurrences from its `recurrence` (RFC 5545 RRULE: FREQ DAILY or
        WEEKLY, INTERVAL, COUNT, BYDAY), laid out in its `timezone` anew [⚠ a changed series
        loses its occurrences' own edits]. Without a rule: no occurrences."""
        rule = meeting.get("recurrence") or ""
        self.occurrences.pop(meeting["id"], None)
        if not rule:
            return None
        parts = dict(p.partition("=")[::2] for p in rule.split(";"))
        freq, count = parts.get("FREQ"), parts.get("COUNT", "")
        interval = parts.get("INTERVAL", "1")
        days = [d for d in parts.get("BYDAY", "").split(",") if d]
        if freq not in ("DAILY", "WEEKLY") or not count.isdigit() or not interval.isdigit() \
                or not 1 <= int(count) <= 100 or any(d not in BYDAY for d in days) \
                or set(parts) - {"FREQ", "COUNT", "INTERVAL", "BYDAY"}:
            return error(400, f"recurrence is not a supported RFC 5545 rule: {rule}")
        zone = ZoneInfo(meeting["timezone"])
        start = _time(meeting["start"])
        end = _time(meeting["end"])
        assert start is not None and end is not None
        local = start.astimezone(zone).replace(tzinfo=None)
        wanted = {BYDAY.index(d) for d in days} or {local.weekday()}
        laid: dict[str, dict[str, Any]] = {}
        day, step = local, int(interval)
        while len(laid) < int(count):
            weeks = (day.date() - local.date()).days // 7
            if (freq == "DAILY" and (day - local).days % step == 0) or (
                    freq == "WEEKLY" and day.weekday() in wanted and weeks % step == 0):
                begins = day.replace(tzinfo=zone).astimezone(UTC)
                ident = f"{meeting['id']}_{begins.strftime('%Y%m%dT%H%M%SZ')}"
                laid[ident] = {
                    "id": ident, "meetingSeriesId": meeting["id"],
                    "meetingType": "scheduledMeeting", "state": "active",
                    "title": meeting["title"], "timezone": meeting["timezone"],
                    "start": begins.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "end": (begins + (end - start)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "webLink": meeting["webLink"], "meetingNumber": meeting["meetingNumber"],
                    "password": meeting["password"]}
            day += timedelta(days=1)
        self.occurrences[meeting["id"]] = laid
        return None

    def held(self, series_id: str) -> list[tuple[datetime, datetime]]:
        """The series' occurrences as they are now, (start, end) in order."""
        spans = []
        for item in self.occurrences.get(series_id, {}).values():
            start, end = _time(item["start"]), _time(item["end"])
            assert start is not None and end is not None
            spans.append((start, end))
        return sorted(spans)

    async def create(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request, "meeting:schedules_write"):
            return refused
        body = await self._json(request)
        if isinstance(body, web.Response):
            return body
        if invalid := self._validate(body, put=False):
            return invalid
        meeting_id = secrets.token_hex(16)
        number = str(2_000_000_000 + len(self.meetings))
        meeting = {
            "id": meeting_id, "meetingNumber": number, "title": body["title"],
            "agenda": body.get("agenda", ""), "password": body.get("password") or "BgJep@43",
            "meetingType": "meetingSeries", "state": "active",
            "timezone": body.get("timezone", "UTC"), "start": body["start"], "end": body["end"],
            "hostEmail": body.get("hostEmail", "ivan@union.example"), "hostKey": "123456",
            "enabledJoinBeforeHost": body.get("enabledJoinBeforeHost", False),
            "siteUrl": SITE, "webLink": f"https://{SITE}/{SITE.split('.')[0]}/j.php?MTID=m"
                                        f"{secrets.token_hex(16)}",
            "sipAddress": f"{number}@{SITE}",
            "telephony": {"accessCode": number, "callInNumbers": []},
            "recurrence": body.get("recurrence") or ""}
        if invalid := self._lay_out(meeting):
            return invalid
        self.meetings[meeting_id] = meeting
        return web.json_response(meeting)

    async def list_meetings(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request, "meeting:schedules_read"):
            return refused
        limit = int(request.query.get("max", "10"))
        series = request.query.get("meetingSeriesId")
        if series is not None:  # meetingType=scheduledMeeting: the series' occurrences
            items = sorted(self.occurrences.get(series, {}).values(), key=lambda o: o["start"])
            return web.json_response({"items": items[:limit]})
        return web.json_response({"items": list(self.meetings.values())[:limit]})

    async def get(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request, "meeting:schedules_read"):
            return refused
        occurrence = self._occurrence(request.match_info["id"])
        if occurrence is not None:
            return web.json_response(occurrence)
        meeting = self._found(request)
        return meeting if isinstance(meeting, web.Response) else web.json_response(meeting)

    async def put(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request, "meeting:schedules_write"):
            return refused
        occurrence = self._occurrence(request.match_info["id"])
        if occurrence is not None:  # one scheduled meeting of a series: its time only
            body = await self._json(request)
            if isinstance(body, web.Response):
                return body
            if invalid := self._validate(body, put=True):
                return invalid
            occurrence.update(start=body["start"], end=body["end"], title=body["title"])
            return web.json_response(occurrence)
        meeting = self._found(request)
        if isinstance(meeting, web.Response):
            return meeting
        body = await self._json(request)
        if isinstance(body, web.Response):
            return body
        if invalid := self._validate(body, put=True):
            return invalid
        for key in ("title", "password", "start", "end", "timezone", "agenda",
                    "enabledJoinBeforeHost", "recurrence"):
            if key in body:
                meeting[key] = body[key]
        if invalid := self._lay_out(meeting):
            return invalid
        return web.json_response(meeting)

    async def delete(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request, "meeting:schedules_write"):
            return refused
        ident = request.match_info["id"]
        if self._occurrence(ident) is not None:  # cancels one occurrence of the series
            del self.occurrences[ident.partition("_")[0]][ident]
            return web.Response(status=204)
        if ident not in self.meetings:
            return error(404, "Meeting not found.")
        del self.meetings[ident]
        self.occurrences.pop(ident, None)
        return web.Response(status=204)

    async def join(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request, "meeting:schedules_read"):
            return refused
        body = await self._json(request)
        if isinstance(body, web.Response):
            return body
        self.join_requests.append(body)
        if not (body.get("meetingId") or body.get("meetingNumber") or body.get("webLink")):
            return error(400, "One of meetingId, meetingNumber or webLink is required")
        meeting = self.meetings.get(str(body.get("meetingId")))
        if meeting is None:
            return error(404, "Meeting not found.")
        token = secrets.token_hex(12)
        answer: dict[str, Any] = {
            "joinLink": f"{meeting['webLink']}&t={token}",
            "startLink": f"https://{SITE}/{SITE.split('.')[0]}/j.php?MTID=m"
                         f"{meeting['id']}&st={secrets.token_hex(12)}"}
        if not body.get("createJoinLinkAsWebLink"):
            minutes = int(body.get("expirationMinutes", 30))
            answer["expiration"] = (datetime.now(UTC) + timedelta(minutes=minutes)).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
        return web.json_response(answer)

    # --- webhooks --------------------------------------------------------------------------

    def sign(self, body: bytes) -> str:
        return hmac.new(self.webhook_secret.encode(), body, hashlib.sha1).hexdigest()

    def hook(self, kind: str, link: MeetingLink, participant_id: str | None = None, *,
             name: str = "Анна Петрова", recording_url: str | None = None,
             hook_url: str = "https://webinars.example/hooks/webex/key",
             at: datetime | None = None) -> tuple[dict[str, str], bytes, dict[str, str], str]:
        """A signed callback as Webex posts it. Webex echoes no id we issued, so
        `participant_id` is not sent (its participant ids are its own). Meeting events carry
        the occurrence id (`<series>_I_<n>`) as `data.id`; participant and recording events
        carry it as `data.meetingId`. `at` is when it happened (a fixed moment by default, so
        the same arguments make the same callback, as a re-send would be)."""
        resource, event = HOOK_EVENTS[kind]
        instance = f"{link.external_id}_I_204252814507458645"
        moment = at or datetime(2027, 3, 1, 12, 0, 5, tzinfo=UTC)
        now = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        later = (moment + timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        data: dict[str, Any]
        if resource == "meetingParticipants":
            person = hashlib.sha1(name.encode()).hexdigest()[:24]
            data = {"id": f"{instance}_{person}", "meetingId": instance,
                    "displayName": name, "email": "anna@union.example", "host": False,
                    "state": "joined" if event == "joined" else "end",
                    "joinedTime": now}
            if event == "left":
                data["leftTime"] = later
        elif resource == "meetings":
            data = {"id": instance, "meetingSeriesId": link.external_id,
                    "meetingType": "meeting", "state": event, "actualStart": now}
            if event == "ended":
                data["actualEnd"] = later
        else:
            data = {"id": hashlib.sha1(instance.encode()).hexdigest(), "meetingId": instance,
                    "meetingSeriesId": link.external_id, "topic": "Вебинар",
                    "createTime": later}
            if recording_url:
                data["playbackUrl"] = recording_url
        envelope = {"id": self.webhook_id, "name": "webinars", "targetUrl": hook_url,
                    "resource": resource, "event": event, "orgId": "b3JnLWlk",
                    "createdBy": "cGVvcGxl", "appId": "YXBwLWlk", "ownedBy": "creator",
                    "status": "active", "created": "2027-01-01T00:00:00.000Z",
                    "actorId": "YWN0b3I", "data": data}
        body = json.dumps(envelope, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "X-Spark-Signature": self.sign(body)}
        return headers, body, {}, "POST"


async def serve() -> FakeWebex:
    fake = FakeWebex()
    await fake.start()
    return fake
