"""Courses and recurring series: one webinar, one registration, several sessions.

A series is a rule on the webinar (`Webinar.series_rule`): weekly ("Tuesdays 15:00, six
weeks") or an explicit list of local start times, always in the webinar's own zone, so a
series across a DST change keeps its local time. Each session is a row (`WebinarSession`):
where the rule put it (`original_start`, its RECURRENCE-ID in calendars) and where it is now.
One session can be moved or cancelled on its own; the series' `start_at` is its first
session still held. A seat is a seat in every session: registrations do not change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from . import events
from .clock import Clock
from .errors import Conflict, NotFound, ValidationFailed
from .models import Account, Webinar, WebinarSession
from .scheduling import get_managed_webinar, touch_plans
from .states import EventKind, SessionStatus, WebinarStatus
from .validation import Errors

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
MIN_SESSIONS = 2
MAX_SESSIONS = 60
#: How far ahead a session may be planned (as a single webinar's start).
HORIZON = timedelta(days=5 * 366)
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]([01]\d|2[0-3]):[0-5]\d$")


def is_series(webinar: Webinar) -> bool:
    return webinar.series_rule is not None and bool(webinar.sessions)


def parse_local(text: Any) -> datetime | None:
    """"2027-01-12T15:00" (a local time, no zone) or None."""
    if not isinstance(text, str) or not _LOCAL.match(text.strip()):
        return None
    try:
        return datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError:
        return None


def to_utc(local: datetime, zone: str) -> datetime | None:
    """A wall-clock time in `zone` as UTC; None when the clock skips it (a DST gap)."""
    aware = local.replace(tzinfo=ZoneInfo(zone))
    instant = aware.astimezone(UTC)
    if instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None) != local:
        return None
    return instant


def to_local(instant: datetime, zone: str) -> datetime:
    return instant.astimezone(ZoneInfo(zone))


def parse_rule(data: Any, zone: str, *, prefix: str = "") -> dict[str, Any]:
    """A rule from the edge (form or API), normalised; errors name the offending field
    (`prefix` + its name: "weekday" in the API, "series_weekday" in the form)."""
    field = prefix.rstrip("._") or "series"
    errors = Errors()
    if not isinstance(data, Mapping):
        raise ValidationFailed({field: "must be an object with kind weekly or dates"})
    kind = data.get("kind")
    rule: dict[str, Any]
    if kind == "weekly":
        weekday = data.get("weekday")
        if isinstance(weekday, str) and weekday.upper() in WEEKDAYS:
            weekday = WEEKDAYS.index(weekday.upper())
        if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
            errors[f"{prefix}weekday"] = "must be a weekday: 0 (Monday) to 6 (Sunday) or MO..SU"
        time = data.get("time")
        if not isinstance(time, str) or not _TIME.match(time.strip()):
            errors[f"{prefix}time"] = "must be a local time HH:MM"
        count = data.get("count")
        if isinstance(count, str) and count.strip().isdigit():
            count = int(count.strip())
        if not isinstance(count, int) or isinstance(count, bool) or not (
                MIN_SESSIONS <= count <= MAX_SESSIONS):
            errors[f"{prefix}count"] = f"must be a number from {MIN_SESSIONS} to {MAX_SESSIONS}"
        start = data.get("from")
        try:
            first = date.fromisoformat(start.strip()) if isinstance(start, str) else None
        except ValueError:
            first = None
        if first is None or not 1900 <= first.year <= 9000:
            errors[f"{prefix}from"] = "must be a date YYYY-MM-DD"
        errors.check()
        assert first is not None and isinstance(weekday, int) and isinstance(time, str)
        first += timedelta(days=(weekday - first.weekday()) % 7)
        rule = {"kind": "weekly", "weekday": weekday, "time": time.strip(), "count": count,
                "from": first.isoformat()}
    elif kind == "dates":
        starts = data.get("starts")
        if isinstance(starts, str):
            starts = [line for line in re.split(r"[\s,;]+", starts) if line]
        if not isinstance(starts, list):
            raise ValidationFailed({f"{prefix}starts": "must be a list of local times"})
        parsed: list[datetime] = []
        for i, text in enumerate(starts):
            local = parse_local(text)
            if local is None or not 1900 <= local.year <= 9000:
                errors[f"{prefix}starts"] = f"item {i + 1} is not a local time YYYY-MM-DDTHH:MM"
                break
            parsed.append(local)
        errors.check()
        if not MIN_SESSIONS <= len(set(parsed)) <= MAX_SESSIONS:
            raise ValidationFailed({f"{prefix}starts": f"must list {MIN_SESSIONS} to "
                                                       f"{MAX_SESSIONS} different times"})
        rule = {"kind": "dates",
                "starts": [d.strftime("%Y-%m-%dT%H:%M") for d in sorted(set(parsed))]}
    else:
        raise ValidationFailed({f"{prefix}kind": "must be weekly or dates"})
    for local in local_starts(rule):
        if to_utc(local, zone) is None:
            raise ValidationFailed({field: f"{local:%Y-%m-%d %H:%M} does not exist in "
                                           f"{zone} (the clocks skip it)"})
    return rule


def local_starts(rule: Mapping[str, Any]) -> list[datetime]:
    """The wall-clock starts the rule gives, in order."""
    if rule["kind"] == "weekly":
        first = date.fromisoformat(rule["from"])
        hour, minute = (int(x) for x in rule["time"].split(":"))
        return [datetime(first.year, first.month, first.day, hour, minute) + timedelta(weeks=i)
                for i in range(int(rule["count"]))]
    return [datetime.fromisoformat(text) for text in rule["starts"]]


def held(webinar: Webinar) -> list[WebinarSession]:
    return [s for s in webinar.sessions if s.status == SessionStatus.SCHEDULED]


def first_start(webinar: Webinar) -> datetime:
    """The series' own start: its first session still held (the first one if none is)."""
    sessions = held(webinar) or list(webinar.sessions)
    return min(s.start_at for s in sessions) if sessions else webinar.start_at


