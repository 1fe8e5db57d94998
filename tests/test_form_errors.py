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

from .factories import PASSWORD, csrf_from, login, make_account, make_org
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
    for field, described_by in marks.invalid.items():
        assert described_by in marks.ids, f"{field} points at a message that is not there"
    # Every message belongs to a field marked invalid: none is left for sighted users only.
    assert marks.messages <= set(marks.invalid.values()), marks.messages


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
    marks = Marks()
    marks.feed(page.text)
    assert page.status_code in (400, 422) and marks.invalid, page.text[:300]
    assert all(ref in marks.ids for ref in marks.invalid.values())
