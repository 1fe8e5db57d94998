"""Proof against faults (issue 3, §5): real Redis through arq, real databases, real SMTP.

Jobs go through `ArqQueue` onto Redis (its own database, flushed before and after) and run in
an arq `Worker` in burst mode inside the test. arq reads the test's clock (`arq_on_test_clock`),
so a job deferred "to the due minute" sits in Redis until the test moves its clock there; work
Redis lost is run the way production recovers it: move the clock, run `reconcile`, run the
worker. Each
test then counts what the SMTP server received per recipient, and checks every message
against the checklist and two independent iCalendar parsers.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import arq.connections
import arq.jobs
import arq.worker
import pytest
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import default_queue_name
from arq.worker import Worker, func
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webinars import adoption, webhooks
from webinars.clock import FixedClock
from webinars.config import AppConfig
from webinars.i18n import format_when_both
from webinars.mailer import SmtpMailer
from webinars.models import Account, Delivery, Event, Registration, WebhookMessage, Webinar
from webinars.queue import ArqQueue, InProcessQueue, Queue, commit_and_enqueue
from webinars.registrations import cancel
from webinars.runtime import Runtime
from webinars.scheduling import update_webinar
from webinars.validation import webinar_input
from workers import FUNCTIONS
from workers.dispatch import dispatch
from workers.recheck import claim
from workers.reconcile import reconcile as reconcile_job

from .factories import make_account, make_org, make_registration, make_webinar
from .smtp import Checked, SmtpServer, check_message, parse
from .webhook_receiver import Receiver

#: This file's own Redis database, flushed freely; two test runs at once each set their own.
REDIS_DB = int(os.environ.get("TEST_REDIS_DB", "9"))
#: The default lease and reconcile grace (DELIVERY_LEASE, RECONCILE_GRACE).
LEASE = timedelta(seconds=AppConfig.delivery_lease)
GRACE = timedelta(seconds=AppConfig.reconcile_grace)
PEOPLE = [("alice@school.example", "Алиса Петрова", "Asia/Yekaterinburg"),
          ("bob@school.example", "Борис Сидоров", "Europe/Moscow"),
          ("carol@school.example", "Carol White", "Asia/Vladivostok")]


@pytest.fixture(autouse=True)
def arq_on_test_clock(monkeypatch: pytest.MonkeyPatch, clock: FixedClock) -> None:
    """arq decides what is due by the wall clock, the product by its own clock: both read the
    test's here. (They once agreed only because the test clock stood ahead of the wall clock,
    until the wall clock caught up with it.)"""
    def now_ms() -> int:
        return int(clock.now().timestamp() * 1000)

    for module in (arq.connections, arq.jobs, arq.worker):
        monkeypatch.setattr(module, "timestamp_ms", now_ms)


@pytest.fixture
async def redis() -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings(host="127.0.0.1", port=6379, database=REDIS_DB))
    await pool.flushdb()
    try:
        yield pool
    finally:
        await pool.flushdb()
        await pool.aclose()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
async def arq_runtime(runtime: Runtime, redis: ArqRedis, smtp: SmtpServer
                      ) -> AsyncIterator[Runtime]:
    """The production shape: web side and worker share Redis; mail goes over SMTP."""
    in_process = runtime.queue
    runtime.queue = ArqQueue(redis)
    runtime.mailer = SmtpMailer.from_url(smtp.url + "?pool=3")
    try:
        yield runtime
    finally:
        runtime.queue = in_process  # the pool belongs to the `redis` fixture


async def run_worker(runtime: Runtime, redis: ArqRedis) -> int:
    """Run every job that is ready now (and what those jobs enqueue) in an arq Worker."""
    done = 0
    for _ in range(20):
        ready = await redis.zcount(default_queue_name, float("-inf"), arq.worker.timestamp_ms())
        if not ready:
            return done
        worker = Worker(functions=[func(f, name=n) for n, f in FUNCTIONS.items()],  # type: ignore[arg-type]
                        redis_pool=redis, burst=True, max_burst_jobs=ready,
                        ctx=runtime.job_context(), handle_signals=False, poll_delay=0.01,
                        keep_result=0)
        done += await worker.run_check()
    raise AssertionError("jobs keep enqueueing jobs")


async def reconcile(runtime: Runtime, redis: ArqRedis) -> dict[str, int]:
    """The periodic job (undispatched events, lost meeting jobs, deliveries), then a worker."""
    result = await reconcile_job(runtime.job_context())
    await run_worker(runtime, redis)
    return result


async def dispatch_now(runtime: Runtime) -> None:
    """The dispatcher's part of the worker alone: rows written, their send jobs on Redis."""
    async with runtime.sessionmaker() as s:
        ids = (await s.scalars(select(Event.id).where(Event.dispatched_at.is_(None))
                               .order_by(Event.id))).all()
    for event_id in ids:
        await dispatch(runtime.job_context(), event_id)  # type: ignore[arg-type]


