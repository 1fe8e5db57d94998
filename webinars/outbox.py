"""What organizers see of outgoing mail: the local outbox, each registrant's deliveries, and
"resend invitation". Only webinars in the organizer's subtree are visible."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from . import deliveries
from .clock import Clock
from .errors import Conflict, NotFound
from .models import Account, Delivery, OutboxMessage, Registration, Webinar
from .organizations import admin_subtree, all_organizations, managed_ids, require_manage
from .scheduling import get_managed_webinar

PAGE_SIZE = 100
STATUSES = ("pending", "sending", "sent", "failed", "superseded")


async def operates(session: AsyncSession, account: Account) -> bool:
    """Whether the account is an admin of a top organization: in the embedded mode the
    operator, who reads the mail that belongs to no webinar (organizer invitations, password
    links) since nothing else delivers it."""
    orgs = await all_organizations(session)
    administered = admin_subtree(orgs, account)
    return any(o.parent_id is None and o.id in administered for o in orgs)


async def list_messages(session: AsyncSession, account: Account, *, page: int = 1
                        ) -> tuple[list[tuple[OutboxMessage, Webinar | None]], bool]:
    """Newest first; (rows, whether there is a next page)."""
    orgs = await managed_ids(session, account)
    visible: ColumnElement[bool] = Webinar.organization_id.in_(sorted(orgs))
    if await operates(session, account):
        visible = or_(visible, OutboxMessage.webinar_id.is_(None))
    rows = (await session.execute(
        select(OutboxMessage, Webinar)
        .outerjoin(Webinar, Webinar.id == OutboxMessage.webinar_id)
        .where(visible)
        .order_by(OutboxMessage.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    )).unique().all()
    pairs: list[tuple[OutboxMessage, Webinar | None]] = [(m, w) for m, w in rows]
    return pairs[:PAGE_SIZE], len(pairs) > PAGE_SIZE


async def get_message(session: AsyncSession, account: Account, message_id: int
                      ) -> tuple[OutboxMessage, Webinar | None]:
    row = (await session.execute(
        select(OutboxMessage, Webinar).outerjoin(Webinar, Webinar.id == OutboxMessage.webinar_id)
        .where(OutboxMessage.id == message_id))).unique().first()
    if row is None:
        raise NotFound("no such message")
    message, webinar = row
    if webinar is not None:
        await require_manage(session, account, webinar.organization_id)
    elif not await operates(session, account):
        raise NotFound("no such message")
    return message, webinar


@dataclass(frozen=True)
class ParsedMessage:
    text: str
    calendar_method: str | None
    attachments: list[str]


def parse(raw: bytes) -> ParsedMessage:
    """The parts an organizer reads: the plain-text body, the iTIP method, attachment names."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content() if isinstance(body, EmailMessage) else ""
    method = None
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            method = part.get_param("method")
            break
    names = [part.get_filename() or "" for part in msg.iter_attachments()] \
        if msg.is_multipart() else []
    return ParsedMessage(text=str(text), calendar_method=str(method) if method else None,
                         attachments=[n for n in names if n])


@dataclass
class RegistrantDeliveries:
    registration: Registration
    deliveries: list[Delivery] = field(default_factory=list)


async def overview(session: AsyncSession, webinar_id: int, *, page: int = 1
                   ) -> tuple[dict[str, int], list[RegistrantDeliveries], bool]:
    """(counts by status, registrants of this page with their deliveries, has next page)."""
    counts = {s: 0 for s in STATUSES}
    for status, n in (await session.execute(
            select(Delivery.status, func.count()).where(Delivery.webinar_id == webinar_id)
            .group_by(Delivery.status))).all():
        counts[status] = n
    registrations = list((await session.scalars(
        select(Registration).where(Registration.webinar_id == webinar_id)
        .order_by(Registration.status, Registration.id)
        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1))).unique().all())
    more = len(registrations) > PAGE_SIZE
    registrations = registrations[:PAGE_SIZE]
    by_id = {r.id: RegistrantDeliveries(r) for r in registrations}
    if by_id:
        for delivery in (await session.scalars(
                select(Delivery).where(Delivery.registration_id.in_(sorted(by_id)))
                .order_by(Delivery.due_at, Delivery.id))).all():
            by_id[delivery.registration_id].deliveries.append(delivery)
    return counts, list(by_id.values()), more


async def resend_invitation(session: AsyncSession, clock: Clock, account: Account,
                            webinar_id: int, registration_id: int) -> Webinar:
    """A fresh invitation row (new Message-ID) for one confirmed registrant."""
    webinar = await get_managed_webinar(session, account, webinar_id)
    registration = await session.scalar(select(Registration).where(
        Registration.id == registration_id, Registration.webinar_id == webinar.id))
    if registration is None:
        raise NotFound("no such registration")
    if webinar.status != "scheduled":
        raise Conflict("invitations are sent only for a scheduled webinar", "not_scheduled")
    if registration.status != "confirmed":
        raise Conflict("the registration is cancelled", "cancelled")
    now = clock.now()
    await deliveries.supersede(session, webinar_id=webinar.id, registration_id=registration.id,
                               kinds=("invitation",))
    await deliveries.write(session, [deliveries.row(webinar, registration.id, "invitation",
                                                    now, now)])
    return webinar
