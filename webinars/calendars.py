"""Pure iCalendar builders. One-off events are written in UTC (ical-interop.md, section 0).

`vevent` is the event as every artefact shows it; downloads and feeds (METHOD:PUBLISH, no
ATTENDEE) and invitations (`itip.py`: REQUEST/CANCEL, one ATTENDEE) add to it. This module also
builds the "add to Google / Outlook" links and the content version that feeds use as ETag and
cache key. Nothing here touches the database or the network.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vDuration

from integrations.registry import NO_MEETING

from .i18n import format_days, format_when
from .models import Webinar

PRODID = "-//Webinars//Webinar scheduler//RU"
#: Suggested polling interval for subscribers (RFC 7986 REFRESH-INTERVAL and Outlook's TTL).
FEED_REFRESH = timedelta(hours=6)
#: Part of every content version: bump it when the bytes a feed produces change shape.
FORMAT_VERSION = "1"


@dataclass(frozen=True)
class EventLinks:
    """Where the reader goes: the event page and the address that opens the meeting."""

    page_url: str
    join_url: str | None


@dataclass(frozen=True)
class FeedItem:
    """One event as a published calendar shows it: whose links, which level it comes from."""

    webinar: Webinar
    links: EventLinks
    categories: tuple[str, ...] = ()
    #: The SEQUENCE to publish when it is not the webinar's own: what this reader's calendar
    #: already holds from invitations, so an import never looks older.
    sequence: int | None = None


def has_meeting(webinar: Webinar) -> bool:
    """False for an event with no online meeting (platform "none": a contest, an action)."""
    return webinar.platform != NO_MEETING


def meeting_links(webinar: Webinar, links: EventLinks) -> EventLinks:
    """`links` without a join address when the event has no online meeting."""
    if links.join_url and not has_meeting(webinar):
        return EventLinks(page_url=links.page_url, join_url=None)
    return links


def first_day(webinar: Webinar) -> date:
    """An all-day event's first day: its start's date in its own zone."""
    return webinar.start_at.astimezone(ZoneInfo(webinar.timezone)).date()


def last_day(webinar: Webinar) -> date:
    """An all-day event's last day (inclusive)."""
    if webinar.end_date is not None:
        return webinar.end_date
    return (end_at(webinar) - timedelta(minutes=1)).astimezone(ZoneInfo(webinar.timezone)).date()


def event_when(webinar: Webinar, zone: str, locale: str) -> str:
    """When the event happens as a reader sees it: its days for a period («с 1 по 31 марта
    2027», the same in every zone), else the start in `zone`."""
    if webinar.all_day:
        return format_days(first_day(webinar), last_day(webinar), locale)
    return format_when(webinar.start_at, zone, locale)


def description_text(webinar: Webinar, links: EventLinks) -> str:
    links = meeting_links(webinar, links)
    parts = [webinar.description.strip()] if webinar.description.strip() else []
    if links.join_url:
        parts.append(f"Подключиться / Join: {links.join_url}")
    parts.append(f"Страница мероприятия / Event page: {links.page_url}")
    return "\n\n".join(parts)


def common_name(name: str) -> str:
    """A CN every client shows as written: no characters that need RFC 6868 escapes (`"`,
    `^`, line breaks), which clients without RFC 6868 print as `^'` and `^n`."""
    return " ".join(name.replace('"', "'").replace("^", " ").split())


def end_at(webinar: Webinar) -> datetime:
    return webinar.start_at + timedelta(minutes=webinar.duration_minutes)


def vevent(webinar: Webinar, links: EventLinks, *, organizer_email: str, organizer_name: str,
           dtstamp: datetime, sequence: int | None = None) -> Event:
    """The VEVENT shared by every artefact: UTC times, join link in LOCATION, URL, DESCRIPTION.

    An all-day period has DTSTART;VALUE=DATE and an exclusive DTEND;VALUE=DATE (the day
    after its last), and is TRANSPARENT: a month-long contest must not make anyone busy.
    """
    links = meeting_links(webinar, links)
    event = Event()
    event.add("UID", webinar.uid)
    event.add("DTSTAMP", dtstamp)
    event.add("SEQUENCE", webinar.sequence if sequence is None else sequence)
    if webinar.all_day:
        event.add("DTSTART", first_day(webinar))
        event.add("DTEND", last_day(webinar) + timedelta(days=1))
    else:
        event.add("DTSTART", webinar.start_at)
        event.add("DTEND", end_at(webinar))
    event.add("SUMMARY", webinar.title)
    event.add("DESCRIPTION", description_text(webinar, links))
    event.add("LOCATION", links.join_url or links.page_url)
    event.add("URL", links.page_url)
    if links.join_url:
        # A list, not "AUDIO,VIDEO": icalendar would quote a single string (ical-interop §3).
        conference: dict[str, Any] = {"VALUE": "URI", "FEATURE": ["AUDIO", "VIDEO"],
                                      "LABEL": "Подключиться"}
        event.add("CONFERENCE", links.join_url, parameters=conference)
    organizer = f"mailto:{organizer_email}"
    event.add("ORGANIZER", organizer, parameters={"CN": common_name(organizer_name)})
    event.add("STATUS", "CANCELLED" if webinar.status == "cancelled" else "CONFIRMED")
    event.add("TRANSP", "TRANSPARENT" if webinar.all_day else "OPAQUE")
    return event


