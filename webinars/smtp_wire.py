"""One SMTP client connection on the wire: commands and replies (RFC 5321), STARTTLS
(RFC 3207), AUTH PLAIN and LOGIN (RFC 4954), and one message per transaction.

Hand-written for the worker's hot path, where aiosmtplib was the bottleneck: it took 0.27 to
0.36 ms of CPU a message on the 2-vCPU machine (a lock, a timeout wrapper and a reply parser
per command, and the whole message scanned twice more with regular expressions for DATA),
`SmtpMailer` over this 0.18 to 0.22 ms with its connections' set-up, for the same messages to
the same server (bench/README.md, reminders; the benchmarks print both clients' raw rates).
A connection serves one caller at a time (the mailer's pool sees to it), so there is no lock:
a command is written and its one reply awaited.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import re
import ssl
from collections.abc import Awaitable, Callable
from typing import NamedTuple, NoReturn, cast

#: A reply longer than this is not an SMTP server talking.
MAX_REPLY = 64 * 1024


class Reply(NamedTuple):
    code: int
    text: str


class SmtpError(Exception):
    """The connection cannot be used any more: it is closed."""


class Disconnected(SmtpError):
    """The server closed the connection, or it broke."""


class Timeout(SmtpError):
    """The server did not answer in time."""


class NotReady(SmtpError):
    """The server refused the session: its greeting, EHLO/HELO or STARTTLS."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"{reply.code} {reply.text}".strip())
        self.reply = reply


