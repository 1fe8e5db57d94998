"""A client that goes away while sending its body is one quiet log line, not an error.

Mobile members lose their connection mid-form all the time; an operator paged by tracebacks
for that learns to ignore the error log. Each case sends part of a body and then the ASGI
`http.disconnect` (or, over a real socket, closes it), and checks what the logs got.
"""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import pytest

from webinars.app import create_app
from webinars.runtime import Runtime

from .browser import live_app
from .factories import make_account, make_org, make_token

TOKEN = "PersonalToken_0123456789abcdef"  # the shape of a registration token: never logged
FORM = ("POST", f"/r/{TOKEN}/cancel", "application/x-www-form-urlencoded", b"csrf_token=abc")
API = ("POST", "/api/v1/webinars", "application/json", b'{"title": "Half a web')


async def api_token(runtime: Runtime) -> str:
    async with runtime.sessionmaker() as session:
        org = await make_org(session, runtime.clock)
        account = await make_account(session, runtime.clock, org)
        token = await make_token(session, runtime.clock, account)
        await session.commit()
    return token


async def send_half(runtime: Runtime, method: str, path: str, content_type: str, part: bytes,
                    headers: dict[str, str]) -> list[dict[str, object]]:
    """Call the app as a server would for a client that sends `part` of 1000 bytes and leaves."""
    app = create_app(runtime)
    incoming = [{"type": "http.request", "body": part, "more_body": True}]

    async def receive() -> dict[str, object]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    raw = {"host": "testserver", "content-type": content_type, "content-length": "1000",
           **headers}
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000),
             "server": ("testserver", 80),
             "headers": [(k.encode(), v.encode()) for k, v in raw.items()]}
    await app(scope, receive, send)  # a server logs whatever escapes here as a second traceback
    return sent


def assert_one_quiet_line(caplog: pytest.LogCaptureFixture, method: str, path: str) -> None:
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    ours = [r for r in caplog.records if r.name.startswith("webinars")]
    assert len(ours) == 1, caplog.text
    line = ours[0]
    assert line.exc_info is None and line.levelno <= logging.WARNING
    message = line.getMessage()
    assert "disconnect" in message and method in message and path in message
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("endpoint", [FORM, API], ids=["form", "api"])
async def test_a_body_cut_short_is_one_quiet_line(
    runtime: Runtime, caplog: pytest.LogCaptureFixture, endpoint: tuple[str, str, str, bytes]
) -> None:
    method, path, content_type, part = endpoint
    headers = {"authorization": f"Bearer {await api_token(runtime)}"} if endpoint is API else {}
    with caplog.at_level(logging.INFO):
        sent = await send_half(runtime, method, path, content_type, part, headers)
    assert_one_quiet_line(caplog, method, path.replace(TOKEN, "…"))
    assert 500 not in [m["status"] for m in sent if m["type"] == "http.response.start"]


class Heard(logging.Handler):
    """Tells the test thread when the server thread has logged about the request."""

    def __init__(self) -> None:
        super().__init__()
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.event.set()


@pytest.mark.parametrize("endpoint", [FORM, API], ids=["form", "api"])
def test_a_real_socket_closed_mid_body_is_one_quiet_line(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    endpoint: tuple[str, str, str, bytes]
) -> None:
    method, path, content_type, part = endpoint
    uvicorn_log = logging.getLogger("uvicorn")  # uvicorn's own loggers do not reach the root
    heard = Heard()
    with caplog.at_level(logging.INFO):
        with live_app(database_url, tmp_path) as (served, server):
            uvicorn_log.addHandler(caplog.handler)
            logging.getLogger("webinars").addHandler(heard)
            try:
                auth = ""
                if endpoint is API:
                    assert served.runtime is not None
                    auth = f"Authorization: Bearer {served.run(api_token(served.runtime))}\r\n"
                head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                        f"Content-Type: {content_type}\r\nContent-Length: 1000\r\n{auth}\r\n")
                caplog.clear()
                with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                    sock.sendall(head.encode() + part)
                assert heard.event.wait(20), "the server logged nothing about the request"
            finally:
                logging.getLogger("webinars").removeHandler(heard)
        uvicorn_log.removeHandler(caplog.handler)  # after shutdown: its last words are heard
    assert_one_quiet_line(caplog, method, path.replace(TOKEN, "…"))
