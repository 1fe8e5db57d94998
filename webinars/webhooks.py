"""Webhook endpoints of an organization: add, change, remove, test, send again.

An endpoint gets the events of its organization's whole subtree, filtered by kind (none
listed: every kind). Input is checked here, at the edge of the domain, for the API and the
page alike. The signing secret is sealed at rest (`sealing`) and shown once, when made.
Sending is the worker's (`workers.webhooks`); the SSRF check on the resolved address is
there too, at send time, because a name may resolve elsewhere tomorrow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from . import sealing, signing
from .errors import Conflict, Forbidden, NotFound, ValidationFailed
from .models import Account, Organization, WebhookAttempt, WebhookEndpoint, WebhookMessage
from .organizations import managed_ids, require_manage
from .queue import SEND_WEBHOOK, Job, pending_jobs
from .states import EventKind, WebhookStatus
from .validation import one_line
from .webhook_payloads import encode, ping_payload

SEAL_PURPOSE = "webhook-secret"
MAX_URL = 2000
MAX_DESCRIPTION = 200
KINDS = tuple(kind.value for kind in EventKind)
#: Messages of one endpoint put back on the queue at once when it is enabled again; the
#: reconcile sweep takes the rest.
RESUME_LIMIT = 1000


@dataclass(frozen=True)
class Created:
    endpoint: WebhookEndpoint
    #: Shown to the organizer in this answer only.
    secret: str


def is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.") or host.lower().endswith(".localhost"):
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(value: Any, errors: dict[str, str], *, allow_loopback: bool) -> str | None:
    """https://, or http:// to a loopback host when the setting allows loopback. An address
    literal that can never be reached from here is refused at once; names are checked on
    each send, on the address they resolve to."""
    if not isinstance(value, str) or not value.strip():
        errors["url"] = "is required"
        return None
    url = value.strip()
    if len(url) > MAX_URL:
        errors["url"] = f"must be at most {MAX_URL} characters"
        return None
    if any(ord(c) < 33 or c == "\x7f" for c in url):
        errors["url"] = "must not contain spaces or control characters"
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        errors["url"] = "is not a valid URL"
        return None
    if parts.scheme not in ("https", "http") or not host:
        errors["url"] = "must be an https:// address"
    elif parts.username is not None or parts.password is not None:
        errors["url"] = "must not contain a user name or password"
    elif parts.fragment:
        errors["url"] = "must not contain a #fragment"
    elif is_loopback_host(host) and not allow_loopback:
        errors["url"] = "must not point at this server (loopback)"
    elif parts.scheme == "http" and not is_loopback_host(host):
        errors["url"] = "must be an https:// address (http:// only for loopback in development)"
    else:
        try:
            address = ip_address(host)
        except ValueError:
            return url
        if not address.is_global and not (allow_loopback and address.is_loopback):
            errors["url"] = "must not point at a private, link-local or reserved address"
        else:
            return url
    return None


def check_kinds(value: Any, errors: dict[str, str]) -> list[str] | None:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        errors["kinds"] = "must be a list of event kinds"
        return None
    unknown = [k for k in value if k not in KINDS]
    if unknown:
        errors["kinds"] = f"unknown kind {unknown[0]!r}; use any of {', '.join(KINDS)}"
        return None
    return [k for k in KINDS if k in value]  # one order, no repeats


def check_description(value: Any, errors: dict[str, str]) -> str | None:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors["description"] = "must be text"
        return None
    text = one_line(value)
    if len(text) > MAX_DESCRIPTION:
        errors["description"] = f"must be at most {MAX_DESCRIPTION} characters"
        return None
    return text


def endpoint_input(data: Mapping[str, Any], *, allow_loopback: bool, partial: bool
                   ) -> dict[str, Any]:
    """The fields given, checked; every wrong one reported at once (ValidationFailed)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    if not partial or "url" in data:
        values["url"] = check_url(data.get("url"), errors, allow_loopback=allow_loopback)
    if not partial or "description" in data:
        values["description"] = check_description(data.get("description"), errors)
    if not partial or "kinds" in data:
        values["kinds"] = check_kinds(data.get("kinds"), errors)
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            errors["enabled"] = "must be true or false"
        values["enabled"] = data["enabled"]
    if errors:
        raise ValidationFailed(errors)
    return values


def open_secret(secret_key: str, endpoint: WebhookEndpoint) -> str:
    return sealing.unseal(secret_key, SEAL_PURPOSE, endpoint.secret_sealed)


async def create(session: AsyncSession, account: Account, organization_id: int,
                 values: Mapping[str, Any], *, secret_key: str, now: datetime) -> Created:
    if await session.get(Organization, organization_id) is None:
        raise ValidationFailed({"organization_id": "no such organization"})
    await require_manage(session, account, organization_id)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        organization_id=organization_id, url=values["url"],
        description=values.get("description") or "", kinds=list(values.get("kinds") or []),
        secret_sealed=sealing.seal(secret_key, SEAL_PURPOSE, secret), enabled=True,
        created_by_id=account.id, created_at=now)
    session.add(endpoint)
    await session.flush()
    return Created(endpoint, secret)


async def managed_endpoints(session: AsyncSession, account: Account,
                            organization_id: int | None = None) -> list[WebhookEndpoint]:
    """The account's part of the tree, or one organization of it."""
    scope = await managed_ids(session, account)
    if organization_id is not None:
        if organization_id not in scope:
            raise Forbidden("this organization is outside your part of the tree")
        scope = {organization_id}
    return list((await session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.organization_id.in_(sorted(scope)))
        .order_by(WebhookEndpoint.organization_id, WebhookEndpoint.id))).all())


