"""Russian first, English second: choosing the reader's language and locale-aware dates.

The texts themselves are gettext catalogs (`catalogs`, webinars/locale); `gettext` and
`ngettext` are re-exported here for the modules that already import them from this one.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_date

from . import timezones
from .catalogs import N_, gettext, ngettext
from .config import SUPPORTED_LOCALES
from .timezones import abbreviation

__all__ = [
    "N_",
    "before_text",
    "duration_text",
    "format_day",
    "format_days",
    "format_when",
    "format_when_both",
    "gettext",
    "ngettext",
    "pick_locale",
    "zone_label",
]


def _accepted(accept_language: str) -> list[tuple[float, int, str]]:
    """Accept-Language as (-q, position, primary language), best first; q=0 means "not this"."""
    ranked = []
    for position, part in enumerate(accept_language.split(",")[:32]):
        tag, *params = part.strip().split(";")
        quality = 1.0
        for param in params:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if not 0 < quality <= 1:
            continue
        ranked.append((-quality, position, tag.strip().lower().split("-")[0]))
    return sorted(ranked)


def pick_locale(requested: str | None, accept_language: str | None, default: str) -> str:
    """The member's choice (the switcher), else the browser's best supported language by its
    q-values (`en;q=0.1, ru;q=0.9` is Russian), else `default`; `*` means "any": the default."""
    if requested in SUPPORTED_LOCALES:
        return requested
    for _, _, code in _accepted(accept_language or ""):
        if code in SUPPORTED_LOCALES:
            return code
        if code == "*":
            return default
    return default


#: The one date style: «15 декабря 2026 г.», "15 December 2026" (babel's month names).
DATE_PATTERNS = {"ru": "d MMMM y 'г'.", "en": "d MMMM y"}


@lru_cache(maxsize=4096)
def format_day(day: date, locale: str) -> str:
    text: str = format_date(day, DATE_PATTERNS.get(locale, DATE_PATTERNS["en"]), locale=locale)
    return text


def _clock(local: datetime) -> str:
    return f"{local.hour:02d}:{local.minute:02d}"


def format_when(instant: datetime, zone: str, locale: str) -> str:
    """A moment in `zone`: «15 декабря 2026 г., 15:00 МСК», "15 December 2026, 15:00 MSK",
    "15 December 2026, 15:00 UTC+1" (see `timezones` for the abbreviations)."""
    local = instant.astimezone(ZoneInfo(zone))
    return f"{format_day(local.date(), locale)}, {_clock(local)} " \
           f"{abbreviation(zone, instant, locale)}"


def format_when_both(instant: datetime, own_zone: str, reader_zone: str, locale: str) -> str:
    """The moment in the event's own zone with the reader's next to it when they differ:
    «8 декабря 2026 г., 17:00 ЕКБ (15:00 МСК)»; the reader's date too when it differs."""
    own = instant.astimezone(ZoneInfo(own_zone))
    reader = instant.astimezone(ZoneInfo(reader_zone))
    own_abbr = abbreviation(own_zone, instant, locale)
    reader_abbr = abbreviation(reader_zone, instant, locale)
    text = format_when(instant, own_zone, locale)
    if own.utcoffset() == reader.utcoffset() and own_abbr == reader_abbr:
        return text
    other = f"{_clock(reader)} {reader_abbr}"
    if reader.date() != own.date():
        other = f"{format_day(reader.date(), locale)}, {other}"
    return f"{text} ({other})"


def format_days(first: date, last: date, locale: str) -> str:
    """A period of days as people say it: «с 1 по 31 марта 2027 г.», «с 25 марта по 5 апреля
    2027 г.», «с 28 декабря 2026 г. по 10 января 2027 г.»; one day is just that day."""
    if first == last:
        return format_day(first, locale)
    if first.year != last.year:
        start = format_day(first, locale)
    elif first.month != last.month:
        start = format_date(first, "d MMMM", locale=locale)
    else:
        start = str(first.day)
    return gettext(locale, "from {0} to {1}").format(start, format_day(last, locale))


def zone_label(zone: str, locale: str) -> str:
    """«Екатеринбург (ЕКБ, UTC+5)»: the zone by its own city, with its abbreviation."""
    return timezones.zone_label(zone, locale)


def _largest_unit(minutes: int) -> tuple[int, str]:
    if minutes and minutes % (24 * 60) == 0:
        return minutes // (24 * 60), "day"
    if minutes and minutes % 60 == 0:
        return minutes // 60, "hour"
    return minutes, "minute"


def duration_text(minutes: int, locale: str) -> str:
    """«15 минут», «2 часа», «1 день»: the largest whole unit, in the reader's plural form."""
    value, unit = _largest_unit(minutes)
    if unit == "day":
        text = ngettext(locale, "%(num)d day", "%(num)d days", value)
    elif unit == "hour":
        text = ngettext(locale, "%(num)d hour", "%(num)d hours", value)
    else:
        text = ngettext(locale, "%(num)d minute", "%(num)d minutes", value)
    return text % {"num": value}


def before_text(minutes: int, locale: str) -> str:
    """A reminder's offset as people say it: «за 1 день», «за 15 минут», never «1440 мин»."""
    value, unit = _largest_unit(minutes)
    if unit == "day":
        text = ngettext(locale, "%(num)d day before", "%(num)d days before", value)
    elif unit == "hour":
        text = ngettext(locale, "%(num)d hour before", "%(num)d hours before", value)
    else:
        text = ngettext(locale, "%(num)d minute before", "%(num)d minutes before", value)
    return text % {"num": value}
