"""A real SMTP server for tests (aiosmtpd in a thread), recording what each recipient received.

It can be stopped and started again on the same port (an outage), reject chosen recipients with
550 (a permanent refusal) or 451 (greylisting), require a login (offering only some mechanisms),
and speak TLS from the start (smtps) or after STARTTLS.
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
import ssl
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from icalendar import Calendar

from .validators import check_icaljs, check_libical


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        with self.server.lock:
            if session.ssl is not None:
                self.server.tls_sessions += 1
            else:
                self.server.connections += 1
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        lowered = address.lower()
        if lowered in self.server.reject:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        if lowered in self.server.defer:
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content
        with self.server.lock:
            for rcpt in envelope.rcpt_tos:
                self.server.received[rcpt.lower()].append(raw)
                self.server.log.append((envelope.mail_from, rcpt.lower(), raw))
        return "250 2.0.0 accepted"


class SmtpServer:
    """`with SmtpServer() as smtp:` … `smtp.url`, `smtp.messages("a@b")`, `smtp.stop()`."""

    def __init__(self, port: int | None = None, *, login: tuple[str, str] | None = None,
                 starttls: ssl.SSLContext | None = None, tls: ssl.SSLContext | None = None,
                 exclude_auth: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.login = login
        self.starttls = starttls
        self.tls = tls
        self.exclude_auth = exclude_auth
        self.tls_sessions = 0
        self.received: dict[str, list[bytes]] = defaultdict(list)
        self.log: list[tuple[str, str, bytes]] = []
        self.reject: set[str] = set()
        self.defer: set[str] = set()
        self.connections = 0
        self.lock = threading.Lock()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        if self.login:
            return f"smtp://{self.login[0]}:{self.login[1]}@127.0.0.1:{self.port}"
        return f"smtp://127.0.0.1:{self.port}"

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and self.login is not None
              and auth_data.login.decode() == self.login[0]
              and auth_data.password.decode() == self.login[1])
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

    def start(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.starttls is not None:
            kwargs.update(tls_context=self.starttls, require_starttls=True)
        if self.tls is not None:
            kwargs.update(ssl_context=self.tls)
        if self.login:
            # AUTH is offered and checked; not "required", which aiosmtpd warns about without TLS.
            kwargs.update(authenticator=self._authenticate, auth_required=False,
                          auth_require_tls=False, auth_exclude_mechanism=self.exclude_auth)
        self.controller = Controller(Handler(self), hostname="127.0.0.1", port=self.port,
                                     ready_timeout=10, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count(self, recipient: str) -> int:
        with self.lock:
            return len(self.received.get(recipient.lower(), []))

    def raw(self, recipient: str) -> list[bytes]:
        with self.lock:
            return list(self.received.get(recipient.lower(), []))

    def messages(self, recipient: str) -> list[EmailMessage]:
        return [parse(raw) for raw in self.raw(recipient)]

    def total(self) -> int:
        with self.lock:
            return len(self.log)


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


# --- the checklist of ical-interop.md §4, applied to one received message ------------------


#: Random (32 hex digits) at our domain: never a database id, which another installation or a
#: restored database would repeat.
MESSAGE_ID = re.compile(r"^<[0-9a-f]{32}@[A-Za-z0-9.-]+>$")


@dataclass
class Checked:
    msg: EmailMessage
    message_id: str
    subject: str
    text: str
    html: str
    method: str | None = None
    ics: bytes | None = None
    calendar: Calendar | None = None
    icaljs: dict[str, Any] | None = None

    @property
    def sequence(self) -> int:
        assert self.calendar is not None
        event = self.calendar.walk("VEVENT")[0]
        return int(event.decoded("SEQUENCE"))

    @property
    def start(self) -> datetime:
        assert self.calendar is not None
        value: datetime = self.calendar.walk("VEVENT")[0].decoded("DTSTART")
        return value.astimezone(UTC)


def no_bare_lf(data: bytes) -> bool:
    return re.search(rb"(?<!\r)\n", data) is None and b"\r\r" not in data


def check_message(raw: bytes, *, recipient: str, mail_from: str, mail_from_name: str,
                  independent: bool = True) -> Checked:
    """Assert everything the checklist asks of one received message; return its parts."""
    assert no_bare_lf(raw), "the message has a bare LF or a double CR"
    msg = parse(raw)
    sender = msg["From"].addresses[0]
    assert (sender.addr_spec, sender.display_name) == (mail_from, mail_from_name)
    to = msg["To"].addresses
    assert len(to) == 1 and to[0].addr_spec.lower() == recipient.lower()
    match = MESSAGE_ID.match(msg["Message-ID"])
    assert match, msg["Message-ID"]
    plain = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert isinstance(plain, EmailMessage) and isinstance(html, EmailMessage)
    checked = Checked(msg=msg, message_id=msg["Message-ID"], subject=str(msg["Subject"]),
                      text=plain.get_content().replace("\r\n", "\n"),
                      html=html.get_content().replace("\r\n", "\n"))
    calendar_parts = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    if not calendar_parts:
        assert msg.get_content_type() == "multipart/alternative"
        return checked
    # mixed → [alternative → plain, html, calendar] + application/ics invite.ics
    assert msg.get_content_type() == "multipart/mixed"
    top = list(msg.iter_parts())
    assert [p.get_content_type() for p in top] == ["multipart/alternative", "application/ics"]
    alternative = [p.get_content_type() for p in top[0].iter_parts()]
    assert alternative == ["text/plain", "text/html", "text/calendar"]
    part = calendar_parts[0]
    attachment = top[1]
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_param("name") == "invite.ics"
    for p in (part, attachment):
        assert p["Content-Transfer-Encoding"] == "base64"
    assert str(part.get_param("charset")).upper() == "UTF-8"
    ics = part.get_payload(decode=True)
    assert isinstance(ics, bytes)
    assert ics == attachment.get_payload(decode=True), "attachment differs from the part"
    assert no_bare_lf(ics), "the calendar has a bare LF"
    assert all(len(line) <= 75 for line in ics.split(b"\r\n")), "a line is longer than 75 octets"
    cal = Calendar.from_ical(ics)
    method = str(cal["METHOD"])
    assert part.get_param("method") == method, "method= differs from METHOD"
    assert method in ("REQUEST", "CANCEL")
    assert str(cal["VERSION"]) == "2.0" and cal.get("PRODID")
    assert "UID" not in cal and not [k for k in cal if k.startswith("X-WR")]
    events = cal.walk("VEVENT")
    assert len(events) == 1 and len(cal.walk("VCALENDAR")) == 1
    event = events[0]
    attendees = event.get("ATTENDEE")
    assert attendees is not None and not isinstance(attendees, list), "exactly one ATTENDEE"
    assert str(attendees).lower() == f"mailto:{recipient.lower()}"
    params = attendees.params
    assert (params["CUTYPE"], params["ROLE"], params["PARTSTAT"], params["RSVP"]) == (
        "INDIVIDUAL", "REQ-PARTICIPANT", "NEEDS-ACTION", "TRUE")
    # A CN only for a name someone vouched for, and never with RFC 6868 escapes in it.
    assert "^" not in params.get("CN", "") and '"' not in params.get("CN", "")
    organizer = event["ORGANIZER"]
    assert str(organizer) == f"mailto:{mail_from}" and "SENT-BY" not in organizer.params
    assert organizer.params.get("CN") == mail_from_name
    assert recipient.lower() != mail_from.lower()
    assert event.decoded("DTSTAMP").utcoffset().total_seconds() == 0
    for name in ("DTSTART", "DTEND"):
        assert event.decoded(name).utcoffset().total_seconds() == 0, f"{name} not in UTC"
        assert "TZID" not in event[name].params
    assert str(event["LOCATION"]).strip() and str(event["SUMMARY"]).strip()
    assert event.get("URL") and event.get("UID")
    alarms = event.walk("VALARM")
    if method == "REQUEST":
        assert str(event["STATUS"]) == "CONFIRMED"
        assert len(alarms) == 1 and str(alarms[0]["ACTION"]) == "DISPLAY"
    else:
        assert str(event["STATUS"]) == "CANCELLED" and not alarms
    checked.method, checked.ics, checked.calendar = method, ics, cal
    if independent:
        parsed = check_icaljs(ics)
        assert len(parsed) == 1 and parsed[0]["method"] == method
        assert parsed[0]["uid"] == str(event["UID"]) and parsed[0]["attendees"] == 1
        assert parsed[0]["sequence"] == int(event.decoded("SEQUENCE"))
        assert check_libical(ics) == []
        checked.icaljs = parsed[0]
    return checked
