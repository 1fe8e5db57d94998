"""IANA zone names: validation and the list offered in forms."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


def is_timezone(name: str) -> bool:
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@lru_cache(maxsize=1)
def common_timezones() -> list[str]:
    """Zones offered in forms: the Russian ones first, then every other by name."""
    russian = [
        "Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg",
        "Asia/Omsk", "Asia/Krasnoyarsk", "Asia/Novosibirsk", "Asia/Irkutsk", "Asia/Yakutsk",
        "Asia/Vladivostok", "Asia/Magadan", "Asia/Kamchatka",
    ]
    rest = sorted(z for z in available_timezones() if "/" in z and z not in russian
                  and not z.startswith(("Etc/", "SystemV/", "posix/", "right/")))
    return russian + ["UTC"] + rest
