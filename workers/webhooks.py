"""Outbound webhooks (Standard Webhooks): one message per (event, endpoint), sent and retried.

- `queue_messages` (the dispatcher's handler) writes one message per matching endpoint of the
  event's organization and every organization above it, with its exact body, in the
  dispatcher's transaction; the send jobs are queued after the commit.
- `send_webhook` (job) claims the row with one conditional UPDATE and a lease, POSTs it
  (`webhook_http`), records the attempt, and plans the next try on the Standard Webhooks
  schedule (about 27 hours in all). An endpoint whose message runs out of tries is turned off
  and its owner told once; its other messages wait, pending, until it is on again.
- `reconcile_webhooks` (from `reconcile`) queues what is due and has no job, reclaims rows
  stuck in "sending" past their lease, and retries an owner's notice that could not be sent.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webinars import signing
from webinars.models import (
    Account,
    Registration,
    Role,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
    Webinar,
)
from webinars.notices import disabled_notice
from webinars.organizations import all_organizations, chain
from webinars.queue import QUEUE_HORIZON, commit_and_enqueue, pending_jobs
from webinars.runtime import WorkerContext
from webinars.sealing import Unsealable
from webinars.states import WebhookStatus
from webinars.webhook_payloads import encode, event_payload
from webinars.webhooks import open_secret, send_job

from . import webhook_http
from .handling import EventView, Step

log = logging.getLogger(__name__)

#: Delay before each retry (the Standard Webhooks schedule): the first try is immediate.
SCHEDULE = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30),
            timedelta(hours=2), timedelta(hours=5), timedelta(hours=10), timedelta(hours=10))
MAX_ATTEMPTS = len(SCHEDULE) + 1
#: A claimed message is its sender's for this long (a try takes at most webhook_http.TIMEOUT).
LEASE = timedelta(minutes=2)
RECONCILE_LIMIT = 5000


# --- the handler -------------------------------------------------------------------------


async def queue_messages(session: AsyncSession, ctx: WorkerContext, event: EventView,
                         cursor: int) -> Step:
    """One message per enabled endpoint of the event's organization or above whose kinds
    match; names and e-mails only to the chain that manages the webinar now."""
    if event.organization_id is None:
        return Step()
    wanting = [e for e in (await session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))
        .order_by(WebhookEndpoint.id))).all() if not e.kinds or event.kind.value in e.kinds]
    if not wanting:  # most installations, most events: one small query and done
        return Step()
    orgs = await all_organizations(session)
    above = {org.id for org in chain(orgs, event.organization_id)}
    endpoints = [e for e in wanting if e.organization_id in above]
    if not endpoints:
        return Step()
    webinar = await session.get(Webinar, event.webinar_id) if event.webinar_id else None
    registration = (await session.get(Registration, event.registration_id)
                    if event.registration_id else None)
    managing = {org.id for org in chain(orgs, webinar.organization_id if webinar
                                        else event.organization_id)}
    now = ctx["clock"].now()
    messages = []
    for endpoint in endpoints:
        payload = event_payload(event.kind.value, event.occurred_at, event_id=event.id,
                                organization_id=event.organization_id, data=event.data,
                                webinar=webinar, registration=registration,
                                personal=endpoint.organization_id in managing,
                                base_url=ctx["config"].base_url)
        message = WebhookMessage(endpoint_id=endpoint.id, event_id=event.id,
                                 kind=event.kind.value, msg_id=signing.new_msg_id(),
                                 payload=encode(payload), status=WebhookStatus.PENDING,
                                 attempts=0, due_at=now, enqueued_at=now, created_at=now)
        session.add(message)
        messages.append(message)
    await session.flush()
    pending_jobs(session).extend(send_job(m.id, "0") for m in messages)
    return Step(count=len(messages))


# --- the job -----------------------------------------------------------------------------


def next_try(attempts: int) -> timedelta | None:
    """After `attempts` failed tries: the wait before the next, None when it was the last."""
    return SCHEDULE[attempts - 1] if attempts < MAX_ATTEMPTS else None


async def claim(session: AsyncSession, message_id: int, now: datetime) -> bool:
    """pending → sending, if due and its endpoint is on (pings go to any endpoint)."""
    endpoint_on = select(WebhookEndpoint.id).where(
        WebhookEndpoint.id == WebhookMessage.endpoint_id,
        or_(WebhookEndpoint.enabled.is_(True), WebhookMessage.event_id.is_(None))
    ).exists()
    result = await session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.id == message_id, WebhookMessage.status == WebhookStatus.PENDING,
               WebhookMessage.due_at <= now, endpoint_on)
        .values(status=WebhookStatus.SENDING, lease_until=now + LEASE,
                attempts=WebhookMessage.attempts + 1)
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def send_webhook(ctx: WorkerContext, message_id: int) -> str:
    """Job: one try at one message. Safe to run twice: the claim lets one runner through."""
    sessionmaker = ctx["sessionmaker"]
    config = ctx["config"]
    now = ctx["clock"].now()
    async with sessionmaker() as session:
        if not await claim(session, message_id, now):
            return "nothing to do"
        message = await session.get(WebhookMessage, message_id)
        assert message is not None
        endpoint = await session.get(WebhookEndpoint, message.endpoint_id)
        assert endpoint is not None
        url, body, msg_id, attempts = (endpoint.url, message.payload.encode(), message.msg_id,
                                       message.attempts)
        try:
            secret: str | None = open_secret(config.secret_key, endpoint)
        except Unsealable:
            secret = None
        await session.commit()
    if secret is None:
        answer = webhook_http.Answer(False, None, "the signing secret cannot be opened "
                                     "(SECRET_KEY changed?); rotate it", 0)
    else:
        # The receiver checks the timestamp against its own clock: it is the wall clock's,
        # even where the rest of the job runs on an injected one (tests move it by hours).
        headers = signing.headers(secret, msg_id, int(time.time()), body)
        answer = await webhook_http.post(url, body, headers,
                                         allow_loopback=config.webhook_allow_loopback,
                                         resolver=ctx.get("webhook_resolver"))
    disabled = await record(ctx, message_id, attempts, answer, now)
    if disabled:
        await notify_owner(ctx, disabled)
    return "sent" if answer.ok else "failed"


async def record(ctx: WorkerContext, message_id: int, attempts: int,
                 answer: webhook_http.Answer, now: datetime) -> int | None:
    """Store the attempt and the message's next state; the endpoint id if this turned the
    endpoint off."""
    disabled: int | None = None
    async with ctx["sessionmaker"]() as session:
        message = await session.get(WebhookMessage, message_id)
        if message is None:  # its endpoint was deleted meanwhile
            return None
        session.add(WebhookAttempt(message_id=message_id, attempted_at=now,
                                   succeeded=answer.ok, status_code=answer.status_code,
                                   error=answer.error, duration_ms=answer.duration_ms))
        if message.status != WebhookStatus.SENDING:
            await session.commit()  # reclaimed meanwhile: the attempt is history
            return None
        endpoint = await session.get(WebhookEndpoint, message.endpoint_id)
        assert endpoint is not None
        message.lease_until = None
        message.last_status_code = answer.status_code
        message.last_error = answer.error
        wait = next_try(attempts)
        if answer.ok:
            message.status = WebhookStatus.SENT
            message.sent_at = now
            endpoint.failing_since = None
        elif wait is None or message.event_id is None:  # pings are tried once
            message.status = WebhookStatus.FAILED
            if message.event_id is not None and endpoint.enabled:
                endpoint.failing_since = endpoint.failing_since or now
                endpoint.enabled = False
                endpoint.disabled_at = now
                endpoint.disabled_reason = (f"a message failed {attempts} times; last: "
                                            f"{answer.error}")[:500]
                disabled = endpoint.id
        else:
            endpoint.failing_since = endpoint.failing_since or now
            message.status = WebhookStatus.PENDING
            message.due_at = now + wait
            soon = wait <= QUEUE_HORIZON
            message.enqueued_at = now if soon else None  # later ones: the reconcile sweep
            if soon:
                pending_jobs(session).append(
                    replace(send_job(message_id, str(attempts)), defer_until=now + wait))
        await commit(ctx, session)
    return disabled


async def commit(ctx: WorkerContext, session: AsyncSession) -> None:
    await commit_and_enqueue(session, ctx.get("queue"), ctx["clock"])


# --- telling the owner ---------------------------------------------------------------------


async def recipients(session: AsyncSession, endpoint: WebhookEndpoint) -> list[Account]:
    """Who made it; if that account is gone, the organization's organizers."""
    if endpoint.created_by_id is not None:
        owner = await session.get(Account, endpoint.created_by_id)
        if owner is not None:
            return [owner]
    return list((await session.scalars(
        select(Account).join(Role, Role.account_id == Account.id)
        .where(Role.organization_id == endpoint.organization_id)
        .order_by(Account.id))).unique().all())


