"""Sending deliveries: claim, re-check, render, send, record; reconcile; the SMTP transport.

Jobs run through the in-process runner or are called directly with a ctx; mail goes to a real
SMTP server (aiosmtpd) or to the outbox table. Both databases.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import FixedClock
from webinars.mailer import OutgoingMail, PermanentMailError, SmtpMailer, TransientMailError
from webinars.models import Account, Delivery, OutboxMessage, Registration, Webinar
from webinars.queue import SEND_DELIVERIES, InProcessQueue, commit_and_enqueue
from webinars.registrations import cancel
from webinars.runtime import Runtime
from webinars.scheduling import cancel_webinar, update_webinar
from webinars.validation import webinar_input
from workers.deliveries import plan, send_deliveries
from workers.recheck import claim
from workers.reconcile import due_unqueued, reconcile_deliveries
from workers.sending import Slots, Unrecorded

from .conftest import dispatch_held
from .factories import csrf_from, make_account, make_org, make_registration, make_webinar
from .smtp import Checked, SmtpServer, check_message

PEOPLE = [("alice@school.example", "Алиса Петрова"), ("bob@school.example", "Борис Сидоров"),
          ("carol@school.example", "Carol White")]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
async def mailer(runtime: Runtime, queue: InProcessQueue, smtp: SmtpServer
                 ) -> AsyncIterator[SmtpMailer]:
    mailer = SmtpMailer.from_url(smtp.url + "?pool=2")
    runtime.mailer = mailer  # closed with the runtime
    queue.ctx["mailer"] = mailer
    yield mailer


def lease(runtime: Runtime) -> timedelta:
    return timedelta(seconds=runtime.config.delivery_lease)


def grace(runtime: Runtime) -> timedelta:
    return timedelta(seconds=runtime.config.reconcile_grace)


def direct_ctx(runtime: Runtime) -> dict[str, Any]:
    """A job context without a queue: retries then wait for reconcile (moved by the clock)."""
    return {**runtime.job_context(), "queue": None}


async def commit_only(session: AsyncSession, runtime: Runtime) -> list[int]:
    """What a crash between the handlers' commit and their enqueue leaves: committed rows, no
    jobs. Returns every pending row written (due or not: a job handed them all must still
    send only what is due)."""
    await dispatch_held(session, runtime.job_context())
    return [d.id for d in await rows_of(runtime, status="pending")]


async def planned_webinar(session: AsyncSession, clock: FixedClock, **overrides: Any
                          ) -> tuple[Account, Webinar]:
    org = await make_org(session, clock)
    account = await make_account(session, clock, org)
    webinar = await make_webinar(session, clock, account, org, **overrides)
    return account, webinar


async def register_all(session: AsyncSession, clock: FixedClock, webinar: Webinar,
                       people: list[tuple[str, str]] = PEOPLE) -> list[Registration]:
    return [await make_registration(session, clock, webinar, email=email, name=name)
            for email, name in people]


async def rows_of(runtime: Runtime, **where: Any) -> list[Delivery]:
    async with runtime.sessionmaker() as s:
        stmt = select(Delivery).order_by(Delivery.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(Delivery, key) == value)
        return list((await s.scalars(stmt)).all())


def check(runtime: Runtime, raw: bytes, recipient: str) -> Checked:
    config = runtime.config
    return check_message(raw, recipient=recipient, mail_from=config.mail_from,
                         mail_from_name=config.mail_from_name)


async def reschedule(session: AsyncSession, clock: FixedClock, account: Account,
                     webinar: Webinar, start: datetime) -> None:
    data = webinar_input({"start": start.isoformat()}, clock, default_timezone=webinar.timezone,
                         partial=True)
    await update_webinar(session, clock, account, webinar.id, data)


# --- end to end on the embedded default --------------------------------------------------


async def test_registration_on_the_page_puts_a_valid_invitation_in_the_outbox(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue,
) -> None:
    _, webinar = await planned_webinar(session, clock)
    await commit_and_enqueue(session, queue, clock)
    page = await client.get(f"/w/{webinar.public_id}")
    response = await client.post(f"/w/{webinar.public_id}/register", data={
        "csrf_token": csrf_from(page.text), "name": "Мария Иванова",
        "email": "maria@school.example", "locale": "ru", "timezone": "Asia/Yekaterinburg"})
    assert response.status_code == 200
    await queue.drain()
    async with runtime.sessionmaker() as s:
        stored = list((await s.scalars(select(OutboxMessage))).all())
        token, join_token = (await s.execute(
            select(Registration.token, Registration.join_token))).one()
    assert len(stored) == 1
    message = stored[0]
    assert message.recipient == "maria@school.example" and message.webinar_id == webinar.id
    c = check(runtime, message.raw, "maria@school.example")
    assert c.method == "REQUEST" and c.sequence == 0 and c.start == webinar.start_at
    assert message.subject == c.subject == f"Приглашение: {webinar.title}"
    assert f"http://testserver/j/{join_token}" in c.text
    assert f"http://testserver/r/{token}" in c.text
    [invitation] = await rows_of(runtime, kind="invitation")
    assert (invitation.status, invitation.sequence, invitation.attempts) == ("sent", 0, 1)
    # Random, stored with the delivery when it was first claimed, never its database id.
    assert message.message_id == invitation.message_id == c.message_id
    assert message.delivery_id == invitation.id


# --- sending over SMTP -------------------------------------------------------------------


async def test_each_registrant_gets_exactly_one_invitation_over_reused_connections(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    smtp: SmtpServer, mailer: SmtpMailer,
) -> None:
    _, webinar = await planned_webinar(session, clock)
    await register_all(session, clock, webinar)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    for address, name in PEOPLE:
        assert smtp.count(address) == 1
        c = check(runtime, smtp.raw(address)[0], address)
        assert c.method == "REQUEST" and c.sequence == 0
        assert c.calendar is not None
        # Whoever typed the name has not shown the mailbox is theirs: it greets nobody.
        assert "CN" not in c.calendar.walk("VEVENT")[0]["ATTENDEE"].params
        assert name not in c.text and name not in c.html and name not in str(c.msg["To"])
        assert c.text.startswith("Здравствуйте!")
    assert smtp.connections <= 2  # the pool size, not one connection per message
    assert {d.status for d in await rows_of(runtime, kind="invitation")} == {"sent"}


async def test_reschedule_sends_an_update_with_a_higher_sequence_and_replans_reminders(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    smtp: SmtpServer, mailer: SmtpMailer,
) -> None:
    account, webinar = await planned_webinar(session, clock)
    await register_all(session, clock, webinar, PEOPLE[:1])
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    old_start = webinar.start_at
    new_start = old_start + timedelta(days=1, hours=3)
    await reschedule(session, clock, account, webinar, new_start)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    first, second = [check(runtime, raw, PEOPLE[0][0]) for raw in smtp.raw(PEOPLE[0][0])]
    assert (first.sequence, second.sequence) == (0, 1)
    assert second.start == new_start and second.subject.startswith("Изменение: ")
    assert second.msg["Message-ID"] != first.msg["Message-ID"]
    [update] = await rows_of(runtime, kind="update")
    assert (update.status, update.sequence) == ("sent", 1)
    reminders = await rows_of(runtime, kind="reminder")
    old = [r for r in reminders if r.status == "superseded"]
    new = [r for r in reminders if r.status == "pending"]
    assert {r.due_at for r in old} == {old_start - timedelta(minutes=m) for m in (1440, 15)}
    assert {r.due_at for r in new} == {new_start - timedelta(minutes=m) for m in (1440, 15)}


async def test_cancelled_registration_gets_a_cancel_above_its_last_sequence_and_nothing_else(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    smtp: SmtpServer, mailer: SmtpMailer,
) -> None:
    account, webinar = await planned_webinar(session, clock)
    [alice, bob] = await register_all(session, clock, webinar, PEOPLE[:2])
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    await cancel(session, clock, alice)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    await reschedule(session, clock, account, webinar, webinar.start_at + timedelta(hours=2))
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    alice_got = [check(runtime, raw, PEOPLE[0][0]) for raw in smtp.raw(PEOPLE[0][0])]
    assert [(c.method, c.sequence) for c in alice_got] == [("REQUEST", 0), ("CANCEL", 1)]
    assert "Ваша регистрация" in alice_got[1].text
    bob_got = [check(runtime, raw, PEOPLE[1][0]) for raw in smtp.raw(PEOPLE[1][0])]
    assert [(c.method, c.sequence) for c in bob_got] == [("REQUEST", 0), ("REQUEST", 1)]
    alice_rows = {(d.kind, d.status) for d in await rows_of(runtime, registration_id=alice.id)}
    assert ("reminder", "pending") not in alice_rows
    assert bob.status == "confirmed"


async def test_cancelled_webinar_sends_cancel_to_everyone_and_no_reminders(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    smtp: SmtpServer, mailer: SmtpMailer,
) -> None:
    account, webinar = await planned_webinar(session, clock)
    await register_all(session, clock, webinar)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    await cancel_webinar(session, clock, account, webinar.id)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    for address, _ in PEOPLE:
        got = [check(runtime, raw, address) for raw in smtp.raw(address)]
        assert [(c.method, c.sequence) for c in got] == [("REQUEST", 0), ("CANCEL", 1)]
        assert "отменено" in got[1].text
    assert {d.status for d in await rows_of(runtime, kind="reminder")} == {"superseded"}


async def test_a_row_claimed_before_a_change_is_rechecked_and_superseded(
    runtime: Runtime, session: AsyncSession, clock: FixedClock,
) -> None:
    """The race the supersede UPDATE cannot see: the row was already "sending"."""
    account, webinar = await planned_webinar(session, clock,
                                             start_at=clock.now() + timedelta(minutes=16))
    [alice] = await register_all(session, clock, webinar, PEOPLE[:1])
    await session.commit()
    await commit_only(session, runtime)
    clock.advance(timedelta(minutes=1))  # the 15-minute reminder is due now
    [reminder] = await rows_of(runtime, kind="reminder")
    [invitation] = await rows_of(runtime, kind="invitation")
    async with runtime.sessionmaker() as s:
        assert await claim(s, [reminder.id, invitation.id], clock.now(),
                           lease=lease(runtime)) == sorted(
            [reminder.id, invitation.id])
        await s.commit()
    await reschedule(session, clock, account, webinar, webinar.start_at + timedelta(days=1))
    await session.commit()
    async with runtime.sessionmaker() as s:
        planned, skipped = await plan(s, runtime.config, [reminder.id, invitation.id],
                                      clock.now())
    assert [(o.id, o.status, o.error) for o in skipped] == [
        (reminder.id, "superseded", "the webinar moved")]
    assert [p.row.id for p in planned] == [invitation.id]
    assert planned[0].sequence == 1  # rendered with the current state
    await cancel(session, clock, alice)
    await session.commit()
    async with runtime.sessionmaker() as s:
        planned, skipped = await plan(s, runtime.config, [invitation.id], clock.now())
    assert planned == [] and skipped[0].error == "registration cancelled"


async def test_smtp_down_returns_rows_to_pending_with_back_off_then_reconcile_sends_them(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    smtp: SmtpServer, mailer: SmtpMailer,
) -> None:
    _, webinar = await planned_webinar(session, clock)
    await register_all(session, clock, webinar)
    await session.commit()
    ids = await commit_only(session, runtime)
    invitations = [d.id for d in await rows_of(runtime, kind="invitation")]
    smtp.stop()
    result = await send_deliveries(direct_ctx(runtime), ids)
    assert result["retry"] == 3 and result["sent"] == 0
    rows = await rows_of(runtime, kind="invitation")
    assert {(d.status, d.attempts, d.due_at) for d in rows} == {
        ("pending", 1, clock.now() + timedelta(minutes=1))}
    assert all("connect" in (d.last_error or "") for d in rows)
    assert smtp.connections == 0  # one refused connection stopped the batch
    smtp.start()
    clock.advance(timedelta(seconds=30))
    assert (await reconcile_deliveries(runtime.job_context()))["deliveries"] == 0  # not due
    clock.advance(grace(runtime) + timedelta(minutes=1))
    assert (await reconcile_deliveries(runtime.job_context()))["deliveries"] == 3
    await queue.drain()
    for address, _ in PEOPLE:
        assert smtp.count(address) == 1
    rows = await rows_of(runtime, kind="invitation")
    assert {(d.id, d.status, d.attempts) for d in rows} == {(i, "sent", 2) for i in invitations}


async def test_permanent_rejection_fails_that_delivery_only_and_shows_the_reason(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, smtp: SmtpServer,
    mailer: SmtpMailer,
) -> None:
    _, webinar = await planned_webinar(session, clock)
    await register_all(session, clock, webinar)
    await session.commit()
    smtp.reject.add("bob@school.example")
    smtp.defer.add("carol@school.example")
    await send_deliveries(direct_ctx(runtime), await commit_only(session, runtime))
    assert smtp.count("alice@school.example") == 1
    assert smtp.count("bob@school.example") == 0 == smtp.count("carol@school.example")
    rows = {d.registration_id: d for d in await rows_of(runtime, kind="invitation")}
    by_email = {}
    async with runtime.sessionmaker() as s:
        for r in (await s.scalars(select(Registration))).all():
            by_email[r.email] = rows[r.id]
    bob, carol = by_email["bob@school.example"], by_email["carol@school.example"]
    assert bob.status == "failed" and "550" in (bob.last_error or "")
    assert "mailbox unavailable" in (bob.last_error or "")
    assert carol.status == "pending" and "451" in (carol.last_error or "")
    assert by_email["alice@school.example"].status == "sent"


async def test_two_workers_never_claim_the_same_row(
    runtime: Runtime, session: AsyncSession, clock: FixedClock,
) -> None:
    _, webinar = await planned_webinar(session, clock)
    await register_all(session, clock, webinar)
    await session.commit()
    ids = await commit_only(session, runtime)
    ids = [d.id for d in await rows_of(runtime, kind="invitation")]

    async def worker() -> list[int]:
        async with runtime.sessionmaker() as s:
            got = await claim(s, ids, clock.now(), lease=lease(runtime))
            await s.commit()
            return got

    first, second = await asyncio.gather(worker(), worker())
    assert sorted(first + second) == sorted(ids)
    assert not set(first) & set(second)
    async with runtime.sessionmaker() as s:
        assert await claim(s, ids, clock.now(), lease=lease(runtime)) == []


async def test_reconcile_requeues_rows_whose_job_was_lost_and_reclaims_expired_leases(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    smtp: SmtpServer, mailer: SmtpMailer,
) -> None:
    _, webinar = await planned_webinar(session, clock)
    await register_all(session, clock, webinar, PEOPLE[:2])
    await session.commit()
    await commit_only(session, runtime)  # the process died between commit and enqueue
    first, second = await rows_of(runtime, kind="invitation")
    async with runtime.sessionmaker() as s:  # a worker claimed `second`, then died
        assert await claim(s, [second.id], clock.now(), lease=lease(runtime)) == [second.id]
        await s.commit()
    ctx = runtime.job_context()
    assert await reconcile_deliveries(ctx) == {"deliveries": 0, "reclaimed": 0}
    clock.advance(grace(runtime))
    assert await reconcile_deliveries(ctx) == {"deliveries": 1, "reclaimed": 0}
    await queue.drain()
    assert smtp.count(PEOPLE[0][0]) == 1 and smtp.count(PEOPLE[1][0]) == 0
    clock.advance(lease(runtime))
    assert await reconcile_deliveries(ctx) == {"deliveries": 1, "reclaimed": 1}
    await queue.drain()
    assert smtp.count(PEOPLE[1][0]) == 1
    [raw] = smtp.raw(PEOPLE[1][0])
    rows = {d.id: d for d in await rows_of(runtime, kind="invitation")}
    assert check(runtime, raw, PEOPLE[1][0]).message_id == rows[second.id].message_id
    assert (rows[second.id].status, rows[second.id].attempts) == ("sent", 2)
    assert rows[first.id].enqueued_at is not None
    assert await reconcile_deliveries(ctx) == {"deliveries": 0, "reclaimed": 0}


async def test_reminders_weeks_ahead_are_swept_onto_the_queue_only_when_nearly_due(
    runtime: Runtime, session: AsyncSession, clock: FixedClock,
) -> None:
    start = clock.now() + timedelta(days=21)
    _, webinar = await planned_webinar(session, clock, start_at=start)
    await register_all(session, clock, webinar, PEOPLE[:1])
    # Only the invitation is due within the horizon; both reminders stay in the database.
    jobs = await dispatch_held(session, runtime.job_context())
    queued = sorted(i for job in jobs if job.name == SEND_DELIVERIES for i in job.args[0])
    assert len(await rows_of(runtime)) == 3
    assert queued == [d.id for d in await rows_of(runtime, kind="invitation")]
    clock.advance(grace(runtime))
    async with runtime.sessionmaker() as s:
        due = await due_unqueued(s, clock.now(), grace(runtime))
    [invitation] = await rows_of(runtime, kind="invitation")
    assert [i for i, _ in due] == [invitation.id]
    day_before = start - timedelta(days=1)
    clock.set(day_before - timedelta(minutes=5))
    async with runtime.sessionmaker() as s:
        due = await due_unqueued(s, clock.now(), grace(runtime))
    assert [at for _, at in due] == [invitation.due_at, day_before]


# --- the SMTP transport itself ------------------------------------------------------------


def outgoing(to: str, n: int = 1) -> OutgoingMail:
    raw = (f"From: events@union.example\r\nTo: {to}\r\nSubject: test {n}\r\n"
           f"Message-ID: <t{n}@union.example>\r\n\r\nbody\r\n").encode()
    return OutgoingMail(sender="events@union.example", recipient=to, raw=raw,
                        message_id=f"<t{n}@union.example>", subject=f"test {n}",
                        date=datetime(2026, 12, 1))


async def test_the_envelope_carries_bare_addresses_whatever_form_they_come_in() -> None:
    """MAIL and RCPT carry the bare address (`smtp_path`), nothing more."""
    with SmtpServer() as smtp:
        mailer = SmtpMailer.from_url(smtp.url)
        try:
            await mailer.send(replace(outgoing("a+tag@school.example"),
                                      sender="Union events <events@union.example>"))
            await mailer.send(outgoing("Ann Smith <ann@school.example>", 2))
            # no second command smuggled in through an address
            await mailer.send(outgoing("x@school.example>\r\nRCPT TO:<y@evil.example", 3))
        finally:
            await mailer.close()
    assert [(sender, rcpt) for sender, rcpt, _ in smtp.log] == [
        ("events@union.example", "a+tag@school.example"),
        ("events@union.example", "ann@school.example"),
        ("events@union.example", "x@school.example")]


async def test_smtp_mailer_reuses_a_small_pool_of_connections() -> None:
    with SmtpServer() as smtp:
        mailer = SmtpMailer.from_url(smtp.url + "?pool=3")
        try:
            await asyncio.gather(*(mailer.send(outgoing(f"m{i}@school.example", i))
                                   for i in range(30)))
        finally:
            await mailer.close()
        assert smtp.total() == 30 and 1 <= smtp.connections <= 3


async def test_smtp_mailer_logs_in_with_the_credentials_of_the_url() -> None:
    with SmtpServer(login=("robot", "s3cret pass")) as smtp:
        good = SmtpMailer.from_url(f"smtp://robot:s3cret%20pass@127.0.0.1:{smtp.port}")
        bad = SmtpMailer.from_url(f"smtp://robot:wrong@127.0.0.1:{smtp.port}")
        try:
            await good.send(outgoing("a@school.example"))
            with pytest.raises(TransientMailError) as caught:
                await bad.send(outgoing("b@school.example"))
        finally:
            await good.close()
            await bad.close()
        assert smtp.count("a@school.example") == 1 and smtp.count("b@school.example") == 0
        assert "wrong" not in caught.value.reason and "s3cret" not in caught.value.reason


async def test_smtp_mailer_translates_refusals_and_outages() -> None:
    with SmtpServer() as smtp:
        smtp.reject.add("gone@school.example")
        mailer = SmtpMailer.from_url(smtp.url)
        try:
            with pytest.raises(PermanentMailError) as refused:
                await mailer.send(outgoing("gone@school.example"))
            await mailer.send(outgoing("here@school.example"))  # the connection still works
            smtp.stop()
            with pytest.raises(TransientMailError) as down:
                await mailer.send(outgoing("here@school.example", 2))
            smtp.start()
            await mailer.send(outgoing("here@school.example", 3))
        finally:
            await mailer.close()
        assert refused.value.reason.startswith("recipient refused: 550")
        assert down.value.server_down
        assert smtp.count("here@school.example") == 2


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def tls_pair(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server's context with a self-signed certificate, and a client's that trusts it."""
    cert, key = self_signed(directory)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    return server_context, ssl.create_default_context(cafile=str(cert))


