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

Environment: BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432), BENCH_DB (database
dropped and created for each scenario, default webinars_faults) and BENCH_REDIS_URL (flushed for
each scenario, default redis://127.0.0.1:6379/15), so that two people can measure at once.
BENCH_CODE runs the product from another checkout (its PYTHONPATH), to measure before a change.
`measure()` is what tests/test_worker_stop.py runs at a small size.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECRET = "bench-secret-key-that-is-long-enough-0123456789"
MAIL_FROM = "events@union.example"
#: Every name settings.py reads: the developer's own environment must not leak into a run.
SETTINGS = ("DATA_DIR", "DATABASE_URL", "REDIS_URL", "SMTP_URL", "MAIL_FROM", "MAIL_FROM_NAME",
            "HOST", "PORT", "BASE_URL", "SECRET_KEY", "DEFAULT_TIMEZONE", "DEFAULT_LOCALE",
            "JITSI_BASE_URL", "FORWARDED_ALLOW_IPS", "DELIVERY_LEASE", "WORKER_HEARTBEAT",
            "WORKER_GONE_AFTER", "RECONCILE_GRACE")
#: What the scenario of the SMTP server slower than the lease sets.
SLOW = {"DELIVERY_LEASE": "2", "WORKER_HEARTBEAT": "0.5", "WORKER_GONE_AFTER": "3",
        "RECONCILE_GRACE": "1"}


@dataclass(frozen=True)
class Place:
    """Where a measurement keeps its state; each scenario starts it afresh."""

    pg_admin: str  # postgresql://user@host:port, no database
    database: str
    redis_url: str
    work_dir: Path

    @classmethod
    def from_env(cls, work_dir: Path) -> Place:
        return cls(os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432"),
                   os.environ.get("BENCH_DB", "webinars_faults"),
                   os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"), work_dir)

    @property
    def database_url(self) -> str:
        return f"{self.pg_admin.replace('postgresql://', 'postgresql+asyncpg://')}/{self.database}"


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
        from aiosmtpd.controller import Controller

        self.delay = delay
        self.arrivals: list[tuple[float, str, str]] = []
        self.lock = threading.Lock()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
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

    def __enter__(self) -> Self:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


# --- the database: seeded in bulk, watched while the product works -------------------------


def _token(i: int, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}:{i}".encode()).digest()[:24]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


async def seed(database_url: str, registrants: int) -> tuple[int, str]:
    """An organizer with an API token, and a webinar in a week with `registrants` confirmed
    registrants (written in bulk). Returns the webinar's id and the token."""
    from sqlalchemy import insert

    from webinars.accounts import create_account, create_api_token
    from webinars.clock import SystemClock
    from webinars.db import make_engine, make_sessionmaker
    from webinars.models import Registration, Webinar
    from webinars.organizations import create_organization
    from webinars.scheduling import new_uid

    clock = SystemClock()
    now = clock.now()
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            org = await create_organization(session, clock, slug="faults", name="Профсоюз",
                                            timezone="Europe/Moscow", level="federal")
            account = await create_account(session, clock, email="faults@union.example",
                                           name="Организатор", password="bench-password-123",
                                           organization=org, role="admin")
            token = await create_api_token(session, clock, account, "bench")
            webinar = Webinar(organization_id=org.id, public_id="faults0001",
                              title="Информационная работа профсоюза",
                              description="Как вести страницу первичной организации.",
                              kind="webinar", start_at=now + timedelta(days=7),
                              timezone="Europe/Moscow", duration_minutes=90, capacity=None,
                              registered_count=registrants, registration_open=True,
                              visibility="public", platform="jitsi", status="scheduled",
                              uid=new_uid("union.example"), sequence=0, reminder_offsets=[15],
                              created_by_id=account.id, created_at=now, updated_at=now)
            session.add(webinar)
            await session.flush()
            await session.execute(insert(Registration), [
                {"webinar_id": webinar.id, "name": f"Участник {i}", "email": address(i),
                 "email_normalized": address(i), "locale": "ru", "timezone": "Europe/Moscow",
                 "organization_id": org.id, "status": "confirmed", "token": _token(i, "t"),
                 "join_token": _token(i, "j"), "created_at": now - timedelta(hours=1)}
                for i in range(registrants)])
            await session.commit()
            return webinar.id, token
    finally:
        await engine.dispose()


def address(i: int) -> str:
    return f"m{i}@school.example"


async def statuses(database_url: str) -> Counter[str]:
    """The update rows by status, read without taking SQLite's write lock."""
    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import create_async_engine

    from webinars.models import Delivery

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(Delivery.status, func.count())
                                       .where(Delivery.kind == "update")
                                       .group_by(Delivery.status))).all()
    finally:
        await engine.dispose()
    return Counter({status: n for status, n in rows})


