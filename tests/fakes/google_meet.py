"""Fake Google: the OAuth token endpoint and Calendar API v3 events with Meet conferences
(reference §4a).

It refuses what Google refuses: assertions not signed by the service account's key, with the
wrong audience or scope or a lifetime over an hour; delegation to a user when domain-wide
delegation is not granted (unauthorized_client); revoked refresh tokens (invalid_grant); a
missing, unknown or expired bearer token; form-encoded API bodies; events without start or end;
client-chosen event ids that are not 5-1024 base32hex characters (400 "invalid"), and ids already
used on the calendar (409 "duplicate"), deleted events included: like Google's, they stay as
"cancelled", readable, and come back with a PATCH of status "confirmed" [⚠ the reference says
nothing of event ids; the conference of a restored event is kept].
Like Google it IGNORES conferenceData unless the query has conferenceDataVersion=1.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import time
from datetime import UTC, datetime
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes import FakeServer

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/calendar.events"
BASE32HEX = string.digits + "abcdefghijklmnopqrstuv"
EVENT_ID = re.compile(f"[{BASE32HEX}]{{5,1024}}")
STATUSES = ("confirmed", "tentative", "cancelled")
#: One RSA key for every fake instance: generating one costs ~50 ms.
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_PEM = _KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()


def google_error(status: int, reason: str, message: str, domain: str = "global") -> web.Response:
    """Google's JSON error body."""
    return web.json_response({"error": {
        "errors": [{"domain": domain, "reason": reason, "message": message}],
        "code": status, "message": message}}, status=status)


def oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


