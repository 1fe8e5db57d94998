"""Stopping workers: what a deploy (SIGTERM) or a crash (kill -9) costs, in both run modes.

Every registrant of a webinar gets an update (the webinar is rescheduled). When about a third
of the updates have reached the SMTP server (which takes `--delay` seconds per message), the
worker is stopped — SIGTERM, as a deploy or Ctrl-C does, or kill -9 — and started again. For
each scenario: rows delayed (arrived later than `--late` seconds after the restart, or not at
all within `--wait`) and messages received twice.

    .venv/bin/python bench/faults.py [--updates 400] [--run-updates 300] [--pool 5]

Modes: the production worker (`webinars worker`: PostgreSQL, Redis, SMTP) and the embedded
`webinars run` (SQLite in a temporary directory, in-process worker, SMTP). A last scenario
sends 20 updates through an SMTP server slower than the lease (DELIVERY_LEASE=2, 0.3 s per
message, one connection) without stopping anything: nothing may go twice.

Where it writes: BENCH_PG_URL, BENCH_DB (default webinars_faults) and BENCH_REDIS_URL, as for
every benchmark (bench/common.py); the database is made afresh and dropped for each scenario of
`webinars worker`. The webinar and its registrants are seeded by `common.seed`, through the
product. BENCH_CODE runs the product from another checkout (its PYTHONPATH), to measure before a
change. `measure()` is what tests/test_worker_stop.py runs at a small size.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Self

import httpx
from aiosmtpd.controller import Controller
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    MAIL_FROM,
    Target,
    address,
    count_by_status,
    drop,
    free_port,
    prepare,
    product_env,
    reschedule,
    seed,
    settle,
    smtp_url,
    worker_env,
)
from webinars.accounts import create_api_token
from webinars.clock import SystemClock
from webinars.db import Sessionmaker, make_engine, make_sessionmaker
from webinars.migrate import upgrade_async
from webinars.models import Account
from webinars.queue import ArqQueue
from webinars.scheduling import get_webinar

#: What the scenario of the SMTP server slower than the lease sets.
SLOW = {"DELIVERY_LEASE": "2", "WORKER_HEARTBEAT": "0.5", "WORKER_GONE_AFTER": "3",
        "RECONCILE_GRACE": "1"}


@dataclass(frozen=True)
class Scenario:
    mode: str  # "worker": `webinars worker`; "run": `webinars run`
    stop: str  # "term", "kill", or "none" (run to the end without stopping)
    updates: int
    pool: int = 5
    delay: float = 0.05  # seconds the SMTP server takes to accept each message
    stop_at: float = 1 / 3  # share of the updates received when the worker is stopped
    late: float = 15.0
    wait: float = 60.0
    settings: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        what = {"term": "SIGTERM", "kill": "kill -9", "none": "no stop"}[self.stop]
        return f"{'webinars worker' if self.mode == 'worker' else 'webinars run'}, {what}"


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    before_stop: int  # recipients served when the signal was sent
    exit_seconds: float  # from the signal until the process was gone
    left_sending: int  # rows still "sending" once it was gone
    released: int  # rows pending (given back or never taken) once it was gone
    delayed: int  # rows that arrived later than `late` after the restart, or not at all
    never: int  # rows that did not arrive at all within `wait`
    twice: int  # extra copies received
    restart_to_last: float  # from the restart until the last first copy arrived
    logs: str

    def line(self) -> str:
        s = self.scenario
        stopped = (f"stopped after {self.before_stop}, gone in {self.exit_seconds:.1f} s, "
                   f"{self.left_sending} left sending; " if s.stop != "none" else "")
        return (f"{s.name:<26} {s.updates:>4} updates: {stopped}delayed {self.delayed} "
                f"(never {self.never}), sent twice {self.twice}; all in "
                f"{self.restart_to_last:.1f} s after the {'restart' if s.stop != 'none' else 'change'}")


# --- an SMTP server that takes its time ----------------------------------------------------


class SlowSmtp:
    """aiosmtpd in a thread that takes `delay` seconds to answer each message. A message counts
    as received as soon as its body is in, even if the client dies before the answer (the
    worst case, RFC 1047): so a worker killed mid-send is charged every message on the wire."""

    MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.arrivals: list[tuple[float, str, str]] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port,
                                     ready_timeout=10)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = self.MESSAGE_ID.search(envelope.original_content or b"")
        message_id = found.group(1).decode() if found else ""
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.arrivals.append((time.time(), rcpt.lower(), message_id))
        await asyncio.sleep(self.delay)
        return "250 2.0.0 accepted"

    def first_copies(self) -> dict[str, float]:
        with self.lock:
            first: dict[str, float] = {}
            for at, rcpt, _ in self.arrivals:
                first.setdefault(rcpt, at)
            return first

    def copies(self) -> Counter[str]:
        with self.lock:
            return Counter(rcpt for _, rcpt, _ in self.arrivals)

    async def wait_for(self, recipients: int, timeout: float) -> None:
        """Until `recipients` different addresses have had a message."""
        deadline = time.monotonic() + timeout
        while len(self.first_copies()) < recipients:
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout} s for {recipients} recipients")
            await asyncio.sleep(0.05)

    def __enter__(self) -> Self:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


# --- the product, as its own processes ------------------------------------------------------


class Product:
    """`webinars worker` or `webinars run`, started (and started again) with one environment."""

    def __init__(self, scenario: Scenario, target: Target, smtp_port: int, run_dir: Path
                 ) -> None:
        self.scenario = scenario
        self.target = target
        self.run_dir = run_dir
        if scenario.mode == "worker":
            env = worker_env(target, smtp_port, scenario.pool)
        else:
            env = product_env(DATA_DIR=str(run_dir / "data"), MAIL_FROM=MAIL_FROM,
                              SMTP_URL=smtp_url(smtp_port, scenario.pool))
        env.pop("PYTHONPATH", None)
        if os.environ.get("BENCH_CODE"):  # the product from another checkout (say, before a fix)
            env["PYTHONPATH"] = os.environ["BENCH_CODE"]
        env.update(PYTHONUNBUFFERED="1", **dict(scenario.settings))
        self.env = env
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def database_url(self) -> str:
        if self.scenario.mode == "worker":
            return self.target.database_url
        return f"sqlite+aiosqlite:///{self.run_dir / 'data' / 'webinars.db'}"

    def start(self) -> None:
        self.starts += 1
        command = [sys.executable, "-m", "webinars.cli", self.scenario.mode]
        if self.scenario.mode == "run":
            self.port = free_port()
            command += ["--port", str(self.port)]
        with (self.run_dir / f"{self.scenario.mode}-{self.starts}.log").open("wb") as log:
            self.process = subprocess.Popen(command, cwd=self.run_dir, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT)

    async def ready(self, timeout: float = 60) -> None:
        """Until the worker polls its queue (arq's health-check key) or the app answers."""
        deadline = time.monotonic() + timeout
        redis = Redis.from_url(self.target.redis_url)
        try:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"the product exited:\n{self.logs()}")
                if self.scenario.mode == "worker":
                    if await redis.exists("arq:queue:health-check"):
                        return
                else:
                    try:
                        async with httpx.AsyncClient(trust_env=False) as client:
                            answer = await client.get(f"http://127.0.0.1:{self.port}/healthz")
                            if answer.status_code == 200:
                                return
                    except httpx.TransportError:
                        pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the product did not start:\n{self.logs()}")
                await asyncio.sleep(0.05)
        finally:
            await redis.aclose()

    async def signal(self, how: str, timeout: float = 60) -> float:
        """Send SIGTERM or SIGKILL; return the seconds until the process was gone (reaped)."""
        assert self.process is not None
        sent = time.monotonic()
        self.process.send_signal(signal.SIGTERM if how == "term" else signal.SIGKILL)
        while self.process.poll() is None:
            if time.monotonic() - sent > timeout:
                self.process.kill()
                self.process.wait()
                raise TimeoutError(f"the product ignored SIGTERM for {timeout} s")
            await asyncio.sleep(0.02)
        return time.monotonic() - sent

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")
                         for p in sorted(self.run_dir.glob(f"{self.scenario.mode}-*.log")))


