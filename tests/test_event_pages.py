"""The event page and the personal page as a visitor reads them: what comes first, the one
call to action, and states that never contradict each other (a cancelled event offers no
seats, a past one its recording, the "Join" button opens shortly before the start)."""

from __future__ import annotations

import re
from datetime import timedelta
from xml.etree import ElementTree

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import FixedClock
from webinars.models import Webinar
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime

from .factories import make_webinar
from .test_public_pages import (
    make_world,
    open_webinar,
    personal_path,
    post_registration,
    publish,
    visible_text,
)


def cta(html: str) -> str | None:
    """The text of the page's call to action, None when it has none."""
    match = re.search(r'<p class="cta-bar" id="cta"><a class="button big" href="#register">'
                      r'([^<]+)</a>', html)
    return match.group(1) if match else None


async def set_fields(runtime: Runtime, webinar: Webinar, **fields: object) -> None:
    async with runtime.sessionmaker() as s:
        row = await s.get(Webinar, webinar.id)
        assert row is not None
        for name, value in fields.items():
            setattr(row, name, value)
        await s.commit()


async def test_the_page_leads_with_what_when_who_and_one_button(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
) -> None:
    webinar = await open_webinar(session, queue, clock, capacity=40,
                                 description="Длинное описание программы")
    html = (await client.get(f"/w/{webinar.public_id}")).text
    text = visible_text(html)

    assert cta(html) == "Зарегистрироваться"
    assert "Осталось 40 мест из 40" in text
    assert "Организатор: Профсоюз образования" in text
    # Title, time, organizer, seats and the button all come before the description and the form.
    order = [text.index(part) for part in (
        "Вебинар о новых медиа", "8 декабря 2026 г., 15:00 МСК", "Осталось 40 мест",
        "Зарегистрироваться", "Длинное описание программы", "Ваше имя")]
    assert order == sorted(order)
    # Sharing: the page's own address to copy, and its QR code.
    assert f'value="http://testserver/w/{webinar.public_id}" readonly' in html
    assert f'src="/w/{webinar.public_id}/qr.svg"' in html


async def test_the_qr_code_is_an_svg_of_the_page_address(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    response = await client.get(f"/w/{webinar.public_id}/qr.svg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    root = ElementTree.fromstring(response.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    title = root.find("{http://www.w3.org/2000/svg}title")
    assert title is not None and title.text == f"http://testserver/w/{webinar.public_id}"
    assert (await client.get("/w/" + "0" * 32 + "/qr.svg")).status_code == 404


async def test_the_button_says_what_registering_gives(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
) -> None:
    org, account = await make_world(session, clock)
    approval = await make_webinar(session, clock, account, org, title="С одобрением",
                                  registration_mode="approval")
    full = await make_webinar(session, clock, account, org, title="Полный", capacity=1)
    await publish(session, queue, clock)
    assert (await post_registration(client, full)).status_code == 200

    assert cta((await client.get(f"/w/{approval.public_id}")).text) == "Подать заявку"
    full_page = (await client.get(f"/w/{full.public_id}")).text
    assert cta(full_page) == "Встать в лист ожидания"
    assert "Мест нет: открыт лист ожидания" in full_page
    assert "Осталось" not in visible_text(full_page)


async def test_a_cancelled_event_offers_nothing_it_cannot_keep(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock, capacity=40)
    assert (await post_registration(client, webinar)).status_code == 200
    personal = await personal_path(client, webinar)
    assert "Вы зарегистрированы" in (await client.get(personal)).text
    await set_fields(runtime, webinar, status="cancelled")

    page = (await client.get(f"/w/{webinar.public_id}")).text
    assert "Мероприятие отменено." in page
    assert cta(page) is None and "/register" not in page
    assert "Осталось" not in visible_text(page) and 'id="seats' not in page
    assert 'id="share"' not in page and "calendar.google.com" not in page

    mine = (await client.get(personal)).text
    assert '<h1 id="webinar-cancelled">Мероприятие отменено.</h1>' in mine
    assert "Вы зарегистрированы" not in mine
    assert 'id="join-button"' not in mine and "Добавить в Google" not in mine


async def test_a_past_event_shows_its_recording_on_both_pages(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    assert (await post_registration(client, webinar)).status_code == 200
    personal = await personal_path(client, webinar)
    page = (await client.get(f"/w/{webinar.public_id}")).text
    assert 'id="recording"' not in page  # nothing to watch before it happened

    clock.advance(webinar.start_at - clock.now() + timedelta(days=1))
    page = (await client.get(f"/w/{webinar.public_id}")).text
    assert "Мероприятие уже прошло." in page and cta(page) is None
    assert 'id="recording"' not in page  # no recording yet: no button to nowhere

    await set_fields(runtime, webinar, recording_url="https://video.example/rec/42")
    page = (await client.get(f"/w/{webinar.public_id}")).text
    assert re.search(r'id="recording" href="https://video\.example/rec/42"[^>]*>Смотреть запись<',
                     page)
    mine = (await client.get(personal)).text
    assert '<h1 id="status-ended">Мероприятие уже прошло.</h1>' in mine
    assert 'href="https://video.example/rec/42"' in mine
    assert 'id="join-button"' not in mine


async def test_the_join_button_opens_shortly_before_the_start(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    assert (await post_registration(client, webinar)).status_code == 200
    personal = await personal_path(client, webinar)

    early = (await client.get(personal)).text
    button = re.search(r'<button type="button" class="big" id="join-button" disabled[^>]*>', early)
    assert button is not None
    # In the member's zone (Yekaterinburg, UTC+5): 15 minutes before 17:00.
    assert ("Кнопка станет активной за 15 минут до начала, 8 декабря 2026 г., 16:45 ЕКБ."
            in visible_text(early))

    clock.advance(webinar.start_at - clock.now() - timedelta(minutes=14))
    on_time = (await client.get(personal)).text
    join = re.search(r'<a class="button big" id="join-button" href="([^"]+)">Подключиться</a>',
                     on_time)
    assert join is not None and "/j/" in join.group(1)
    assert "станет активной" not in on_time
