"""What every HTML handler shares: templates, locale, CSRF and the signed-in user.

The runtime, the public address and commit-then-enqueue come from `webinars.requests`, which
the API shares.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from .. import catalogs
from ..accounts import account_for_session
from ..assets import static_url
from ..calendars import event_when, event_when_both
from ..clock import Clock
from ..i18n import (
    before_text,
    duration_text,
    format_when,
    format_when_both,
    pick_locale,
    zone_label,
)
from ..listings import MAX_PAGE
from ..models import Account
from ..organizations import is_admin
from ..requests import base_url, runtime
from ..resources import templates_dir
from ..security import new_token
from ..timezones import is_timezone
from .zone_picker import zone_options

TEMPLATES_DIR = templates_dir()
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
catalogs.install(templates.env)
templates.env.globals["format_when"] = format_when
templates.env.globals["event_when"] = event_when
templates.env.globals["event_when_both"] = event_when_both
templates.env.globals["format_when_both"] = format_when_both
templates.env.globals["zone_label"] = zone_label
templates.env.globals["duration_text"] = duration_text
templates.env.globals["before_text"] = before_text
templates.env.globals["zone_options_html"] = zone_options
templates.env.globals["static_url"] = static_url
templates.env.filters["isoutc"] = lambda dt: dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else ""
MAX_FORM_BYTES = 64 * 1024


def private_headers(response: Response) -> Response:
    """Pages behind a token: never cached, and the token never leaks in a Referer header."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def page_number(request: Request) -> int:
    """`?page=` of a paged list: a whole number from 1 (`listings.MAX_PAGE` at most), else 400."""
    raw = request.query_params.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise HTTPException(400, "page must be a whole number from 1")
    return int(raw)


def clock(request: Request) -> Clock:
    return runtime(request).clock


@asynccontextmanager
async def db(request: Request) -> AsyncIterator[AsyncSession]:
    async with runtime(request).sessionmaker() as session:
        yield session


@asynccontextmanager
async def one_read(request: Request) -> AsyncIterator[AsyncConnection]:
    """A connection outside any transaction, for a single read that answers most requests on
    its own (a feed poll's version): no BEGIN and ROLLBACK around it, no ORM session."""
    async with runtime(request).engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


def locale(request: Request) -> str:
    requested = request.query_params.get("lang")
    if requested in ("ru", "en"):
        request.session["locale"] = requested
    return pick_locale(request.session.get("locale"), request.headers.get("accept-language"),
                       runtime(request).config.default_locale)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = new_token()
        request.session["csrf"] = token
    return str(token)


class LazyCsrfToken:
    """The CSRF token as a page prints it, made only when a page prints it: a page without a
    form leaves the visitor's session (and so their cookies) untouched."""

    def __init__(self, request: Request) -> None:
        self.request = request

    def __str__(self) -> str:
        return csrf_token(self.request)

    __html__ = __str__


def same_origin(request: Request) -> bool:
    """Whether a browser sent this request from one of our own pages.

    Browsers say where a request comes from (`Sec-Fetch-Site`, else `Origin`) and a page on
    another site cannot hide it; a client that says neither is no browser, so no visitor's
    cookies can be lent to it by a forged form.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = {base_url(request).rstrip("/"), f"{request.url.scheme}://{request.url.netloc}"}
    return origin in own


async def read_body(request: Request, limit: int = MAX_FORM_BYTES) -> bytes:
    """The request body, refused with 413 beyond `limit` (declared or actually sent)."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise HTTPException(413, "form too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, "form too large")
    return bytes(body)


async def read_form(request: Request, *, public: bool = False) -> FormData:
    """Parse a posted form and check its CSRF token; a forged or stale form gets 403.

    A `public` form (one an anonymous visitor sends from a page kept in `PageCache`) carries
    no token: it is checked by the request's origin instead.

    Our pages post `application/x-www-form-urlencoded` only. The body must be UTF-8 all the
    way through (Starlette's parser would quietly turn bad bytes into other characters, which
    would then be stored): anything else is a 400 and nothing is written.
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("", "application/x-www-form-urlencoded"):  # "": a POST with no body
        raise HTTPException(415, "send the form as application/x-www-form-urlencoded")
    body = await read_body(request)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, encoding="utf-8",
                          errors="strict", max_num_fields=100)
    except (UnicodeDecodeError, ValueError) as exc:  # bad UTF-8 or too many fields
        raise HTTPException(400, "the form is not valid UTF-8 text") from exc
    fields: list[tuple[str, str | UploadFile]] = list(pairs)
    form = FormData(fields)
    if public:
        if not same_origin(request):
            raise HTTPException(403, "send the form from this site's own page")
        return form
    sent = form.get("csrf_token")
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "the form has expired; reload the page and try again")
    return form


def form_dict(form: FormData, *names: str) -> dict[str, Any]:
    """Only the named fields, as strings; files and unknown fields are ignored."""
    return {n: form.get(n) for n in names if isinstance(form.get(n), str)}


def client_address(request: Request) -> str:
    """The client's address as uvicorn reports it (behind trusted proxies, the forwarded one)."""
    return request.client.host if request.client else "unknown"


#: The session cookie's key for the server-side session id (`accounts.start_session`).
SESSION_ID = "sid"


def signed_in(request: Request) -> bool:
    """The browser claims a session; whether it still stands is checked when it is used."""
    return SESSION_ID in request.session


async def current_account(request: Request, session: AsyncSession) -> Account | None:
    session_id = request.session.get(SESSION_ID)
    if not isinstance(session_id, str):
        return None
    account = await account_for_session(session, clock(request), session_id)
    if account is None:
        request.session.pop(SESSION_ID, None)  # ended elsewhere: stop showing the organizer menu
        request.session.pop("admin", None)
    elif request.session.get("admin") != is_admin(account):
        request.session["admin"] = is_admin(account)  # the menu shows what the roles allow
    return account


async def require_account(request: Request, session: AsyncSession) -> Account:
    account = await current_account(request, session)
    if account is None:
        raise HTTPException(303, headers={"Location": "/login?" + urlencode(
            {"next": request.url.path})})
    return account


#: The cookie local-time.js sets to the browser's zone.
ZONE_COOKIE = "tz"


def browser_zone(request: Request) -> str | None:
    """The zone the reader's browser reported (local-time.js), if it is a zone we know."""
    return zone_from_cookie(request.cookies.get(ZONE_COOKIE, ""))


def zone_from_cookie(value: str) -> str | None:
    zone = unquote(value)
    return zone if is_timezone(zone) else None


def reader_zone(request: Request, fallback: str | None = None) -> str:
    """The zone a public page shows times in: the browser's, else `fallback` (the reader's
    organization's), else DEFAULT_TIMEZONE."""
    return browser_zone(request) or fallback or runtime(request).config.default_timezone


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    lang = locale(request)
    ctx: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "csrf_token": LazyCsrfToken(request),
        "signed_in": signed_in(request),
        "base_url": base_url(request),
        "now": runtime(request).clock.now(),
    }
    ctx.update(context or {})
    # A page that shows times in a zone other than the browser's asks local-time.js to show
    # it again in the browser's; a zone the member chose (no fallback) stays.
    ctx.setdefault("zone_fallback", "reader_zone" in ctx and browser_zone(request) is None)
    response = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def as_local_inputs(instant: datetime, zone: str) -> tuple[str, str]:
    """Split a UTC instant into the date and time inputs of a form, in `zone`."""
    from zoneinfo import ZoneInfo

    local = instant.astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M")
