"""Plain builders for test data, going through the same services the product uses."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.accounts import create_account, create_api_token
from webinars.clock import Clock
from webinars.models import Account, Organization, Registration, Webinar
from webinars.organizations import create_organization
from webinars.registrations import register
from webinars.scheduling import create_webinar
from webinars.validation import registration_input, webinar_input

PASSWORD = "correct horse battery"


async def make_org(session: AsyncSession, clock: Clock, slug: str = "union", *,
                   parent: Organization | None = None, name: str | None = None,
                   timezone: str = "Europe/Moscow", level: str = "federal") -> Organization:
    return await create_organization(session, clock, slug=slug, name=name or f"Org {slug}",
                                     timezone=timezone, parent=parent, level=level)


async def make_account(session: AsyncSession, clock: Clock, org: Organization,
                       email: str = "org@union.example", role: str = "organizer",
                       name: str = "Организатор", locale: str = "ru") -> Account:
    return await create_account(session, clock, email=email, name=name, password=PASSWORD,
                                organization=org, role=role, locale=locale)


async def make_token(session: AsyncSession, clock: Clock, account: Account) -> str:
    return await create_api_token(session, clock, account, "test")


async def make_webinar(session: AsyncSession, clock: Clock, account: Account,
                       org: Organization, **overrides: Any) -> Webinar:
    start: datetime = overrides.pop("start_at", clock.now() + timedelta(days=7))
    data: dict[str, Any] = {
        "title": "Вебинар о новых медиа",
        "description": "Как вести сообщество профсоюза в соцсетях",
        "start": start.isoformat(),
        "timezone": "Europe/Moscow",
        "duration_minutes": 90,
        "organization_id": org.id,
    }
    data.update(overrides)
    values = webinar_input(data, clock, default_timezone="Europe/Moscow", partial=False)
    return await create_webinar(session, clock, account, values, uid_domain="union.example")


async def make_registration(session: AsyncSession, clock: Clock, webinar: Webinar,
                            email: str = "member@school.example", **overrides: Any
                            ) -> Registration:
    data = {"name": "Мария Иванова", "email": email, "locale": "ru",
            "timezone": "Asia/Yekaterinburg", **overrides}
    values = registration_input(data, default_locale="ru", default_timezone="Europe/Moscow")
    return await register(session, clock, webinar, values)


async def login(client: httpx.AsyncClient, email: str = "org@union.example",
                password: str = PASSWORD) -> None:
    page = await client.get("/login")
    token = csrf_from(page.text)
    response = await client.post("/login", data={"email": email, "password": password,
                                                 "csrf_token": token})
    assert response.status_code == 303, response.text


def csrf_from(html: str) -> str:
    """The page's CSRF token; "" for a public page, whose form is checked by its origin."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    return match.group(1) if match else ""
