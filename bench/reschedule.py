"""Reschedule benchmark: how long the organizer waits when a webinar with many registrants
moves, at several sizes. The request only changes the webinar and records the event; the
members' updates are written later by the worker's notifications handler, so the answer must
come as fast at 50,000 registrants as at 100.

    .venv/bin/python bench/reschedule.py [--sizes 100,5000,50000] [--repeat 7]

Each size gets a webinar of its own with that many confirmed registrants (inserted in bulk:
how they registered does not matter here), then `--repeat` reschedules through the real app
(`PATCH /api/v1/webinars/{id}` with an API token, over ASGI, jobs put on Redis; no worker
runs). Printed per size: median and slowest request, and the update rows the requests wrote
themselves (0: the fan-out left the request). Target: median under 0.1 s at every size.
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
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Target, prepare

MOSCOW = ZoneInfo("Europe/Moscow")  # the webinars' zone: the API takes local times


@dataclass(frozen=True)
class SizeFigures:
    registrants: int
    seconds: list[float]  # each reschedule request, in order
    rows_written: int  # update rows present right after the requests (no worker ran)
    events: int  # webinar.changed events recorded

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def slowest(self) -> float:
        return max(self.seconds)


async def seed_size(sessionmaker: Any, clock: Any, account: Any, org_id: int, size: int,
                    uid_domain: str) -> int:
    """A scheduled webinar with `size` confirmed registrants, inserted in bulk."""
    from sqlalchemy import Table, insert, update

    from webinars.models import Registration, Webinar
    from webinars.scheduling import create_webinar
    from webinars.validation import webinar_input

    async with sessionmaker() as session:
        data = webinar_input({
            "title": f"Обучение ответственных за информационную работу ({size})",
            "description": "Как вести страницу первичной организации в соцсетях.",
            "kind": "training", "start": (clock.now() + timedelta(days=30)).isoformat(),
            "timezone": "Europe/Moscow", "duration_minutes": 90, "organization_id": org_id,
        }, clock, default_timezone="Europe/Moscow", partial=False)
        webinar = await create_webinar(session, clock, account, data, uid_domain=uid_domain)
        await session.commit()
        webinar_id = webinar.id
    table = cast(Table, Registration.__table__)
    now = clock.now()
    for first in range(0, size, 5000):
        rows = [{"webinar_id": webinar_id, "name": f"Участник {i}", "email": f"m{i}@school.example",
                 "email_normalized": f"m{i}@school.example", "locale": "ru",
                 "timezone": "Asia/Yekaterinburg", "organization_id": org_id,
                 "status": "confirmed", "token": uuid.uuid4().hex + uuid.uuid4().hex,
                 "join_token": uuid.uuid4().hex + uuid.uuid4().hex, "created_at": now,
                 "sequence_offset": 0, "reminders_off": False}
                for i in range(first, min(first + 5000, size))]
        async with sessionmaker() as session:
            await session.execute(insert(table), rows)
            await session.commit()
    async with sessionmaker() as session:
        await session.execute(update(Webinar).where(Webinar.id == webinar_id)
                              .values(registered_count=size))
        await session.commit()
    return webinar_id


async def measure(client: Any, token: str, webinar_id: int, start: datetime, repeat: int
                  ) -> list[float]:
    """`repeat` reschedules, each a day later than the one before."""
    seconds = []
    for n in range(repeat):
        local = (start + timedelta(days=n + 1)).astimezone(MOSCOW).replace(tzinfo=None)
        began = time.perf_counter()
        response = await client.patch(f"/api/v1/webinars/{webinar_id}",
                                      json={"start": local.isoformat(timespec="minutes")},
                                      headers={"Authorization": f"Bearer {token}"})
        seconds.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise RuntimeError(f"reschedule answered {response.status_code}: {response.text}")
    return seconds


async def run(target: Target, sizes: Sequence[int], repeat: int) -> list[SizeFigures]:
    import httpx
    from sqlalchemy import func, select

    from webinars.accounts import create_account, create_api_token
    from webinars.app import create_app
    from webinars.clock import SystemClock
    from webinars.models import Delivery, Event, Webinar
    from webinars.organizations import create_organization
    from webinars.queue import ArqQueue
    from webinars.runtime import build_runtime

    config = target.config()
    clock = SystemClock()
    figures: list[SizeFigures] = []
    async with AsyncExitStack() as stack:
        runtime = await build_runtime(config, clock)
        stack.push_async_callback(runtime.close)
        runtime.queue = await ArqQueue.connect(target.redis_url)
        sessionmaker = runtime.sessionmaker
        async with sessionmaker() as session:
            org = await create_organization(session, clock, slug="bench-reschedule",
                                            name="Профсоюз", timezone="Europe/Moscow",
                                            level="federal")
            account = await create_account(session, clock, email="bench@union.example",
                                           name="Организатор", password="bench-password-123",
                                           organization=org, role="admin")
            token = await create_api_token(session, clock, account, "bench")
            await session.commit()
        client = await stack.enter_async_context(httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(runtime)),
            base_url="http://bench"))
        for size in sizes:
            webinar_id = await seed_size(sessionmaker, clock, account, org.id, size,
                                         config.uid_domain)
            async with sessionmaker() as session:
                start = (await session.get_one(Webinar, webinar_id)).start_at
            await measure(client, token, webinar_id, start + timedelta(days=100), 1)  # warm-up
            seconds = await measure(client, token, webinar_id, start, repeat)
            async with sessionmaker() as session:
                rows = await session.scalar(select(func.count()).select_from(Delivery).where(
                    Delivery.webinar_id == webinar_id, Delivery.kind == "update"))
                events = await session.scalar(select(func.count()).select_from(Event).where(
                    Event.webinar_id == webinar_id, Event.kind == "webinar.changed"))
            figures.append(SizeFigures(size, seconds, int(rows or 0), int(events or 0)))
    return figures


def report(figures: Sequence[SizeFigures], target: Target) -> None:
    print(f"reschedule request time ({target.describe()})")
    print("  registrants   median     slowest   update rows written by the requests")
    for f in figures:
        print(f"  {f.registrants:>11,}   {f.median * 1000:6.1f} ms  {f.slowest * 1000:6.1f} ms"
              f"   {f.rows_written}")


def main(argv: Sequence[str] | None = None) -> list[SizeFigures]:
    """The command: wipe and migrate the target named by the environment, run, print, return
    the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="100,5000,50000",
                        help="registrants per webinar, comma-separated")
    parser.add_argument("--repeat", type=int, default=7, help="reschedules per size")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        parser.error("--sizes: whole numbers separated by commas")
    if not sizes or min(sizes) < 1 or args.repeat < 1:
        parser.error("--sizes and --repeat must be at least 1")
    target = Target.from_env(default_db="webinars_reschedule")
    asyncio.run(prepare(target))
    figures = asyncio.run(run(target, sizes, args.repeat))
    report(figures, target)
    return figures


if __name__ == "__main__":
    main()
