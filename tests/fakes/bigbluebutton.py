"""A fake BigBlueButton server (API v3.0 as in the reference, section 2) plus bbb-webhooks.

Enforced like the real one: the checksum over the raw query string (minus `checksum`), its
algorithm picked by hex length and only if listed in `supported` (else `checksumError`, at HTTP
200 like every FAILED answer); required params (missingParamMeetingID, missingParamName,
missingParamFullName); meetingID 2-256 without ',' and name 2-64 (validationError); a repeated
create is a duplicateWarning only with the same passwords (or, without passwords, the same
name: BBB 2.6.x), else idNotUnique; join needs an existing meeting (invalidMeetingIdentifier),
a role, and a matching createTime; end of an unknown meeting is notFound. POST needs a form or
XML content type (unsupportedContentType [⚠ key from the Go rewrite]).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from xml.sax.saxutils import escape

import jwt
from aiohttp import web

from integrations.base import MEETING_ENDED, PARTICIPANT_JOINED, PARTICIPANT_LEFT, MeetingLink
from integrations.base import RECORDING_READY as RECORDING_READY_KIND
from tests.fakes import FakeServer

ALGORITHMS = {40: "sha1", 64: "sha256", 96: "sha384", 128: "sha512"}
SECRET = "8cd8ef52e8e101574e400365b55e11a6"


@dataclass
class FakeMeeting:
    meeting_id: str
    name: str
    attendee_pw: str
    moderator_pw: str
    passwords_given: bool
    create_time: int
    metadata: dict[str, str]
    record: bool = False
    running: bool = False
    attendees: list[dict[str, str]] = field(default_factory=list)


def xml(**fields: Any) -> web.Response:
    """`<response>` with the fields in order; nested dicts/lists become elements."""
    def render(tag: str, value: Any) -> str:
        if isinstance(value, dict):
            return f"<{tag}>{''.join(render(k, v) for k, v in value.items())}</{tag}>"
        if isinstance(value, list):
            return f"<{tag}>{''.join(render(k, v) for item in value for k, v in item.items())}</{tag}>"
        if isinstance(value, bool):
            value = str(value).lower()
        return f"<{tag}>{escape(str(value))}</{tag}>"
    body = "".join(render(k, v) for k, v in fields.items())
    return web.Response(text=f"<response>{body}</response>", content_type="text/xml")


def failed(key: str, message: str) -> web.Response:
    return xml(returncode="FAILED", messageKey=key, message=message)


class FakeBigBlueButton(FakeServer):
    platform = "bigbluebutton"

    def __init__(self) -> None:
        super().__init__()
        self.secret = SECRET
        #: supportedChecksumAlgorithms in bbb-web.properties.
        self.supported = {"sha1", "sha256", "sha384", "sha512"}
        #: bbb-webhooks installed (its API answers under /bigbluebutton/api/hooks/).
        self.webhooks_installed = True
        self.webhook_checksum = "sha1"  # bbb-webhooks' hooks.checksumAlgorithm [⚠]
        self.meetings: dict[str, FakeMeeting] = {}
        self.ended: dict[str, FakeMeeting] = {}
        self.recordings: dict[str, dict[str, str]] = {}
        self.hooks: dict[str, str] = {}  # hookID -> callbackURL
        self.app.router.add_get("/bigbluebutton/api", self._version)
        self.app.router.add_route("*", "/bigbluebutton/api/{call:.+}", self._api)

    def credentials(self) -> dict[str, str]:
        return {"api_url": f"{self.url}/bigbluebutton/api", "shared_secret": self.secret,
                "checksum": "sha256"}

    def endpoints(self) -> dict[str, str]:
        return {}  # the API address is a credential: it is the organization's own server

    async def _version(self, request: web.Request) -> web.Response:
        return xml(returncode="SUCCESS", version="2.0", apiVersion="3.0")

    def _checksum_ok(self, call: str, raw_query: str, given: str) -> bool:
        """bbb-web's check: strip `checksum=` from the raw query, hash call + query + secret."""
        query = raw_query.replace(f"&checksum={given}", "").replace(f"checksum={given}&", "")
        query = query.replace(f"checksum={given}", "")
        algorithm = ALGORITHMS.get(len(given))
        if algorithm is None or algorithm not in self.supported:
            return False
        expected = hashlib.new(algorithm, (call + query + self.secret).encode()).hexdigest()
        return expected == given.lower()

    async def _api(self, request: web.Request) -> web.StreamResponse:
        call = request.match_info["call"]
        if call.startswith("hooks/") and not self.webhooks_installed:
            return web.Response(status=404, text="<html>404 Not Found</html>",
                                content_type="text/html")
        raw_query = request.raw_path.partition("?")[2]
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        if request.method == "POST":
            kind = request.content_type
            if kind not in ("application/x-www-form-urlencoded", "application/xml",
                            "text/xml", "multipart/form-data"):
                return failed("unsupportedContentType",
                              "POST request Content-Type is missing or unsupported")
            if kind == "application/x-www-form-urlencoded":
                body = dict(parse_qsl(await request.text(), keep_blank_values=True))
                if set(body) & (set(params) - {"checksum"}):
                    return failed("validationError", "A parameter is in both URL and body")
                params.update(body)
        elif request.method != "GET":
            return web.Response(status=405)
        given = params.pop("checksum", "")
        if not given or not self._checksum_ok(call, raw_query, given):
            return failed("checksumError", "Checksums do not match")
        handler = getattr(self, "_" + call.replace("/", "_"), None)
        if handler is None:
            return failed("unsupportedRequest", "This request is not supported.")
        response: web.StreamResponse = await handler(params)
        return response

    # -- calls --------------------------------------------------------------------------

    async def _create(self, p: dict[str, str]) -> web.Response:
        mid, name = p.get("meetingID", "").strip(), p.get("name", "")
        if not mid:
            return failed("missingParamMeetingID", "You must provide a meeting ID.")
        if not name:
            return failed("missingParamName", "You must provide a meeting name.")
        if not 2 <= len(mid) <= 256 or "," in mid:
            return failed("validationError", "Meeting ID must be between 2 and 256 characters "
                          "and cannot contain ','.")
        if not 2 <= len(name.encode("utf-16-le")) // 2 <= 64:
            return failed("validationError", "Meeting name must be between 2 and 64 characters.")
        att, mod = p.get("attendeePW"), p.get("moderatorPW")
        existing = self.meetings.get(mid)
        if existing is not None:
            same = (existing.attendee_pw == att and existing.moderator_pw == mod) if (
                att or mod) else (not existing.passwords_given and existing.name == name)
            if not same:
                return failed("idNotUnique", "A meeting already exists with that meeting ID.  "
                              "Please use a different meeting ID.")
            return self._created(existing, duplicate=True)
        meeting = FakeMeeting(
            mid, name, att or secrets.token_hex(4), mod or secrets.token_hex(4),
            bool(att or mod), int(time.time() * 1000) + len(self.ended),
            {k[5:].lower(): v for k, v in p.items() if k.startswith("meta_")},
            record=p.get("record") == "true")
        self.meetings[mid] = meeting
        return self._created(meeting)

    def _created(self, m: FakeMeeting, duplicate: bool = False) -> web.Response:
        extra = {"messageKey": "duplicateWarning", "message": "This conference was already in "
                 "existence and may currently be in progress."} if duplicate else {}
        return xml(returncode="SUCCESS", meetingID=m.meeting_id,
                   internalMeetingID=f"{hashlib.sha1(m.meeting_id.encode()).hexdigest()}"
                   f"-{m.create_time}", parentMeetingID="bbb-none", attendeePW=m.attendee_pw,
                   moderatorPW=m.moderator_pw, createTime=m.create_time, voiceBridge=70757,
                   hasUserJoined=bool(m.attendees), duration=0, hasBeenForciblyEnded=False,
                   **extra)

    async def _join(self, p: dict[str, str]) -> web.Response:
        if not p.get("fullName", "").strip():
            return failed("missingParamFullName", "You must specify a name for the attendee "
                          "who will be joining the meeting.")
        if not p.get("meetingID"):
            return failed("missingParamMeetingID", "You must specify a meeting ID.")
        meeting = self.meetings.get(p["meetingID"])
        if meeting is None:
            return failed("invalidMeetingIdentifier",
                          "The meeting ID that you supplied did not match any existing meetings")
        role = p.get("role", "").upper()
        if not role and p.get("password"):
            role = {meeting.moderator_pw: "MODERATOR", meeting.attendee_pw: "VIEWER"}.get(
                p["password"], "")
        if role not in ("MODERATOR", "VIEWER"):
            return failed("validationError", "You must provide a valid role.")
        if "createTime" in p and p["createTime"] != str(meeting.create_time):
            return failed("mismatchCreateTimeParam", "The createTime parameter submitted "
                          "mismatches with the current meeting.")
        internal = "w_" + secrets.token_hex(6)
        meeting.attendees.append({"userID": p.get("userID") or internal,
                                  "internalUserID": internal, "fullName": p["fullName"],
                                  "role": role})
        meeting.running = True
        url = f"{self.url}/html5client/join?sessionToken={secrets.token_hex(8)}"
        if p.get("redirect") == "false":
            return xml(returncode="SUCCESS", messageKey="successfullyJoined",
                       meeting_id=meeting.meeting_id, user_id=internal, url=url)
        raise web.HTTPFound(url)

    async def _end(self, p: dict[str, str]) -> web.Response:
        if not p.get("meetingID"):
            return failed("missingParamMeetingID", "You must specify a meeting ID.")
        meeting = self.meetings.get(p["meetingID"])
        if meeting is None:
            return failed("notFound", "We could not find a meeting with that meeting ID - "
                          "perhaps the meeting is not yet running?")
        if p.get("password") and p["password"] != meeting.moderator_pw:
            return failed("invalidPassword", "You must supply the moderator password.")
        self.ended[meeting.meeting_id] = self.meetings.pop(meeting.meeting_id)
        return xml(returncode="SUCCESS", messageKey="sentEndMeetingRequest",
                   message="A request to end the meeting was sent.")

    async def _isMeetingRunning(self, p: dict[str, str]) -> web.Response:
        meeting = self.meetings.get(p.get("meetingID", ""))
        return xml(returncode="SUCCESS", running=bool(meeting and meeting.running))

    async def _getMeetingInfo(self, p: dict[str, str]) -> web.Response:
        if not p.get("meetingID"):
            return failed("missingParamMeetingID", "You must specify a meeting ID.")
        m = self.meetings.get(p["meetingID"])
        if m is None:
            return failed("notFound", "We could not find a meeting with that meeting ID")
        return xml(returncode="SUCCESS", meetingName=m.name, meetingID=m.meeting_id,
                   createTime=m.create_time, running=m.running,
                   participantCount=len(m.attendees),
                   attendees=[{"attendee": a} for a in m.attendees],
                   metadata=m.metadata, isBreakout=False)

    async def _getMeetings(self, p: dict[str, str]) -> web.Response:
        if not self.meetings:
            return xml(returncode="SUCCESS", meetings="", messageKey="noMeetings",
                       message="no meetings were found on this server")
        return xml(returncode="SUCCESS", meetings=[
            {"meeting": {"meetingID": m.meeting_id, "meetingName": m.name}}
            for m in self.meetings.values()])

    async def _getRecordings(self, p: dict[str, str]) -> web.Response:
        wanted = [r for r in self.recordings.values()
                  if p.get("recordID") in (None, r["recordID"])
                  and p.get("meetingID") in (None, r["meetingID"])]
        if not wanted:
            return xml(returncode="SUCCESS", recordings="", messageKey="noRecordings",
                       message="There are no recordings for the meeting(s).")
        return xml(returncode="SUCCESS", recordings=[{"recording": {
            "recordID": r["recordID"], "meetingID": r["meetingID"], "published": True,
            "state": "published", "playback": {"format": {
                "type": "presentation", "url": r["url"], "length": 42}}}} for r in wanted])

    async def _hooks_create(self, p: dict[str, str]) -> web.Response:
        url = p.get("callbackURL")
        if not url:
            return failed("missingParamCallbackURL", "You must specify a callbackURL.")
        for hook_id, known in self.hooks.items():
            if known == url:  # bbb-webhooks: one hook per callback URL
                return xml(returncode="SUCCESS", hookID=hook_id, messageKey="duplicateWarning",
                           message="There is already a hook for this callback URL.")
        hook_id = str(len(self.hooks) + 1)
        self.hooks[hook_id] = url
        return xml(returncode="SUCCESS", hookID=hook_id, permanentHook=False, rawData=False)

    # -- what the server sends -------------------------------------------------------------

    def publish_recording(self, meeting_id: str, url: str | None = None) -> str:
        meeting = self.meetings.get(meeting_id) or self.ended[meeting_id]
        record_id = f"{hashlib.sha1(meeting_id.encode()).hexdigest()}-{meeting.create_time}"
        self.recordings[record_id] = {
            "recordID": record_id, "meetingID": meeting_id,
            "url": url or f"{self.url}/playback/presentation/2.3/{record_id}"}
        return record_id

    def webhook(self, event_id: str, link: MeetingLink, user_id: str | None = None, *,
                name: str = "Анна Петрова", hook_url: str, timestamp_ms: int | None = None,
                as_array: bool = True, algorithm: str | None = None,
                recording_url: str | None = None) -> tuple[dict[str, str], bytes,
                                                            dict[str, str], str]:
        """A bbb-webhooks POST: form domain/event/timestamp, `?checksum=H(url+body+secret)`."""
        meeting = self.meetings.get(link.external_id) or self.ended.get(link.external_id)
        create_time = meeting.create_time if meeting else 0
        now = int(time.time() * 1000)
        attributes: dict[str, Any] = {"meeting": {
            "internal-meeting-id": f"{hashlib.sha1(link.external_id.encode()).hexdigest()}"
                                   f"-{create_time}",
            "external-meeting-id": link.external_id}}
        if event_id in ("user-joined", "user-left"):
            internal = "w_" + hashlib.sha1(f"{user_id}".encode()).hexdigest()[:12]
            attributes["user"] = {"internal-user-id": internal,
                                  "external-user-id": user_id or internal, "name": name,
                                  "role": "VIEWER", "presenter": "false"}
        if event_id == "rap-publish-ended":
            record_id = self.publish_recording(link.external_id, recording_url)
            attributes.update({"record-id": record_id, "success": True,
                               "workflow": "presentation", "recording": {
                                   "name": meeting.name if meeting else "",
                                   "playback": {"format": "presentation",
                                                "link": self.recordings[record_id]["url"]}}})
        event = {"data": {"type": "event", "id": event_id, "attributes": attributes,
                          "event": {"ts": now - 150}}}
        body = urlencode({"domain": "bbb.example.org",
                          "event": json.dumps([event] if as_array else event,
                                              separators=(",", ":"), ensure_ascii=False),
                          "timestamp": str(timestamp_ms if timestamp_ms is not None else now)})
        digest = hashlib.new(algorithm or self.webhook_checksum,
                             (hook_url + body + self.secret).encode()).hexdigest()
        return ({"content-type": "application/x-www-form-urlencoded"}, body.encode(),
                {"checksum": digest}, "POST")

    def hook(self, kind: str, link: MeetingLink, participant_id: str | None = None, *,
             name: str = "Анна Петрова", recording_url: str | None = None,
             hook_url: str = "https://webinars.example/hooks/bigbluebutton/key",
             ) -> tuple[dict[str, str], bytes, dict[str, str], str]:
        """A genuine callback. meeting.ended: the GET on the create's meta_endCallbackUrl
        with `recordingmarks`; recording.ready: the signed_parameters JWT POST; joins and
        leaves: bbb-webhooks events (participant_id = the join's userID)."""
        if kind == MEETING_ENDED:
            meeting = self.meetings.get(link.external_id) or self.ended[link.external_id]
            url = meeting.metadata["endcallbackurl"]
            query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
            query["recordingmarks"] = "false"
            return {}, b"", query, "GET"
        if kind == RECORDING_READY_KIND:
            record_id = self.publish_recording(link.external_id, recording_url)
            token = jwt.encode({"meeting_id": link.external_id, "record_id": record_id},
                               self.secret, algorithm="HS256")
            return ({"content-type": "application/x-www-form-urlencoded"},
                    urlencode({"signed_parameters": token}).encode(), {}, "POST")
        event_id = {PARTICIPANT_JOINED: "user-joined", PARTICIPANT_LEFT: "user-left"}[kind]
        return self.webhook(event_id, link, participant_id, name=name, hook_url=hook_url)


async def serve() -> FakeBigBlueButton:
    fake = FakeBigBlueButton()
    await fake.start()
    return fake


def join_token_name(url: str) -> str:
    """The fullName inside a signed join URL (for assertions)."""
    return dict(parse_qsl(urlsplit(url).query))["fullName"]

