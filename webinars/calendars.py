"""Pure iCalendar builders. One-off events are written in UTC (ical-interop.md, section 0).

`vevent` is the event as every artefact shows it; downloads and feeds (METHOD:PUBLISH, no
ATTENDEE) and invitations (`itip.py`: REQUEST/CANCEL, one ATTENDEE) add to it. This module also
builds the "add to Google / Outlook" links and the content version that downloads use as ETag
and cache key. Feeds are written in chunks (`publish_chunks`) with the same bytes as a whole.
Nothing here touches the database or the network.
"""

from __future__ import annotations

import hashlib
import json
from calendar import monthrange
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

from icalendar import (
    Calendar,
    Component,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    vDuration,
)

from integrations.registry import NO_MEETING

from .i18n import format_days, format_when, format_when_both
from .models import Webinar, WebinarSession
from .series import WEEKDAYS, ends_at, is_series
from .states import SessionStatus

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


def period_days(webinar: Webinar) -> tuple[date, date] | None:
    """An all-day event's first and last day; None for a meeting."""
    return (first_day(webinar), last_day(webinar)) if webinar.all_day else None


def event_when(webinar: Webinar, zone: str, locale: str) -> str:
    """When the event happens as a reader sees it: its days for a period («с 1 по 31 марта
    2027», the same in every zone), else the start in `zone`."""
    if webinar.all_day:
        return format_days(first_day(webinar), last_day(webinar), locale)
    return format_when(webinar.start_at, zone, locale)


def event_when_both(webinar: Webinar, reader_zone: str, locale: str) -> str:
    """`event_when` in the event's own zone with the reader's next to it when they differ:
    «8 декабря 2026 г., 17:00 ЕКБ (15:00 МСК)»."""
    if webinar.all_day:
        return format_days(first_day(webinar), last_day(webinar), locale)
    return format_when_both(webinar.start_at, webinar.timezone, reader_zone, locale)


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
    """When the event is over: a series' last session's end (`series.ends_at`)."""
    return ends_at(webinar)


def meeting_end(webinar: Webinar) -> datetime:
    """The end of the (first) meeting: what "add to calendar" links carry."""
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
    elif is_series(webinar):
        add_recurrence(event, webinar)
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


def local(webinar: Webinar, instant: datetime) -> datetime:
    """An instant as the wall-clock time in the webinar's zone (written with its TZID)."""
    return instant.astimezone(ZoneInfo(webinar.timezone))


def add_recurrence(event: Event, webinar: Webinar) -> None:
    """The master of a series: DTSTART where the rule starts (TZID + VTIMEZONE, so the local
    time holds across DST), RRULE for a weekly rule or RDATE for an explicit list, EXDATE
    for cancelled sessions. EXDATE and RECURRENCE-ID repeat DTSTART's zone and time (§2.7)."""
    sessions = webinar.sessions
    anchor = local(webinar, sessions[0].original_start)
    event.add("DTSTART", anchor)
    event.add("DTEND", anchor + timedelta(minutes=webinar.duration_minutes))
    rule = webinar.series_rule or {}
    if rule.get("kind") == "weekly":
        event.add("RRULE", {"FREQ": "WEEKLY", "BYDAY": WEEKDAYS[int(rule["weekday"])],
                            "COUNT": len(sessions)})
    else:
        # Every session, the first too: it is DTSTART already (RFC 5545 counts a repeated
        # instance once), but ical.js leaves DTSTART out of an RDATE-only set.
        event.add("RDATE", [local(webinar, s.original_start) for s in sessions])
    cancelled = [local(webinar, s.original_start) for s in sessions
                 if s.status == SessionStatus.CANCELLED]
    if cancelled:
        event.add("EXDATE", cancelled)


def moved(webinar: Webinar) -> list[WebinarSession]:
    """Held sessions no longer where the rule put them: each gets a RECURRENCE-ID override."""
    return [s for s in webinar.sessions if s.status == SessionStatus.SCHEDULED
            and (s.start_at != s.original_start
                 or s.duration_minutes != webinar.duration_minutes)]


def override(master: Event, webinar: Webinar, item: WebinarSession) -> Event:
    """One moved session: the master's properties, its own DTSTART/DTEND, no rule."""
    event = Event()
    skip = {"DTSTART", "DTEND", "RRULE", "RDATE", "EXDATE"}
    for name, value in master.items():
        if name == "UID":
            event[name] = value
            event.add("RECURRENCE-ID", local(webinar, item.original_start))
            event.add("DTSTART", local(webinar, item.start_at))
            event.add("DTEND", local(webinar, item.start_at)
                      + timedelta(minutes=item.duration_minutes))
        elif name not in skip:
            event[name] = value
    return event


