"""Signing organizers in and out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..accounts import authenticate, login_blocked
from ..i18n import gettext
from .common import clock, db, locale, read_form, redirect, render
from .routing import route


def safe_next(target: str | None) -> str:
    """Only local paths: an open redirect would let a phishing link borrow our domain."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/dashboard"


async def login_page(request: Request) -> Response:
    if "account_id" in request.session:
        return redirect("/dashboard")
    return render(request, "pages/login.html", {"next": request.query_params.get("next", "")})


async def login(request: Request) -> Response:
    form = await read_form(request)
    email = str(form.get("email") or "")[:254]
    password = str(form.get("password") or "")[:1000]
    target = safe_next(str(form.get("next") or ""))
    client = request.client.host if request.client else "unknown"
    lang = locale(request)
    async with db(request) as session:
        if await login_blocked(session, clock(request), email, client):
            return render(request, "pages/login.html", {
                "error": gettext(lang, "Too many attempts. Try again in 15 minutes."),
                "email": email, "next": target}, status_code=429)
        account = await authenticate(session, clock(request), email, password, client)
        await session.commit()
    if account is None:
        return render(request, "pages/login.html", {
            "error": gettext(lang, "Wrong e-mail or password."), "email": email,
            "next": target}, status_code=400)
    request.session.clear()  # a fresh session on login: no fixation
    request.session["account_id"] = account.id
    request.session["locale"] = account.locale
    return redirect(target)


async def logout(request: Request) -> Response:
    await read_form(request)
    request.session.clear()
    return redirect("/login")


routes = [
    route("/login", GET=login_page, POST=login),
    route("/logout", POST=logout),
]