async def setup(session: AsyncSession, clock: FixedClock, queue: Queue | None,
                people: list[tuple[str, str, str]] = PEOPLE, **webinar: Any
                ) -> tuple[Account, Webinar, dict[str, Registration]]:
    org = await make_org(session, clock)
    account = await make_account(session, clock, org)
    w = await make_webinar(session, clock, account, org, **webinar)
    registrations = {email: await make_registration(session, clock, w, email=email, name=name,
                                                    timezone=zone)
                     for email, name, zone in people}
    if queue is not None:
        await commit_and_enqueue(session, queue, clock)
    return account, w, registrations


async def reschedule(session: AsyncSession, clock: FixedClock, account: Account,
                     webinar: Webinar, start: datetime, queue: Queue) -> None:
    data = webinar_input({"start": start.isoformat()}, clock, default_timezone=webinar.timezone,
                         partial=True)
    await update_webinar(session, clock, account, webinar.id, data)
    await commit_and_enqueue(session, queue, clock)


def received(runtime: Runtime, smtp: SmtpServer, address: str) -> list[Checked]:
    """Every message this recipient got, each checked against the checklist."""
    return [check_message(raw, recipient=address, mail_from=runtime.config.mail_from,
                          mail_from_name=runtime.config.mail_from_name)
            for raw in smtp.raw(address)]


async def deliveries(runtime: Runtime, **where: Any) -> list[Delivery]:
    async with runtime.sessionmaker() as s:
        stmt = select(Delivery).order_by(Delivery.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(Delivery, key) == value)
        return list((await s.scalars(stmt)).all())


def kinds(messages: list[Checked]) -> list[str]:
    return [c.subject.split(":")[0] for c in messages]


async def test_redis_flushed_while_reminders_are_pending_every_reminder_arrives_once(
    arq_runtime: Runtime, redis: ArqRedis, session: AsyncSession, clock: FixedClock,
    smtp: SmtpServer,
) -> None:
    runtime, t0 = arq_runtime, clock.now()
    assert runtime.queue is not None
    _, webinar, _ = await setup(session, clock, runtime.queue,
                                start_at=t0 + timedelta(minutes=20), reminder_offsets=[15, 10])
    await run_worker(runtime, redis)
    assert all(smtp.count(p[0]) == 1 for p in PEOPLE)  # the invitations
    assert await redis.zcard(default_queue_name) > 0  # the reminders wait in Redis…
    await redis.flushdb()  # …until Redis loses them
    clock.set(t0 + timedelta(minutes=5) + GRACE)
    assert (await reconcile(runtime, redis))["deliveries"] > 0
    assert all(smtp.count(p[0]) == 2 for p in PEOPLE)
    await redis.flushdb()  # and once more, with the second reminder queued by reconcile
    clock.set(t0 + timedelta(minutes=10) + GRACE)
    await reconcile(runtime, redis)
    clock.advance(timedelta(minutes=3))
    await reconcile(runtime, redis)
    for email, _, zone in PEOPLE:
        got = received(runtime, smtp, email)
        assert kinds(got) == ["Приглашение", "Напоминание", "Напоминание"]
        assert "через 15 минут" in got[1].text and "через 10 минут" in got[2].text
        assert format_when_both(webinar.start_at, webinar.timezone, zone, "ru") in got[1].text
    assert {d.status for d in await deliveries(runtime)} == {"sent"}


