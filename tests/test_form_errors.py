"""A form sent back with errors tells everyone where they are: the summary takes focus when
the page loads (`autofocus`, no script needed), and every field in error is marked invalid and
points at its own message, which a screen reader reads with it."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import FixedClock
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime

from .factories import PASSWORD, csrf_from, login, make_account, make_org, make_webinar
from .test_public_pages import open_webinar, post_registration


class Marks(HTMLParser):
    """Ids, the fields marked invalid (with what describes them), the field messages and the
    error summary's attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.invalid: dict[str, str] = {}
        self.messages: set[str] = set()
        self.summary: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if found.get("aria-invalid") == "true":
            self.invalid[str(found.get("name"))] = str(found.get("aria-describedby"))
        if "field-error" in (found.get("class") or "").split():
            self.messages.add(str(found.get("id")))
        if found.get("id") == "error-summary":
            self.summary = found


def assert_errors_are_announced(page: httpx.Response, *fields: str) -> None:
    assert page.status_code in (400, 422), page.status_code
    marks = Marks()
    marks.feed(page.text)
    assert marks.summary is not None, "no error summary"
    assert "autofocus" in marks.summary and marks.summary.get("tabindex") == "-1"
    assert marks.summary.get("role") == "alert"
    for field in fields:
        assert field in marks.invalid, f"{field} is not marked invalid"
    pointed_at: set[str] = set()
    for field, described_by in marks.invalid.items():
        refs = described_by.split()  # a hint may come first, the message is among them
        assert refs and set(refs) <= marks.ids, f"{field} points at a message that is not there"
        pointed_at.update(refs)
    # Every message belongs to a field marked invalid: none is left for sighted users only.
    assert marks.messages <= pointed_at, marks.messages - pointed_at


async def test_the_registration_form_sent_back_with_errors(
        client: httpx.AsyncClient, session: AsyncSession, queue: InProcessQueue,
        clock: FixedClock) -> None:
    webinar = await open_webinar(session, queue, clock)
    page = await post_registration(client, webinar, email="not an address", name="")
    assert_errors_are_announced(page, "email", "name")


async def test_the_organizers_forms_sent_back_with_errors(
        client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock) -> None:
    async with runtime.sessionmaker() as session:
        union = await make_org(session, clock, "union", level="federal")
        await make_account(session, clock, union, "admin@union.example", role="admin")
        await session.commit()
    await login(client, "admin@union.example")
    form = await client.get("/webinars/new")
    page = await client.post("/webinars/new", data={
        "csrf_token": csrf_from(form.text), "title": "", "organization_id": str(union.id),
        "date": "2026-13-40", "time": "25:00", "duration_minutes": "0", "timezone": "",
        "kind": "webinar", "visibility": "public", "platform": "jitsi", "status": "scheduled"})
    assert_errors_are_announced(page, "title", "duration_minutes")

    people = await client.get("/people")
    page = await client.post("/people/invite", data={
        "csrf_token": csrf_from(people.text), "email": "nobody", "name": "",
        "organization_id": str(union.id), "role": "organizer", "locale": "ru"})
    assert_errors_are_announced(page, "email")

    orgs = await client.get("/organizations")
    page = await client.post("/organizations/new", data={
        "csrf_token": csrf_from(orgs.text), "parent_id": str(union.id), "slug": "Bad Slug!",
        "name": "", "level": "regional", "timezone": "Mars/Olympus"})
    assert_errors_are_announced(page, "slug", "name")

    password = await client.get("/account/password")
    page = await client.post("/account/password", data={
        "csrf_token": csrf_from(password.text), "current_password": PASSWORD + "x",
        "new_password": "short"})
    assert_errors_are_announced(page, "current_password")


async def test_the_remaining_organizer_forms_sent_back_with_errors(
        client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock) -> None:
    """Courses, adopting, tokens, webhooks, platforms and an organization's own page."""
    async with runtime.sessionmaker() as session:
        union = await make_org(session, clock, "union", level="federal")
        ural = await make_org(session, clock, "ural", parent=union, level="regional")
        admin = await make_account(session, clock, union, "admin@union.example", role="admin")
        webinar = await make_webinar(session, clock, admin, union, title="Курс")
        await session.commit()
    await login(client, "admin@union.example")
    csrf = csrf_from((await client.get("/dashboard")).text)

    series = f"/webinars/{webinar.id}/series"
    page = await client.post(series, data={
        "csrf_token": csrf, "kind": "weekly", "weekday": "1", "time": "25:99", "count": "1",
        "from": "someday"})
    assert_errors_are_announced(page, "time", "count", "from")
    page = await client.post(series, data={"csrf_token": csrf, "kind": "dates",
                                           "starts": "2027-03-16 15:00\nnot a time"})
    assert_errors_are_announced(page, "starts")
    # A session moved to a time that does not parse: its own date and time are marked.
    ok = await client.post(series, data={
        "csrf_token": csrf, "kind": "weekly", "weekday": "1", "time": "15:00", "count": "3",
        "from": "2027-01-11"})
    assert ok.status_code == 303, ok.text
    page = await client.post(f"/webinars/{webinar.id}/sessions/2/move", data={
        "csrf_token": csrf, "date": "2027-02-30", "time": "15:00"})
    assert_errors_are_announced(page, "date", "time")
    assert 'aria-describedby="session-2-error"' in page.text

    adopt = f"/webinars/{webinar.id}/adopt"
    page = await client.post(adopt, data={
        "csrf_token": csrf, "action": "copy", "organization_id": str(ural.id),
        "date": "2027-13-01", "time": "25:00", "capacity": "-3"})
    assert_errors_are_announced(page, "date", "time")

    page = await client.post("/tokens", data={"csrf_token": csrf, "name": ""})
    assert_errors_are_announced(page, "name")

    page = await client.post(f"/organizations/{union.id}/webhooks", data={
        "csrf_token": csrf, "url": "ftp://crm.example/hooks", "description": "CRM"})
    assert_errors_are_announced(page, "url")

    page = await client.post(f"/organizations/{union.id}/platforms/zoom", data={
        "csrf_token": csrf, "account_id": "", "client_id": "", "client_secret": "",
        "host_user": "", "meeting_type": "scheduled"})
    assert_errors_are_announced(page, "account_id", "client_id", "client_secret")
    page = await client.post(f"/organizations/{union.id}/platforms/bigbluebutton", data={
        "csrf_token": csrf, "api_url": "http://bbb.example/api", "shared_secret": "s" * 20,
        "checksum": "sha256"})
    assert_errors_are_announced(page, "api_url")
    assert 'aria-describedby="bigbluebutton-api_url-help bigbluebutton-api_url-error"' \
        in page.text

    page = await client.post(f"/organizations/{ural.id}/edit", data={
        "csrf_token": csrf, "name": "", "level": "regional", "timezone": "Europe/Moscow",
        "parent_id": str(union.id), "color": "red", "description": ""})
    assert_errors_are_announced(page, "name", "color")
