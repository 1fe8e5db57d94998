"""Periods of a yearly plan: a year ("2027"), a quarter ("2027-Q1") or a month ("2027-03").

An indicative (`planned`) item is meant to happen within one of them before anyone fixes a
date; the plan page shows a window of the same shapes. Dates only: a period is a span of
calendar days, the same in every zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date

from .i18n import gettext

PERIOD_RE = re.compile(r"^(\d{4})(?:-Q([1-4])|-(0[1-9]|1[0-2]))?$")
ROMAN = ("", "I", "II", "III", "IV")


@dataclass(frozen=True, order=True)
class Period:
    """[start, end) in days; `kind` is "year", "quarter" or "month"."""

    start: date
    end: date
    kind: str

    @property
    def year(self) -> int:
        return self.start.year

    @property
    def quarter(self) -> int:
        return (self.start.month - 1) // 3 + 1

    @property
    def code(self) -> str:
        if self.kind == "year":
            return f"{self.year}"
        if self.kind == "quarter":
            return f"{self.year}-Q{self.quarter}"
        return f"{self.year}-{self.start.month:02d}"

    def overlaps(self, other: Period) -> bool:
        return self.start < other.end and other.start < self.end

    def first_moment(self, zone: str) -> datetime:
        """The period's first instant in `zone`, in UTC (a planned item's `start_at`)."""
        return datetime(self.start.year, self.start.month, 1,
                        tzinfo=ZoneInfo(zone)).astimezone(UTC)

    def label(self, locale: str) -> str:
        """«в течение 2027 года», «I квартал 2027», «март 2027»."""
        if self.kind == "year":
            return gettext(locale, "during {0}").format(self.year)
        if self.kind == "quarter":
            return gettext(locale, "Q{0} {1}").format(self.quarter, self.year,
                                                      ROMAN[self.quarter])
        return format_date(self.start, "LLLL y", locale=locale)

    def planned_note(self, locale: str) -> str:
        """What a planned item's page says instead of a date."""
        key = "Planned {0}" if self.kind == "year" else "Planned for {0}"
        return gettext(locale, key).format(self.label(locale))

    def previous(self) -> Period:
        return period_of(self.kind, _shift(self.start, -months(self.kind)))

    def next(self) -> Period:
        return period_of(self.kind, self.end)


def months(kind: str) -> int:
    return {"year": 12, "quarter": 3, "month": 1}[kind]


def _shift(day: date, by: int) -> date:
    index = day.year * 12 + day.month - 1 + by
    return date(index // 12, index % 12 + 1, 1)


def period_of(kind: str, day: date) -> Period:
    """The period of `kind` that holds `day`."""
    if kind == "year":
        start = date(day.year, 1, 1)
    elif kind == "quarter":
        start = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    else:
        start = date(day.year, day.month, 1)
    return Period(start, _shift(start, months(kind)), kind)


def parse_period(text: str) -> Period | None:
    """"2027", "2027-Q1" or "2027-03", or None when it is none of them."""
    match = PERIOD_RE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    year = int(match.group(1))
    if not 1900 <= year <= 9000:
        return None
    if match.group(2):
        return period_of("quarter", date(year, (int(match.group(2)) - 1) * 3 + 1, 1))
    if match.group(3):
        return period_of("month", date(year, int(match.group(3)), 1))
    return period_of("year", date(year, 1, 1))
