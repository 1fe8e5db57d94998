"""Google Meet through the Calendar API: a calendar event that carries a Meet conference
(reference §4a).

The event is the meeting: moving the webinar patches the event and the Meet link stays. The
organizer is the host by signing in with their Google account, so host and members share one
link; Meet sends us no callbacks here (Workspace Events need Pub/Sub), attendance comes from our
/j/ clicks. Two ways to authenticate: a service account key with domain-wide delegation acting
as a Workspace user (`subject`), or an OAuth client plus a user's stored refresh token.

Creating is idempotent through the event id, which we choose (`event_id` of the idempotency
key): the HTTP layer does not repeat a POST whose answer was lost, so the job's next attempt
inserts the same id, Google answers 409 "duplicate", and we take the event that is there. An
event deleted earlier keeps its id (Google shows it as "cancelled"): a webinar that gets a
Google meeting again (moved back from another platform, or its event deleted by hand) gets
that event restored (PATCH status "confirmed"), not an error.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jwt

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
    PlatformRejected,
    PlatformUnavailable,
    QuotaExceeded,
    RateLimited,
)
from .http import AdapterContext, Bearer, Response, credentials_key, retry_after_seconds

LABEL = "Google Meet"
OAUTH_URL = "https://oauth2.googleapis.com/token"
API_URL = "https://www.googleapis.com/calendar/v3"
SCOPE = "https://www.googleapis.com/auth/calendar.events"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: events.get re-reads while the conference is "pending" [⚠ the reference only says "re-read"].
PENDING_READS = 4
#: Our product sends the invitations itself: Google must not mail anyone.
QUIET = {"conferenceDataVersion": "1", "sendUpdates": "none"}
RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
QUOTA_REASONS = {"dailyLimitExceeded", "quotaExceeded"}
OAUTH_REASONS = {
    "invalid_grant": "the refresh token was revoked or has expired, or the service account "
                     "key or 'User to act as' is wrong; connect the account again",
    "unauthorized_client": "the service account has no domain-wide delegation for the "
                           f"scope {SCOPE}; a Workspace admin must grant it (Security → API "
                           "controls → Domain-wide delegation)",
    "invalid_client": "the OAuth client ID or client secret is wrong",
}


def request_id(key: str) -> str:
    """The conference request id: stable per event, so a repeated request is ignored."""
    return "webinar-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def event_id(key: str) -> str:
    """Our id for the event of `key`: base32hex (a-v, 0-9) of its SHA-256, as Calendar ids
    must be (5-1024 of those characters), so the same key always names the same event."""
    digest = hashlib.sha256(key.encode()).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


class _Duplicate(InvalidRequest):
    """409 "duplicate": an event with this id exists (or existed) on the calendar."""


def _instant(when: Any) -> datetime | None:
    """The moment of an event's start or end; None when absent or without an offset."""
    value = when.get("dateTime") if isinstance(when, dict) else None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _when(moment: datetime, zone: str) -> dict[str, str]:
    try:
        local = moment.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        local, zone = moment.astimezone(ZoneInfo("UTC")), "UTC"
    return {"dateTime": local.isoformat(), "timeZone": zone}


def _google_error(response: Response) -> tuple[str, str]:
    """(reason, message) of Google's error body; empty strings for what is missing."""
    try:
        body = json.loads(response.body)
    except ValueError:
        return "", response.text()[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):  # the token endpoint: {"error": "...", "error_description"}
        return error, str(body.get("error_description") or "")
    if not isinstance(error, dict):
        return "", ""
    errors = error.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) \
        else {}
    return str(first.get("reason") or ""), str(error.get("message") or first.get("message") or "")


def _conference(event: Any) -> tuple[dict[str, Any], str | None]:
    """An event's conferenceData and the status of its create request."""
    conference = event.get("conferenceData") if isinstance(event, dict) else None
    conference = conference if isinstance(conference, dict) else {}
    request = conference.get("createRequest")
    status = request.get("status") if isinstance(request, dict) else None
    code = status.get("statusCode") if isinstance(status, dict) else None
    return conference, code if isinstance(code, str) else None


