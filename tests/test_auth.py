"""Signing in and out: a copied cookie dies with the session, and guessing an organizer's
password from one place never locks the organizer out from another. Both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from sqlalchemy import func, select

from webinars.app import SESSION_COOKIE, create_app
from webinars.clock import FixedClock
from webinars.models import LoginSession
from webinars.runtime import Runtime
from webinars.security import hash_password, use_hash_cost, verify_password

from .factories import PASSWORD, csrf_from, login, make_account, make_org

EMAIL = "org@union.example"


@asynccontextmanager
async def browser(runtime: Runtime, address: str = "203.0.113.5"
                  ) -> AsyncIterator[httpx.AsyncClient]:
    """A client with its own cookies, coming from `address`."""
    transport = httpx.ASGITransport(app=create_app(runtime), client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def organizer(runtime: Runtime, clock: FixedClock) -> None:
    async with runtime.sessionmaker() as session:
        org = await make_org(session, clock)
        await make_account(session, clock, org, email=EMAIL)
        await session.commit()


async def try_login(client: httpx.AsyncClient, password: str) -> httpx.Response:
    token = csrf_from((await client.get("/login")).text)
    return await client.post("/login", data={"email": EMAIL, "password": password,
                                             "csrf_token": token})


async def sessions(runtime: Runtime) -> int:
    async with runtime.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(LoginSession)) or 0)


async def test_a_copied_cookie_stops_working_after_logout(
    runtime: Runtime, clock: FixedClock
) -> None:
    await organizer(runtime, clock)
    async with browser(runtime) as mine, browser(runtime, "198.51.100.7") as thief:
        await login(mine)
        assert (await mine.get("/dashboard")).status_code == 200
        thief.cookies.set(SESSION_COOKIE, mine.cookies[SESSION_COOKIE])
        assert (await thief.get("/dashboard")).status_code == 200  # the copy works… for now
        assert await sessions(runtime) == 1

        token = csrf_from((await mine.get("/dashboard")).text)
        assert (await mine.post("/logout", data={"csrf_token": token})).status_code == 303
        assert await sessions(runtime) == 0
        refused = await thief.get("/dashboard", follow_redirects=False)
        assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
        api_like = await thief.get("/tokens", follow_redirects=False)
        assert api_like.status_code == 303


async def test_a_new_password_ends_every_other_session(
    runtime: Runtime, clock: FixedClock
) -> None:
    await organizer(runtime, clock)
    async with browser(runtime) as here, browser(runtime, "198.51.100.7") as there:
        await login(here)
        await login(there)
        assert await sessions(runtime) == 2
        form = csrf_from((await here.get("/account/password")).text)
        wrong = await here.post("/account/password", data={
            "csrf_token": form, "current_password": "not it", "new_password": "x" * 12})
        assert wrong.status_code == 422 and "это не ваш текущий пароль" in wrong.text
        short = await here.post("/account/password", data={
            "csrf_token": form, "current_password": PASSWORD, "new_password": "short"})
        assert short.status_code == 422
        assert await sessions(runtime) == 2  # nothing changed

        changed = await here.post("/account/password", data={
            "csrf_token": form, "current_password": PASSWORD,
            "new_password": "a much better passphrase"})
        assert changed.status_code == 303
        assert "Пароль изменён" in (await here.get(changed.headers["location"])).text
        assert (await here.get("/dashboard")).status_code == 200  # this browser stays in
        gone = await there.get("/dashboard", follow_redirects=False)
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
        assert await sessions(runtime) == 1
        assert (await try_login(there, PASSWORD)).status_code == 400
        assert (await try_login(there, "a much better passphrase")).status_code == 303


async def test_wrong_passwords_from_elsewhere_do_not_lock_the_owner_out(
    runtime: Runtime, clock: FixedClock
) -> None:
    await organizer(runtime, clock)
    async with browser(runtime, "198.51.100.66") as attacker:
        for _ in range(5):
            assert (await try_login(attacker, "guess")).status_code == 400
        blocked = await try_login(attacker, PASSWORD)  # even the right one, from there
        assert blocked.status_code == 429
        assert 0 < int(blocked.headers["retry-after"]) <= 15 * 60
    async with browser(runtime, "203.0.113.5") as owner:
        assert (await try_login(owner, PASSWORD)).status_code == 303
        assert (await owner.get("/dashboard")).status_code == 200
    # The attacker's window passes: they may try again (and fail again).
    clock.advance(timedelta(minutes=15, seconds=1))
    async with browser(runtime, "198.51.100.66") as attacker:
        assert (await try_login(attacker, "guess")).status_code == 400


async def test_a_client_guessing_across_addresses_is_stopped(
    runtime: Runtime, clock: FixedClock
) -> None:
    await organizer(runtime, clock)
    async with browser(runtime, "198.51.100.66") as attacker:
        for n in range(20):
            token = csrf_from((await attacker.get("/login")).text)
            answer = await attacker.post("/login", data={
                "email": f"person{n}@union.example", "password": "guess", "csrf_token": token})
            assert answer.status_code == 400
        assert (await try_login(attacker, PASSWORD)).status_code == 429
    async with browser(runtime, "203.0.113.5") as owner:
        assert (await try_login(owner, PASSWORD)).status_code == 303


def test_a_password_hashed_at_another_cost_still_verifies() -> None:
    """PASSWORD_HASH_* sets the cost of new hashes only: raising it locks nobody out."""
    use_hash_cost(1, 1024)
    old = hash_password("correct horse battery")
    try:
        use_hash_cost(2, 2048)
        assert "m=2048,t=2" in hash_password("correct horse battery")
        assert verify_password(old, "correct horse battery")
        assert not verify_password(old, "wrong horse battery")
        assert not verify_password(None, "correct horse battery")
    finally:
        use_hash_cost(1, 1024)
