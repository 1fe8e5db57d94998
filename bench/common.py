"""What every benchmark shares: where its state lives (a PostgreSQL database and a Redis database
of its own, named by the environment), an SMTP sink in its own process, a real `webinars worker`
process started with the product's settings, and seeding through the product's own services.

Environment (read by `Target.from_env()`, never at import):

- `BENCH_PG_URL`: the PostgreSQL server, default `postgresql://postgres@127.0.0.1:5432`;
- `BENCH_DB`: the database on it, dropped and created at the start, default `webinars_bench`
  (`webinars_faults` for bench/faults.py);
- `BENCH_REDIS_URL`: the Redis database, flushed at the start, default
  `redis://127.0.0.1:6379/15`. It must name its database number: it is flushed.

Two people running benchmarks at once give each run its own `BENCH_DB` and `BENCH_REDIS_URL`.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from ctypes import c_double, c_int
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the sink's process imports this module too: it stays light
    from webinars.config import AppConfig
    from webinars.db import Sessionmaker
    from webinars.queue import Job, Queue

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432"
DEFAULT_DB = "webinars_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
SECRET = "bench-secret-key-that-is-long-enough-0123456789"
BASE_URL = "https://events.example"
MAIL_FROM = "events@union.example"
#: Every name settings.py reads: the developer's own environment must not leak into a run.
SETTINGS = ("DATA_DIR", "DATABASE_URL", "REDIS_URL", "SMTP_URL", "MAIL_FROM", "MAIL_FROM_NAME",
            "HOST", "PORT", "BASE_URL", "SECRET_KEY", "DEFAULT_TIMEZONE", "DEFAULT_LOCALE",
            "JITSI_BASE_URL", "FORWARDED_ALLOW_IPS", "REGISTRATION_LIMIT_PERIOD",
            "REGISTRATION_LIMIT_PER_CLIENT", "REGISTRATION_LIMIT_PER_ADDRESS", "DELIVERY_LEASE",
            "WORKER_HEARTBEAT", "WORKER_GONE_AFTER", "RECONCILE_GRACE", "WEBHOOK_ALLOW_LOOPBACK",
            "PASSWORD_HASH_TIME_COST", "PASSWORD_HASH_MEMORY_KIB", "CREDENTIALS_KEY",
            "PLATFORM_ENDPOINTS")


@dataclass(frozen=True)
class Target:
    """Where one benchmark run keeps its state; both are wiped at the start of the run."""

    pg_url: str = DEFAULT_PG_URL
    database: str = DEFAULT_DB
    redis_url: str = DEFAULT_REDIS_URL

    def __post_init__(self) -> None:
        # The name goes into DROP DATABASE: only a plain identifier.
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", self.database):
            raise ValueError(f"BENCH_DB {self.database!r}: use lower-case letters, digits and _")
        parts = urlsplit(self.redis_url)
        if parts.scheme not in ("redis", "rediss") or not re.fullmatch(r"/\d+", parts.path):
            raise ValueError(f"BENCH_REDIS_URL {self.redis_url!r}: must be redis://host:port/<db>"
                             " with the database number (that database is flushed)")
        if not self.pg_url.startswith("postgresql://"):
            raise ValueError(f"BENCH_PG_URL {self.pg_url!r}: must start with postgresql://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, *,
                 default_db: str = DEFAULT_DB) -> Target:
        return cls(pg_url=environ.get("BENCH_PG_URL", DEFAULT_PG_URL).rstrip("/"),
                   database=environ.get("BENCH_DB", default_db),
                   redis_url=environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))

    @property
    def database_url(self) -> str:
        return f"{self.pg_url.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{self.database}"

    def config(self) -> AppConfig:
        """What the worker gets from its environment (`worker_env`), for this process."""
        from webinars.config import AppConfig

        return AppConfig(database_url=self.database_url, secret_key=SECRET, base_url=BASE_URL,
                         mail_from=MAIL_FROM, redis_url=self.redis_url)

    def describe(self) -> str:
        return f"PostgreSQL database {self.database}, Redis {self.redis_url}"


async def _pg_admin(target: Target, *statements: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(target.pg_url + "/postgres")
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def flush_redis(target: Target) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(target.redis_url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


async def prepare(target: Target) -> None:
    """A freshly migrated database and an empty Redis database."""
    from webinars.migrate import upgrade_async

    await _pg_admin(target, f"DROP DATABASE IF EXISTS {target.database} WITH (FORCE)",
                    f"CREATE DATABASE {target.database}")
    await upgrade_async(target.database_url)
    await flush_redis(target)


async def drop(target: Target) -> None:
    """Remove what a run left behind (fanout and reminders keep it for inspection)."""
    await _pg_admin(target, f"DROP DATABASE IF EXISTS {target.database} WITH (FORCE)")
    await flush_redis(target)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- the worker: the real `webinars worker` command ---------------------------------------


def product_env(**settings: str) -> dict[str, str]:
    """This process's environment with none of the product's settings but `settings`."""
    env = {name: value for name, value in os.environ.items() if name not in SETTINGS}
    env.update(settings)
    return env


def smtp_url(port: int, pool: int) -> str:
    return f"smtp://127.0.0.1:{port}?pool={pool}"


def worker_env(target: Target, smtp_port: int, pool: int) -> dict[str, str]:
    return product_env(DATABASE_URL=target.database_url, REDIS_URL=target.redis_url,
                       SECRET_KEY=SECRET, BASE_URL=BASE_URL, MAIL_FROM=MAIL_FROM,
                       SMTP_URL=smtp_url(smtp_port, pool))


class Worker:
    """`webinars worker` exactly as production runs it, in its own process."""

    def __init__(self, target: Target, smtp_port: int, pool: int, log: Path) -> None:
        exe = Path(sys.executable).with_name("webinars")
        self.log = log
        with log.open("wb") as handle:
            self.process = subprocess.Popen([str(exe), "worker"],
                                            env=worker_env(target, smtp_port, pool),
                                            cwd=str(log.parent), stdout=handle,
                                            stderr=subprocess.STDOUT)

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def check(self) -> None:
        """Raise at once if the worker is gone: nothing more will arrive."""
        code = self.process.poll()
        if code is not None:
            raise RuntimeError(f"`webinars worker` exited with {code}; its log ({self.log}) "
                               f"ends:\n{self.tail()}")

    def memory(self) -> tuple[float, float]:
        """(resident now, the most it has ever been resident) in MiB, from /proc: a worker
        that kept every recipient of a fan-out in memory would show it in the peak."""
        fields = dict(line.split(":", 1) for line in
                      Path(f"/proc/{self.process.pid}/status").read_text().splitlines())
        return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)

    def cpu_seconds(self) -> float:
        """CPU time the process has used (user and system), from /proc: per message, it says
        what the worker costs apart from the machine's other load."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Workers:
    """Several `webinars worker` processes sharing the database and Redis, as the deployment
    guide runs them on separate machines; one of them is a `Worker` with a single process."""

    def __init__(self, target: Target, smtp_port: int, pool: int, log_dir: Path,
                 count: int = 1) -> None:
        self.each: list[Worker] = []
        for i in range(count):
            name = "worker.log" if count == 1 else f"worker-{i + 1}.log"
            self.each.append(Worker(target, smtp_port, pool, log_dir / name))

    @property
    def log(self) -> Path:
        return self.each[0].log

    def tail(self, lines: int = 25) -> str:
        return "\n".join(f"{w.log}:\n{w.tail(lines)}" for w in self.each)

    def check(self) -> None:
        for worker in self.each:
            worker.check()

    def memory(self) -> tuple[float, float]:
        """The largest (resident now, peak) of one process, in MiB."""
        figures = [worker.memory() for worker in self.each]
        return max(f[0] for f in figures), max(f[1] for f in figures)

    def cpu_seconds(self) -> float:
        return sum(worker.cpu_seconds() for worker in self.each)

    def stop(self) -> None:
        for worker in self.each:
            worker.stop()


