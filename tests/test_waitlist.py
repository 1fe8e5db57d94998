"""Registration modes and the waitlist as members and organizers meet them: through the pages,
the worker and the mailbox (the embedded outbox), on both databases. Every invitation is
checked by the independent iCal parsers (`smtp.check_message`)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import FixedClock
from webinars.models import Organization, Registration
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime

from .factories import csrf_from, login
from .test_member_mail import mailbox
from .test_organizer_pages import form_data
from .test_public_pages import (
    SENT,
    START,
    fresh_webinar,
    open_webinar,
    personal_path,
    post_registration,
)


async def status_of(runtime: Runtime, email: str) -> str:
    async with runtime.sessionmaker() as s:
        status = await s.scalar(select(Registration.status).where(
            Registration.email_normalized == email))
    assert status is not None
    return status


async def test_a_full_webinar_waitlists_and_a_cancellation_promotes_with_an_invitation(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock, capacity=1)
    await post_registration(client, webinar, email="first@school.example")
    clock.advance(timedelta(seconds=1))
    second = await post_registration(client, webinar, email="second@school.example")
    clock.advance(timedelta(seconds=1))
    await post_registration(client, webinar, email="third@school.example")
    await queue.drain()

    # The same answer as for a seat; the mail tells them they wait, with no calendar part.
    assert second.status_code == 200 and SENT in second.text
    [waiting] = await mailbox(runtime, "second@school.example")
    assert waiting.calendar is None and waiting.method is None
    assert "лист ожидания" in waiting.subject.lower() or "Лист ожидания" in waiting.subject
    assert "вы в листе ожидания" in waiting.text
    page = await client.get(await personal_path(client, webinar, "third@school.example"))
    assert "Вы в листе ожидания" in page.text and "Ваше место в очереди: 2." in page.text
    assert ".ics" not in page.text  # no calendar file for an event they have no seat for
    third_path = await personal_path(client, webinar, "third@school.example")
    assert (await client.get(f"{third_path}.ics")).status_code == 404

    # The seat frees up three hours before the start: the first in line gets it at once.
    clock.set(START - timedelta(hours=3))
    first_path = await personal_path(client, webinar, "first@school.example")
    token = csrf_from((await client.get(first_path)).text)
    assert (await client.post(f"{first_path}/cancel", data={"csrf_token": token})
            ).status_code == 303
    await queue.drain()

    assert await status_of(runtime, "second@school.example") == "confirmed"
    assert await status_of(runtime, "third@school.example") == "waitlisted"
    assert (await fresh_webinar(runtime, webinar.id)).registered_count == 1
    _, invitation = await mailbox(runtime, "second@school.example")  # checked by ical.js, libical
    assert invitation.method == "REQUEST" and invitation.calendar is not None
    assert invitation.subject.startswith("Для вас есть место")
    assert "освободилось место" in invitation.text
    assert "Начало уже скоро: " in invitation.text and "Начало уже скоро: " in invitation.html
    page = await client.get(await personal_path(client, webinar, "second@school.example"))
    assert "Вы зарегистрированы" in page.text
    third = await client.get(await personal_path(client, webinar, "third@school.example"))
    assert "Ваше место в очереди: 1." in third.text


async def test_a_member_leaves_the_waitlist_from_their_page_and_gets_no_cancel(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock, capacity=1)
    await post_registration(client, webinar, email="first@school.example")
    await post_registration(client, webinar, email="second@school.example")
    await queue.drain()
    path = await personal_path(client, webinar, "second@school.example")
    page = await client.get(path)
    assert "Выйти из листа ожидания" in page.text

    await client.post(f"{path}/cancel", data={"csrf_token": csrf_from(page.text)})
    await queue.drain()

    assert await status_of(runtime, "second@school.example") == "cancelled"
    assert [m.method for m in await mailbox(runtime, "second@school.example")] == [None]
    assert (await fresh_webinar(runtime, webinar.id)).registered_count == 1


async def test_approval_the_organizer_confirms_or_declines_and_the_member_is_told(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock, registration_mode="approval")
    page = (await client.get(f"/w/{webinar.public_id}")).text
    assert "Организатор подтверждает каждую регистрацию" in page
    for email in ("anna@school.example", "boris@school.example", "vera@school.example"):
        assert SENT in (await post_registration(client, webinar, email=email)).text
    await queue.drain()
    [received] = await mailbox(runtime, "anna@school.example")
    assert received.calendar is None and "Заявка получена" in received.subject
    assert (await fresh_webinar(runtime, webinar.id)).registered_count == 0  # no seat held

    await login(client)
    registrants = await client.get(f"/webinars/{webinar.id}/registrants")
    assert 'id="pending-count">3<' in registrants.text
    token = csrf_from(registrants.text)
    async with runtime.sessionmaker() as s:
        ids = dict((await s.execute(select(Registration.email, Registration.id))).all())
    confirm = await client.post(
        f"/webinars/{webinar.id}/registrants/{ids['anna@school.example']}/confirm",
        data={"csrf_token": token})
    decline = await client.post(
        f"/webinars/{webinar.id}/registrants/{ids['boris@school.example']}/decline",
        data={"csrf_token": token})
    assert confirm.status_code == decline.status_code == 303
    await client.post(f"/webinars/{webinar.id}/registrants/confirm", data={"csrf_token": token})
    await queue.drain()

    assert [await status_of(runtime, e) for e in (
        "anna@school.example", "boris@school.example", "vera@school.example")] == [
        "confirmed", "declined", "confirmed"]
    assert (await fresh_webinar(runtime, webinar.id)).registered_count == 2
    _, invitation = await mailbox(runtime, "anna@school.example")
    assert invitation.method == "REQUEST" and invitation.subject.startswith("Приглашение")
    _, declined = await mailbox(runtime, "boris@school.example")
    assert declined.calendar is None and "отклонил" in declined.text
    _, all_confirmed = await mailbox(runtime, "vera@school.example")
    assert all_confirmed.method == "REQUEST"


async def test_registering_again_mails_the_personal_link_to_that_address(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    await post_registration(client, webinar, email="maria@school.example")
    await queue.drain()  # the invitation is out
    again = await post_registration(client, webinar, email="Maria@School.example",
                                    name="Кто-то другой")
    await queue.drain()

    assert again.status_code == 200 and SENT in again.text
    _, link = await mailbox(runtime, "maria@school.example")
    path = await personal_path(client, webinar)
    assert link.calendar is None and link.subject.startswith("Ваша ссылка")
    assert f"http://testserver{path}/confirm/" in link.text
    assert "Кто-то другой" not in link.text + link.html  # a typed name greets nobody


async def test_after_an_edit_the_organizer_sees_how_many_members_are_told_and_they_see_what(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock, title="Школа информационной работы",
                                 capacity=2, start_at=START, timezone="Europe/Moscow")
    for email in ("a@school.example", "b@school.example", "c@school.example"):
        await post_registration(client, webinar, email=email)  # c waits: not told
    await queue.drain()
    await login(client)
    token = csrf_from((await client.get(f"/webinars/{webinar.id}/edit")).text)
    async with runtime.sessionmaker() as s:
        org = await s.get(Organization, webinar.organization_id)
    assert org is not None
    form = form_data(org, title="Школа информационной работы",
                     description=webinar.description, kind="webinar", timezone="Europe/Moscow",
                     date="2026-12-08", time="15:00", capacity="2",
                     registration_mode="open", csrf_token=token)

    await client.post(f"/webinars/{webinar.id}/edit", data={**form, "capacity": "2"})
    nothing = await client.get(f"/webinars/{webinar.id}")
    assert "ничего существенного не изменилось" in nothing.text

    await client.post(f"/webinars/{webinar.id}/edit", data={
        **form, "title": "Школа медиаграмотности", "time": "16:30"})
    saved = await client.get(f"/webinars/{webinar.id}")
    assert "Сохранено; письмо об изменениях получат 2 участника." in saved.text
    assert "Сохранено" not in (await client.get(f"/webinars/{webinar.id}")).text  # said once
    await queue.drain()

    *_, update = await mailbox(runtime, "a@school.example")
    assert update.method == "REQUEST" and update.subject.startswith("Изменение")
    lines = update.text
    assert "Название: Школа информационной работы → Школа медиаграмотности" in lines
    # The time as the member reads it, in their own zone (Asia/Yekaterinburg, +2 h).
    assert "Начало: " in lines and "17:00" in lines and "18:30" in lines
    assert [m.subject for m in await mailbox(runtime, "c@school.example")
            if m.method == "REQUEST"] == []