async def fresh_postgres(place: Place) -> None:
    import asyncpg

    from webinars.migrate import upgrade_async

    conn = await asyncpg.connect(place.pg_admin + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{place.database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{place.database}"')
    finally:
        await conn.close()
    await upgrade_async(place.database_url)


async def drop_postgres(place: Place) -> None:
    import asyncpg

    conn = await asyncpg.connect(place.pg_admin + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{place.database}" WITH (FORCE)')
    finally:
        await conn.close()


# --- the product, as its own processes ------------------------------------------------------


class Product:
    """`webinars worker` or `webinars run`, started (and started again) with one environment."""

    def __init__(self, scenario: Scenario, place: Place, smtp_port: int, run_dir: Path) -> None:
        self.scenario = scenario
        self.place = place
        self.run_dir = run_dir
        env = {k: v for k, v in os.environ.items() if k not in SETTINGS and k != "PYTHONPATH"}
        if os.environ.get("BENCH_CODE"):  # the product from another checkout (say, before a fix)
            env["PYTHONPATH"] = os.environ["BENCH_CODE"]
        env.update(PYTHONUNBUFFERED="1", MAIL_FROM=MAIL_FROM,
                   SMTP_URL=f"smtp://127.0.0.1:{smtp_port}?pool={scenario.pool}",
                   **dict(scenario.settings))
        if scenario.mode == "worker":
            env.update(DATABASE_URL=place.database_url, REDIS_URL=place.redis_url,
                       SECRET_KEY=SECRET, BASE_URL="https://events.example")
        else:
            env.update(DATA_DIR=str(run_dir / "data"))
        self.env = env
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def database_url(self) -> str:
        if self.scenario.mode == "worker":
            return self.place.database_url
        return f"sqlite+aiosqlite:///{self.run_dir / 'data' / 'webinars.db'}"

    def start(self) -> None:
        self.starts += 1
        command = [sys.executable, "-m", "webinars.cli", self.scenario.mode]
        if self.scenario.mode == "run":
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            command += ["--port", str(self.port)]
        with (self.run_dir / f"{self.scenario.mode}-{self.starts}.log").open("wb") as log:
            self.process = subprocess.Popen(command, cwd=self.run_dir, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT)

    async def ready(self, timeout: float = 60) -> None:
        """Until the worker polls its queue (arq's health-check key) or the app answers."""
        import httpx
        from redis.asyncio import Redis

        deadline = time.monotonic() + timeout
        redis = Redis.from_url(self.place.redis_url)
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


async def reschedule(product: Product, webinar_id: int, token: str) -> None:
    """The organizer moves the webinar by a day: one update per registrant. Through the API of
    the running app for `webinars run`; through the service and Redis, as `serve` does, for
    the worker."""
    import httpx
    from sqlalchemy import select

    from webinars.clock import SystemClock
    from webinars.db import make_engine, make_sessionmaker
    from webinars.models import Account, Webinar
    from webinars.queue import ArqQueue, commit_and_enqueue
    from webinars.scheduling import update_webinar
    from webinars.validation import webinar_input

    start = (datetime.now(UTC) + timedelta(days=8)).replace(microsecond=0)
    if product.scenario.mode == "run":
        async with httpx.AsyncClient(trust_env=False, timeout=60) as client:
            answer = await client.patch(
                f"http://127.0.0.1:{product.port}/api/v1/webinars/{webinar_id}",
                json={"start": start.strftime("%Y-%m-%dT%H:%M:%SZ")},
                headers={"Authorization": f"Bearer {token}"})
            answer.raise_for_status()
        return
    clock = SystemClock()
    engine = make_engine(product.database_url)
    queue = await ArqQueue.connect(product.place.redis_url)
    try:
        async with make_sessionmaker(engine)() as session:
            webinar = await session.get(Webinar, webinar_id)
            assert webinar is not None
            account = await session.scalar(select(Account).where(
                Account.id == webinar.created_by_id))
            assert account is not None
            data = webinar_input({"start": start.isoformat()}, clock,
                                 default_timezone=webinar.timezone, partial=True)
            await update_webinar(session, clock, account, webinar_id, data)
            await commit_and_enqueue(session, queue, clock)
    finally:
        await queue.close()
        await engine.dispose()


async def until(condition: Any, timeout: float, what: str) -> None:
    """Poll `condition()` (sync or async) until it holds; TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        await asyncio.sleep(0.05)


async def measure(place: Place, scenario: Scenario) -> Result:
    """Run one scenario from an empty database and Redis to its figures."""
    from redis.asyncio import Redis

    from webinars.migrate import upgrade_async

    n = scenario.updates
    run_dir = Path(tempfile.mkdtemp(prefix=f"faults-{scenario.mode}-", dir=place.work_dir))
    redis = Redis.from_url(place.redis_url)
    await redis.flushdb()
    await redis.aclose()
    with SlowSmtp(scenario.delay) as smtp:
        product = Product(scenario, place, smtp.port, run_dir)
        if scenario.mode == "worker":
            await fresh_postgres(place)
        else:
            (run_dir / "data").mkdir()
            await upgrade_async(product.database_url)
        try:
            webinar_id, token = await seed(product.database_url, n)
            product.start()
            await product.ready()
            changed = time.time()
            await reschedule(product, webinar_id, token)
            exit_seconds, before, state = 0.0, 0, Counter[str]()
            restarted = changed
            if scenario.stop != "none":
                await until(lambda: len(smtp.first_copies()) >= max(1, int(n * scenario.stop_at)),
                            scenario.wait, "the first updates")
                before = len(smtp.first_copies())
                exit_seconds = await product.signal(scenario.stop)
                state = await statuses(product.database_url)
                restarted = time.time()
                product.start()

            async def finished() -> bool:
                counts = await statuses(product.database_url)
                return sum(counts[s] for s in ("sent", "failed", "superseded")) >= n

            try:
                await until(finished, scenario.wait, "every update to be sent")
            except TimeoutError:
                pass  # what has not arrived by now counts as delayed
            await product.signal("term")  # nothing more can arrive after this
        finally:
            product.kill()
            if scenario.mode == "worker":
                await drop_postgres(place)
        first = smtp.first_copies()
        copies = smtp.copies()
    in_time = sum(1 for i in range(n) if first.get(address(i), float("inf"))
                  <= restarted + scenario.late)
    arrived = [first[address(i)] for i in range(n) if address(i) in first]
    return Result(scenario=scenario, before_stop=before, exit_seconds=exit_seconds,
                  left_sending=state["sending"], released=state["pending"],
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
    place = Place.from_env(Path(tempfile.mkdtemp(prefix="bench-faults-")))
    print(f"SMTP server: {args.delay:g} s per message, pool {args.pool}; stopped after about a "
          f"third; delayed = later than {args.late:g} s after the restart (waiting up to "
          f"{args.wait:g} s); PostgreSQL database {place.database}, Redis {place.redis_url}")
    for scenario in scenarios(args):
        result = await measure(place, scenario)
        print("  " + result.line(), flush=True)
    print(f"  logs: {place.work_dir}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=400, help="through `webinars worker`")
    parser.add_argument("--run-updates", type=int, default=300, help="through `webinars run`")
    parser.add_argument("--pool", type=int, default=5, help="SMTP connections")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds per message")
    parser.add_argument("--late", type=float, default=15.0)
    parser.add_argument("--wait", type=float, default=60.0)
    asyncio.run(main(parser.parse_args()))