def end_of(session: WebinarSession) -> datetime:
    return session.start_at + timedelta(minutes=session.duration_minutes)


def ends_at(webinar: Webinar) -> datetime:
    """When the whole event is over: the end of its last session, or of its one meeting."""
    if is_series(webinar):
        sessions = held(webinar) or list(webinar.sessions)
        return max(end_of(s) for s in sessions)
    return webinar.start_at + timedelta(minutes=webinar.duration_minutes)


def snapshot(webinar: Webinar) -> list[dict[str, Any]]:
    """The sessions as an event records them (plain values)."""
    return [{"position": s.position, "start_at": s.start_at.isoformat(),
             "status": s.status} for s in webinar.sessions]


async def _changed(session: Any, clock: Clock, account: Account, webinar: Webinar,
                   before: dict[str, Any], *, session_position: int | None = None) -> None:
    now = clock.now()
    after = {"series_rule": webinar.series_rule, "sessions": snapshot(webinar),
             "start_at": webinar.start_at}
    changed = events.changes(before, after)
    if not changed:
        return
    webinar.sequence += 1
    webinar.updated_at = now
    await touch_plans(session, [webinar.organization_id], now)
    await session.flush()
    data: dict[str, Any] = {"changed": changed}
    if session_position is not None:
        data["session"] = session_position
    events.record(session, EventKind.WEBINAR_CHANGED, now, webinar=webinar,
                  actor_id=account.id, data=data)


def _before(webinar: Webinar) -> dict[str, Any]:
    return {"series_rule": webinar.series_rule, "sessions": snapshot(webinar),
            "start_at": webinar.start_at}


async def _editable(session: Any, account: Account, webinar_id: int) -> Webinar:
    webinar = await get_managed_webinar(session, account, webinar_id, lock=True)
    if webinar.status == WebinarStatus.CANCELLED:
        raise Conflict("a cancelled webinar cannot be changed", "cancelled")
    if webinar.all_day:
        raise Conflict("a period (an all-day event) cannot be a series", "all_day")
    if webinar.status == WebinarStatus.PLANNED:
        raise Conflict("an indicative item gets its sessions once it is given a date",
                       "planned")
    return webinar


async def set_series(session: Any, clock: Clock, account: Account, webinar_id: int,
                     data: Any, *, prefix: str = "") -> Webinar:
    """Make the webinar a series by `data` (or change its rule): its sessions are made anew,
    each `duration_minutes` long, and its start is the first of them."""
    webinar = await _editable(session, account, webinar_id)
    rule = parse_rule(data, webinar.timezone, prefix=prefix)
    if rule == webinar.series_rule:
        return webinar
    starts = [to_utc(local, webinar.timezone) for local in local_starts(rule)]
    now = clock.now()
    where = f"{prefix}{'from' if rule['kind'] == 'weekly' else 'starts'}"
    if any(start is None or start <= now for start in starts):
        raise ValidationFailed({where: "every session must be in the future"})
    if any(start is not None and start > now + HORIZON for start in starts):
        raise ValidationFailed({where: "every session must be within five years"})
    before = _before(webinar)
    webinar.sessions.clear()
    await session.flush()
    for position, local in enumerate(local_starts(rule)):
        start = to_utc(local, webinar.timezone)
        assert start is not None  # parse_rule refused times the clock skips
        webinar.sessions.append(WebinarSession(
            position=position, start_at=start, original_start=start,
            duration_minutes=webinar.duration_minutes, status=SessionStatus.SCHEDULED))
    webinar.series_rule = rule
    webinar.start_at = first_start(webinar)
    await _changed(session, clock, account, webinar, before)
    return webinar


def session_at(webinar: Webinar, position: int) -> WebinarSession:
    """The session at `position` (from 0); 404 when the webinar has none there."""
    if webinar.series_rule is not None:
        for item in webinar.sessions:
            if item.position == position:
                return item
    raise NotFound("no such session in this webinar")


