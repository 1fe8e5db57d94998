"""Microsoft Teams through Microsoft Graph: a standalone online meeting (reference §5a).

The app signs in as itself (client credentials) and creates meetings for one organizer, which
needs the OnlineMeetings.ReadWrite.All application permission AND an application access policy
granted by a Teams admin. Everyone shares `joinWebUrl`; the organizer is host by signing in.
Meetings are made with `POST …/onlineMeetings/createOrGet` and an `externalId` derived from the
idempotency key [⚠ not in the reference: Graph's documented createOrGet, 201 when it creates,
200 with the organizer's meeting of that externalId when there is one]: the HTTP layer does not
repeat a POST whose answer was lost, and the job's next attempt must find that meeting, not
make a second one. A course's meeting spans it (first session's start to last session's end),
so its one link serves every session. Attendance comes from the meeting's attendance reports
(one per session held), polled.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from .base import (
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
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
    PlatformEvent,
    PlatformRejected,
    PlatformUnavailable,
)
from .http import AdapterContext, Bearer, Response, credentials_key

LABEL = "Microsoft Teams"
LOGIN_URL = "https://login.microsoftonline.com"
GRAPH_URL = "https://graph.microsoft.com/v1.0"
SCOPE = "https://graph.microsoft.com/.default"
#: Entra ID sign-in errors an organizer can fix, by AADSTS code.
AADSTS = {
    "AADSTS7000215": "the client secret is wrong: copy the secret's Value, not its ID",
    "AADSTS7000222": "the client secret has expired: create a new one in the app registration",
    "AADSTS700016": "the application (client) ID is not registered in this tenant",
    "AADSTS90002": "the tenant ID does not exist",
    "AADSTS900023": "the tenant ID is not a valid tenant id or domain",
}
#: Pages of a list followed at most (Graph pages with @odata.nextLink).
MAX_PAGES = 50


def _graph_error(response: Response) -> tuple[str, str]:
    """(code, message) of Graph's `{"error": {"code", "message", "innerError"}}`."""
    try:
        error = json.loads(response.body).get("error")
    except (ValueError, AttributeError):
        return "", response.text()[:200]
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("code") or ""), str(error.get("message") or "")


