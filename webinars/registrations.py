"""Members registering and cancelling. Capacity holds exactly, even under concurrency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from . import events, limits
from .clock import Clock
from .config import AppConfig
from .errors import Conflict, NotFound
from .models import MemberFeed, Registration, Webinar
from .security import new_token, proof_matches
from .series import held, is_series
from .states import EventKind
from .validation import RegistrationInput


@dataclass(frozen=True)
class RegistrationLimits:
    """How much registering one client and one address may do within `period`."""

    period: timedelta
    #: Different addresses one client may register (more is someone mailing strangers).
    addresses_per_client: int
    #: Registrations of one address, from anywhere (more floods that mailbox).
    per_address: int

    @classmethod
    def of(cls, config: AppConfig) -> RegistrationLimits:
        return cls(timedelta(seconds=config.registration_limit_period),
                   config.registration_limit_per_client, config.registration_limit_per_address)


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


async def admit(session: AsyncSession, clock: Clock, rules: RegistrationLimits, *,
                address: str, client: str | None) -> None:
    """Count this registration, or raise RateLimited with how long to wait.

    `client` is None for organizers registering members through the API: only the address's
    own limit applies to them.
    """
    now = clock.now()
    address = normalize_email(address)
    address_key = f"register:address:{address}"
    wait = await limits.wait_for(session, address_key, limits.Window(rules.per_address,
                                                                      rules.period), now)
    keys = [address_key]
    if client is not None:
        prefix = f"register:client:{client}:"
        wait = max(wait, await limits.wait_for_new(
            session, prefix, prefix + address,
            limits.Window(rules.addresses_per_client, rules.period), now))
        keys.append(prefix + address)
    if wait:
        raise limits.RateLimited("too many registrations; try again later", wait)
    limits.record(session, now, *keys)
    await limits.prune(session, now - rules.period)


async def release_seat(session: AsyncSession, webinar_id: int) -> None:
    await session.execute(
        update(Webinar).where(Webinar.id == webinar_id, Webinar.registered_count > 0)
        .values(registered_count=Webinar.registered_count - 1)
        .execution_options(synchronize_session=False)
    )


def closes_at(webinar: Webinar) -> datetime:
    """When registration closes. A period (a contest, an action) takes members until its last
    day is over; a course until its last held session begins, since a late joiner still
    attends the sessions ahead; a single event when it begins."""
    if webinar.all_day:
        return webinar.start_at + timedelta(minutes=webinar.duration_minutes)
    if is_series(webinar):
        return max(s.start_at for s in held(webinar) or webinar.sessions)
    return webinar.start_at


def check_open(webinar: Webinar, clock: Clock) -> None:
    if webinar.status == "cancelled":
        raise Conflict("the webinar is cancelled", "cancelled")
    if webinar.status != "scheduled" or closes_at(webinar) <= clock.now():
        raise Conflict("registration is closed", "closed")
    if not webinar.registration_open:
        raise Conflict("registration is closed", "closed")


async def register(session: AsyncSession, clock: Clock, webinar: Webinar,
                   data: RegistrationInput, *, registered_by: int | None = None
                   ) -> Registration:
    """Register an address; `registered_by` is the organizer who did it through the API.

    A cancelled registration is made anew (new tokens, nothing proven yet) if a seat is free:
    whoever cancelled it keeps nothing of it, and whoever registers now gets nothing of theirs.
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
        registration.created_at = now
        registration.name = data.name
        registration.email = data.email.strip()
        registration.locale = data.locale
        registration.timezone = data.timezone
        registration.organization_id = data.organization_id or webinar.organization_id
        registration.token = new_token()
        registration.join_token = new_token()
        registration.address_confirmed_at = None
        registration.registered_by_id = registered_by
        registration.reminders_off = False
        registration.sequence_offset += 1  # the new invitation follows their CANCEL
        await session.execute(  # feeds made from its page belonged to the one who cancelled
            update(MemberFeed).where(MemberFeed.registration_id == registration.id)
            .values(registration_id=None).execution_options(synchronize_session=False))
    else:
        registration = Registration(
            webinar_id=webinar.id, name=data.name, email=data.email.strip(),
            email_normalized=normalized, locale=data.locale, timezone=data.timezone,
            organization_id=data.organization_id or webinar.organization_id,
            status="confirmed", token=new_token(), join_token=new_token(), created_at=now,
            registered_by_id=registered_by, reminders_off=False, sequence_offset=0,
        )
        session.add(registration)
    await session.flush()
    events.record(session, EventKind.REGISTRATION_CONFIRMED, now, webinar=webinar,
                  registration_id=registration.id, actor_id=registered_by)
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
    await session.refresh(registration, attribute_names=["status", "sequence_offset"],
                          with_for_update=True)
    if registration.status == "cancelled":
        return registration
    now = clock.now()
    registration.status = "cancelled"
    registration.cancelled_at = now
    registration.sequence_offset += 1  # their CANCEL is newer than anything they hold
    await release_seat(session, registration.webinar_id)
    await session.flush()
    events.record(session, EventKind.REGISTRATION_CANCELLED, now, webinar=registration.webinar,
                  registration_id=registration.id)
    return registration


async def confirm_address(session: AsyncSession, clock: Clock, registration: Registration,
                          proof: str, secret: str) -> bool:
    """The link from one of this registration's e-mails was opened: the address is theirs."""
    if not proof_matches(secret, registration.token, proof):
        return False
    if registration.address_confirmed_at is None and registration.status == "confirmed":
        registration.address_confirmed_at = clock.now()
        await session.flush()
    return True


async def set_reminders(session: AsyncSession, registration: Registration, *, on: bool) -> None:
    """Reminders and follow-ups on or off (List-Unsubscribe, or the personal page)."""
    registration.reminders_off = not on
    await session.flush()
