"""Mail transports: SMTP (pooled connections, `smtp_wire`) or the local outbox table.

Both take a finished message as bytes (`OutgoingMail`); rendering is `mail.py`'s job. SMTP
errors are translated here into two kinds the worker acts on: `TransientMailError` (try again
later: connection refused or lost, timeouts, 4xx) and `PermanentMailError` (5xx: this message
will never be accepted; the server's reason is kept for the organizer).
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from . import smtp_wire
from .config import AppConfig
from .db import Sessionmaker
from .models import OutboxMessage
from .smtp_wire import SmtpConnection, data_lines

DEFAULT_POOL_SIZE = 5
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class OutgoingMail:
    """One rendered message for one recipient."""

    sender: str
    recipient: str
    raw: bytes
    message_id: str
    subject: str
    date: datetime
    delivery_id: int | None = None
    webinar_id: int | None = None


class MailError(Exception):
    """Sending failed; `reason` is safe to show to an organizer (never holds credentials)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientMailError(MailError):
    """Try again later. `server_down` means no message can get through right now."""

    def __init__(self, reason: str, *, server_down: bool = False) -> None:
        super().__init__(reason)
        self.server_down = server_down


class PermanentMailError(MailError):
    """The server refused this message for good (5xx); retrying cannot help."""


#: Awaited by `Mailer.send` just before the message itself goes, once the server has taken
#: the envelope: where a caller waits for what must come before another acceptance.
BeforeData = Callable[[], Awaitable[None]]


class Mailer(Protocol):
    #: How many messages may be handed to `send` at the same time.
    concurrency: int

    async def send(self, mail: OutgoingMail, before_data: BeforeData | None = None) -> None:
        """Deliver one message or raise TransientMailError / PermanentMailError."""
        ...

    async def close(self) -> None: ...


def _response_error(code: int, message: str, what: str) -> MailError:
    """Only a 5xx is for good; a 4xx, or an answer that is no SMTP code, is tried again."""
    reason = f"{code} {message}".strip()
    if 500 <= code < 600:
        return PermanentMailError(f"{what}: {reason}")
    return TransientMailError(f"{what}: {reason}")


def translate(exc: BaseException) -> MailError:
    """Map the wire's and the socket's errors onto the two kinds the worker understands."""
    if isinstance(exc, smtp_wire.Refused):
        return _response_error(exc.reply.code, exc.reply.text, exc.what)
    if isinstance(exc, smtp_wire.LoginFailed):
        # Wrong credentials are fixed by the operator; retrying later is the useful reaction.
        return TransientMailError(exc.reason, server_down=True)
    if isinstance(exc, smtp_wire.NotReady):
        return TransientMailError(f"SMTP server not ready: {exc}", server_down=True)
    if isinstance(exc, smtp_wire.Disconnected):
        return TransientMailError("the SMTP server closed the connection", server_down=True)
    if isinstance(exc, (TimeoutError, smtp_wire.Timeout)):
        return TransientMailError("the SMTP server did not answer in time", server_down=True)
    if isinstance(exc, ConnectionRefusedError):
        return TransientMailError("cannot connect to the SMTP server", server_down=True)
    if isinstance(exc, OSError):
        return TransientMailError(f"SMTP connection error: {exc.strerror or type(exc).__name__}",
                                  server_down=True)
    return TransientMailError(f"SMTP error: {type(exc).__name__}")


@dataclass(frozen=True)
class SmtpSettings:
    hostname: str
    port: int
    use_tls: bool
    username: str | None
    password: str | None
    pool_size: int
    timeout: float
    local_hostname: str


