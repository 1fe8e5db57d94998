"""Webex meetings through an integration's OAuth refresh token (reference §6).

The organization pastes its integration's client id and secret and a refresh token; the access
token is fetched from it and cached by the HTTP layer. Each member gets a personal join link
from `POST /meetings/join`; the host's start link is fetched on every click because it carries
a short-lived token. Attendance comes from webhooks (meetingParticipants joined/left), which
Webex signs with `X-Spark-Signature` = hex(HMAC-SHA1(webhook secret, raw body)).

A course is one meeting series: its rule (`recurrence`, RFC 5545) is weekly when the sessions
were planned so, else one daily slot per session; a cancelled session's occurrence is deleted
and a moved one's is moved, so the one `webLink` serves every session at its own time.

Webex may rotate the refresh token in its token answer: an adapter cannot persist credentials,
so it keeps using the stored one, which Webex keeps valid until `refresh_token_expires_in`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
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
    MeetingLink,
    MeetingNotFound,
    MeetingSpec,
    NotSupported,
    Person,
    PersonalLink,
    PlatformEvent,
    PlatformUnavailable,
    Recurrence,
    daily,
    translate_errors,
    weekly,
)
from .http import AdapterContext, Bearer, Response, credentials_key

PLATFORM = "Webex"
#: (resource, event) → our event kind. Other pairs (meetings created/updated…) are ignored.
KINDS = {
    ("meetingParticipants", "joined"): PARTICIPANT_JOINED,
    ("meetingParticipants", "left"): PARTICIPANT_LEFT,
    ("meetings", "started"): MEETING_STARTED,
    ("meetings", "ended"): MEETING_ENDED,
    ("recordings", "created"): RECORDING_READY,
}
#: Where each kind's own time is in `data` [⚠ field names]; the receipt time otherwise.
TIME_FIELDS = {
    PARTICIPANT_JOINED: ("joinedTime",),
    PARTICIPANT_LEFT: ("leftTime",),
    MEETING_STARTED: ("actualStart", "start"),
    MEETING_ENDED: ("actualEnd", "end"),
    RECORDING_READY: ("createTime", "timeRecorded"),
}
#: Occurrence/instance ids are "<series id>_I_<n>" or "<series id>_<start>" [⚠]: the series id
#: (what create returned) is their prefix.
INSTANCE_RE = re.compile(r"^([0-9a-f]{32})_\S+$")
AGENDA_MAX = 1300  # [⚠] Webex's documented agenda limit; longer text is cut, not refused


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _problem(response: Response) -> str:
    """Webex's own words: `message`, else the first `errors[].description`, + trackingId."""
    try:
        body = json.loads(response.body)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return f"HTTP {response.status}"
    message = body.get("message")
    errors = body.get("errors")
    if not message and isinstance(errors, list) and errors and isinstance(errors[0], dict):
        message = errors[0].get("description")
    text = str(message or f"HTTP {response.status}")
    tracking = body.get("trackingId")
    return f"{text} (trackingId {tracking})" if tracking else text


#: RFC 5545 BYDAY codes by Python weekday.
BYDAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def course(spec: MeetingSpec) -> Recurrence | None:
    """The rule a course's series follows: weekly when its sessions were planned so, else
    one daily slot per session, each moved to its session."""
    if not spec.occurrences:
        return None
    return weekly(spec) or daily(spec)


def rrule(plan: Recurrence) -> str:
    """The series' rule in the meeting's zone (Webex lays it out in `timezone`)."""
    if plan.every == timedelta(weeks=1):
        day = BYDAY[plan.first.astimezone(ZoneInfo(plan.zone)).weekday()]
        return f"FREQ=WEEKLY;INTERVAL=1;BYDAY={day};COUNT={plan.count}"
    return f"FREQ=DAILY;INTERVAL=1;COUNT={plan.count}"


def occurrence_id(link: MeetingLink, plan: Recurrence, index: int) -> str:
    """A scheduled occurrence's id: "<series id>_<its start as 20250501T100000Z>" [⚠]."""
    return f"{link.external_id}_{plan.slot(index).strftime('%Y%m%dT%H%M%SZ')}"


def series_id(value: str) -> str:
    match = INSTANCE_RE.match(value)
    return match.group(1) if match else value


