"""Reminder timeliness: 1,000 reminders due in the same minute.

Ten webinars of 100 registrants each start at the same minute; every registrant has a pending
15-minute reminder written an hour earlier (rows in PostgreSQL database `webinars_bench`, nothing
in Redis). One real `webinars worker` process runs as in production: its reconcile sweep puts the
reminders on Redis (db 15) with `_defer_until` their due minute, and the worker sends them to a
local SMTP server (aiosmtpd, its own process), which stamps each arrival.

    .venv/bin/python bench/reminders.py [--reminders 1000]

Prints lateness (arrival minus due time) p50 / p99 / max. Target: p99 under 2 seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    DATABASE_URL,
    REDIS_URL,
    Sink,
    flush_redis,
    percentile,
    prepare_database,
    seed,
    start_worker,
    stop_worker,
    utc_now,
)
from bench.fanout import warm_up
from webinars.clock import SystemClock
from webinars.db import make_engine, make_sessionmaker
from webinars.queue import ArqQueue


async def main(args: argparse.Namespace) -> None:
    engine = make_engine(DATABASE_URL)
    sessionmaker = make_sessionmaker(engine)
    clock = SystemClock()
    now = utc_now()
    due = now.replace(second=0, microsecond=0) + timedelta(minutes=2)
    if (due - now).total_seconds() < 90:
        due += timedelta(minutes=1)
    per_webinar = 100
    counts = [per_webinar] * (args.reminders // per_webinar)
    await seed(sessionmaker, clock, registrants=counts, start=due + timedelta(minutes=15),
               title="Обучение ответственных за информационную работу", salt="rem",
               reminders_due=True)
    [warm_webinar] = await seed(sessionmaker, clock, registrants=[1],
                                start=due + timedelta(days=3), title="Разогрев", salt="warm")
    sink = Sink(capacity=args.reminders + 10)
    log = Path(tempfile.mkdtemp(prefix="bench-")) / "worker.log"
    worker = start_worker(sink.port, args.pool, log)
    queue = await ArqQueue.connect(REDIS_URL)
    try:
        await warm_up(sessionmaker, queue, warm_webinar, sink)
        sink.reset()
        wait = (due - utc_now()).total_seconds()
        print(f"{args.reminders} reminders due at {due:%H:%M:%S} UTC; waiting {wait:.0f} s …",
              flush=True)
        sink.wait_for(args.reminders, wait + 120)
        stamps = sink.times(args.reminders)
    finally:
        await queue.close()
        stop_worker(worker)
        sink.stop()
        await engine.dispose()
    lateness = [stamp - due.timestamp() for stamp in stamps]
    p50, p99 = percentile(lateness, 50), percentile(lateness, 99)
    print(f"lateness of {len(lateness)} reminders (arrival at the SMTP server minus due time), "
          f"one `webinars worker` process, SMTP pool {args.pool}:")
    print(f"  p50 {p50:.3f} s   p99 {p99:.3f} s   max {max(lateness):.3f} s   "
          f"min {min(lateness):.3f} s")
    print(f"  target p99 < 2 s: {'met' if p99 < 2 else 'MISSED'}")
    print(f"  worker log: {log}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reminders", type=int, default=1000)
    parser.add_argument("--pool", type=int, default=5, help="SMTP connections of the worker")
    arguments = parser.parse_args()
    prepare_database()
    asyncio.run(flush_redis())
    asyncio.run(main(arguments))
