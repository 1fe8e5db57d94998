"""iTIP calendars for one recipient: METHOD:REQUEST (invitation, update) and METHOD:CANCEL.

Built on `calendars.vevent` and shaped by the checklist in ical-interop.md §4: exactly one
ATTENDEE (the recipient, RSVP=TRUE), ORGANIZER the bare sending address, no calendar-level UID
or X-WR-*, a VALARM only in REQUEST, STATUS:CANCELLED only in CANCEL.

`CalendarTemplate` serves fan-outs: icalendar builds and folds the calendar once, and each
recipient only gets their ATTENDEE line and personal join token put in (and those lines folded
again). The result is byte-for-byte what the full build gives; tests hold it to that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from icalendar import Alarm, Calendar, vCalAddress
from icalendar.parser import Contentline

from .calendars import PRODID, EventLinks, common_name, series_events, series_timezone, vevent
from .models import Webinar
from .series import is_series

REQUEST = "REQUEST"
CANCEL = "CANCEL"
DEFAULT_ALARM_MINUTES = 15
#: Stands for a registrant's token while a fan-out template is built; never sent.
TOKEN_MARK = "TOKENMARKf0f0f0f0"
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PLACEHOLDER = ("attendee@placeholder.invalid", "Placeholder")


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str


def attendee_property(attendee: Attendee) -> vCalAddress:
    address = vCalAddress(f"mailto:{attendee.email}")
    address.params["CUTYPE"] = "INDIVIDUAL"
    address.params["ROLE"] = "REQ-PARTICIPANT"
    address.params["PARTSTAT"] = "NEEDS-ACTION"
    address.params["RSVP"] = "TRUE"
    if cn := common_name(attendee.name):  # no CN for a name nobody has vouched for
        address.params["CN"] = cn
    return address


def alarm_minutes(webinar: Webinar) -> int:
    """The event's own alarm: the webinar's shortest reminder offset (15 minutes by default)."""
    offsets = [m for m in (webinar.reminder_offsets or []) if 0 < m <= 24 * 60]
    return min(offsets) if offsets else DEFAULT_ALARM_MINUTES


def build(method: str, webinar: Webinar, links: EventLinks, attendee: Attendee, *,
          organizer_email: str, organizer_name: str, dtstamp: datetime, sequence: int,
          alarm_text: str | None = None) -> Calendar:
    """One recipient's calendar. CANCEL drops the join link: the meeting is no longer theirs."""
    if method not in (REQUEST, CANCEL):
        raise ValueError(f"unsupported METHOD {method!r}")
    if method == CANCEL:
        links = EventLinks(page_url=links.page_url, join_url=None)
    master = vevent(webinar, links, organizer_email=organizer_email,
                    organizer_name=organizer_name, dtstamp=dtstamp, sequence=sequence)
    series = is_series(webinar) and not webinar.all_day
    # A series is its master and an override per moved session, never a VEVENT for a
    # session where the rule put it (Outlook refused such a redundant one, §2.1); a CANCEL
    # of the whole series is the master alone.
    found = series_events(master, webinar) if series and method == REQUEST else [master]
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    cal.add("METHOD", method)
    if series:
        cal.add_component(series_timezone(webinar))
    for event in found:
        if "STATUS" in event:
            del event["STATUS"]
        event.add("STATUS", "CONFIRMED" if method == REQUEST else "CANCELLED")
        event.add("ATTENDEE", attendee_property(attendee))
        if method == REQUEST:
            alarm = Alarm()
            alarm.add("ACTION", "DISPLAY")
            alarm.add("DESCRIPTION", alarm_text or webinar.title)
            alarm.add("TRIGGER", timedelta(minutes=-alarm_minutes(webinar)))
            event.add_component(alarm)
        cal.add_component(event)
    return cal


def to_bytes(calendar: Calendar) -> bytes:
    data: bytes = calendar.to_ical()
    return data


def fold(line: bytes) -> bytes:
    """RFC 5545 folding as icalendar does it: ≤74 octets a piece, never inside a UTF-8
    sequence, never right after a backslash or caret escape (icalendar issue #1501)."""
    if len(line) < 75:
        return line + b"\r\n"
    pieces: list[bytes] = []
    start = 0
    end = len(line)
    while end - start > 74:
        cut = start + 74
        while 0x80 <= line[cut] < 0xC0:  # a UTF-8 continuation byte: step back
            cut -= 1
        if cut - 1 > start and line[cut - 1] in b"\\^":
            cut -= 1
        pieces.append(line[start:cut])
        start = cut
    pieces.append(line[start:])
    return b"\r\n ".join(pieces) + b"\r\n"


def attendee_line(attendee: Attendee) -> bytes:
    prop = attendee_property(attendee)
    line = str(Contentline.from_parts("ATTENDEE", prop.params, prop, sorted=True))
    return line.encode("utf-8")


class CalendarTemplate:
    """A calendar serialised once; `render` puts in one recipient's ATTENDEE and token."""

    def __init__(self, method: str, webinar: Webinar, *, page_url: str, join_base: str | None,
                 organizer_email: str, organizer_name: str, dtstamp: datetime, sequence: int,
                 alarm_text: str | None = None) -> None:
        join_url = f"{join_base}{TOKEN_MARK}" if join_base else None
        cal = build(method, webinar, EventLinks(page_url=page_url, join_url=join_url),
                    Attendee(*_PLACEHOLDER), organizer_email=organizer_email,
                    organizer_name=organizer_name, dtstamp=dtstamp, sequence=sequence,
                    alarm_text=alarm_text)
        self.method = method
        self._mark = TOKEN_MARK.encode()
        # Segments: folded constant bytes, b"" for the ATTENDEE slot, or an unfolded line
        # holding the token mark.
        self._segments: list[tuple[str, bytes]] = []
        constant: list[bytes] = []
        for line in to_bytes(cal).replace(b"\r\n ", b"").split(b"\r\n")[:-1]:
            if line.startswith((b"ATTENDEE;", b"ATTENDEE:")):
                kind = "attendee"
            elif self._mark in line:
                kind = "token"
            else:
                constant.append(fold(line))
                continue
            if constant:
                self._segments.append(("const", b"".join(constant)))
                constant = []
            self._segments.append((kind, line))
        if constant:
            self._segments.append(("const", b"".join(constant)))

    def render(self, attendee: Attendee, token: str | None) -> bytes:
        if token is not None and not _SAFE_TOKEN.match(token):
            raise ValueError("a registration token must be URL-safe")
        parts: list[bytes] = []
        for kind, data in self._segments:
            if kind == "const":
                parts.append(data)
            elif kind == "attendee":
                parts.append(fold(attendee_line(attendee)))
            else:
                parts.append(fold(data.replace(self._mark, (token or "").encode())))
        return b"".join(parts)

