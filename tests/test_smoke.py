from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import FixedClock
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.runtime import Runtime
from webinars.scheduling import get_webinar

from .factories import make_account, make_org, make_webinar


async def test_meeting_is_created_by_a_job_after_commit(
    runtime: Runtime, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    org = await make_org(session, clock)
    account = await make_account(session, clock, org)
    webinar = await make_webinar(session, clock, account, org)
    assert webinar.meeting is not None and webinar.meeting.status == "pending"
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    async with runtime.sessionmaker() as fresh_session:
        fresh = await get_webinar(fresh_session, webinar.id)
        assert fresh.meeting is not None and fresh.meeting.status == "ready"
        assert fresh.meeting.join_url is not None
        assert fresh.meeting.join_url.startswith("https://meet.jit.si/Webinar")


async def test_every_response_forbids_framing_and_sniffing(
    client: httpx.AsyncClient,
) -> None:
    login_page = await client.get("/login")
    assert login_page.headers["x-frame-options"] == "DENY"
    assert login_page.headers["x-content-type-options"] == "nosniff"
    assert login_page.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    api = await client.get("/api/v1/openapi.json")
    assert api.headers["x-content-type-options"] == "nosniff"