# --- the webinar: seeded and changed through the product -----------------------------------


async def seeded(product: Product, registrants: int, start: datetime) -> tuple[int, str]:
    """A webinar at `start` with `registrants` confirmed registrants whose invitations went out,
    and an API token of its organizer (for `webinars run`). Returns the webinar's id and the
    token."""
    engine = make_engine(product.database_url)
    try:
        sessionmaker = make_sessionmaker(engine)
        config = replace(product.target.config(), database_url=product.database_url)
        [webinar_id] = await seed(sessionmaker, config, registrants=[registrants], start=start,
                                  title="Информационная работа профсоюза", salt="faults")
        async with sessionmaker() as session:
            webinar = await get_webinar(session, webinar_id)
            account = await session.get_one(Account, webinar.created_by_id)
            token = await create_api_token(session, SystemClock(), account, "bench")
            await session.commit()
        return webinar_id, token
    finally:
        await engine.dispose()


async def change(product: Product, sessionmaker: Sessionmaker, webinar_id: int, start: datetime,
                 token: str) -> None:
    """The organizer moves the webinar to `start`: one update per registrant. Through the API
    of the running app for `webinars run`; through the service and Redis, as `serve` does, for
    the worker (`common.reschedule`)."""
    if product.scenario.mode == "worker":
        queue = await ArqQueue.connect(product.target.redis_url)
        try:
            await reschedule(sessionmaker, queue, webinar_id)
        finally:
            await queue.close()
        return
    async with httpx.AsyncClient(trust_env=False, timeout=60) as client:
        answer = await client.patch(
            f"http://127.0.0.1:{product.port}/api/v1/webinars/{webinar_id}",
            json={"start": start.strftime("%Y-%m-%dT%H:%M:%SZ")},
            headers={"Authorization": f"Bearer {token}"})
        answer.raise_for_status()


