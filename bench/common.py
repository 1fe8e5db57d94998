"""What both benchmarks share: a PostgreSQL database of their own, Redis db 15, an SMTP sink in
its own process, and a real `webinars worker` process started with the product's settings."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from ctypes import c_double, c_int
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")
BENCH_DB = "webinars_bench"
DATABASE_URL = PG_ADMIN.replace("postgresql://", "postgresql+asyncpg://") + f"/{BENCH_DB}"
REDIS_URL = "redis://127.0.0.1:6379/15"
SECRET = "bench-secret-key-that-is-long-enough-0123456789"
BASE_URL = "https://events.example"
MAIL_FROM = "events@union.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def recreate_database() -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN + "/postgres")
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {BENCH_DB}")
    finally:
        await conn.close()


def prepare_database() -> None:
    from webinars.migrate import upgrade

    asyncio.run(recreate_database())
    upgrade(DATABASE_URL)


async def flush_redis() -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


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

    def wait_for(self, n: int, timeout: float) -> float:
        """Block until `n` messages arrived; return the wall time of the n-th."""
        deadline = time.monotonic() + timeout
        while self.received < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.received} of {n} messages arrived")
            time.sleep(0.005)
        stamp: float = self.stamps[n - 1]
        return stamp

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)


# --- the worker: the real `webinars worker` command ---------------------------------------


def worker_env(smtp_port: int, pool: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL, SECRET_KEY=SECRET,
               BASE_URL=BASE_URL, MAIL_FROM=MAIL_FROM,
               SMTP_URL=f"smtp://127.0.0.1:{smtp_port}?pool={pool}")
    return env


def start_worker(smtp_port: int, pool: int, log: Path) -> subprocess.Popen[bytes]:
    """`webinars worker` exactly as production runs it, in its own process."""
    exe = Path(sys.executable).with_name("webinars")
    handle = log.open("wb")
    return subprocess.Popen([str(exe), "worker"], env=worker_env(smtp_port, pool),
                            cwd=str(log.parent), stdout=handle, stderr=subprocess.STDOUT)


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- seeding -------------------------------------------------------------------------------


def token(i: int, salt: str) -> str:
    import base64
    import hashlib

    digest = hashlib.sha256(f"{salt}:{i}".encode()).digest()[:24]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


async def seed(sessionmaker: Any, clock: Any, *, registrants: Sequence[int], start: datetime,
               title: str, salt: str, reminders_due: bool = False,
               registered_at: datetime | None = None) -> list[int]:
    """Webinars with many confirmed registrants, written in bulk (Core INSERTs).

    `registrants` gives the count per webinar. With `reminders_due`, each registrant also has a
    pending 15-minute reminder (as if they had registered an hour before).
    """
    from sqlalchemy import insert

    from webinars.accounts import create_account
    from webinars.models import Delivery, Registration, Webinar
    from webinars.organizations import create_organization
    from webinars.scheduling import new_uid

    now = clock.now()
    registered_at = registered_at or now - timedelta(hours=1)
    async with sessionmaker() as session:
        org = await create_organization(session, clock, slug=f"bench-{salt}", name="Профсоюз",
                                        timezone="Europe/Moscow", level="federal")
        account = await create_account(session, clock, email=f"bench-{salt}@union.example",
                                       name="Организатор", password="bench-password-123",
                                       organization=org, role="admin")
        webinar_ids: list[int] = []
        for w_index, count in enumerate(registrants):
            webinar = Webinar(organization_id=org.id, public_id=f"{salt}{w_index:04d}",
                              title=f"{title} №{w_index + 1}",
                              description="Как вести страницу первичной организации в соцсетях.",
                              kind="webinar", start_at=start, timezone="Europe/Moscow",
                              duration_minutes=90, capacity=None, registered_count=count,
                              registration_open=True, visibility="public", platform="jitsi",
                              status="scheduled", uid=new_uid("union.example"), sequence=0,
                              reminder_offsets=[15], created_by_id=account.id,
                              created_at=registered_at, updated_at=registered_at)
            session.add(webinar)
            await session.flush()
            webinar_ids.append(webinar.id)
            zones = ["Europe/Moscow", "Asia/Yekaterinburg", "Asia/Novosibirsk",
                     "Asia/Vladivostok", "Europe/Kaliningrad"]
            rows = [{"webinar_id": webinar.id, "name": f"Участник {i} Иванов",
                     "email": f"m{w_index}-{i}@school.example",
                     "email_normalized": f"m{w_index}-{i}@school.example",
                     "locale": "ru" if i % 4 else "en", "timezone": zones[i % len(zones)],
                     "organization_id": org.id, "status": "confirmed",
                     "token": token(w_index * 1_000_000 + i, salt), "created_at": registered_at}
                    for i in range(count)]
            ids = (await session.execute(insert(Registration).returning(Registration.id),
                                         rows)).scalars().all()
            if reminders_due:
                await session.execute(insert(Delivery), [
                    {"webinar_id": webinar.id, "registration_id": rid, "kind": "reminder",
                     "due_at": start - timedelta(minutes=15), "status": "pending",
                     "sequence": 0, "offset_minutes": 15, "attempts": 0,
                     "created_at": registered_at} for rid in ids])
        await session.commit()
    return webinar_ids


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def utc_now() -> datetime:
    return datetime.now(UTC)
