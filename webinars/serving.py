"""How `webinars run` and `webinars serve` listen: one uvicorn process, or several behind one
port (`serve --workers N`), each building its own runtime in the app's lifespan.

uvicorn picks uvloop and httptools when they are installed (`uvicorn[standard]`, a dependency).
"""

from __future__ import annotations

import logging
import os
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp
from uvicorn.supervisors.multiprocess import Multiprocess

from .config import AppConfig, ConfigError, load

log = logging.getLogger("webinars")

#: uvicorn's exit status when the app did not start (its lifespan failed).
STARTUP_FAILURE = 3
#: What each process of `serve --workers N` imports and calls (uvicorn's factory).
FACTORY = "webinars.serving:served_app"


def uvicorn_config(app: ASGIApp | str, config: AppConfig, *, workers: int = 1
                   ) -> uvicorn.Config:
    """X-Forwarded-For and -Proto are believed only from the FORWARDED_ALLOW_IPS proxies; with
    none, the client is the peer (the login rate limit counts by it, so a header anyone can
    send must not choose it). The app's lifespan builds what it serves with, so a failed
    start-up stops the server instead of serving without it."""
    trusted = list(config.forwarded_allow_ips)
    return uvicorn.Config(app, host=config.host, port=config.port, log_level="info",
                          proxy_headers=bool(trusted), forwarded_allow_ips=trusted,
                          lifespan="on", workers=workers, factory=isinstance(app, str))


def serve(config: AppConfig, *, in_process: bool, workers: int = 1) -> int:
    """Serve until stopped (SIGTERM, Ctrl-C); the lifespan builds and closes the runtime."""
    from .app import create_app
    from .logs import install

    if workers > 1:
        return serve_processes(config, workers)
    install()
    server = uvicorn.Server(uvicorn_config(create_app(config=config, in_process=in_process),
                                           config))
    try:
        server.run()  # on uvloop when installed
    except SystemExit as exc:  # uvicorn's own exit when the lifespan failed
        return exc.code if isinstance(exc.code, int) else STARTUP_FAILURE
    return 0 if server.started else STARTUP_FAILURE


def serve_processes(config: AppConfig, workers: int) -> int:
    """`workers` processes accepting on one socket bound here; this process only supervises
    them (replaces one that dies, stops them all on SIGTERM and waits for their shutdown).

    Each process loads the settings itself (`served_app`): --host and --port reach it as HOST
    and PORT, which they override anyway, so every process computes the same BASE_URL."""
    os.environ["HOST"], os.environ["PORT"] = config.host, str(config.port)
    server_config = uvicorn_config(FACTORY, config, workers=workers)
    supervisor = Multiprocess(server_config, sockets=[server_config.bind_socket()])
    supervisor.run()
    failed = any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
    return STARTUP_FAILURE if failed else 0


def served_app() -> Starlette:
    """uvicorn's app factory in each process of `serve --workers N`: the app whose lifespan
    builds this process's own runtime (engine, HTTP session, queue) and closes it."""
    from .app import create_app
    from .logs import install

    try:
        config = load()
    except ConfigError as exc:  # the supervisor checked the same settings; they changed since
        log.error("error: %s", exc)
        sys.exit(STARTUP_FAILURE)
    install()
    return create_app(config=config, in_process=False)
