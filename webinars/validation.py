"""Checking input at the edge. Forms and the JSON API share these rules and messages.

Every check reports `{field: reason}`; nothing is written until all fields pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from integrations.registry import (
    NO_MEETING,
    PASTE_PLATFORMS,
    WEBINAR_PLATFORMS,
    check_pasted_url,
)

from .clock import Clock
from .config import SUPPORTED_LOCALES
from .errors import ValidationFailed
from .models import REGISTRATION_MODES, VISIBILITIES, WEBINAR_KINDS
from .periods import parse_period
from .states import RegistrationMode
from .timezones import is_timezone

EMAIL_RE = re.compile(r"^[^@\s<>\"(),;:]+@[^@\s<>\"(),;:]+\.[^@\s<>\"(),;:]+$")
#: Characters an unquoted local part may not carry (RFC 5322 specials, space, controls).
_NOT_IN_ATOM = set('()<>[]:;@\\,."') | {chr(c) for c in range(0x21)} | {"\x7f"}
MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
MAX_NAME = 200
MAX_EMAIL = 254
MAX_DURATION = 24 * 60
MAX_CAPACITY = 100_000
MAX_REMINDER = 30 * 24 * 60
#: The longest period (a contest, a PR action), in days from the first to the last, inclusive.
MAX_PERIOD_DAYS = 366
DAY_MINUTES = 24 * 60


#: Line breaks and other controls (C0, DEL, C1 such as U+0085, U+2028/2029, bidi overrides):
#: in a name or title they would break headers, calendar lines and page layouts.
_CONTROLS = re.compile("[\x01-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")
#: In longer text, line breaks stay (every kind becomes "\n"); tabs stay; other controls go.
_LINE_BREAKS = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
_TEXT_CONTROLS = re.compile("[\x01-\x08\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]+")


def one_line(value: str) -> str:
    """A name or title as stored: control characters removed, runs of spaces made one."""
    return " ".join(_CONTROLS.sub(" ", value).split())


def clean_text(value: str) -> str:
    """A description as stored: one kind of line break, no other control characters."""
    return _TEXT_CONTROLS.sub("", _LINE_BREAKS.sub("\n", value)).strip()


class Errors(dict[str, str]):
    def check(self) -> None:
        if self:
            raise ValidationFailed(dict(self))


def text(data: Mapping[str, Any], name: str, errors: Errors, *, required: bool,
         max_len: int, min_len: int = 1, multiline: bool = False) -> str | None:
    """A string field, cleaned of control characters (`one_line`, or `clean_text` when
    `multiline`) before its length is checked."""
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors[name] = "is required"
        return None
    if not isinstance(value, str):
        errors[name] = "must be a string"
        return None
    if "\x00" in value:
        errors[name] = "contains a NUL character"
        return None
    value = clean_text(value) if multiline else one_line(value)
    if not value:
        if required:
            errors[name] = "is required"
    elif len(value) > max_len:
        errors[name] = f"must be at most {max_len} characters"
    elif len(value) < min_len:
        errors[name] = f"must be at least {min_len} characters"
    else:
        return value
    return None


def integer(data: Mapping[str, Any], name: str, errors: Errors, *, required: bool,
            minimum: int, maximum: int) -> int | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            errors[name] = "is required"
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        errors[name] = "must be an integer"
        return None
    if isinstance(value, str):
        if not re.fullmatch(r"[+-]?\d{1,9}", value.strip()):
            errors[name] = "must be an integer"
            return None
        value = int(value)
    if value < minimum:
        errors[name] = f"must be at least {minimum}"
    elif value > maximum:
        errors[name] = f"must be at most {maximum}"
    else:
        return value
    return None


def boolean(data: Mapping[str, Any], name: str, errors: Errors, default: bool) -> bool:
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "on", "yes"):
        return True
    if isinstance(value, str) and value.lower() in ("0", "false", "off", "no", ""):
        return False
    errors[name] = "must be true or false"
    return default


def choice(data: Mapping[str, Any], name: str, errors: Errors, options: tuple[str, ...] | list[str],
           default: str | None) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if default is None:
            errors[name] = "is required"
        return default
    if not isinstance(value, str) or value not in options:
        errors[name] = f"must be one of {', '.join(options)}"
        return default
    return value


def timezone(data: Mapping[str, Any], name: str, errors: Errors, default: str | None) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if default is None:
            errors[name] = "is required"
        return default
    if not isinstance(value, str) or not is_timezone(value):
        errors[name] = "is not a known IANA time zone (e.g. Europe/Moscow)"
        return None
    return value


def is_idn_email(text: str) -> bool:
    """An address with a dot-atom local part and a host name (any script, as RFC 6531 allows).

    Quoted local parts and address literals are valid RFC 6531 too, but nobody receives the
    union's mail at them; the document says so and the server refuses them.
    """
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or len(local) > 64:
        return False
    if any(not atom or set(atom) & _NOT_IN_ATOM for atom in local.split(".")):
        return False
    labels = domain.split(".")
    return all(
        0 < len(label) <= 63 and not label.startswith("-") and not label.endswith("-")
        and all(ch.isalnum() or ch == "-" for ch in label)
        for label in labels
    )


def email(data: Mapping[str, Any], name: str, errors: Errors) -> str | None:
    value = text(data, name, errors, required=True, max_len=MAX_EMAIL)
    if value is not None and not (EMAIL_RE.match(value) and is_idn_email(value)):
        errors[name] = "is not an e-mail address"
        return None
    return value


def start_instant(data: Mapping[str, Any], errors: Errors, zone: str | None, clock: Clock,
                  required: bool) -> datetime | None:
    """`start` as ISO 8601; with no offset it is wall time in `zone`. Must lie in the future."""
    value = data.get("start")
    if value is None or value == "":
        if required:
            errors["start"] = "is required"
        return None
    if not isinstance(value, str):
        errors["start"] = "must be an ISO 8601 date and time string"
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        errors["start"] = "must be a date and time such as 2027-03-01T15:00"
        return None
    if parsed.tzinfo is None:
        if zone is None:
            return None  # the zone error is already reported
        parsed, reason = wall_time(parsed, ZoneInfo(zone))
        if reason:
            errors["start"] = reason
            return None
    try:
        instant = parsed.astimezone(UTC)
    except OverflowError:
        errors["start"] = "must be within five years"
        return None
    if instant <= clock.now():
        errors["start"] = "must be in the future"
        return None
    if instant > clock.now() + timedelta(days=5 * 366):
        errors["start"] = "must be within five years"
        return None
    return instant


def wall_time(naive: datetime, zone: ZoneInfo) -> tuple[datetime, str | None]:
    """A wall-clock time in `zone`, or why it names no single instant.

    In a DST gap the time never happens; in an overlap it happens twice. Either way the planner
    must choose (another time, or an explicit UTC offset): shifting it silently would move the
    event by an hour without anyone noticing.
    """
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if first.astimezone(UTC) == second.astimezone(UTC):
        return first, None
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        return first, ("does not exist in this time zone (the clocks go forward then); "
                       "choose another time")
    return first, ("occurs twice in this time zone (the clocks go back then); "
                   "choose another time, or give the time with its UTC offset")


def url(data: Mapping[str, Any], name: str, errors: Errors) -> str | None:
    value = text(data, name, errors, required=False, max_len=500)
    if value is not None and check_pasted_url(value) is not None:
        errors[name] = "must be an https:// link"
        return None
    return value


def reminder_offsets(data: Mapping[str, Any], errors: Errors) -> list[int] | None:
    """Minutes before the start, as a list of integers or a comma-separated string."""
    value = data.get("reminder_offsets")
    if value is None:
        return None
    items: list[Any]
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, list):
        items = value
    else:
        errors["reminder_offsets"] = "must be a list of minutes before the start"
        return None
    result: list[int] = []
    for item in items:
        if isinstance(item, bool) or not (
            isinstance(item, int) or (isinstance(item, str) and item.isdigit())
        ):
            errors["reminder_offsets"] = "must be whole minutes before the start"
            return None
        minutes = int(item)
        if not 1 <= minutes <= MAX_REMINDER:
            errors["reminder_offsets"] = f"each must be between 1 and {MAX_REMINDER} minutes"
            return None
        result.append(minutes)
    if len(result) > 5:
        errors["reminder_offsets"] = "at most 5 reminders"
        return None
    return sorted(set(result), reverse=True)


def calendar_date(data: Mapping[str, Any], name: str, errors: Errors,
                  required: bool) -> date | None:
    """A date as ISO 8601 (2027-03-01)."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            errors[name] = "is required"
        return None
    if not isinstance(value, str):
        errors[name] = "must be a date such as 2027-03-01"
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        errors[name] = "must be a date such as 2027-03-01"
        return None


