"""Placeholder transport; issue 3 replaces it with SMTP and the local outbox."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol

from .config import AppConfig
from .db import Sessionmaker


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...

    async def close(self) -> None: ...


class NullMailer:
    async def send(self, message: EmailMessage) -> None:
        return None

    async def close(self) -> None:
        return None


def make_mailer(config: AppConfig, sessionmaker: Sessionmaker) -> Mailer:
    return NullMailer()
