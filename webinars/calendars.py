"""Pure iCalendar builders. One-off events are written in UTC (ical-interop.md, section 0).

`vevent` is the event as every artefact shows it; downloads and feeds (METHOD:PUBLISH, no
ATTENDEE) and invitations (`itip.py`: REQUEST/CANCEL, one ATTENDEE) add to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from icalendar import Event

from .models import Webinar

PRODID = "-//Webinars//Webinar scheduler//RU"


@dataclass(frozen=True)
class EventLinks:
    """Where the reader goes: the event page and the address that opens the meeting."""

    page_url: str
    join_url: str | None


def description_text(webinar: Webinar, links: EventLinks) -> str:
    parts = [webinar.description.strip()] if webinar.description.strip() else []
    if links.join_url:
        parts.append(f"Подключиться / Join: {links.join_url}")
    parts.append(f"Страница мероприятия / Event page: {links.page_url}")
    return "\n\n".join(parts)


def vevent(webinar: Webinar, links: EventLinks, *, organizer_email: str, organizer_name: str,
           dtstamp: datetime, sequence: int | None = None) -> Event:
    """The VEVENT shared by every artefact: UTC times, join link in LOCATION, URL, DESCRIPTION."""
    event = Event()
    event.add("UID", webinar.uid)
    event.add("DTSTAMP", dtstamp)
    event.add("SEQUENCE", webinar.sequence if sequence is None else sequence)
    event.add("DTSTART", webinar.start_at)
    event.add("DTEND", webinar.start_at + timedelta(minutes=webinar.duration_minutes))
    event.add("SUMMARY", webinar.title)
    event.add("DESCRIPTION", description_text(webinar, links))
    event.add("LOCATION", links.join_url or links.page_url)
    event.add("URL", links.page_url)
    if links.join_url:
        event.add("CONFERENCE", links.join_url,
                  parameters={"VALUE": "URI", "FEATURE": ["AUDIO", "VIDEO"],
                              "LABEL": "Подключиться"})
    organizer = f"mailto:{organizer_email}"
    event.add("ORGANIZER", organizer, parameters={"CN": organizer_name})
    event.add("STATUS", "CANCELLED" if webinar.status == "cancelled" else "CONFIRMED")
    event.add("TRANSP", "OPAQUE")
    return event
