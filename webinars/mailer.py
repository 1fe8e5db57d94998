"""Mail transports: SMTP (aiosmtplib, pooled connections) or the local outbox table.

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

import aiosmtplib

from .config import AppConfig
from .db import Sessionmaker
from .models import OutboxMessage

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
    reason = f"{code} {message}".strip()
    if 400 <= code < 500:
        return TransientMailError(f"{what}: {reason}")
    return PermanentMailError(f"{what}: {reason}")


def translate(exc: BaseException) -> MailError:
    """Map aiosmtplib and socket errors onto the two kinds the worker understands."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = exc.recipients[0] if exc.recipients else None
        if refused is None:
            return TransientMailError("recipient refused")
        return _response_error(refused.code, refused.message, "recipient refused")
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return _response_error(exc.code, exc.message, "recipient refused")
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return _response_error(exc.code, exc.message, "sender refused")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # Wrong credentials are fixed by the operator; retrying later is the useful reaction.
        return TransientMailError(f"SMTP login failed: {exc.code}", server_down=True)
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        return TransientMailError(f"SMTP server not ready: {exc.code} {exc.message}",
                                  server_down=True)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _response_error(exc.code, exc.message, "message refused")
    if isinstance(exc, (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError)):
        return TransientMailError("cannot connect to the SMTP server", server_down=True)
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return TransientMailError("the SMTP server closed the connection", server_down=True)
    if isinstance(exc, (TimeoutError, aiosmtplib.SMTPTimeoutError)):
        return TransientMailError("the SMTP server did not answer in time", server_down=True)
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
    """aiosmtplib with a small pool of open connections, reused across messages and jobs."""

    def __init__(self, settings: SmtpSettings, *, tls_context: ssl.SSLContext | None = None
                 ) -> None:
        self.settings = settings
        self.concurrency = settings.pool_size
        self._tls_context = tls_context
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(settings.pool_size)
        self._closed = False

    @classmethod
    def from_url(cls, url: str, *, local_hostname: str = "localhost",
                 tls_context: ssl.SSLContext | None = None) -> SmtpMailer:
        return cls(parse_smtp_url(url, local_hostname=local_hostname), tls_context=tls_context)

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        client = aiosmtplib.SMTP(hostname=s.hostname, port=s.port, use_tls=s.use_tls,
                                 start_tls=None if not s.use_tls else False,
                                 username=s.username, password=s.password, timeout=s.timeout,
                                 local_hostname=s.local_hostname, tls_context=self._tls_context)
        await client.connect()
        return client

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
        return None

    async def _release(self, client: aiosmtplib.SMTP) -> None:
        if self._closed:
            await _quit(client)
        else:
            self._idle.append(client)

    async def send(self, mail: OutgoingMail, before_data: BeforeData | None = None) -> None:
        for attempt in (1, 2):
            async with self._slots:
                client = self._take_idle()
                reused = client is not None
                try:
                    if client is None:
                        client = await self._connect()
                    await _transaction(client, mail, before_data)
                except aiosmtplib.SMTPResponseException as exc:
                    # A refusal: the session is fine (the envelope was reset), keep it.
                    if client is not None and client.is_connected:
                        await self._release(client)
                    raise translate(exc) from exc
                except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as exc:
                    if client is not None:
                        client.close()
                    # A pooled connection the server dropped while idle: one fresh try. No
                    # reply to DATA was received, so the message was not accepted before.
                    if attempt == 1 and reused:
                        continue
                    raise translate(exc) from exc
                except (aiosmtplib.SMTPException, OSError, TimeoutError, ValueError) as exc:
                    if client is not None:
                        client.close()
                    raise translate(exc) from exc
                await self._release(client)
                return

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for client in idle:
            await _quit(client)


async def _transaction(client: aiosmtplib.SMTP, mail: OutgoingMail,
                       before_data: BeforeData | None) -> None:
    """MAIL, RCPT, DATA for one recipient, the envelope reset after a refusal.

    What `SMTP.sendmail` does, without its extra work per message, which a fan-out's profile
    showed: it parses every address twice (`SMTP.mail` and `rcpt` once more: 4 % of the
    worker's time, `smtp_path`) and normalises the whole message once more only to count its
    size, while ours is built in canonical form (CRLF lines, `mail.assemble`).
    """
    if client.is_ehlo_or_helo_needed:  # after STARTTLS the server forgot the first greeting
        try:
            await client.ehlo()
        except aiosmtplib.SMTPHeloError:
            await client.helo()
    sized = client.supports_extension("size")
    options = [f"SIZE={wire_size(mail.raw)}"] if sized else []
    try:
        answer = await client.execute_command(b"MAIL", b"FROM:" + smtp_path(mail.sender),
                                              *(o.encode("ascii") for o in options))
        if answer.code != 250:
            raise aiosmtplib.SMTPSenderRefused(answer.code, answer.message, mail.sender)
        answer = await client.execute_command(b"RCPT", b"TO:" + smtp_path(mail.recipient))
        if answer.code not in (250, 251):
            raise aiosmtplib.SMTPRecipientRefused(answer.code, answer.message, mail.recipient)
        if before_data is not None:
            await before_data()
        await client.data(mail.raw)
    except aiosmtplib.SMTPResponseException:
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, ConnectionError):
            pass  # the refusal is what the caller needs to hear
        raise


_PLAIN_ADDRESS = re.compile(r'[^\s<>()\[\]",;:\\@]+@[^\s<>()\[\]",;:\\@]+')


def smtp_path(address: str) -> bytes:
    """`<address>` for MAIL and RCPT: what aiosmtplib's `quote_address` gives, without its
    full RFC 2822 parse for the plain addresses the product validated on the way in."""
    if _PLAIN_ADDRESS.fullmatch(address) is None:
        address = email.utils.parseaddr(address)[1] or address.strip()
    return f"<{address}>".encode("ascii")


def wire_size(raw: bytes) -> int:
    """The message's size as DATA carries it (RFC 1870): every line ending CRLF."""
    lines = raw.count(b"\n")
    if lines == raw.count(b"\r\n") == raw.count(b"\r") and raw.endswith(b"\r\n"):
        return len(raw)  # canonical already, as every message we build is
    canonical = re.sub(rb"\r\n|\r|\n", b"\r\n", raw)
    return len(canonical) + (0 if canonical.endswith(b"\r\n") else 2)


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


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
