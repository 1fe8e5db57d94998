"""A rush on a popular webinar: `--members` registrations sent at once to `webinars serve` for
`--capacity` seats. Exactly `capacity` get a seat and the rest the waitlist in the order the
database took them, with no 5xx answer.

    .venv/bin/python bench/registrations.py [--members 1000] [--capacity 100] [--workers 1]

The webinar is seeded through the product's services on the benchmark's PostgreSQL and Redis
(bench/common.py); the registrations go through the public form over HTTP, all started
together (one connection each). Printed: the answers by status, the latency p50/p99/slowest,
the wall time, and what the database holds afterwards (seats taken, waitlisted, the seat
counter) against the capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    BASE_URL,
    MAIL_FROM,
    SECRET,
    Target,
    product_env,
    run_dir,
    seed_open_webinar,
)
from bench.web import Server


@dataclass
class Figures:
    members: int
    capacity: int
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    confirmed: int = 0
    waitlisted: int = 0
    counter: int = 0  # webinars.registered_count

    @property
    def p99(self) -> float:
        return statistics.quantiles(self.latencies, n=100)[98]

    @property
    def exact(self) -> bool:
        return (self.confirmed == self.counter == self.capacity
                and self.confirmed + self.waitlisted == self.members)


async def seed_webinar(target: Target, capacity: int) -> tuple[int, str]:
    """A webinar with `capacity` seats and nobody registered: its id and public id."""
    return await seed_open_webinar(target, events=1, capacity=capacity,
                                   title="Популярный вебинар", salt="rush")


async def rush(url: str, members: int, figures: Figures) -> None:
    import aiohttp

    start = asyncio.Event()

    async def one(i: int, http: aiohttp.ClientSession) -> None:
        form = {"name": f"Участник {i}", "email": f"rush{i}@school.example", "locale": "ru",
                "timezone": "Europe/Moscow"}
        await start.wait()
        began = time.perf_counter()
        async with http.post(url, data=form) as answer:
            await answer.read()
            figures.statuses[answer.status] += 1
        figures.latencies.append(time.perf_counter() - began)

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        tasks = [asyncio.create_task(one(i, http)) for i in range(members)]
        await asyncio.sleep(0)
        began = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        figures.seconds = time.perf_counter() - began


async def count(target: Target, webinar_id: int, figures: Figures) -> None:
    from sqlalchemy import func, select

    from webinars.db import make_engine, make_sessionmaker
    from webinars.models import Registration, Webinar

    engine = make_engine(target.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            by_status = dict((await session.execute(
                select(Registration.status, func.count()).where(
                    Registration.webinar_id == webinar_id).group_by(Registration.status))).all())
            figures.confirmed = int(by_status.get("confirmed", 0))
            figures.waitlisted = int(by_status.get("waitlisted", 0))
            figures.counter = int(await session.scalar(
                select(Webinar.registered_count).where(Webinar.id == webinar_id)) or 0)
    finally:
        await engine.dispose()


def run(target: Target, *, members: int, capacity: int, workers: int,
        log_dir: Path) -> Figures:
    webinar_id, public_id = asyncio.run(seed_webinar(target, capacity))
    env = product_env(DATABASE_URL=target.database_url, REDIS_URL=target.redis_url,
                      SECRET_KEY=SECRET, BASE_URL=BASE_URL, MAIL_FROM=MAIL_FROM,
                      REGISTRATION_LIMIT_PER_CLIENT=str(10 * members),
                      REGISTRATION_LIMIT_PER_ADDRESS="10")
    command = [str(Path(sys.executable).with_name("webinars")), "serve"]
    if workers > 1:
        command += ["--workers", str(workers)]
    figures = Figures(members=members, capacity=capacity)
    server = Server(command, env, log_dir / "registrations-server.log", f"/w/{public_id}")
    try:
        asyncio.run(rush(f"{server.url}/w/{public_id}/register", members, figures))
    finally:
        server.stop()
    asyncio.run(count(target, webinar_id, figures))
    return figures


def report(figures: Figures, target: Target) -> None:
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(figures.statuses.items()))
    print(f"{figures.members:,} registrations at once for {figures.capacity:,} seats, "
          f"{target.describe()}")
    print(f"answers: {statuses}; wall {figures.seconds:.2f} s")
    print(f"latency p50 {statistics.median(figures.latencies) * 1000:.0f} ms   "
          f"p99 {figures.p99 * 1000:.0f} ms   slowest {max(figures.latencies) * 1000:.0f} ms")
    print(f"database: {figures.confirmed} seated, {figures.waitlisted} waitlisted, seat counter "
          f"{figures.counter} — {'exact' if figures.exact else 'NOT EXACT'}")


def main(argv: Sequence[str] | None = None, *, log_dir: Path | None = None) -> Figures:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--capacity", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1, help="web processes (serve --workers)")
    args = parser.parse_args(argv)
    target = Target.from_env()
    figures = run(target, members=args.members, capacity=args.capacity, workers=args.workers,
                  log_dir=log_dir or run_dir())
    report(figures, target)
    return figures


if __name__ == "__main__":
    main()