# --- the SMTP sink: aiosmtpd in a process of its own ---------------------------------------


def _serve(port: int, count: Any, stamps: Any, ready: Any) -> None:
    from aiosmtpd.smtp import SMTP

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with count.get_lock():
                n = count.value
                if n < len(stamps):
                    stamps[n] = time.time()
                count.value = n + 1
            return "250 OK"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(Handler(), hostname="sink"),
                                          "127.0.0.1", port)
        ready.set()
        async with server:
            await server.serve_forever()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(main())


class Sink:
    """Counts accepted messages and stamps when each arrived (wall clock)."""

    def __init__(self, capacity: int) -> None:
        context = mp.get_context("spawn")  # a fresh interpreter: no inherited event loop
        self.port = free_port()
        self.count = context.Value(c_int, 0)
        self.stamps = context.Array(c_double, capacity, lock=False)
        ready = context.Event()
        self.process = context.Process(target=_serve, args=(self.port, self.count, self.stamps,
                                                       ready), daemon=True)
        self.process.start()
        if not ready.wait(10):
            raise RuntimeError("the SMTP sink did not start")

    @property
    def received(self) -> int:
        value: int = self.count.value
        return value

    def reset(self) -> None:
        with self.count.get_lock():
            self.count.value = 0

    def times(self, n: int) -> list[float]:
        return list(self.stamps[:n])

    def wait_for(self, n: int, timeout: float, worker: Worker | Workers | None = None) -> float:
        """Block until `n` messages arrived; return the wall time of the n-th."""
        deadline = time.monotonic() + timeout
        while self.received < n:
            if worker is not None:
                worker.check()
            if time.monotonic() > deadline:
                log = f"; the worker's log ends:\n{worker.tail()}" if worker else ""
                raise TimeoutError(f"only {self.received} of {n} messages arrived in "
                                   f"{timeout:.0f} s{log}")
            time.sleep(0.005)
        stamp: float = self.stamps[n - 1]
        return stamp

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)