def external_id(key: str) -> str:
    """The meeting's externalId for `key`: stable, and without the key's own characters."""
    return "webinar-" + hashlib.sha256(key.encode()).hexdigest()[:48]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)  # 3.11+: "Z" and 7 fraction digits
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class TeamsAdapter:
    name = "teams"
    link_kind = "dynamic"

    def __init__(self, ctx: AdapterContext) -> None:
        self.ctx = ctx
        self.login = ctx.endpoint("login", LOGIN_URL)
        self.graph = ctx.endpoint("graph", GRAPH_URL)
        self.tenant = ctx.credential("tenant_id")
        self.client_id = ctx.credential("client_id")
        self.organizer = ctx.credential("organizer")

    # --- auth -----------------------------------------------------------------------------

    def _auth(self) -> Bearer:
        secret = self.ctx.credential("client_secret")
        given = {"tenant_id": self.tenant, "client_id": self.client_id,
                 "client_secret": secret, "organizer": self.organizer}
        missing = [name for name, value in given.items() if not value]
        if missing:
            raise AuthError(f"{LABEL}: fill in {', '.join(missing)}")
        return Bearer(credentials_key(self.name, self.login, self.tenant, self.client_id, secret),
                      lambda: self._token(secret))

    async def _token(self, secret: str) -> tuple[str, float]:
        url = f"{self.login}/{quote(self.tenant, safe='')}/oauth2/v2.0/token"
        response = await self.ctx.http.request("POST", url, data={
            "client_id": self.client_id, "client_secret": secret, "scope": SCOPE,
            "grant_type": "client_credentials"}, idempotent=True)
        body = response.json(LABEL)
        body = body if isinstance(body, dict) else {}
        if not response.ok:
            description = str(body.get("error_description") or "").split("\r\n")[0]
            error = str(body.get("error") or response.status)
            why = next((text for code, text in AADSTS.items() if description.startswith(code)),
                       "Entra ID refused the sign-in")
            raise AuthError(f"{LABEL}: {why} ({error}: {description or 'no description'})")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise PlatformUnavailable(f"{LABEL}: the token answer has no access_token")
        try:
            return token, float(body.get("expires_in", 3599))
        except (TypeError, ValueError):
            return token, 3599.0

    # --- calls ----------------------------------------------------------------------------

    def _meetings(self, meeting_id: str = "") -> str:
        url = f"{self.graph}/users/{quote(self.organizer, safe='@')}/onlineMeetings"
        return f"{url}/{quote(meeting_id, safe='')}" if meeting_id else url

    async def _call(self, method: str, url: str, *, body: Any = None, what: str,
                    params: dict[str, str] | None = None,
                    permission: str = "OnlineMeetings.ReadWrite.All") -> Any:
        response = await self.ctx.http.request(method, url, params=params, json=body,
                                               auth=self._auth())
        if response.ok:
            return response.json(LABEL)
        code, message = _graph_error(response)
        detail = f"({response.status} {code or 'error'}: {message})"
        if response.status == 404:
            raise MeetingNotFound(f"{LABEL}: {what} not found {detail}")
        if response.status == 401:
            raise AuthError(f"{LABEL}: Graph refused the access token {detail}")
        if response.status == 403 and "application access policy" in message.lower():
            raise AuthError(
                f"{LABEL}: a Teams administrator must allow this app to create meetings for "
                f"{self.organizer} {detail}: New-CsApplicationAccessPolicy -Identity "
                f"Webinars -AppIds {self.client_id}, then Grant-CsApplicationAccessPolicy "
                f"-PolicyName Webinars -Identity {self.organizer}")
        if response.status == 403:
            raise AuthError(f"{LABEL}: the app lacks the application permission {permission} "
                            f"with admin consent {detail}")
        if 400 <= response.status < 500:
            raise InvalidRequest(f"{LABEL}: Graph refused the {what} {detail}")
        raise PlatformRejected(f"{LABEL}: unexpected answer {detail}")

    def _link(self, meeting: Any) -> MeetingLink:
        if not isinstance(meeting, dict):
            raise PlatformUnavailable(f"{LABEL}: the answer is not an online meeting")
        meeting_id, url = meeting.get("id"), meeting.get("joinWebUrl")
        if not isinstance(meeting_id, str) or not meeting_id or not isinstance(url, str) \
                or not url.startswith(("https://", "http://")):
            raise PlatformUnavailable(f"{LABEL}: the online meeting in the answer has no id "
                                      "or joinWebUrl")
        settings = meeting.get("joinMeetingIdSettings")
        extra = {"organizer": self.organizer}
        if isinstance(settings, dict) and isinstance(settings.get("joinMeetingId"), str):
            extra["join_meeting_id"] = settings["joinMeetingId"]
        return MeetingLink(external_id=meeting_id, join_url=url, extra=extra)

    def _body(self, spec: MeetingSpec) -> dict[str, str]:
        """A course's meeting spans it, from its first held session's start to its last
        one's end: one joinWebUrl, valid for every session."""
        return {"subject": spec.title, "startDateTime": _iso(spec.start),
                "endDateTime": _iso(spec.end)}

    async def _pages(self, url: str, what: str) -> list[dict[str, Any]]:
        """Every item of a Graph list, following @odata.nextLink on Graph only."""
        items: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            page = await self._call("GET", url, what=what,
                                    permission="OnlineMeetingArtifact.Read.All")
            values = page.get("value") if isinstance(page, dict) else None
            if not isinstance(values, list):
                raise PlatformUnavailable(f"{LABEL}: the {what} list has no value")
            items.extend(v for v in values if isinstance(v, dict))
            url = page.get("@odata.nextLink") or ""
            if not isinstance(url, str) or not url.startswith(self.graph + "/"):
                break
        return items

    # --- the adapter ----------------------------------------------------------------------

    async def create(self, spec: MeetingSpec) -> MeetingLink:
        body = self._body(spec)
        url = self._meetings()
        if spec.idempotency_key:  # without a key there is nothing to find the meeting by
            body["externalId"] = external_id(spec.idempotency_key)
            url += "/createOrGet"
        try:
            meeting = await self._call("POST", url, body=body, what="new online meeting")
        except MeetingNotFound as exc:  # the organizer, not a meeting
            raise InvalidRequest(f"{LABEL}: the organizer {self.organizer} is not a user of "
                                 f"this tenant ({exc})") from None
        link = self._link(meeting)
        if not self._current(meeting, spec):
            # An earlier attempt made it and the webinar moved since: createOrGet returns it
            # as it was [⚠], so it is moved like any other.
            return await self.update(link, spec)
        return link

    @staticmethod
    def _current(meeting: dict[str, Any], spec: MeetingSpec) -> bool:
        """Whether the meeting already has the spec's subject and times."""
        return (meeting.get("subject") == spec.title
                and _moment(meeting.get("startDateTime")) == spec.start
                and _moment(meeting.get("endDateTime")) == spec.end)

    async def get(self, link: MeetingLink) -> MeetingLink:
        return self._link(await self._call("GET", self._meetings(link.external_id),
                                           what="online meeting"))

    async def update(self, link: MeetingLink, spec: MeetingSpec) -> MeetingLink:
        return self._link(await self._call("PATCH", self._meetings(link.external_id),
                                           body=self._body(spec), what="online meeting"))

    async def delete(self, link: MeetingLink) -> None:
        try:
            await self._call("DELETE", self._meetings(link.external_id), what="online meeting")
        except MeetingNotFound:
            pass  # already gone

    async def check(self) -> None:
        """A token and a lookup by join URL [⚠ not in the reference: Graph's documented
        `$filter=JoinWebUrl eq '…'`]: proves the secret, the permission and the policy."""
        probe = "JoinWebUrl eq 'https://teams.microsoft.com/l/meetup-join/check'"
        try:
            await self._call("GET", self._meetings(), params={"$filter": probe},
                             what="online meetings")
        except MeetingNotFound as exc:
            raise InvalidRequest(f"{LABEL}: the organizer {self.organizer} is not a user of "
                                 f"this tenant ({exc})") from None

    async def host_link(self, link: MeetingLink, host: Person) -> PersonalLink:
        return PersonalLink(link.join_url)  # the organizer is host once signed in to Teams

    async def join_link(self, link: MeetingLink, person: Person) -> PersonalLink:
        return PersonalLink(link.join_url)

    async def handle_hook(self, request: HookRequest) -> HookReply:
        raise NotSupported(f"{LABEL}: change notifications need Graph subscriptions, which "
                           "this service does not make; attendance reports are polled")

    async def attendance(self, link: MeetingLink) -> list[PlatformEvent]:
        """Joins and leaves from every attendance report of the meeting [⚠ payload shape:
        reports {id}, records {id, identity.displayName, attendanceIntervals[{joinDateTime,
        leaveDateTime}]}]. Teams echoes no id of ours and attendees are not matched by
        e-mail, so participant_id stays None."""
        base = self._meetings(link.external_id) + "/attendanceReports"
        events: list[PlatformEvent] = []
        for report in await self._pages(base, "attendance report"):
            report_id = report.get("id")
            if not isinstance(report_id, str) or not report_id:
                continue
            records = await self._pages(f"{base}/{quote(report_id, safe='')}"
                                        "/attendanceRecords", "attendance record")
            for record in records:
                events.extend(self._record_events(link, report_id, record))
        return sorted(events, key=lambda e: (e.occurred_at, e.dedupe_key))

    def _record_events(self, link: MeetingLink, report_id: str,
                       record: dict[str, Any]) -> list[PlatformEvent]:
        identity = record.get("identity")
        name = identity.get("displayName") if isinstance(identity, dict) else None
        record_id = str(record.get("id") or "")
        events = []
        for interval in record.get("attendanceIntervals") or []:
            if not isinstance(interval, dict):
                continue
            joined = _moment(interval.get("joinDateTime"))
            if joined is None:
                continue
            key = f"teams:{report_id}:{record_id}:{_iso(joined)}"
            for kind, moment in ((PARTICIPANT_JOINED, joined),
                                 (PARTICIPANT_LEFT, _moment(interval.get("leaveDateTime")))):
                if moment is not None:
                    events.append(PlatformEvent(
                        kind=kind, external_id=link.external_id, occurred_at=moment,
                        dedupe_key=f"{key}:{kind}", participant_id=None,
                        participant_name=name if isinstance(name, str) else None))
        return events
