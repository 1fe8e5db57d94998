"""What each change writes to the outbox, and when SEQUENCE moves (ical-interop.md §1, §4)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import FixedClock
from webinars.errors import Conflict
from webinars.models import Account, Delivery, Organization, Webinar
from webinars.registrations import cancel, register
from webinars.scheduling import cancel_webinar, update_webinar
from webinars.validation import registration_input, webinar_input

from .conftest import Dispatched
from .factories import make_account, make_org, make_registration, make_webinar


async def live_deliveries(session: AsyncSession, webinar_id: int,
                          dispatched: Dispatched) -> list[Delivery]:
    """The rows the handlers wrote for what happened so far, superseded ones left out."""
    await dispatched(session)
    rows = await session.scalars(select(Delivery).where(
        Delivery.webinar_id == webinar_id, Delivery.status != "superseded").order_by(Delivery.id))
    return list(rows.all())


async def change(session: AsyncSession, clock: FixedClock, account: Account, webinar: Webinar,
                 **fields: Any) -> Webinar:
    data = webinar_input(fields, clock, default_timezone=webinar.timezone, partial=True)
    return await update_webinar(session, clock, account, webinar.id, data)


@pytest.fixture
async def planned(session: AsyncSession, clock: FixedClock
                  ) -> tuple[Organization, Account, Webinar]:
    org = await make_org(session, clock)
    account = await make_account(session, clock, org)
    webinar = await make_webinar(session, clock, account, org,
                                 start_at=clock.now() + timedelta(days=3))
    return org, account, webinar


async def test_registration_writes_invitation_and_default_reminders(
    session: AsyncSession, clock: FixedClock, planned: tuple[Organization, Account, Webinar], dispatched: Dispatched
) -> None:
    _, _, webinar = planned
    await make_registration(session, clock, webinar)
    rows = await live_deliveries(session, webinar.id, dispatched)
    assert [(d.kind, d.due_at) for d in rows] == [
        ("invitation", clock.now()),
        ("reminder", webinar.start_at - timedelta(hours=24)),
        ("reminder", webinar.start_at - timedelta(minutes=15)),
    ]


async def test_a_reminder_whose_moment_has_passed_is_not_planned(
    session: AsyncSession, clock: FixedClock, planned: tuple[Organization, Account, Webinar], dispatched: Dispatched
) -> None:
    _, _, webinar = planned
    clock.set(webinar.start_at - timedelta(hours=2))  # the 24-hour reminder is already late
    await make_registration(session, clock, webinar)
    kinds = [(d.kind, d.offset_minutes) for d in await live_deliveries(session, webinar.id, dispatched)]
    assert kinds == [("invitation", None), ("reminder", 15)]


@pytest.mark.parametrize(("fields", "significant"), [
    ({"title": "Другое название"}, True),
    ({"description": "Новая программа"}, True),
    ({"duration_minutes": 120}, True),
    ({"start": "2026-12-05T12:00"}, True),
    ({"capacity": 10}, False),
    ({"visibility": "unlisted"}, False),
    ({"registration_open": False}, False),
    ({"title": "Вебинар о новых медиа"}, False),  # the same value is no change
])
async def test_only_what_attendees_see_raises_sequence_and_sends_updates(
    session: AsyncSession, clock: FixedClock, planned: tuple[Organization, Account, Webinar], dispatched: Dispatched,
    fields: dict[str, Any], significant: bool,
) -> None:
    _, account, webinar = planned
    await make_registration(session, clock, webinar)
    await change(session, clock, account, webinar, **fields)
    updates = [d for d in await live_deliveries(session, webinar.id, dispatched) if d.kind == "update"]
    assert webinar.sequence == (1 if significant else 0)
    assert len(updates) == (1 if significant else 0)
    if significant:
        assert updates[0].sequence == 1


async def test_rescheduling_twice_leaves_one_update_and_reminders_for_the_final_time(
    session: AsyncSession, clock: FixedClock, planned: tuple[Organization, Account, Webinar], dispatched: Dispatched
) -> None:
    _, account, webinar = planned
    await make_registration(session, clock, webinar)
    await change(session, clock, account, webinar, start="2026-12-06T12:00")
    await change(session, clock, account, webinar, start="2026-12-07T18:00")
    rows = await live_deliveries(session, webinar.id, dispatched)
    assert webinar.sequence == 2
    assert [d.sequence for d in rows if d.kind == "update"] == [2]
    reminders = sorted(d.due_at for d in rows if d.kind == "reminder")
    final = webinar.start_at
    assert reminders == [final - timedelta(hours=24), final - timedelta(minutes=15)]
    assert final.isoformat() == "2026-12-07T15:00:00+00:00"  # 18:00 in Moscow


async def test_cancelling_a_webinar_supersedes_everything_and_cancels_for_all(
    session: AsyncSession, clock: FixedClock, planned: tuple[Organization, Account, Webinar], dispatched: Dispatched
) -> None:
    _, account, webinar = planned
    await make_registration(session, clock, webinar, "a@school.example")
    await make_registration(session, clock, webinar, "b@school.example")
    await cancel_webinar(session, clock, account, webinar.id)
    rows = await live_deliveries(session, webinar.id, dispatched)
    assert sorted(d.kind for d in rows) == ["cancellation", "cancellation"]
    assert webinar.sequence == 1 and webinar.status == "cancelled"
    await cancel_webinar(session, clock, account, webinar.id)  # again: nothing more is sent
    assert len(await live_deliveries(session, webinar.id, dispatched)) == 2
    with pytest.raises(Conflict):
        await change(session, clock, account, webinar, title="Поздно")


async def test_cancelling_a_registration_frees_the_seat_and_cancels_for_that_person(
    session: AsyncSession, clock: FixedClock, planned: tuple[Organization, Account, Webinar], dispatched: Dispatched
) -> None:
    _org, account, webinar = planned
    await change(session, clock, account, webinar, capacity=1)
    first = await make_registration(session, clock, webinar, "a@school.example")
    second = await make_registration(session, clock, webinar, "b@school.example")
    assert second.status == "waitlisted"  # full: the next one waits in line
    await cancel(session, clock, first)
    # The seat goes to the first in line at once: the one who left gets a CANCEL and no
    # reminder any more; the promoted one gets the invitation and the reminders.
    rows = [(d.kind, d.registration_id)
            for d in await live_deliveries(session, webinar.id, dispatched)]
    assert [kind for kind, who in rows if who == first.id] == ["cancellation"]
    assert {kind for kind, who in rows if who == second.id} == {
        "waitlisted", "promoted", "reminder"}
    await session.refresh(second)
    await session.refresh(webinar)
    assert second.status == "confirmed" and webinar.registered_count == 1


async def test_one_registration_per_email_case_insensitively_and_revival_after_cancel(
    session: AsyncSession, clock: FixedClock, planned: tuple[Organization, Account, Webinar]
) -> None:
    _, _, webinar = planned
    first = await make_registration(session, clock, webinar, "Member@School.example")
    with pytest.raises(Conflict) as dup:
        await make_registration(session, clock, webinar, "member@SCHOOL.example")
    assert dup.value.code == "duplicate"
    old_token = first.token
    await cancel(session, clock, first)
    data = registration_input({"name": "Мария", "email": "MEMBER@school.example"},
                              default_locale="ru", default_timezone="Europe/Moscow")
    again = await register(session, clock, webinar, data)
    assert again.id == first.id and again.status == "confirmed"
    assert again.token != old_token  # the old personal link stops working


async def test_follow_up_goes_after_the_end(
    session: AsyncSession, clock: FixedClock, planned: tuple[Organization, Account, Webinar], dispatched: Dispatched
) -> None:
    _, account, webinar = planned
    await make_registration(session, clock, webinar)
    await change(session, clock, account, webinar,
                 recording_url="https://video.union.example/rec/1")
    followups = [d for d in await live_deliveries(session, webinar.id, dispatched) if d.kind == "followup"]
    assert [d.due_at for d in followups] == [
        webinar.start_at + timedelta(minutes=webinar.duration_minutes)]
    assert webinar.sequence == 0  # a recording is not a change to the calendar event