# --- seeding: through the product's own services -------------------------------------------


class HeldQueue:
    """Seeding enqueues nothing: the jobs it would start are done in place or left to the
    benchmark's worker, which finds every row it needs in the database."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    async def enqueue(self, job: Job) -> None:
        self.jobs.append(job)

    async def close(self) -> None:
        return None


ZONES = ("Europe/Moscow", "Asia/Yekaterinburg", "Asia/Novosibirsk", "Asia/Vladivostok",
         "Europe/Kaliningrad")


def address(webinar: int, i: int) -> str:
    """The seeded address of registrant `i` of the `webinar`-th webinar (both from 0)."""
    return f"m{webinar}-{i}@school.example"


async def seed(sessionmaker: Sessionmaker, config: AppConfig, *, registrants: Sequence[int],
               start: datetime, title: str, salt: str,
               registered_at: datetime | None = None) -> list[int]:
    """Webinars with confirmed registrants whose invitations went out, as the product made them.

    `registrants` gives the count per webinar. Everything is written by the product's services
    at `registered_at` (default an hour ago): the organizer, the webinar (15-minute reminders)
    and its meeting, each registration (`registrations.register`, which also writes the
    invitation and any reminder still ahead); the invitations are then claimed and recorded as
    sent by the worker's own steps, without SMTP. A column the product starts to require is
    filled here exactly when the product fills it.
    """
    from sqlalchemy import select

    from webinars.accounts import create_account
    from webinars.clock import FixedClock
    from webinars.models import Delivery, Webinar
    from webinars.organizations import create_organization
    from webinars.registrations import register
    from webinars.scheduling import create_webinar, get_webinar
    from webinars.validation import registration_input, webinar_input
    from workers.deliveries import Outcome, write_outcomes
    from workers.meetings import sync_meeting
    from workers.recheck import claim

    clock = FixedClock(registered_at or datetime.now(UTC) - timedelta(hours=1))
    async with sessionmaker() as session:
        org = await create_organization(session, clock, slug=f"bench-{salt}", name="Профсоюз",
                                        timezone="Europe/Moscow", level="federal")
        account = await create_account(session, clock, email=f"bench-{salt}@union.example",
                                       name="Организатор", password="bench-password-123",
                                       organization=org, role="admin")
        webinars: list[Webinar] = []
        for w_index in range(len(registrants)):
            data = webinar_input({
                "title": f"{title} №{w_index + 1}",
                "description": "Как вести страницу первичной организации в соцсетях.",
                "kind": "webinar", "start": start.isoformat(), "timezone": "Europe/Moscow",
                "duration_minutes": 90, "visibility": "public", "platform": "jitsi",
                "reminder_offsets": [15], "organization_id": org.id,
            }, clock, default_timezone="Europe/Moscow", partial=False)
            webinars.append(await create_webinar(session, clock, account, data,
                                                 uid_domain=config.uid_domain))
        await session.commit()

    import aiohttp

    from integrations.registry import TokenCache
    from webinars.connections import preset_adapters

    async with aiohttp.ClientSession() as http:
        ctx: dict[str, Any] = {
            "sessionmaker": sessionmaker, "clock": clock, "queue": HeldQueue(), "http": http,
            "config": config, "adapters": preset_adapters(config, http, TokenCache(), clock)}
        await dispatch_all(ctx)  # webinar.scheduled: the meetings handler asks for the meeting
        for webinar in webinars:
            status = await sync_meeting(ctx, webinar.id)  # type: ignore[arg-type]
            if status != "ready":
                raise RuntimeError(f"seeding: the meeting of webinar {webinar.id} is {status}")

    ids = [webinar.id for webinar in webinars]
    for w_index, (webinar_id, count) in enumerate(zip(ids, registrants, strict=True)):
        for first in range(0, count, 500):  # short transactions, as the product makes them
            async with sessionmaker() as session:
                webinar = await get_webinar(session, webinar_id)
                for i in range(first, min(first + 500, count)):
                    person = registration_input(
                        {"name": f"Участник {i} Иванов", "email": address(w_index, i),
                         "locale": "ru" if i % 4 else "en", "timezone": ZONES[i % len(ZONES)]},
                        default_locale="ru", default_timezone="Europe/Moscow")
                    await register(session, clock, webinar, person)
                await session.commit()

    await dispatch_all(ctx)

    # What the worker did with the invitations then, minus the SMTP conversation.
    async with sessionmaker() as session:
        rows = (await session.execute(
            select(Delivery.id, Delivery.sequence).where(
                Delivery.webinar_id.in_(ids), Delivery.kind == "invitation",
                Delivery.status == "pending"))).all()
        claimed: set[int] = set()
        for first in range(0, len(rows), 10_000):  # PostgreSQL takes 32,767 parameters
            claimed.update(await claim(session, [r.id for r in rows[first:first + 10_000]],
                                       clock.now(), domain=config.uid_domain))
        await session.commit()
    if len(claimed) != sum(registrants):
        raise RuntimeError(f"seeding: {len(claimed)} invitations for {sum(registrants)} "
                           "registrants")
    async with sessionmaker.kw["bind"].begin() as conn:
        await write_outcomes(conn, [Outcome(r.id, "sent", sequence=r.sequence)
                                    for r in rows if r.id in claimed], clock.now())
    await analyze(sessionmaker)
    return ids


async def analyze(sessionmaker: Sessionmaker) -> None:
    """What autovacuum does within a minute of rows being written, on a PostgreSQL that keeps
    its default. The CI machine's runs with it off (conf.d/90-ci.conf): never analyzed, the
    planner took the freshly seeded tables for a few pages and scanned `deliveries` whole for
    every job's claim and load (5.5 ms of the database's time a job of 100 at 4,000 rows)."""
    from sqlalchemy import text

    async with sessionmaker() as session:
        if session.bind.dialect.name == "postgresql":
            await session.execute(text("ANALYZE"))
            await session.commit()


async def seed_open_webinar(target: Target, *, events: int, capacity: int, title: str,
                            salt: str) -> tuple[int, str]:
    """A fresh target with `events` webinars a week ahead in organization `bench-<salt>`,
    the first one open with `capacity` seats: its id and public id."""
    from sqlalchemy import select, update

    from webinars.db import make_engine, make_sessionmaker
    from webinars.models import Webinar

    await prepare(target)
    engine = make_engine(target.database_url)
    sessionmaker = make_sessionmaker(engine)
    try:
        webinar_id, *_ = await seed(sessionmaker, target.config(), registrants=[0] * events,
                                    start=datetime.now(UTC) + timedelta(days=7),
                                    title=title, salt=salt)
        async with sessionmaker() as session:
            await session.execute(update(Webinar).where(Webinar.id == webinar_id)
                                  .values(capacity=capacity))
            await session.commit()
            public_id = await session.scalar(select(Webinar.public_id)
                                             .where(Webinar.id == webinar_id))
    finally:
        await engine.dispose()
    assert public_id is not None
    return webinar_id, public_id


def run_dir() -> Path:
    """Where a run keeps its processes' logs unless told: a fresh temporary folder (never
    the checkout)."""
    return Path(tempfile.mkdtemp(prefix="bench-"))


async def dispatch_all(ctx: dict[str, Any]) -> None:
    """What the worker's dispatcher did with the registrations: their invitations written."""
    from sqlalchemy import select

    from webinars.models import Event
    from workers.dispatch import dispatch

    async with ctx["sessionmaker"]() as session:
        ids = (await session.scalars(select(Event.id).where(Event.dispatched_at.is_(None))
                                     .order_by(Event.id))).all()
    for event_id in ids:
        await dispatch(ctx, event_id)  # type: ignore[arg-type]


