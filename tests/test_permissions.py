"""Who may see and change what on the organizer pages.

The tree: federal → two regions (Volga, Siberia); Volga → a city → a school. One organizer at
the federal level, one in each region, one in the school. A role covers its organization and
everything below it; anything else is 403 (an HTML page) and leaves the database as it was.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webinars import webhooks
from webinars.app import create_app
from webinars.clock import FixedClock
from webinars.models import (
    Account,
    ApiToken,
    Delivery,
    Organization,
    OrganizationBrand,
    OutboxMessage,
    Registration,
    WebhookEndpoint,
    WebhookMessage,
    Webinar,
)
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.runtime import Runtime

from .api_support import registration_body, webinar_body
from .conftest import SECRET
from .factories import (
    csrf_from,
    login,
    make_account,
    make_org,
    make_registration,
    make_token,
    make_webinar,
)
from .test_routing import flat_routes

ORGS = ("federal", "volga", "siberia", "city", "school")
ORGANIZERS = ("federal", "volga", "siberia", "school")
#: Organizer → the organizations (and so the webinars) they manage.
MANAGES = {
    "federal": {"federal", "volga", "siberia", "city", "school"},
    "volga": {"volga", "city", "school"},
    "siberia": {"siberia"},
    "school": {"school"},
}
#: Organizer → the organizations above theirs, whose public events they may adopt.
ABOVE = {"federal": set(), "volga": {"federal"}, "siberia": {"federal"},
         "school": {"federal", "volga", "city"}}
#: Organization → the organizers below it, who may adopt its public events.
BELOW = {name: {who for who in ORGANIZERS if name in ABOVE[who]} for name in ORGS}
#: Where such an event shows to them: the dashboard's list and the adopt page.
ADOPTION_VIEWS = {("GET", "/dashboard"), ("GET", "/webinars/{id}/adopt")}


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
        page = (await client.get("/dashboard")).text
        # The public events of the levels above are listed apart, to take into one's plan.
        dashboard, _, rest = page.partition('<table class="webinars from-above">')
        above, _, after = rest.partition("</table>")
        dashboard += after
        form = (await client.get("/webinars/new")).text
        for name, webinar in tree.webinars.items():
            allowed = name in MANAGES[who]
            assert (webinar.title in dashboard) is allowed, (who, name)
            assert (webinar.title in above) is (name in ABOVE[who]), (who, name)
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


# --- every route behind a login, walked from the app's route table ----------------------------

#: Path parameters that are capabilities themselves (an unguessable key, a personal token): the
#: routes holding one are public by design and answer to whoever holds the address.
CAPABILITY_PARAMS = {"public_id", "token", "slug", "feed_token", "proof", "feed_id", "key"}


@dataclass
class Victim:
    """What an organizer of another organization must never see or change."""

    org: Organization
    webinar: Webinar
    registration_id: int
    message_id: int
    token_id: int
    endpoint_id: int
    webhook_message_id: int
    account_id: int
    role_id: int
    markers: tuple[str, ...]


async def victim_data(session: AsyncSession, clock: FixedClock, queue: InProcessQueue,
                      tree: Tree, name: str) -> Victim:
    webinar = tree.webinars[name]
    registration = await make_registration(session, clock, webinar, name="Тайный Участник",
                                           email=f"secret-{name}@members.example")
    await make_token(session, clock, tree.accounts[name])
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()  # the invitations are in the outbox now
    message_id = await session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.webinar_id == webinar.id).limit(1))
    token_id = await session.scalar(select(ApiToken.id).where(
        ApiToken.account_id == tree.accounts[name].id))
    assert message_id is not None and token_id is not None
    url = f"https://hooks.example/secret-{name}"
    created = await webhooks.create(
        session, tree.accounts[name], tree.orgs[name].id,
        webhooks.endpoint_input({"url": url}, allow_loopback=False, partial=False),
        secret_key=SECRET, now=clock.now())
    ping = await webhooks.ping(session, created.endpoint, clock.now())
    await session.commit()  # the ping's job is not queued: nothing is sent anywhere
    return Victim(tree.orgs[name], webinar, registration.id, message_id, token_id,
                  created.endpoint.id, ping.id, tree.accounts[name].id,
                  tree.accounts[name].roles[0].id,
                  markers=(webinar.title, tree.orgs[name].name, registration.name,
                           registration.email, url))


def fill(path: str, victim: Victim) -> str:
    """The path with the victim's ids; a parameter this test does not know fails it, so a new
    route behind a login is walked too once its ids are added here."""
    ids = {"registration_id": victim.registration_id, "webinar_id": victim.webinar.id,
           "platform": "zoom", "organization_id": victim.org.id,
           "endpoint_id": victim.endpoint_id, "message_id": victim.webhook_message_id,
           "table": "organizations", "number": 1,
           "id": (victim.message_id if path.startswith("/outbox/")
                  else victim.token_id if path.startswith("/tokens/")
                  else victim.endpoint_id if path.startswith("/webhooks/")
                  else victim.account_id if path.startswith("/people/")
                  else victim.role_id if path.startswith("/roles/")
                  else victim.org.id if path.startswith("/organizations/")
                  else victim.webinar.id)}
    for name in re.findall(r"{(\w+)}", path):
        if name not in ids:
            pytest.fail(f"{path}: no value for {{{name}}}; add the victim's row to fill()")
        path = path.replace(f"{{{name}}}", str(ids[name]))
    return path


async def victims_rows(runtime: Runtime, victim: Victim) -> tuple[Any, ...]:
    webinars = await snapshot(runtime)
    async with runtime.sessionmaker() as session:
        registration = await session.get(Registration, victim.registration_id)
        token = await session.get(ApiToken, victim.token_id)
        messages = (await session.scalars(select(OutboxMessage.id))).all()
        endpoint = await session.get(WebhookEndpoint, victim.endpoint_id)
        hook_message = await session.get(WebhookMessage, victim.webhook_message_id)
        # A logo, colour or description set anywhere (the tree's brand is nobody's here).
        brands = (await session.execute(select(
            OrganizationBrand.organization_id, OrganizationBrand.color,
            OrganizationBrand.description, OrganizationBrand.logo_version))).all()
        assert registration is not None and token is not None
        return (webinars, registration.status, token.revoked_at, len(messages), brands,
                endpoint and (endpoint.enabled, endpoint.url, endpoint.kinds),
                hook_message and (hook_message.status, hook_message.attempts))


@pytest.mark.parametrize(("intruder", "owner"), [("siberia", "school"), ("school", "volga")],
                         ids=["sibling-region", "ancestor"])
async def test_no_route_behind_a_login_shows_or_changes_another_organizations_data(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, session: AsyncSession,
    queue: InProcessQueue, intruder: str, owner: str,
) -> None:
    tree = await build_tree(session, clock)
    victim = await victim_data(session, clock, queue, tree, owner)
    intruder_token = await make_token(session, clock, tree.accounts[intruder])
    await session.commit()
    before = await victims_rows(runtime, victim)
    anonymous_csrf = csrf_from((await client.get("/login")).text)
    anonymous_cookies = httpx.Cookies(client.cookies)
    csrf = await switch_to(client, intruder)
    intruder_cookies = httpx.Cookies(client.cookies)
    walked: list[tuple[str, str]] = []
    for template, item in flat_routes(create_app(runtime).routes):
        if CAPABILITY_PARAMS & set(re.findall(r"{(\w+)}", template)) or template == "/logout":
            continue
        api = template.startswith("/api/")
        path = fill(template, victim)
        for method in sorted((item.methods or set()) - {"HEAD"}):
            if api:
                body = registration_body() if path.endswith("/registrations") \
                    else webinar_body(victim.org)
                kwargs: dict[str, Any] = {} if method == "GET" else {"json": body}
                anonymous = await client.request(method, path, **kwargs)
                if anonymous.status_code != 401:
                    continue  # the document, open to anyone
                kwargs["headers"] = {"Authorization": f"Bearer {intruder_token}"}
            else:
                form = {**edit_form(victim.webinar, victim.org, anonymous_csrf), "name": "x"}
                kwargs = {} if method == "GET" else {"data": form}
                client.cookies = anonymous_cookies
                anonymous = await client.request(method, path, **kwargs)
                if not (anonymous.status_code == 303
                        and anonymous.headers["location"].startswith("/login")):
                    continue  # a public page
                client.cookies = intruder_cookies
                if method != "GET":
                    kwargs["data"] = {**form, "csrf_token": csrf}
            response = await client.request(method, path, **kwargs)
            walked.append((method, template))
            # A public event of a level above is the intruder's to take into their plan: its
            # title and organization may show there, nothing else of the owner's.
            adoptable = intruder in BELOW[owner] and (method, template) in ADOPTION_VIEWS
            if adoptable and "{" in template:
                assert response.status_code == 200, (method, template, response.text)
            elif "{" in template:
                assert response.status_code in (403, 404), (method, template, response.text)
            else:  # a listing or a form of the intruder's own: it may answer, without the data
                assert response.status_code < 500, (method, template, response.text)
            for marker in victim.markers[2:] if adoptable else victim.markers:
                assert marker not in response.text, (method, template, marker)
    client.cookies = intruder_cookies
    assert (await client.get("/dashboard")).status_code == 200  # still signed in throughout
    assert await victims_rows(runtime, victim) == before
    # The walk reached the pages and endpoints an organizer has (a broken probe walks nothing).
    for expected in [("GET", "/dashboard"), ("POST", "/webinars/new"), ("GET", "/outbox/{id}"),
                     ("POST", "/webinars/{id}/deliveries/{registration_id}/resend"),
                     ("POST", "/tokens/{id}/revoke"), ("GET", "/api/v1/organizations"),
                     ("POST", "/api/v1/webinars"),
                     ("PATCH", "/api/v1/webinars/{webinar_id}"),
                     ("POST", "/organizations/{id}/logo")]:
        assert expected in walked, expected