async def managed_endpoints_of(session: AsyncSession, organization_id: int
                               ) -> list[WebhookEndpoint]:
    """One organization's own endpoints (its caller has checked the permission)."""
    return list((await session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.organization_id == organization_id)
        .order_by(WebhookEndpoint.id))).all())


async def get_managed(session: AsyncSession, account: Account, endpoint_id: int
                      ) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound("no such webhook endpoint")
    await require_manage(session, account, endpoint.organization_id)
    return endpoint


async def change(session: AsyncSession, endpoint: WebhookEndpoint, values: Mapping[str, Any],
                 now: datetime) -> None:
    for name in ("url", "description", "kinds"):
        if name in values:
            setattr(endpoint, name, values[name])
    if values.get("enabled") is True and not endpoint.enabled:
        await enable(session, endpoint, now)
    elif values.get("enabled") is False and endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_at = now
        endpoint.disabled_reason = "turned off by an organizer"
        endpoint.owner_notified_at = now  # nobody to tell: an organizer did it


async def enable(session: AsyncSession, endpoint: WebhookEndpoint, now: datetime) -> None:
    """On again: its pending messages (kept while it was off) are sent, oldest first."""
    endpoint.enabled = True
    endpoint.disabled_at = endpoint.disabled_reason = endpoint.owner_notified_at = None
    endpoint.failing_since = None
    await session.flush()
    rows = (await session.execute(
        select(WebhookMessage.id, WebhookMessage.attempts)
        .where(WebhookMessage.endpoint_id == endpoint.id,
               WebhookMessage.status == WebhookStatus.PENDING, WebhookMessage.due_at <= now)
        .order_by(WebhookMessage.id).limit(RESUME_LIMIT))).all()
    if rows:
        await session.execute(update(WebhookMessage)
                              .where(WebhookMessage.id.in_([r.id for r in rows]))
                              .values(enqueued_at=now))
    stamp = now.strftime("%Y%m%d%H%M%S")
    pending_jobs(session).extend(send_job(r.id, f"on{stamp}") for r in rows)


async def remove(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    """Its messages and their attempts go with it (explicitly: SQLite may lack cascades)."""
    ids = select(WebhookMessage.id).where(WebhookMessage.endpoint_id == endpoint.id)
    await session.execute(delete(WebhookAttempt).where(WebhookAttempt.message_id.in_(ids)))
    await session.execute(delete(WebhookMessage)
                          .where(WebhookMessage.endpoint_id == endpoint.id))
    await session.delete(endpoint)


def send_job(message_id: int, tag: str) -> Job:
    """Deterministic per (message, try): a job queued twice runs once."""
    return Job(SEND_WEBHOOK, (message_id,), f"webhook:{message_id}:{tag}")


async def ping(session: AsyncSession, endpoint: WebhookEndpoint, now: datetime
               ) -> WebhookMessage:
    """A test message through the same path as events (even to an endpoint that is off)."""
    message = WebhookMessage(
        endpoint_id=endpoint.id, event_id=None, kind="webhook.ping",
        msg_id=signing.new_msg_id(),
        payload=encode(ping_payload(now, endpoint.id, endpoint.organization_id)),
        status=WebhookStatus.PENDING, attempts=0, due_at=now, enqueued_at=now, created_at=now)
    session.add(message)
    await session.flush()
    pending_jobs(session).append(send_job(message.id, "0"))
    return message


async def resend(session: AsyncSession, endpoint: WebhookEndpoint, message_id: int,
                 now: datetime) -> WebhookMessage:
    """The same message (same `webhook-id`, same bytes) once more, due now, with a fresh
    retry budget."""
    message = await session.get(WebhookMessage, message_id)
    if message is None or message.endpoint_id != endpoint.id:
        raise NotFound("no such webhook message")
    if message.status == WebhookStatus.SENDING:
        raise Conflict("this message is being sent right now", "sending")
    message.status = WebhookStatus.PENDING
    message.attempts = 0
    message.due_at = now
    message.enqueued_at = now
    message.lease_until = None
    await session.flush()
    pending_jobs(session).append(send_job(message.id, f"again{now:%Y%m%d%H%M%S%f}"))
    return message


async def messages_of(session: AsyncSession, endpoint_id: int, *, limit: int, offset: int
                      ) -> tuple[int, list[WebhookMessage], dict[int, list[WebhookAttempt]]]:
    """A page of messages, newest first, with every attempt of each."""
    total = await session.scalar(select(func.count(WebhookMessage.id))
                                 .where(WebhookMessage.endpoint_id == endpoint_id))
    rows = list((await session.scalars(
        select(WebhookMessage).where(WebhookMessage.endpoint_id == endpoint_id)
        .order_by(WebhookMessage.id.desc()).limit(limit).offset(offset))).all())
    attempts: dict[int, list[WebhookAttempt]] = {m.id: [] for m in rows}
    if rows:
        for attempt in await session.scalars(
                select(WebhookAttempt).where(WebhookAttempt.message_id.in_(list(attempts)))
                .order_by(WebhookAttempt.id)):
            attempts[attempt.message_id].append(attempt)
    return total or 0, rows, attempts