async def reschedule(sessionmaker: Sessionmaker, queue: Queue, webinar_id: int) -> None:
    """The organizer moves the webinar a day later, as the web handler does: the service, then
    `commit_and_enqueue`. Every registrant gets an update."""
    from webinars.clock import SystemClock
    from webinars.models import Account
    from webinars.queue import commit_and_enqueue
    from webinars.scheduling import get_webinar, update_webinar
    from webinars.validation import webinar_input

    clock = SystemClock()
    async with sessionmaker() as session:
        webinar = await get_webinar(session, webinar_id)
        account = await session.get_one(Account, webinar.created_by_id)
        data = webinar_input({"start": (webinar.start_at + timedelta(days=1)).isoformat()},
                             clock, default_timezone=webinar.timezone, partial=True)
        await update_webinar(session, clock, account, webinar_id, data)
        await commit_and_enqueue(session, queue, clock)


async def count_by_status(sessionmaker: Sessionmaker, webinar_ids: Sequence[int],
                          kind: str) -> dict[str, int]:
    """The `kind` rows of these webinars by status."""
    from sqlalchemy import func, select

    from webinars.models import Delivery

    async with sessionmaker() as session:
        return {status: n for status, n in (await session.execute(
            select(Delivery.status, func.count()).where(
                Delivery.webinar_id.in_(list(webinar_ids)), Delivery.kind == kind)
            .group_by(Delivery.status))).all()}


