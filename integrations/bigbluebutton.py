"""BigBlueButton: the organization's own server, spoken to with checksummed GET calls.

Every call is `<api>/<call>?<query>&checksum=hex(H(call + query + shared secret))`, the
checksum taken over the query exactly as it goes on the wire. Answers are XML; a refusal is
`<returncode>FAILED</returncode>` with a `messageKey`, at HTTP 200, so errors are mapped by key.

BBB has no schedule: `create` is idempotent and a meeting exists from its `create` until it ends
(or the server drops it, minutes after a create nobody joined). So `create`/`update` (re)create
it under a stable meetingID and `host_link` creates it again right before the host joins. The
links are signed `join` URLs: anyone holding one gets in, so the meetingID (a keyed hash of the
event) and the per-person links are what keep a webinar private.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit
from xml.etree import ElementTree

import jwt
from yarl import URL

from .base import (
    MEETING_ENDED,
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
    RECORDING_READY,
    AuthError,
    BadSignature,
    ConferencingError,
    HookReply,
    HookRequest,
    InvalidRequest,
    MeetingLink,
    MeetingNotFound,
    MeetingSpec,
    Person,
    PersonalLink,
    PlatformEvent,
    PlatformUnavailable,
)
from .http import AdapterContext

PLATFORM = "BigBlueButton"
ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384,
              "sha512": hashlib.sha512}
#: The server tells the algorithm from the checksum's length (BBB 2.5+, bbb-webhooks 3).
BY_LENGTH = {40: "sha1", 64: "sha256", 96: "sha384", 128: "sha512"}
MEETING_PREFIX = "webinar-"
GUEST_NAME = "Guest"
#: Name used when the title is unknown (a link rebuilt without `extra`).
DEFAULT_NAME = "Webinar"
#: bbb-webhooks events we read; the hook is registered for these only.
HOOK_EVENTS = "user-joined,user-left,meeting-ended,rap-publish-ended"
STALE = timedelta(minutes=5)
#: Ids BBB makes up for users joining without our `userID` ("w_1fewpbchnudl"): not ours.
BBB_USER_ID = re.compile(r"^w_[a-z0-9]+$")


def checksum(call: str, query: str, secret: str, algorithm: str = "sha256") -> str:
    return ALGORITHMS[algorithm]((call + query + secret).encode()).hexdigest()


def encode_query(params: Sequence[tuple[str, str]]) -> str:
    """The query as it goes on the wire: aiohttp re-quotes URLs through yarl (it unescapes
    `%3A`, `%2F`, ...), so the checksum is taken over yarl's form, which it sends unchanged."""
    return URL("http://h/?" + urlencode(params, quote_via=quote, safe="")).raw_query_string


def meeting_id(secret: str, key: str) -> str:
    """Stable per event, unguessable without the installation's secret, and in BBB's charset."""
    digest = hmac.new(secret.encode(), key.encode(), hashlib.sha256).hexdigest()[:40]
    return MEETING_PREFIX + digest


def api_base(url: str) -> str:
    """`bbb-conf --secret` prints `https://host/bigbluebutton/`; the API lives under `api`."""
    url = url.strip().rstrip("/")
    if url.endswith("/bigbluebutton"):
        return url + "/api"
    if urlsplit(url).path in ("", "/"):
        return url + "/bigbluebutton/api"
    return url


def meeting_name(title: str) -> str:
    """BBB wants 2-64 characters (Java counts UTF-16 units)."""
    name = " ".join(title.split()) or DEFAULT_NAME
    while len(name.encode("utf-16-le")) > 128:
        name = name[:-1]
    return name if len(name) >= 2 else DEFAULT_NAME


def parse_xml(body: bytes, call: str) -> ElementTree.Element:
    hint = "is the API address right (…/bigbluebutton/api)?"
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:  # BBB never sends them; refuse expansion
        raise PlatformUnavailable(f"{PLATFORM}: the answer to {call} carries a DTD; {hint}")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise PlatformUnavailable(f"{PLATFORM}: the answer to {call} is not XML; {hint}") from None
    if root.tag != "response" or root.findtext("returncode") not in ("SUCCESS", "FAILED"):
        raise PlatformUnavailable(
            f"{PLATFORM}: the answer to {call} is not a BigBlueButton response; {hint}")
    return root