def published_event(item: FeedItem, *, organizer_email: str,
                    organizer_name: str | None = None) -> Event:
    """A VEVENT for a download or feed: no ATTENDEE, DTSTAMP = last change (stable bytes).

    Without `organizer_name` the organizer's CN is the webinar's organization. A cancelled
    webinar keeps its UID with STATUS:CANCELLED and its raised SEQUENCE, so subscribers see it
    struck out instead of silently vanishing; its join link is dropped.
    """
    links = item.links
    if item.webinar.status == "cancelled" and links.join_url:
        links = EventLinks(page_url=links.page_url, join_url=None)
    event = vevent(item.webinar, links, organizer_email=organizer_email,
                   organizer_name=organizer_name or item.webinar.organization.name,
                   dtstamp=item.webinar.updated_at, sequence=item.sequence)
    if item.categories:
        event.add("CATEGORIES", list(item.categories))
    return event


def publish_calendar(events: Iterable[Event], *, name: str | None = None,
                     feed: bool = False) -> bytes:
    """A METHOD:PUBLISH calendar (downloads and subscriptions), CRLF and folded by icalendar.

    Feeds add NAME/X-WR-CALNAME and the refresh hints; `REFRESH-INTERVAL` needs an explicit
    VALUE=DURATION and X-PUBLISHED-TTL a vDuration, or icalendar writes them wrongly (§3).
    """
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    cal.add("METHOD", "PUBLISH")
    if name:
        cal.add("NAME", name)
        cal.add("X-WR-CALNAME", name)
    if feed:
        cal.add("REFRESH-INTERVAL", vDuration(FEED_REFRESH), parameters={"VALUE": "DURATION"})
        cal.add("X-PUBLISHED-TTL", vDuration(FEED_REFRESH))
    for event in events:
        if "ATTENDEE" in event:
            raise ValueError("a published calendar must not list attendees")
        cal.add_component(event)
    data: bytes = cal.to_ical()
    return data


def publish_items(items: Sequence[FeedItem], *, organizer_email: str,
                  organizer_name: str | None = None, name: str | None = None,
                  feed: bool = False) -> bytes:
    events = (published_event(item, organizer_email=organizer_email,
                              organizer_name=organizer_name) for item in items)
    return publish_calendar(events, name=name, feed=feed)


def content_version(items: Sequence[FeedItem], *, organizer_email: str,
                    organizer_name: str | None = None, name: str | None = None,
                    feed: bool = False) -> str:
    """A hash of everything `publish_items` writes, so it can serve as ETag and cache key.

    Computing it costs a fraction of building the calendar (no icalendar objects, no folding).
    """
    digest = hashlib.sha256()
    head = [FORMAT_VERSION, name, feed, organizer_email, organizer_name]
    digest.update(json.dumps(head, ensure_ascii=False).encode())
    for item in items:
        w = item.webinar
        sequence = w.sequence if item.sequence is None else item.sequence
        row = [w.uid, sequence, w.status, w.start_at.isoformat(), w.duration_minutes,
               w.all_day, w.end_date.isoformat() if w.end_date else None, w.platform,
               w.title, w.description, w.updated_at.isoformat(), w.organization.name,
               item.links.page_url, item.links.join_url, list(item.categories)]
        digest.update(b"\x1e")
        digest.update(json.dumps(row, ensure_ascii=False).encode())
    return digest.hexdigest()


def _utc_compact(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _utc_iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def google_calendar_url(webinar: Webinar, links: EventLinks) -> str:
    """Google's "add event" template (ical-interop.md §2.9): UTC dates, so no `ctz` is needed."""
    links = meeting_links(webinar, links)
    dates = (f"{first_day(webinar):%Y%m%d}/{last_day(webinar) + timedelta(days=1):%Y%m%d}"
             if webinar.all_day else
             f"{_utc_compact(webinar.start_at)}/{_utc_compact(end_at(webinar))}")
    params = {
        "action": "TEMPLATE",
        "text": webinar.title,
        "dates": dates,
        "details": description_text(webinar, links),
        "location": links.join_url or links.page_url,
    }
    return "https://calendar.google.com/calendar/render?" + urlencode(
        params, quote_via=quote, safe="/:")


def outlook_calendar_url(webinar: Webinar, links: EventLinks, *, personal: bool = False) -> str:
    """Outlook's compose deeplink (§2.9); `personal` targets outlook.live.com accounts.

    The body is HTML-ish: line breaks are `<br>`, not newlines.
    """
    host = "outlook.live.com" if personal else "outlook.office.com"
    links = meeting_links(webinar, links)
    params = {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": webinar.title,
        "startdt": _utc_iso(webinar.start_at),
        "enddt": _utc_iso(end_at(webinar)),
        "body": description_text(webinar, links).replace("\n", "<br>"),
        "location": links.join_url or links.page_url,
    }
    if webinar.all_day:
        params.update(startdt=first_day(webinar).isoformat(),
                      enddt=(last_day(webinar) + timedelta(days=1)).isoformat(),
                      allday="true")
    return f"https://{host}/calendar/deeplink/compose?" + urlencode(
        params, quote_via=quote, safe="/:")


def webcal_url(https_url: str) -> str:
    """The same feed as a `webcal://` link, which hands it to the reader's calendar app.

    Only the scheme changes; keep offering the plain https URL too (§2.8).
    """
    parts = urlsplit(https_url)
    if parts.scheme not in ("http", "https", "webcal"):
        raise ValueError("a feed address must be http(s)")
    return "webcal://" + https_url.split("://", 1)[1]


def google_subscribe_url(https_url: str) -> str:
    """Google Calendar's "subscribe by URL" link (`cid=`); Google fetches only https feeds."""
    return "https://calendar.google.com/calendar/r?" + urlencode(
        {"cid": webcal_url(https_url)}, quote_via=quote, safe="")