async def undispatched(sessionmaker: Sessionmaker, webinar_ids: Sequence[int]) -> int:
    """Events of these webinars whose handlers have not all run (rows may still be coming)."""
    from sqlalchemy import func, select

    from webinars.models import Event

    async with sessionmaker() as session:
        return int(await session.scalar(
            select(func.count()).select_from(Event).where(
                Event.webinar_id.in_(list(webinar_ids)), Event.dispatched_at.is_(None))) or 0)


async def settle(sessionmaker: Sessionmaker, webinar_ids: Sequence[int], kind: str,
                 timeout: float) -> dict[str, int]:
    """Wait until every event of these webinars is dispatched and no `kind` row is pending or
    out with the worker (its outcomes are written just after each message is accepted); return
    the count per status."""
    deadline = time.monotonic() + timeout
    while True:
        counts = await count_by_status(sessionmaker, webinar_ids, kind)
        if not counts.get("pending") and not counts.get("sending") \
                and not await undispatched(sessionmaker, webinar_ids):
            return counts
        if time.monotonic() > deadline:
            raise TimeoutError(f"{kind} deliveries still unsettled after {timeout:.0f} s: "
                               f"{counts}")
        await asyncio.sleep(0.05)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def utc_now() -> datetime:
    return datetime.now(UTC)