def series_events(master: Event, webinar: Webinar) -> list[Event]:
    """The master and one override per moved session, all under the series' UID."""
    return [master, *(override(master, webinar, item) for item in moved(webinar))]


def _transitions(zone: ZoneInfo, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """(first instant, offset before, offset after) of each change of offset in `year`."""
    found = []
    day = datetime(year, 1, 1, tzinfo=UTC)
    before = day.astimezone(zone).utcoffset()
    for _ in range(366):
        nxt = day + timedelta(days=1)
        after = nxt.astimezone(zone).utcoffset()
        if after != before:
            lo, hi = int(day.timestamp()), int(nxt.timestamp())
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if datetime.fromtimestamp(mid, UTC).astimezone(zone).utcoffset() == before:
                    lo = mid
                else:
                    hi = mid
            assert before is not None and after is not None
            found.append((datetime.fromtimestamp(hi, UTC), before, after))
            before = after
        day = nxt
    return found


def _nth(day: date) -> int:
    """Which weekday of its month a day is: 1..4, or -1 for the last one."""
    if day.day + 7 > monthrange(day.year, day.month)[1]:
        return -1
    return (day.day - 1) // 7 + 1


def _in_1970(month: int, weekday: int, nth: int) -> date:
    first = date(1970, month, 1)
    if nth > 0:
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
    last = (date(1970 + month // 12, month % 12 + 1, 1) - timedelta(days=1))
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def vtimezone(zone_name: str, year: int) -> Timezone:
    """A compact VTIMEZONE from zoneinfo (ical-interop.md §2.6): one STANDARD and one
    DAYLIGHT observance, each a yearly RRULE anchored in 1970, or a single STANDARD with
    equal offsets for a zone without DST (Europe/Moscow). The rules are those of `year`."""
    zone = ZoneInfo(zone_name)
    tz = Timezone()
    tz.add("TZID", zone_name)
    changes = _transitions(zone, year)
    if len(changes) != 2:
        instant = datetime(year, 7, 1, tzinfo=UTC).astimezone(zone)
        offset = instant.utcoffset()
        standard = TimezoneStandard()
        standard.add("DTSTART", datetime(1970, 1, 1))
        standard.add("TZOFFSETFROM", offset)
        standard.add("TZOFFSETTO", offset)
        standard.add("TZNAME", instant.tzname() or zone_name)
        tz.add_component(standard)
        return tz
    for instant, before, after in changes:
        wall = (instant + before).replace(tzinfo=None)
        after_local = instant.astimezone(zone)
        observance: TimezoneDaylight | TimezoneStandard = (
            TimezoneDaylight() if after_local.dst() else TimezoneStandard())
        nth = _nth(wall.date())
        onset = _in_1970(wall.month, wall.weekday(), nth)
        observance.add("DTSTART", datetime(onset.year, onset.month, onset.day, wall.hour,
                                           wall.minute, wall.second))
        observance.add("RRULE", {"FREQ": "YEARLY", "BYMONTH": wall.month,
                                 "BYDAY": f"{nth}{WEEKDAYS[wall.weekday()]}"})
        observance.add("TZOFFSETFROM", before)
        observance.add("TZOFFSETTO", after)
        observance.add("TZNAME", after_local.tzname() or zone_name)
        tz.add_component(observance)
    return tz


def series_timezone(webinar: Webinar) -> Timezone:
    return vtimezone(webinar.timezone,
                     local(webinar, webinar.sessions[0].original_start).year)


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


def published_components(item: FeedItem, *, organizer_email: str,
                         organizer_name: str | None = None) -> list[Component]:
    """What one item adds to a published calendar: its VEVENT, or for a series its master,
    its overrides and (first) the VTIMEZONE its TZID names."""
    event = published_event(item, organizer_email=organizer_email,
                            organizer_name=organizer_name)
    if not is_series(item.webinar) or item.webinar.all_day:
        return [event]
    return [series_timezone(item.webinar), *series_events(event, item.webinar)]


def calendar_head(*, name: str | None = None, feed: bool = False) -> Calendar:
    """The VCALENDAR's own properties: METHOD:PUBLISH (downloads and subscriptions).

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
    return cal


CALENDAR_END = b"END:VCALENDAR\r\n"


def publish_chunks(events: Iterable[Component], *, name: str | None = None,
                   feed: bool = False, batch: int = 200) -> Iterator[bytes]:
    """The calendar's bytes a few hundred components at a time, as icalendar writes the whole
    (CRLF, folded): a feed of 10,000 events streams as it is built and never holds its
    icalendar objects all at once. Each VTIMEZONE is written once, before its first use."""
    head: bytes = calendar_head(name=name, feed=feed).to_ical()
    if not head.endswith(CALENDAR_END):
        raise AssertionError("icalendar ended a calendar unexpectedly")
    yield head[:-len(CALENDAR_END)]
    zones: set[str] = set()
    pending: list[bytes] = []
    for event in events:
        if "ATTENDEE" in event:
            raise ValueError("a published calendar must not list attendees")
        if isinstance(event, Timezone):
            if str(event["TZID"]) in zones:
                continue
            zones.add(str(event["TZID"]))
        pending.append(event.to_ical())
        if len(pending) >= batch:
            yield b"".join(pending)
            pending = []
    if pending:
        yield b"".join(pending)
    yield CALENDAR_END


def publish_calendar(events: Iterable[Component], *, name: str | None = None,
                     feed: bool = False) -> bytes:
    """A METHOD:PUBLISH calendar (downloads and subscriptions), CRLF and folded by icalendar."""
    return b"".join(publish_chunks(events, name=name, feed=feed))


def item_components(items: Iterable[FeedItem], *, organizer_email: str,
                    organizer_name: str | None = None) -> Iterator[Component]:
    return (component for item in items
            for component in published_components(item, organizer_email=organizer_email,
                                                   organizer_name=organizer_name))


def publish_items(items: Sequence[FeedItem], *, organizer_email: str,
                  organizer_name: str | None = None, name: str | None = None,
                  feed: bool = False) -> bytes:
    return publish_calendar(item_components(items, organizer_email=organizer_email,
                                            organizer_name=organizer_name),
                            name=name, feed=feed)


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
        if w.series_rule is not None:
            row += [w.timezone, w.series_rule, [[s.position, s.start_at.isoformat(),
                                                 s.original_start.isoformat(),
                                                 s.duration_minutes, s.status]
                                                for s in w.sessions]]
        digest.update(b"\x1e")
        digest.update(json.dumps(row, ensure_ascii=False).encode())
    return digest.hexdigest()


def _utc_compact(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _utc_iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def weekly_rrule(webinar: Webinar) -> str | None:
    """The series as one RRULE line when one describes it exactly: a weekly rule with every
    session held where the rule put it. A moved or cancelled session, or a list of dates,
    needs RDATE/EXDATE/RECURRENCE-ID, which only the .ics file carries."""
    rule = webinar.series_rule or {}
    if rule.get("kind") != "weekly" or moved(webinar) or any(
            s.status != SessionStatus.SCHEDULED for s in webinar.sessions):
        return None
    return f"RRULE:FREQ=WEEKLY;BYDAY={WEEKDAYS[int(rule['weekday'])]};COUNT={len(webinar.sessions)}"


def google_calendar_url(webinar: Webinar, links: EventLinks) -> str | None:
    """Google's "add event" template (ical-interop.md §2.9): UTC dates, so no `ctz` is needed.

    A series goes as its first session's local time in its zone (`ctz`) plus `recur`, so
    Google keeps the local time across a DST change; None when no single RRULE describes
    it (the page then offers the .ics file, which holds every session)."""
    links = meeting_links(webinar, links)
    recur = None
    if is_series(webinar):
        recur = weekly_rrule(webinar)
        if recur is None:
            return None
        first = webinar.sessions[0]
        start = local(webinar, first.start_at)
        end = start + timedelta(minutes=first.duration_minutes)
        dates = f"{start:%Y%m%dT%H%M%S}/{end:%Y%m%dT%H%M%S}"
    elif webinar.all_day:
        dates = f"{first_day(webinar):%Y%m%d}/{last_day(webinar) + timedelta(days=1):%Y%m%d}"
    else:
        dates = f"{_utc_compact(webinar.start_at)}/{_utc_compact(meeting_end(webinar))}"
    params = {
        "action": "TEMPLATE",
        "text": webinar.title,
        "dates": dates,
        "details": description_text(webinar, links),
        "location": links.join_url or links.page_url,
    }
    if recur is not None:
        params.update(ctz=webinar.timezone, recur=recur)
    return "https://calendar.google.com/calendar/render?" + urlencode(
        params, quote_via=quote, safe="/:")


def outlook_calendar_url(webinar: Webinar, links: EventLinks, *, personal: bool = False
                         ) -> str | None:
    """Outlook's compose deeplink (§2.9); `personal` targets outlook.live.com accounts.

    The body is HTML-ish: line breaks are `<br>`, not newlines. The deeplink has no way to
    say "repeats", so a series gets None: Outlook imports the .ics file with every session.
    """
    if is_series(webinar):
        return None
    host = "outlook.live.com" if personal else "outlook.office.com"
    links = meeting_links(webinar, links)
    params = {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": webinar.title,
        "startdt": _utc_iso(webinar.start_at),
        "enddt": _utc_iso(meeting_end(webinar)),
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
