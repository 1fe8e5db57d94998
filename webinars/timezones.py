"""IANA zone names: validation and the list offered in forms."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import available_timezones

#: Files in the zone database that are not zones a person lives in: the system's own link to
#: its zone (which differs per machine), a placeholder, and alternative trees of the database.
NOT_ZONES = frozenset({"Factory", "localtime", "posixrules"})
NOT_ZONE_PREFIXES = ("posix/", "right/", "SystemV/")


@lru_cache(maxsize=1)
def iana_zones() -> frozenset[str]:
    """Every zone a planner or member may name: the IANA database, without its odd files."""
    return frozenset(z for z in available_timezones()
                     if z not in NOT_ZONES and not z.startswith(NOT_ZONE_PREFIXES))


def is_timezone(name: str) -> bool:
    return name in iana_zones()


@lru_cache(maxsize=1)
def common_timezones() -> list[str]:
    """Zones offered in forms: the Russian ones first, then every other by name."""
    russian = [
        "Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg",
        "Asia/Omsk", "Asia/Krasnoyarsk", "Asia/Novosibirsk", "Asia/Irkutsk", "Asia/Yakutsk",
        "Asia/Vladivostok", "Asia/Magadan", "Asia/Kamchatka",
    ]
    rest = sorted(z for z in iana_zones() if "/" in z and z not in russian
                  and not z.startswith("Etc/"))
    return russian + ["UTC"] + rest
