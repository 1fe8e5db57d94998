"""Public registration is not a free mass mailer: one client cannot register many addresses,
and no one can register one address over and over. Both databases."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.app import create_app
from webinars.clock import FixedClock
from webinars.models import Account, Delivery, Organization, Registration
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime

from .api_support import Api, make_world
from .factories import make_webinar
from .test_public_pages import open_webinar, post_registration


@pytest.fixture
def tight(runtime: Runtime, queue: InProcessQueue) -> Runtime:
    """Three addresses per client and two registrations per address, per hour."""
    runtime.config = dataclasses.replace(runtime.config, registration_limit_period=3600,
                                         registration_limit_per_client=3,
                                         registration_limit_per_address=2)
    queue.ctx["config"] = runtime.config
    return runtime


@asynccontextmanager
async def browser(runtime: Runtime, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime), client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def counts(runtime: Runtime) -> tuple[int, int]:
    """Registrations and messages, once what the registrations set off has run."""
    assert isinstance(runtime.queue, InProcessQueue)
    await runtime.queue.drain()
    async with runtime.sessionmaker() as session:
        regs = await session.scalar(select(func.count()).select_from(Registration))
        mail = await session.scalar(select(func.count()).select_from(Delivery))
        return int(regs or 0), int(mail or 0)


async def test_one_client_registering_many_addresses_is_slowed_down(
    tight: Runtime, session: AsyncSession, queue: InProcessQueue, clock: FixedClock
) -> None:
    webinar = await open_webinar(session, queue, clock)
    async with browser(tight, "198.51.100.9") as spammer:
        for n in range(3):
            answer = await post_registration(spammer, webinar, email=f"victim{n}@mail.example")
            assert answer.status_code == 200
        # An address already registered from here is not a new one: no limit for a retry.
        again = await post_registration(spammer, webinar, email="victim0@mail.example")
        assert again.status_code == 200
        before = await counts(tight)
        stopped = await post_registration(spammer, webinar, email="victim3@mail.example")
        assert stopped.status_code == 429
        assert 0 < int(stopped.headers["retry-after"]) <= 3600
        assert "Слишком много регистраций" in stopped.text
        assert await counts(tight) == before  # nothing written, nothing mailed
    async with browser(tight, "203.0.113.20") as neighbour:
        ok = await post_registration(neighbour, webinar, email="victim3@mail.example")
        assert ok.status_code == 200
    clock.advance(timedelta(hours=1, seconds=1))
    async with browser(tight, "198.51.100.9") as spammer:
        later = await post_registration(spammer, webinar, email="victim4@mail.example")
        assert later.status_code == 200


async def test_one_address_cannot_be_registered_over_and_over_from_anywhere(
    tight: Runtime, session: AsyncSession, queue: InProcessQueue, clock: FixedClock
) -> None:
    webinar = await open_webinar(session, queue, clock)
    account = await session.get(Account, webinar.created_by_id)
    org = await session.get(Organization, webinar.organization_id)
    assert account is not None and org is not None
    others = [await make_webinar(session, clock, account, org, title=f"Ещё {n}")
              for n in range(2)]
    await session.commit()
    for n, target in enumerate([webinar, others[0]]):
        async with browser(tight, f"198.51.100.{n + 1}") as client:
            assert (await post_registration(client, target, email="inbox@mail.example")
                    ).status_code == 200
    async with browser(tight, "198.51.100.99") as client:
        flood = await post_registration(client, others[1], email="INBOX@mail.example")
        assert flood.status_code == 429
    assert (await counts(tight))[0] == 2


async def test_the_api_answers_429_for_a_flooded_address(
    tight: Runtime, clock: FixedClock, queue: InProcessQueue
) -> None:
    world = await make_world(tight, clock)
    await queue.drain()
    transport = httpx.ASGITransport(app=create_app(tight))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as raw:
        api = Api(raw, world.admin_token)
        path = f"/webinars/{world.north_webinar.id}/registrations"
        for _ in range(2):
            created = await api.post(path, json={"name": "Мария", "email": "m@mail.example"})
            assert created.status_code == 201
            cancelled = await api.post(f"{path}/{created.json()['id']}/cancel")
            assert cancelled.status_code == 200
        limited = await api.post(path, json={"name": "Мария", "email": "m@mail.example"})
        assert limited.status_code == 429
        assert limited.json()["code"] == "rate_limited" and int(limited.headers["retry-after"])