def _ms(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _same(given: str, expected: str) -> bool:
    """Constant-time, and safe for whatever characters a forged callback carries."""
    return hmac.compare_digest(given.encode(), expected.encode())


def _ours(user_id: str | None) -> str | None:
    return None if not user_id or BBB_USER_ID.match(user_id) else user_id


class BigBlueButtonAdapter:
    name = "bigbluebutton"
    link_kind = "dynamic"

    def __init__(self, ctx: AdapterContext) -> None:
        self.ctx = ctx
        self.api = api_base(ctx.credential("api_url"))
        self.secret = ctx.credential("shared_secret")
        self.algorithm = ctx.credential("checksum", "sha256").lower()

    # -- signing and calling ----------------------------------------------------------------

    def _signed(self, call: str, params: Sequence[tuple[str, str]]) -> str:
        if not self.api.startswith(("https://", "http://")) or not self.secret:
            raise AuthError(f"{PLATFORM}: the API address or the shared secret is missing")
        if self.algorithm not in ALGORITHMS:
            raise AuthError(f"{PLATFORM}: unknown checksum algorithm {self.algorithm!r}; "
                            "choose sha1, sha256, sha384 or sha512")
        query = encode_query(params)
        digest = checksum(call, query, self.secret, self.algorithm)
        return f"{self.api}/{call}?{query}{'&' if query else ''}checksum={digest}"

    def _password(self, role: str, mid: str) -> str:
        """Fixed per meeting: BBB before 2.6 treats a create without passwords as a new meeting
        (idNotUnique) instead of a repeat, so we always send the same ones."""
        key = f"{self.ctx.secret}\0{self.secret}".encode()
        return hmac.new(key, f"{role}:{mid}".encode(), hashlib.sha256).hexdigest()[:20]

    async def _call(self, call: str, params: Sequence[tuple[str, str]]) -> ElementTree.Element:
        response = await self.ctx.http.request("GET", self._signed(call, params))
        if response.status in (401, 403):
            raise AuthError(f"{PLATFORM}: the server refused access to {call} "
                            f"(HTTP {response.status}); check the API address and any proxy")
        if response.status == 404:
            raise InvalidRequest(f"{PLATFORM}: no API at {self.api}/{call} (HTTP 404); "
                                 "the address ends in /bigbluebutton/api")
        if not response.ok:
            raise InvalidRequest(f"{PLATFORM}: {call} answered HTTP {response.status}")
        root = parse_xml(response.body, call)
        if root.findtext("returncode") == "SUCCESS":
            return root  # includes duplicateWarning on a repeated create
        key = root.findtext("messageKey") or ""
        message = (root.findtext("message") or "").strip()
        if key == "checksumError":
            raise AuthError(f"{PLATFORM}: the shared secret is wrong or the checksum algorithm "
                            f"{self.algorithm} is not enabled on the server (checksumError)")
        if key in ("notFound", "invalidMeetingIdentifier"):
            mid = dict(params).get("meetingID", "")
            raise MeetingNotFound(f"{PLATFORM}: the server has no meeting {mid} ({key})")
        raise InvalidRequest(f"{PLATFORM}: {message or 'refused'} ({key or 'no messageKey'})")

    # -- meetings ---------------------------------------------------------------------------

    def _join_url(self, mid: str, name: str, role: str, user_id: str | None = None,
                  create_time: str | None = None) -> str:
        params = [("fullName", " ".join(name.split()) or GUEST_NAME), ("meetingID", mid),
                  ("role", role)]
        if user_id:
            params.append(("userID", user_id))  # echoed in getMeetingInfo and webhooks
        if create_time:
            params.append(("createTime", create_time))  # refused in any later session
        return self._signed("join", params)

    def _link(self, mid: str, name: str) -> MeetingLink:
        return MeetingLink(external_id=mid, join_url=self._join_url(mid, GUEST_NAME, "VIEWER"),
                           extra={"name": name})

    def _end_callback(self, mid: str) -> str:
        """Our hook URL with the meeting, this create's time and our own MAC: BBB signs
        nothing when it calls it (it appends `recordingmarks`)."""
        assert self.ctx.hook_url
        ts = str(int(self.ctx.now().timestamp() * 1000))
        query = encode_query([("event", "end"), ("meetingID", mid), ("ts", ts),
                              ("sig", self._end_mac(mid, ts))])
        return f"{self.ctx.hook_url}{'&' if '?' in self.ctx.hook_url else '?'}{query}"

    def _end_mac(self, mid: str, ts: str) -> str:
        key = f"{self.ctx.secret}\0{self.secret}".encode()
        return hmac.new(key, f"end:{mid}:{ts}".encode(), hashlib.sha256).hexdigest()

    async def _create(self, mid: str, name: str) -> ElementTree.Element:
        params = [("name", name), ("meetingID", mid),
                  ("attendeePW", self._password("viewer", mid)),
                  ("moderatorPW", self._password("moderator", mid)), ("record", "true")]
        if self.ctx.hook_url:
            params += [("meta_endCallbackUrl", self._end_callback(mid)),
                       ("meta_bbb-recording-ready-url", self.ctx.hook_url)]
        return await self._call("create", params)

    async def _register_hook(self) -> None:
        """Best effort: the optional bbb-webhooks module sends joins and leaves. It drops a
        hook after repeated failures, so every create registers it again (a repeat is a
        duplicateWarning). A server without the module answers 404: nothing is lost."""
        if not self.ctx.hook_url:
            return
        try:
            await self._call("hooks/create", [("callbackURL", self.ctx.hook_url),
                                              ("eventID", HOOK_EVENTS)])
        except ConferencingError:
            pass

    async def create(self, spec: MeetingSpec) -> MeetingLink:
        mid = meeting_id(self.ctx.secret, spec.idempotency_key or spec.title)
        name = meeting_name(spec.title)
        await self._create(mid, name)
        await self._register_hook()
        return self._link(mid, name)

    async def get(self, link: MeetingLink) -> MeetingLink:
        """getMeetingInfo. BBB knows a meeting only from its create until it ends or is
        dropped unused, so MeetingNotFound means "not on the server now"; the core's answer
        (create again) is right, as create is idempotent and the link never changes."""
        await self._call("getMeetingInfo", [("meetingID", link.external_id)])
        return link

    async def update(self, link: MeetingLink, spec: MeetingSpec) -> MeetingLink:
        """Create again: same meetingID, same link; a new title applies from the next
        session (a running meeting keeps its name)."""
        name = meeting_name(spec.title)
        await self._create(link.external_id, name)
        await self._register_hook()
        return self._link(link.external_id, name)

    async def delete(self, link: MeetingLink) -> None:
        try:
            await self._call("end", [("meetingID", link.external_id),
                                     ("password", self._password("moderator", link.external_id))])
        except MeetingNotFound:
            return  # already ended or dropped: done

    async def check(self) -> None:
        await self._call("getMeetings", [])

    async def host_link(self, link: MeetingLink, host: Person) -> PersonalLink:
        """Create (BBB drops meetings nobody joined, so create right before the host joins),
        then sign a moderator join bound to this session by its createTime."""
        created = await self._create(link.external_id,
                                     meeting_name(link.extra.get("name", DEFAULT_NAME)))
        return PersonalLink(self._join_url(link.external_id, host.name, "MODERATOR", host.id,
                                           created.findtext("createTime")))

    async def join_link(self, link: MeetingLink, person: Person) -> PersonalLink:
        """Create (idempotent: a member early for the host must find the meeting, which BBB
        drops when nobody joined), then sign a viewer join; `userID` is our Person.id."""
        await self._create(link.external_id, meeting_name(link.extra.get("name", DEFAULT_NAME)))
        return PersonalLink(self._join_url(link.external_id, person.name, "VIEWER", person.id))

    # -- callbacks --------------------------------------------------------------------------

    async def handle_hook(self, request: HookRequest) -> HookReply:
        if request.method.upper() == "GET":
            return HookReply(events=(self._meeting_end(request),))
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        if "signed_parameters" in form:
            return HookReply(events=(await self._recording_ready(form, request),))
        if "event" in form:
            return HookReply(events=self._webhook(form, request))
        raise BadSignature(f"{PLATFORM}: a callback with neither signed_parameters nor event")

    def _meeting_end(self, request: HookRequest) -> PlatformEvent:
        """The end callback: GET on the URL we registered, plus `recordingmarks`."""
        query = request.query
        mid, ts, sig = query.get("meetingID", ""), query.get("ts", ""), query.get("sig", "")
        if not (mid and ts and sig) or not _same(sig, self._end_mac(mid, ts)):
            raise BadSignature(f"{PLATFORM}: the end-of-meeting callback is not one we set up")
        return PlatformEvent(MEETING_ENDED, mid, request.received_at,
                             dedupe_key=f"bbb:{mid}:end-callback:{ts}")

    async def _recording_ready(self, form: Mapping[str, str],
                               request: HookRequest) -> PlatformEvent:
        """`signed_parameters` is a JWT (HS256, key = shared secret) with meeting_id and
        record_id; it has no time, so a replay is only caught by its dedupe key."""
        try:
            claims = jwt.decode(form["signed_parameters"], self.secret, algorithms=["HS256"])
        except jwt.PyJWTError as exc:
            raise BadSignature(f"{PLATFORM}: the recording callback's signature is wrong "
                               f"({type(exc).__name__})") from None
        mid, record_id = claims.get("meeting_id"), claims.get("record_id")
        if not isinstance(mid, str) or not isinstance(record_id, str):
            raise BadSignature(f"{PLATFORM}: the recording callback lacks meeting_id/record_id")
        url = None
        try:
            found = await self._call("getRecordings", [("recordID", record_id)])
            url = found.findtext("recordings/recording/playback/format/url")
        except ConferencingError:
            pass  # still report the recording; the organizer finds it on the server
        return PlatformEvent(RECORDING_READY, mid, request.received_at,
                             dedupe_key=f"bbb:{mid}:recording:{record_id}",
                             recording_url=(url or "").strip() or None)

    def _webhook(self, form: Mapping[str, str],
                 request: HookRequest) -> tuple[PlatformEvent, ...]:
        """bbb-webhooks: `?checksum=H(callbackURL + raw body + secret)` (H by length), or
        `Authorization: Bearer <secret>` when the module is set to auth2_0."""
        given = request.query.get("checksum", "").lower()
        bearer = request.headers.get("authorization", "")
        if given and self.ctx.hook_url and len(given) in BY_LENGTH:
            data = self.ctx.hook_url.encode() + request.body + self.secret.encode()
            good = _same(given, ALGORITHMS[BY_LENGTH[len(given)]](data).hexdigest())
        else:
            good = bool(self.secret) and _same(bearer, f"Bearer {self.secret}")
        if not good:
            raise BadSignature(f"{PLATFORM}: the webhook's checksum is missing or wrong")
        sent = _ms(form.get("timestamp"))
        if sent is None or abs(self.ctx.now() - sent) > STALE:
            raise BadSignature(f"{PLATFORM}: the webhook's timestamp is missing or stale")
        try:
            items = json.loads(form["event"])
        except ValueError:
            raise BadSignature(f"{PLATFORM}: the webhook's event is not JSON") from None
        events = [self._event(item, request.received_at)
                  for item in (items if isinstance(items, list) else [items])]
        return tuple(event for event in events if event is not None)

    def _event(self, item: Any, received: datetime) -> PlatformEvent | None:
        data = item.get("data") if isinstance(item, dict) else None
        if not isinstance(data, dict):
            return None  # raw (getRaw) events and anything else: not ours to read
        attributes = data.get("attributes") or {}
        meeting = attributes.get("meeting") or {}
        mid = meeting.get("external-meeting-id")
        ts = (data.get("event") or {}).get("ts")
        kind = {"user-joined": PARTICIPANT_JOINED, "user-left": PARTICIPANT_LEFT,
                "meeting-ended": MEETING_ENDED,
                "rap-publish-ended": RECORDING_READY}.get(str(data.get("id")))
        if kind is None or not isinstance(mid, str):
            return None
        key = f"bbb:{mid}:{data.get('id')}:{ts}"
        occurred = _ms(ts) or received
        if kind in (PARTICIPANT_JOINED, PARTICIPANT_LEFT):
            user = attributes.get("user") or {}
            key += f":{user.get('internal-user-id')}"
            return PlatformEvent(kind, mid, occurred, key,
                                 participant_id=_ours(user.get("external-user-id")),
                                 participant_name=user.get("name"))
        if kind == RECORDING_READY:
            playback = (attributes.get("recording") or {}).get("playback")
            first = playback[0] if isinstance(playback, list) and playback else playback
            link = first.get("link") if isinstance(first, dict) else None
            return PlatformEvent(kind, mid, occurred, f"bbb:{mid}:recording:"
                                 f"{attributes.get('record-id')}",
                                 recording_url=link if isinstance(link, str) else None)
        return PlatformEvent(kind, mid, occurred, key)

    async def attendance(self, link: MeetingLink) -> list[PlatformEvent]:
        """Who is in the meeting now (getMeetingInfo): BBB keeps no report after the end, so
        the core polls while it runs; the same person in the same session keeps one key."""
        try:
            info = await self._call("getMeetingInfo", [("meetingID", link.external_id)])
        except MeetingNotFound:
            return []
        if info.findtext("running") != "true":
            return []
        now, session = self.ctx.now(), info.findtext("createTime") or ""
        events = []
        for attendee in info.iterfind("attendees/attendee"):
            user_id = (attendee.findtext("userID") or "").strip()
            events.append(PlatformEvent(
                PARTICIPANT_JOINED, link.external_id, now,
                f"bbb:{link.external_id}:{session}:present:{user_id}",
                participant_id=_ours(user_id), participant_name=attendee.findtext("fullName")))
        return events