async def test_worker_killed_after_claiming_is_sent_once_after_the_lease(
    arq_runtime: Runtime, redis: ArqRedis, session: AsyncSession, clock: FixedClock,
    smtp: SmtpServer,
) -> None:
    runtime = arq_runtime
    assert runtime.queue is not None
    _, _, regs = await setup(session, clock, runtime.queue)
    await dispatch_now(runtime)
    [victim] = await deliveries(runtime, registration_id=regs[PEOPLE[0][0]].id,
                                kind="invitation")
    async with runtime.sessionmaker() as s:  # a worker claims the row, then is killed
        assert await claim(s, [victim.id], clock.now(), lease=LEASE) == [victim.id]
        await s.commit()
    await run_worker(runtime, redis)
    assert smtp.count(PEOPLE[0][0]) == 0
    assert smtp.count(PEOPLE[1][0]) == 1 == smtp.count(PEOPLE[2][0])
    clock.advance(LEASE - timedelta(seconds=1))
    assert (await reconcile(runtime, redis))["reclaimed"] == 0
    assert smtp.count(PEOPLE[0][0]) == 0
    clock.advance(timedelta(seconds=2))
    assert (await reconcile(runtime, redis))["reclaimed"] == 1
    clock.advance(GRACE * 3)
    await reconcile(runtime, redis)
    for email, _, _ in PEOPLE:
        assert len(received(runtime, smtp, email)) == 1
    [again] = received(runtime, smtp, PEOPLE[0][0])
    [row] = await deliveries(runtime, id=victim.id)
    assert again.message_id == row.message_id and again.method == "REQUEST"
    assert (row.status, row.attempts) == ("sent", 2)


async def test_smtp_down_for_a_while_then_up_everything_arrives_once(
    arq_runtime: Runtime, redis: ArqRedis, session: AsyncSession, clock: FixedClock,
    smtp: SmtpServer,
) -> None:
    runtime = arq_runtime
    smtp.stop()
    assert runtime.queue is not None
    await setup(session, clock, runtime.queue)
    await run_worker(runtime, redis)
    rows = await deliveries(runtime, kind="invitation")
    assert {(r.status, r.attempts) for r in rows} == {("pending", 1)}
    assert all("cannot connect" in (r.last_error or "") for r in rows)
    clock.advance(timedelta(minutes=1) + GRACE)
    await reconcile(runtime, redis)  # still down: a second attempt, a longer wait
    assert {(r.status, r.attempts) for r in await deliveries(runtime, kind="invitation")} == {
        ("pending", 2)}
    smtp.start()
    clock.advance(timedelta(minutes=2) + GRACE)
    await reconcile(runtime, redis)
    clock.advance(timedelta(minutes=10))
    await reconcile(runtime, redis)
    for email, _, _ in PEOPLE:
        [invitation] = received(runtime, smtp, email)
        assert invitation.method == "REQUEST"
    assert {(r.status, r.attempts) for r in await deliveries(runtime, kind="invitation")} == {
        ("sent", 3)}


async def test_one_recipient_rejected_permanently_the_others_arrive(
    arq_runtime: Runtime, redis: ArqRedis, session: AsyncSession, clock: FixedClock,
    smtp: SmtpServer,
) -> None:
    runtime = arq_runtime
    smtp.reject.add(PEOPLE[1][0])
    assert runtime.queue is not None
    _, _, regs = await setup(session, clock, runtime.queue)
    await run_worker(runtime, redis)
    clock.advance(timedelta(hours=1))
    await reconcile(runtime, redis)
    assert len(received(runtime, smtp, PEOPLE[0][0])) == 1
    assert len(received(runtime, smtp, PEOPLE[2][0])) == 1
    assert smtp.count(PEOPLE[1][0]) == 0
    [rejected] = await deliveries(runtime, registration_id=regs[PEOPLE[1][0]].id,
                                  kind="invitation")
    assert rejected.status == "failed" and rejected.attempts == 1
    assert "550" in (rejected.last_error or "") and "mailbox unavailable" in (rejected.last_error or "")


