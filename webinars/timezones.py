"""IANA zone names: validation, the names people recognise, and the list offered in forms.

Russian zones are named by their own city in the reader's language and abbreviated by the
offset group Russians write (convention: one abbreviation per whole-hour offset, the name of
the group's best-known city — КЛД/KALT UTC+2, МСК/MSK UTC+3, САМ/SAMT UTC+4, ЕКБ/YEKT UTC+5,
ОМС/OMST UTC+6, КРАС/KRAT UTC+7, ИРК/IRKT UTC+8, ЯКТ/YAKT UTC+9, ВЛД/VLAT UTC+10,
МАГ/MAGT UTC+11, ПКТ/PETT UTC+12). So Asia/Novosibirsk is «Новосибирск», abbreviated КРАС
because it keeps Krasnoyarsk time. Every other zone is "UTC+5" style ("UTC+5:30", "UTC").

Validation accepts any IANA name, aliases included; only the pickers hide aliases, offering the
canonical names of the zone database's zone.tab (one line per zone a country uses).
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

from babel.dates import get_timezone_location

#: Files in the zone database that are not zones a person lives in: the system's own link to
#: its zone (which differs per machine), a placeholder, and alternative trees of the database.
NOT_ZONES = frozenset({"Factory", "localtime", "posixrules"})
NOT_ZONE_PREFIXES = ("posix/", "right/", "SystemV/")

#: Every zone Russia uses (zone.tab, country RU), by its own city: (Russian, English).
RUSSIAN_CITIES: dict[str, tuple[str, str]] = {
    "Europe/Kaliningrad": ("Калининград", "Kaliningrad"),
    "Europe/Moscow": ("Москва", "Moscow"),
    "Europe/Kirov": ("Киров", "Kirov"),
    "Europe/Volgograd": ("Волгоград", "Volgograd"),
    "Europe/Astrakhan": ("Астрахань", "Astrakhan"),
    "Europe/Saratov": ("Саратов", "Saratov"),
    "Europe/Ulyanovsk": ("Ульяновск", "Ulyanovsk"),
    "Europe/Samara": ("Самара", "Samara"),
    "Asia/Yekaterinburg": ("Екатеринбург", "Yekaterinburg"),
    "Asia/Omsk": ("Омск", "Omsk"),
    "Asia/Novosibirsk": ("Новосибирск", "Novosibirsk"),
    "Asia/Barnaul": ("Барнаул", "Barnaul"),
    "Asia/Tomsk": ("Томск", "Tomsk"),
    "Asia/Novokuznetsk": ("Новокузнецк", "Novokuznetsk"),
    "Asia/Krasnoyarsk": ("Красноярск", "Krasnoyarsk"),
    "Asia/Irkutsk": ("Иркутск", "Irkutsk"),
    "Asia/Chita": ("Чита", "Chita"),
    "Asia/Yakutsk": ("Якутск", "Yakutsk"),
    "Asia/Khandyga": ("Хандыга", "Khandyga"),
    "Asia/Vladivostok": ("Владивосток", "Vladivostok"),
    "Asia/Ust-Nera": ("Усть-Нера", "Ust-Nera"),
    "Asia/Magadan": ("Магадан", "Magadan"),
    "Asia/Sakhalin": ("Южно-Сахалинск", "Yuzhno-Sakhalinsk"),
    "Asia/Srednekolymsk": ("Среднеколымск", "Srednekolymsk"),
    "Asia/Kamchatka": ("Петропавловск-Камчатский", "Petropavlovsk-Kamchatsky"),
    "Asia/Anadyr": ("Анадырь", "Anadyr"),
}

#: The offset groups, by whole hours east of UTC: (Russian, English) abbreviation.
RUSSIAN_ABBREVIATIONS: dict[int, tuple[str, str]] = {
    2: ("КЛД", "KALT"), 3: ("МСК", "MSK"), 4: ("САМ", "SAMT"), 5: ("ЕКБ", "YEKT"),
    6: ("ОМС", "OMST"), 7: ("КРАС", "KRAT"), 8: ("ИРК", "IRKT"), 9: ("ЯКТ", "YAKT"),
    10: ("ВЛД", "VLAT"), 11: ("МАГ", "MAGT"), 12: ("ПКТ", "PETT"),
}

#: Picker groups: the first part of a zone name, in the reader's language.
REGIONS: dict[str, tuple[str, str]] = {
    "Europe": ("Европа", "Europe"), "Asia": ("Азия", "Asia"), "Africa": ("Африка", "Africa"),
    "America": ("Америка", "America"), "Antarctica": ("Антарктида", "Antarctica"),
    "Arctic": ("Арктика", "Arctic"), "Atlantic": ("Атлантический океан", "Atlantic Ocean"),
    "Australia": ("Австралия", "Australia"), "Indian": ("Индийский океан", "Indian Ocean"),
    "Pacific": ("Тихий океан", "Pacific Ocean"),
}
RUSSIA = ("Россия", "Russia")
#: The city each offset group is known by: first in its group in the picker.
GROUP_CITIES = frozenset({
    "Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
    "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok", "Asia/Magadan",
    "Asia/Kamchatka"})
OTHER = ("Другое", "Other")

#: One option group of a picker: its label and (zone, label) options.
Group = tuple[str, tuple[tuple[str, str], ...]]


def _pick(pair: tuple[str, str], locale: str) -> str:
    return pair[0] if locale == "ru" else pair[1]


@lru_cache(maxsize=1)
def iana_zones() -> frozenset[str]:
    """Every zone a planner or member may name: the IANA database, without its odd files."""
    return frozenset(z for z in available_timezones()
                     if z not in NOT_ZONES and not z.startswith(NOT_ZONE_PREFIXES))


def is_timezone(name: str) -> bool:
    return name in iana_zones()


def _zone_tab() -> str:
    """zone.tab from the database zoneinfo reads (the system's, else the tzdata package)."""
    for folder in zoneinfo.TZPATH:
        path = Path(folder) / "zone.tab"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return (resources.files("tzdata") / "zoneinfo" / "zone.tab").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def canonical_zones() -> frozenset[str]:
    """Zone names without backward-compatibility aliases (no US/..., Asia/Katmandu, Etc/...)."""
    names = {line.split("\t")[2] for line in _zone_tab().splitlines()
             if line and not line.startswith("#")}
    return frozenset(z for z in names | {"UTC"} if z in iana_zones())


@lru_cache(maxsize=1)
def common_timezones() -> list[str]:
    """Zones offered in forms, in picker order: Russia's by offset, then the rest by name."""
    return [zone for _, options in zone_choices("en") for zone, _ in options]


def offset_text(seconds: int) -> str:
    """"UTC", "UTC+5", "UTC+5:30", "UTC-3"."""
    if seconds == 0:
        return "UTC"
    sign = "+" if seconds > 0 else "-"
    hours, rest = divmod(abs(seconds) // 60, 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def _offset(zone: str, instant: datetime) -> int:
    delta = instant.astimezone(ZoneInfo(zone)).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


@lru_cache(maxsize=64)
def _russian_offset(zone: str) -> int | None:
    """A Russian zone's offset today (Russia keeps no summer time); None for any other zone."""
    if zone not in RUSSIAN_CITIES or not is_timezone(zone):
        return None
    return _offset(zone, datetime.now(UTC))


@lru_cache(maxsize=2048)
def _abbreviation(zone: str, seconds: int, locale: str) -> str:
    if _russian_offset(zone) == seconds and seconds % 3600 == 0:
        pair = RUSSIAN_ABBREVIATIONS.get(seconds // 3600)
        if pair is not None:
            return _pick(pair, locale)
    return offset_text(seconds)


def abbreviation(zone: str, instant: datetime, locale: str) -> str:
    """МСК, ЕКБ... for a Russian zone at its offset of today, else "UTC+5" style."""
    return _abbreviation(zone, _offset(zone, instant), locale)


@lru_cache(maxsize=2048)
def city_name(zone: str, locale: str) -> str:
    """The zone's own city in the reader's language; never a "region unknown" text."""
    if zone in RUSSIAN_CITIES:
        return _pick(RUSSIAN_CITIES[zone], locale)
    if zone in ("UTC", "Etc/UTC", "Etc/GMT", "GMT", "UCT", "Etc/UCT", "Zulu", "Etc/Zulu"):
        return "UTC"
    fallback = zone.rsplit("/", 1)[-1].replace("_", " ")
    if "/" not in zone or zone.startswith("Etc/"):
        return zone
    try:
        city = get_timezone_location(zone, locale=locale, return_city=True)
    except (LookupError, ValueError):
        return fallback
    return city if isinstance(city, str) and city else fallback


@lru_cache(maxsize=2048)
def _label(zone: str, locale: str, seconds: int) -> str:
    city = city_name(zone, locale)
    abbr = _abbreviation(zone, seconds, locale)
    offset = offset_text(seconds)
    if city == "UTC" and seconds == 0:
        return "UTC"
    inside = offset if abbr == offset else f"{abbr}, {offset}"
    return f"{city} ({inside})"


def zone_label(zone: str, locale: str, instant: datetime | None = None) -> str:
    """«Екатеринбург (ЕКБ, UTC+5)», «Берлин (UTC+1)», "UTC": at `instant`, else now."""
    if not is_timezone(zone):
        return zone
    return _label(zone, locale, _offset(zone, instant or datetime.now(UTC)))


def zone_choices(locale: str) -> tuple[Group, ...]:
    """The picker: Russian zones first, then the world by region; built once per day/locale
    (the offsets in the labels follow summer time)."""
    return _zone_choices(locale, datetime.now(UTC).date())


@lru_cache(maxsize=8)
def _zone_choices(locale: str, day: date) -> tuple[Group, ...]:
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    zones = canonical_zones()
    russian = sorted((z for z in RUSSIAN_CITIES if z in zones or is_timezone(z)),
                     key=lambda z: (_offset(z, noon), z not in GROUP_CITIES, city_name(z, locale)))
    groups: list[Group] = [(_pick(RUSSIA, locale),
                            tuple((z, zone_label(z, locale, noon)) for z in russian))]
    by_region: dict[str, list[str]] = {}
    for zone in zones - set(russian) - {"UTC"}:
        by_region.setdefault(zone.split("/", 1)[0], []).append(zone)
    for region in sorted(by_region, key=lambda r: _pick(REGIONS.get(r, (r, r)), locale)):
        options = sorted(((z, zone_label(z, locale, noon)) for z in by_region[region]),
                         key=lambda option: (option[1].casefold(), option[0]))
        groups.append((_pick(REGIONS.get(region, (region, region)), locale), tuple(options)))
    groups.append((_pick(OTHER, locale), (("UTC", "UTC"),)))
    return tuple(groups)
