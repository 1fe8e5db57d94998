"""MTS Link (formerly Webinar.ru), UserAPI v3: a static API key in `x-auth-token`, form-encoded
requests with bracket keys, JSON answers.

A webinar here is an Event (the template, with the landing page) holding an EventSession (the
actual webinar): we make one of each and keep the session id as the meeting's id and the event
id in `extra`, because deleting goes through the event. Members are registered on the session
and get their own auto-login link; its `participationId` is what attendance reports and
webhooks call them.

A course is one Event with one EventSession per held session (ids, starts and links in
`extra` under `occurrence.<position>`); the meeting's own id is its first held session's.
Moving a session moves its eventsession, cancelling one deletes it; members are registered
on the session that is on now or next (the core picks it with `occurrence_link`).
"""

from __future__ import annotations

import json
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
    ConferencingError,
    HookReply,
    HookRequest,
    InvalidRequest,
    InvalidState,
    MeetingLink,
    MeetingNotFound,
    MeetingSpec,
    Occurrence,
    Person,
    PersonalLink,
    PlanRestricted,
    PlatformEvent,
    PlatformRejected,
    PlatformUnavailable,
    occurrence_key,
    occurrence_link,
)
from .http import AdapterContext, Response

LABEL = "MTS Link"
API = "https://userapi.mts-link.ru/v3"

#: IANA zone -> MTS Link timezone id. [⚠] The ids are an assumption, not confirmed: the real
#: list comes from `GET /timezones`. Correct or extend this table (or the adapter's
#: `timezones` attribute); a zone missing here is sent as Moscow time, with Moscow's id.
MTS_TIMEZONES: dict[str, int] = {
    "Europe/Kaliningrad": 1,
    "Europe/Moscow": 2,
    "Europe/Samara": 3,
    "Asia/Yekaterinburg": 4,
    "Asia/Omsk": 5,
    "Asia/Novosibirsk": 6,
    "Asia/Krasnoyarsk": 7,
    "Asia/Irkutsk": 8,
    "Asia/Yakutsk": 9,
    "Asia/Vladivostok": 10,
    "Asia/Magadan": 11,
    "Asia/Kamchatka": 12,
    "UTC": 13,
}
FALLBACK_ZONE = "Europe/Moscow"

#: Registration access (4): members get personal links; "free" (1) would let anyone in.
ACCESS_REGISTRATION = "4"

#: Webhook payload field names. [⚠] MTS Link documents no payload in what we read: these are
#: assumptions, kept here and nowhere else.
HOOK_FIELDS = {
    "event": "event",
    "session": "eventSessionId",
    "participation": "participationId",
    "name": "name",
    "recording": "recordUrl",
    "timestamp": "timestamp",
}
#: MTS Link webhook event names [⚠] -> our kinds.
HOOK_EVENTS = {
    "participation.joined": PARTICIPANT_JOINED,
    "participation.left": PARTICIPANT_LEFT,
    "eventSession.started": MEETING_STARTED,
    "eventSession.finished": MEETING_ENDED,
    "record.ready": RECORDING_READY,
}
#: The attendance flag of a participation entry (`visited`, as public clients read it).
ATTENDED_FLAG = "visited"
PAGE_SIZE = 250


def start_fields(start: datetime, zone: str,
                 timezones: dict[str, int] = MTS_TIMEZONES) -> tuple[dict[str, str], str]:
    """`startsAt[...]` fields in the event's own zone, plus that zone's MTS id. A zone missing
    from the table falls back to Moscow (the platform's home zone)."""
    if zone not in timezones:
        zone = FALLBACK_ZONE
    local = start.astimezone(ZoneInfo(zone))
    fields = {
        "startsAt[date][year]": str(local.year),
        "startsAt[date][month]": str(local.month),
        "startsAt[date][day]": str(local.day),
        "startsAt[time][hour]": str(local.hour),
        "startsAt[time][minute]": str(local.minute),
        "timezone": str(timezones[zone]),
    }
    return fields, zone


def iso_duration(duration: timedelta) -> str:
    """`PT1H30M0S`, the only duration shape MTS Link takes."""
    seconds = max(int(duration.total_seconds()), 0)
    return f"PT{seconds // 3600}H{seconds % 3600 // 60}M{seconds % 60}S"


