"""Capacity holds exactly under concurrent registrations, on SQLite and on PostgreSQL.

The requests go through the whole ASGI app at once (asyncio.gather), each with its own
database session, so the seat is decided by the conditional UPDATE in the database and not
by any check in Python.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import FixedClock
from webinars.models import Delivery, Registration
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime

from .factories import csrf_from
from .test_public_pages import fresh_webinar, open_webinar, registrations_of


@pytest.mark.parametrize("capacity", [1, 5])
async def test_capacity_n_with_3n_concurrent_registrations(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime, capacity: int,
) -> None:
    webinar = await open_webinar(session, queue, clock, capacity=capacity)
    token = csrf_from((await client.get(f"/w/{webinar.public_id}")).text)
    attempts = 3 * capacity

    responses = await asyncio.gather(*[
        client.post(f"/w/{webinar.public_id}/register", data={
            "csrf_token": token, "name": f"Участник {i}", "email": f"member{i}@school.example",
            "timezone": "Asia/Vladivostok"})
        for i in range(attempts)])

    # Everyone gets the same answer; the first `capacity` have seats, the rest wait in line.
    assert [r.status_code for r in responses] == [200] * attempts
    rows = await registrations_of(runtime, webinar.id)
    assert sorted(r.status for r in rows) == (["confirmed"] * capacity
                                              + ["waitlisted"] * (attempts - capacity))
    assert (await fresh_webinar(runtime, webinar.id)).registered_count == capacity
    await queue.drain()
    async with runtime.sessionmaker() as s:
        kinds: dict[str, int] = dict((await s.execute(select(Delivery.kind, func.count()).where(
            Delivery.webinar_id == webinar.id, Delivery.kind.in_(("invitation", "waitlisted")))
            .group_by(Delivery.kind))).all())
        orphans = await s.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.registration_id.not_in(select(Registration.id))))
    assert kinds == {"invitation": capacity, "waitlisted": attempts - capacity}
    assert orphans == 0


@pytest.mark.parametrize("capacity", [1, 3])
async def test_concurrent_cancellations_promote_each_waiting_member_once_in_order(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime, capacity: int,
) -> None:
    """N seats freed at once go to the first N in line, each to one member, never two seats
    to one member nor one seat to two."""
    webinar = await open_webinar(session, queue, clock, capacity=capacity)
    token = csrf_from((await client.get(f"/w/{webinar.public_id}")).text)
    for i in range(3 * capacity):  # one by one: the line's order is the order of registering
        clock.advance(timedelta(seconds=1))
        await client.post(f"/w/{webinar.public_id}/register", data={
            "csrf_token": token, "name": f"Участник {i}", "email": f"member{i}@school.example"})
    seated = [r for r in await registrations_of(runtime, webinar.id) if r.status == "confirmed"]
    token = csrf_from((await client.get(f"/r/{seated[0].token}")).text)  # the personal page's

    responses = await asyncio.gather(*[
        client.post(f"/r/{r.token}/cancel", data={"csrf_token": token}) for r in seated])

    assert {r.status_code for r in responses} == {303}
    by_email = {r.email: r.status for r in await registrations_of(runtime, webinar.id)}
    line = [f"member{i}@school.example" for i in range(capacity, 3 * capacity)]
    assert [by_email[e] for e in line] == (["confirmed"] * capacity
                                          + ["waitlisted"] * capacity)
    assert (await fresh_webinar(runtime, webinar.id)).registered_count == capacity
    await queue.drain()
    async with runtime.sessionmaker() as s:
        promoted = await s.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.webinar_id == webinar.id, Delivery.kind == "promoted"))
    assert promoted == capacity
