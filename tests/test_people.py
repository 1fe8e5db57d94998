"""Admins manage organizations and people on the web; anyone sets a password from a one-time
link. Real flows through the pages, mail read from the outbox. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from webinars.clock import FixedClock
from webinars.models import Account, LoginSession, Organization, OutboxMessage, Role, Webinar
from webinars.outbox import parse
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime

from .factories import PASSWORD, csrf_from, login, make_account, make_org
from .test_organizer_pages import form_data
from .test_public_pages import visible_text

BOM = "\ufeff"


@pytest.fixture(autouse=True)
async def settle(queue: InProcessQueue) -> AsyncIterator[None]:
    yield
    await queue.drain()


def region_csv(sep: str = ";") -> bytes:
    """A region, 3 municipalities and 20 schools, as Excel in Russia saves it."""
    lines = [sep.join(["slug", "name", "level", "parent_slug", "timezone"]),
             sep.join(["samara", "Самарская областная организация", "regional", "union",
                       "Europe/Samara"])]
    for m in range(1, 4):
        lines.append(sep.join([f"samara-m{m}", f"Район {m}", "municipal", "samara", ""]))
    for s in range(1, 21):
        lines.append(sep.join([f"samara-s{s}", f"Школа № {s}", "primary",
                               f"samara-m{s % 3 + 1}", ""]))
    return (BOM + "\r\n".join(lines) + "\r\n").encode("utf-8")


async def setup_admin(runtime: Runtime, clock: FixedClock) -> Organization:
    async with runtime.sessionmaker() as session:
        union = await make_org(session, clock, "union", name="Профсоюз", level="federal")
        await make_account(session, clock, union, "admin@union.example", role="admin")
        await session.commit()
    return union


async def upload(client: httpx.AsyncClient, data: bytes) -> httpx.Response:
    csrf = csrf_from((await client.get("/organizations")).text)
    return await client.post("/organizations/import", data={"csrf_token": csrf},
                             files={"file": ("region.csv", data, "text/csv")})


async def org_count(runtime: Runtime) -> int:
    async with runtime.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Organization)) or 0)


async def last_mail_to(runtime: Runtime, address: str) -> str:
    async with runtime.sessionmaker() as session:
        raw = await session.scalar(select(OutboxMessage.raw).where(
            OutboxMessage.recipient == address).order_by(OutboxMessage.id.desc()).limit(1))
    assert raw is not None, f"no mail to {address}"
    return parse(raw).text


def link_in(text: str) -> str:
    match = re.search(r"http://testserver(/account/setup/[A-Za-z0-9_-]+)", text)
    assert match, text
    return match.group(1)


async def test_an_admin_imports_a_region_invites_an_organizer_who_plans_an_event(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await setup_admin(runtime, clock)
    await login(client, "admin@union.example")
    assert 'href="/people"' in (await client.get("/dashboard")).text

    imported = await upload(client, region_csv())
    assert imported.status_code == 200, imported.text
    assert 'id="created-count">24<' in imported.text
    assert await org_count(runtime) == 25
    async with runtime.sessionmaker() as session:
        school = await session.scalar(select(Organization).where(
            Organization.slug == "samara-s3"))
        district = await session.scalar(select(Organization).where(
            Organization.slug == "samara-m1"))
        assert school is not None and district is not None
        assert school.parent_id == district.id and school.timezone == "Europe/Samara"
        assert school.level == "primary" and school.name == "Школа № 3"

    listed = (await client.get("/organizations")).text
    assert "<td>Самара (САМ, UTC+4)</td>" in listed  # a city, not an IANA name
    assert "Europe/Samara" not in visible_text(listed)
    again = await upload(client, region_csv(","))  # idempotent, whichever separator
    assert 'id="created-count">0<' in again.text and 'id="unchanged-count">24<' in again.text
    assert await org_count(runtime) == 25

    csrf = csrf_from((await client.get("/people")).text)
    invited = await client.post("/people/invite", data={
        "csrf_token": csrf, "email": "Olga@School.example", "name": "Ольга Петрова",
        "organization_id": str(school.id), "role": "organizer", "locale": "ru"})
    assert invited.status_code == 303 and invited.headers["location"] == "/people?sent=invitation"
    mail = await last_mail_to(runtime, "olga@school.example")
    assert "Школа № 3" in mail
    link = link_in(mail)

    client.cookies.clear()
    with pytest.raises(AssertionError):  # no usable password before the link is used
        await login(client, "olga@school.example", "")
    page = await client.get(link)
    assert page.status_code == 200 and "olga@school.example" in page.text
    assert page.headers["cache-control"] == "no-store"
    short = await client.post(link, data={"csrf_token": csrf_from(page.text),
                                          "new_password": "short"})
    assert short.status_code == 422
    done = await client.post(link, data={"csrf_token": csrf_from(page.text),
                                         "new_password": "olga's long password"})
    assert done.status_code == 303 and done.headers["location"] == "/dashboard"
    dashboard = await client.get("/dashboard")
    assert dashboard.status_code == 200
    assert 'href="/people"' not in dashboard.text  # an organizer's menu
    new = await client.get("/webinars/new")
    form = form_data(school, timezone="Europe/Samara")
    form["csrf_token"] = csrf_from(new.text)
    planned = await client.post("/webinars/new", data=form)
    assert planned.status_code == 303, planned.text

    # The link worked once.
    assert (await client.get(link)).status_code == 404
    client.cookies.clear()
    await login(client, "olga@school.example", "olga's long password")
    async with runtime.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Webinar)) == 1


async def test_a_bad_file_reports_every_bad_line_and_writes_nothing(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await setup_admin(runtime, clock)
    await login(client, "admin@union.example")
    good = region_csv().decode("utf-8").splitlines()
    bad = [*good, "Bad Slug;Школа;primary;samara-m1;",
           "samara-s99;Школа 99;school;samara-m1;",
           "samara-s98;Школа 98;primary;nowhere;",
           "samara-s1;Дубль;primary;samara-m1;",
           "samara-s97;Школа 97;primary;samara-m1;Mars/Base"]
    response = await upload(client, "\n".join(bad).encode("utf-8"))
    assert response.status_code == 422
    items = re.findall(r"<li>(.*?)</li>", response.text)
    assert [re.match(r"(Строка|Line) (\d+)", i).group(2) for i in items] == [  # type: ignore[union-attr]
        "26", "27", "28", "29", "30"]
    assert await org_count(runtime) == 1


async def test_the_reasons_for_bad_lines_are_in_the_admins_language(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await setup_admin(runtime, clock)
    await login(client, "admin@union.example")
    good = region_csv().decode("utf-8").splitlines()
    bad = "\n".join([*good, "Bad Slug;Школа;primary;samara-m1;",
                     "samara-s99;Школа 99;school;samara-m1;",
                     "samara-s98;Школа 98;primary;nowhere;",
                     "samara-s1;Дубль;primary;samara-m1;",
                     "samara-s97;;primary;samara-m1;Mars/Base"]).encode("utf-8")
    levels = "federal, regional, municipal, primary, other"
    expected = {
        "ru": ["Строка 26: slug: от 1 до 63 строчных латинских букв, цифр и дефисов",
               f"Строка 27: level: допустимые значения: {levels}",
               "Строка 28: parent_slug: организации nowhere нет ни в файле, ни в системе",
               "Строка 29: slug: samara-s1 уже есть в строке 6",
               ("Строка 30: name: от 1 до 200 символов; "
                "timezone: Mars/Base — не часовой пояс IANA")],
        "en": ["Line 26: slug: use 1-63 lower-case latin letters, digits and hyphens",
               f"Line 27: level: must be one of {levels}",
               "Line 28: parent_slug: no organization nowhere in the file or stored",
               "Line 29: slug: samara-s1 is already on line 6",
               ("Line 30: name: must be 1 to 200 characters; "
                "timezone: Mars/Base is not an IANA time zone")],
    }
    for lang, lines in expected.items():
        await client.get("/organizations", params={"lang": lang})  # the admin's choice
        response = await upload(client, bad)
        assert response.status_code == 422
        items = re.findall(r'<ul class="import-problems">(.*?)</ul>', response.text, re.DOTALL)
        assert re.findall(r"<li>(.*?)</li>", items[0]) == lines, lang
    # A file that is not text at all, and one without the columns: the file's own reasons.
    await client.get("/organizations", params={"lang": "ru"})
    unreadable = await upload(client, b"slug;name\xff\xfe")
    assert "<li>файл не в кодировке UTF-8 (байт 10)</li>" in unreadable.text
    headless = await upload(client, "name;level\nШкола;primary".encode())
    assert ("<li>Строка 1: нет столбцов: slug, parent_slug; "
            "нужны slug,name,level,parent_slug,timezone</li>") in headless.text
    assert await org_count(runtime) == 1


async def test_a_link_expires_and_a_resend_replaces_it(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    union = await setup_admin(runtime, clock)
    await login(client, "admin@union.example")
    csrf = csrf_from((await client.get("/people")).text)
    await client.post("/people/invite", data={
        "csrf_token": csrf, "email": "late@union.example", "name": "Опоздавший",
        "organization_id": str(union.id), "role": "admin", "locale": "en"})
    first = link_in(await last_mail_to(runtime, "late@union.example"))
    clock.advance(timedelta(days=8))
    assert (await client.get(first)).status_code == 404
    async with runtime.sessionmaker() as session:
        late = await session.scalar(select(Account).where(Account.email == "late@union.example"))
        assert late is not None
    resent = await client.post(f"/people/{late.id}/resend", data={"csrf_token": csrf})
    assert resent.status_code == 303
    second = link_in(await last_mail_to(runtime, "late@union.example"))
    assert second != first
    client.cookies.clear()
    assert (await client.get(second)).status_code == 200


async def test_forgot_password_reveals_nothing_and_ends_other_sessions(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await setup_admin(runtime, clock)
    await login(client, "admin@union.example")
    client.cookies.clear()
    page = await client.get("/password/forgot")
    answers = [await client.post("/password/forgot", data={
        "csrf_token": csrf_from(page.text), "email": email})
        for email in ("admin@union.example", "nobody@union.example")]
    assert answers[0].status_code == answers[1].status_code == 200
    assert answers[0].text == answers[1].text
    async with runtime.sessionmaker() as session:
        recipients = (await session.scalars(select(OutboxMessage.recipient))).all()
        assert recipients == ["admin@union.example"]
        assert await session.scalar(select(func.count()).select_from(LoginSession)) == 1
    link = link_in(await last_mail_to(runtime, "admin@union.example"))
    page = await client.get(link)
    await client.post(link, data={"csrf_token": csrf_from(page.text),
                                  "new_password": "a brand new password"})
    async with runtime.sessionmaker() as session:  # the other browser was signed out
        assert await session.scalar(select(func.count()).select_from(LoginSession)) == 1
    assert (await client.get(link)).status_code == 404
    client.cookies.clear()
    with pytest.raises(AssertionError):
        await login(client, "admin@union.example", PASSWORD)
    await login(client, "admin@union.example", "a brand new password")


async def test_forgot_password_is_rate_limited(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await setup_admin(runtime, clock)
    csrf = csrf_from((await client.get("/password/forgot")).text)
    statuses = [(await client.post("/password/forgot", data={
        "csrf_token": csrf, "email": "admin@union.example"})).status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    async with runtime.sessionmaker() as session:  # three links an hour for one address
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 3


async def test_an_organizer_gets_403_on_management_pages(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    async with runtime.sessionmaker() as session:
        union = await make_org(session, clock, "union")
        await make_account(session, clock, union, "org@union.example", role="organizer")
        await session.commit()
    await login(client)
    csrf = csrf_from((await client.get("/dashboard")).text)
    assert 'href="/organizations"' not in (await client.get("/dashboard")).text
    for path in ("/organizations", "/people", f"/organizations/{union.id}/edit"):
        response = await client.get(path)
        assert response.status_code == 403, path
        assert "только администратор" in response.text  # the reason, in Russian
    response = await client.post("/organizations/new", data={
        "csrf_token": csrf, "parent_id": str(union.id), "slug": "x", "name": "X",
        "level": "primary", "timezone": ""})
    assert response.status_code == 403
    assert await org_count(runtime) == 1


async def test_moves_stay_in_the_tree_and_never_under_a_descendant(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    union = await setup_admin(runtime, clock)
    await login(client, "admin@union.example")
    csrf = csrf_from((await client.get("/organizations")).text)
    for slug, parent in (("volga", union.id), ("city", None)):
        async with runtime.sessionmaker() as session:
            volga = await session.scalar(select(Organization).where(Organization.slug == "volga"))
        response = await client.post("/organizations/new", data={
            "csrf_token": csrf, "parent_id": str(parent or (volga.id if volga else 0)),
            "slug": slug, "name": slug.title(), "level": "regional", "timezone": ""})
        assert response.status_code == 303, response.text
    async with runtime.sessionmaker() as session:
        volga, city = [await session.scalar(select(Organization).where(Organization.slug == s))
                       for s in ("volga", "city")]
    assert volga is not None and city is not None and city.parent_id == volga.id
    form = {"csrf_token": csrf, "name": "Поволжье", "level": "regional",
            "timezone": "Europe/Samara"}
    under_child = await client.post(f"/organizations/{volga.id}/edit",
                                    data={**form, "parent_id": str(city.id)})
    assert under_child.status_code == 422
    assert 'data-field="parent_id"' in under_child.text
    bad_zone = await client.post(f"/organizations/{volga.id}/edit",
                                 data={**form, "timezone": "Mars/Base",
                                       "parent_id": str(union.id)})
    assert bad_zone.status_code == 422 and 'data-field="timezone"' in bad_zone.text
    renamed = await client.post(f"/organizations/{volga.id}/edit",
                                data={**form, "parent_id": str(union.id)})
    assert renamed.status_code == 303
    moved = await client.post(f"/organizations/{city.id}/edit", data={
        **form, "name": "Самара", "parent_id": str(union.id)})
    assert moved.status_code == 303
    async with runtime.sessionmaker() as session:
        volga_now = await session.get(Organization, volga.id)
        city_now = await session.get(Organization, city.id)
        assert volga_now is not None and volga_now.name == "Поволжье"
        assert volga_now.timezone == "Europe/Samara" and volga_now.parent_id == union.id
        assert city_now is not None and city_now.parent_id == union.id


async def test_roles_change_and_access_is_removed_but_never_the_last_admin(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    async with runtime.sessionmaker() as session:
        union = await make_org(session, clock, "union")
        admin = await make_account(session, clock, union, "admin@union.example", role="admin")
        other = await make_account(session, clock, union, "org@union.example")
        await session.commit()
        admin_role, other_role = admin.roles[0].id, other.roles[0].id
    await login(client, "admin@union.example")
    csrf = csrf_from((await client.get("/people")).text)
    alone = await client.post(f"/roles/{admin_role}/role", data={"csrf_token": csrf,
                                                                  "role": "organizer"})
    assert alone.status_code == 403
    assert (await client.post(f"/roles/{admin_role}/remove",
                              data={"csrf_token": csrf})).status_code == 403
    promoted = await client.post(f"/roles/{other_role}/role", data={"csrf_token": csrf,
                                                                     "role": "admin"})
    assert promoted.status_code == 303
    removed = await client.post(f"/roles/{other_role}/remove", data={"csrf_token": csrf})
    assert removed.status_code == 303
    async with runtime.sessionmaker() as session:
        roles = (await session.scalars(select(Role.account_id))).all()
        assert roles == [admin.id]


async def test_without_smtp_the_top_admin_reads_mail_to_organizers_in_the_outbox(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    """In the embedded mode nothing delivers an invitation but the outbox: the operator (an
    admin of the top organization) sees it there; a regional admin sees none of it."""
    union = await setup_admin(runtime, clock)
    async with runtime.sessionmaker() as session:
        region = await make_org(session, clock, "north", parent=union, level="regional")
        await make_account(session, clock, region, "north-admin@union.example", role="admin")
        await session.commit()
    await login(client, "admin@union.example")
    csrf = csrf_from((await client.get("/people")).text)
    await client.post("/people/invite", data={
        "csrf_token": csrf, "email": "new@union.example", "name": "Новый организатор",
        "organization_id": str(region.id), "role": "organizer", "locale": "ru"})
    outbox = await client.get("/outbox")
    assert outbox.status_code == 200 and "new@union.example" in outbox.text
    [message_id] = re.findall(r'href="/outbox/(\d+)"', outbox.text)
    message = await client.get(f"/outbox/{message_id}")
    assert message.status_code == 200 and "/account/setup/" in message.text
    client.cookies.clear()
    await login(client, "north-admin@union.example")
    assert "new@union.example" not in (await client.get("/outbox")).text
    assert (await client.get(f"/outbox/{message_id}")).status_code == 404