def error_message(response: Response) -> str:
    """The message of `{"error": {"message", "code"}}` [⚠ assumed shape], tolerating others."""
    try:
        body: Any = json.loads(response.body) if response.body else {}
    except ValueError:
        return response.text()[:200] or f"HTTP {response.status}"
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            error = error.get("message") or error.get("description") or ""
        if error:
            return str(error)[:300]
        if body.get("message"):
            return str(body["message"])[:300]
    return f"HTTP {response.status}"


def parse_time(value: Any, default: datetime) -> datetime:
    """A webhook time: ISO 8601, Unix seconds or milliseconds [⚠ format unknown]."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 10 ** 11 else value
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str) and value:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return default
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return default


def _id(body: Any, key: str, what: str) -> str:
    value = body.get(key) if isinstance(body, dict) else None
    if value is None or value == "" or isinstance(value, bool | dict | list):
        raise PlatformUnavailable(f"{LABEL}: the answer to {what} has no {key} (malformed)")
    return str(value)


class MtsLinkAdapter:
    name = "mts_link"
    link_kind = "dynamic"
    timezones: dict[str, int] = MTS_TIMEZONES

    def __init__(self, ctx: AdapterContext) -> None:
        self.ctx = ctx
        self.api = ctx.endpoint("api", API)

    async def _call(self, method: str, path: str, what: str, *,
                    data: dict[str, str] | None = None,
                    params: dict[str, str] | None = None) -> Response:
        key = self.ctx.credential("api_key")
        if not key:
            raise AuthError(f"{LABEL}: no API key is set: make one in Бизнес → API")
        response = await self.ctx.http.request(
            method, f"{self.api}{path}", data=data, params=params,
            headers={"x-auth-token": key, "Accept": "application/json"})
        if not response.ok:
            raise self._error(response, what)
        return response

    def _error(self, response: Response, what: str) -> ConferencingError:
        status, message = response.status, error_message(response)
        lowered = message.lower()
        if status == 402 or (status == 403 and ("tariff" in lowered or "тариф" in lowered)):
            return PlanRestricted(f"{LABEL}: your tariff does not allow {what} ({message}); "
                                  "the API needs a tariff with API access")
        if status == 401:
            return AuthError(f"{LABEL}: the API key is invalid or revoked ({message}): "
                             "make a new one in Бизнес → API and paste it here")
        if status == 403:
            return AuthError(f"{LABEL}: the API key has no access to {what} ({message}): "
                             "allow it in the key's access list in Бизнес → API")
        if status == 404:
            return MeetingNotFound(f"{LABEL}: {what}: not found ({message})")
        if status == 409:
            return InvalidState(f"{LABEL}: {what} is not possible now ({message})")
        if status in (400, 422):
            return InvalidRequest(f"{LABEL} refused {what}: {message}")
        return PlatformRejected(f"{LABEL}: {what} failed with HTTP {status} ({message})")

    def _json(self, response: Response) -> Any:
        return response.json(LABEL)

    async def create(self, spec: MeetingSpec) -> MeetingLink:
        """One Event; one EventSession for the webinar, or one per held session of a
        course (each session's id, start and link kept in `extra`, see `occurrence_key`)."""
        start, zone = start_fields(spec.start, spec.timezone, self.timezones)
        event = self._json(await self._call("POST", "/events", "creating the event", data={
            "name": spec.title, "access": ACCESS_REGISTRATION, **start,
            "duration": iso_duration(spec.duration), "type": "webinar", "lang": "RU",
            "description": spec.description}))
        event_id = _id(event, "eventId", "creating the event")
        extra = {"event_id": event_id, "timezone": zone}
        try:
            if not spec.occurrences:
                session_id, join_url = await self._new_session(event_id, spec.title, spec.start,
                                                               zone)
                return MeetingLink(external_id=session_id, join_url=join_url, extra=extra)
            for item in spec.occurrences:
                session_id, join_url = await self._new_session(event_id, spec.title,
                                                               item.start, zone)
                extra[occurrence_key(item.position)] = _entry(session_id, item.start, join_url)
        except ConferencingError:
            # No orphan: an event without its sessions would sit on the organization's list.
            try:
                await self._delete_event(event_id)
            except ConferencingError:
                pass
            raise
        return _course_link(extra, spec)

    async def _new_session(self, event_id: str, name: str, start: datetime,
                           zone: str) -> tuple[str, str]:
        fields, _ = start_fields(start, zone, self.timezones)
        session = self._json(await self._call(
            "POST", f"/events/{event_id}/sessions", "creating the webinar session",
            data={"name": name, **fields}))
        return (_id(session, "eventsessionId", "creating the webinar session"),
                _id(session, "link", "creating the webinar session"))

    async def _move(self, session_id: str, name: str, start: datetime, zone: str) -> None:
        fields, _ = start_fields(start, zone, self.timezones)
        fields.pop("timezone")
        await self._call("PUT", f"/eventsessions/{session_id}", "moving the webinar",
                         data={"name": name, **fields})

    async def get(self, link: MeetingLink) -> MeetingLink:
        body = self._json(await self._call("GET", f"/eventsessions/{link.external_id}",
                                           "reading the webinar"))
        session_id = _id(body, "id", "reading the webinar")
        extra = dict(link.extra)
        if body.get("eventId") is not None:
            extra["event_id"] = str(body["eventId"])
        return MeetingLink(external_id=session_id,
                           join_url=str(body.get("link") or link.join_url), extra=extra)

    async def update(self, link: MeetingLink, spec: MeetingSpec) -> MeetingLink:
        """Moves the session itself (same id, same links); its times are in the zone the event
        was made with, so a changed zone does not shift it. A course's sessions follow its
        held ones: a moved one is moved, a cancelled one deleted, a new one created."""
        zone = link.extra.get("timezone", spec.timezone)
        sessions = sessions_of(link)
        if not spec.occurrences and not sessions:
            await self._move(link.external_id, spec.title, spec.start, zone)
            return link
        event_id = link.extra.get("event_id") or (await self.get(link)).extra.get("event_id")
        if not event_id:
            raise PlatformUnavailable(f"{LABEL}: the webinar's event id is unknown")
        if not sessions:  # a webinar became a course: its session serves the first one
            sessions = {spec.occurrences[0].position: (link.external_id, link.join_url)}
        wanted = spec.occurrences or (Occurrence(min(sessions), spec.start, spec.duration,
                                                 spec.start),)
        keep = {item.position for item in wanted}
        for position, (session_id, _) in sorted(sessions.items()):
            if position not in keep:
                try:
                    await self._call("DELETE", f"/eventsessions/{session_id}",
                                     "cancelling a session", params={"sendEmail": "false"})
                except MeetingNotFound:
                    pass  # gone already
        extra = {k: v for k, v in link.extra.items() if not k.startswith("occurrence.")}
        extra["event_id"] = event_id
        for item in wanted:
            known = sessions.get(item.position)
            if known is not None:
                try:
                    await self._move(known[0], spec.title, item.start, zone)
                except MeetingNotFound:
                    known = None
            if known is None:
                known = await self._new_session(event_id, spec.title, item.start, zone)
            extra[occurrence_key(item.position)] = _entry(known[0], item.start, known[1])
        if not spec.occurrences:  # a course no more: its one session is the meeting
            ident, _, url = extra.pop(occurrence_key(wanted[0].position)).split("|", 2)
            return MeetingLink(external_id=ident, join_url=url, extra=extra)
        return _course_link(extra, spec)

    async def _delete_event(self, event_id: str) -> None:
        try:
            await self._call("DELETE", f"/organization/events/{event_id}",
                             "deleting the webinar")
        except MeetingNotFound:
            return

    async def delete(self, link: MeetingLink) -> None:
        event_id = link.extra.get("event_id")
        if not event_id:
            try:
                event_id = (await self.get(link)).extra.get("event_id")
            except MeetingNotFound:
                return
            if not event_id:
                raise PlatformUnavailable(f"{LABEL}: the webinar's event id is unknown")
        await self._delete_event(event_id)

    async def check(self) -> None:
        """Lists a page of the organization's events: proves the key and its access to events."""
        await self._call("GET", "/organization/events/schedule", "listing events",
                         params={"perPage": "10"})

    async def host_link(self, link: MeetingLink, host: Person) -> PersonalLink:
        """Hosts are MTS Link staff who log in there; the session's own link takes them in."""
        return PersonalLink(link.join_url)

    async def join_link(self, link: MeetingLink, person: Person) -> PersonalLink:
        first, _, last = person.name.strip().partition(" ")
        body = self._json(await self._call(
            "POST", f"/eventsessions/{link.external_id}/register", "registering a member",
            data={"email": person.email, "name": first or person.name,
                  "secondName": last.strip(), "isAutoEnter": "true", "sendEmail": "false"}))
        return PersonalLink(url=_id(body, "link", "registering a member"),
                            platform_id=_id(body, "participationId", "registering a member"))

    async def handle_hook(self, request: HookRequest) -> HookReply:
        """MTS Link signs nothing: the secret is in our URL, checked by the core before this.
        Here the body must be one JSON object in the assumed shape (HOOK_FIELDS)."""
        if request.method != "POST":
            raise BadSignature(f"{LABEL}: webhooks are POSTs, not {request.method}")
        try:
            body = json.loads(request.body)
        except ValueError:
            raise BadSignature(f"{LABEL}: the webhook body is not JSON") from None
        if not isinstance(body, dict):
            raise BadSignature(f"{LABEL}: the webhook body is not a JSON object")
        f = HOOK_FIELDS
        kind = HOOK_EVENTS.get(str(body.get(f["event"], "")))
        session = body.get(f["session"])
        if kind is None or session is None:
            return HookReply()  # an event we do not use
        participation = body.get(f["participation"])
        stamp = body.get(f["timestamp"])
        occurred = parse_time(stamp, request.received_at)
        key = ":".join(str(part) for part in (
            "mts_link", body[f["event"]], session, participation or "", stamp or ""))
        name = body.get(f["name"])
        recording = body.get(f["recording"])
        event = PlatformEvent(
            kind=kind, external_id=str(session), occurred_at=occurred, dedupe_key=key,
            participant_id=str(participation) if participation is not None else None,
            participant_name=str(name) if name else None,
            recording_url=str(recording) if recording and kind == RECORDING_READY else None)
        return HookReply(events=(event,))

    async def attendance(self, link: MeetingLink) -> list[PlatformEvent]:
        """Registered participations flagged as attended, page by page, of every session of a
        course. A participation carries no time [⚠]: it counts from its session's start."""
        events: list[PlatformEvent] = []
        now = self.ctx.now()
        starts = dict(session_starts(link)) or {link.external_id: now}
        for session_id, joined in starts.items():
            for pid, name in await self._attended(session_id):
                events.append(PlatformEvent(
                    kind=PARTICIPANT_JOINED, external_id=link.external_id, occurred_at=joined,
                    dedupe_key=f"mts_link:attended:{session_id}:{pid}",
                    participant_id=pid, participant_name=name or None))
        return events

    async def _attended(self, session_id: str) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for page in range(1, 200):
            rows = self._json(await self._call(
                "GET", f"/eventsessions/{session_id}/participations",
                "reading the attendance", params={"perPage": str(PAGE_SIZE), "page": str(page)}))
            if isinstance(rows, dict):
                rows = rows.get("data", rows.get("items", []))
            if not isinstance(rows, list):
                raise PlatformUnavailable(f"{LABEL}: the attendance answer is not a list "
                                          "(malformed)")
            for row in rows:
                if not isinstance(row, dict) or row.get(ATTENDED_FLAG) is not True:
                    continue
                pid = _id(row, "id", "reading the attendance")
                name = " ".join(str(row.get(k) or "") for k in ("name", "secondName")).strip()
                found.append((pid, name))
            if len(rows) < PAGE_SIZE:
                break
        return found


def _entry(session_id: str, start: datetime, join_url: str) -> str:
    return f"{session_id}|{start.astimezone(UTC).isoformat()}|{join_url}"


def sessions_of(link: MeetingLink) -> dict[int, tuple[str, str]]:
    """A course's sessions on the platform: position -> (eventsession id, link)."""
    found: dict[int, tuple[str, str]] = {}
    for key, value in link.extra.items():
        prefix, _, position = key.partition(".")
        if prefix == "occurrence" and position.isdigit() and value.count("|") >= 2:
            ident, _, url = value.split("|", 2)
            found[int(position)] = (ident, url)
    return found


def session_starts(link: MeetingLink) -> list[tuple[str, datetime]]:
    """(eventsession id, its start) of each session of a course, in order of position."""
    found = []
    for key, value in sorted(link.extra.items()):
        if key.startswith("occurrence.") and value.count("|") >= 2:
            ident, start, _ = value.split("|", 2)
            found.append((ident, parse_time(start, datetime.min.replace(tzinfo=UTC))))
    return found


def _course_link(extra: dict[str, str], spec: MeetingSpec) -> MeetingLink:
    """A course's meeting is found by its first held session (the one a member who has no
    session in view is sent to)."""
    first = occurrence_link(MeetingLink("", "", None, extra), spec.occurrences[0].position)
    return MeetingLink(external_id=first.external_id, join_url=first.join_url, extra=extra)
