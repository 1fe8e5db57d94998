"""List pages and feeds at scale: every list page must cost the same at 100, 1,000 and 10,000
rows, and a feed poll that finds nothing new must be nearly free.

    .venv/bin/python bench/lists.py [--sizes 100,1000,10000] [--repeat 40] [--cold 3]

Each size gets an organization of its own with that many public events (half over, half to
come, an hour apart, all inside the feed's year) and its organizer; one of its coming webinars
(made through `scheduling.create_webinar`) gets that many registrants, each with an invitation
recorded as sent. Events, registrants and invitations are inserted in bulk with every column
the product fills (the pages read rows; how they were written does not matter to them).

Measured in-process (the real app over ASGI, signed in as the organizer), `--repeat` times each
after a warm-up: the organization page, its archive (first and last page), the dashboard, the
registrants page (first and last page) and the deliveries page: median, p99 and size; the feed
built cold (`--cold` times, the process's built feeds dropped before each), kept, and answered
304. Then the feed kept and 304 again through a real `webinars serve` process over HTTP.
Targets: each page under 30 ms and flat across sizes; the kept feed ≥ 10× faster than cold;
a 304 under 2 ms at any size.
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
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    BASE_URL,
    MAIL_FROM,
    SECRET,
    Target,
    analyze,
    percentile,
    prepare,
    product_env,
    run_dir,
)

PASSWORD = "bench-password-123"
BATCH = 5000


@dataclass(frozen=True)
class Row:
    size: int
    what: str
    seconds: list[float]
    nbytes: int
    status: int = 200

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.seconds, 99) * 1000


@dataclass
class Figures:
    rows: list[Row] = field(default_factory=list)

    def get(self, size: int, what: str) -> Row:
        return next(r for r in self.rows if r.size == size and r.what == what)


@dataclass(frozen=True)
class Seeded:
    size: int
    slug: str
    email: str
    webinar_id: int


async def insert_all(sessionmaker: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    from sqlalchemy import insert

    for first in range(0, len(rows), BATCH):
        async with sessionmaker() as session:
            await session.execute(insert(table), rows[first:first + BATCH])
            await session.commit()


async def seed_size(sessionmaker: Any, clock: Any, size: int, uid_domain: str) -> Seeded:
    """An organization with `size` events, its organizer, and a webinar with `size`
    registrants whose invitations were sent."""
    from sqlalchemy import Table, select, update

    from webinars.accounts import create_account
    from webinars.models import Delivery, Registration, Webinar
    from webinars.organizations import create_organization
    from webinars.scheduling import create_webinar
    from webinars.validation import webinar_input

    now = clock.now()
    slug, email = f"lists-{size}", f"lists-{size}@union.example"
    async with sessionmaker() as session:
        org = await create_organization(session, clock, slug=slug, name=f"Организация {size}",
                                        timezone="Europe/Moscow", level="regional")
        account = await create_account(session, clock, email=email, name="Организатор",
                                       password=PASSWORD, organization=org, role="organizer")
        data = webinar_input({
            "title": "Обучение ответственных за информационную работу",
            "description": "Как вести страницу первичной организации в соцсетях.",
            "kind": "training", "start": (now + timedelta(days=2)).isoformat(),
            "timezone": "Europe/Moscow", "duration_minutes": 90, "organization_id": org.id,
        }, clock, default_timezone="Europe/Moscow", partial=False)
        webinar = await create_webinar(session, clock, account, data, uid_domain=uid_domain)
        await session.commit()
        org_id, account_id, webinar_id = org.id, account.id, webinar.id

    events = []
    for n in range(size - 1):
        hours = n // 2 + 1
        start = now + timedelta(hours=hours) if n % 2 else now - timedelta(hours=hours + 2)
        events.append({
            "organization_id": org_id, "public_id": uuid.uuid4().hex,
            "title": f"Вебинар годового плана № {n + 1}",
            "description": "Информационная работа профсоюза: " * 4, "kind": "webinar",
            "start_at": start, "timezone": "Europe/Moscow", "duration_minutes": 60,
            "capacity": None, "registered_count": 0, "registration_open": True,
            "registration_mode": "open", "visibility": "public", "platform": "jitsi",
            "static_url": None, "status": "scheduled", "uid": f"webinar-{uuid.uuid4()}@{uid_domain}",
            "sequence": 0, "reminder_offsets": [], "recording_url": None, "followup_note": None,
            "source_id": None, "plan_period": None, "all_day": False, "end_date": None,
            "deadline_at": None, "series_rule": None, "created_by_id": account_id,
            "created_at": now, "updated_at": now, "ends_at": start + timedelta(minutes=60),
            "long_running": False})
    await insert_all(sessionmaker, cast(Table, Webinar.__table__), events)

    registrants = [{
        "webinar_id": webinar_id, "name": f"Участник {i}", "email": f"m{i}@school.example",
        "email_normalized": f"m{i}@school.example", "locale": "ru",
        "timezone": "Asia/Yekaterinburg", "organization_id": org_id, "status": "confirmed",
        "token": uuid.uuid4().hex + uuid.uuid4().hex,
        "join_token": uuid.uuid4().hex + uuid.uuid4().hex,
        "created_at": now - timedelta(seconds=size - i), "sequence_offset": 0,
        "reminders_off": False} for i in range(size)]
    await insert_all(sessionmaker, cast(Table, Registration.__table__), registrants)
    async with sessionmaker() as session:
        ids = list((await session.scalars(select(Registration.id).where(
            Registration.webinar_id == webinar_id))).all())
        await session.execute(update(Webinar).where(Webinar.id == webinar_id)
                              .values(registered_count=size))
        await session.commit()
    invitations = [{
        "webinar_id": webinar_id, "registration_id": rid, "kind": "invitation", "due_at": now,
        "status": "sent", "sequence": 0, "attempts": 1, "created_at": now, "sent_at": now,
        "message_id": f"<{uuid.uuid4().hex}@union.example>"} for rid in ids]
    await insert_all(sessionmaker, cast(Table, Delivery.__table__), invitations)
    await analyze(sessionmaker)
    return Seeded(size, slug, email, webinar_id)


async def timed(client: Any, path: str, repeat: int, *, headers: dict[str, str] | None = None,
                before: Any = None, expect: int = 200) -> tuple[list[float], int]:
    seconds, nbytes = [], 0
    for _ in range(repeat):
        if before is not None:
            before()
        began = time.perf_counter()
        response = await client.get(path, headers=headers or {})
        seconds.append(time.perf_counter() - began)
        if response.status_code != expect:
            raise RuntimeError(f"{path} answered {response.status_code}, not {expect}")
        nbytes = len(response.content)
    return seconds, nbytes


async def login(client: Any, email: str) -> None:
    import re

    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if token is None:
        raise RuntimeError("the login page has no CSRF token")
    answer = await client.post("/login", data={"email": email, "password": PASSWORD,
                                               "csrf_token": token.group(1)})
    if answer.status_code != 303:
        raise RuntimeError(f"login answered {answer.status_code}")


async def measure_size(client: Any, runtime: Any, seeded: Seeded, repeat: int,
                       cold: int) -> list[Row]:
    from webinars.listings import EVENTS_PER_PAGE, REGISTRANTS_PER_PAGE
    from webinars.web.feeds import IcsCache

    client.cookies.clear()
    await login(client, seeded.email)
    past = (seeded.size - 1) // 2
    last_archive = max(1, -(-past // EVENTS_PER_PAGE))
    last_registrants = max(1, -(-seeded.size // REGISTRANTS_PER_PAGE))
    w = f"/webinars/{seeded.webinar_id}"
    pages = [("org page", f"/o/{seeded.slug}"), ("archive", f"/o/{seeded.slug}/archive"),
             ("archive, last page", f"/o/{seeded.slug}/archive?page={last_archive}"),
             ("dashboard", "/dashboard"), ("registrants", f"{w}/registrants"),
             ("registrants, last page", f"{w}/registrants?page={last_registrants}"),
             ("deliveries", f"{w}/deliveries")]
    rows = []
    for what, path in pages:
        await timed(client, path, 3)  # warm-up
        seconds, nbytes = await timed(client, path, repeat)
        rows.append(Row(seeded.size, what, seconds, nbytes))

    feed = f"/o/{seeded.slug}.ics"

    def forget() -> None:
        runtime.extra["ics_cache"] = IcsCache()

    seconds, nbytes = await timed(client, feed, cold, before=forget)
    rows.append(Row(seeded.size, "feed, built", seconds, nbytes))
    seconds, nbytes = await timed(client, feed, repeat)
    rows.append(Row(seeded.size, "feed, kept", seconds, nbytes))
    etag = (await client.get(feed)).headers["etag"]
    seconds, _ = await timed(client, feed, repeat, headers={"If-None-Match": etag}, expect=304)
    rows.append(Row(seeded.size, "feed, 304", seconds, 0, 304))
    return rows


def measure_served(target: Target, seeded: Sequence[Seeded], repeat: int,
                   log_dir: Path) -> list[Row]:
    """The feed kept and answered 304 by a real `webinars serve` over HTTP (keep-alive)."""
    import httpx

    from bench.web import Server

    env = product_env(DATABASE_URL=target.database_url, REDIS_URL=target.redis_url,
                      SECRET_KEY=SECRET, BASE_URL=BASE_URL, MAIL_FROM=MAIL_FROM)
    command = [str(Path(sys.executable).with_name("webinars")), "serve"]
    server = Server(command, env, log_dir / "lists-server.log", f"/o/{seeded[0].slug}")
    rows = []
    try:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            for s in seeded:
                feed = f"/o/{s.slug}.ics"
                first = http.get(feed)
                etag = first.headers["etag"]
                for what, headers, expect in (("served feed, kept", {}, 200),
                                              ("served feed, 304",
                                               {"If-None-Match": etag}, 304)):
                    seconds, nbytes = [], 0
                    for n in range(repeat + 3):
                        began = time.perf_counter()
                        answer = http.get(feed, headers=headers)
                        if n >= 3:
                            seconds.append(time.perf_counter() - began)
                        if answer.status_code != expect:
                            raise RuntimeError(f"{feed} answered {answer.status_code}")
                        nbytes = len(answer.content)
                    rows.append(Row(s.size, what, seconds, nbytes, expect))
    finally:
        server.stop()
    return rows


async def run(target: Target, sizes: Sequence[int], repeat: int, cold: int) -> tuple[
        Figures, list[Seeded]]:
    import httpx

    from webinars.app import create_app
    from webinars.clock import SystemClock
    from webinars.runtime import build_runtime

    config = target.config()
    clock = SystemClock()
    figures = Figures()
    seeded = []
    async with AsyncExitStack() as stack:
        runtime = await build_runtime(config, clock)
        stack.push_async_callback(runtime.close)
        for size in sizes:
            seeded.append(await seed_size(runtime.sessionmaker, clock, size, config.uid_domain))
        client = await stack.enter_async_context(httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(runtime)), base_url=BASE_URL,
            timeout=120))
        for s in seeded:
            figures.rows.extend(await measure_size(client, runtime, s, repeat, cold))
    return figures, seeded


def report(figures: Figures, sizes: Sequence[int], target: Target) -> None:
    print(f"list pages and feeds ({target.describe()}); median / p99 ms, size")
    whats = list(dict.fromkeys(r.what for r in figures.rows))
    print(f"  {'':24}" + "".join(f"{size:>28,}" for size in sizes))
    for what in whats:
        cells = []
        for size in sizes:
            r = figures.get(size, what)
            cells.append(f"{r.median_ms:8.2f} / {r.p99_ms:8.2f} {r.nbytes / 1024:7.0f} KB")
        print(f"  {what:24}" + "".join(f"{c:>28}" for c in cells))
    for size in sizes:
        built, kept = figures.get(size, "feed, built"), figures.get(size, "feed, kept")
        print(f"  {size:>6,} events: kept feed {built.median_ms / kept.median_ms:5.1f}× faster"
              f" than built")


def main(argv: Sequence[str] | None = None, *, log_dir: Path | None = None) -> Figures:
    """The command: wipe and migrate the target named by the environment, seed, measure,
    print, return the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000",
                        help="events (and registrants) per organization, comma-separated")
    parser.add_argument("--repeat", type=int, default=40, help="requests per page")
    parser.add_argument("--cold", type=int, default=3, help="cold builds of each feed")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        parser.error("--sizes: whole numbers separated by commas")
    if not sizes or min(sizes) < 2 or args.repeat < 1 or args.cold < 1:
        parser.error("--sizes must be at least 2, --repeat and --cold at least 1")
    target = Target.from_env(default_db="webinars_lists")
    asyncio.run(prepare(target))
    figures, seeded = asyncio.run(run(target, sizes, args.repeat, args.cold))
    figures.rows.extend(measure_served(target, seeded, args.repeat, log_dir or run_dir()))
    report(figures, sizes, target)
    return figures


if __name__ == "__main__":
    main()
