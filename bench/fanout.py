"""Fan-out benchmark: a webinar with 5,000 registrants is rescheduled.

Measures the time from the reschedule (the organizer's request: rows written, jobs put on Redis)
until a local SMTP server has accepted all 5,000 updates, sent by ONE real `webinars worker`
process (arq on Redis db 15, PostgreSQL database `webinars_bench`). In the same run, the same SMTP
server's raw rate: 5,000 pre-built messages of the same size sent with aiosmtplib over the same
number of reused connections, measured before and after the product.

    .venv/bin/python bench/fanout.py [--registrants 5000] [--pool 5]

The SMTP server (aiosmtpd) runs in a process of its own, so it takes the same share of the
machine in both measurements. Target: product rate ≥ half the raw rate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import aiosmtplib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    BASE_URL,
    DATABASE_URL,
    MAIL_FROM,
    REDIS_URL,
    SECRET,
    Sink,
    flush_redis,
    prepare_database,
    seed,
    start_worker,
    stop_worker,
)
from webinars.clock import SystemClock
from webinars.config import AppConfig
from webinars.db import make_engine, make_sessionmaker
from webinars.mail import MessageBatch, Recipient
from webinars.mailer import OutgoingMail
from webinars.models import Account, Registration, Webinar
from webinars.queue import ArqQueue, commit_and_enqueue
from webinars.registrations import register
from webinars.scheduling import update_webinar
from webinars.validation import registration_input, webinar_input


async def prebuilt(sessionmaker: object, webinar_id: int, config: AppConfig) -> list[OutgoingMail]:
    """The raw baseline's messages: real update messages, rendered before timing starts."""
    from sqlalchemy import select

    async with sessionmaker() as session:  # type: ignore[operator]
        webinar = await session.scalar(select(Webinar).where(Webinar.id == webinar_id))
        people = (await session.scalars(select(Registration).where(
            Registration.webinar_id == webinar_id).order_by(Registration.id))).all()
    batch = MessageBatch(config, webinar, "update", SystemClock().now())
    return [batch.render(Recipient(-(i + 1), r.name, r.email, r.locale, r.timezone, r.token,
                                   r.join_token),
                         sequence=1) for i, r in enumerate(people)]


async def raw_rate(sink: Sink, messages: list[OutgoingMail], pool: int) -> float:
    """aiosmtplib alone: `pool` connections opened first, then every message sent over them."""
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, start_tls=False,
                               local_hostname="bench") for _ in range(pool)]
    for client in clients:
        await client.connect()
    sink.reset()
    shares = [messages[i::pool] for i in range(pool)]

    async def send(client: aiosmtplib.SMTP, share: list[OutgoingMail]) -> None:
        for m in share:
            await client.sendmail(m.sender, [m.recipient], m.raw)

    started = time.time()
    await asyncio.gather(*(send(c, s) for c, s in zip(clients, shares, strict=True)))
    last = sink.wait_for(len(messages), 120)
    for client in clients:
        await client.quit()
    return len(messages) / (last - started)


async def warm_up(sessionmaker: object, queue: ArqQueue, webinar_id: int, sink: Sink) -> None:
    """One registration through the product, so the worker has its connections open."""
    from sqlalchemy import select

    clock = SystemClock()
    sink.reset()
    async with sessionmaker() as session:  # type: ignore[operator]
        webinar = await session.scalar(select(Webinar).where(Webinar.id == webinar_id))
        data = registration_input({"name": "Разогрев", "email": "warm@school.example"},
                                  default_locale="ru", default_timezone="Europe/Moscow")
        await register(session, clock, webinar, data)
        await commit_and_enqueue(session, queue, clock)
    sink.wait_for(1, 60)


async def fanout(sessionmaker: object, queue: ArqQueue, webinar_id: int, sink: Sink,
                 expected: int) -> dict[str, float]:
    from sqlalchemy import select

    clock = SystemClock()
    sink.reset()
    started = time.time()
    async with sessionmaker() as session:  # type: ignore[operator]
        webinar = await session.scalar(select(Webinar).where(Webinar.id == webinar_id))
        account = await session.scalar(select(Account).where(
            Account.id == webinar.created_by_id))
        data = webinar_input({"start": (webinar.start_at + timedelta(days=1)).isoformat()},
                             clock, default_timezone=webinar.timezone, partial=True)
        await update_webinar(session, clock, account, webinar_id, data)
        await commit_and_enqueue(session, queue, clock)
    committed = time.time()
    last = sink.wait_for(expected, 600)
    first = sink.times(1)[0]
    return {"seconds": last - started, "commit": committed - started,
            "first": first - started, "rate": expected / (last - started)}


async def main(args: argparse.Namespace) -> None:
    config = AppConfig(database_url=DATABASE_URL, secret_key=SECRET, base_url=BASE_URL,
                       mail_from=MAIL_FROM, redis_url=REDIS_URL)
    engine = make_engine(DATABASE_URL)
    sessionmaker = make_sessionmaker(engine)
    clock = SystemClock()
    n = args.registrants
    [webinar_id] = await seed(sessionmaker, clock, registrants=[n],
                              start=clock.now() + timedelta(days=7),
                              title="Информационная работа профсоюза", salt="fan")
    messages = await prebuilt(sessionmaker, webinar_id, config)
    size = statistics.mean(len(m.raw) for m in messages)
    sink = Sink(capacity=n + 10)
    log = Path(tempfile.mkdtemp(prefix="bench-")) / "worker.log"
    worker = start_worker(sink.port, args.pool, log)
    queue = await ArqQueue.connect(REDIS_URL)
    try:
        await warm_up(sessionmaker, queue, webinar_id, sink)
        raw_before = await raw_rate(sink, messages, args.pool)
        product = await fanout(sessionmaker, queue, webinar_id, sink, n + 1)
        raw_after = await raw_rate(sink, messages, args.pool)
    finally:
        await queue.close()
        stop_worker(worker)
        sink.stop()
        await engine.dispose()
    raw = (raw_before + raw_after) / 2
    print(f"fan-out of {n + 1} updates ({size / 1024:.1f} KB each), one `webinars worker` "
          f"process, SMTP pool {args.pool}, PostgreSQL + Redis")
    print(f"  reschedule committed and enqueued after {product['commit']:.2f} s, "
          f"first message at {product['first']:.2f} s")
    print(f"  all {n + 1} received after      {product['seconds']:.2f} s "
          f"-> {product['rate']:.0f} messages/s")
    print(f"  raw aiosmtplib, {args.pool} reused connections: {raw_before:.0f} (before) / "
          f"{raw_after:.0f} (after) messages/s")
    ratio = product["rate"] / raw
    print(f"  product / raw = {ratio:.2f}  (target >= 0.50: {'met' if ratio >= 0.5 else 'MISSED'})")
    sending = product["seconds"] - product["commit"]
    print(f"  of which sending (commit -> last received): {sending:.2f} s -> "
          f"{(n + 1) / sending:.0f} messages/s = {(n + 1) / sending / raw:.2f} of raw")
    print(f"  worker log: {log}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registrants", type=int, default=5000)
    parser.add_argument("--pool", type=int, default=5, help="SMTP connections (both sides)")
    arguments = parser.parse_args()
    prepare_database()
    asyncio.run(flush_redis())
    asyncio.run(main(arguments))
