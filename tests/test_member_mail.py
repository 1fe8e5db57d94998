"""What reaches a member's mailbox over a registration's life: who greets them and why, the
SEQUENCE their calendar sees, reminders they can turn off, and what is never sent.

The embedded default's outbox is the mailbox here (every message kept as sent); both databases.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from icalendar import Calendar
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.app import create_app
from webinars.clock import FixedClock
from webinars.mail import Recipient
from webinars.mailer import TransientMailError
from webinars.models import (
    Delivery,
    Organization,
    OutboxMessage,
    Registration,
    Webinar,
)
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.registrations import cancel
from webinars.runtime import Runtime
from webinars.scheduling import cancel_webinar
from workers.deliveries import send_deliveries
from workers.recheck import History, Row, claim, decide
from workers.reconcile import reconcile_deliveries

from .api_support import Api, make_world
from .conftest import dispatch_held
from .factories import (
    csrf_from,
    login,
    make_account,
    make_org,
    make_registration,
    make_webinar,
)
from .smtp import Checked, check_message
from .test_deliveries import planned_webinar, reschedule
from .test_public_pages import open_webinar, personal_path, post_registration

TYPED_NAME = "Вася Незнакомцев"


async def mailbox(runtime: Runtime, address: str) -> list[Checked]:
    """Every message the address got, oldest first, each checked against the checklist."""
    async with runtime.sessionmaker() as session:
        raws = (await session.scalars(select(OutboxMessage.raw).where(
            OutboxMessage.recipient == address).order_by(OutboxMessage.id))).all()
    return [check_message(raw, recipient=address, mail_from=runtime.config.mail_from,
                          mail_from_name=runtime.config.mail_from_name) for raw in raws]


async def deliveries(runtime: Runtime, **where: Any) -> list[Delivery]:
    """The rows, once every recorded event was handled (the jobs they queue are not run)."""
    await dispatch_held(None, runtime.job_context())
    async with runtime.sessionmaker() as session:
        stmt = select(Delivery).order_by(Delivery.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(Delivery, key) == value)
        return list((await session.scalars(stmt)).all())


async def when_due(runtime: Runtime, clock: FixedClock, queue: InProcessQueue,
                   moment: datetime) -> None:
    """Move to `moment` and let the worker send what is due, as the reconcile sweep does."""
    clock.set(moment)
    await reconcile_deliveries({**runtime.job_context(), "queue": queue})
    await queue.drain()
    clock.advance(timedelta(minutes=3))
    await reconcile_deliveries({**runtime.job_context(), "queue": queue})
    await queue.drain()


def personal_link(message: Checked, token: str) -> str:
    match = re.search(rf"http://testserver(/r/{token}/confirm/[A-Za-z0-9_-]+)", message.text)
    assert match, "the message links the personal page through the address proof"
    return match.group(1)


# --- who greets the member, and why they get the message ---------------------------------


async def test_a_name_typed_by_a_stranger_greets_no_one_until_the_address_is_proven(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue,
) -> None:
    webinar = await open_webinar(session, queue, clock, reminder_offsets=[60])
    title, start = webinar.title, webinar.start_at
    async with runtime.sessionmaker() as s:
        org_name = (await s.scalars(select(Organization.name).where(
            Organization.id == webinar.organization_id))).one()
    response = await post_registration(client, webinar, name=TYPED_NAME,
                                       email="someone@mail.example")
    assert response.status_code == 200
    token = (await personal_path(client, webinar, "someone@mail.example")).removeprefix("/r/")
    await queue.drain()
    [invitation] = await mailbox(runtime, "someone@mail.example")
    for part in (invitation.text, invitation.html, str(invitation.msg["To"])):
        assert TYPED_NAME not in part
    assert invitation.text.startswith("Здравствуйте!")
    assert invitation.calendar is not None
    assert "CN" not in invitation.calendar.walk("VEVENT")[0]["ATTENDEE"].params
    # Who sent it and why, and what to do if it was not them.
    footer = " ".join(invitation.text.split("-- ")[1].split())
    assert (f"этот адрес зарегистрирован на мероприятие «{title}» "
            f"({org_name}) на сайте testserver") in footer
    assert "Если это были не вы, отмените регистрацию" in footer

    # The addressee opens their page from the message: from now on their name greets them.
    assert (await client.get(personal_link(invitation, token))).status_code == 303
    await when_due(runtime, clock, queue, start - timedelta(minutes=60))
    _, reminder = await mailbox(runtime, "someone@mail.example")
    assert reminder.text.startswith(f"Здравствуйте, {TYPED_NAME}!")
    assert TYPED_NAME in str(reminder.msg["To"])


async def test_an_organizer_registering_a_member_is_trusted_with_the_name(
    runtime: Runtime, clock: FixedClock, queue: InProcessQueue
) -> None:
    world = await make_world(runtime, clock)
    await queue.drain()
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as raw:
        created = await Api(raw, world.north_token).post(
            f"/webinars/{world.north_webinar.id}/registrations",
            json={"name": "Анна Петрова", "email": "anna@school.example"})
        assert created.status_code == 201
    await queue.drain()
    [invitation] = await mailbox(runtime, "anna@school.example")
    assert invitation.text.startswith("Здравствуйте, Анна Петрова!")
    assert invitation.calendar is not None
    assert invitation.calendar.walk("VEVENT")[0]["ATTENDEE"].params["CN"] == "Анна Петрова"


# --- SEQUENCE never repeats for an attendee ------------------------------------------------


async def test_sequence_grows_through_cancel_register_again_reschedule_and_cancel(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue,
) -> None:
    account, webinar = await planned_webinar(session, clock)
    first = await make_registration(session, clock, webinar, "maria@school.example")
    old_token, old_join = first.token, first.join_token
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    await cancel(session, clock, first)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    again = await make_registration(session, clock, webinar, "maria@school.example")
    assert again.id == first.id
    assert again.token != old_token and again.join_token != old_join  # renewed
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    await reschedule(session, clock, account, webinar, webinar.start_at + timedelta(hours=2))
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()

    got = await mailbox(runtime, "maria@school.example")
    assert [c.method for c in got] == ["REQUEST", "CANCEL", "REQUEST", "REQUEST"]
    sequences = [c.sequence for c in got]
    assert all(a < b for a, b in itertools.pairwise(sequences)), sequences
    assert f"/j/{again.join_token}" in got[2].text and old_join not in got[2].text

    # The calendar file on the personal page is as new as the last message, never older.
    ics = await client.get(f"/r/{again.token}.ics")
    event = Calendar.from_ical(ics.content).walk("VEVENT")[0]
    assert int(event.decoded("SEQUENCE")) == sequences[-1]

    await cancel_webinar(session, clock, account, webinar.id)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    last = (await mailbox(runtime, "maria@school.example"))[-1]
    assert last.method == "CANCEL" and last.sequence > sequences[-1]


# --- reminders a member can turn off (RFC 8058) -----------------------------------------------


async def test_reminders_carry_one_click_unsubscribe_that_stops_reminders_and_follow_ups(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue,
) -> None:
    account, webinar = await planned_webinar(session, clock, reminder_offsets=[1440, 15])
    registration = await make_registration(session, clock, webinar, "maria@school.example")
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    [invitation] = await mailbox(runtime, "maria@school.example")
    assert "List-Unsubscribe" not in invitation.msg  # invitations keep the calendar right

    await when_due(runtime, clock, queue, webinar.start_at - timedelta(days=1))
    _, reminder = await mailbox(runtime, "maria@school.example")
    url = f"http://testserver/r/{registration.token}/reminders/off"
    assert reminder.msg["List-Unsubscribe"] == f"<{url}>"
    assert reminder.msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url in reminder.text

    # A mail scanner opening the address changes nothing; the provider's one-click POST does,
    # with no cookie and no form token (RFC 8058 §3.1).
    assert "Отключить напоминания" in (await client.get(url)).text
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as provider:
        one_click = await provider.post(url, content=b"List-Unsubscribe=One-Click", headers={
            "Content-Type": "application/x-www-form-urlencoded"})
    assert one_click.status_code == 200

    await when_due(runtime, clock, queue, webinar.start_at - timedelta(minutes=15))
    assert len(await mailbox(runtime, "maria@school.example")) == 2  # no second reminder
    [late] = await deliveries(runtime, kind="reminder", offset_minutes=15)
    assert (late.status, late.last_error) == ("superseded", "reminders turned off")
    # Changes still arrive: the calendar must stay right.
    await reschedule(session, clock, account, webinar, webinar.start_at + timedelta(hours=1))
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    assert (await mailbox(runtime, "maria@school.example"))[-1].method == "REQUEST"

    # From the personal page they can be turned on again.
    page = await client.get(f"/r/{registration.token}")
    on = await client.post(f"/r/{registration.token}/reminders/on",
                           data={"csrf_token": csrf_from(page.text)})
    assert on.status_code == 303
    async with runtime.sessionmaker() as s:
        stored = await s.get(Registration, registration.id)
        assert stored is not None and not stored.reminders_off


# --- what is never sent ------------------------------------------------------------------------


def row(kind: str, webinar: Webinar, **overrides: Any) -> Row:
    values: dict[str, Any] = {
        "id": 1, "kind": kind, "due_at": webinar.start_at - timedelta(minutes=15),
        "created_at": datetime(2026, 12, 1, tzinfo=UTC), "offset_minutes": None, "attempts": 1,
        "webinar_id": webinar.id, "registration_id": 1,
        "recipient": Recipient(1, "", "a@b.example", "ru", "Europe/Moscow", "t", "j", "<m@x>"),
        "registration_status": "confirmed",
    }
    if kind == "reminder":
        values["offset_minutes"] = 15
    values.update(overrides)
    return Row(**values)


def a_webinar(**overrides: Any) -> Webinar:
    values: dict[str, Any] = {
        "id": 1, "status": "scheduled", "sequence": 2, "duration_minutes": 60,
        "start_at": datetime(2026, 12, 10, 12, 0, tzinfo=UTC), "recording_url": None,
        "followup_note": None,
    }
    values.update(overrides)
    return Webinar(**values)


@pytest.mark.parametrize("status", ["draft", "finished"])
def test_no_reminder_invitation_or_update_for_a_webinar_that_is_not_scheduled(
    status: str
) -> None:
    webinar = a_webinar(status=status)
    now = webinar.start_at - timedelta(hours=1)
    for kind in ("reminder", "invitation", "update"):
        assert decide(row(kind, webinar), webinar, History(), now) == (
            None, "the webinar is not scheduled")


def test_nothing_goes_out_once_the_webinar_is_over_even_on_a_late_retry() -> None:
    webinar = a_webinar()
    end = webinar.start_at + timedelta(minutes=60)
    for kind in ("reminder", "update", "invitation"):
        late = row(kind, webinar, attempts=3)
        assert decide(late, webinar, History(), end) == (None, "the webinar is over")
        assert decide(late, webinar, History(), end - timedelta(seconds=1))[0] is not None


def test_a_follow_up_with_only_a_note_is_sent() -> None:
    webinar = a_webinar(followup_note="Спасибо! Материалы — в группе.")
    after = webinar.start_at + timedelta(hours=2)
    assert decide(row("followup", webinar), webinar, History(), after) == (2, "")
    bare = a_webinar()
    assert decide(row("followup", bare), bare, History(), after) == (None, "nothing to follow up")


def test_a_reminder_for_a_webinar_moved_earlier_is_not_sent_on_a_retry() -> None:
    webinar = a_webinar()
    retried = row("reminder", webinar, attempts=2,
                  due_at=webinar.start_at - timedelta(minutes=10))  # pushed by back-off
    assert decide(retried, webinar, History(), retried.due_at)[0] is not None
    moved = a_webinar(start_at=webinar.start_at + timedelta(hours=2))
    assert decide(retried, moved, History(), retried.due_at) == (None, "the webinar moved")


async def test_a_claimed_reminder_is_not_sent_after_the_webinar_moved_earlier_or_was_cancelled(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
) -> None:
    """A worker claims, then dies; meanwhile the webinar changes: reclaiming sends nothing."""
    org = await make_org(session, clock)
    account = await make_account(session, clock, org)
    start = clock.now() + timedelta(minutes=16)
    moved = await make_webinar(session, clock, account, org, start_at=start,
                               reminder_offsets=[15])
    dropped = await make_webinar(session, clock, account, org, start_at=start,
                                 reminder_offsets=[15])
    for webinar in (moved, dropped):
        await make_registration(session, clock, webinar, "maria@school.example")
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    clock.advance(timedelta(minutes=1))
    reminders = await deliveries(runtime, kind="reminder")
    async with runtime.sessionmaker() as s:
        assert len(await claim(s, [r.id for r in reminders], clock.now())) == 2
        await s.commit()
    await reschedule(session, clock, account, moved, moved.start_at - timedelta(minutes=5))
    await cancel_webinar(session, clock, account, dropped.id)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    # The dead worker's lease runs out; reconcile hands back what it held.
    clock.advance(timedelta(hours=1))
    await reconcile_deliveries({**runtime.job_context(), "queue": queue})
    await queue.drain()
    kinds = [c.subject.split(":")[0] for c in await mailbox(runtime, "maria@school.example")]
    assert "Напоминание" not in kinds
    assert {r.status for r in await deliveries(runtime, kind="reminder")
            if r.id in {x.id for x in reminders}} == {"superseded"}


async def test_a_delivery_that_keeps_failing_is_marked_failed_and_shown(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue,
) -> None:
    _, webinar = await planned_webinar(session, clock)
    registration = await make_registration(session, clock, webinar, "maria@school.example")
    await session.commit()
    [invitation] = await deliveries(runtime, kind="invitation")
    async with runtime.sessionmaker() as s:  # seven attempts already failed
        await s.execute(update(Delivery).where(Delivery.id == invitation.id).values(attempts=7))
        await s.commit()

    class Down:
        concurrency = 1

        async def send(self, mail: Any, before_data: Any = None) -> None:
            raise TransientMailError("cannot connect to the SMTP server", server_down=True)

        async def close(self) -> None:
            return None

    await send_deliveries({**runtime.job_context(), "mailer": Down(), "queue": None},
                          [invitation.id])
    [failed] = await deliveries(runtime, kind="invitation")
    assert (failed.status, failed.attempts) == ("failed", 8)
    assert "gave up after 8 attempts" in (failed.last_error or "")
    await login(client)
    page = await client.get(f"/webinars/{webinar.id}/deliveries")
    row_html = page.text.split(f'id="registration-{registration.id}"')[1].split("</tr>")[0]
    assert 'data-kind="invitation" data-status="failed"' in row_html
    assert "gave up after 8 attempts" in row_html


async def test_a_reminder_due_a_minute_ago_at_registration_is_never_planned(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
) -> None:
    _, webinar = await planned_webinar(session, clock,
                                       start_at=clock.now() + timedelta(minutes=14),
                                       reminder_offsets=[15, 10])
    await make_registration(session, clock, webinar, "maria@school.example")
    await session.commit()
    assert [r.offset_minutes for r in await deliveries(runtime, kind="reminder")] == [10]


async def test_cancelling_on_one_webinar_frees_a_seat_there_only(
    runtime: Runtime, session: AsyncSession, clock: FixedClock,
) -> None:
    org = await make_org(session, clock)
    account = await make_account(session, clock, org)
    first = await make_webinar(session, clock, account, org, capacity=5)
    second = await make_webinar(session, clock, account, org, capacity=5)
    mine = await make_registration(session, clock, first, "maria@school.example")
    await make_registration(session, clock, second, "maria@school.example")
    await make_registration(session, clock, second, "petr@school.example")
    await cancel(session, clock, mine)
    await session.commit()
    async with runtime.sessionmaker() as s:
        counts = dict((await s.execute(select(Webinar.id, Webinar.registered_count))).all())
    assert counts == {first.id: 0, second.id: 2}


async def test_an_invitation_alarm_honours_a_one_day_reminder(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
) -> None:
    _, webinar = await planned_webinar(session, clock, reminder_offsets=[1440])
    await make_registration(session, clock, webinar, "maria@school.example")
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    [invitation] = await mailbox(runtime, "maria@school.example")
    assert invitation.calendar is not None
    [alarm] = invitation.calendar.walk("VALARM")
    assert alarm.decoded("TRIGGER") == -timedelta(days=1)


async def test_registering_again_after_a_cancel_starts_unproven(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue,
) -> None:
    """The owner proved the address, then cancelled; whoever registers it again proves nothing."""
    webinar = await open_webinar(session, queue, clock)
    first = await post_registration(client, webinar, name="Мария Иванова",
                                    email="maria@school.example")
    assert first.status_code == 200
    token = (await personal_path(client, webinar)).removeprefix("/r/")
    await queue.drain()
    [invitation] = await mailbox(runtime, "maria@school.example")
    assert (await client.get(personal_link(invitation, token))).status_code == 303
    page = await client.get(f"/r/{token}")
    assert (await client.post(f"/r/{token}/cancel", data={"csrf_token": csrf_from(page.text)})
            ).status_code == 303
    await queue.drain()  # the CANCEL is out (when it is not yet: the test further down)
    again = await post_registration(client, webinar, name=TYPED_NAME,
                                    email="maria@school.example")
    assert again.status_code == 200
    await queue.drain()
    latest = (await mailbox(runtime, "maria@school.example"))[-1]
    assert latest.method == "REQUEST" and latest.text.startswith("Здравствуйте!")
    assert TYPED_NAME not in latest.text


def test_an_attendee_holding_more_than_the_offsets_say_still_gets_a_higher_sequence() -> None:
    """Registrations made before offsets existed may hold a SEQUENCE above the webinar's: the
    history of what was sent keeps every later REQUEST and CANCEL above it."""
    webinar = a_webinar(sequence=3)
    now = webinar.start_at - timedelta(days=1)
    held = History(max_sequence=5, last_kind="invitation",
                   last_request_sent_at=now - timedelta(days=1))
    assert decide(row("update", webinar, created_at=now), webinar, held, now) == (5, "")
    after_cancel = History(max_sequence=5, last_kind="cancellation")
    assert decide(row("invitation", webinar), webinar, after_cancel, now) == (6, "")
    cancelled = a_webinar(sequence=4, status="cancelled")
    assert decide(row("cancellation", cancelled, registration_status="confirmed"),
                  cancelled, held, now) == (6, "")


def test_an_update_is_dropped_only_when_the_attendee_already_holds_that_version() -> None:
    webinar = a_webinar(sequence=1)
    now = webinar.start_at - timedelta(days=1)
    written = now - timedelta(minutes=5)
    update_row = row("update", webinar, created_at=written)
    older = History(max_sequence=0, last_kind="invitation", last_request_sent_at=now)
    assert decide(update_row, webinar, older, now) == (1, "")
    same = History(max_sequence=1, last_kind="invitation", last_request_sent_at=now)
    assert decide(update_row, webinar, same, now) == (None, "the current version was already sent")


async def test_cancelling_and_registering_again_before_the_cancel_goes_out_sends_no_cancel(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
) -> None:
    _, webinar = await planned_webinar(session, clock)
    registration = await make_registration(session, clock, webinar, "maria@school.example")
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    await cancel(session, clock, registration)
    await session.commit()  # the CANCEL is written, not yet sent…
    await make_registration(session, clock, webinar, "maria@school.example")
    await commit_and_enqueue(session, queue, clock)  # …when they register again: both queued
    await queue.drain()
    got = await mailbox(runtime, "maria@school.example")
    assert [c.method for c in got] == ["REQUEST", "REQUEST"]
    assert got[1].sequence > got[0].sequence
    [dropped] = await deliveries(runtime, kind="cancellation")
    assert (dropped.status, dropped.last_error) == ("superseded", "registered again")