async def measure(target: Target, scenario: Scenario, work_dir: Path) -> Result:
    """Run one scenario from an empty database and Redis to its figures; logs under `work_dir`."""
    n = scenario.updates
    people = [address(0, i) for i in range(n)]
    start = SystemClock().now() + timedelta(days=7)
    run_dir = Path(tempfile.mkdtemp(prefix=f"faults-{scenario.mode}-", dir=work_dir))
    with SlowSmtp(scenario.delay) as smtp:
        product = Product(scenario, target, smtp.port, run_dir)
        if scenario.mode == "worker":
            await prepare(target)
        else:
            (run_dir / "data").mkdir()
            await upgrade_async(product.database_url)
        # Watched through a plain engine: make_engine's SQLite one takes the write lock to read.
        engine = create_async_engine(product.database_url)
        watch = make_sessionmaker(engine)
        try:
            webinar_id, token = await seeded(product, n, start)
            product.start()
            await product.ready()
            changed = time.time()
            await change(product, watch, webinar_id, start + timedelta(days=1), token)
            exit_seconds, before, restarted = 0.0, 0, changed
            state: dict[str, int] = {}
            if scenario.stop != "none":
                await smtp.wait_for(max(1, int(n * scenario.stop_at)), scenario.wait)
                before = len(smtp.first_copies())
                exit_seconds = await product.signal(scenario.stop)
                state = await count_by_status(watch, [webinar_id], "update")
                restarted = time.time()
                product.start()
            try:
                await settle(watch, [webinar_id], "update", scenario.wait)
            except TimeoutError:
                pass  # what has not arrived by now counts as delayed
            await product.signal("term")  # nothing more can arrive after this
        finally:
            product.kill()
            await engine.dispose()
            if scenario.mode == "worker":
                await drop(target)
        first = smtp.first_copies()
        copies = smtp.copies()
    in_time = sum(1 for p in people if first.get(p, float("inf")) <= restarted + scenario.late)
    arrived = [first[p] for p in people if p in first]
    return Result(scenario=scenario, before_stop=before, exit_seconds=exit_seconds,
                  left_sending=state.get("sending", 0), released=state.get("pending", 0),
                  delayed=n - in_time, never=n - len(arrived),
                  twice=sum(c - 1 for c in copies.values()),
                  restart_to_last=max(0.0, max(arrived, default=restarted) - restarted),
                  logs=product.logs())


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    common = {"pool": args.pool, "delay": args.delay, "late": args.late, "wait": args.wait}
    return [Scenario("worker", "term", args.updates, **common),
            Scenario("worker", "kill", args.updates, **common),
            Scenario("run", "term", args.run_updates, **common),
            Scenario("run", "kill", args.run_updates, **common),
            Scenario("worker", "none", 20, pool=1, delay=0.3, late=args.late, wait=args.wait,
                     settings=SLOW)]


async def main(args: argparse.Namespace) -> None:
    target = Target.from_env(default_db="webinars_faults")
    work_dir = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    print(f"SMTP server: {args.delay:g} s per message, pool {args.pool}; stopped after about a "
          f"third; delayed = later than {args.late:g} s after the restart (waiting up to "
          f"{args.wait:g} s); {target.describe()}")
    for scenario in scenarios(args):
        result = await measure(target, scenario, work_dir)
        print("  " + result.line(), flush=True)
    print(f"  logs: {work_dir}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=400, help="through `webinars worker`")
    parser.add_argument("--run-updates", type=int, default=300, help="through `webinars run`")
    parser.add_argument("--pool", type=int, default=5, help="SMTP connections")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds per message")
    parser.add_argument("--late", type=float, default=15.0)
    parser.add_argument("--wait", type=float, default=60.0)
    asyncio.run(main(parser.parse_args()))
