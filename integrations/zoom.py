"""Zoom through a Server-to-Server OAuth app (reference §3).

The token comes from `POST {oauth}/oauth/token?grant_type=account_credentials` with the app's
client id and secret, and is cached by the HTTP layer (fetched again at 80 % of its hour and
once on a 401). Meetings (or webinars, with the Webinar add-on) are made for `host_user` with
registration on, so every member gets their own registrant link; Zoom's id for that registrant
is what its webhooks echo back. The host's `start_url` expires: it is never stored, only read
from Zoom when the host clicks. Attendance comes from webhooks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import quote
from zoneinfo import ZoneInfo

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
    InvalidRequest,
    InvalidState,
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
    weekly,
)
from .http import AdapterContext, Bearer, Response, credentials_key

EVENTS = {
    "meeting.started": MEETING_STARTED, "webinar.started": MEETING_STARTED,
    "meeting.ended": MEETING_ENDED, "webinar.ended": MEETING_ENDED,
    "meeting.participant_joined": PARTICIPANT_JOINED,
    "webinar.participant_joined": PARTICIPANT_JOINED,
    "meeting.participant_left": PARTICIPANT_LEFT, "webinar.participant_left": PARTICIPANT_LEFT,
    "recording.completed": RECORDING_READY,
}
#: Meeting types by kind: (scheduled, recurring with no fixed time, recurring fixed time).
TYPES = {"meeting": (2, 3, 8), "webinar": (5, 6, 9)}
#: Registration on, auto-approved, once for every occurrence; Zoom sends no e-mails.
REGISTRATION: dict[str, Any] = {
    "approval_type": 0, "registration_type": 1, "registrants_email_notification": False,
    "registrants_confirmation_email": False, "join_before_host": False}
#: How old (or early) a callback's x-zm-request-timestamp may be.
HOOK_TOLERANCE = timedelta(minutes=5)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """x-zm-signature: "v0=" + hex(HMAC-SHA256(secret, "v0:<timestamp>:<body>"))."""
    message = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def encrypted_token(secret: str, plain_token: str) -> str:
    """The answer to endpoint.url_validation: hex(HMAC-SHA256(secret, plainToken))."""
    return hmac.new(secret.encode(), plain_token.encode(), hashlib.sha256).hexdigest()


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _minutes(duration: timedelta) -> int:
    return max(1, math.ceil(duration.total_seconds() / 60))


def _s(value: Any) -> str:
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _loose(response: Response) -> dict[str, Any]:
    """An error answer's JSON object, or {} when it has none (a proxy's HTML page)."""
    try:
        return _obj(json.loads(response.body))
    except ValueError:
        return {}


def _when(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)  # event_ts is in milliseconds
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


class ZoomAdapter:
    name = "zoom"
    link_kind = "dynamic"
    #: [⚠] Zoom error codes that mean "the plan does not allow this": 200 is "No permission",
    #: which Zoom sends with "Webinar plan is missing" when the Webinar add-on is absent.
    plan_codes: frozenset[int] = frozenset({200})
    #: [⚠] start_url lifetime for ordinary users (90 days only for API-created custCreate users).
    start_url_lifetime = timedelta(hours=2)

    def __init__(self, ctx: AdapterContext) -> None:
        self.ctx = ctx
        self.oauth = ctx.endpoint("oauth", "https://zoom.us")
        self.api = ctx.endpoint("api", "https://api.zoom.us/v2")
        self.account_id = ctx.credential("account_id")
        self.client_id = ctx.credential("client_id")
        self.client_secret = ctx.credential("client_secret")
        self.host_user = ctx.credential("host_user", "me")
        self.kind = "webinar" if ctx.credential("meeting_type") == "webinar" else "meeting"
        self.webhook_secret = ctx.credential("webhook_secret")
        self.auth = Bearer(credentials_key("zoom", self.account_id, self.client_id,
                                           self.client_secret), self._fetch_token)

    # -- the API ---------------------------------------------------------------------------

    async def _fetch_token(self) -> tuple[str, float]:
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        response = await self.ctx.http.request(
            "POST", f"{self.oauth}/oauth/token", headers={"Authorization": f"Basic {basic}"},
            params={"grant_type": "account_credentials", "account_id": self.account_id},
            idempotent=True)  # asking for a token twice is harmless
        if not response.ok:
            body = _loose(response)
            error = _s(body.get("error"))
            reason = _s(body.get("reason")) or response.text()[:200]
            if error == "invalid_client":
                raise AuthError("Zoom: the client ID or client secret is wrong (invalid_client: "
                                f"{reason}); copy both again from the Server-to-Server OAuth app")
            if "account" in reason.lower():
                raise AuthError(f"Zoom: the account ID {self.account_id!r} is wrong ({error}: "
                                f"{reason}); copy it from the app's App Credentials page")
            raise AuthError(f"Zoom refused the app's token request ({error or response.status}: "
                            f"{reason}); check that the Server-to-Server OAuth app is activated")
        body = _obj(response.json("Zoom"))
        token, lifetime = body.get("access_token"), body.get("expires_in", 3599)
        if not isinstance(token, str) or not token or not isinstance(lifetime, (int, float)):
            raise PlatformUnavailable("Zoom: the token answer has no access_token/expires_in")
        return token, float(lifetime)

    async def _call(self, method: str, path: str, doing: str, *, body: Any = None) -> Any:
        response = await self.ctx.http.request(method, self.api + path, json=body,
                                               auth=self.auth)
        if not response.ok:
            self._fail(response, doing)
        return response.json("Zoom")

    def _fail(self, response: Response, doing: str) -> NoReturn:
        """Zoom's {"code", "message"} errors onto the error tree, for the organizer to read."""
        body = _loose(response)
        code = body.get("code") if isinstance(body.get("code"), int) else None
        message = _s(body.get("message")) or response.text()[:200] or f"HTTP {response.status}"
        fields = [f"{_s(e.get('field'))}: {_s(e.get('message'))}"
                  for e in body.get("errors") or [] if isinstance(e, dict)]
        said = message + (f" ({'; '.join(fields)})" if fields else "") + (
            f" [code {code}]" if code is not None else f" [HTTP {response.status}]")
        host = self.host_user
        if code == 4711 or "does not contain scope" in message.lower():
            found = re.search(r"scopes?\s*:?\s*\[([^\]]*)\]", message)
            scopes = found.group(1).strip() if found else "the one named by Zoom"
            raise AuthError(f"Zoom: the app lacks the scope {scopes} needed to {doing} ({said}); "
                            "add it on the app's Scopes page and activate the app again")
        if response.status == 401 or code == 124:
            raise AuthError(f"Zoom refused the access token even after fetching a new one "
                            f"({said}); check that the Server-to-Server OAuth app is activated")
        if code == 1001:
            raise InvalidRequest(f"Zoom: the host user {host!r} does not exist in this account "
                                 f"({said}); set Host to the e-mail of a user of the account")
        if code == 1010:
            raise AuthError(f"Zoom: the host user {host!r} does not belong to the app's account "
                            f"({said}); use a user of account {self.account_id!r}")
        if code in self.plan_codes or "plan is missing" in message.lower():
            hint = ("Zoom Webinars need the Webinar add-on for the host; add it or create "
                    "meetings instead" if self.kind == "webinar" or "webinar" in message.lower()
                    else "the account's plan or the host's role does not allow it")
            raise PlanRestricted(f"Zoom cannot {doing}: {said}; {hint}")
        if code == 3001 or response.status == 404:
            raise MeetingNotFound(f"Zoom: the meeting is gone ({said})")
        if code in (3002, 3007):
            raise InvalidState(f"Zoom cannot {doing} now: {said}")
        if code == 3003 or response.status == 403:
            raise AuthError(f"Zoom: missing permission to {doing} ({said}); the host user must "
                            "own the meeting and the app needs the admin scopes")
        if response.status in (400, 409, 422) or code == 300:
            raise InvalidRequest(f"Zoom refused to {doing}: {said}")
        raise PlatformRejected(f"Zoom: HTTP {response.status} trying to {doing}: {said}")

    def _path(self, link: MeetingLink) -> str:
        kind = link.extra.get("kind") or self.kind  # a link keeps the kind it was made as
        return f"/{kind}s/{quote(link.external_id, safe='')}"

    def _link(self, body: Any, kind: str) -> MeetingLink:
        body = _obj(body)
        ident, join_url = _s(body.get("id")), _s(body.get("join_url"))
        if not ident or not join_url:
            raise PlatformUnavailable(f"Zoom: the {kind} answer has no id/join_url (malformed)")
        # start_url is deliberately dropped: it expires (host_link reads it fresh).
        return MeetingLink(external_id=ident, join_url=join_url, host_url=None,
                           extra={"uuid": _s(body.get("uuid")), "kind": kind})

    def _payload(self, spec: MeetingSpec) -> dict[str, Any]:
        """The meeting's fields; a course is one recurring meeting (`_course`)."""
        body: dict[str, Any] = {
            "topic": spec.title[:200],
            "start_time": _utc(spec.start),
            "duration": _minutes(spec.duration),
            "timezone": spec.timezone or "UTC",
            "agenda": spec.description[:2000],
            "type": TYPES[self.kind][0],
            "settings": dict(REGISTRATION),
        }
        return body | self._course(spec)

    def _course(self, spec: MeetingSpec) -> dict[str, Any]:
        """A weekly course at one local time and length is a recurring meeting with a fixed
        time (type 8, weekly on the local weekday, `end_times` weeks; cancelled weeks are
        deleted as occurrences afterwards). A course that follows no such rule (a list of
        dates, a moved session) is a recurring meeting with no fixed time (type 3): its
        link works at any session's time. Zoom has no registration for type 3."""
        if not spec.occurrences:
            return {}
        plan = weekly(spec)
        if plan is None or plan.moved:
            return {"type": TYPES[self.kind][1], "settings": {"approval_type": 2}}
        weekday = plan.first.astimezone(ZoneInfo(plan.zone)).isoweekday() % 7 + 1
        return {"type": TYPES[self.kind][2], "start_time": _utc(plan.first),
                "duration": _minutes(plan.duration),
                "recurrence": {"type": 2, "repeat_interval": 1, "weekly_days": str(weekday),
                               "end_times": plan.count}}

    async def _skip(self, link: MeetingLink, spec: MeetingSpec) -> None:
        """Deletes the occurrences of cancelled weeks (Zoom's occurrence id is the
        occurrence's start in epoch milliseconds [⚠]); one already gone counts as done."""
        plan = weekly(spec) if spec.occurrences else None
        if plan is None or plan.moved:
            return
        for index in plan.skipped:
            occurrence = int(plan.slot(index).timestamp() * 1000)
            try:
                await self._call("DELETE", f"{self._path(link)}?occurrence_id={occurrence}",
                                 "cancel one session of the meeting")
            except MeetingNotFound:
                pass

    # -- the adapter -----------------------------------------------------------------------

    async def create(self, spec: MeetingSpec) -> MeetingLink:
        """Zoom has no idempotency key: the core keeps the external id and never creates
        twice for one event. Registration is on (auto-approved, Zoom sends no e-mails) so
        members get personal links."""
        user = quote(self.host_user, safe="@")
        answer = await self._call("POST", f"/users/{user}/{self.kind}s",
                                  f"create the {self.kind}", body=self._payload(spec))
        link = self._link(answer, self.kind)
        await self._skip(link, spec)
        return link

    async def get(self, link: MeetingLink) -> MeetingLink:
        kind = link.extra.get("kind") or self.kind
        return self._link(await self._call("GET", self._path(link), f"read the {kind}"), kind)

    async def update(self, link: MeetingLink, spec: MeetingSpec) -> MeetingLink:
        """PATCH moves the same meeting (same id, same join_url); Zoom answers 204, so the
        meeting is read back."""
        await self._call("PATCH", self._path(link), "move the meeting", body=self._payload(spec))
        await self._skip(link, spec)
        return await self.get(link)

    async def delete(self, link: MeetingLink) -> None:
        try:
            await self._call("DELETE", self._path(link), "delete the meeting")
        except MeetingNotFound:
            return  # already gone: deleted

    async def check(self) -> None:
        """A token, the host user, and (for webinars) the Webinar add-on."""
        await self._call("GET", f"/users/{quote(self.host_user, safe='@')}",
                         "read the host user")
        if self.kind == "webinar":
            await self._call("GET", f"/users/{quote(self.host_user, safe='@')}/webinars",
                             "list the host's webinars")

    async def host_link(self, link: MeetingLink, host: Person) -> PersonalLink:
        answer = await self._call("GET", self._path(link), "read the meeting's start link")
        start_url = _s(_obj(answer).get("start_url"))
        if not start_url:
            raise PlatformUnavailable("Zoom: the meeting answer has no start_url (malformed)")
        return PersonalLink(url=start_url, expires_at=self.ctx.now() + self.start_url_lifetime)

    async def join_link(self, link: MeetingLink, person: Person) -> PersonalLink:
        """Registers the person (Zoom answers the same registrant again for the same
        e-mail); their registrant_id is what Zoom's webhooks echo back."""
        first, _, last = (person.name.strip() or person.email.split("@")[0]).partition(" ")
        body = {"email": person.email, "first_name": first[:64], "last_name": last.strip()[:64]}
        try:
            answer = await self._call("POST", self._path(link) + "/registrants",
                                      "register the member", body=body)
        except (InvalidRequest, PlanRestricted) as exc:
            # [⚠] Registration off for this meeting, or not in the host's plan (Basic users):
            # the shared join_url still works; only the registrant id for attendance is lost.
            if isinstance(exc, PlanRestricted) or "registration" in str(exc).lower():
                return PersonalLink(url=link.join_url)
            raise
        answer = _obj(answer)
        url, ident = _s(answer.get("join_url")), _s(answer.get("registrant_id"))
        if not url:
            raise PlatformUnavailable("Zoom: the registrant answer has no join_url (malformed)")
        return PersonalLink(url=url, platform_id=ident or None)

    async def handle_hook(self, request: HookRequest) -> HookReply:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not self.webhook_secret:
            raise BadSignature("Zoom: no webhook secret token is set for this connection; "
                               "paste the Secret Token from the app's Feature page")
        stamp, given = headers.get("x-zm-request-timestamp", ""), headers.get("x-zm-signature", "")
        if not stamp.isdigit() or not given:
            raise BadSignature("Zoom: the callback has no x-zm-signature/x-zm-request-timestamp")
        sent = datetime.fromtimestamp(int(stamp), UTC)
        if abs(self.ctx.now() - sent) > HOOK_TOLERANCE:
            raise BadSignature(f"Zoom: the callback's timestamp {sent.isoformat()} is stale")
        if not hmac.compare_digest(signature(self.webhook_secret, stamp, request.body), given):
            raise BadSignature("Zoom: the callback's signature is wrong (check the secret token)")
        try:
            data = json.loads(request.body)
        except ValueError:
            raise InvalidRequest("Zoom: the signed callback is not JSON") from None
        data = _obj(data)
        event, payload = _s(data.get("event")), _obj(data.get("payload"))
        if event == "endpoint.url_validation":
            plain = _s(payload.get("plainToken"))
            answer = {"plainToken": plain,
                      "encryptedToken": encrypted_token(self.webhook_secret, plain)}
            return HookReply(200, json.dumps(answer).encode(), "application/json")
        obj = _obj(payload.get("object"))
        kind, external_id = EVENTS.get(event), _s(obj.get("id"))
        if kind is None or not external_id:
            return HookReply()  # an event we do not use: acknowledged, nothing to record
        who = _obj(obj.get("participant"))
        moment = _s(who.get("join_time")) or _s(who.get("leave_time"))
        occurred = _when(moment) or _when(data.get("event_ts")) or request.received_at
        person = _s(who.get("registrant_id")) or None
        seat = _s(who.get("participant_uuid")) or _s(who.get("user_id")) or person or ""
        dedupe = "|".join(("zoom", event, _s(data.get("event_ts")), _s(obj.get("uuid")),
                           seat, moment))
        recording = None
        if kind == RECORDING_READY:
            files = [f for f in obj.get("recording_files") or [] if isinstance(f, dict)]
            recording = _s(obj.get("share_url")) or next(
                (_s(f.get("play_url")) or _s(f.get("download_url")) for f in files), "") or None
        return HookReply(events=(PlatformEvent(
            kind=kind, external_id=external_id, occurred_at=occurred, dedupe_key=dedupe,
            participant_id=person, participant_name=_s(who.get("user_name")) or None,
            recording_url=recording),))

    async def attendance(self, link: MeetingLink) -> list[PlatformEvent]:
        raise NotSupported("Zoom attendance comes from its webhooks (participant joined/left); "
                           "set the webhook secret token and subscribe the app to them")
