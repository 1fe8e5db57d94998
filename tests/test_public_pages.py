"""Public pages through the ASGI app: the organization tree, calendars, a webinar's page.

The helpers at the top are shared by the other public-side test modules (registration, join,
capacity race) so that all of them build the same small world the same way.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import FixedClock
from webinars.models import Account, Organization, Registration, Webinar
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.runtime import Runtime

from .conftest import dispatch_held
from .factories import csrf_from, make_account, make_org, make_webinar

#: Tuesday 8 December 2026, 12:00 UTC: 15:00 in Moscow, 17:00 in Yekaterinburg, 22:00 in
#: Vladivostok.
START = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


async def make_world(session: AsyncSession, clock: FixedClock) -> tuple[Organization, Account]:
    org = await make_org(session, clock, "federation", name="Профсоюз образования")
    account = await make_account(session, clock, org)
    return org, account


async def publish(session: AsyncSession, queue: InProcessQueue, clock: FixedClock, *,
                  meeting: bool = True) -> None:
    """Commit test data; with `meeting=False` the meeting job is dropped, so the link stays
    pending until a test enqueues it."""
    if not meeting:
        await dispatch_held(session, queue.ctx)
        return
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()


async def open_webinar(session: AsyncSession, queue: InProcessQueue, clock: FixedClock,
                       *, meeting: bool = True, **overrides: Any) -> Webinar:
    """One published webinar of the federation, committed so the app can see it."""
    org, account = await make_world(session, clock)
    overrides.setdefault("start_at", START)
    webinar = await make_webinar(session, clock, account, org, **overrides)
    await publish(session, queue, clock, meeting=meeting)
    return webinar


async def post_registration(client: httpx.AsyncClient, webinar: Webinar,
                            **fields: Any) -> httpx.Response:
    page = await client.get(f"/w/{webinar.public_id}")
    data = {"name": "Мария Иванова", "email": "maria@school.example", "locale": "ru",
            "timezone": "Asia/Yekaterinburg", "csrf_token": csrf_from(page.text)}
    data.update(fields)
    return await client.post(f"/w/{webinar.public_id}/register",
                             data={k: v for k, v in data.items() if v is not None})


SENT = "Мы отправили ссылку на этот адрес."


def app_runtime(client: httpx.AsyncClient) -> Runtime:
    """The runtime behind a test client (for what only the member's mailbox would tell)."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    rt: Runtime = transport.app.state.runtime  # type: ignore[attr-defined]
    return rt


async def personal_path(client: httpx.AsyncClient, webinar: Webinar | str,
                        email: str = "maria@school.example") -> str:
    """The personal page's path, as the link in the member's mail gives it."""
    public_id = webinar if isinstance(webinar, str) else webinar.public_id
    async with app_runtime(client).sessionmaker() as s:
        token = await s.scalar(select(Registration.token).join(
            Webinar, Webinar.id == Registration.webinar_id).where(
            Webinar.public_id == public_id, Registration.email_normalized == email.lower()))
    assert token is not None
    return f"/r/{token}"


async def fresh_webinar(runtime: Runtime, webinar_id: int) -> Webinar:
    async with runtime.sessionmaker() as s:
        webinar = await s.get(Webinar, webinar_id)
        assert webinar is not None
        return webinar


async def registrations_of(runtime: Runtime, webinar_id: int) -> list[Registration]:
    async with runtime.sessionmaker() as s:
        return list((await s.scalars(select(Registration).where(
            Registration.webinar_id == webinar_id).order_by(Registration.id))).all())


def visible_text(html: str) -> str:
    """The page roughly as a reader sees it: tags dropped, whitespace collapsed."""
    without_scripts = re.sub(r"<script.*?</script>", " ", html, flags=re.DOTALL)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", without_scripts))


# --- /calendar -----------------------------------------------------------------------------


async def test_calendar_lists_organizations_as_a_tree(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock
) -> None:
    fed = await make_org(session, clock, "federation", name="Профсоюз образования")
    region = await make_org(session, clock, "tomsk", name="Томская областная организация",
                            parent=fed, level="regional", timezone="Asia/Tomsk")
    await make_org(session, clock, "seversk", name="Северская городская организация",
                   parent=region, level="municipal", timezone="Asia/Tomsk")
    await make_org(session, clock, "primorye", name="Приморская краевая организация",
                   parent=fed, level="regional", timezone="Asia/Vladivostok")
    await session.commit()

    response = await client.get("/calendar")

    assert response.status_code == 200
    html = response.text
    for slug, name in [("federation", "Профсоюз образования"),
                       ("tomsk", "Томская областная организация"),
                       ("seversk", "Северская городская организация"),
                       ("primorye", "Приморская краевая организация")]:
        assert f'<a href="/o/{slug}">{name}</a>' in html
    # The municipal organization is nested inside its region's list, under the federation.
    nested = re.search(r'href="/o/tomsk".*?<ul>.*?href="/o/seversk"', html, re.DOTALL)
    assert nested is not None
    assert html.index('href="/o/federation"') < html.index('href="/o/tomsk"')
    assert "региональный" in html and "Календарь" in html


async def test_calendar_in_english(client: httpx.AsyncClient) -> None:
    response = await client.get("/calendar?lang=en")
    assert response.status_code == 200
    assert "<h1>Calendar</h1>" in response.text
    assert 'lang="en"' in response.text


# --- /o/{slug} -----------------------------------------------------------------------------


async def test_org_calendar_shows_the_chain_but_not_siblings_drafts_or_unlisted(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    fed = await make_org(session, clock, "federation", name="Профсоюз образования")
    region = await make_org(session, clock, "tomsk", name="Томская областная организация",
                            parent=fed, level="regional", timezone="Asia/Tomsk")
    town = await make_org(session, clock, "seversk", name="Северская городская организация",
                          parent=region, level="municipal", timezone="Asia/Tomsk")
    sibling = await make_org(session, clock, "primorye", name="Приморская краевая организация",
                             parent=fed, level="regional", timezone="Asia/Vladivostok")
    account = await make_account(session, clock, fed, role="admin")
    soon = clock.now() + timedelta(days=1)
    later = clock.now() + timedelta(days=20)
    await make_webinar(session, clock, account, fed, title="Федеральный вебинар", start_at=later)
    await make_webinar(session, clock, account, region, title="Областной семинар",
                       start_at=later + timedelta(days=1), timezone="Asia/Tomsk")
    await make_webinar(session, clock, account, town, title="Городская акция",
                       start_at=later + timedelta(days=2), kind="action")
    await make_webinar(session, clock, account, fed, title="Прошедшая конференция",
                       start_at=soon, kind="conference")
    await make_webinar(session, clock, account, sibling, title="Приморский конкурс",
                       start_at=later)
    await make_webinar(session, clock, account, fed, title="Черновик плана", start_at=later,
                       status="draft")
    await make_webinar(session, clock, account, region, title="Закрытая встреча",
                       start_at=later, visibility="unlisted")
    cancelled = await make_webinar(session, clock, account, region, title="Отменённый урок",
                                   start_at=later + timedelta(days=3))
    cancelled.status = "cancelled"
    await publish(session, queue, clock)
    clock.advance(timedelta(days=3))  # the conference is now in the past

    response = await client.get("/o/seversk")

    assert response.status_code == 200
    html = response.text
    for title in ["Федеральный вебинар", "Областной семинар", "Городская акция",
                  "Отменённый урок"]:
        assert title in html
    for title in ["Приморский конкурс", "Черновик плана", "Закрытая встреча",
                  "Прошедшая конференция"]:
        assert title not in html
    # Upcoming, in time order; what is over is in the archive, linked from the page.
    order = [html.index(t) for t in ["Федеральный вебинар", "Областной семинар",
                                     "Городская акция", "Отменённый урок"]]
    assert order == sorted(order)
    assert 'href="/o/seversk/archive"' in html
    archive = (await client.get("/o/seversk/archive")).text
    assert "Прошедшая конференция" in archive and "Федеральный вебинар" not in archive
    assert "Прошедшие мероприятия" in archive
    # Each event is tagged with its organization and level; the cancelled one is marked.
    text = visible_text(html)
    assert "Областной семинар" in text
    assert re.search(r"Областной семинар.*?Томская областная организация · региональный", text)
    assert re.search(r"Федеральный вебинар.*?Профсоюз образования · федеральный", text)
    assert re.search(r"Отменённый урок\s+Отменено", text)
    # Times in the reader's zone: without JavaScript the organization's, named on the page.
    assert "Время: Томск (КРАС, UTC+7)" in text
    assert re.search(r"Федеральный вебинар [^А-Я]*г\., \d\d:\d\d КРАС", text)
    assert "МСК" not in text
    # Subscription links: webcal and the plain address.
    assert 'href="webcal://testserver/o/seversk.ics"' in html
    assert 'href="http://testserver/o/seversk.ics"' in html


async def test_org_feed_address_is_not_taken_by_the_page_route(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    await open_webinar(session, queue, clock)
    page = await client.get("/o/federation")
    feed = await client.get("/o/federation.ics")
    assert page.headers["content-type"].startswith("text/html")
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")


async def test_unknown_organization_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/o/no-such-org")
    assert response.status_code == 404
    assert "Не найдено" in response.text


async def test_org_calendar_in_english(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    await open_webinar(session, queue, clock)
    response = await client.get("/o/federation?lang=en")
    assert response.status_code == 200
    assert "Upcoming events" in response.text
    assert "8 December 2026, 15:00 MSK" in response.text
    assert "Time: Moscow (MSK, UTC+3)" in response.text


# --- /w/{public_id} ------------------------------------------------------------------------


async def test_webinar_page_shows_details_in_the_planners_zone(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    webinar = await open_webinar(
        session, queue, clock, title="Школа информационной работы", kind="training",
        description="Первая строка\nВторая <script>alert(1)</script> строка",
        timezone="Asia/Novosibirsk", capacity=30)

    response = await client.get(f"/w/{webinar.public_id}")

    assert response.status_code == 200
    html = response.text
    assert "<h1>Школа информационной работы</h1>" in html
    assert "Профсоюз образования" in html and "обучение" in html
    # Escaped, line break kept (rendered with white-space: pre-line).
    assert "Первая строка\nВторая &lt;script&gt;alert(1)&lt;/script&gt; строка" in html
    assert "<script>alert(1)" not in html
    # 12:00 UTC is 19:00 in Novosibirsk, next to the reader's time: without a zone from the
    # browser, the organization's (Moscow), which the page names.
    planner = re.search(r'id="planner-time">([^<]+)<', html)
    assert planner is not None
    assert planner.group(1) == "8 декабря 2026 г., 19:00 КРАС (15:00 МСК)"
    assert "Время: Москва (МСК, UTC+3)" in html
    # The script is asked to show the page again in the browser's zone.
    assert '<html lang="ru" data-reader-zone="Europe/Moscow">' in html
    assert re.search(r'<script src="/static/local-time\.js\?v=\w+" defer>', html)
    assert "90 минут" in html
    assert re.search(r'id="seats-left" data-left="30">Осталось 30 мест из 30<', html)
    assert f'href="/w/{webinar.public_id}.ics"' in html
    google = re.search(r'href="https://calendar\.google\.com/[^"]*location=([^"&]+)', html)
    assert google is not None
    assert unquote(google.group(1)) == f"http://testserver/w/{webinar.public_id}"
    assert "outlook.live.com" in html
    # The form: posts here, defaults the zone to the webinar's.
    assert f'action="/w/{webinar.public_id}/register"' in html
    assert '<option value="Asia/Novosibirsk" selected>' in html


async def test_webinar_page_never_shows_the_meeting_links(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    webinar = await open_webinar(session, queue, clock)
    async with runtime.sessionmaker() as s:
        ready = await s.get(Webinar, webinar.id)
        assert ready is not None and ready.meeting is not None
        assert ready.meeting.status == "ready" and ready.meeting.join_url
        join_url, host_url = ready.meeting.join_url, ready.meeting.host_url

    html = (await client.get(f"/w/{webinar.public_id}")).text
    calendar = (await client.get("/o/federation")).text

    for page in (html, calendar):
        assert join_url not in page
        assert host_url is None or host_url not in page
        assert "meet.jit.si" not in page


async def test_webinar_page_in_english(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    webinar = await open_webinar(session, queue, clock)
    html = (await client.get(f"/w/{webinar.public_id}?lang=en")).text
    assert "8 December 2026, 15:00 MSK" in html
    assert "Time: Moscow (MSK, UTC+3)" in html and "Register" in html


async def test_drafts_are_not_found_and_unlisted_only_by_address(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue
) -> None:
    org, account = await make_world(session, clock)
    draft = await make_webinar(session, clock, account, org, title="Черновик", status="draft")
    unlisted = await make_webinar(session, clock, account, org, title="Только по ссылке",
                                  visibility="unlisted")
    await publish(session, queue, clock)

    assert (await client.get(f"/w/{draft.public_id}")).status_code == 404
    page = await client.get(f"/w/{unlisted.public_id}")
    assert page.status_code == 200 and "Только по ссылке" in page.text
    assert "Только по ссылке" not in (await client.get("/o/federation")).text
    assert (await client.get("/w/" + "0" * 32)).status_code == 404
    assert (await client.get("/w/not-a-public-id")).status_code == 404


async def test_closed_past_and_cancelled_pages_say_so_instead_of_the_form(
    client: httpx.AsyncClient, session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
    runtime: Runtime,
) -> None:
    org, account = await make_world(session, clock)
    full = await make_webinar(session, clock, account, org, title="Полный", capacity=1)
    closed = await make_webinar(session, clock, account, org, title="Закрытый",
                                registration_open="false")
    past = await make_webinar(session, clock, account, org, title="Прошедший",
                              start_at=clock.now() + timedelta(hours=1))
    cancelled = await make_webinar(session, clock, account, org, title="Отменённый")
    cancelled.status = "cancelled"
    await publish(session, queue, clock)
    assert (await post_registration(client, full)).status_code == 200
    clock.advance(timedelta(hours=3))

    expectations = {
        closed: "Регистрация закрыта.",
        past: "Мероприятие уже прошло.",
        cancelled: "Мероприятие отменено.",
    }
    for webinar, message in expectations.items():
        html = (await client.get(f"/w/{webinar.public_id}")).text
        assert message in html, webinar.title
        assert "/register" not in html, webinar.title
    full_page = (await client.get(f"/w/{full.public_id}")).text
    assert "Мест нет: открыт лист ожидания" in full_page
    assert "Встать в лист ожидания" in full_page  # the call to action says what it gives
    # Full is not closed: the form takes names for the waitlist, and says so.
    assert "Все места заняты. Зарегистрируйтесь, чтобы встать в лист ожидания" in full_page
    assert f"/w/{full.public_id}/register" in full_page
    async with runtime.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Registration)) == 1
