"""Fake MTS Link UserAPI v3 (reference §8).

Enforces: `x-auth-token` on every call (missing/unknown → 401 JSON error; a key without access
to the method → 403; an organization whose tariff lacks the API → 403 "tariff" [⚠]);
form-encoded bodies only (JSON → 400); `name` and the five `startsAt` fields required on
events, the start fields on sessions; `access`, `type`, `lang`, `timezone` and the ISO
`duration` validated. State: events → sessions → registrations (participations).
Error bodies `{"error": {"message", "code"}}` are the reference's [⚠] assumption.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
from integrations.mts_link import MTS_TIMEZONES

from . import FakeServer

START_KEYS = ("startsAt[date][year]", "startsAt[date][month]", "startsAt[date][day]",
              "startsAt[time][hour]", "startsAt[time][minute]")
DURATION_RE = re.compile(r"^PT\d+H\d+M\d+S$")
ZONES_BY_ID = {str(v): k for k, v in MTS_TIMEZONES.items()}
HOOK_NAMES = {PARTICIPANT_JOINED: "participation.joined", PARTICIPANT_LEFT: "participation.left",
              MEETING_STARTED: "eventSession.started", MEETING_ENDED: "eventSession.finished",
              RECORDING_READY: "record.ready"}


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "code": status}}, status=status)


@dataclass
class Participation:
    id: int
    email: str
    name: str
    second_name: str
    link: str
    visited: bool = False


@dataclass
class Session:
    id: int
    event_id: int
    name: str
    starts_at: datetime
    status: str = "ACTIVE"
    participations: dict[str, Participation] = field(default_factory=dict)


@dataclass
class Event:
    id: int
    name: str
    fields: dict[str, str]
    timezone: str
    sessions: dict[int, Session] = field(default_factory=dict)


class FakeMtsLink(FakeServer):
    platform = "mts_link"
    API_KEY = "mts-user-api-key-0123456789abcdef"
    #: A key whose access list allows nothing (per-key access lists).
    LIMITED_KEY = "mts-limited-key-without-access"

    def __init__(self) -> None:
        super().__init__()
        self.keys = {self.API_KEY, self.LIMITED_KEY}
        #: False: the organization's tariff has no API access.
        self.api_tariff = True
        self.events: dict[int, Event] = {}
        self.meetings: dict[str, Session] = {}  # eventsessionId → session
        self._ids = itertools.count(7001)
        r = self.app.router
        r.add_post("/v3/events", self.create_event)
        r.add_post("/v3/events/{event_id}/sessions", self.create_session)
        r.add_get("/v3/eventsessions/{id}", self.get_session)
        r.add_put("/v3/eventsessions/{id}", self.update_session)
        r.add_delete("/v3/eventsessions/{id}", self.delete_session)
        r.add_delete("/v3/organization/events/{event_id}", self.delete_event)
        r.add_get("/v3/organization/events/schedule", self.schedule)
        r.add_post("/v3/eventsessions/{id}/register", self.register)
        r.add_get("/v3/eventsessions/{id}/participations", self.participations)
        self.app.middlewares.append(self._auth)

    def credentials(self) -> dict[str, str]:
        return {"api_key": self.API_KEY}

    def endpoints(self) -> dict[str, str]:
        return {"api": f"{self.url}/v3"}

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        token = request.headers.get("x-auth-token")
        if not token or token not in self.keys:
            return error(401, "Invalid or missing x-auth-token")
        if not self.api_tariff:
            return error(403, "API access is not available on your tariff")
        if token == self.LIMITED_KEY:
            return error(403, "Access denied: this API key has no access to this method")
        if (request.method in ("POST", "PUT") and request.can_read_body
                and request.content_type != "application/x-www-form-urlencoded"):
            return error(400, "Content-Type must be application/x-www-form-urlencoded, "
                              f"not {request.content_type}")
        response: web.StreamResponse = await handler(request)
        return response

    @staticmethod
    async def form(request: web.Request) -> dict[str, str]:
        return {k: str(v) for k, v in (await request.post()).items()}

    @staticmethod
    def starts_at(form: dict[str, str], zone: str) -> datetime | web.Response:
        missing = [k for k in START_KEYS if not form.get(k, "").isdigit()]
        if missing:
            return error(400, f"startsAt is required: {', '.join(missing)}")
        y, mo, d, h, mi = (int(form[k]) for k in START_KEYS)
        try:
            return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(zone)).astimezone(UTC)
        except ValueError as exc:
            return error(400, f"startsAt is not a date: {exc}")

    def _session(self, request: web.Request) -> Session | web.Response:
        session = self.meetings.get(request.match_info["id"])
        if session is None:
            return error(404, "EventSession not found")
        return session

    async def create_event(self, request: web.Request) -> web.Response:
        form = await self.form(request)
        if not form.get("name"):
            return error(400, "name is required")
        if form.get("access", "1") not in ("1", "3", "4", "6", "8", "10"):
            return error(400, "access must be one of 1, 3, 4, 6, 8, 10")
        if form.get("type", "webinar") not in ("webinar", "meeting", "training"):
            return error(400, "type must be webinar, meeting or training")
        if form.get("lang", "RU") not in ("RU", "EN"):
            return error(400, "lang must be RU or EN")
        if "duration" in form and not DURATION_RE.match(form["duration"]):
            return error(400, "duration must look like PT1H30M0S")
        zone = ZONES_BY_ID.get(form.get("timezone", str(MTS_TIMEZONES["Europe/Moscow"])))
        if zone is None:
            return error(400, "unknown timezone id")
        start = self.starts_at(form, zone)
        if isinstance(start, web.Response):
            return start
        event = Event(next(self._ids), form["name"], form, zone)
        self.events[event.id] = event
        return web.json_response({"eventId": event.id,
                                  "link": f"https://my.mts-link.ru/{event.id}"}, status=201)

    async def create_session(self, request: web.Request) -> web.Response:
        event = self.events.get(int(request.match_info["event_id"]))
        if event is None:
            return error(404, "Event not found")
        form = await self.form(request)
        start = self.starts_at(form, event.timezone)
        if isinstance(start, web.Response):
            return start
        session = Session(next(self._ids), event.id, form.get("name") or event.name, start)
        event.sessions[session.id] = session
        self.meetings[str(session.id)] = session
        return web.json_response({"eventsessionId": session.id, "link": self.link(session)},
                                 status=201)

    @staticmethod
    def link(session: Session) -> str:
        return f"https://my.mts-link.ru/j/{session.event_id}/{session.id}"

    async def get_session(self, request: web.Request) -> web.Response:
        session = self._session(request)
        if isinstance(session, web.Response):
            return session
        return web.json_response({
            "id": session.id, "eventId": session.event_id, "name": session.name,
            "status": session.status, "startsAt": session.starts_at.isoformat(),
            "link": self.link(session), "accessSettings": {"isRegistrationRequired": True}})

    async def update_session(self, request: web.Request) -> web.Response:
        session = self._session(request)
        if isinstance(session, web.Response):
            return session
        if session.status not in ("ACTIVE", "START"):
            return error(400, f"EventSession in status {session.status} cannot be edited")
        form = await self.form(request)
        if any(k in form for k in START_KEYS):
            start = self.starts_at(form, self.events[session.event_id].timezone)
            if isinstance(start, web.Response):
                return start
            session.starts_at = start
        session.name = form.get("name") or session.name
        return web.Response(status=204)

    async def delete_session(self, request: web.Request) -> web.Response:
        session = self._session(request)
        if isinstance(session, web.Response):
            return session
        del self.meetings[str(session.id)]
        self.events[session.event_id].sessions.pop(session.id, None)
        return web.Response(status=204)

    async def delete_event(self, request: web.Request) -> web.Response:
        event = self.events.pop(int(request.match_info["event_id"]), None)
        if event is None:
            return error(404, "Event not found")
        for session_id in event.sessions:
            self.meetings.pop(str(session_id), None)
        return web.Response(status=204)

    async def schedule(self, request: web.Request) -> web.Response:
        return web.json_response([{"id": e.id, "name": e.name} for e in self.events.values()])

    async def register(self, request: web.Request) -> web.Response:
        session = self._session(request)
        if isinstance(session, web.Response):
            return session
        form = await self.form(request)
        if not form.get("email") or "@" not in form["email"]:
            return error(400, "email is required")
        if form.get("isAutoEnter", "false") not in ("true", "false"):
            return error(400, "isAutoEnter must be true or false")
        known = session.participations.get(form["email"].lower())
        if known is None:
            pid = next(self._ids)
            known = Participation(pid, form["email"], form.get("name", ""),
                                  form.get("secondName", ""),
                                  f"{self.link(session)}?token={secrets.token_hex(8)}")
            session.participations[form["email"].lower()] = known
        return web.json_response({"participationId": known.id, "link": known.link},
                                 status=201)

    async def participations(self, request: web.Request) -> web.Response:
        session = self._session(request)
        if isinstance(session, web.Response):
            return session
        per_page = int(request.query.get("perPage", "10"))
        page = int(request.query.get("page", "1"))
        rows = [{"id": p.id, "email": p.email, "name": p.name, "secondName": p.second_name,
                 "role": "GUEST", "registerStatus": "ACCEPTED", "visited": p.visited}
                for p in session.participations.values()]
        return web.json_response(rows[(page - 1) * per_page:page * per_page])

    def attend(self, session_id: str, email: str) -> None:
        """The member opened their link and came in."""
        self.meetings[session_id].participations[email.lower()].visited = True

    def hook(self, kind: str, link: MeetingLink, participant_id: str | None = None, *,
             name: str = "Анна Петрова", recording_url: str | None = None,
             hook_url: str = "https://webinars.example/hooks/mts_link/key",
             ) -> tuple[dict[str, str], bytes, dict[str, str], str]:
        """A webhook as MTS Link would POST it [⚠ payload assumed]; unsigned: the secret is in
        `hook_url`, which the core checks."""
        payload: dict[str, Any] = {
            "event": HOOK_NAMES[kind], "eventSessionId": int(link.external_id),
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds")}
        if participant_id is not None:
            payload.update(participationId=int(participant_id), name=name)
        if recording_url is not None:
            payload["recordUrl"] = recording_url
        body = json.dumps(payload, ensure_ascii=False).encode()
        return {"content-type": "application/json"}, body, {}, "POST"


async def serve() -> FakeMtsLink:
    fake = FakeMtsLink()
    await fake.start()
    return fake