class LoginFailed(SmtpError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Refused(Exception):
    """The server refused this message (4xx or 5xx); the session was reset and goes on."""

    def __init__(self, what: str, reply: Reply) -> None:
        super().__init__(f"{what}: {reply.code} {reply.text}".strip())
        self.what = what
        self.reply = reply


class _Protocol(asyncio.Protocol):
    """Collects bytes until a whole reply is in, and hands it to the one waiting command."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Reply] | None = None
        self.buffer = bytearray()
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > MAX_REPLY:
            self._fail(Disconnected("the SMTP server sent an overlong reply"))
            if self.transport is not None:
                self.transport.close()
            return
        reply = complete_reply(self.buffer)
        if reply is None:
            return
        self.buffer.clear()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)
        # A reply nobody asked for (the server's 421 before closing, say) is dropped: the
        # connection's end follows and fails the next command.

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(Disconnected("the SMTP server closed the connection"))

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


def complete_reply(buffer: bytearray) -> Reply | None:
    """The reply in `buffer` once its last line is in: `250-…` lines go on, `250 …` ends."""
    if not buffer.endswith(b"\n"):
        return None
    start = buffer.rfind(b"\n", 0, len(buffer) - 1) + 1
    if buffer[start + 3:start + 4] == b"-":
        return None
    lines = bytes(buffer).decode("utf-8", "replace").splitlines()
    try:
        code = int(lines[-1][:3])
    except ValueError:
        code = 0  # not SMTP: the caller treats it as a refusal it cannot act on
    return Reply(code, "\n".join(line[4:] for line in lines).strip())


class SmtpConnection:
    """An open session, greeted (and upgraded and logged in where asked): `send` one message
    after another, `quit` or `close` at the end."""

    def __init__(self, protocol: _Protocol, timeout: float) -> None:
        self._protocol = protocol
        self._timeout = timeout
        self.extensions: dict[str, str] = {}

    @classmethod
    async def open(cls, hostname: str, port: int, *, local_hostname: str, timeout: float,
                   implicit_tls: bool = False, tls_context: ssl.SSLContext | None = None,
                   username: str | None = None, password: str | None = None
                   ) -> SmtpConnection:
        """Connect, greet, STARTTLS whenever offered (or TLS from the start), log in.
        Raises OSError (no connection, a certificate not trusted) or `SmtpError`."""
        loop = asyncio.get_running_loop()
        protocol = _Protocol()
        connection = cls(protocol, timeout)
        greeting = connection._expect()
        try:
            await asyncio.wait_for(loop.create_connection(
                lambda: protocol, hostname, port,
                ssl=(tls_context or default_tls_context()) if implicit_tls else None,
                server_hostname=hostname if implicit_tls else None), timeout)
        except TimeoutError:
            raise Timeout("the SMTP server did not answer in time") from None
        try:
            reply = await connection._wait(greeting)
            if reply.code != 220:
                raise NotReady(reply)
            await connection._greet(local_hostname)
            if not implicit_tls and "STARTTLS" in connection.extensions:
                reply = await connection.command(b"STARTTLS")
                if reply.code != 220:
                    raise NotReady(reply)
                transport = protocol.transport
                assert transport is not None
                protocol.transport = await asyncio.wait_for(loop.start_tls(
                    transport, protocol, tls_context or default_tls_context(),
                    server_hostname=hostname), timeout)
                await connection._greet(local_hostname)  # the server forgot the first one
            if username is not None:
                await connection._login(username, password or "")
        except BaseException:
            connection.close()
            raise
        return connection

    @property
    def is_connected(self) -> bool:
        transport = self._protocol.transport
        return not self._protocol.lost and transport is not None and not transport.is_closing()

    async def command(self, line: bytes) -> Reply:
        """Write one command line (CR and LF inside it refused: nothing is smuggled in) and
        return its reply."""
        if b"\r" in line or b"\n" in line:
            raise ValueError("an SMTP command may not hold a line break")
        return await self._wait(self._write(line + b"\r\n"))

    async def send(self, sender: bytes, recipient: bytes, body: bytes, size: int | None,
                   before_data: Callable[[], Awaitable[None]] | None = None) -> None:
        """MAIL, RCPT, DATA for one recipient; `sender` and `recipient` are `<paths>`, `body`
        is `data_lines(raw)`. A refusal resets the envelope and raises `Refused`."""
        mail = b"MAIL FROM:" + sender + (b" SIZE=%d" % size if size is not None else b"")
        reply = await self.command(mail)
        if reply.code != 250:
            await self._reset("sender refused", reply)
        reply = await self.command(b"RCPT TO:" + recipient)
        if reply.code not in (250, 251):
            await self._reset("recipient refused", reply)
        reply = await self.command(b"DATA")
        if reply.code != 354:
            await self._reset("message refused", reply)
        if before_data is not None:  # the last moment before the server can accept it
            await before_data()
        reply = await self._wait(self._write(body))
        if reply.code != 250:
            raise Refused("message refused", reply)  # the end of DATA resets the envelope

    async def quit(self) -> None:
        try:
            await self.command(b"QUIT")
        except (SmtpError, OSError):
            pass
        self.close()

    def close(self) -> None:
        transport = self._protocol.transport
        if transport is not None:
            transport.close()

    # --- the session's first steps ------------------------------------------------------------

    async def _greet(self, local_hostname: str) -> None:
        name = local_hostname.encode("idna")
        reply = await self.command(b"EHLO " + name)
        if reply.code != 250:
            reply = await self.command(b"HELO " + name)
            if reply.code != 250:
                raise NotReady(reply)
            self.extensions = {}
            return
        self.extensions = extensions(reply.text)

    async def _login(self, username: str, password: str) -> None:
        offered = self.extensions.get("AUTH", "").upper().split()
        if "PLAIN" in offered:
            token = base64.b64encode(f"\0{username}\0{password}".encode())
            reply = await self.command(b"AUTH PLAIN " + token)
        elif "LOGIN" in offered:
            reply = await self.command(b"AUTH LOGIN")
            for secret in (username, password):
                if reply.code != 334:
                    break
                reply = await self.command(base64.b64encode(secret.encode()))
        else:
            raise LoginFailed("the SMTP server offers no login this mailer speaks "
                              f"(AUTH {' '.join(offered) or 'not offered'})")
        if reply.code != 235:
            raise LoginFailed(f"SMTP login failed: {reply.code}")

    async def _reset(self, what: str, reply: Reply) -> NoReturn:
        """RSET after a refusal, then raise it: the session goes on with the next message."""
        try:
            await self.command(b"RSET")
        except SmtpError:
            pass  # the refusal is what the caller needs to hear
        raise Refused(what, reply)

    # --- one reply at a time ------------------------------------------------------------------

    def _expect(self) -> asyncio.Future[Reply]:
        waiter: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._protocol.waiter = waiter
        return waiter

    def _write(self, data: bytes) -> asyncio.Future[Reply]:
        if not self.is_connected:
            raise Disconnected("the SMTP server closed the connection")
        waiter = self._expect()
        transport = self._protocol.transport
        assert transport is not None
        transport.write(data)
        return waiter

    async def _wait(self, waiter: asyncio.Future[Reply]) -> Reply:
        """One timer per reply, not a wrapping task: this runs four times a message."""
        timer = asyncio.get_running_loop().call_later(self._timeout, _expire, waiter)
        try:
            return await waiter
        except Timeout:
            self.close()  # the session's state is unknown
            raise
        finally:
            timer.cancel()


@functools.cache
def default_tls_context() -> ssl.SSLContext:
    """The system's trusted certificates, read once: reading them took longer than a
    connection's whole greeting."""
    return ssl.create_default_context()


def _expire(waiter: asyncio.Future[Reply]) -> None:
    if not waiter.done():
        waiter.set_exception(Timeout("the SMTP server did not answer in time"))


def extensions(ehlo_text: str) -> dict[str, str]:
    """EHLO's keywords (upper case) and their parameters; the first line is the greeting.
    An old-style `AUTH=LOGIN PLAIN` counts as AUTH."""
    found: dict[str, str] = {}
    for line in ehlo_text.splitlines()[1:]:
        keyword, _, params = line.strip().partition(" ")
        keyword, _, old_style = keyword.partition("=")
        found[keyword.upper()] = f"{old_style} {params}".strip()
    return found


_LINE_END = re.compile(rb"\r\n|\r|\n")


def data_lines(raw: bytes) -> tuple[bytes, int]:
    """The message as DATA carries it (every line ending CRLF, a leading dot doubled, the
    final `.`) and its size for MAIL's SIZE (RFC 1870). Messages we build are in canonical
    form already (`mail.assemble`), so that is checked, not redone."""
    lines = raw.count(b"\n")
    canonical = (lines == raw.count(b"\r\n") == raw.count(b"\r") and raw.endswith(b"\r\n"))
    if not canonical:
        raw = _LINE_END.sub(b"\r\n", raw)
        if not raw.endswith(b"\r\n"):
            raw += b"\r\n"
    size = len(raw)
    stuffed = raw.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + b".\r\n", size
