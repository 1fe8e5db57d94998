"""Fake Microsoft: the Entra ID token endpoint and Graph online meetings with attendance
reports (reference §5).

It refuses what Microsoft refuses: an unknown tenant (AADSTS90002), an app not in the tenant
(AADSTS700016), a wrong secret (AADSTS7000215), a token request that is not form-encoded; a
missing, forged or expired bearer token (401 InvalidAuthenticationToken); an app without the
OnlineMeetings.ReadWrite.All role, or without an application access policy for the organizer
(403); bodies that are not JSON (415) or lack subject/startDateTime/endDateTime (400).
`createOrGet` [⚠ not in the reference] needs an externalId too, and answers 200 with the
organizer's meeting of that externalId, as it is (the request's times are not applied), or
201 with a new one; a deleted meeting is gone, its externalId free again.
Error bodies are Graph's `{"error": {"code", "message", "innerError"}}`. [⚠] The exact codes
and messages of the 403/404/415 answers are assumptions (the reference gives only the shape).
"""

from __future__ import annotations

import base64
import re
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from tests.fakes import FakeServer

SCOPE = "https://graph.microsoft.com/.default"
MEETINGS = "OnlineMeetings.ReadWrite.All"
ARTIFACTS = "OnlineMeetingArtifact.Read.All"
REQUIRED = ("subject", "startDateTime", "endDateTime")