async def test_smtp_mailer_upgrades_with_starttls_when_the_server_offers_it(
    tmp_path: Path,
) -> None:
    server_context, trusted = tls_pair(tmp_path)
    with SmtpServer(starttls=server_context) as smtp:  # refuses mail before STARTTLS
        mailer = SmtpMailer.from_url(smtp.url, tls_context=trusted)
        try:
            await mailer.send(outgoing("a@school.example"))
            await mailer.send(outgoing("b@school.example", 2))
        finally:
            await mailer.close()
        assert smtp.count("a@school.example") == 1 == smtp.count("b@school.example")
        assert smtp.tls_sessions == 1  # one upgraded connection, reused


async def test_smtp_mailer_waits_for_before_data_with_the_envelope_taken_and_nothing_sent(
) -> None:
    """The worker commits the previous outcome while the next envelope goes out; the message
    itself (what the server can accept) waits for `before_data`."""
    with SmtpServer() as smtp:
        mailer = SmtpMailer.from_url(smtp.url)
        seen: list[int] = []

        async def before_data() -> None:
            seen.append(smtp.count("a@school.example"))

        try:
            await mailer.send(outgoing("a@school.example"), before_data)
            await mailer.send(outgoing("gone@school.example", 2), before_data)  # accepted too
            smtp.reject.add("refused@school.example")
            with pytest.raises(PermanentMailError):
                await mailer.send(outgoing("refused@school.example", 3), before_data)
            await mailer.send(outgoing("b@school.example", 4))  # the session was reset
        finally:
            await mailer.close()
    assert seen == [0, 1], "called before the message, once each, never for a refused RCPT"
    assert smtp.count("a@school.example") == 1 and smtp.count("b@school.example") == 1
    assert smtp.count("refused@school.example") == 0


