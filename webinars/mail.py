"""Rendering messages: one e-mail per recipient, in their language and time zone.

A `MessageBatch` holds what all messages of one kind about one webinar share (subject, the
calendar serialised once, the add-to-calendar links, the times per zone), so a fan-out to
thousands only renders the personal parts per recipient (performance-notes.md).

The MIME layout is the checklist's (ical-interop.md §4): multipart/mixed → [multipart/alternative
→ text/plain, text/html, text/calendar; method=X] + application/ics attachment named invite.ics,
every part base64 from bytes, CRLF throughout. It is assembled directly: the structure is fixed
and every body is base64, so there is nothing for a generic MIME generator to decide, and it
costs a fraction of `email`'s generator. Tests re-parse every message with the `email` package.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import format_datetime, formataddr
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import escape

from . import calendars, catalogs, itip
from .branding import COLOR_RE, Brand
from .calendars import EventLinks
from .changes import MEMBER_FIELDS, change_lines
from .config import AppConfig
from .i18n import before_text, duration_text, format_days, format_when, format_when_both, gettext
from .mailer import OutgoingMail
from .models import Webinar
from .resources import templates_dir
from .security import address_proof

TEMPLATES_DIR = templates_dir() / "email"
KINDS = ("invitation", "update", "cancellation", "reminder", "followup", "deadline",
         "pending", "waitlisted", "promoted", "declined", "link")
METHODS = {"invitation": itip.REQUEST, "update": itip.REQUEST, "cancellation": itip.CANCEL,
           "promoted": itip.REQUEST}
#: A member promoted from the waitlist this close to the start is told the time up front.
SOON = timedelta(hours=24)
SUBJECTS = {
    "invitation": "Invitation: {title}",
    "pending": "Request received: {title}",
    "waitlisted": "Waitlist: {title}",
    "promoted": "A seat for you: {title}",
    "declined": "Registration declined: {title}",
    "link": "Your link: {title}",
    "update": "Changed: {title}",
    "cancellation": "Cancelled: {title}",
    "registration_cancelled": "Registration cancelled: {title}",
    "reminder": "Reminder: {title}",
    "followup": "After the event: {title}",
    "deadline": "Deadline: {title}",
}
#: What `MessageBatch.bodies` renders in place of a recipient's name and tokens.
_NONCE = secrets.token_hex(8)
STAND_IN_NAME = f"\x02name-{_NONCE}\x03"
STAND_IN_TOKEN = f"token{_NONCE}"
STAND_IN_JOIN = f"join{_NONCE}"
STAND_IN_PROOF = f"proof{_NONCE}"
URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")

MIXED = "==webinars-mixed=="
ALTERNATIVE = "==webinars-alternative=="

env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)),
                  autoescape=select_autoescape(enabled_extensions=("html",),
                                               default_for_string=False),
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                  keep_trailing_newline=True, auto_reload=False)
catalogs.install(env)
env.globals.update(duration_text=duration_text, before_text=before_text)


#: Kinds a member may turn off (List-Unsubscribe); the others keep their calendar right.
OPTIONAL_KINDS = ("reminder", "followup", "deadline")


@dataclass(frozen=True)
class Recipient:
    delivery_id: int
    #: Empty unless the address is proven or an organizer registered it: a name a stranger
    #: typed never greets somebody else's mailbox.
    name: str
    email: str
    locale: str
    timezone: str
    token: str  # opens the personal page
    join_token: str  # only follows the join address
    #: Made once per delivery (random) and reused on every attempt.
    message_id: str
    #: Was in the meeting (the platform saw them, or they followed their join address): the
    #: follow-up thanks them; the others are told what they missed.
    attended: bool = False


def one_line(value: str) -> str:
    return " ".join(value.split())


def encoded_words(value: str) -> str:
    """RFC 2047 "B" encoded-words of at most 39 octets each (64 characters, so a header line
    stays within 78), never splitting a UTF-8 sequence, joined by folding whitespace.
    `email.header` does the same, more slowly."""
    data = value.encode("utf-8")
    words: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + 39, len(data))
        while end < len(data) and 0x80 <= data[end] < 0xC0:
            end -= 1
        words.append("=?utf-8?b?" + base64.b64encode(data[start:end]).decode("ascii") + "?=")
        start = end
    return "\r\n ".join(words)


def header_text(value: str) -> str:
    """Plain ASCII as is; anything else, or text a reader would take for an encoded word
    (RFC 2047 `=?charset?...?=`), encoded."""
    value = one_line(value)
    if value.isascii() and len(value) < 70 and "=?" not in value:
        return value
    return encoded_words(value)


def address_header(display: str, address: str) -> str:
    display = one_line(display)
    if not display:
        return address
    if display.isascii() and "=?" not in display:
        return formataddr((display, address))
    words = encoded_words(display)
    last = words.rsplit("\r\n ", 1)[-1]
    fold = "\r\n " if len(last) + len(address) > 60 else " "
    return f"{words}{fold}<{address}>"


def b64(data: bytes) -> bytes:
    """Base64 in 76-character lines ending in CRLF (RFC 2045)."""
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def text_part(subtype: str, body: str) -> bytes:
    """Text in canonical form (CRLF line breaks), base64 so Cyrillic survives 7-bit paths."""
    canonical = body.replace("\r\n", "\n").replace("\n", "\r\n")
    return (f"Content-Type: text/{subtype}; charset=\"utf-8\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + b64(canonical.encode("utf-8"))


def assemble(headers: list[tuple[str, str]], text: str, html: str,
             calendar: bytes | None = None, method: str | None = None) -> bytes:
    """The raw message: headers already encoded, bodies as str, the calendar as bytes."""
    head = "".join(f"{k}: {v}\r\n" for k, v in headers) + "MIME-Version: 1.0\r\n"
    alternative = [text_part("plain", text), text_part("html", html)]
    if calendar is None:
        return (head + f"Content-Type: multipart/alternative; boundary=\"{ALTERNATIVE}\"\r\n\r\n"
                ).encode() + multipart(ALTERNATIVE, alternative)
    encoded = b64(calendar)
    alternative.append((f"Content-Type: text/calendar; method={method}; charset=\"UTF-8\"\r\n"
                        "Content-Transfer-Encoding: base64\r\n\r\n").encode() + encoded)
    inner = (f"Content-Type: multipart/alternative; boundary=\"{ALTERNATIVE}\"\r\n\r\n"
             ).encode() + multipart(ALTERNATIVE, alternative)
    attachment = (b"Content-Type: application/ics; name=\"invite.ics\"\r\n"
                  b"Content-Disposition: attachment; filename=\"invite.ics\"\r\n"
                  b"Content-Transfer-Encoding: base64\r\n\r\n") + encoded
    return (head + f"Content-Type: multipart/mixed; boundary=\"{MIXED}\"\r\n\r\n"
            ).encode() + multipart(MIXED, [inner, attachment])


def multipart(boundary: str, parts: list[bytes]) -> bytes:
    sep = f"--{boundary}\r\n".encode()
    out = b"".join(sep + part + b"\r\n" for part in parts)
    return out + f"--{boundary}--\r\n".encode()


@lru_cache(maxsize=4096)
def personal(url: str | None, join_token: str) -> str:
    """A calendar link with the recipient's join address in it ("" when there is none)."""
    return url.replace(itip.TOKEN_MARK, join_token) if url else ""


