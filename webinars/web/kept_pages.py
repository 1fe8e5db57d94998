"""Kept public pages answered in front of the application.

A crowd sent to an event by an announcement is mostly people without an account or a session.
For them a kept page (`webinars.page_cache`) depends only on the path, the browser's languages
and its zone cookie, so it is answered here, before the session, compression and routing
layers, which would cost more than the answer itself (bench/pages.py). Everything else goes
through the application as usual, which is also what renders, keeps and renews the pages: a
session cookie, a query string (`?lang=`, `?page=`), a page not kept, or one past half its time
(its handler serves it and renders the next one).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from ..i18n import pick_locale
from ..page_cache import Key, Page
from ..runtime import Runtime
from .common import ZONE_COOKIE, zone_from_cookie
from .public import event_page_key, org_page_key

Headers = Sequence[tuple[bytes, bytes]]


def key_of(path: str, lang: str, zone: str | None) -> Key | None:
    """The page cache's key of a public page's address (its first page), else None."""
    parts = path.split("/")
    if len(parts) == 3 and parts[1] == "w":
        return event_page_key(parts[2], lang, zone)
    if len(parts) == 3 and parts[1] == "o":
        return org_page_key(parts[2], False, 1, lang, zone)
    if len(parts) == 4 and parts[1] == "o" and parts[3] == "archive":
        return org_page_key(parts[2], True, 1, lang, zone)
    return None


class KeptPages:
    def __init__(self, app: ASGIApp, *, session_cookie: str, headers: Headers) -> None:
        self.app = app
        self.session_cookie = session_cookie
        self.headers = list(headers)  # what every response gets (SecurityHeaders.DEFAULTS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            answer = self.kept(scope)
            if answer is not None:
                page, gzip = answer
                body, headers = page.answer(gzip)
                # As the layers behind would: it varies with the encoding (the compression
                # layer) and with the cookies (the session layer: every page reads it).
                headers["Vary"] = "Accept-Encoding, Cookie"
                raw = [(b"content-type", b"text/html; charset=utf-8"),
                       (b"content-length", str(len(body)).encode())]
                raw += [(name.lower().encode(), value.encode()) for name, value in
                        headers.items()]
                await send({"type": "http.response.start", "status": 200,
                            "headers": raw + self.headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def kept(self, scope: Scope) -> tuple[Page, bool] | None:
        """The fresh kept page this visitor would be shown, and whether they take gzip."""
        rt: Runtime = scope["app"].state.runtime
        ttl = rt.config.page_cache_seconds
        if ttl <= 0:
            return None
        cookie = languages = encodings = ""
        for name, value in scope["headers"]:
            if name == b"cookie":
                cookie = value.decode("latin-1")
            elif name == b"accept-language":
                languages = value.decode("latin-1")
            elif name == b"accept-encoding":
                encodings = value.decode("latin-1")
        cookies = cookie_parser(cookie) if cookie else {}
        if self.session_cookie in cookies:
            return None
        lang = pick_locale(None, languages, rt.config.default_locale)
        key = key_of(scope["path"], lang, zone_from_cookie(cookies.get(ZONE_COOKIE, "")))
        page = rt.pages.fresh(key, rt.clock.now(), ttl) if key is not None else None
        return (page, "gzip" in encodings) if page is not None else None