class GoogleMeetAdapter:
    name = "google_meet"
    link_kind = "dynamic"

    def __init__(self, ctx: AdapterContext) -> None:
        self.ctx = ctx
        self.token_url = ctx.endpoint("oauth", OAUTH_URL)
        self.api = ctx.endpoint("api", API_URL)
        self.calendar_id = ctx.credential("calendar_id", "primary")

    # --- auth -----------------------------------------------------------------------------

    def _auth(self) -> Bearer:
        """Which of the two credential sets is filled in; AuthError naming what is missing."""
        key_json = self.ctx.credential("service_account_json")
        subject = self.ctx.credential("subject")
        if key_json:
            try:
                key = json.loads(key_json)
            except ValueError:
                raise AuthError(f"{LABEL}: the service account key is not valid JSON; paste "
                                "the whole downloaded key file") from None
            missing = [f for f in ("client_email", "private_key")
                       if not isinstance(key, dict) or not key.get(f)]
            if missing:
                raise AuthError(f"{LABEL}: the service account key lacks "
                                f"{', '.join(missing)}; paste the whole downloaded key file")
            if not subject:
                raise AuthError(f"{LABEL}: fill in 'User to act as': a service account creates "
                                "Meet conferences only on behalf of a Workspace user")
            return Bearer(credentials_key(self.name, self.token_url, key_json, subject),
                          lambda: self._service_account_token(key, subject))
        oauth = {f: self.ctx.credential(f) for f in ("client_id", "client_secret",
                                                     "refresh_token")}
        missing = [f for f, v in oauth.items() if not v]
        if len(missing) == 3:
            raise AuthError(f"{LABEL}: no credentials: paste a service account key (with "
                            "'User to act as') or fill in client_id, client_secret and "
                            "refresh_token")
        if missing:
            raise AuthError(f"{LABEL}: the OAuth connection lacks {', '.join(missing)}")
        return Bearer(credentials_key(self.name, self.token_url, *oauth.values()),
                      lambda: self._token({"grant_type": "refresh_token", **oauth}))

    async def _service_account_token(self, key: dict[str, Any], subject: str) -> tuple[str, float]:
        now = int(self.ctx.now().timestamp())
        claims = {"iss": key["client_email"], "sub": subject, "scope": SCOPE,
                  "aud": self.token_url, "iat": now, "exp": now + 3600}
        headers = {"kid": key["private_key_id"]} if key.get("private_key_id") else None
        try:
            assertion = jwt.encode(claims, key["private_key"], algorithm="RS256",
                                   headers=headers)
        except (ValueError, TypeError, jwt.PyJWTError):  # PyJWT: InvalidKeyError
            raise AuthError(f"{LABEL}: the private key in the service account key cannot be "
                            "read; paste the whole downloaded key file") from None
        return await self._token({"grant_type": JWT_BEARER, "assertion": assertion})

    async def _token(self, form: dict[str, str]) -> tuple[str, float]:
        response = await self.ctx.http.request("POST", self.token_url, data=form,
                                               idempotent=True)
        body = response.json(LABEL)
        if not response.ok:
            reason, description = _google_error(response)
            why = OAUTH_REASONS.get(reason, "the token request was refused")
            raise AuthError(f"{LABEL}: {why} ({reason or response.status}"
                            f"{': ' + description if description else ''})")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise PlatformUnavailable(f"{LABEL}: the token answer has no access_token")
        try:
            return token, float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            return token, 3600.0

    # --- calls ----------------------------------------------------------------------------

    def _events(self, calendar_id: str, event_id: str = "") -> str:
        url = f"{self.api}/calendars/{quote(calendar_id, safe='@')}/events"
        return f"{url}/{quote(event_id, safe='')}" if event_id else url

    async def _call(self, method: str, url: str, *, params: dict[str, str] | None = None,
                    body: Any = None, what: str) -> Any:
        response = await self.ctx.http.request(method, url, params=params, json=body,
                                               auth=self._auth())
        if response.ok:
            return response.json(LABEL)
        reason, message = _google_error(response)
        detail = f"({response.status} {reason or 'error'}: {message})"
        if response.status in (404, 410):
            raise MeetingNotFound(f"{LABEL}: {what} not found {detail}")
        if response.status == 401:
            raise AuthError(f"{LABEL}: Google refused the access token {detail}; connect the "
                            "account again")
        if response.status == 403 and reason in RATE_REASONS:
            raise RateLimited(f"{LABEL}: too many requests {detail}; retrying later",
                              retry_after=retry_after_seconds(
                                  response.headers.get("Retry-After"), self.ctx.now()))
        if response.status == 403 and reason in QUOTA_REASONS:
            raise QuotaExceeded(f"{LABEL}: the daily Calendar API quota is used up {detail}")
        if response.status == 403:
            raise AuthError(f"{LABEL}: no permission to change events of calendar "
                            f"'{self.calendar_id}' {detail}; the account needs write access "
                            f"to it and the scope {SCOPE}")
        if response.status == 400 and "conference type" in message.lower():
            raise PlanRestricted(f"{LABEL}: this Google identity cannot create Meet conferences "
                                 f"{detail}; a service account needs domain-wide delegation "
                                 "and a Workspace user in 'User to act as'")
        if response.status == 409 and reason == "duplicate":
            raise _Duplicate(f"{LABEL}: the {what} already exists {detail}")
        if 400 <= response.status < 500:
            raise InvalidRequest(f"{LABEL}: Google refused the {what} {detail}")
        raise PlatformRejected(f"{LABEL}: unexpected answer {detail}")

    def _link(self, event: Any, calendar_id: str) -> MeetingLink:
        """The Meet link of an event; a conference still pending is PlatformUnavailable."""
        if not isinstance(event, dict) or not isinstance(event.get("id"), str):
            raise PlatformUnavailable(f"{LABEL}: the event in the answer has no id")
        if event.get("status") == "cancelled":
            raise MeetingNotFound(f"{LABEL}: the calendar event was deleted")
        conference, code = _conference(event)
        if code == "failure":
            raise PlatformRejected(f"{LABEL}: Google could not create a Meet conference for "
                                   "the event (conference request failed)")
        uris = [p.get("uri") for p in conference.get("entryPoints") or []
                if isinstance(p, dict) and p.get("entryPointType") == "video"]
        uri = next((u for u in uris if isinstance(u, str) and u), event.get("hangoutLink"))
        if code == "pending" and not uri:
            raise PlatformUnavailable(f"{LABEL}: the Meet conference is still being created")
        if not isinstance(uri, str) or not uri:
            raise InvalidRequest(f"{LABEL}: the calendar event has no Meet link: Google "
                                 "ignored the conference request")
        extra = {"calendar_id": calendar_id}
        if isinstance(conference.get("conferenceId"), str):
            extra["conference_id"] = conference["conferenceId"]
        return MeetingLink(external_id=event["id"], join_url=uri, extra=extra)

    def _body(self, spec: MeetingSpec) -> dict[str, Any]:
        return {"summary": spec.title, "description": spec.description,
                "start": _when(spec.start, spec.timezone),
                "end": _when(spec.start + spec.duration, spec.timezone)}

    def _calendar(self, link: MeetingLink) -> str:
        # The core may not keep `extra`: the connection's calendar is the fallback.
        return link.extra.get("calendar_id") or self.calendar_id

    # --- the adapter ----------------------------------------------------------------------

    async def create(self, spec: MeetingSpec) -> MeetingLink:
        body = self._body(spec)
        body["conferenceData"] = {"createRequest": {
            "requestId": request_id(spec.idempotency_key or spec.title),
            "conferenceSolutionKey": {"type": "hangoutsMeet"}}}
        if spec.idempotency_key:  # without a key Google picks the id: nothing to find again
            body["id"] = event_id(spec.idempotency_key)
        try:
            event = await self._call("POST", self._events(self.calendar_id), params=QUIET,
                                     body=body, what="calendar event")
        except MeetingNotFound:
            raise self._no_calendar() from None
        except _Duplicate:
            event = await self._existing(body)
        try:
            for attempt in range(PENDING_READS):
                if _conference(event)[1] != "pending" or not isinstance(event.get("id"), str):
                    break
                await self.ctx.http.sleep(0.5 * 2 ** attempt)  # the http layer's (injected)
                event = await self._call("GET", self._events(self.calendar_id, event["id"]),
                                         params={"conferenceDataVersion": "1"}, what="new event")
            return self._link(event, self.calendar_id)
        except (PlatformUnavailable, PlatformRejected, MeetingNotFound) as exc:
            await self._discard(event)  # no event without its link left in the calendar
            if isinstance(exc, MeetingNotFound):
                raise PlatformUnavailable(f"{LABEL}: the new calendar event vanished while its "
                                          "conference was being created") from exc
            raise

    async def _existing(self, body: dict[str, Any]) -> Any:
        """The event an earlier insert of the same id made (its answer was lost, or it was
        deleted since), brought to `body`: a cancelled one is restored, a stale one moved."""
        url = self._events(self.calendar_id, body["id"])
        try:
            event = await self._call("GET", url, params={"conferenceDataVersion": "1"},
                                     what="calendar event")
        except MeetingNotFound:
            raise PlatformUnavailable(f"{LABEL}: Google says the event {body['id']} exists "
                                      "but cannot find it; retrying later") from None
        cancelled = isinstance(event, dict) and event.get("status") == "cancelled"
        if not cancelled and self._current(event, body):
            return event
        change = {k: v for k, v in body.items() if k != "id"}
        if cancelled:
            change["status"] = "confirmed"
        try:
            return await self._call("PATCH", url, params=QUIET, body=change,
                                    what="calendar event")
        except MeetingNotFound:
            raise PlatformRejected(
                f"{LABEL}: the calendar event {body['id']} of this webinar was deleted and "
                "Google refuses to restore it, while its id stays taken; restore the event "
                "from Google Calendar's Bin, or choose another platform") from None

    @staticmethod
    def _current(event: Any, body: dict[str, Any]) -> bool:
        """Whether the event already says what `body` says (title, text, times, zone)."""
        if not isinstance(event, dict):
            return False
        return (event.get("summary", "") == body["summary"]
                and event.get("description", "") == body["description"]
                and all(_instant(event.get(side)) == _instant(body[side])
                        and (event.get(side) or {}).get("timeZone") == body[side]["timeZone"]
                        for side in ("start", "end")))

    async def _discard(self, event: Any) -> None:
        if isinstance(event, dict) and isinstance(event.get("id"), str):
            try:
                await self.delete(MeetingLink(event["id"], "",
                                              extra={"calendar_id": self.calendar_id}))
            except PlatformUnavailable:
                pass  # the error being raised says more than this one

    async def get(self, link: MeetingLink) -> MeetingLink:
        calendar = self._calendar(link)
        event = await self._call("GET", self._events(calendar, link.external_id),
                                 params={"conferenceDataVersion": "1"}, what="calendar event")
        return self._link(event, calendar)

    async def update(self, link: MeetingLink, spec: MeetingSpec) -> MeetingLink:
        calendar = self._calendar(link)
        event = await self._call("PATCH", self._events(calendar, link.external_id),
                                 params=QUIET, body=self._body(spec), what="calendar event")
        return self._link(event, calendar)

    async def delete(self, link: MeetingLink) -> None:
        try:
            await self._call("DELETE", self._events(self._calendar(link), link.external_id),
                             params={"sendUpdates": "none"}, what="calendar event")
        except MeetingNotFound:
            pass  # 404, or 410 already deleted

    async def check(self) -> None:
        """A token and one event read on the calendar: proves the key, delegation and access
        (whether Meet conferences are allowed shows only on the first create)."""
        try:
            await self._call("GET", self._events(self.calendar_id),
                             params={"maxResults": "1"}, what="calendar")
        except MeetingNotFound:
            raise self._no_calendar() from None

    def _no_calendar(self) -> AuthError:
        return AuthError(f"{LABEL}: the calendar '{self.calendar_id}' does not exist or this "
                         "account cannot see it; use 'primary' or a calendar shared with it")

    async def host_link(self, link: MeetingLink, host: Person) -> PersonalLink:
        return PersonalLink(link.join_url)  # the organizer is host once signed in to Google

    async def join_link(self, link: MeetingLink, person: Person) -> PersonalLink:
        return PersonalLink(link.join_url)

    async def handle_hook(self, request: HookRequest) -> HookReply:
        raise NotSupported(f"{LABEL} sends no callbacks to this service")

    async def attendance(self, link: MeetingLink) -> list[PlatformEvent]:
        raise NotSupported(f"{LABEL} has no attendance report here; clicks on our links count")
