"""Organizer pages through real HTTP requests: login, dashboard, the webinar form, cancelling,
registrants and API tokens. Every test runs on SQLite and PostgreSQL (the `client` fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import FixedClock
from webinars.models import (
    Account,
    ApiToken,
    Delivery,
    JoinClick,
    Meeting,
    Organization,
    Registration,
    Webinar,
)
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.registrations import cancel as cancel_registration
from webinars.runtime import Runtime
from webinars.security import hash_token

from .factories import (
    PASSWORD,
    csrf_from,
    login,
    make_account,
    make_org,
    make_registration,
    make_token,
    make_webinar,
)

START = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)  # 15:00 in Yekaterinburg, 13:00 in Moscow


@pytest.fixture(autouse=True)
async def settle(queue: InProcessQueue) -> AsyncIterator[None]:
    """Let the jobs a test's requests queued finish before the runtime closes under them."""
    yield
    await queue.drain()


async def page_csrf(client: httpx.AsyncClient, path: str = "/dashboard") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_from(page.text)


async def setup_org(runtime: Runtime, clock: FixedClock) -> tuple[Organization, Account]:
    async with runtime.sessionmaker() as session:
        org = await make_org(session, clock, "ural", name="Уральская организация",
                             timezone="Asia/Yekaterinburg", level="regional")
        account = await make_account(session, clock, org)
        await session.commit()
    return org, account


async def count(runtime: Runtime, model: Any, *where: Any) -> int:
    """Rows once what the requests set off has run."""
    assert isinstance(runtime.queue, InProcessQueue)
    await runtime.queue.drain()
    async with runtime.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where))
                   or 0)


async def load_webinar(runtime: Runtime, webinar_id: int) -> Webinar:
    async with runtime.sessionmaker() as session:
        webinar = await session.get(Webinar, webinar_id)
        assert webinar is not None
        return webinar


