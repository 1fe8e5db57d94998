"""The personal join address: a wait page until the meeting is ready, then a counted redirect."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import FixedClock
from webinars.models import Account, JoinClick
from webinars.queue import InProcessQueue, commit_and_enqueue, meeting_job
from webinars.runtime import Runtime
from webinars.scheduling import cancel_webinar, get_webinar

from .factories import csrf_from
from .test_public_pages import START, open_webinar, registrations_of, visible_text
from .test_registration import registered


async def join_path(client: httpx.AsyncClient, personal_path: str) -> str:
    """The join address as the personal page shows it (its token differs from the page's)."""
    page = await client.get(personal_path)
    found = re.search(r'id="join-address" href="http://testserver(/j/[^"]+)"', page.text)
    assert found, "the personal page shows no join address"
    return found.group(1)


async def clicks(runtime: Runtime) -> int:
    async with runtime.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(JoinClick)) or 0)


async def join_url_of(runtime: Runtime, webinar_id: int) -> str | None:
    async with runtime.sessionmaker() as s:
        webinar = await get_webinar(s, webinar_id)
        return webinar.meeting.join_url if webinar.meeting else None


async def test_before_the_meeting_is_ready_the_address_says_when_it_will_open(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock, meeting=False)
    path = await registered(client, webinar.public_id)
    join = await join_path(client, path)

    response = await client.get(join)

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    text = visible_text(response.text)
    assert "Ссылка на встречу ещё готовится." in text
    # 12:00 UTC in the event's zone, with the registrant's (Yekaterinburg) next to it.
    assert "8 декабря 2026 г., 15:00 МСК (17:00 ЕКБ)" in text
    assert await clicks(runtime) == 0

    # The job creates the meeting; the same address now leads into it and counts the click.
    await queue.enqueue(meeting_job(webinar.id, "test"))
    await queue.drain()
    target = await join_url_of(runtime, webinar.id)
    assert target is not None and target.startswith("https://meet.jit.si/Webinar")

    ready = await client.get(join)

    assert ready.status_code in (302, 303)
    assert ready.headers["location"] == target
    assert ready.headers["cache-control"] == "no-store"
    assert await clicks(runtime) == 1
    [registration] = await registrations_of(runtime, webinar.id)
    async with runtime.sessionmaker() as s:
        click = await s.scalar(select(JoinClick))
        assert click is not None
        assert (click.registration_id, click.at) == (registration.id, clock.now())


async def test_every_follow_is_counted(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    join = await join_path(client, await registered(client, webinar.public_id))
    for minutes in (0, 2, 30):
        clock.set(START + timedelta(minutes=minutes))
        assert (await client.get(join)).status_code in (302, 303)
    assert await clicks(runtime) == 3


async def test_after_cancelling_the_registration_the_address_does_not_open_the_meeting(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    path = await registered(client, webinar.public_id)
    join = await join_path(client, path)
    token = csrf_from((await client.get(path)).text)
    assert (await client.post(f"{path}/cancel", data={"csrf_token": token})).status_code == 303

    response = await client.get(join)

    assert response.status_code == 200
    assert "Ваша регистрация отменена." in response.text
    target = await join_url_of(runtime, webinar.id)
    assert target is not None and target not in response.text
    assert await clicks(runtime) == 0


async def test_after_the_webinar_is_cancelled_the_address_says_so(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    path = await registered(client, webinar.public_id)
    join = await join_path(client, path)
    async with runtime.sessionmaker() as s:
        account = await s.scalar(select(Account))
        assert account is not None
        await cancel_webinar(s, clock, account, webinar.id)
        await commit_and_enqueue(s, queue, clock)

    response = await client.get(join)

    assert response.status_code == 200
    assert "Мероприятие отменено." in response.text
    assert "meet.jit.si" not in response.text
    assert await clicks(runtime) == 0
    personal = (await client.get(path)).text
    assert "Мероприятие отменено." in personal and "/j/" not in personal


async def test_unknown_join_address_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/j/unknown-token")).status_code == 404
    assert (await client.get("/j/" + "z" * 80)).status_code == 404
