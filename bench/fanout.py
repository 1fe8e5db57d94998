"""Fan-out benchmark: a webinar with 5,000 registrants is rescheduled.

Measures the time from the reschedule (the organizer's request: rows written, jobs put on Redis)
until a local SMTP server has accepted all 5,000 updates, sent by ONE real `webinars worker`
process (arq on Redis, PostgreSQL; both named by BENCH_REDIS_URL and BENCH_DB, see
bench/common.py). In the same run, the same SMTP server's raw rate: 5,000 pre-built messages of
the same size sent over the same number of reused connections by a client alone (the better of
aiosmtplib and the product's own `SmtpMailer`), measured before and after the product.

    .venv/bin/python bench/fanout.py [--registrants 5000] [--pool 5] [--workers 1]

`--workers 2` starts two worker processes, as docs/deploy.md runs them on two machines; each
message must still arrive exactly once. The raw baseline keeps `--pool` connections.

Also printed: the worker's memory once warmed up and its peak over the whole run, which must
not grow with the registrants (the worker writes and sends 1,000 members at a time).

The SMTP server (aiosmtpd) runs in a process of its own, so it takes the same share of the
machine in both measurements. Target: product rate ≥ half the raw rate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiosmtplib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    Sink,
    Target,
    Worker,
    Workers,
    prepare,
    reschedule,
    run_dir,
    seed,
    settle,
    smtp_url,
)
from webinars.clock import SystemClock
from webinars.config import AppConfig
from webinars.db import Sessionmaker, make_engine, make_sessionmaker
from webinars.mail import MessageBatch, Recipient
from webinars.mailer import OutgoingMail, SmtpMailer
from webinars.models import Registration, Webinar
from webinars.queue import ArqQueue, commit_and_enqueue
from webinars.registrations import register
from webinars.validation import registration_input


@dataclass(frozen=True)
class FanoutFigures:
    messages: int  # updates the reschedule had to send (registrants + the warm-up one)
    message_bytes: float  # mean size of one update
    pool: int
    commit: float  # seconds from the request's start until committed and enqueued
    first: float  # … until the first update arrived
    seconds: float  # … until the last one arrived
    raw_before: float  # messages/s, the better bare client (`raw_rate`), before the product
    raw_after: float  # … and after
    received: int  # what the SMTP server accepted during the product's run
    outcomes: dict[str, int]  # the update rows by status once settled
    worker_log: Path
    workers: int = 1  # `webinars worker` processes
    memory_ready: float = 0.0  # MiB resident in the worker once warmed up
    memory_peak: float = 0.0  # MiB, the most the worker was ever resident (VmHWM)
    worker_cpu: float = 0.0  # CPU seconds the worker processes used for the fan-out

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def raw(self) -> float:
        return (self.raw_before + self.raw_after) / 2

    @property
    def ratio(self) -> float:
        return self.rate / self.raw

    @property
    def sending(self) -> float:
        return self.seconds - self.commit


async def prebuilt(sessionmaker: Sessionmaker, webinar_id: int, config: AppConfig,
                   kind: str = "update") -> list[OutgoingMail]:
    """The raw baseline's messages: real messages of `kind` to the webinar's registrants,
    rendered before timing starts."""
    from sqlalchemy import select

    async with sessionmaker() as session:
        webinar = await session.scalar(select(Webinar).where(Webinar.id == webinar_id))
        assert webinar is not None
        people = (await session.scalars(select(Registration).where(
            Registration.webinar_id == webinar_id).order_by(Registration.id))).all()
    batch = MessageBatch(config, webinar, kind, SystemClock().now())
    messages = []
    for i, r in enumerate(people):
        # As the worker addresses them (`workers.recheck.load_rows`): a name typed on the
        # public form is left out until the address is proven; the Message-ID is random.
        trusted = r.address_confirmed_at is not None or r.registered_by_id is not None
        recipient = Recipient(-(i + 1), r.name if trusted else "", r.email, r.locale,
                              r.timezone, r.token, r.join_token,
                              f"<{uuid.uuid4().hex}@{config.uid_domain}>")
        messages.append(batch.render(recipient, sequence=webinar.sequence + 1,
                                     offset_minutes=15 if kind == "reminder" else None))
    return messages


async def raw_rate(sink: Sink, messages: list[OutgoingMail], pool: int, when: str) -> float:
    """The SMTP server's raw rate: the better of two clients sending alone over `pool`
    connections opened first, aiosmtplib and the product's own (`SmtpMailer`, no worker and no
    database), so the product is not held against a slower client than the one it uses. Both
    are printed."""
    library = await aiosmtplib_rate(sink, messages, pool)
    mailer = await mailer_rate(sink, messages, pool)
    print(f"  raw rate {when}: aiosmtplib {library:.0f}, the mailer alone {mailer:.0f} "
          "messages/s", flush=True)
    return max(library, mailer)


async def aiosmtplib_rate(sink: Sink, messages: list[OutgoingMail], pool: int) -> float:
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


async def mailer_rate(sink: Sink, messages: list[OutgoingMail], pool: int) -> float:
    mailer = SmtpMailer.from_url(smtp_url(sink.port, pool), local_hostname="bench")
    await asyncio.gather(*(mailer.send(m) for m in messages[:pool]))  # the connections
    sink.reset()
    todo = list(reversed(messages))

    async def send() -> None:
        while todo:
            await mailer.send(todo.pop())

    started = time.time()
    await asyncio.gather(*(send() for _ in range(pool)))
    last = sink.wait_for(len(messages), 120)
    await mailer.close()
    return len(messages) / (last - started)


async def warm_up(sessionmaker: Sessionmaker, queue: ArqQueue, webinar_id: int, sink: Sink,
                  worker: Worker | Workers) -> None:
    """One registration through the product, so the worker has its connections open."""
    from sqlalchemy import select

    clock = SystemClock()
    sink.reset()
    async with sessionmaker() as session:
        webinar = await session.scalar(select(Webinar).where(Webinar.id == webinar_id))
        assert webinar is not None
        data = registration_input({"name": "Разогрев", "email": "warm@school.example"},
                                  default_locale="ru", default_timezone="Europe/Moscow")
        await register(session, clock, webinar, data)
        await commit_and_enqueue(session, queue, clock)
    sink.wait_for(1, 60, worker)


async def fanout(sessionmaker: Sessionmaker, queue: ArqQueue, webinar_id: int, sink: Sink,
                 worker: Workers, expected: int) -> dict[str, float]:
    sink.reset()
    started = time.time()
    await reschedule(sessionmaker, queue, webinar_id)
    committed = time.time()
    last = sink.wait_for(expected, 60 + expected * 0.1, worker)
    first = sink.times(1)[0]
    return {"seconds": last - started, "commit": committed - started, "first": first - started}


async def run(target: Target, registrants: int, pool: int, log_dir: Path,
              workers: int = 1) -> FanoutFigures:
    """The benchmark on a prepared target (`common.prepare`)."""
    config = target.config()
    async with AsyncExitStack() as stack:
        engine = make_engine(target.database_url)
        stack.push_async_callback(engine.dispose)
        sessionmaker = make_sessionmaker(engine)
        [webinar_id] = await seed(sessionmaker, config, registrants=[registrants],
                                  start=SystemClock().now() + timedelta(days=7),
                                  title="Информационная работа профсоюза", salt="fan")
        messages = await prebuilt(sessionmaker, webinar_id, config)
        sink = Sink(capacity=registrants + 10)
        stack.callback(sink.stop)
        worker = Workers(target, sink.port, pool, log_dir, workers)
        stack.callback(worker.stop)
        queue = await ArqQueue.connect(target.redis_url)
        stack.push_async_callback(queue.close)

        await warm_up(sessionmaker, queue, webinar_id, sink, worker)
        memory_ready, _ = worker.memory()
        raw_before = await raw_rate(sink, messages, pool, "before")
        cpu_before = worker.cpu_seconds()
        product = await fanout(sessionmaker, queue, webinar_id, sink, worker, registrants + 1)
        worker_cpu = worker.cpu_seconds() - cpu_before
        outcomes = await settle(sessionmaker, [webinar_id], "update", 60)
        received = sink.received  # every outcome is written: nothing more is coming
        _, memory_peak = worker.memory()
        raw_after = await raw_rate(sink, messages, pool, "after")
    return FanoutFigures(messages=registrants + 1,
                         message_bytes=statistics.mean(len(m.raw) for m in messages),
                         pool=pool, commit=product["commit"], first=product["first"],
                         seconds=product["seconds"], raw_before=raw_before, raw_after=raw_after,
                         received=received, outcomes=outcomes, worker_log=worker.log,
                         workers=workers, memory_ready=memory_ready, memory_peak=memory_peak,
                         worker_cpu=worker_cpu)


def report(f: FanoutFigures, target: Target) -> None:
    processes = "one `webinars worker` process" if f.workers == 1 else (
        f"{f.workers} `webinars worker` processes")
    print(f"fan-out of {f.messages} updates ({f.message_bytes / 1024:.1f} KB each), "
          f"{processes}, SMTP pool {f.pool} each, {target.describe()}")
    print(f"  reschedule committed and enqueued after {f.commit:.2f} s, "
          f"first message at {f.first:.2f} s")
    print(f"  all {f.messages} received after      {f.seconds:.2f} s "
          f"-> {f.rate:.0f} messages/s")
    print(f"  the SMTP server accepted {f.received}; update rows: "
          + ", ".join(f"{n} {status}" for status, n in sorted(f.outcomes.items())))
    print(f"  raw (a client alone), {f.pool} reused connections: {f.raw_before:.0f} (before) / "
          f"{f.raw_after:.0f} (after) messages/s")
    print(f"  product / raw = {f.ratio:.2f}  "
          f"(target >= 0.50: {'met' if f.ratio >= 0.5 else 'MISSED'})")
    print(f"  of which sending (commit -> last received): {f.sending:.2f} s -> "
          f"{f.messages / f.sending:.0f} messages/s = {f.messages / f.sending / f.raw:.2f} of raw")
    print(f"  worker memory: {f.memory_ready:.0f} MiB once warmed up, peak {f.memory_peak:.0f} MiB"
          + (" (the largest process)" if f.workers > 1 else ""))
    print(f"  worker CPU: {1000 * f.worker_cpu / f.messages:.2f} ms per message "
          f"({f.worker_cpu:.1f} s{' over all processes' if f.workers > 1 else ''})")
    print(f"  worker log: {f.worker_log}")


def main(argv: Sequence[str] | None = None, *, log_dir: Path | None = None) -> FanoutFigures:
    """The command: wipe and migrate the target named by the environment, run, print, return
    the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--registrants", type=int, default=5000)
    parser.add_argument("--pool", type=int, default=5, help="SMTP connections (both sides)")
    parser.add_argument("--workers", type=int, default=1, help="`webinars worker` processes")
    args = parser.parse_args(argv)
    if args.registrants < 1 or args.pool < 1 or args.workers < 1:
        parser.error("--registrants, --pool and --workers must be at least 1")
    target = Target.from_env()
    asyncio.run(prepare(target))
    log_dir = log_dir or run_dir()
    figures = asyncio.run(run(target, args.registrants, args.pool, log_dir, args.workers))
    report(figures, target)
    return figures


if __name__ == "__main__":
    main()