def form_data(org: Organization, **overrides: str) -> dict[str, str]:
    data = {
        "title": "Школа информационной работы",
        "description": "Первое занятие курса",
        "kind": "training",
        "organization_id": str(org.id),
        "date": "2027-03-01",
        "time": "15:00",
        "timezone": "",
        "duration_minutes": "90",
        "capacity": "",
        "registration_mode": "open",
        "visibility": "public",
        "platform": "jitsi",
        "static_platform": "other",
        "static_url": "",
        "reminder_offsets": "15, 1440",
        "status": "scheduled",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- logging in and out ------------------------------------------------------------------

async def test_login_sets_a_httponly_samesite_session_cookie(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await setup_org(runtime, clock)
    token = csrf_from((await client.get("/login")).text)
    response = await client.post("/login", data={
        "email": "org@union.example", "password": PASSWORD, "csrf_token": token,
        "next": "/tokens"})
    assert response.status_code == 303
    assert response.headers["location"] == "/tokens"
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("webinars_session=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert (await client.get("/dashboard")).status_code == 200


async def test_login_with_a_wrong_password_is_refused(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await setup_org(runtime, clock)
    token = csrf_from((await client.get("/login")).text)
    response = await client.post("/login", data={
        "email": "org@union.example", "password": "wrong password!", "csrf_token": token})
    assert response.status_code == 400
    assert "Неверная электронная почта или пароль." in response.text
    assert (await client.get("/dashboard")).status_code == 303


async def test_login_is_rate_limited_after_five_failures(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await setup_org(runtime, clock)
    token = csrf_from((await client.get("/login")).text)
    for _ in range(5):
        response = await client.post("/login", data={
            "email": "org@union.example", "password": "guess guess guess", "csrf_token": token})
        assert response.status_code == 400
    response = await client.post("/login", data={
        "email": "org@union.example", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 429
    assert "Слишком много попыток" in response.text
    assert (await client.get("/dashboard")).status_code == 303
    clock.advance(timedelta(minutes=16))  # the window passes: the right password works again
    await login(client)


async def test_logout_needs_the_csrf_token_and_ends_the_session(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await setup_org(runtime, clock)
    await login(client)
    token = await page_csrf(client)
    assert (await client.post("/logout", data={"csrf_token": "forged"})).status_code == 403
    assert (await client.get("/dashboard")).status_code == 200
    response = await client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    response = await client.get("/dashboard")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fdashboard"


@pytest.mark.parametrize("path", ["/dashboard", "/webinars/new", "/webinars/1",
                                  "/webinars/1/edit", "/webinars/1/registrants",
                                  "/webinars/1/cancel", "/tokens"])
async def test_pages_send_strangers_to_the_login(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2F")


# --- dashboard -------------------------------------------------------------------------

async def test_dashboard_shows_time_in_the_organizations_zone_counts_and_meeting_state(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, queue: InProcessQueue
) -> None:
    org, account = await setup_org(runtime, clock)
    async with runtime.sessionmaker() as session:
        ready = await make_webinar(session, clock, account, org, title="Готовый вебинар",
                                   start_at=START, timezone="Asia/Yekaterinburg", capacity=30)
        await make_registration(session, clock, ready)
        await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    async with runtime.sessionmaker() as session:
        failed = await make_webinar(session, clock, account, org, title="Сломанная ссылка")
        assert failed.meeting is not None
        failed.meeting.status = "failed"
        failed.meeting.error = "zoom: HTTP 401"
        pending = await make_webinar(session, clock, account, org, title="Ждёт ссылку")
        await session.commit()  # no enqueue: the link stays pending
        old = await make_webinar(session, clock, account, org, title="Прошедший вебинар",
                                 start_at=clock.now() + timedelta(hours=1))
        await session.commit()
    clock.advance(timedelta(days=2))
    await login(client)
    page = (await client.get("/dashboard")).text
    assert "Готовый вебинар" in page
    assert "1 марта 2027 г., 15:00 ЕКБ" in page  # the organizer's organization's zone
    assert "Время: Екатеринбург (ЕКБ, UTC+5)" in page
    assert "1 / 30" in page
    row = page.split(f'data-webinar="{ready.id}"')[1].split("</tr>")[0]
    assert "meeting-ready" in row and "https://meet.jit.si/Webinar" in row
    for href in (f"/webinars/{ready.id}/edit", f"/webinars/{ready.id}/registrants",
                 f"/webinars/{ready.id}/deliveries", f"/w/{ready.public_id}"):
        assert f'href="{href}"' in row
    row = page.split(f'data-webinar="{failed.id}"')[1].split("</tr>")[0]
    assert "meeting-failed" in row and "zoom: HTTP 401" in row
    row = page.split(f'data-webinar="{pending.id}"')[1].split("</tr>")[0]
    assert "Ссылка готовится" in row
    upcoming, recent = page.split("Недавние мероприятия")
    assert "Прошедший вебинар" in recent and "Прошедший вебинар" not in upcoming
    english = (await client.get("/dashboard?lang=en")).text
    assert "1 March 2027, 15:00 YEKT" in english and "Upcoming webinars" in english
    assert old.id


# --- creating, editing, cancelling --------------------------------------------------------

async def test_create_a_jitsi_webinar_through_the_form(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, queue: InProcessQueue
) -> None:
    org, _ = await setup_org(runtime, clock)
    await login(client)
    page = await client.get("/webinars/new")
    assert page.status_code == 200
    assert f'<option value="{org.id}"' in page.text
    form = form_data(org, capacity="", registration_mode="closed")
    form["csrf_token"] = csrf_from(page.text)
    response = await client.post("/webinars/new", data=form)
    assert response.status_code == 303, response.text
    webinar_id = int(response.headers["location"].rsplit("/", 1)[1])
    webinar = await load_webinar(runtime, webinar_id)
    assert webinar.title == "Школа информационной работы"
    assert webinar.kind == "training"
    # an empty zone means the organization's: 15:00 in Yekaterinburg is 10:00 UTC
    assert webinar.timezone == "Asia/Yekaterinburg"
    assert webinar.start_at == START
    assert webinar.capacity is None
    assert (webinar.registration_open, webinar.registration_mode) == (False, "closed")
    assert webinar.reminder_offsets == [1440, 15]
    assert webinar.platform == "jitsi" and webinar.status == "scheduled"
    assert webinar.sequence == 0
    await queue.drain()
    view = (await client.get(f"/webinars/{webinar_id}")).text
    assert "meeting-ready" in view and "https://meet.jit.si/Webinar" in view
    assert f"/w/{webinar.public_id}.ics" in view


async def test_create_with_a_pasted_link_and_an_explicit_zone(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, queue: InProcessQueue
) -> None:
    org, _ = await setup_org(runtime, clock)
    await login(client)
    form = form_data(org, platform="static", static_platform="zoom",
                     static_url="https://us02web.zoom.us/j/123456789", timezone="Europe/Moscow",
                     capacity="25", reminder_offsets="", status="draft", visibility="unlisted")
    form["csrf_token"] = await page_csrf(client, "/webinars/new")
    response = await client.post("/webinars/new", data=form)
    assert response.status_code == 303, response.text
    webinar = await load_webinar(runtime, int(response.headers["location"].rsplit("/", 1)[1]))
    assert webinar.start_at == datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    assert (webinar.platform, webinar.static_url) == ("static", "https://us02web.zoom.us/j/123456789")
    assert (webinar.capacity, webinar.reminder_offsets) == (25, [])
    assert (webinar.status, webinar.visibility) == ("draft", "unlisted")
    await queue.drain()
    view = (await client.get(f"/webinars/{webinar.id}")).text
    assert 'href="https://us02web.zoom.us/j/123456789"' in view


async def test_edit_form_shows_stored_values_and_a_time_change_raises_the_sequence(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, queue: InProcessQueue
) -> None:
    org, account = await setup_org(runtime, clock)
    async with runtime.sessionmaker() as session:
        webinar = await make_webinar(session, clock, account, org, start_at=START,
                                     timezone="Asia/Yekaterinburg", capacity=40)
        await make_registration(session, clock, webinar)
        await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    await login(client)
    page = await client.get(f"/webinars/{webinar.id}/edit")
    assert page.status_code == 200
    assert 'value="2027-03-01"' in page.text and 'value="15:00"' in page.text
    assert '<option value="Asia/Yekaterinburg" selected>' in page.text
    assert 'name="capacity" type="number" min="1" step="1" value="40"' in page.text
    token = csrf_from(page.text)

    # capacity only: no new SEQUENCE, no update to registrants
    form = form_data(org, title=webinar.title, description=webinar.description, kind="webinar",
                     timezone="Asia/Yekaterinburg", capacity="50", recording_url="",
                     followup_note="", csrf_token=token)
    response = await client.post(f"/webinars/{webinar.id}/edit", data=form)
    assert response.status_code == 303 and response.headers["location"] == f"/webinars/{webinar.id}"
    stored = await load_webinar(runtime, webinar.id)
    assert (stored.capacity, stored.sequence) == (50, 0)
    assert await count(runtime, Delivery, Delivery.kind == "update") == 0

    # a new time: SEQUENCE rises and every registrant gets an update
    form["time"] = "17:30"
    response = await client.post(f"/webinars/{webinar.id}/edit", data=form)
    assert response.status_code == 303
    stored = await load_webinar(runtime, webinar.id)
    assert stored.start_at == datetime(2027, 3, 1, 12, 30, tzinfo=UTC)
    assert stored.sequence == 1
    assert await count(runtime, Delivery, Delivery.kind == "update") == 1


async def test_a_started_webinar_can_get_its_recording_link(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, queue: InProcessQueue
) -> None:
    org, account = await setup_org(runtime, clock)
    async with runtime.sessionmaker() as session:
        webinar = await make_webinar(session, clock, account, org, start_at=START,
                                     timezone="Asia/Yekaterinburg")
        await make_registration(session, clock, webinar)
        await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    clock.set(START + timedelta(hours=3))  # the webinar is over
    await login(client)
    page = await client.get(f"/webinars/{webinar.id}/edit")
    form = form_data(org, title=webinar.title, description=webinar.description, kind="webinar",
                     timezone="Asia/Yekaterinburg", recording_url="https://rutube.ru/video/1",
                     followup_note="Спасибо!", csrf_token=csrf_from(page.text))
    response = await client.post(f"/webinars/{webinar.id}/edit", data=form)
    assert response.status_code == 303, response.text
    stored = await load_webinar(runtime, webinar.id)
    assert stored.recording_url == "https://rutube.ru/video/1"
    assert stored.followup_note == "Спасибо!"
    assert (stored.start_at, stored.sequence) == (START, 0)
    assert await count(runtime, Delivery, Delivery.kind == "followup") == 1


async def test_cancel_asks_first_then_cancels_and_notifies(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, queue: InProcessQueue
) -> None:
    org, account = await setup_org(runtime, clock)
    async with runtime.sessionmaker() as session:
        webinar = await make_webinar(session, clock, account, org)
        await make_registration(session, clock, webinar)
        await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    await login(client)
    view = (await client.get(f"/webinars/{webinar.id}")).text
    assert f'href="/webinars/{webinar.id}/cancel"' in view
    confirm = await client.get(f"/webinars/{webinar.id}/cancel")
    assert confirm.status_code == 200
    assert "Да, отменить мероприятие и оповестить участников" in confirm.text
    assert (await load_webinar(runtime, webinar.id)).status == "scheduled"
    response = await client.post(f"/webinars/{webinar.id}/cancel",
                                 data={"csrf_token": csrf_from(confirm.text)})
    assert response.status_code == 303
    stored = await load_webinar(runtime, webinar.id)
    assert (stored.status, stored.sequence, stored.registration_open) == ("cancelled", 1, False)
    assert await count(runtime, Delivery, Delivery.kind == "cancellation") == 1
    view = (await client.get(f"/webinars/{webinar.id}")).text
    assert "Мероприятие отменено." in view
    assert f'href="/webinars/{webinar.id}/edit"' not in view
    assert (await client.get(f"/webinars/{webinar.id}/edit")).status_code == 409
    response = await client.post(f"/webinars/{webinar.id}/edit", data=form_data(
        org, title="Воскрешённый", csrf_token=csrf_from(view)))
    assert response.status_code == 409
    assert (await load_webinar(runtime, webinar.id)).title == webinar.title


# --- bad values in the form ------------------------------------------------------------

BAD_VALUES: list[tuple[str, dict[str, str], str, str]] = [
    # (form field that shows the error, changes to the form, reason in Russian, in English)
    ("title", {"title": ""}, "обязательное поле", "is required"),
    ("title", {"title": "Я" * 201}, "не длиннее 200 символов", "must be at most 200 characters"),
    ("description", {"description": "a" * 10_001}, "не длиннее 10000 символов",
     "must be at most 10000 characters"),
    ("kind", {"kind": "party"}, "должно быть одним из", "must be one of"),
    ("organization_id", {"organization_id": ""}, "обязательное поле", "is required"),
    ("organization_id", {"organization_id": "first"}, "должно быть целым числом",
     "must be an integer"),
    ("organization_id", {"organization_id": "²"}, "должно быть целым числом",
     "must be an integer"),
    ("date", {"date": ""}, "обязательное поле", "is required"),
    ("date", {"date": "01.03.2027"}, "дата в виде", "must be a date such as"),
    ("time", {"time": ""}, "обязательное поле", "is required"),
    ("time", {"time": "3pm"}, "время в виде", "must be a time such as"),
    ("start", {"date": "2027-02-30"}, "дата и время в виде", "must be a date and time such as"),
    ("start", {"date": "2026-11-30"}, "должно быть в будущем", "must be in the future"),
    ("start", {"date": "2040-01-01"}, "не позже чем через пять лет", "must be within five years"),
    ("timezone", {"timezone": "Mars/Olympus"}, "неизвестный часовой пояс",
     "is not a known IANA time zone"),
    ("duration_minutes", {"duration_minutes": ""}, "обязательное поле", "is required"),
    ("duration_minutes", {"duration_minutes": "ninety"}, "должно быть целым числом",
     "must be an integer"),
    ("duration_minutes", {"duration_minutes": "2"}, "не меньше 5", "must be at least 5"),
    ("duration_minutes", {"duration_minutes": "100000"}, "не больше 1440",
     "must be at most 1440"),
    ("capacity", {"capacity": "-1"}, "не меньше 1", "must be at least 1"),
    ("capacity", {"capacity": "0"}, "не меньше 1", "must be at least 1"),
    ("capacity", {"capacity": "ten"}, "должно быть целым числом", "must be an integer"),
    ("registration_mode", {"registration_mode": "maybe"}, "должно быть одним из",
     "must be one of"),
    ("visibility", {"visibility": "secret"}, "должно быть одним из", "must be one of"),
    ("platform", {"platform": "skype"}, "должно быть одним из", "must be one of"),
    ("static_url", {"platform": "static", "static_url": ""}, "нужна ссылка",
     "is required when the link is pasted by hand"),
    ("static_url", {"platform": "static", "static_url": "http://zoom.us/j/1"},
     "ссылка https://", "must be an https:// link"),
    ("static_url", {"platform": "static", "static_platform": "zoom",
                    "static_url": "https://evil.example/j/1"}, "не адрес встречи Zoom",
     "is not a zoom meeting address"),
    ("static_platform", {"platform": "static", "static_platform": "icq",
                         "static_url": "https://example.org/room"}, "должно быть одним из",
     "must be one of"),
    ("reminder_offsets", {"reminder_offsets": "tomorrow"}, "целое число минут",
     "must be whole minutes before the start"),
    ("reminder_offsets", {"reminder_offsets": "0"}, "от 1 до 43200 минут",
     "each must be between 1 and 43200 minutes"),
    ("reminder_offsets", {"reminder_offsets": "1,2,3,4,5,6"}, "не больше 5 напоминаний",
     "at most 5 reminders"),
    ("status", {"status": "finished"}, "должно быть одним из", "must be one of"),
]


async def test_bad_values_re_render_the_form_with_the_reason_and_write_nothing(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    """Every case in BAD_VALUES, in both languages; one login keeps the run short."""
    org, _ = await setup_org(runtime, clock)
    await login(client)
    csrf = await page_csrf(client, "/webinars/new")
    problems: list[str] = []
    for field, changes, russian, english in BAD_VALUES:
        form = {**form_data(org, **changes), "csrf_token": csrf}
        for lang, reason in (("ru", russian), ("en", english)):
            response = await client.post(f"/webinars/new?lang={lang}", data=form)
            shown = response.text.split(f'data-field="{field}">', 1)
            if response.status_code != 422:
                problems.append(f"{changes}: status {response.status_code}")
            elif len(shown) != 2:
                problems.append(f"{changes}: no error next to {field}")
            elif reason not in shown[1].split("</p>")[0]:
                problems.append(f"{changes} ({lang}): {shown[1].split('</p>')[0]!r}")
            else:
                # the user's other values are kept
                page = response.text
                if field != "title" and 'value="Школа информационной работы"' not in page:
                    problems.append(f"{changes}: title lost")
                if "description" not in changes and "Первое занятие курса</textarea>" not in page:
                    problems.append(f"{changes}: description lost")
    assert problems == []
    assert await count(runtime, Webinar) == 0


async def test_bad_values_on_edit_change_nothing(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    org, account = await setup_org(runtime, clock)
    async with runtime.sessionmaker() as session:
        webinar = await make_webinar(session, clock, account, org, title="Исходное название",
                                     start_at=START)
        await session.commit()
    await login(client)
    form = form_data(org, title="Новое название", capacity="-5",
                     csrf_token=await page_csrf(client, f"/webinars/{webinar.id}/edit"))
    response = await client.post(f"/webinars/{webinar.id}/edit", data=form)
    assert response.status_code == 422
    assert 'value="Новое название"' in response.text
    stored = await load_webinar(runtime, webinar.id)
    assert (stored.title, stored.capacity, stored.sequence) == ("Исходное название", None, 0)


async def test_forms_without_a_valid_csrf_token_change_nothing(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    org, account = await setup_org(runtime, clock)
    async with runtime.sessionmaker() as session:
        webinar = await make_webinar(session, clock, account, org, title="Исходное название")
        await make_token(session, clock, account)
        await session.commit()
        token_id = (await session.scalars(select(ApiToken.id))).one()
    await login(client)
    await page_csrf(client)  # the session has a token; the forms below do not send it
    for token_value in (None, "forged"):
        extra = {} if token_value is None else {"csrf_token": token_value}
        create = await client.post("/webinars/new", data={**form_data(org), **extra})
        edit = await client.post(f"/webinars/{webinar.id}/edit",
                                 data={**form_data(org, title="Чужое"), **extra})
        cancel = await client.post(f"/webinars/{webinar.id}/cancel", data=extra)
        new_token = await client.post("/tokens", data={"name": "x", **extra})
        assert [r.status_code for r in (create, edit, cancel, new_token)] == [403] * 4
        revoke = await client.post(f"/tokens/{token_id}/revoke", data=extra)
        assert revoke.status_code == 403
    stored = await load_webinar(runtime, webinar.id)
    assert (stored.title, stored.status) == ("Исходное название", "scheduled")
    assert await count(runtime, Webinar) == 1
    assert await count(runtime, ApiToken, ApiToken.revoked_at.is_(None)) == 1


async def test_addresses_that_no_webinar_has_are_not_found(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await setup_org(runtime, clock)
    await login(client)
    for path in ("/webinars/424242", "/webinars/99999999999999999999999/edit",
                 "/webinars/0/registrants"):
        assert (await client.get(path)).status_code == 404
    token = await page_csrf(client)
    response = await client.post("/webinars/99999999999999999999/cancel",
                                 data={"csrf_token": token})
    assert response.status_code == 404


# --- registrants ----------------------------------------------------------------------

async def test_registrants_table_with_join_clicks(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession
) -> None:
    org, account = await setup_org(runtime, clock)
    webinar = await make_webinar(session, clock, account, org, start_at=START,
                                 timezone="Asia/Yekaterinburg")
    maria = await make_registration(session, clock, webinar, "maria@school.example")
    clock.advance(timedelta(hours=1))
    ivan = await make_registration(session, clock, webinar, "Ivan@School.example",
                                   name="Иван Петров", locale="en", timezone="Asia/Omsk")
    await cancel_registration(session, clock, ivan)
    session.add_all([JoinClick(registration_id=maria.id, at=clock.now()) for _ in range(3)])
    await session.commit()
    await login(client)
    page = await client.get(f"/webinars/{webinar.id}/registrants")
    assert page.status_code == 200
    row = page.text.split(f'data-registration="{maria.id}"')[1].split("</tr>")[0]
    assert "Мария Иванова" in row and "maria@school.example" in row
    assert "Екатеринбург (ЕКБ, UTC+5)" in row and ">ru<" in row and "подтверждена" in row
    assert "1 декабря 2026 г., 14:00 ЕКБ" in row  # registered at, in the organization's zone
    assert '<td class="clicks">3</td>' in row
    row = page.text.split(f'data-registration="{ivan.id}"')[1].split("</tr>")[0]
    assert "Ivan@School.example" in row and "Омск (ОМС, UTC+6)" in row and ">en<" in row
    assert "отменено" in row and '<td class="clicks">0</td>' in row
    assert f'href="/webinars/{webinar.id}/deliveries"' in page.text


# --- API tokens -----------------------------------------------------------------------

async def test_tokens_are_shown_once_and_can_be_revoked(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, account = await setup_org(runtime, clock)
    async with runtime.sessionmaker() as session:
        other_org = await make_org(session, clock, "other")
        other = await make_account(session, clock, other_org, "other@union.example")
        await make_token(session, clock, other)
        await session.commit()
    await login(client)
    page = await client.get("/tokens")
    assert page.status_code == 200 and "Пока нет ключей." in page.text
    response = await client.post("/tokens", data={"name": "Сайт региона",
                                                  "csrf_token": csrf_from(page.text)})
    assert response.status_code == 200
    shown = response.text.split('<code id="new-token"')[1].split(">", 1)[1].split("<")[0]
    assert shown.startswith("wbt_")
    async with runtime.sessionmaker() as session:
        mine = await session.scalar(select(ApiToken).where(ApiToken.account_id == account.id))
        theirs = await session.scalar(select(ApiToken).where(ApiToken.account_id == other.id))
        assert mine is not None and theirs is not None
        assert mine.token_hash == hash_token(shown) and mine.name == "Сайт региона"
    page = await client.get("/tokens")
    assert shown not in page.text and "Сайт региона" in page.text
    assert "test" not in page.text.split("<table", 1)[1].split("</table>")[0]  # not theirs

    token = csrf_from(page.text)
    refused = await client.post(f"/tokens/{theirs.id}/revoke", data={"csrf_token": token})
    assert refused.status_code == 404
    response = await client.post(f"/tokens/{mine.id}/revoke", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/tokens"
    async with runtime.sessionmaker() as session:
        assert (await session.get(ApiToken, mine.id)).revoked_at == clock.now()  # type: ignore[union-attr]
        assert (await session.get(ApiToken, theirs.id)).revoked_at is None  # type: ignore[union-attr]
    assert "отозван" in (await client.get("/tokens")).text


@pytest.mark.parametrize(("name", "reason"), [("", "обязательное поле"),
                                               ("ключ" * 26, "не длиннее 100 символов")])
async def test_a_token_needs_a_sensible_name(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, name: str, reason: str
) -> None:
    await setup_org(runtime, clock)
    await login(client)
    response = await client.post("/tokens", data={"name": name,
                                                  "csrf_token": await page_csrf(client, "/tokens")})
    assert response.status_code == 422
    assert reason in response.text and "wbt_" not in response.text
    assert await count(runtime, ApiToken) == 0


async def test_meeting_failure_is_explained_on_the_webinar_page(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    org, account = await setup_org(runtime, clock)
    async with runtime.sessionmaker() as session:
        webinar = await make_webinar(session, clock, account, org)
        meeting = await session.scalar(select(Meeting).where(Meeting.webinar_id == webinar.id))
        assert meeting is not None
        meeting.status, meeting.error = "failed", "platform 'zoom' is not configured"
        await session.commit()
    await login(client)
    page = (await client.get(f"/webinars/{webinar.id}?lang=en")).text
    assert "platform &#39;zoom&#39; is not configured" in page
    assert "choose your own link" in page
    assert await count(runtime, Registration) == 0