def day_start(day: date, zone: str) -> datetime:
    """The first moment of `day` in `zone`, in UTC (an all-day event's `start_at`).

    Midnight exists in every zone the tz database has for Russia; where a DST change skips
    it, the zone's first instant of the day is the one after the gap.
    """
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def period_values(data: Mapping[str, Any], errors: Errors, zone: str, clock: Clock,
                  current: tuple[date, date] | None = None) -> dict[str, Any]:
    """An all-day period from `start_date` to `end_date` (inclusive): its `start_at`, its
    whole days as `duration_minutes` (so `calendars.end_at` is the next day's midnight) and
    `end_date`. `current` is the first and last day of the period being edited: a date left
    out keeps its value, and a period that has begun keeps its first day while its end,
    deadline or text change (a running contest is extended, not re-created)."""
    first = calendar_date(data, "start_date", errors, required=current is None)
    last = calendar_date(data, "end_date", errors, required=current is None)
    if current is not None and "start_date" not in errors and "end_date" not in errors:
        first = current[0] if first is None else first
        last = current[1] if last is None else last
    if first is None or last is None:
        return {}
    today = clock.now().astimezone(ZoneInfo(zone)).date()
    if first < today and (current is None or first != current[0]):
        errors["start_date"] = "must not be in the past"
        return {}
    if first > today + timedelta(days=5 * 366):
        errors["start_date"] = "must be within five years"
        return {}
    if last < today and (current is None or last != current[1]):
        errors["end_date"] = "must not be in the past"
        return {}
    if last < first:
        errors["end_date"] = "must not be before the start date"
        return {}
    days = (last - first).days + 1
    if days > MAX_PERIOD_DAYS:
        errors["end_date"] = f"must be at most {MAX_PERIOD_DAYS} days after the start date"
        return {}
    start = day_start(first, zone)
    end = day_start(last + timedelta(days=1), zone)
    return {"start_at": start, "end_date": last,
            "duration_minutes": int((end - start).total_seconds()) // 60}


def deadline_instant(data: Mapping[str, Any], errors: Errors, zone: str) -> datetime | None:
    """`deadline` as ISO 8601; with no offset it is wall time in `zone` (like `start`)."""
    value = data.get("deadline")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors["deadline"] = "must be an ISO 8601 date and time string"
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        errors["deadline"] = "must be a date and time such as 2027-03-25T18:00"
        return None
    if parsed.tzinfo is None:
        parsed, reason = wall_time(parsed, ZoneInfo(zone))
        if reason:
            errors["deadline"] = reason
            return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        errors["deadline"] = "must lie inside the period"
        return None


def check_deadline(values: Mapping[str, Any], errors: Errors) -> None:
    """A deadline lies inside its period (after the first moment, not after the end)."""
    deadline = values.get("deadline_at")
    start, minutes = values.get("start_at"), values.get("duration_minutes")
    if deadline is None or start is None or minutes is None:
        return
    if not start < deadline <= start + timedelta(minutes=minutes):
        errors["deadline"] = "must lie inside the period"


def plan_period(data: Mapping[str, Any], errors: Errors, clock: Clock) -> str | None:
    """A planned item's period: "2027", "2027-Q1" or "2027-03", not over yet and within five
    years; None when absent or empty."""
    value = data.get("plan_period")
    if value is None or value == "":
        return None
    period = parse_period(value) if isinstance(value, str) else None
    if period is None:
        errors["plan_period"] = "must be a year, a quarter or a month: 2027, 2027-Q1 or 2027-03"
        return None
    today = clock.now().date()
    if period.end <= today:
        errors["plan_period"] = "is already over"
        return None
    if period.start.year > today.year + 5:
        errors["plan_period"] = "must be within five years"
        return None
    return period.code


@dataclass
class WebinarInput:
    """Validated values; absent keys in `values` mean "leave as is" (for updates)."""

    values: dict[str, Any] = field(default_factory=dict)


STATIC_PLATFORMS = PASTE_PLATFORMS


#: What places a period: any of them in an update computes its days again (a new zone moves
#: its midnights).
PERIOD_FIELDS = frozenset({"all_day", "start_date", "end_date", "timezone"})


def registration_mode(data: Mapping[str, Any], values: dict[str, Any], errors: Errors,
                      need: bool) -> None:
    """`registration_mode` and the older `registration_open` say one thing: open is any mode
    but closed. Either may be given (both only if they agree); an update with
    `registration_open` alone keeps an approval mode (`scheduling.align_mode`)."""
    is_open = boolean(data, "registration_open", errors, True)
    if "registration_mode" in data:
        mode = choice(data, "registration_mode", errors, REGISTRATION_MODES, "open")
        if "registration_open" in data and is_open != (mode != RegistrationMode.CLOSED):
            errors["registration_open"] = "contradicts registration_mode"
        values["registration_mode"] = mode
        values["registration_open"] = mode != RegistrationMode.CLOSED
    elif "registration_open" in data or need:
        values["registration_open"] = is_open
        if need:
            values["registration_mode"] = "open" if is_open else "closed"


def webinar_input(data: Mapping[str, Any], clock: Clock, *, default_timezone: str,
                  partial: bool, period: tuple[date, date] | None = None) -> WebinarInput:
    """Validate a webinar's fields. `partial` (updates) accepts any subset of them;
    `period` is the first and last day of the all-day period being updated."""
    errors = Errors()
    unknown = set(data) - {
        "title", "description", "kind", "start", "timezone", "duration_minutes", "capacity",
        "registration_open", "registration_mode", "visibility", "platform", "static_url", "static_platform",
        "reminder_offsets", "organization_id", "recording_url", "followup_note", "status",
        "plan_period", "all_day", "start_date", "end_date", "deadline",
    }
    for name in sorted(unknown):
        errors[name] = "is not a known field"
    values: dict[str, Any] = {}
    need = not partial

    def put(name: str, value: Any) -> None:
        if name in data or need:
            values[name] = value

    put("title", text(data, "title", errors, required=need or "title" in data, max_len=MAX_TITLE))
    put("description", text(data, "description", errors, required=False,
                            max_len=MAX_DESCRIPTION, multiline=True) or "")
    put("kind", choice(data, "kind", errors, WEBINAR_KINDS, "webinar"))
    # On updates, pass the webinar's own zone as `default_timezone`: a start without an offset
    # is wall time there unless a new zone comes with it.
    zone = timezone(data, "timezone", errors, default_timezone) if (
        "timezone" in data or need) else None
    if zone is not None:
        put("timezone", zone)
    planned = data.get("status") == "planned"
    all_day = boolean(data, "all_day", errors, period is not None)
    if "all_day" in data or need:
        values["all_day"] = all_day
    if all_day:
        if planned:
            errors["all_day"] = "a planned item has no dates yet: leave it off"
        elif need or not PERIOD_FIELDS.isdisjoint(data):
            values.update(period_values(data, errors, zone or default_timezone, clock,
                                        current=period))
        deadline = deadline_instant(data, errors, zone or default_timezone)
        if "deadline" in data or need:
            values["deadline_at"] = deadline
        check_deadline(values, errors)
    elif "all_day" in data or need:
        values["end_date"] = None
        values["deadline_at"] = None
        if data.get("deadline") not in (None, ""):
            errors["deadline"] = "is only for all-day periods (contests, actions)"
        for name in ("start_date", "end_date"):
            if data.get(name) not in (None, ""):
                errors[name] = "is only for all-day periods (contests, actions)"
    elif "deadline" in data:
        # An update of the deadline alone: the period it must lie in is checked on saving.
        values["deadline_at"] = deadline_instant(data, errors, zone or default_timezone)
    if all_day:
        pass  # the period's dates give the start; `start` is the form's other mode
    elif planned and data.get("start") not in (None, ""):
        errors["start"] = "a planned item has no date yet: leave it empty, or make it scheduled"
    else:
        start = start_instant(data, errors, zone or default_timezone, clock,
                              required=need and not planned)
        if start is not None:
            values["start_at"] = start
    planned_for = plan_period(data, errors, clock)
    if "plan_period" in data or need:
        values["plan_period"] = planned_for
    if "status" in data or need:
        if planned and planned_for is None and "plan_period" not in errors and (
                need or "plan_period" in data):
            errors["plan_period"] = "is required for a planned item"
        elif not planned and planned_for is not None:
            errors["plan_period"] = "is only for planned items (with no date yet)"
    if not all_day:
        put("duration_minutes", integer(data, "duration_minutes", errors, required=need,
                                        minimum=5, maximum=MAX_DURATION))
    if "capacity" in data or need:
        values["capacity"] = integer(data, "capacity", errors, required=False, minimum=1,
                                     maximum=MAX_CAPACITY)
    registration_mode(data, values, errors, need)
    put("visibility", choice(data, "visibility", errors, VISIBILITIES, "public"))
    put("platform", choice(data, "platform", errors, WEBINAR_PLATFORMS,
                           NO_MEETING if all_day else "jitsi"))
    if "static_url" in data:
        static_url = text(data, "static_url", errors, required=False, max_len=500)
        platform_of_link = data.get("static_platform") or "other"
        if static_url is not None:
            if platform_of_link not in PASTE_PLATFORMS:
                errors["static_platform"] = f"must be one of {', '.join(PASTE_PLATFORMS)}"
            else:
                reason = check_pasted_url(static_url, platform_of_link)
                if reason:
                    errors["static_url"] = reason
        values["static_url"] = static_url
    if values.get("platform") == "static" and not values.get("static_url"):
        errors.setdefault("static_url", "is required when the link is pasted by hand")
    offsets = reminder_offsets(data, errors)
    if offsets is not None and all_day and any(m % DAY_MINUTES for m in offsets):
        errors["reminder_offsets"] = "must be whole days before an all-day event"
    elif offsets is not None:
        values["reminder_offsets"] = offsets
    elif all_day and need:
        values["reminder_offsets"] = [DAY_MINUTES]
    if "organization_id" in data or need:
        values["organization_id"] = integer(data, "organization_id", errors, required=need,
                                            minimum=1, maximum=2**31 - 1)
    if "recording_url" in data:
        values["recording_url"] = url(data, "recording_url", errors)
    if "followup_note" in data:
        values["followup_note"] = text(data, "followup_note", errors, required=False,
                                       max_len=MAX_DESCRIPTION, multiline=True)
    if "status" in data or need:
        values["status"] = choice(data, "status", errors, ("draft", "planned", "scheduled"),
                                  "scheduled")
    errors.check()
    return WebinarInput(values)


@dataclass(frozen=True)
class RegistrationInput:
    name: str
    email: str
    locale: str
    timezone: str
    organization_id: int | None


def registration_input(data: Mapping[str, Any], *, default_locale: str,
                       default_timezone: str) -> RegistrationInput:
    errors = Errors()
    unknown = set(data) - {"name", "email", "locale", "timezone", "organization_id"}
    for field_name in sorted(unknown):
        errors[field_name] = "is not a known field"
    name = text(data, "name", errors, required=True, max_len=MAX_NAME)
    address = email(data, "email", errors)
    locale = choice(data, "locale", errors, SUPPORTED_LOCALES, default_locale)
    zone = timezone(data, "timezone", errors, default_timezone)
    org_id = integer(data, "organization_id", errors, required=False, minimum=1,
                     maximum=2**31 - 1)
    errors.check()
    assert name and address and locale and zone
    return RegistrationInput(name, address, locale, zone, org_id)