async def test_slots_go_to_the_earliest_job_and_a_cancelled_waiter_takes_none() -> None:
    slots = Slots(1)
    order: list[int] = []
    await slots.take(0)

    async def job(rank: int) -> None:
        await slots.take(rank)
        order.append(rank)
        slots.give()

    waiting = [asyncio.create_task(job(rank)) for rank in (3, 1, 2)]
    gone = asyncio.create_task(job(0))
    await asyncio.sleep(0)  # every task now waits in line
    gone.cancel()
    slots.give()
    await asyncio.gather(*waiting)
    assert order == [1, 2, 3] and gone.cancelled()
    await asyncio.wait_for(slots.take(9), 1)  # the slot came back: nothing leaked


async def test_accepted_messages_waiting_for_their_commit_are_bounded() -> None:
    flushes: list[int] = []
    unrecorded = Unrecorded(2, exhausted=lambda: flushes.append(len(through)))
    held: list[asyncio.Event] = [asyncio.Event() for _ in range(3)]
    through: list[int] = []

    async def message(n: int) -> None:
        permit = unrecorded.permit()
        await permit.take()
        await permit.take()  # a mailer's retry takes no second permit
        through.append(n)
        await held[n].wait()  # the outcome's commit
        permit.release()

    tasks = [asyncio.create_task(message(n)) for n in range(3)]
    for _ in range(3):
        await asyncio.sleep(0)
    assert through == [0, 1], "a third accepted message waits for a commit"
    assert flushes == [2], "and asks for the outcomes holding the permits to be committed"
    held[0].set()
    await tasks[0]
    for _ in range(3):
        await asyncio.sleep(0)
    assert through == [0, 1, 2]
    held[1].set()
    held[2].set()
    await asyncio.gather(*tasks)
