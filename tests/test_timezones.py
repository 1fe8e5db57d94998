"""Time zones people recognise: one date style, Russian zones by city and abbreviation, the
event's own zone next to the reader's, and pickers without aliases (issue 10, item 3)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import FixedClock
from webinars.i18n import format_when, format_when_both
from webinars.queue import InProcessQueue
from webinars.timezones import (
    canonical_zones,
    common_timezones,
    is_timezone,
    zone_choices,
    zone_label,
)

from .factories import make_webinar
from .test_public_pages import START, make_world, open_webinar, publish

#: 15 December 2026, 12:00 UTC.
MOMENT = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)

#: The eleven Russian zones: IANA name, city (ru, en), and the whole-hour offset Russia keeps.
ELEVEN = [
    ("Europe/Kaliningrad", "Калининград", "Kaliningrad", 2),
    ("Europe/Moscow", "Москва", "Moscow", 3),
    ("Europe/Samara", "Самара", "Samara", 4),
    ("Asia/Yekaterinburg", "Екатеринбург", "Yekaterinburg", 5),
    ("Asia/Omsk", "Омск", "Omsk", 6),
    ("Asia/Krasnoyarsk", "Красноярск", "Krasnoyarsk", 7),
    ("Asia/Irkutsk", "Иркутск", "Irkutsk", 8),
    ("Asia/Yakutsk", "Якутск", "Yakutsk", 9),
    ("Asia/Vladivostok", "Владивосток", "Vladivostok", 10),
    ("Asia/Magadan", "Магадан", "Magadan", 11),
    ("Asia/Kamchatka", "Петропавловск-Камчатский", "Petropavlovsk-Kamchatsky", 12),
]
#: The documented convention, by offset from Moscow (МСК-1 … МСК+9).
ABBREVIATIONS = {-1: ("КЛД", "KALT"), 0: ("МСК", "MSK"), 1: ("САМ", "SAMT"),
                 2: ("ЕКБ", "YEKT"), 3: ("ОМС", "OMST"), 4: ("КРАС", "KRAT"),
                 5: ("ИРК", "IRKT"), 6: ("ЯКТ", "YAKT"), 7: ("ВЛД", "VLAT"),
                 8: ("МАГ", "MAGT"), 9: ("ПКТ", "PETT")}


def moscow_offset(zone: str) -> int:
    """Hours ahead of Moscow, from the zone database itself."""
    here = MOMENT.astimezone(ZoneInfo(zone)).utcoffset()
    moscow = MOMENT.astimezone(ZoneInfo("Europe/Moscow")).utcoffset()
    assert here is not None and moscow is not None
    return int((here - moscow).total_seconds()) // 3600


@pytest.mark.parametrize(("zone", "ru_city", "en_city", "hours"), ELEVEN)
def test_each_russian_zone_in_both_languages(zone: str, ru_city: str, en_city: str,
                                             hours: int) -> None:
    shift = moscow_offset(zone)
    assert shift == hours - 3  # the database agrees with the table
    ru, en = ABBREVIATIONS[shift]
    day, hour = divmod(12 + hours, 24)
    assert format_when(MOMENT, zone, "ru") == f"{15 + day} декабря 2026 г., {hour:02d}:00 {ru}"
    assert format_when(MOMENT, zone, "en") == f"{15 + day} December 2026, {hour:02d}:00 {en}"
    assert zone_label(zone, "ru", MOMENT) == f"{ru_city} ({ru}, UTC+{hours})"
    assert zone_label(zone, "en", MOMENT) == f"{en_city} ({en}, UTC+{hours})"


def test_zones_keeping_another_citys_time_are_named_by_their_own_city() -> None:
    assert zone_label("Asia/Novosibirsk", "ru", MOMENT) == "Новосибирск (КРАС, UTC+7)"
    assert zone_label("Asia/Barnaul", "ru", MOMENT) == "Барнаул (КРАС, UTC+7)"
    assert zone_label("Europe/Volgograd", "ru", MOMENT) == "Волгоград (МСК, UTC+3)"
    assert zone_label("Asia/Anadyr", "en", MOMENT) == "Anadyr (PETT, UTC+12)"


def test_other_zones_are_written_by_their_offset() -> None:
    assert format_when(MOMENT, "Asia/Kolkata", "ru") == "15 декабря 2026 г., 17:30 UTC+5:30"
    assert format_when(MOMENT, "UTC", "en") == "15 December 2026, 12:00 UTC"
    assert format_when(MOMENT, "America/New_York", "en") == "15 December 2026, 07:00 UTC-5"
    # Minsk keeps Moscow's offset but is not a Russian zone: no МСК.
    assert format_when(MOMENT, "Europe/Minsk", "ru") == "15 декабря 2026 г., 15:00 UTC+3"


def test_the_events_zone_next_to_the_readers() -> None:
    assert (format_when_both(MOMENT, "Asia/Yekaterinburg", "Europe/Moscow", "ru")
            == "15 декабря 2026 г., 17:00 ЕКБ (15:00 МСК)")
    assert (format_when_both(MOMENT, "Europe/Moscow", "Europe/Moscow", "ru")
            == "15 декабря 2026 г., 15:00 МСК")
    late = datetime(2026, 12, 15, 20, 0, tzinfo=UTC)
    assert (format_when_both(late, "Europe/Moscow", "Asia/Vladivostok", "en")
            == "15 December 2026, 23:00 MSK (16 December 2026, 06:00 VLAT)")


def test_the_picker_offers_canonical_zones_by_city() -> None:
    groups = zone_choices("ru")
    russia, options = groups[0]
    assert russia == "Россия"
    assert options[0] == ("Europe/Kaliningrad", "Калининград (КЛД, UTC+2)")
    labels = dict(option for _, opts in groups for option in opts)
    assert labels["Asia/Novosibirsk"].startswith("Новосибирск (")
    assert labels["Asia/Krasnoyarsk"].startswith("Красноярск (")
    for alias in ("US/Eastern", "Asia/Katmandu", "Asia/Calcutta", "Etc/GMT-3", "Europe/Kiev"):
        assert alias not in labels and is_timezone(alias)  # hidden, still accepted
    assert "Asia/Kathmandu" in labels and "Europe/Kyiv" in labels
    for label in labels.values():
        assert "неизвестн" not in label.lower() and "unknown" not in label.lower()
    assert {"Европа", "Азия", "Америка"} <= {name for name, _ in groups}
    assert set(labels) == canonical_zones() == set(common_timezones())
    english = dict(option for _, opts in zone_choices("en") for option in opts)
    assert english["Asia/Novosibirsk"] == "Novosibirsk (KRAT, UTC+7)"


def test_the_zone_list_is_built_once() -> None:
    assert zone_choices("ru") is zone_choices("ru")
    assert canonical_zones() is canonical_zones()


async def test_event_page_shows_the_events_zone_and_the_readers(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    webinar = await open_webinar(session, queue, clock, timezone="Asia/Yekaterinburg")
    client.cookies.set("tz", "Europe%2FMoscow")  # as local-time.js writes it
    html = (await client.get(f"/w/{webinar.public_id}")).text
    planner = re.search(r'id="planner-time">([^<]+)<', html)
    assert planner is not None and planner.group(1) == "8 декабря 2026 г., 17:00 ЕКБ (15:00 МСК)"
    assert "Время: Москва (МСК, UTC+3)" in html
    assert "data-reader-zone" not in html  # the browser's zone is known: no second showing
    # The picker names the zone by its own city, no aliases.
    assert '<option value="Asia/Novosibirsk">Новосибирск (КРАС, UTC+7)</option>' in html
    assert "US/Eastern" not in html and "неизвестный регион" not in html


async def test_a_list_shows_times_in_the_readers_zone(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    org, account = await make_world(session, clock)
    await make_webinar(session, clock, account, org, title="Вебинар", start_at=START,
                       timezone="Europe/Moscow")
    await publish(session, queue, clock)

    without = (await client.get("/o/federation")).text
    assert "8 декабря 2026 г., 15:00 МСК" in without and "Время: Москва (МСК, UTC+3)" in without

    client.cookies.set("tz", "Asia/Novosibirsk")
    html = (await client.get("/o/federation")).text
    assert "Время: Новосибирск (КРАС, UTC+7)" in html
    assert "8 декабря 2026 г., 19:00 КРАС" in html and "15:00 МСК" not in html
    plan = (await client.get("/o/federation/plan/2026?window=2026-12")).text
    assert "Новосибирск (КРАС, UTC+7)" in plan
