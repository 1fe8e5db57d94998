"""Registering through the public form, the personal page and cancelling, on both databases."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.app import create_app
from webinars.clock import FixedClock
from webinars.models import Delivery, Organization, Registration, Webinar
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime

from .factories import csrf_from, make_org
from .test_public_pages import (
    SENT,
    START,
    fresh_webinar,
    open_webinar,
    personal_path,
    post_registration,
    registrations_of,
    visible_text,
)


async def deliveries_of(runtime: Runtime, registration_id: int) -> list[Delivery]:
    """The person's messages, once what their registration set off has run."""
    assert isinstance(runtime.queue, InProcessQueue)
    await runtime.queue.drain()
    async with runtime.sessionmaker() as s:
        return list((await s.scalars(select(Delivery).where(
            Delivery.registration_id == registration_id).order_by(Delivery.id))).all())


async def test_registering_writes_the_registration_and_its_mail_and_opens_the_personal_page(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock)

    response = await post_registration(client, webinar, name="  Мария Иванова ",
                                       email="Maria@School.example", locale="en",
                                       timezone="Asia/Yekaterinburg")

    # The page says the link went to the address; the link itself is only in the mail.
    assert response.status_code == 200 and SENT in response.text
    [registration] = await registrations_of(runtime, webinar.id)
    assert registration.token not in response.text
    assert (registration.name, registration.email, registration.email_normalized) == (
        "Мария Иванова", "Maria@School.example", "maria@school.example")
    assert (registration.locale, registration.timezone, registration.status) == (
        "en", "Asia/Yekaterinburg", "confirmed")
    assert registration.organization_id == webinar.organization_id
    assert (await fresh_webinar(runtime, webinar.id)).registered_count == 1
    rows = await deliveries_of(runtime, registration.id)
    assert sorted((d.kind, d.offset_minutes) for d in rows) == [
        ("invitation", None), ("reminder", 15), ("reminder", 24 * 60)]
    assert {d.due_at for d in rows if d.kind == "reminder"} == {
        START - timedelta(days=1), START - timedelta(minutes=15)}

    page = await client.get(f"/r/{registration.token}")
    assert page.status_code == 200
    assert "Вы зарегистрированы" in page.text and "Мария Иванова" in page.text


async def test_defaults_are_the_readers_language_and_the_webinars_zone(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock, timezone="Asia/Irkutsk")
    response = await post_registration(client, webinar, locale=None, timezone=None)
    assert response.status_code == 200
    [registration] = await registrations_of(runtime, webinar.id)
    assert (registration.locale, registration.timezone) == ("ru", "Asia/Irkutsk")


BAD_VALUES = [
    ("name", None, "обязательное поле"),
    ("name", "   ", "обязательное поле"),
    ("name", "Я" * 201, "не длиннее 200 символов"),
    ("name", "Мария\x00", "содержит недопустимый символ NUL"),
    ("email", None, "обязательное поле"),
    ("email", "maria-at-school.example", "это не адрес электронной почты"),
    ("email", "maria@school", "это не адрес электронной почты"),
    ("email", "ma..ria@school.example", "это не адрес электронной почты"),
    ("email", "maria@[192.0.2.1]", "это не адрес электронной почты"),
    ("email", "a" * 250 + "@school.example", "не длиннее 254 символов"),
    ("locale", "de", "допустимые значения: ru, en"),
    ("timezone", "Mars/Olympus", "неизвестный часовой пояс"),
    ("timezone", "../../etc/passwd", "неизвестный часовой пояс"),
    ("timezone", "Europe/Moscow" * 10, "неизвестный часовой пояс"),
]


@pytest.mark.parametrize(("field", "value", "reason"), BAD_VALUES,
                         ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BAD_VALUES)])