async def test_reschedule_twice_quickly_ends_with_one_event_at_the_final_time(
    arq_runtime: Runtime, redis: ArqRedis, session: AsyncSession, clock: FixedClock,
    smtp: SmtpServer,
) -> None:
    runtime, t0 = arq_runtime, clock.now()
    queue = runtime.queue
    assert queue is not None
    first = t0 + timedelta(days=2)
    account, webinar, regs = await setup(session, clock, queue, start_at=first)
    await run_worker(runtime, redis)
    middle, final = first + timedelta(days=1), first + timedelta(days=2, hours=3)
    await reschedule(session, clock, account, webinar, middle, queue)
    clock.advance(timedelta(seconds=5))
    await reschedule(session, clock, account, webinar, final, queue)
    await run_worker(runtime, redis)
    # Walk the clock over every reminder moment, old and new.
    moments = sorted({start - timedelta(minutes=m) for start in (first, middle, final)
                      for m in (1440, 15)} | {final + timedelta(hours=3)})
    for moment in moments:
        clock.set(moment + timedelta(seconds=1))
        await reconcile(runtime, redis)
        clock.set(moment + GRACE + timedelta(minutes=1))
        await reconcile(runtime, redis)
    for email, _, zone in PEOPLE:
        got = received(runtime, smtp, email)
        calendars = [c for c in got if c.method]
        assert [(c.method, c.sequence) for c in calendars] == [("REQUEST", 0), ("REQUEST", 2)]
        last = calendars[-1]
        assert last.start == final and last.sequence == max(c.sequence for c in calendars)
        reminders = [c for c in got if c.method is None]
        assert len(reminders) == 2  # 24 hours and 15 minutes before the final time only
        assert all(format_when_both(final, webinar.timezone, zone, "ru") in r.text
                   for r in reminders)
    superseded = await deliveries(runtime, status="superseded")
    assert {d.kind for d in superseded} == {"update", "reminder"}
    assert len(superseded) == len(PEOPLE) * (1 + 4)
    assert regs  # every registrant was checked above


async def test_registration_cancelled_while_its_reminder_waits_in_redis_gets_no_reminder(
    arq_runtime: Runtime, redis: ArqRedis, session: AsyncSession, clock: FixedClock,
    smtp: SmtpServer,
) -> None:
    runtime, t0 = arq_runtime, clock.now()
    assert runtime.queue is not None
    _, _, regs = await setup(session, clock, runtime.queue, PEOPLE[:2],
                             start_at=t0 + timedelta(minutes=20), reminder_offsets=[15])
    await run_worker(runtime, redis)
    await cancel(session, clock, regs[PEOPLE[0][0]])
    await commit_and_enqueue(session, runtime.queue, clock)
    await run_worker(runtime, redis)
    clock.set(t0 + timedelta(minutes=5) + GRACE)
    await reconcile(runtime, redis)
    alice = received(runtime, smtp, PEOPLE[0][0])
    assert [(c.method, c.sequence) for c in alice] == [("REQUEST", 0), ("CANCEL", 1)]
    bob = received(runtime, smtp, PEOPLE[1][0])
    assert [c.method for c in bob] == ["REQUEST", None]


async def test_in_process_runner_sends_through_the_same_job_functions(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    smtp: SmtpServer,
) -> None:
    """The embedded default with an SMTP server: no Redis, the same jobs."""
    runtime.mailer = SmtpMailer.from_url(smtp.url)
    queue.ctx["mailer"] = runtime.mailer
    await setup(session, clock, queue, PEOPLE[:1])
    await queue.drain()
    [invitation] = received(runtime, smtp, PEOPLE[0][0])
    assert invitation.method == "REQUEST"


