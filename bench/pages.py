"""Public event page under a crowd: the product's `/w/<id>` beside a bare Starlette app that
renders a small Jinja2 page, measured by wrk in the same run, alternating, several rounds.

    .venv/bin/python bench/pages.py [--rounds 3] [--seconds 5] [--connections 50] [--writes]
                                    [--page event|org] [--events 182] [--workers 1]

Both servers are one uvicorn process with the same log level, on this machine (`--workers N`
runs the product as `webinars serve --workers N`, as docs/deploy.md does; the baseline stays
one process, so the share then says what the extra processes buy). The product is
`webinars serve` on the benchmark's PostgreSQL and Redis (bench/common.py), its event page
seeded through the product's own services. With `--writes`, a registration goes in every
100 ms while the product is measured, and the run checks afterwards that the page shows the
seats the database holds. `--page org` measures the organization's page `/o/<slug>` instead,
the organization holding `--events` upcoming events (182 by default, as a region's year).
Printed: requests per second of each round for both, the medians and spread, the product's
share of the bare figure (targets: at least 0.60 for the event page, 0.30 for the
organization's) and wrk's p99.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
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

CAPACITY = 100_000
BARE_APP = "bench.bare_page:app"
TARGETS = {"event": 0.60, "org": 0.30}


@dataclass
class Figures:
    product: list[float] = field(default_factory=list)  # requests per second, per round
    bare: list[float] = field(default_factory=list)
    product_p99: list[float] = field(default_factory=list)  # seconds
    bare_p99: list[float] = field(default_factory=list)
    registrations: int = 0
    seats_shown: int | None = None
    seats_expected: int | None = None
    page: str = "event"

    @property
    def ratio(self) -> float:
        return statistics.median(self.product) / statistics.median(self.bare)


def wrk(url: str, seconds: int, connections: int) -> tuple[float, float]:
    """(requests per second, p99 latency in seconds) of one wrk run; non-2xx answers fail."""
    out = subprocess.run(["wrk", "--latency", "-t2", f"-c{connections}", f"-d{seconds}s", url],
                         check=True, capture_output=True, text=True).stdout
    if "Non-2xx" in out or "Socket errors" in out and "timeout 0" not in out:
        raise SystemExit(f"wrk saw errors against {url}:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out,  # type: ignore[union-attr]
                            re.MULTILINE).groups()
    return rate, float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


class Registrations(threading.Thread):
    """One registration every 100 ms through the public form, until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stopped = threading.Event()
        self.accepted = 0

    def run(self) -> None:
        while not self.stopped.wait(0.1):
            body = urllib.parse.urlencode({
                "name": "Участник", "email": f"m{uuid.uuid4().hex[:12]}@school.example",
                "locale": "ru", "timezone": "Europe/Moscow"}).encode()
            with urllib.request.urlopen(self.url, data=body, timeout=10) as answer:
                if answer.status == 200:
                    self.accepted += 1


async def seed_page(target: Target, events: int = 1) -> tuple[str, str]:
    """Scheduled webinars a week ahead in one organization, with seats: the first one's
    public id and the organization's slug."""
    _, public_id = await seed_open_webinar(target, events=events, capacity=CAPACITY,
                                           title="Вебинар для всей страны", salt="pages")
    return public_id, "bench-pages"


async def confirmed(target: Target) -> int:
    from sqlalchemy import func, select

    from webinars.db import make_engine, make_sessionmaker
    from webinars.models import Registration

    engine = make_engine(target.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(Registration)
                                            .where(Registration.status == "confirmed")) or 0)
    finally:
        await engine.dispose()