def when_text(instant: datetime, zone: str, locale: str) -> str:
    return format_when(instant, zone, locale)


def brand_context(base_url: str, brand: Brand | None) -> dict[str, Any]:
    """The organization's logo and colour for the HTML part (the text part shows neither).

    The logo is an absolute https address (mail clients load nothing else, and never from a
    relative one); the colour is checked again here, as it lands in a style attribute."""
    logo = brand.logo_path if brand else None
    color = brand.color if brand and brand.color and COLOR_RE.match(brand.color) else ""
    return {
        "brand_logo_url": f"{base_url}{logo}" if logo and base_url.startswith("https://") else "",
        "brand_logo_alt": brand.logo_alt if brand else "",
        "brand_logo_width": min(brand.logo_width, 160) if brand else 0,
        "brand_color": color,
    }


class MessageBatch:
    """Everything messages of one kind about one webinar share, worked out once."""

    def __init__(self, config: AppConfig, webinar: Webinar, kind: str, now: datetime,
                 brand: Brand | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown delivery kind {kind!r}")
        self.config = config
        self.webinar = webinar
        self.kind = kind
        self.now = now
        self.method = METHODS.get(kind)
        base = config.base_url
        self.page_url = f"{base}/w/{webinar.public_id}"
        self.join_base = f"{base}/j/"
        self.personal_base = f"{base}/r/"
        self.site = urlsplit(base).netloc
        self.date = format_datetime(now.replace(microsecond=0))
        self.sender = address_header(config.mail_from_name, config.mail_from)
        self.webinar_cancelled = webinar.status == "cancelled"
        marked = EventLinks(page_url=self.page_url, join_url=self.join_base + itip.TOKEN_MARK)
        self.google_url = calendars.google_calendar_url(webinar, marked)
        self.outlook_url = calendars.outlook_calendar_url(webinar, marked, personal=True)
        self._calendars: dict[int, itip.CalendarTemplate] = {}
        self._templates = {fmt: env.get_template(f"{kind}.{fmt}") for fmt in ("txt", "html")}
        self._subjects: dict[str, tuple[str, str]] = {}
        self._shapes: dict[tuple[Any, ...], tuple[str, str, str]] = {}
        self.brand = brand_context(base, brand)

    def calendar(self, sequence: int) -> itip.CalendarTemplate:
        template = self._calendars.get(sequence)
        if template is None:
            assert self.method is not None
            template = itip.CalendarTemplate(
                self.method, self.webinar, page_url=self.page_url,
                join_base=self.join_base if self.method == itip.REQUEST else None,
                organizer_email=self.config.mail_from, organizer_name=self.config.mail_from_name,
                dtstamp=self.now, sequence=sequence)
            self._calendars[sequence] = template
        return template

    def subject(self, locale: str) -> tuple[str, str]:
        """(decoded subject, encoded header) for a locale."""
        cached = self._subjects.get(locale)
        if cached is None:
            key = self.kind
            if self.kind == "cancellation" and not self.webinar_cancelled:
                key = "registration_cancelled"
            text = one_line(gettext(locale, SUBJECTS[key]).format(title=self.webinar.title))
            cached = (text, header_text(text))
            self._subjects[locale] = cached
        return cached

    def context(self, recipient: Recipient, offset_minutes: int | None,
                session_id: int | None = None,
                changed: dict[str, Any] | None = None, *,
                proof: str | None = None) -> dict[str, Any]:
        w = self.webinar
        # A reminder of one session of a course tells that session's time.
        start = next((s.start_at for s in w.sessions if s.id == session_id), w.start_at)
        locale = recipient.locale if recipient.locale in ("ru", "en") else "ru"
        token = recipient.token
        if proof is None:
            proof = address_proof(self.config.secret_key, token)
        greeting = (gettext(locale, "Hello, %(name)s!") % {"name": recipient.name}
                    if recipient.name else gettext(locale, "Hello!"))
        return {
            "lang": locale,
            "greeting": greeting,
            "site": self.site,
            "unsubscribe_url": (f"{self.personal_base}{token}/reminders/off"
                                if self.kind in OPTIONAL_KINDS else ""),
            "title": w.title,
            "description": w.description.strip(),
            "organization": w.organization.name if w.organization is not None else "",
            "when": (format_days(calendars.first_day(w), calendars.last_day(w), locale)
                     if w.all_day else format_when_both(start, w.timezone, recipient.timezone,
                                                        locale)),
            "all_day": w.all_day,
            "has_meeting": calendars.has_meeting(w),
            "deadline": (format_when_both(w.deadline_at, w.timezone, recipient.timezone, locale)
                         if w.deadline_at else ""),
            "duration_minutes": w.duration_minutes,
            "offset": duration_text(offset_minutes, locale) if offset_minutes else "",
            "join_url": self.join_base + recipient.join_token,
            # The personal page, through the link that proves the address (only mail has it).
            "personal_url": f"{self.personal_base}{token}/confirm/{proof}",
            "page_url": self.page_url,
            "ics_url": f"{self.personal_base}{token}.ics",
            "google_url": personal(self.google_url, recipient.join_token),
            "outlook_url": personal(self.outlook_url, recipient.join_token),
            "webinar_cancelled": self.webinar_cancelled,
            "recording_url": w.recording_url or "",
            "attended": recipient.attended,
            "followup_note": (w.followup_note or "").strip(),
            **self.brand,
            # An update lists what its change changed, in the member's zone and language.
            "changes": change_lines(changed or {}, recipient.timezone, locale, MEMBER_FIELDS),
            "starts_soon": self.kind == "promoted" and start - self.now <= SOON,
        }

    def bodies(self, recipient: Recipient, offset_minutes: int | None,
               session_id: int | None = None, changed: dict[str, Any] | None = None
               ) -> tuple[str, str, str]:
        """(text, html, language) of one recipient's message.

        The two templates are rendered once per shape of recipient (language, zone, whether
        a name greets them, what they were sent about), with stand-ins for the name and the
        personal tokens, which are then put in by plain replacement: rendering was most of a
        fan-out's CPU per message (bench/fanout.py, bench/reminders.py). Stand-ins carry a
        random part made per process, so no text an organizer or member writes can hold one.
        A token that would need escaping in HTML (none we make does) gets a render of its own.
        """
        if not (URL_SAFE.fullmatch(recipient.token) and URL_SAFE.fullmatch(recipient.join_token)):
            context = self.context(recipient, offset_minutes, session_id, changed)
            return (self._templates["txt"].render(context),
                    self._templates["html"].render(context), context["lang"])
        key = (recipient.locale, recipient.timezone, bool(recipient.name), recipient.attended,
               offset_minutes, session_id,
               json.dumps(changed, sort_keys=True, default=str) if changed else "")
        shape = self._shapes.get(key)
        if shape is None:
            anyone = replace(recipient, name=STAND_IN_NAME if recipient.name else "",
                             token=STAND_IN_TOKEN, join_token=STAND_IN_JOIN)
            context = self.context(anyone, offset_minutes, session_id, changed,
                                   proof=STAND_IN_PROOF)
            shape = self._shapes[key] = (self._templates["txt"].render(context),
                                         self._templates["html"].render(context),
                                         context["lang"])
        text, html, lang = shape
        tokens = ((STAND_IN_TOKEN, recipient.token), (STAND_IN_JOIN, recipient.join_token),
                  (STAND_IN_PROOF, address_proof(self.config.secret_key, recipient.token)))
        for stand_in, value in tokens:
            text = text.replace(stand_in, value)
            html = html.replace(stand_in, value)
        if recipient.name:
            text = text.replace(STAND_IN_NAME, recipient.name)
            html = html.replace(STAND_IN_NAME, str(escape(recipient.name)))
        return text, html, lang

    def render(self, recipient: Recipient, *, sequence: int,
               offset_minutes: int | None = None,
               session_id: int | None = None,
               changed: dict[str, Any] | None = None) -> OutgoingMail:
        text, html, lang = self.bodies(recipient, offset_minutes, session_id, changed)
        subject, subject_header = self.subject(lang)
        unsubscribe_url = (f"{self.personal_base}{recipient.token}/reminders/off"
                           if self.kind in OPTIONAL_KINDS else "")
        mid = recipient.message_id
        headers = [
            ("From", self.sender),
            ("To", address_header(recipient.name, recipient.email)),
            ("Subject", subject_header),
            ("Date", self.date),
            ("Message-ID", mid),
            ("Auto-Submitted", "auto-generated"),
        ]
        if unsubscribe_url:
            # RFC 8058: one POST from the mail provider turns reminders off for this registration.
            headers += [("List-Unsubscribe", f"<{unsubscribe_url}>"),
                        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
        calendar: bytes | None = None
        if self.method is not None:
            calendar = self.calendar(sequence).render(
                itip.Attendee(recipient.email, recipient.name),
                recipient.join_token if self.method == itip.REQUEST else None)
        raw = assemble(headers, text, html, calendar, self.method)
        return OutgoingMail(sender=self.config.mail_from, recipient=recipient.email, raw=raw,
                            message_id=mid, subject=subject, date=self.now,
                            delivery_id=recipient.delivery_id, webinar_id=self.webinar.id)
