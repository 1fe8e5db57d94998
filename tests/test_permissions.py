"""Who may see and change what on the organizer pages.

The tree: federal → two regions (Volga, Siberia); Volga → a city → a school. One organizer at
the federal level, one in each region, one in the school. A role covers its organization and
everything below it; anything else is 403 (an HTML page) and leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import FixedClock
from webinars.models import Account, Delivery, Organization, Webinar
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime

from .factories import csrf_from, login, make_account, make_org, make_registration, make_webinar

ORGS = ("federal", "volga", "siberia", "city", "school")
ORGANIZERS = ("federal", "volga", "siberia", "school")
#: Organizer → the organizations (and so the webinars) they manage.
MANAGES = {
    "federal": {"federal", "volga", "siberia", "city", "school"},
    "volga": {"volga", "city", "school"},
    "siberia": {"siberia"},
    "school": {"school"},
}


@pytest.fixture(autouse=True)
async def settle(queue: InProcessQueue) -> AsyncIterator[None]:
    """Let the jobs a test's requests queued finish before the runtime closes under them."""
    yield
    await queue.drain()


@dataclass
class Tree:
    orgs: dict[str, Organization]
    accounts: dict[str, Account]
    webinars: dict[str, Webinar]


async def build_tree(session: AsyncSession, clock: FixedClock) -> Tree:
    federal = await make_org(session, clock, "federal", name="Профсоюз", level="federal")
    volga = await make_org(session, clock, "volga", parent=federal, name="Поволжье",
                           timezone="Europe/Samara", level="regional")
    siberia = await make_org(session, clock, "siberia", parent=federal, name="Сибирь",
                             timezone="Asia/Novosibirsk", level="regional")
    city = await make_org(session, clock, "city", parent=volga, name="Самара",
                          timezone="Europe/Samara", level="municipal")
    school = await make_org(session, clock, "school", parent=city, name="Школа № 7",
                            timezone="Europe/Samara", level="primary")
    orgs = {"federal": federal, "volga": volga, "siberia": siberia, "city": city,
            "school": school}
    accounts = {name: await make_account(session, clock, orgs[name], f"{name}@union.example")
                for name in ORGANIZERS}
    webinars: dict[str, Webinar] = {}
    for name, org in orgs.items():
        owner = next(accounts[a] for a in ORGANIZERS if name in MANAGES[a])
        webinars[name] = await make_webinar(session, clock, owner, org,
                                            title=f"Вебинар: {org.name}")
        await make_registration(session, clock, webinars[name])
    await session.commit()
    return Tree(orgs, accounts, webinars)


async def snapshot(runtime: Runtime) -> dict[int, tuple[Any, ...]]:
    async with runtime.sessionmaker() as session:
        rows = (await session.scalars(select(Webinar).order_by(Webinar.id))).unique().all()
        deliveries = len((await session.scalars(select(Delivery.id))).all())
        return {w.id: (w.title, w.status, w.sequence, w.organization_id, w.capacity,
                       w.updated_at, deliveries) for w in rows}


async def switch_to(client: httpx.AsyncClient, name: str) -> str:
    client.cookies.clear()
    await login(client, f"{name}@union.example")
    return csrf_from((await client.get("/dashboard")).text)


def edit_form(webinar: Webinar, org: Organization, csrf: str, **changes: str) -> dict[str, str]:
    return {"title": "Захвачено", "description": "", "kind": "webinar",
            "organization_id": str(org.id), "date": "2026-12-20", "time": "12:00",
            "timezone": "", "duration_minutes": "60", "capacity": "7", "visibility": "public",
            "platform": "jitsi", "reminder_offsets": "", "status": "scheduled",
            "recording_url": "", "followup_note": "", "csrf_token": csrf, **changes}


def is_forbidden_page(response: httpx.Response) -> bool:
    return (response.status_code == 403
            and response.headers["content-type"].startswith("text/html")
            and "Доступ запрещён" in response.text)