def run(target: Target, *, rounds: int, seconds: int, connections: int, writes: bool,
        log_dir: Path, page_kind: str = "event", events: int = 182, workers: int = 1
        ) -> Figures:
    public_id, slug = asyncio.run(seed_page(target, events if page_kind == "org" else 1))
    exe = str(Path(sys.executable).with_name("webinars"))
    env = product_env(DATABASE_URL=target.database_url, REDIS_URL=target.redis_url,
                      SECRET_KEY=SECRET, BASE_URL=BASE_URL, MAIL_FROM=MAIL_FROM,
                      REGISTRATION_LIMIT_PER_CLIENT="1000000",
                      REGISTRATION_LIMIT_PER_ADDRESS="1000000")
    figures = Figures(page=page_kind)
    command = [exe, "serve"] + (["--workers", str(workers)] if workers > 1 else [])
    product = Server(command, env, log_dir / "pages-product.log", f"/w/{public_id}")
    try:
        bare = Server([sys.executable, "-m", "uvicorn", BARE_APP, "--log-level", "info"],
                      product_env(), log_dir / "pages-bare.log", "/")
        try:
            page = f"{product.url}/w/{public_id}"
            measured = page if page_kind == "event" else f"{product.url}/o/{slug}"
            for _ in range(rounds):
                writer = Registrations(page + "/register") if writes else None
                if writer:
                    writer.start()
                rate, p99 = wrk(measured, seconds, connections)
                if writer:
                    writer.stopped.set()
                    writer.join()
                    figures.registrations += writer.accepted
                figures.product.append(rate)
                figures.product_p99.append(p99)
                rate, p99 = wrk(bare.url + "/", seconds, connections)
                figures.bare.append(rate)
                figures.bare_p99.append(p99)
            time.sleep(1.1)  # past PAGE_CACHE_SECONDS: the page now shows every registration
            with urllib.request.urlopen(page, timeout=10) as answer:
                html = answer.read().decode()
            shown = re.search(r'id="seats-left" data-left="(\d+)"', html)
            figures.seats_shown = int(shown.group(1)) if shown else None
            figures.seats_expected = CAPACITY - asyncio.run(confirmed(target))
        finally:
            bare.stop()
    finally:
        product.stop()
    return figures


def report(figures: Figures, target: Target, writes: bool) -> None:
    def spread(values: Sequence[float]) -> str:
        return f"{min(values):,.0f}–{max(values):,.0f}"

    what = "Public event page" if figures.page == "event" else "Organization page"
    print(f"{what} vs bare Starlette + Jinja2, wrk, {target.describe()}")
    for i, (ours, bare) in enumerate(zip(figures.product, figures.bare, strict=True), 1):
        print(f"  round {i}: product {ours:8,.0f} req/s   bare {bare:8,.0f} req/s")
    print(f"product median {statistics.median(figures.product):,.0f} req/s "
          f"({spread(figures.product)}), p99 {max(figures.product_p99) * 1000:.1f} ms")
    print(f"bare    median {statistics.median(figures.bare):,.0f} req/s "
          f"({spread(figures.bare)}), p99 {max(figures.bare_p99) * 1000:.1f} ms")
    print(f"product / bare: {figures.ratio:.2f} (target ≥ {TARGETS[figures.page]:.2f})")
    if writes:
        print(f"registrations during the runs: {figures.registrations}; seats shown "
              f"{figures.seats_shown}, in the database {figures.seats_expected}")


def main(argv: Sequence[str] | None = None, *, log_dir: Path | None = None) -> Figures:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--writes", action="store_true",
                        help="a registration every 100 ms while the product is measured")
    parser.add_argument("--page", choices=sorted(TARGETS), default="event")
    parser.add_argument("--events", type=int, default=182,
                        help="upcoming events of the organization (--page org)")
    parser.add_argument("--workers", type=int, default=1, help="web processes of the product")
    args = parser.parse_args(argv)
    target = Target.from_env()
    figures = run(target, rounds=args.rounds, seconds=args.seconds,
                  connections=args.connections, writes=args.writes,
                  log_dir=log_dir or run_dir(), page_kind=args.page, events=args.events,
                  workers=args.workers)
    report(figures, target, args.writes)
    return figures


if __name__ == "__main__":
    main()