async def notify_owner(ctx: WorkerContext, endpoint_id: int) -> bool:
    """Tell the owner once: the notice is claimed first and given back if it could not go."""
    now = ctx["clock"].now()
    async with ctx["sessionmaker"]() as session:
        claimed = await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled.is_(False),
                   WebhookEndpoint.disabled_at.is_not(None),
                   WebhookEndpoint.owner_notified_at.is_(None))
            .values(owner_notified_at=now).execution_options(synchronize_session=False))
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return False
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        mails = [disabled_notice(ctx["config"], to=a.email, locale=a.locale, url=endpoint.url,
                                 reason=endpoint.disabled_reason or "",
                                 organization_id=endpoint.organization_id, now=now)
                 for a in await recipients(session, endpoint)]
        await session.commit()
    try:
        for mail in mails:
            await ctx["mailer"].send(mail)
    except Exception:
        log.exception("telling the owner of webhook endpoint %s failed; reconcile retries",
                      endpoint_id)
        async with ctx["sessionmaker"]() as session:
            await session.execute(update(WebhookEndpoint)
                                  .where(WebhookEndpoint.id == endpoint_id)
                                  .values(owner_notified_at=None))
            await session.commit()
        return False
    return True


# --- the safety net ------------------------------------------------------------------------


async def reconcile_webhooks(ctx: WorkerContext) -> dict[str, int]:
    """Reclaim messages stuck past their lease, queue every due message that has no job, and
    retry owners' notices that could not be sent."""
    now = ctx["clock"].now()
    grace = timedelta(seconds=ctx["config"].reconcile_grace)
    async with ctx["sessionmaker"]() as session:
        reclaimed = await session.execute(
            update(WebhookMessage)
            .where(WebhookMessage.status == WebhookStatus.SENDING,
                   WebhookMessage.lease_until < now)
            .values(status=WebhookStatus.PENDING, lease_until=None, enqueued_at=None,
                    last_error="interrupted while sending; sent again")
            .execution_options(synchronize_session=False))
        endpoint_on = select(WebhookEndpoint.id).where(
            WebhookEndpoint.id == WebhookMessage.endpoint_id,
            WebhookEndpoint.enabled.is_(True)).exists()
        due = (await session.execute(
            select(WebhookMessage.id, WebhookMessage.attempts, WebhookMessage.due_at)
            .where(WebhookMessage.status == WebhookStatus.PENDING, endpoint_on,
                   WebhookMessage.due_at <= now + QUEUE_HORIZON,
                   or_(WebhookMessage.enqueued_at.is_(None),
                       and_(WebhookMessage.enqueued_at <= now - grace,
                            WebhookMessage.due_at <= now - grace)))
            .order_by(WebhookMessage.due_at, WebhookMessage.id).limit(RECONCILE_LIMIT))).all()
        if due:
            await session.execute(update(WebhookMessage)
                                   .where(WebhookMessage.id.in_([r.id for r in due]))
                                   .values(enqueued_at=now)
                                   .execution_options(synchronize_session=False))
        stamp = now.strftime("%Y%m%d%H%M")
        for row in due:
            pending_jobs(session).append(replace(  # deferred only when not yet due
                send_job(row.id, f"{row.attempts}:r{stamp}"),
                defer_until=row.due_at if row.due_at > now else None))
        untold = list((await session.scalars(
            select(WebhookEndpoint.id).where(WebhookEndpoint.enabled.is_(False),
                                             WebhookEndpoint.disabled_at.is_not(None),
                                             WebhookEndpoint.owner_notified_at.is_(None))
        )).all())
        await commit(ctx, session)
    told = sum([await notify_owner(ctx, endpoint_id) for endpoint_id in untold])
    return {"webhooks_reclaimed": int(reclaimed.rowcount),  # type: ignore[attr-defined]
            "webhooks_queued": len(due), "webhook_owners_told": told}
