"""Signing organizers in and out, and changing the password.

The cookie only names a server-side session (`accounts.start_session`): logging out deletes it
and a new password deletes every session of the account, so a copied cookie stops working.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..accounts import authenticate, change_password, end_session, login_wait, start_session
from ..errors import ValidationFailed
from ..i18n import gettext
from ..organizations import is_admin
from .common import (
    SESSION_ID,
    client_address,
    clock,
    db,
    locale,
    read_form,
    redirect,
    render,
    require_account,
    signed_in,
)
from .organizer import reason_text
from .routing import route


def safe_next(target: str | None) -> str:
    """Only local paths: an open redirect would let a phishing link borrow our domain."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/dashboard"


async def login_page(request: Request) -> Response:
    if signed_in(request):
        return redirect("/dashboard")
    return render(request, "pages/login.html", {"next": request.query_params.get("next", "")})


async def login(request: Request) -> Response:
    form = await read_form(request)
    email = str(form.get("email") or "")[:254]
    password = str(form.get("password") or "")[:1000]
    target = safe_next(str(form.get("next") or ""))
    client = client_address(request)
    lang = locale(request)
    async with db(request) as session:
        wait = await login_wait(session, clock(request), email, client)
        if wait:
            response = render(request, "pages/login.html", {
                "error": gettext(lang, "Too many attempts. Try again in 15 minutes."),
                "email": email, "next": target}, status_code=429)
            response.headers["Retry-After"] = str(wait)
            return response
        account = await authenticate(session, clock(request), email, password, client)
        session_id = await start_session(session, clock(request), account) if account else None
        await session.commit()
    if account is None or session_id is None:
        return render(request, "pages/login.html", {
            "error": gettext(lang, "Wrong e-mail or password."), "email": email,
            "next": target}, status_code=400)
    request.session.clear()  # a fresh session on login: no fixation
    request.session[SESSION_ID] = session_id
    request.session["locale"] = account.locale
    request.session["admin"] = is_admin(account)
    return redirect(target)


async def logout(request: Request) -> Response:
    await read_form(request)
    session_id = request.session.get(SESSION_ID)
    if isinstance(session_id, str):
        async with db(request) as session:
            await end_session(session, session_id)
            await session.commit()
    request.session.clear()
    return redirect("/login")


async def password_page(request: Request) -> Response:
    async with db(request) as session:
        await require_account(request, session)
    return render(request, "pages/password.html", {"changed": "changed" in request.query_params})


async def password_change(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        form = await read_form(request)
        try:
            session_id = await change_password(
                session, clock(request), account,
                current=str(form.get("current_password") or "")[:1000],
                new=str(form.get("new_password") or "")[:1001])
        except ValidationFailed as exc:
            lang = locale(request)
            return render(request, "pages/password.html", {
                "errors": {k: reason_text(lang, v) for k, v in exc.fields.items()}},
                status_code=422)
        await session.commit()
    request.session[SESSION_ID] = session_id  # this browser stays signed in; all others end
    return redirect("/account/password?changed=1")


routes = [
    route("/login", GET=login_page, POST=login),
    route("/logout", POST=logout),
    route("/account/password", GET=password_page, POST=password_change),
]