class FakeGoogle(FakeServer):
    platform = "google_meet"

    def __init__(self) -> None:
        super().__init__()
        self.client_email = "webinars@union-project.iam.gserviceaccount.com"
        self.public_key = _KEY.public_key()
        self.users = {"organizer@union.example"}
        #: Domain-wide delegation granted to the service account for SCOPE.
        self.delegation = True
        self.client_id = "1234567890-abc.apps.googleusercontent.com"
        self.client_secret = "GOCSPX-fake-client-secret"
        self.refresh_tokens = {"1//0refresh-token-of-organizer": "organizer@union.example"}
        self.assertions: list[dict[str, Any]] = []  # claims of every accepted assertion
        #: access token -> (user or "" for a bare service account, expiry on time.monotonic)
        self.tokens: dict[str, tuple[str, float]] = {}
        self.token_requests = 0
        #: calendar id -> event id -> event
        self.meetings: dict[str, dict[str, dict[str, Any]]] = {}
        #: events.get answers "pending" this many times for a new conference.
        self.pending_reads = 0
        #: How a new conference ends: "success" or "failure".
        self.conference_outcome = "success"
        #: [⚠ reference: "a reused requestId is ignored"] a new event whose requestId is
        #: already used on the calendar returns that event instead of a second one.
        self.dedupe_request_ids = True
        self.inserts: list[dict[str, str]] = []  # the query of each events.insert
        #: The next insert stores its event, then loses the answer: (status, hang).
        self._lose_answer: tuple[int, bool] | None = None
        api = "/calendar/v3/calendars/{calendar}/events"
        self.app.router.add_post("/token", self.token)
        self.app.router.add_get(api, self.list_events)
        self.app.router.add_post(api, self.insert)
        self.app.router.add_get(api + "/{event}", self.get_event)
        self.app.router.add_patch(api + "/{event}", self.patch)
        self.app.router.add_delete(api + "/{event}", self.delete)

    def credentials(self) -> dict[str, str]:
        key = {"type": "service_account", "project_id": "union-project",
               "private_key_id": "k1", "private_key": PRIVATE_PEM,
               "client_email": self.client_email, "client_id": "1049",
               "token_uri": f"{self.url}/token"}
        return {"calendar_id": "primary", "service_account_json": json.dumps(key),
                "subject": "organizer@union.example"}

    def oauth_credentials(self) -> dict[str, str]:
        """The other mode: an OAuth client and a user's refresh token."""
        return {"calendar_id": "primary", "client_id": self.client_id,
                "client_secret": self.client_secret,
                "refresh_token": next(iter(self.refresh_tokens))}

    def endpoints(self) -> dict[str, str]:
        return {"oauth": f"{self.url}/token", "api": f"{self.url}/calendar/v3"}

    def expire_tokens(self) -> None:
        self.tokens = {t: (user, 0.0) for t, (user, _) in self.tokens.items()}

    def events(self, calendar: str = "primary") -> dict[str, dict[str, Any]]:
        return self.meetings.setdefault(calendar, {})

    def fail_after_create(self, status: int = 503, *, hang: bool = False) -> None:
        """The next insert makes its event and then answers `status`, or never (`hang`):
        a create whose answer is lost, which the client must not repeat into a second one."""
        self._lose_answer = (status, hang)

    async def _lost(self) -> web.Response | None:
        if self._lose_answer is None:
            return None
        (status, hang), self._lose_answer = self._lose_answer, None
        if hang:
            await self._never.wait()
        return web.Response(status=status)

    # --- OAuth ----------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        if request.content_type != "application/x-www-form-urlencoded":
            return oauth_error(400, "invalid_request", "Invalid content type")
        form = await request.post()
        grant = form.get("grant_type")
        if grant == JWT_BEARER:
            user = self._assertion_user(str(form.get("assertion", "")))
            if isinstance(user, web.Response):
                return user
        elif grant == "refresh_token":
            if (form.get("client_id"), form.get("client_secret")) != (self.client_id,
                                                                        self.client_secret):
                return oauth_error(401, "invalid_client", "Unauthorized")
            if form.get("refresh_token") not in self.refresh_tokens:
                return oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
            user = self.refresh_tokens[str(form["refresh_token"])]
        else:
            return oauth_error(400, "unsupported_grant_type", "Invalid grant_type: " + str(grant))
        token = "ya29." + secrets.token_urlsafe(24)
        self.tokens[token] = (user, time.monotonic() + 3599)
        return web.json_response({"access_token": token, "expires_in": 3599,
                                  "scope": SCOPE, "token_type": "Bearer"})

    def _assertion_user(self, assertion: str) -> str | web.Response:
        try:
            claims = jwt.decode(assertion, self.public_key, algorithms=["RS256"],
                                audience=f"{self.url}/token",
                                options={"require": ["iss", "aud", "iat", "exp", "scope"]})
        except jwt.PyJWTError as exc:
            return oauth_error(400, "invalid_grant", f"Invalid JWT Signature. ({exc})")
        self.assertions.append(claims)
        if claims["iss"] != self.client_email:
            return oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if claims["exp"] - claims["iat"] > 3600:
            return oauth_error(400, "invalid_grant", "Invalid JWT: Token must be a short-lived "
                                                     "token (60 minutes)")
        if SCOPE not in str(claims["scope"]).split():
            return oauth_error(400, "invalid_scope", "Invalid OAuth scope")
        subject = claims.get("sub")
        if not subject:
            return ""  # the service account itself: a token, but no Meet conferences
        if not self.delegation:
            return oauth_error(401, "unauthorized_client", "Client is unauthorized to retrieve "
                               "access tokens using this method, or client not authorized for "
                               "any of the scopes requested.")
        if subject not in self.users:
            return oauth_error(400, "invalid_grant", "Invalid email or User ID")
        return str(subject)

    # --- Calendar -------------------------------------------------------------------------

    def _caller(self, request: web.Request) -> str | web.Response:
        header = request.headers.get("Authorization", "")
        user, expires = self.tokens.get(header.removeprefix("Bearer "), ("", -1.0))
        if not header.startswith("Bearer ") or expires < time.monotonic():
            return google_error(401, "authError", "Invalid Credentials")
        calendar = request.match_info["calendar"]
        if calendar != "primary" and calendar not in self.users:
            return google_error(404, "notFound", "Not Found")
        return user

    async def _json_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        if request.content_type != "application/json":
            return google_error(400, "parseError",
                                "This API does not support parsing form-encoded input.")
        try:
            body = await request.json()
        except ValueError:
            return google_error(400, "parseError", "Parse Error")
        return body if isinstance(body, dict) else google_error(400, "parseError", "Parse Error")

    def _times(self, event: dict[str, Any]) -> web.Response | None:
        for side in ("start", "end"):
            when = event.get(side)
            if not isinstance(when, dict) or "dateTime" not in when:
                return google_error(400, "required", f"Missing {side} time.")
            try:
                moment = datetime.fromisoformat(str(when["dateTime"]))
            except ValueError:
                return google_error(400, "invalid", "Invalid value for: Invalid format")
            if moment.tzinfo is None and not when.get("timeZone"):
                return google_error(400, "required", "Missing time zone definition for "
                                                     f"{side} time.")
        start, end = (datetime.fromisoformat(event[side]["dateTime"]) for side in ("start", "end"))
        if end.replace(tzinfo=end.tzinfo or UTC) <= start.replace(tzinfo=start.tzinfo or UTC):
            return google_error(400, "timeRangeEmpty", "The specified time range is empty.")
        return None

    def _conference(self, event: dict[str, Any], asked: Any, user: str) -> web.Response | None:
        """Apply a createRequest (only called with conferenceDataVersion=1)."""
        create = asked.get("createRequest") if isinstance(asked, dict) else None
        if not isinstance(create, dict):
            return None
        old = event.get("conferenceData", {}).get("createRequest", {})
        if old.get("requestId") == create.get("requestId"):
            return None  # the same request again is ignored
        kind = (create.get("conferenceSolutionKey") or {}).get("type")
        if kind != "hangoutsMeet" or not user:
            return google_error(400, "invalid", "Invalid conference type value.")
        code = "-".join("".join(secrets.choice(string.ascii_lowercase) for _ in range(n))
                        for n in (3, 4, 3))
        event["conferenceData"] = {
            "createRequest": {"requestId": create.get("requestId"),
                              "conferenceSolutionKey": {"type": kind},
                              "status": {"statusCode": "pending"}},
            "conferenceSolution": {"key": {"type": kind}, "name": "Google Meet"},
            "conferenceId": code, "_pending": self.pending_reads}
        if not self.pending_reads:
            self._settle(event)
        return None

    def _settle(self, event: dict[str, Any]) -> None:
        conference = event.get("conferenceData")
        if not conference or conference["createRequest"]["status"]["statusCode"] != "pending":
            return
        if conference["_pending"] > 0:
            conference["_pending"] -= 1
            return
        conference["createRequest"]["status"]["statusCode"] = self.conference_outcome
        if self.conference_outcome == "success":
            uri = f"https://meet.google.com/{conference['conferenceId']}"
            event["hangoutLink"] = uri
            conference["entryPoints"] = [
                {"entryPointType": "video", "uri": uri, "label": uri[8:]},
                {"entryPointType": "more", "uri": "https://tel.meet/" + uri[24:], "pin": "1"}]

    def _shown(self, event: dict[str, Any]) -> web.Response:
        shown = json.loads(json.dumps(event))
        shown.get("conferenceData", {}).pop("_pending", None)
        return web.json_response(shown)

    async def list_events(self, request: web.Request) -> web.Response:
        user = self._caller(request)
        if isinstance(user, web.Response):
            return user
        items = list(self.events(request.match_info["calendar"]).values())
        limit = int(request.query.get("maxResults", "250"))
        return web.json_response({"kind": "calendar#events", "items": items[:limit]})

    async def insert(self, request: web.Request) -> web.Response:
        user = self._caller(request)
        if isinstance(user, web.Response):
            return user
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        if request.query.get("sendUpdates", "none") not in ("all", "externalOnly", "none"):
            return google_error(400, "invalid", "Invalid value for: sendUpdates")
        if (bad := self._times(body)) is not None:
            return bad
        calendar = self.events(request.match_info["calendar"])
        event_id = body.get("id")
        if event_id is not None and not (isinstance(event_id, str)
                                         and EVENT_ID.fullmatch(event_id)):
            return google_error(400, "invalid", "Invalid resource id value.")
        if event_id in calendar:  # deleted ones too: their ids stay taken
            return google_error(409, "duplicate", "The requested identifier already exists.")
        wanted = (body.get("conferenceData") or {}).get("createRequest") or {}
        for existing in calendar.values():
            used = existing.get("conferenceData", {}).get("createRequest", {})
            if (self.dedupe_request_ids and wanted.get("requestId")
                    and used.get("requestId") == wanted["requestId"]
                    and existing["status"] != "cancelled"):
                return self._shown(existing)
        self.inserts.append(dict(request.query))
        event_id = event_id or "".join(secrets.choice(BASE32HEX) for _ in range(26))
        event: dict[str, Any] = {
            "kind": "calendar#event", "id": event_id, "status": "confirmed",
            "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
            "summary": body.get("summary", ""), "description": body.get("description", ""),
            "start": body["start"], "end": body["end"], "sequence": 0,
            "organizer": {"email": user or self.client_email, "self": True},
            "iCalUID": f"{event_id}@google.com", "reminders": {"useDefault": True}}
        # Without conferenceDataVersion=1 Google ignores conferenceData (no link).
        if request.query.get("conferenceDataVersion") == "1" and (
                bad := self._conference(event, body.get("conferenceData"), user)) is not None:
            return bad
        calendar[event_id] = event
        lost = await self._lost()
        return lost if lost is not None else self._shown(event)

    def _event(self, request: web.Request) -> dict[str, Any] | web.Response:
        event = self.events(request.match_info["calendar"]).get(request.match_info["event"])
        return event if event is not None else google_error(404, "notFound", "Not Found")

    async def get_event(self, request: web.Request) -> web.Response:
        user = self._caller(request)
        if isinstance(user, web.Response):
            return user
        event = self._event(request)
        if isinstance(event, web.Response):
            return event
        self._settle(event)
        return self._shown(event)

    async def patch(self, request: web.Request) -> web.Response:
        user = self._caller(request)
        if isinstance(user, web.Response):
            return user
        event, body = self._event(request), await self._json_body(request)
        if isinstance(event, web.Response):
            return event
        if isinstance(body, web.Response):
            return body
        if body.get("status", "confirmed") not in STATUSES:
            return google_error(400, "invalid", "Invalid value for: status")
        merged = {**event, **{k: v for k, v in body.items()
                              if k in ("summary", "description", "start", "end", "status")}}
        if (bad := self._times(merged)) is not None:
            return bad
        if request.query.get("conferenceDataVersion") == "1" and "conferenceData" in body and (
                bad := self._conference(merged, body["conferenceData"], user)) is not None:
            return bad
        event.update(merged)
        event["sequence"] += 1
        return self._shown(event)

    async def delete(self, request: web.Request) -> web.Response:
        user = self._caller(request)
        if isinstance(user, web.Response):
            return user
        event = self._event(request)
        if isinstance(event, web.Response):
            return event
        if event["status"] == "cancelled":
            return google_error(410, "deleted", "Resource has been deleted")
        event["status"] = "cancelled"
        return web.Response(status=204)


async def serve() -> FakeGoogle:
    fake = FakeGoogle()
    await fake.start()
    return fake