async def test_bad_values_are_shown_by_field_and_nothing_is_written(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime, field: str, value: str | None, reason: str,
) -> None:
    webinar = await open_webinar(session, queue, clock)

    response = await post_registration(client, webinar, **{field: value})

    assert response.status_code == 422
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]+)</p>', response.text)
    assert error is not None and reason in error.group(1)
    assert "Исправьте ошибки ниже." in response.text
    assert len(re.findall(r'class="field-error"', response.text)) == 1
    assert await registrations_of(runtime, webinar.id) == []
    assert (await fresh_webinar(runtime, webinar.id)).registered_count == 0


async def test_the_form_keeps_what_was_typed_after_an_error(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    webinar = await open_webinar(session, queue, clock)
    response = await post_registration(client, webinar, name='Мария "<b>"', email="bad",
                                       timezone="Asia/Omsk", locale="en")
    assert response.status_code == 422
    assert 'value="Мария &#34;&lt;b&gt;&#34;"' in response.text
    assert '<option value="Asia/Omsk" selected>' in response.text
    assert '<option value="en" selected lang="en">' in response.text
    assert 'data-chosen="1"' in response.text  # the script must not override the choice


async def test_errors_in_english(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    webinar = await open_webinar(session, queue, clock)
    await client.get("/calendar?lang=en")
    response = await post_registration(client, webinar, email="nope")
    assert response.status_code == 422
    assert "is not an e-mail address" in response.text


async def test_unknown_fields_are_ignored(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    response = await post_registration(client, webinar, status="cancelled", capacity="1000",
                                       token="chosen")
    assert response.status_code == 200
    [registration] = await registrations_of(runtime, webinar.id)
    assert registration.organization_id == webinar.organization_id
    assert registration.status == "confirmed" and registration.token != "chosen"


async def test_a_member_names_their_own_organization_below_the_webinars(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    async with runtime.sessionmaker() as s:
        federation = await s.get(Organization, webinar.organization_id)
        region = await make_org(s, clock, "region", parent=federation, name="Приморье",
                                level="regional")
        school = await make_org(s, clock, "school", parent=region, name="Гимназия № 2",
                                level="primary")
        elsewhere = await make_org(s, clock, "elsewhere", name="Другой профсоюз")
        await s.commit()
    page = await client.get(f"/w/{webinar.public_id}")
    assert "Гимназия № 2" in page.text and "Другой профсоюз" not in page.text

    outside = await post_registration(client, webinar, organization_id=str(elsewhere.id))
    assert outside.status_code == 422
    assert "organization_id" in outside.text or "нет в списке" in outside.text
    assert await registrations_of(runtime, webinar.id) == []

    response = await post_registration(client, webinar, organization_id=str(school.id))
    assert response.status_code == 200
    [registration] = await registrations_of(runtime, webinar.id)
    assert registration.organization_id == school.id


async def test_a_file_instead_of_a_field_is_rejected(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    page = await client.get(f"/w/{webinar.public_id}")
    response = await client.post(
        f"/w/{webinar.public_id}/register",
        data={"csrf_token": csrf_from(page.text), "email": "maria@school.example"},
        files={"name": ("name.txt", b"\xd0\x9c", "text/plain")})
    assert response.status_code == 415  # our forms post application/x-www-form-urlencoded
    assert await registrations_of(runtime, webinar.id) == []


async def test_a_registration_sent_from_another_site_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    """The public form carries no token (its page is the same for every visitor): a browser
    says where a request comes from, and a page elsewhere cannot register its visitors."""
    webinar = await open_webinar(session, queue, clock)
    form = {"name": "Мария Иванова", "email": "maria@school.example"}
    for headers in ({"origin": "https://evil.example"},
                    {"sec-fetch-site": "cross-site", "origin": "https://evil.example"},
                    {"sec-fetch-site": "same-site"}):
        response = await client.post(f"/w/{webinar.public_id}/register", data=form,
                                     headers=headers)
        assert response.status_code == 403, headers
    assert await registrations_of(runtime, webinar.id) == []
    for headers in ({"origin": "http://testserver"}, {"sec-fetch-site": "same-origin"}):
        response = await client.post(f"/w/{webinar.public_id}/register", data=form,
                                     headers=headers)
        assert response.status_code == 200, headers
    assert len(await registrations_of(runtime, webinar.id)) == 1


async def test_register_for_an_unknown_webinar_is_404(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    webinar = await open_webinar(session, queue, clock)
    token = csrf_from((await client.get(f"/w/{webinar.public_id}")).text)
    response = await client.post("/w/" + "a" * 32 + "/register", data={
        "csrf_token": token, "name": "Мария", "email": "maria@school.example"})
    assert response.status_code == 404


async def test_registering_again_answers_as_a_new_registration_and_mails_the_link(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    """Nobody learns from the page whether an address was registered: the answer is the one
    a new registration gets, and the personal link goes to the address (once per interval)."""
    webinar = await open_webinar(session, queue, clock)
    first = await post_registration(client, webinar, email="maria@school.example")
    stranger = await post_registration(client, webinar, email="petr@school.example")

    again = await post_registration(client, webinar, email="  MARIA@School.Example ")
    twice = await post_registration(client, webinar, email="maria@school.example")

    answers = {(r.status_code, visible_text(r.text).replace(r.headers.get("set-cookie", ""), ""))
               for r in (first, stranger, again, twice)}
    assert len(answers) == 1 and SENT in first.text
    maria, _ = await registrations_of(runtime, webinar.id)
    assert (await fresh_webinar(runtime, webinar.id)).registered_count == 2
    links = [d for d in await deliveries_of(runtime, maria.id) if d.kind == "link"]
    assert len(links) == 1  # the second ask within the interval sends nothing more
    clock.advance(timedelta(minutes=16))
    await post_registration(client, webinar, email="maria@school.example")
    assert len([d for d in await deliveries_of(runtime, maria.id) if d.kind == "link"]) == 2


async def test_concurrent_duplicates_give_one_registration_and_the_same_answer(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock, capacity=10)
    page = await client.get(f"/w/{webinar.public_id}")
    token = csrf_from(page.text)
    spellings = ["maria@school.example", "Maria@school.example", "MARIA@SCHOOL.EXAMPLE",
                 "maria@School.example", "maria@SCHOOL.example", "mAria@school.example"]

    responses = await asyncio.gather(*[
        client.post(f"/w/{webinar.public_id}/register",
                    data={"csrf_token": token, "name": "Мария", "email": address})
        for address in spellings])

    assert [r.status_code for r in responses] == [200] * len(spellings)
    assert all(SENT in r.text for r in responses)
    assert len(await registrations_of(runtime, webinar.id)) == 1
    assert (await fresh_webinar(runtime, webinar.id)).registered_count == 1


@pytest.mark.parametrize("situation", ["closed", "cancelled", "started", "past"])
async def test_no_registration_when_closed_cancelled_or_over(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime, situation: str,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    page = await client.get(f"/w/{webinar.public_id}")  # the form is open when the page is read
    token = csrf_from(page.text)
    if situation in ("closed", "cancelled"):
        change = ({"registration_open": False} if situation == "closed"
                  else {"status": "cancelled"})
        async with runtime.sessionmaker() as s:
            await s.execute(update(Webinar).where(Webinar.id == webinar.id).values(**change))
            await s.commit()
    elif situation == "started":
        clock.set(START + timedelta(minutes=5))
    elif situation == "past":
        clock.set(START + timedelta(days=1))

    response = await client.post(f"/w/{webinar.public_id}/register", data={
        "csrf_token": token, "name": "Пётр", "email": "petr@school.example"})

    assert response.status_code == 409
    expected = {"closed": "Регистрация закрыта.",
                "cancelled": "Мероприятие отменено.",
                "started": "Мероприятие уже началось, регистрация закрыта.",
                "past": "Мероприятие уже прошло."}[situation]
    assert expected in response.text
    assert 'name="email"' not in response.text
    emails = [r.email for r in await registrations_of(runtime, webinar.id)]
    assert "petr@school.example" not in emails
    assert (await fresh_webinar(runtime, webinar.id)).registered_count == len(emails)


# --- the personal page -----------------------------------------------------------------------


async def registered(client: httpx.AsyncClient, webinar_public_id: str) -> str:
    """The personal page's path after a registration through the form."""
    page = await client.get(f"/w/{webinar_public_id}")
    response = await client.post(f"/w/{webinar_public_id}/register", data={
        "csrf_token": csrf_from(page.text), "name": "Мария Иванова",
        "email": "maria@school.example", "timezone": "Asia/Yekaterinburg"})
    assert response.status_code == 200
    return await personal_path(client, webinar_public_id)


async def test_personal_page_has_the_details_links_and_forms(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock, title="Медиашкола профактива")
    path = await registered(client, webinar.public_id)
    token = path.removeprefix("/r/")

    response = await client.get(path)

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    html = response.text
    text = visible_text(html)
    assert "Медиашкола профактива" in html
    # 12:00 UTC in the event's zone (Moscow) with the registrant's (Yekaterinburg) next to it.
    when = re.search(r'id="registrant-time">([^<]+)<', html)
    assert when is not None and when.group(1) == "8 декабря 2026 г., 15:00 МСК (17:00 ЕКБ)"
    assert "Время организатора" not in text
    [registration] = await registrations_of(runtime, webinar.id)
    assert registration.token == token and registration.join_token != token
    join = f"http://testserver/j/{registration.join_token}"
    assert f'<a id="join-address" href="{join}">{join}</a>' in html
    assert f'href="/r/{token}.ics"' in html
    google = re.search(r'href="(https://calendar\.google\.com/[^"]+)"', html)
    assert google is not None
    query = parse_qs(urlsplit(google.group(1).replace("&amp;", "&")).query)
    assert query["text"] == ["Медиашкола профактива"]
    assert query["dates"] == ["20261208T120000Z/20261208T133000Z"]
    assert query["location"] == [join]
    outlook = re.findall(r'href="(https://outlook\.(?:live|office)\.com/[^"]+)"', html)
    assert len(outlook) == 2
    assert all(parse_qs(urlsplit(u.replace("&amp;", "&")).query)["location"] == [join]
               for u in outlook)
    assert f'action="/r/{token}/feed"' in html
    assert f'action="/r/{token}/cancel"' in html
    async with runtime.sessionmaker() as s:
        fresh = await s.get(type(webinar), webinar.id)
        assert fresh is not None and fresh.meeting is not None and fresh.meeting.join_url
        assert fresh.meeting.join_url not in html


async def test_personal_page_of_an_unknown_token_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/r/no-such-token")).status_code == 404
    assert (await client.get("/r/" + "x" * 65)).status_code == 404


async def test_personal_feed_is_shown_after_subscribing(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    webinar = await open_webinar(session, queue, clock)
    path = await registered(client, webinar.public_id)
    page = await client.get(path)

    made = await client.post(f"{path}/feed", data={"csrf_token": csrf_from(page.text)})

    # The address is in this answer only: the database keeps its hash.
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    html = made.text
    feed = re.search(r'id="feed-url" href="(http://testserver/feeds/[A-Za-z0-9_-]+\.ics)"', html)
    assert feed is not None
    assert f'href="{feed.group(1).replace("http://", "webcal://")}"' in html
    ics = await client.get(feed.group(1))
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    again = (await client.get(path)).text
    assert feed.group(1) not in again and "testserver/feeds/" not in again
    assert again.count("/end\"") == 1  # the feed is listed, with a button that ends it


async def test_cancelling_releases_the_seat_and_writes_a_cancellation(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock, capacity=1)
    path = await registered(client, webinar.public_id)
    assert "Все места заняты." in (await client.get(f"/w/{webinar.public_id}")).text
    page = await client.get(path)

    response = await client.post(f"{path}/cancel", data={"csrf_token": csrf_from(page.text)})

    assert response.status_code == 303 and response.headers["location"] == path
    after = (await client.get(path)).text
    assert "Ваша регистрация отменена." in after
    assert "/j/" not in after and "/cancel" not in after
    [registration] = await registrations_of(runtime, webinar.id)
    assert registration.status == "cancelled" and registration.cancelled_at == clock.now()
    assert (await fresh_webinar(runtime, webinar.id)).registered_count == 0
    await queue.drain()
    rows = await deliveries_of(runtime, registration.id)
    assert [d.status for d in rows if d.kind == "cancellation"] == ["sent"]
    assert {d.status for d in rows if d.kind == "reminder"} == {"superseded"}
    # The seat is free again: someone else can register.
    assert (await post_registration(client, webinar, email="petr@school.example")
            ).status_code == 200


async def test_cancelling_twice_releases_one_seat_and_sends_one_cancellation(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock, capacity=5)
    assert (await post_registration(client, webinar, email="other@school.example")
            ).status_code == 200
    path = await registered(client, webinar.public_id)
    token = csrf_from((await client.get(path)).text)

    responses = await asyncio.gather(*[
        client.post(f"{path}/cancel", data={"csrf_token": token}) for _ in range(3)])

    assert [r.status_code for r in responses] == [303, 303, 303]
    assert (await fresh_webinar(runtime, webinar.id)).registered_count == 1
    mine = [r for r in await registrations_of(runtime, webinar.id)
            if r.email == "maria@school.example"]
    rows = await deliveries_of(runtime, mine[0].id)
    assert [d.kind for d in rows].count("cancellation") == 1


async def test_cancel_needs_the_csrf_token_and_a_known_registration(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    path = await registered(client, webinar.public_id)
    token = csrf_from((await client.get(path)).text)
    assert (await client.post(f"{path}/cancel", data={"csrf_token": "forged"})
            ).status_code == 403
    assert (await client.post("/r/unknown/cancel", data={"csrf_token": token})
            ).status_code == 404
    [registration] = await registrations_of(runtime, webinar.id)
    assert registration.status == "confirmed"


async def test_no_cancelling_after_the_webinar(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    path = await registered(client, webinar.public_id)
    token = csrf_from((await client.get(path)).text)
    clock.set(START + timedelta(hours=3))

    assert "/cancel" not in (await client.get(path)).text
    response = await client.post(f"{path}/cancel", data={"csrf_token": token})

    assert response.status_code == 409
    assert "Эту регистрацию уже нельзя отменить." in response.text
    [registration] = await registrations_of(runtime, webinar.id)
    assert registration.status == "confirmed"
    assert (await fresh_webinar(runtime, webinar.id)).registered_count == 1


async def test_registration_rows_are_what_the_page_shows(
    runtime: Runtime, client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue,
) -> None:
    """Re-registering after cancelling gives a new personal address; the old one says so."""
    webinar = await open_webinar(session, queue, clock)
    old_path = await registered(client, webinar.public_id)
    token = csrf_from((await client.get(old_path)).text)
    await client.post(f"{old_path}/cancel", data={"csrf_token": token})

    new_path = await registered(client, webinar.public_id)

    assert new_path != old_path
    assert (await client.get(old_path)).status_code == 404
    assert "Вы зарегистрированы" in (await client.get(new_path)).text
    rows = await registrations_of(runtime, webinar.id)
    assert [r.status for r in rows] == ["confirmed"]
    assert isinstance(rows[0], Registration)


async def test_personal_page_speaks_the_language_chosen_at_registration(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    await post_registration(client, webinar, locale="en", email="john@school.example")
    [registration] = await registrations_of(runtime, webinar.id)
    # a fresh browser (the link opened from the e-mail) with no language of its own
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as new:
        page = await new.get(f"/r/{registration.token}")
        assert page.status_code == 200
        assert "Cancel my registration" in page.text
        russian = await new.get(f"/r/{registration.token}?lang=ru")
        assert "Отменить мою регистрацию" in russian.text