async def move_session(session: Any, clock: Clock, account: Account, webinar_id: int,
                       position: int, start: Any, duration_minutes: Any = None) -> Webinar:
    """Move one session to a new local start (in the webinar's zone)."""
    webinar = await _editable(session, account, webinar_id)
    item = session_at(webinar, position)
    errors = Errors()
    local = parse_local(start)
    if local is None and isinstance(start, str):
        try:  # an instant with its offset (the API's RFC 3339 form)
            given = datetime.fromisoformat(start.strip())
        except ValueError:
            given = None
        if given is not None and given.tzinfo is not None and 1900 <= given.year <= 9000:
            local = given.astimezone(ZoneInfo(webinar.timezone)).replace(tzinfo=None)
        elif given is not None and 1900 <= given.year <= 9000:
            local = given
    instant = None if local is None else to_utc(local, webinar.timezone)
    if local is None:
        errors["start"] = "must be a local time YYYY-MM-DDTHH:MM"
    elif instant is None:
        errors["start"] = f"does not exist in {webinar.timezone} (the clocks skip it)"
    elif instant <= clock.now():
        errors["start"] = "must be in the future"
    elif instant > clock.now() + HORIZON:
        errors["start"] = "must be within five years"
    duration = item.duration_minutes
    if duration_minutes not in (None, ""):
        try:
            duration = int(duration_minutes)
        except (TypeError, ValueError):
            duration = 0
        if not 5 <= duration <= 24 * 60:
            errors["duration_minutes"] = "must be from 5 to 1440 minutes"
    errors.check()
    if item.status == SessionStatus.CANCELLED:
        raise Conflict("this session is cancelled", "session_cancelled")
    assert instant is not None
    before = _before(webinar)
    item.start_at = instant
    item.duration_minutes = duration
    webinar.start_at = first_start(webinar)
    await _changed(session, clock, account, webinar, before, session_position=position)
    return webinar


async def cancel_session(session: Any, clock: Clock, account: Account, webinar_id: int,
                         position: int) -> Webinar:
    """Cancel one session; the others stay. Cancelling it twice changes nothing."""
    webinar = await _editable(session, account, webinar_id)
    item = session_at(webinar, position)
    if item.status == SessionStatus.CANCELLED:
        return webinar
    if len(held(webinar)) <= 1:
        raise Conflict("the last session left cannot be cancelled; cancel the webinar "
                       "instead", "last_session")
    before = _before(webinar)
    item.status = SessionStatus.CANCELLED
    webinar.start_at = first_start(webinar)
    await _changed(session, clock, account, webinar, before, session_position=position)
    return webinar


@dataclass(frozen=True)
class Completion:
    """One member's attendance of a series: which sessions they joined, by a join click or
    as the platform reported them (`attended` is either)."""

    registration_id: int
    attended: frozenset[int]  # session positions
    total: int
    clicked: frozenset[int] = frozenset()
    platform: frozenset[int] = frozenset()


#: A join click (or a platform's "joined") this long before a session's start counts for it.
EARLY_JOIN = timedelta(minutes=30)
#: A platform's visit: (registration id, joined at, left at or None while still there).
Visit = tuple[int, datetime, datetime | None]


def sessions_during(sessions: Sequence[WebinarSession], start: datetime,
                    end: datetime | None = None) -> frozenset[int]:
    """The one rule for what belongs to which session: the held sessions (by position) whose
    window [start - 30 min, end) holds an instant (a click, a join with no leave) or that a
    visit [start, end) overlaps. An instant counts once, for the earliest window holding it
    (a click before the next session's early window opens belongs to the one running); a
    visit counts for every session it spans."""
    windows = sorted((s.start_at - EARLY_JOIN, end_of(s), s.position)
                      for s in sessions if s.status == SessionStatus.SCHEDULED)
    if end is None or end <= start:
        return frozenset(next(([p] for a, b, p in windows if a <= start < b), []))
    return frozenset(p for a, b, p in windows if start < b and end > a)


def session_of_click(sessions: Sequence[WebinarSession], at: datetime) -> int | None:
    """The held session whose window [start - 30 min, end) holds a click, by position."""
    return next(iter(sessions_during(sessions, at)), None)


def completion(sessions: Sequence[WebinarSession], clicks: Iterable[tuple[int, datetime]],
               visits: Iterable[Visit] = ()) -> dict[int, Completion]:
    """Per registration: the sessions joined (by join clicks and by the platform's visits),
    of those held. Every registration with a click or a visit has an entry."""
    total = sum(1 for s in sessions if s.status == SessionStatus.SCHEDULED)
    clicked: dict[int, set[int]] = {}
    platform: dict[int, set[int]] = {}
    for registration_id, at in clicks:
        clicked.setdefault(registration_id, set()).update(sessions_during(sessions, at))
    for registration_id, joined, left in visits:
        platform.setdefault(registration_id, set()).update(
            sessions_during(sessions, joined, left))
    return {rid: Completion(rid, frozenset(clicked.get(rid, set()) | platform.get(rid, set())),
                            total, frozenset(clicked.get(rid, set())),
                            frozenset(platform.get(rid, set())))
            for rid in clicked.keys() | platform.keys()}