async def test_each_organizer_sees_only_their_subtree(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession
) -> None:
    tree = await build_tree(session, clock)
    for who in ORGANIZERS:
        await switch_to(client, who)
        dashboard = (await client.get("/dashboard")).text
        form = (await client.get("/webinars/new")).text
        for name, webinar in tree.webinars.items():
            allowed = name in MANAGES[who]
            assert (webinar.title in dashboard) is allowed, (who, name)
            assert (f'<option value="{tree.orgs[name].id}"' in form) is allowed, (who, name)
            for suffix in ("", "/edit", "/registrants", "/cancel"):
                response = await client.get(f"/webinars/{webinar.id}{suffix}")
                if allowed:
                    assert response.status_code == 200, (who, name, suffix)
                else:
                    assert is_forbidden_page(response), (who, name, suffix)
                    assert "member@school.example" not in response.text
                    assert webinar.title not in response.text


async def test_changes_outside_the_subtree_are_refused_and_change_nothing(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession
) -> None:
    tree = await build_tree(session, clock)
    before = await snapshot(runtime)
    for who in ORGANIZERS:
        csrf = await switch_to(client, who)
        for name, webinar in tree.webinars.items():
            if name in MANAGES[who]:
                continue
            edit = await client.post(f"/webinars/{webinar.id}/edit",
                                     data=edit_form(webinar, tree.orgs[name], csrf))
            cancel = await client.post(f"/webinars/{webinar.id}/cancel",
                                       data={"csrf_token": csrf})
            assert is_forbidden_page(edit) and is_forbidden_page(cancel), (who, name)
        # creating in an organization outside the subtree, even with a valid form
        for name, org in tree.orgs.items():
            if name in MANAGES[who]:
                continue
            create = await client.post("/webinars/new", data=edit_form(
                tree.webinars[name], org, csrf, title="Подложенный"))
            assert is_forbidden_page(create), (who, name)
    # moving an own webinar into someone else's organization
    csrf = await switch_to(client, "volga")
    move = await client.post(f"/webinars/{tree.webinars['city'].id}/edit",
                             data=edit_form(tree.webinars["city"], tree.orgs["siberia"], csrf))
    assert is_forbidden_page(move)
    assert await snapshot(runtime) == before


async def test_changes_inside_the_subtree_are_allowed(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession
) -> None:
    tree = await build_tree(session, clock)
    plan = [("federal", "siberia"), ("volga", "school"), ("siberia", "siberia"),
            ("school", "school")]
    for who, name in plan:
        csrf = await switch_to(client, who)
        webinar = tree.webinars[name]
        response = await client.post(f"/webinars/{webinar.id}/edit", data=edit_form(
            webinar, tree.orgs[name], csrf, title=f"Правка: {who}"))
        assert response.status_code == 303, (who, name, response.text)
        response = await client.post("/webinars/new", data=edit_form(
            webinar, tree.orgs[name], csrf, title=f"Новый от {who}"))
        assert response.status_code == 303, (who, name, response.text)
    csrf = await switch_to(client, "volga")
    response = await client.post(f"/webinars/{tree.webinars['city'].id}/cancel",
                                 data={"csrf_token": csrf})
    assert response.status_code == 303
    async with runtime.sessionmaker() as fresh:
        stored = {w.id: w for w in (await fresh.scalars(select(Webinar))).unique().all()}
    assert stored[tree.webinars["siberia"].id].title == "Правка: siberia"
    assert stored[tree.webinars["school"].id].title == "Правка: school"
    assert stored[tree.webinars["city"].id].status == "cancelled"
    assert stored[tree.webinars["federal"].id].title == "Вебинар: Профсоюз"
    assert stored[tree.webinars["volga"].id].title == "Вебинар: Поволжье"
    created = {w.title: w.organization_id for w in stored.values() if w.title.startswith("Новый")}
    assert created == {"Новый от federal": tree.orgs["siberia"].id,
                       "Новый от volga": tree.orgs["school"].id,
                       "Новый от siberia": tree.orgs["siberia"].id,
                       "Новый от school": tree.orgs["school"].id}
