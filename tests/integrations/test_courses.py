"""How a course's sessions are laid on one recurring meeting (integrations.base), and the fakes
refusing recurring meetings the platforms refuse."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from integrations.base import (
    InvalidRequest,
    MeetingLink,
    MeetingSpec,
    Occurrence,
    daily,
    occurrence_link,
    weekly,
)
from tests.fakes import adapter_for, serve

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = timedelta(minutes=90)


def berlin(month: int, day: int, hour: int = 15) -> datetime:
    return datetime(2027, month, day, hour, tzinfo=BERLIN).astimezone(UTC)


#: Six Tuesdays at 15:00 Berlin time across the end of summer time (31 October 2027).
STARTS = [berlin(10, 12), berlin(10, 19), berlin(10, 26), berlin(11, 2), berlin(11, 9),
          berlin(11, 16)]
COURSE = MeetingSpec(
    title="Курс", start=STARTS[0], duration=HOUR, timezone="Europe/Berlin",
    occurrences=tuple(Occurrence(i, s, HOUR, s) for i, s in enumerate(STARTS)))


def test_a_weekly_course_keeps_its_local_hour_across_the_change_of_time() -> None:
    plan = weekly(COURSE)
    assert plan is not None and plan.plain and plan.count == 6
    assert [plan.slot(i) for i in range(6)] == STARTS
    assert COURSE.end == STARTS[-1] + HOUR


def test_cancelled_weeks_are_skipped_and_moved_sessions_listed() -> None:
    moved = Occurrence(4, STARTS[4] + timedelta(days=1), HOUR, STARTS[4])
    spec = replace(COURSE, occurrences=(*COURSE.occurrences[:2], *COURSE.occurrences[3:4],
                                        moved))
    plan = weekly(spec)
    assert plan is not None and plan.count == 5  # the sixth week was cancelled: no slot
    assert plan.skipped == (2,) and plan.moved == ((4, moved),)


def test_a_list_of_dates_is_no_weekly_rule_but_daily_slots_each_moved_to_its_session() -> None:
    dates = (berlin(10, 12), berlin(10, 14, 10), berlin(11, 30))
    spec = replace(COURSE, occurrences=tuple(Occurrence(i, s, HOUR, s)
                                             for i, s in enumerate(dates)))
    assert weekly(spec) is None
    plan = daily(spec)
    assert plan.count == 3 and [i for i, _ in plan.moved] == [1, 2]
    assert [o.start for _, o in plan.moved] == list(dates[1:])


def test_a_session_with_its_own_meeting_is_found_by_position() -> None:
    link = MeetingLink("7002", "https://x/7002", None,
                       {"occurrence.3": "7005|2027-11-02T14:00:00+00:00|https://x/7005"})
    assert occurrence_link(link, 3).external_id == "7005"
    assert occurrence_link(link, 3).join_url == "https://x/7005"
    assert occurrence_link(link, 1) is link and occurrence_link(link, None) is link


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_zoom_and_webex_fakes_refuse_a_recurrence_they_cannot_read(
        http: aiohttp.ClientSession) -> None:
    zoom = await serve("zoom")
    webex = await serve("webex")
    try:
        async with http.post(f"{zoom.url}/oauth/token", params={
                "grant_type": "account_credentials", "account_id": zoom.account_id},
                headers={"Authorization": "Basic " + base64.b64encode(
                    f"{zoom.client_id}:{zoom.client_secret}".encode()).decode()}) as answer:
            token = (await answer.json())["access_token"]
        async with http.post(f"{zoom.url}/v2/users/{zoom.host}/meetings", json={
                "topic": "Курс", "type": 8, "start_time": "2027-10-12T13:00:00Z",
                "recurrence": {"type": 2, "weekly_days": "9", "end_times": 6}},
                headers={"Authorization": f"Bearer {token}"}) as answer:
            assert answer.status == 400
            assert (await answer.json())["errors"][0]["field"] == "recurrence.weekly_days"
        adapter = adapter_for("webex", webex, http)
        weeks = [(datetime(2027, 10, 12, 15, tzinfo=BERLIN) + timedelta(weeks=i))
                 .astimezone(UTC) for i in range(120)]
        bad = replace(COURSE, occurrences=tuple(  # 120 weeks: over the fake's cap [⚠]
            Occurrence(i, s, HOUR, s) for i, s in enumerate(weeks)))
        with pytest.raises(InvalidRequest):
            await adapter.create(bad)
        assert webex.meetings == {}
    finally:
        await zoom.close()
        await webex.close()


async def test_zoom_deletes_a_cancelled_week_and_webex_moves_a_moved_session(
        http: aiohttp.ClientSession) -> None:
    zoom, webex = await serve("zoom"), await serve("webex")
    try:
        gap = replace(COURSE, occurrences=COURSE.occurrences[:2] + COURSE.occurrences[3:])
        link = await adapter_for("zoom", zoom, http).create(gap)
        shown = zoom.meetings[link.external_id]
        assert shown["type"] == 8
        assert sorted(o["start_time"] for o in shown["occurrences"]
                      if o["status"] != "deleted") == [
            s.strftime("%Y-%m-%dT%H:%M:%SZ") for i, s in enumerate(STARTS) if i != 2]

        moved = Occurrence(1, STARTS[1] + timedelta(hours=2), HOUR, STARTS[1])
        spec = replace(COURSE, occurrences=(COURSE.occurrences[0], moved,
                                            *COURSE.occurrences[2:]))
        series = await adapter_for("webex", webex, http).create(spec)
        assert [start for start, _ in webex.held(series.external_id)] == [
            moved.start if i == 1 else s for i, s in enumerate(STARTS)]
    finally:
        await zoom.close()
        await webex.close()
