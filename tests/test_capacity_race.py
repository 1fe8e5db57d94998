"""Capacity holds exactly under concurrent registrations, on SQLite and on PostgreSQL.

The requests go through the whole ASGI app at once (asyncio.gather), each with its own
database session, so the seat is decided by the conditional UPDATE in the database and not
by any check in Python.
"""

from __future__ import annotations

import asyncio

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

    codes = [r.status_code for r in responses]
    assert sorted(codes) == [303] * capacity + [409] * (attempts - capacity), codes
    for response in responses:
        if response.status_code == 409:
            assert "Все места заняты." in response.text
            assert 'name="email"' not in response.text
    rows = await registrations_of(runtime, webinar.id)
    assert [r.status for r in rows] == ["confirmed"] * capacity
    assert {f"/r/{r.token}" for r in rows} == {
        r.headers["location"] for r in responses if r.status_code == 303}
    assert (await fresh_webinar(runtime, webinar.id)).registered_count == capacity
    await queue.drain()
    async with runtime.sessionmaker() as s:
        invitations = await s.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.webinar_id == webinar.id, Delivery.kind == "invitation"))
        orphans = await s.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.registration_id.not_in(select(Registration.id))))
    assert invitations == capacity
    assert orphans == 0
