"""The string formats the OpenAPI document names, checked as JSON Schema validators check them.

Clients and test tools read `format: date-time` as RFC 3339 and `idn-email` as RFC 6531, so the
server accepts exactly those grammars where the document names them (no narrower, or valid
values would be refused; no wider, or invalid ones would pass) and then turns the text into
something `datetime.fromisoformat` reads: RFC 3339 allows a lower-case `t`/`z`, any number of
fractional digits and a leap second, which Python does not.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Callable

from ..validation import is_idn_email

_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))")


def _valid_day(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12:
        return False
    # The year 0000 is valid RFC 3339 (proleptic Gregorian, a leap year); Python has no year 0.
    days = 29 if year == 0 and month == 2 else monthrange(year or 2000, month)[1]
    return 1 <= day <= days


def is_date(text: str) -> bool:
    """RFC 3339 full-date."""
    match = _DATE.fullmatch(text)
    return match is not None and _valid_day(*(int(g) for g in match.groups()))


def is_date_time(text: str) -> bool:
    """RFC 3339 date-time; a leap second only where it can fall, at 23:59:60 UTC."""
    match = _DATE_TIME.fullmatch(text)
    if not match:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    sign, off_h, off_m = match.group(8), match.group(9), match.group(10)
    offset = 0
    if sign:
        if int(off_h) > 23 or int(off_m) > 59:
            return False
        offset = (int(off_h) * 60 + int(off_m)) * (1 if sign == "+" else -1)
    if not _valid_day(year, month, day) or hour > 23 or minute > 59 or second > 60:
        return False
    return second < 60 or (hour * 60 + minute - offset) % (24 * 60) == 23 * 60 + 59


CHECKERS: dict[str, Callable[[str], bool]] = {
    "date": is_date,
    "date-time": is_date_time,
    "idn-email": is_idn_email,
}
REASONS = {
    "date": "must be a date such as 2027-03-01",
    "date-time": "must be a date and time such as 2027-03-01T15:00 or 2027-03-01T12:00:00Z",
    "idn-email": "is not an e-mail address",
}


def to_python(text: str) -> str | None:
    """An RFC 3339 or ISO 8601 date or date-time in a form `fromisoformat` reads.

    None for the year 0000, which is before anything Python can hold; callers decide what
    that means (a start in the past, a filter that includes everything).
    """
    if text.startswith("0000"):
        return None
    match = _DATE_TIME.fullmatch(text)
    if not match:
        return text
    second, fraction = match.group(6), (match.group(7) or "")[:7]  # at most microseconds
    if second == "60":  # a leap second: the last instant of that minute Python can hold
        second, fraction = "59", ".999999"
    end = match.end(7) if match.group(7) else match.end(6)
    return (text[:match.start(6)] + second + fraction + text[end:]).upper()