class WebexAdapter:
    name = "webex"
    link_kind = "dynamic"

    def __init__(self, ctx: AdapterContext) -> None:
        self.ctx = ctx
        self.api = ctx.endpoint("api", "https://webexapis.com/v1")
        self.client_id = ctx.credential("client_id")
        self.client_secret = ctx.credential("client_secret")
        self.refresh_token = ctx.credential("refresh_token")
        self.host_email = ctx.credential("host_email")
        self.webhook_secret = ctx.credential("webhook_secret")
        self.auth = Bearer(credentials_key("webex", self.client_id, self.client_secret,
                                           self.refresh_token), self._fetch_token)

    # --- the token and the calls ---------------------------------------------------------

    async def _fetch_token(self) -> tuple[str, float]:
        """A new access token from the stored refresh token."""
        with translate_errors(PLATFORM):
            response = await self.ctx.http.request("POST", f"{self.api}/access_token", data={
                "grant_type": "refresh_token", "client_id": self.client_id,
                "client_secret": self.client_secret, "refresh_token": self.refresh_token},
                idempotent=True)
        if not response.ok:
            problem = _problem(response)
            if "invalid_client" in problem or response.status == 401:
                raise AuthError("reconnect Webex: the client ID or client secret is wrong "
                                f"(invalid_client): {problem}")
            if "invalid_grant" in problem:
                raise AuthError("reconnect Webex: the refresh token is invalid, revoked or "
                                f"expired (invalid_grant): {problem}")
            raise AuthError(f"reconnect Webex: the token request was refused "
                            f"(HTTP {response.status}): {problem}")
        body = response.json(PLATFORM)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise PlatformUnavailable("Webex: the token answer has no access_token (malformed)")
        lifetime = body.get("expires_in")
        return token, float(lifetime) if isinstance(lifetime, int | float) else 3600.0

    async def _call(self, method: str, path: str, *, json_body: Any = None,
                    params: dict[str, str] | None = None) -> Response:
        with translate_errors(PLATFORM):
            response = await self.ctx.http.request(
                method, f"{self.api}{path}", json=json_body, params=params, auth=self.auth)
        if response.ok:
            return response
        problem = _problem(response)
        if response.status == 401:
            raise AuthError(f"Webex refused the access token even after refreshing it (401): "
                            f"{problem}; reconnect Webex")
        if response.status == 403:
            raise AuthError("Webex: missing permission: the integration needs the scopes "
                            "meeting:schedules_read and meeting:schedules_write (and the host "
                            f"a Webex Meetings licence): {problem}")
        if response.status == 404:
            raise MeetingNotFound(f"Webex: the meeting is gone: {problem}")
        raise InvalidRequest(f"Webex refused the request (HTTP {response.status}): {problem}")

    def _host_params(self) -> dict[str, str] | None:
        # Admin-on-behalf scheduling: reads and deletes name the host too [⚠].
        return {"hostEmail": self.host_email} if self.host_email else None

    def _link(self, response: Response) -> MeetingLink:
        body = response.json(PLATFORM)
        if not isinstance(body, dict):
            raise PlatformUnavailable("Webex: the meeting answer is not an object (malformed)")
        meeting_id, web_link = body.get("id"), body.get("webLink")
        if not isinstance(meeting_id, str) or not meeting_id or not isinstance(web_link, str) \
                or not web_link:
            raise PlatformUnavailable("Webex: the meeting answer has no id or webLink (malformed)")
        extra = {key: str(body[key]) for key in ("meetingNumber", "password")
                 if body.get(key) not in (None, "")}
        return MeetingLink(external_id=meeting_id, join_url=web_link, extra=extra)

    def _meeting(self, spec: MeetingSpec) -> dict[str, Any]:
        body: dict[str, Any] = {
            "title": spec.title[:128], "start": _iso(spec.start),
            "end": _iso(spec.start + spec.duration), "timezone": spec.timezone,
            "agenda": spec.description[:AGENDA_MAX], "enabledJoinBeforeHost": False}
        plan = course(spec)
        if plan is not None:
            body |= {"start": _iso(plan.first), "end": _iso(plan.first + plan.duration),
                     "recurrence": rrule(plan)}
        if self.host_email:
            body["hostEmail"] = self.host_email
        return body

    async def _exceptions(self, link: MeetingLink, spec: MeetingSpec) -> None:
        """Makes the series' occurrences match the course: a cancelled week's occurrence is
        deleted, a moved session's occurrence is moved (PUT on the occurrence's id,
        "<series id>_<its start, UTC>" [⚠]). Done after every series PUT, which lays the
        occurrences out anew by the rule."""
        plan = course(spec)
        if plan is None:
            return
        password = link.extra.get("password", "")
        for index in plan.skipped:
            try:
                await self._call("DELETE", f"/meetings/{occurrence_id(link, plan, index)}",
                                 params=self._host_params())
            except MeetingNotFound:
                pass  # cancelled already
        for index, item in plan.moved:
            await self._call("PUT", f"/meetings/{occurrence_id(link, plan, index)}", json_body={
                "title": spec.title[:128], "password": password, "start": _iso(item.start),
                "end": _iso(item.end), "timezone": spec.timezone})

    # --- the Adapter protocol --------------------------------------------------------------

    async def create(self, spec: MeetingSpec) -> MeetingLink:
        """A course is one meeting series (an RFC 5545 `recurrence`), its occurrences then
        fitted to the sessions."""
        link = self._link(await self._call("POST", "/meetings", json_body=self._meeting(spec)))
        await self._exceptions(link, spec)
        return link

    async def get(self, link: MeetingLink) -> MeetingLink:
        return self._link(await self._call("GET", f"/meetings/{link.external_id}",
                                           params=self._host_params()))

    async def update(self, link: MeetingLink, spec: MeetingSpec) -> MeetingLink:
        """PUT is a full replace that requires the password: keep the meeting's own."""
        password = link.extra.get("password") or (await self.get(link)).extra.get("password")
        body = self._meeting(spec)
        body["password"] = password or ""
        if not spec.occurrences:
            body["recurrence"] = ""  # a course no longer: one meeting [⚠ clears the rule]
        updated = self._link(await self._call("PUT", f"/meetings/{link.external_id}",
                                              json_body=body))
        await self._exceptions(updated, spec)
        return updated

    async def delete(self, link: MeetingLink) -> None:
        try:
            await self._call("DELETE", f"/meetings/{link.external_id}",
                             params=self._host_params())
        except MeetingNotFound:
            return

    async def check(self) -> None:
        """Fetches a token and lists one meeting: proves the secret, token and read scope."""
        params = {"max": "1", **(self._host_params() or {})}
        await self._call("GET", "/meetings", params=params)

    async def _join(self, link: MeetingLink, person: Person, host: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"meetingId": link.external_id, "email": person.email,
                                "displayName": person.name, "joinDirectly": False}
        if host:
            if self.host_email:
                body["hostEmail"] = self.host_email
        else:
            body["createJoinLinkAsWebLink"] = True  # a plain link: no expiry to track
        if link.extra.get("password"):
            body["password"] = link.extra["password"]
        answer = (await self._call("POST", "/meetings/join", json_body=body)).json(PLATFORM)
        if not isinstance(answer, dict):
            raise PlatformUnavailable("Webex: the join answer is not an object (malformed)")
        return answer

    async def host_link(self, link: MeetingLink, host: Person) -> PersonalLink:
        answer = await self._join(link, host, host=True)
        start = answer.get("startLink")
        if not isinstance(start, str) or not start:
            raise AuthError("Webex gave no start link: the connected account is neither the "
                            "host nor a cohost of this meeting (set the host e-mail)")
        return PersonalLink(start, expires_at=_parse_time(answer.get("expiration")))

    async def join_link(self, link: MeetingLink, person: Person) -> PersonalLink:
        """The person's own link; Webex issues no per-person id, so platform_id is None."""
        answer = await self._join(link, person, host=False)
        url = answer.get("joinLink")
        if not isinstance(url, str) or not url:
            raise PlatformUnavailable("Webex: the join answer has no joinLink (malformed)")
        return PersonalLink(url, expires_at=_parse_time(answer.get("expiration")))

    async def handle_hook(self, request: HookRequest) -> HookReply:
        """Verifies X-Spark-Signature. Webex sends no timestamp header, so a replayed callback
        cannot be refused by age: the dedupe key (webhook id + data id + event) absorbs it."""
        if not self.webhook_secret:
            raise BadSignature("Webex: no webhook secret is set for this connection, so "
                               "callbacks cannot be verified")
        signature = request.headers.get("x-spark-signature", "").strip().lower()
        expected = hmac.new(self.webhook_secret.encode(), request.body,
                            hashlib.sha1).hexdigest()
        if not signature or not hmac.compare_digest(signature, expected):
            raise BadSignature("Webex: the X-Spark-Signature is missing or wrong")
        try:
            envelope = json.loads(request.body)
        except ValueError:
            return HookReply(status=400, body=b"not JSON")
        if not isinstance(envelope, dict) or not isinstance(envelope.get("data"), dict):
            return HookReply(status=400, body=b"no data")
        data: dict[str, Any] = envelope["data"]
        kind = KINDS.get((str(envelope.get("resource")), str(envelope.get("event"))))
        if kind is None:
            return HookReply()
        meeting = data.get("meetingSeriesId") or data.get("meetingId") or (
            data.get("id") if envelope.get("resource") == "meetings" else None)
        if not isinstance(meeting, str) or not meeting:
            return HookReply()
        when = next((t for f in TIME_FIELDS[kind] if (t := _parse_time(data.get(f)))),
                    request.received_at)
        # The event's own time tells a rejoin (same participant id) from a re-sent callback.
        stamp = next((str(data[f]) for f in TIME_FIELDS[kind] if data.get(f)), "")
        dedupe = f"webex:{envelope.get('id', '')}:{data.get('id', '')}:{envelope['event']}" \
                 + (f":{stamp}" if stamp else "")
        recording = data.get("playbackUrl") or data.get("downloadUrl")  # [⚠] field names
        participant = kind in (PARTICIPANT_JOINED, PARTICIPANT_LEFT)
        name = data.get("displayName") if participant else None
        return HookReply(events=(PlatformEvent(
            kind=kind, external_id=series_id(meeting), occurred_at=when, dedupe_key=dedupe,
            participant_id=None,  # Webex echoes no id we issued; never match by e-mail
            participant_name=name if isinstance(name, str) else None,
            recording_url=recording if isinstance(recording, str) and recording else None),))

    async def attendance(self, link: MeetingLink) -> list[PlatformEvent]:
        raise NotSupported("Webex attendance comes from its webhooks (meetingParticipants), "
                           "not from a report")
