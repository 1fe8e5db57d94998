"""Members registering and cancelling. Capacity holds exactly, even under concurrency."""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from . import deliveries
from .clock import Clock
from .errors import Conflict, NotFound
from .models import Registration, Webinar
from .security import new_token
from .validation import RegistrationInput


def normalize_email(address: str) -> str:
    return address.strip().lower()


async def take_seat(session: AsyncSession, webinar_id: int) -> bool:
    """One conditional UPDATE: the database decides who gets the last seat."""
    result = await session.execute(
        update(Webinar)
        .where(Webinar.id == webinar_id,
               or_(Webinar.capacity.is_(None), Webinar.registered_count < Webinar.capacity))
        .values(registered_count=Webinar.registered_count + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release_seat(session: AsyncSession, webinar_id: int) -> None:
    await session.execute(
        update(Webinar).where(Webinar.id == webinar_id, Webinar.registered_count > 0)
        .values(registered_count=Webinar.registered_count - 1)
        .execution_options(synchronize_session=False)
    )


def check_open(webinar: Webinar, clock: Clock) -> None:
    if webinar.status == "cancelled":
        raise Conflict("the webinar is cancelled", "cancelled")
    if webinar.status != "scheduled" or webinar.start_at <= clock.now():
        raise Conflict("registration is closed", "closed")
    if not webinar.registration_open:
        raise Conflict("registration is closed", "closed")


async def register(session: AsyncSession, clock: Clock, webinar: Webinar,
                   data: RegistrationInput) -> Registration:
    """Register, or return the existing registration for this e-mail (it is the same person).

    A cancelled registration is revived with a new token if a seat is free.
    """
    check_open(webinar, clock)
    normalized = normalize_email(data.email)
    # Locked, so two revivals of one cancelled registration cannot both take a seat.
    existing = await session.scalar(select(Registration).where(
        Registration.webinar_id == webinar.id, Registration.email_normalized == normalized
    ).with_for_update(of=Registration))
    if existing is not None and existing.status == "confirmed":
        raise Conflict("this e-mail is already registered", "duplicate")
    if not await take_seat(session, webinar.id):
        raise Conflict("the webinar is full", "full")
    now = clock.now()
    if existing is not None:
        registration = existing
        registration.status = "confirmed"
        registration.cancelled_at = None
        registration.name = data.name
        registration.locale = data.locale
        registration.timezone = data.timezone
        registration.token = new_token()
        registration.join_token = new_token()
    else:
        registration = Registration(
            webinar_id=webinar.id, name=data.name, email=data.email.strip(),
            email_normalized=normalized, locale=data.locale, timezone=data.timezone,
            organization_id=data.organization_id or webinar.organization_id,
            status="confirmed", token=new_token(), join_token=new_token(), created_at=now,
        )
        session.add(registration)
    await session.flush()
    await deliveries.on_registered(session, webinar, registration, now)
    return registration


async def by_token(session: AsyncSession, token: str) -> Registration:
    if not token or len(token) > 64:
        raise NotFound("no such registration")
    registration = await session.scalar(select(Registration).where(Registration.token == token))
    if registration is None:
        raise NotFound("no such registration")
    return registration


async def by_join_token(session: AsyncSession, join_token: str) -> Registration:
    if not join_token or len(join_token) > 64:
        raise NotFound("no such registration")
    registration = await session.scalar(
        select(Registration).where(Registration.join_token == join_token))
    if registration is None:
        raise NotFound("no such registration")
    return registration


async def cancel(session: AsyncSession, clock: Clock, registration: Registration) -> Registration:
    """Cancel once: the row is re-read under a lock, so simultaneous clicks free one seat."""
    await session.refresh(registration, attribute_names=["status"], with_for_update=True)
    if registration.status == "cancelled":
        return registration
    now = clock.now()
    registration.status = "cancelled"
    registration.cancelled_at = now
    await release_seat(session, registration.webinar_id)
    await session.flush()
    await deliveries.on_registration_cancelled(session, registration.webinar, registration, now)
    return registration