def parse_smtp_url(url: str, *, local_hostname: str = "localhost") -> SmtpSettings:
    """`smtp://[user:pass@]host[:port][?pool=N&timeout=S]` or `smtps://…` (TLS from the start).

    Plain `smtp://` upgrades with STARTTLS whenever the server offers it.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("SMTP_URL must start with smtp:// or smtps:// and name a host")
    query = parse_qs(parts.query)
    use_tls = parts.scheme == "smtps"
    try:
        pool_size = int(query.get("pool", [DEFAULT_POOL_SIZE])[0])
        timeout = float(query.get("timeout", [DEFAULT_TIMEOUT])[0])
    except ValueError:
        raise ValueError("SMTP_URL: pool and timeout must be numbers") from None
    return SmtpSettings(
        hostname=parts.hostname,
        port=parts.port or (465 if use_tls else 25),
        use_tls=use_tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        pool_size=max(1, min(pool_size, 50)),
        timeout=max(1.0, timeout),
        local_hostname=local_hostname,
    )


class SmtpMailer:
    """A small pool of open SMTP connections (`smtp_wire`), reused across messages and jobs."""

    def __init__(self, settings: SmtpSettings, *, tls_context: ssl.SSLContext | None = None
                 ) -> None:
        self.settings = settings
        self.concurrency = settings.pool_size
        self._tls_context = tls_context
        self._idle: list[SmtpConnection] = []
        self._slots = asyncio.Semaphore(settings.pool_size)
        self._closed = False

    @classmethod
    def from_url(cls, url: str, *, local_hostname: str = "localhost",
                 tls_context: ssl.SSLContext | None = None) -> SmtpMailer:
        return cls(parse_smtp_url(url, local_hostname=local_hostname), tls_context=tls_context)

    async def _connect(self) -> SmtpConnection:
        s = self.settings
        return await SmtpConnection.open(
            s.hostname, s.port, local_hostname=s.local_hostname, timeout=s.timeout,
            implicit_tls=s.use_tls, tls_context=self._tls_context, username=s.username,
            password=s.password)

    def _take_idle(self) -> SmtpConnection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.is_connected:
                return connection
        return None

    async def _release(self, connection: SmtpConnection) -> None:
        if self._closed:
            await connection.quit()
        elif connection.is_connected:
            self._idle.append(connection)

    async def send(self, mail: OutgoingMail, before_data: BeforeData | None = None) -> None:
        try:
            sender, recipient = smtp_path(mail.sender), smtp_path(mail.recipient)
        except ValueError as exc:  # not ASCII: this server was not asked for SMTPUTF8
            raise translate(exc) from exc
        body, size = data_lines(mail.raw)
        for attempt in (1, 2):
            async with self._slots:
                connection = self._take_idle()
                reused = connection is not None
                try:
                    if connection is None:
                        connection = await self._connect()
                    sized = "SIZE" in connection.extensions
                    await connection.send(sender, recipient, body, size if sized else None,
                                          before_data)
                except smtp_wire.Refused as exc:
                    # A refusal: the session is fine (the envelope was reset), keep it.
                    if connection is not None:
                        await self._release(connection)
                    raise translate(exc) from exc
                except (smtp_wire.Disconnected, ConnectionError) as exc:
                    if connection is not None:
                        connection.close()
                    # A pooled connection the server dropped while idle: one fresh try. No
                    # reply to DATA was received, so the message was not accepted before.
                    if attempt == 1 and reused:
                        continue
                    raise translate(exc) from exc
                except (smtp_wire.SmtpError, OSError, TimeoutError, ValueError) as exc:
                    if connection is not None:
                        connection.close()
                    raise translate(exc) from exc
                except BaseException:  # cancelled mid-envelope: the session is not reusable
                    if connection is not None:
                        connection.close()
                    raise
                await self._release(connection)
                return

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.quit()


_PLAIN_ADDRESS = re.compile(r'[^\s<>()\[\]",;:\\@]+@[^\s<>()\[\]",;:\\@]+')


def smtp_path(address: str) -> bytes:
    """`<address>` for MAIL and RCPT: the bare address whatever form it comes in, a full
    RFC 2822 parse only for what is not a plain address (the product validated most on the
    way in)."""
    if _PLAIN_ADDRESS.fullmatch(address) is None:
        address = email.utils.parseaddr(address)[1] or address.strip()
    return f"<{address}>".encode("ascii")


class OutboxMailer:
    """The embedded default: every message is stored for organizers to read at /outbox."""

    concurrency = 1

    def __init__(self, sessionmaker: Sessionmaker) -> None:
        self.sessionmaker = sessionmaker

    async def send(self, mail: OutgoingMail, before_data: BeforeData | None = None) -> None:
        if before_data is not None:
            await before_data()
        async with self.sessionmaker() as session:
            session.add(OutboxMessage(delivery_id=mail.delivery_id, webinar_id=mail.webinar_id,
                                      recipient=mail.recipient, subject=mail.subject[:500],
                                      message_id=mail.message_id, raw=mail.raw,
                                      created_at=mail.date))
            await session.commit()

    async def close(self) -> None:
        return None


def make_mailer(config: AppConfig, sessionmaker: Sessionmaker) -> Mailer:
    if config.smtp_url:
        return SmtpMailer.from_url(config.smtp_url, local_hostname=config.uid_domain)
    return OutboxMailer(sessionmaker)