async def test_a_webhook_endpoint_down_for_an_hour_with_redis_flushed_gets_every_event_once(
    arq_runtime: Runtime, redis: ArqRedis, session: AsyncSession, clock: FixedClock,
    smtp: SmtpServer, receiver: Receiver,
) -> None:
    """The integrator's side of an outage: their endpoint answers 503 for an hour and Redis is
    flushed twice meanwhile; afterwards every event arrives, verified, each under one id."""
    runtime = arq_runtime
    runtime.config = replace(runtime.config, webhook_allow_loopback=True)
    receiver.status = 503
    assert runtime.queue is not None
    account, webinar, regs = await setup(session, clock, runtime.queue)
    created = await webhooks.create(  # before the worker dispatches setup's events
        session, account, webinar.organization_id,
        webhooks.endpoint_input({"url": receiver.url}, allow_loopback=True, partial=False),
        secret_key=runtime.config.secret_key, now=clock.now())
    receiver.secret = created.secret
    await session.commit()
    await run_worker(runtime, redis)
    await reschedule(session, clock, account, webinar, webinar.start_at + timedelta(days=1),
                     runtime.queue)
    await cancel(session, clock, regs[PEOPLE[0][0]])
    await commit_and_enqueue(session, runtime.queue, clock)
    await run_worker(runtime, redis)
    for minute in range(0, 60, 5):  # an hour down, reconcile every five minutes
        if minute in (10, 40):
            await redis.flushdb()
        clock.advance(timedelta(minutes=5))
        await reconcile(runtime, redis)
    receiver.status = 200
    for _ in range(60):  # the next tries come on the Standard Webhooks schedule
        clock.advance(timedelta(minutes=5))
        await reconcile(runtime, redis)
    async with runtime.sessionmaker() as s:
        messages = (await s.scalars(select(WebhookMessage))).all()
        recorded = (await s.scalars(select(Event.kind))).all()
    assert {m.status for m in messages} == {"sent"}
    assert sorted(m.kind for m in messages) == sorted(recorded)
    assert {"webinar.changed", "registration.cancelled"} <= set(recorded)
    delivered = [r for r in receiver.received if r.headers.get("webhook-id")]
    receiver.verified()  # every try, the failed ones too, is signed correctly
    ids = [r.msg_id for r in delivered]
    assert set(ids) == {m.msg_id for m in messages}  # one stable id per (event, endpoint)
    assert len(ids) > len(messages)  # retried while it answered 503
    assert all(m.attempts >= 2 for m in messages)


async def test_redis_flushed_before_plan_reminders_and_copy_notices_they_arrive_once(
    arq_runtime: Runtime, redis: ArqRedis, session: AsyncSession, clock: FixedClock,
    smtp: SmtpServer,
) -> None:
    """A federal organizer reminds a region of a plan item, and changes an item another region
    copied; Redis loses both jobs. The reconcile finds the reminder asked for and the change
    not yet told in the database: each organizer hears once, however often it runs."""
    runtime = arq_runtime
    assert runtime.queue is not None
    union = await make_org(session, clock)
    admin = await make_account(session, clock, union, "admin@union.example", role="admin")
    north = await make_org(session, clock, "north", parent=union, level="regional")
    await make_account(session, clock, north, "north@union.example")
    south = await make_org(session, clock, "south", parent=union, level="regional")
    await make_account(session, clock, south, "south@union.example")
    item = await make_webinar(session, clock, admin, union, title="Федеральный семинар")
    await adoption.copy(session, clock, admin, item.id, south.id, {}, {},
                        uid_domain=runtime.config.uid_domain)
    await commit_and_enqueue(session, runtime.queue, clock)
    await run_worker(runtime, redis)

    assert await adoption.request_reminders(session, admin, item.id, "regional",
                                            clock.now()) == [north.id]
    changed = webinar_input({"title": "Федеральный семинар: новая программа"}, clock,
                            default_timezone="Europe/Moscow", partial=True)
    await update_webinar(session, clock, admin, item.id, changed)
    await commit_and_enqueue(session, runtime.queue, clock)
    await dispatch_now(runtime)  # the dispatcher queues the notice to the copy's organizer…
    await redis.flushdb()        # …and Redis loses it with the reminder
    assert smtp.count("north@union.example") == 0 and smtp.count("south@union.example") == 0

    clock.advance(GRACE + timedelta(seconds=1))
    found = await reconcile(runtime, redis)
    assert (found["plan_reminders"], found["copies_told"]) == (1, 1)
    [reminder] = [parse(raw) for raw in smtp.raw("north@union.example")]
    assert "Федеральный семинар" in str(reminder["Subject"])
    [told] = [parse(raw) for raw in smtp.raw("south@union.example")]
    body = told.get_body(preferencelist=("plain",))
    assert body is not None and "новая программа" in body.get_content()
    for _ in range(2):  # nothing is pending any more: the next runs send nothing
        clock.advance(timedelta(minutes=1))
        found = await reconcile(runtime, redis)
        assert (found["plan_reminders"], found["copies_told"]) == (0, 0)
    assert smtp.count("north@union.example") == 1 and smtp.count("south@union.example") == 1
