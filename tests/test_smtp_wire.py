"""The mailer's own SMTP client (`smtp_wire`) against a real server: what arrives is exactly
what was built, whatever the message's dots and line ends, over every way in (plain, STARTTLS,
TLS from the start, either login), and a server that goes quiet is given up on in time."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import replace
from pathlib import Path

import pytest

from webinars.mailer import PermanentMailError, SmtpMailer, TransientMailError, translate
from webinars.smtp_wire import Refused, Reply, complete_reply, data_lines, extensions

from .smtp import SmtpServer
from .test_deliveries import outgoing, tls_pair


def test_a_reply_is_complete_only_once_its_last_line_is_in() -> None:
    buffer = bytearray(b"250-sink\r\n250-SIZE 1000\r\n")
    assert complete_reply(buffer) is None
    buffer += b"250 HEL"
    assert complete_reply(buffer) is None
    buffer += b"P\r\n"
    assert complete_reply(buffer) == Reply(250, "sink\nSIZE 1000\nHELP")
    assert complete_reply(bytearray(b"354 End data with <CR><LF>.<CR><LF>\r\n")) == Reply(
        354, "End data with <CR><LF>.<CR><LF>")


def test_ehlo_keywords_are_read_in_either_style() -> None:
    assert extensions("sink\nSIZE 33554432\n8BITMIME\nAUTH=LOGIN PLAIN\nstarttls") == {
        "SIZE": "33554432", "8BITMIME": "", "AUTH": "LOGIN PLAIN", "STARTTLS": ""}


def test_data_doubles_leading_dots_and_sizes_the_canonical_message() -> None:
    body, size = data_lines(b".first\r\nmiddle\r\n.\r\n..two\r\n")
    assert body == b"..first\r\nmiddle\r\n..\r\n...two\r\n.\r\n"
    assert size == len(b".first\r\nmiddle\r\n.\r\n..two\r\n")
    body, size = data_lines(b"bare\nline\rends")  # not built by us: made canonical first
    assert body == b"bare\r\nline\r\nends\r\n.\r\n" and size == len(b"bare\r\nline\r\nends\r\n")


async def test_a_message_full_of_dots_arrives_byte_for_byte() -> None:
    mail = outgoing("dots@school.example")
    raw = mail.raw.replace(b"body\r\n", b".\r\n..\r\n.hidden line\r\nlast .\r\n")
    with SmtpServer() as smtp:
        mailer = SmtpMailer.from_url(smtp.url)
        try:
            await mailer.send(replace(mail, raw=raw))
        finally:
            await mailer.close()
        assert smtp.raw("dots@school.example") == [raw]


async def test_the_mailer_logs_in_with_login_where_plain_is_not_offered() -> None:
    with SmtpServer(login=("robot", "s3cret"), exclude_auth=("PLAIN",)) as smtp:
        mailer = SmtpMailer.from_url(smtp.url)
        wrong = SmtpMailer.from_url(f"smtp://robot:nope@127.0.0.1:{smtp.port}")
        try:
            await mailer.send(outgoing("a@school.example"))
            with pytest.raises(TransientMailError) as caught:
                await wrong.send(outgoing("b@school.example"))
        finally:
            await mailer.close()
            await wrong.close()
        assert smtp.count("a@school.example") == 1 and smtp.count("b@school.example") == 0
        assert caught.value.server_down and "nope" not in caught.value.reason


async def test_smtps_speaks_tls_from_the_first_byte_and_checks_the_certificate(
    tmp_path: Path,
) -> None:
    server_context, trusted = tls_pair(tmp_path)
    with SmtpServer(tls=server_context) as smtp:
        url = f"smtps://127.0.0.1:{smtp.port}"
        mailer = SmtpMailer.from_url(url, tls_context=trusted)
        stranger = SmtpMailer.from_url(url)  # the system's CAs do not know this certificate
        try:
            await mailer.send(outgoing("a@school.example"))
            with pytest.raises(TransientMailError) as caught:
                await stranger.send(outgoing("b@school.example"))
        finally:
            await mailer.close()
            await stranger.close()
        assert smtp.count("a@school.example") == 1 and smtp.count("b@school.example") == 0
        assert caught.value.server_down and caught.value.reason.startswith("SMTP connection")


async def test_a_server_that_stops_answering_is_given_up_on_after_the_timeout() -> None:
    """It took the connection and says nothing (a hung relay): the message is retried later,
    after the URL's timeout, not after the 30-second default."""
    quiet = socket.create_server(("127.0.0.1", 0))
    port = quiet.getsockname()[1]
    mailer = SmtpMailer.from_url(f"smtp://127.0.0.1:{port}?timeout=1")
    started = time.monotonic()
    try:
        with pytest.raises(TransientMailError) as caught:
            await asyncio.wait_for(mailer.send(outgoing("a@school.example")), 10)
    finally:
        await mailer.close()
        quiet.close()
    assert caught.value.server_down
    assert caught.value.reason == "the SMTP server did not answer in time"
    assert 1 <= time.monotonic() - started < 5


def test_only_a_5xx_fails_a_message_for_good() -> None:
    assert isinstance(translate(Refused("recipient refused", Reply(550, "no such user"))),
                      PermanentMailError)
    for odd in (Reply(452, "mailbox full"), Reply(0, "<html>not an SMTP server</html>")):
        error = translate(Refused("recipient refused", odd))
        assert isinstance(error, TransientMailError) and not error.server_down


async def test_a_send_cancelled_with_its_envelope_open_leaves_no_session_half_way() -> None:
    """The cancelled session is closed, not pooled (its open envelope would refuse the next
    MAIL): the next message takes a fresh connection, and nothing of the cancelled one
    arrives."""
    with SmtpServer() as smtp:
        mailer = SmtpMailer.from_url(smtp.url)
        held = asyncio.Event()

        async def before_data() -> None:
            held.set()
            await asyncio.Event().wait()  # never: the send is cancelled here

        try:
            sending = asyncio.create_task(mailer.send(outgoing("a@school.example"), before_data))
            await held.wait()
            sending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sending
            await mailer.send(outgoing("b@school.example", 2))
        finally:
            await mailer.close()
        assert smtp.count("a@school.example") == 0 and smtp.count("b@school.example") == 1
        assert smtp.connections == 2
