"""The ASGI application: routes, middleware and error handlers, assembled in one place."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .api import v1 as api_v1
from .assets import StaticAssets
from .config import AppConfig, ConfigError
from .errors import DomainError, ValidationFailed
from .i18n import gettext
from .limits import RateLimited
from .logs import redact_path
from .queue import ArqQueue, InProcessQueue
from .runtime import Runtime, build_runtime
from .web import (
    activity,
    adoption,
    auth,
    branding,
    feeds,
    hooks,
    organizer,
    orgs,
    outbox,
    people,
    plan,
    platforms,
    public,
    reports,
    series,
    series_reports,
    webhooks,
)
from .web.common import locale, redirect, render, signed_in
from .web.kept_pages import KeptPages
from .web.routing import route

log = logging.getLogger(__name__)

SESSION_COOKIE = "webinars_session"


async def home(request: Request) -> Response:
    return redirect("/dashboard" if signed_in(request) else "/calendar")


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


#: Pages load their CSS and JavaScript from /static and nothing from anywhere else, so an
#: injected <script>, style= or on...= attribute does nothing. Forms post only here.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class SecurityHeaders:
    """Defaults every response gets unless a handler chose its own (pure ASGI, no buffering)."""

    DEFAULTS = (
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in self.DEFAULTS if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    fields = exc.fields if isinstance(exc, ValidationFailed) else {}
    headers = ({"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None)
    if wants_json(request):
        body: dict[str, Any] = {"error": exc.message, "fields": fields}
        if code := getattr(exc, "code", None):
            body["code"] = code
        return JSONResponse(body, status_code=exc.status_code, headers=headers)
    lang = locale(request)
    title = {404: "Not found", 403: "Forbidden"}.get(exc.status_code, "Error")
    response = render(request, "pages/error.html", {"title": gettext(lang, title),
                                                    "message": gettext(lang, exc.message)},
                      status_code=exc.status_code)
    response.headers.update(headers or {})
    return response


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (301, 302, 303, 307) and exc.headers:
        return Response(status_code=exc.status_code, headers=exc.headers)
    if wants_json(request):
        return JSONResponse({"error": exc.detail, "fields": {}}, status_code=exc.status_code,
                            headers=exc.headers)
    lang = locale(request)
    title = {404: "Not found", 403: "Forbidden"}.get(exc.status_code, "Error")
    page = render(request, "pages/error.html", {"title": gettext(lang, title),
                                                "message": gettext(lang, exc.detail)},
                  status_code=exc.status_code)
    page.headers.update(exc.headers or {})  # e.g. a 405's Allow
    return page


async def on_client_disconnect(request: Request, exc: Exception) -> Response:
    """The client left before its body arrived: nothing broke and nobody waits for an answer,
    so one line without a traceback (the path redacted, as personal addresses carry tokens)."""
    assert isinstance(exc, ClientDisconnect)
    log.info("client disconnected before sending the whole request: %s %s", request.method,
             redact_path(request.url.path))
    return Response(status_code=499)  # nginx's "client closed request"; servers drop it


async def on_server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, redact_path(request.url.path))
    if wants_json(request):
        return JSONResponse({"error": "internal error", "fields": {}}, status_code=500)
    return Response("internal error", status_code=500, media_type="text/plain")


async def open_runtime(config: AppConfig, *, in_process: bool) -> Runtime:
    """The runtime a served app shares, with its queue: `webinars run` runs the worker's jobs
    in this process (`in_process`), `webinars serve` puts them on Redis for `webinars worker`.

    Closing the runtime closes the queue: the in-process jobs finish what is on the wire and
    give back the rest, then the worker signs off.
    """
    # workers → webinars is the dependency's direction; only serving reaches back, at start-up.
    from workers import FUNCTIONS, PERIODIC
    from workers.presence import start_embedded_worker, stop_worker

    runtime = await build_runtime(config)
    try:
        if in_process:
            queue = InProcessQueue(FUNCTIONS, {}, runtime.clock, cron=PERIODIC,
                                   on_startup=start_embedded_worker, on_shutdown=stop_worker)
            runtime.queue = queue
            queue.ctx.update(runtime.job_context())
            await queue.start()
        else:
            if not config.redis_url:
                raise ConfigError("REDIS_URL", "is required to put jobs on the arq queue")
            runtime.queue = await ArqQueue.connect(config.redis_url)
    except BaseException:
        await runtime.close()
        raise
    return runtime


def create_app(runtime: Runtime | None = None, *, config: AppConfig | None = None,
               in_process: bool | None = None) -> Starlette:
    """The app around an injected runtime (the caller owns and closes it), or around one the
    app's lifespan builds from `config` and closes at shutdown.

    `in_process` chooses the lifespan's queue (`open_runtime`); unset, jobs run in this
    process unless REDIS_URL is set.
    """
    if runtime is not None:
        if config is not None and config != runtime.config:
            raise ValueError("pass either a runtime or a config, not two different ones")
        config = runtime.config
    elif config is None:
        raise ValueError("create_app needs a runtime or a config")
    app_config, injected = config, runtime
    worker_here = app_config.redis_url is None if in_process is None else in_process

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if injected is not None:
            yield
            return
        built = await open_runtime(app_config, in_process=worker_here)
        app.state.runtime = built
        try:
            yield
        finally:
            await built.close()

    # Starlette tries routes in order: the public pages a crowd comes to are tried first (no
    # other route's path matches theirs; tests/test_routing.py checks every route answers).
    routes = [
        *public.routes,
        route("/", GET=home),
        route("/healthz", GET=healthz),
        Mount("/static", StaticAssets(), name="static"),
        *auth.routes,
        *organizer.routes,
        *adoption.routes,
        *series.routes,
        *plan.routes,
        *feeds.routes,
        *outbox.routes,
        *webhooks.routes,
        *activity.routes,
        *reports.routes,
        *series_reports.routes,
        *hooks.routes,
        *platforms.routes,
        *orgs.routes,
        *branding.routes,
        *people.routes,
        Mount("/api/v1", routes=api_v1.routes),
    ]
    middleware = [
        Middleware(KeptPages, session_cookie=SESSION_COOKIE, headers=SecurityHeaders.DEFAULTS),
        # Pages and feeds shrink 4-8x; level 6 costs a fraction of 9's CPU for nearly the
        # same size, and bodies under 1 KB are not worth a frame.
        Middleware(GZipMiddleware, minimum_size=1000, compresslevel=6),
        Middleware(SecurityHeaders),
        Middleware(SessionMiddleware, secret_key=app_config.secret_key,
                   session_cookie=SESSION_COOKIE, same_site="lax",
                   https_only=app_config.https, max_age=14 * 24 * 3600),
    ]
    exception_handlers: dict[Any, Any] = {
        DomainError: on_domain_error,
        HTTPException: on_http_error,
        ClientDisconnect: on_client_disconnect,
        Exception: on_server_error,
    }
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=exception_handlers,
                    lifespan=lifespan)
    if injected is not None:
        app.state.runtime = injected
    return app