def graph_time(moment: datetime) -> str:
    """Graph's timestamps: UTC with seven fraction digits."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def graph_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "innerError": {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": str(uuid.uuid4()), "client-request-id": str(uuid.uuid4())}}},
        status=status)


def aad_error(status: int, error: str, code: int, text: str) -> web.Response:
    trace = uuid.uuid4()
    return web.json_response({
        "error": error, "error_codes": [code], "trace_id": str(trace),
        "error_description": f"AADSTS{code}: {text}\r\nTrace ID: {trace}\r\n"
                             f"Correlation ID: {uuid.uuid4()}\r\nTimestamp: 2027-03-01 12:00:00Z",
        "error_uri": f"https://login.microsoftonline.com/error?code={code}"}, status=status)


class FakeTeams(FakeServer):
    platform = "teams"

    def __init__(self) -> None:
        super().__init__()
        self.tenant_id = str(uuid.uuid4())
        self.client_id = str(uuid.uuid4())
        self.client_secret = "Qx~8Q~fake.secret.value_0123456789abcdef"
        #: UPN -> object id of the tenant's users.
        self.users = {"organizer@union.example": str(uuid.uuid4())}
        #: Application permissions granted with admin consent.
        self.permissions = {MEETINGS, ARTIFACTS}
        #: A Teams admin granted an application access policy for the organizer.
        self.access_policy = True
        self.tokens: dict[str, float] = {}  # access token -> expiry on time.monotonic
        self.token_requests = 0
        self.meetings: dict[str, dict[str, Any]] = {}
        #: meeting id -> its attendance reports, each with its "records"
        self.reports: dict[str, list[dict[str, Any]]] = {}
        self.page_size = 2
        #: The next create stores its meeting, then loses the answer: (status, hang).
        self._lose_answer: tuple[int, bool] | None = None
        self.app.router.add_post("/{tenant}/oauth2/v2.0/token", self.token)
        base = "/v1.0/users/{user}/onlineMeetings"
        self.app.router.add_get(base, self.find)
        self.app.router.add_post(base, self.create)
        self.app.router.add_post(base + "/createOrGet", self.create_or_get)
        self.app.router.add_get(base + "/{id}", self.get)
        self.app.router.add_patch(base + "/{id}", self.patch)
        self.app.router.add_delete(base + "/{id}", self.delete)
        self.app.router.add_get(base + "/{id}/attendanceReports", self.list_reports)
        self.app.router.add_get(base + "/{id}/attendanceReports/{report}/attendanceRecords",
                                self.list_records)

    def credentials(self) -> dict[str, str]:
        return {"tenant_id": self.tenant_id, "client_id": self.client_id,
                "client_secret": self.client_secret, "organizer": "organizer@union.example"}

    def endpoints(self) -> dict[str, str]:
        return {"login": self.url, "graph": f"{self.url}/v1.0"}

    def expire_tokens(self) -> None:
        self.tokens = dict.fromkeys(self.tokens, 0.0)

    def fail_after_create(self, status: int = 503, *, hang: bool = False) -> None:
        """The next create (plain or createOrGet) makes its meeting and then answers
        `status`, or never (`hang`): a create whose answer is lost."""
        self._lose_answer = (status, hang)

    async def _lost(self) -> web.Response | None:
        if self._lose_answer is None:
            return None
        (status, hang), self._lose_answer = self._lose_answer, None
        if hang:
            await self._never.wait()
        return web.Response(status=status)

    def record_attendance(self, meeting_id: str, display_name: str, join: datetime,
                          leave: datetime | None, *, new_report: bool = False) -> str:
        """Someone attended `meeting_id` from `join` to `leave`; a name seen before in the
        same report gets another interval. `new_report`: a later session of the meeting."""
        reports = self.reports.setdefault(meeting_id, [])
        if new_report or not reports:
            reports.append({"id": str(uuid.uuid4()), "records": [],
                            "meetingStartDateTime": graph_time(join)})
        report = reports[-1]
        record = next((r for r in report["records"]
                       if r["identity"]["displayName"] == display_name), None)
        if record is None:
            record = {"id": str(uuid.uuid4()), "emailAddress": None, "role": "Attendee",
                      "totalAttendanceInSeconds": 0, "attendanceIntervals": [],
                      "identity": {"id": str(uuid.uuid4()), "displayName": display_name,
                                   "tenantId": None}}
            report["records"].append(record)
        seconds = int((leave - join).total_seconds()) if leave else 0
        record["attendanceIntervals"].append({
            "joinDateTime": graph_time(join),
            "leaveDateTime": graph_time(leave) if leave else None,
            "durationInSeconds": seconds})
        record["totalAttendanceInSeconds"] += seconds
        report["meetingEndDateTime"] = graph_time(leave or join)
        return str(record["id"])

    # --- Entra ID ------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = (await request.post()
                if request.content_type == "application/x-www-form-urlencoded" else {})
        if request.match_info["tenant"] != self.tenant_id:
            return aad_error(400, "invalid_request", 90002,
                             f"Tenant '{request.match_info['tenant']}' not found.")
        if "grant_type" not in form:
            return aad_error(400, "invalid_request", 900144, "The request body must contain "
                             "the following parameter: 'grant_type'.")
        if form["grant_type"] != "client_credentials":
            return aad_error(400, "unsupported_grant_type", 70003,
                             "The app requested an unsupported grant type.")
        if form.get("client_id") != self.client_id:
            return aad_error(400, "unauthorized_client", 700016,
                             f"Application with identifier '{form.get('client_id')}' was not "
                             f"found in the directory '{self.tenant_id}'.")
        if form.get("client_secret") != self.client_secret:
            return aad_error(401, "invalid_client", 7000215, "Invalid client secret provided. "
                             "Ensure the secret being sent in the request is the client secret "
                             "value, not the client secret ID.")
        if form.get("scope") != SCOPE:
            return aad_error(400, "invalid_scope", 1002012, "The provided value for scope "
                             f"{form.get('scope')} is not valid.")
        token = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(32)
        self.tokens[token] = time.monotonic() + 3599
        return web.json_response({"token_type": "Bearer", "expires_in": 3599,
                                  "ext_expires_in": 3599, "access_token": token})

    # --- Graph ---------------------------------------------------------------------------

    def _refused(self, request: web.Request, role: str = MEETINGS) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header == "Bearer ":
            return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        expiry = self.tokens.get(header.removeprefix("Bearer "))
        if expiry is None:
            return graph_error(401, "InvalidAuthenticationToken",
                               "IDX14100: JWT is not well formed.")
        if expiry < time.monotonic():
            return graph_error(401, "InvalidAuthenticationToken",
                               "Lifetime validation failed, the token is expired.")
        if role not in self.permissions:
            return graph_error(403, "Forbidden", "Application does not have the required "
                                                 "permissions to access this resource.")
        if request.match_info["user"] not in {*self.users, *self.users.values()}:
            return graph_error(404, "NotFound", "The user was not found.")
        if not self.access_policy:
            return graph_error(403, "General", "No application access policy found for this "
                                               "app.")
        return None

    def _organizer(self, request: web.Request) -> str:
        user = request.match_info["user"]
        return self.users.get(user, user)

    def _meeting(self, request: web.Request) -> dict[str, Any] | web.Response:
        meeting = self.meetings.get(request.match_info["id"])
        if meeting is None or meeting["_organizer"] != self._organizer(request):
            return graph_error(404, "NotFound", "The specified online meeting was not found.")
        return meeting

    async def _body(self, request: web.Request, *, required: bool) -> dict[str, Any] | web.Response:
        if request.content_type != "application/json":
            return graph_error(415, "UnsupportedMediaType",
                               f"Content type {request.content_type} is not supported.")
        try:
            body = await request.json()
        except ValueError:
            return graph_error(400, "BadRequest", "Invalid JSON in the request body.")
        if not isinstance(body, dict):
            return graph_error(400, "BadRequest", "The request body must be a JSON object.")
        for name in REQUIRED:
            if (required or name in body) and not (isinstance(body.get(name), str)
                                                   and body[name]):
                return graph_error(400, "BadRequest", f"Missing required property '{name}'.")
        try:
            times = [datetime.fromisoformat(body[n]) for n in REQUIRED[1:] if n in body]
            backwards = len(times) == 2 and times[1] <= times[0]
        except (ValueError, TypeError):
            return graph_error(400, "BadRequest", "Invalid date format.")
        if backwards:
            return graph_error(400, "BadRequest", "The end time must be after the start time.")
        return body

    def _shown(self, meeting: dict[str, Any], status: int = 200) -> web.Response:
        return web.json_response({k: v for k, v in meeting.items() if not k.startswith("_")},
                                 status=status)

    async def find(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        wanted = re.fullmatch(r"JoinWebUrl eq '(.*)'", request.query.get("$filter", ""))
        if wanted is None:
            return graph_error(400, "BadRequest", "A $filter on JoinWebUrl is required.")
        found = [m for m in self.meetings.values() if m["joinWebUrl"] == wanted[1]
                 and m["_organizer"] == self._organizer(request)]
        return web.json_response({"value": [{k: v for k, v in m.items() if k[0] != "_"}
                                            for m in found]})

    async def create(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        body = await self._body(request, required=True)
        if isinstance(body, web.Response):
            return body
        meeting = self._new(request, body)
        lost = await self._lost()
        return lost if lost is not None else self._shown(meeting, 201)

    async def create_or_get(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        body = await self._body(request, required=True)
        if isinstance(body, web.Response):
            return body
        wanted = body.get("externalId")
        if not isinstance(wanted, str) or not wanted:
            return graph_error(400, "BadRequest", "Missing required property 'externalId'.")
        organizer = self._organizer(request)
        found = next((m for m in self.meetings.values()
                      if m["externalId"] == wanted and m["_organizer"] == organizer), None)
        if found is not None:
            return self._shown(found)
        meeting = self._new(request, body)
        lost = await self._lost()
        return lost if lost is not None else self._shown(meeting, 201)

    def _new(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        """A new meeting of the request's organizer, stored."""
        organizer = self._organizer(request)
        thread = f"19:meeting_{secrets.token_urlsafe(30)}@thread.v2"
        meeting_id = base64.urlsafe_b64encode(
            f"1*{organizer}*0**{thread}".encode()).decode().rstrip("=")
        context = quote(f'{{"Tid":"{self.tenant_id}","Oid":"{organizer}"}}', safe="")
        join = re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(),  # Teams escapes in lower case
                      f"https://teams.microsoft.com/l/meetup-join/{quote(thread, safe='')}/0"
                      f"?context={context}")
        meeting = {
            "@odata.context": f"{self.url}/v1.0/$metadata#users('{organizer}')/onlineMeetings"
                              "/$entity",
            "id": meeting_id, "creationDateTime": graph_time(datetime.now(UTC)),
            "startDateTime": body["startDateTime"], "endDateTime": body["endDateTime"],
            "subject": body["subject"], "joinUrl": join, "joinWebUrl": join,
            "externalId": body.get("externalId"), "isBroadcast": False,
            "allowedPresenters": "everyone",
            "joinMeetingIdSettings": {"isPasscodeRequired": True,
                                      "joinMeetingId": str(secrets.randbelow(10 ** 12)),
                                      "passcode": secrets.token_urlsafe(4)},
            "participants": {"organizer": {"upn": request.match_info["user"],
                                           "role": "presenter",
                                           "identity": {"user": {"id": organizer}}},
                             "attendees": []},
            "chatInfo": {"threadId": thread, "messageId": "0"},
            "_organizer": organizer}
        self.meetings[meeting_id] = meeting
        return meeting

    async def get(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        meeting = self._meeting(request)
        return meeting if isinstance(meeting, web.Response) else self._shown(meeting)

    async def patch(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        meeting, body = self._meeting(request), await self._body(request, required=False)
        if isinstance(meeting, web.Response):
            return meeting
        if isinstance(body, web.Response):
            return body
        meeting.update({k: body[k] for k in REQUIRED if k in body})
        return self._shown(meeting)

    async def delete(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        meeting = self._meeting(request)
        if isinstance(meeting, web.Response):
            return meeting
        del self.meetings[meeting["id"]]
        self.reports.pop(meeting["id"], None)
        return web.Response(status=204)

    async def list_reports(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request, ARTIFACTS)) is not None:
            return refused
        meeting = self._meeting(request)
        if isinstance(meeting, web.Response):
            return meeting
        return web.json_response({"value": [
            {"id": r["id"], "totalParticipantCount": len(r["records"]),
             "meetingStartDateTime": r["meetingStartDateTime"],
             "meetingEndDateTime": r["meetingEndDateTime"]}
            for r in self.reports.get(meeting["id"], [])]})

    async def list_records(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request, ARTIFACTS)) is not None:
            return refused
        meeting = self._meeting(request)
        if isinstance(meeting, web.Response):
            return meeting
        report = next((r for r in self.reports.get(meeting["id"], [])
                       if r["id"] == request.match_info["report"]), None)
        if report is None:
            return graph_error(404, "NotFound", "The attendance report was not found.")
        start = int(request.query.get("$skiptoken", "0"))
        page: dict[str, Any] = {"value": report["records"][start:start + self.page_size]}
        if start + self.page_size < len(report["records"]):
            page["@odata.nextLink"] = (f"{self.url}{request.path}"
                                       f"?$skiptoken={start + self.page_size}")
        return web.json_response(page)


async def serve() -> FakeTeams:
    fake = FakeTeams()
    await fake.start()
    return fake
