"""Members registering and cancelling, organizers confirming and declining, the waitlist.

Capacity holds exactly, even under concurrency: a seat is taken by one conditional UPDATE
(`take_seat`), and whatever frees a seat (a cancellation, a decline, more capacity) promotes
the first in line in the same transaction (`promote`), so no seat stays free while someone
waits. Pending (approval) and waitlisted registrations hold no seat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from . import deliveries, events, limits
from .clock import Clock
from .config import AppConfig
from .errors import Conflict, NotFound
from .models import MemberFeed, Registration, Webinar
from .security import new_token, proof_matches
from .series import held, is_series
from .states import DeliveryKind, EventKind, RegistrationMode, RegistrationStatus
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


#: At most one "here is your link again" mail per address in this long.
LINK_INTERVAL = timedelta(minutes=15)


class AlreadyRegistered(Conflict):
    """The address is registered already (any status but cancelled). The public page answers
    as for a new registration and mails the link (`resend_link`): nobody learns it was known."""

    def __init__(self, registration: Registration) -> None:
        super().__init__("this e-mail is already registered", "duplicate")
        self.registration = registration


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
    if not webinar.registration_open or webinar.registration_mode == RegistrationMode.CLOSED:
        raise Conflict("registration is closed", "closed")


async def waiting(session: AsyncSession, webinar_id: int) -> int:
    return await session.scalar(select(func.count(Registration.id)).where(
        Registration.webinar_id == webinar_id,
        Registration.status == RegistrationStatus.WAITLISTED)) or 0


async def seat_or_line(session: AsyncSession, webinar: Webinar) -> str:
    """confirmed with a seat taken, or waitlisted: a newcomer never passes those in line."""
    if not await waiting(session, webinar.id) and await take_seat(session, webinar.id):
        return RegistrationStatus.CONFIRMED
    return RegistrationStatus.WAITLISTED


async def register(session: AsyncSession, clock: Clock, webinar: Webinar,
                   data: RegistrationInput, *, registered_by: int | None = None
                   ) -> Registration:
    """Register an address; `registered_by` is the organizer who did it through the API.

    Open mode: confirmed if a seat is free and nobody waits, else waitlisted. Approval mode:
    pending, holding no seat until an organizer confirms it. An address registered already
    raises AlreadyRegistered. A cancelled registration is made anew (new tokens, nothing
    proven yet): whoever cancelled it keeps nothing of it, and whoever registers now gets
    nothing of theirs.
    """
    check_open(webinar, clock)
    normalized = normalize_email(data.email)
    # Locked, so two revivals of one cancelled registration cannot both take a seat.
    existing = await session.scalar(select(Registration).where(
        Registration.webinar_id == webinar.id, Registration.email_normalized == normalized
    ).with_for_update(of=Registration))
    if existing is not None and existing.status != RegistrationStatus.CANCELLED:
        raise AlreadyRegistered(existing)
    if webinar.registration_mode == RegistrationMode.APPROVAL and registered_by is None:
        status: str = RegistrationStatus.PENDING
    else:  # an organizer registering someone has approved them already
        status = await seat_or_line(session, webinar)
    now = clock.now()
    if existing is not None:
        registration = existing
        registration.status = status
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
            status=status, token=new_token(), join_token=new_token(), created_at=now,
            registered_by_id=registered_by, reminders_off=False, sequence_offset=0,
        )
        session.add(registration)
    registration.queued_at = now if status == RegistrationStatus.WAITLISTED else None
    await session.flush()
    events.record(session, {RegistrationStatus.CONFIRMED: EventKind.REGISTRATION_CONFIRMED,
                            RegistrationStatus.PENDING: EventKind.REGISTRATION_PENDING,
                            RegistrationStatus.WAITLISTED: EventKind.REGISTRATION_WAITLISTED
                            }[RegistrationStatus(status)],
                  now, webinar=webinar, registration_id=registration.id, actor_id=registered_by)
    return registration


async def resend_link(session: AsyncSession, clock: Clock, registration: Registration, *,
                      period: timedelta) -> bool:
    """Mail the personal link to the registered address again, at most once per
    LINK_INTERVAL (shorter if `period`, the registration limits' window, is): the mailbox is
    the only place it goes, so asking again reveals and grants nothing. The row is written
    here, not by a handler: it is no change anyone else reacts to."""
    now = clock.now()
    key = f"link:address:{registration.email_normalized}"
    window = limits.Window(1, min(LINK_INTERVAL, period))
    if await limits.wait_for(session, key, window, now):
        return False
    limits.record(session, now, key)
    await deliveries.write(session, [deliveries.row(registration.webinar, registration.id,
                                                    DeliveryKind.LINK, now, now)])
    return True


async def place_in_line(session: AsyncSession, registration: Registration) -> int | None:
    """1 for the first on the waitlist; None when not on it."""
    if registration.status != RegistrationStatus.WAITLISTED or registration.queued_at is None:
        return None
    ahead = await session.scalar(select(func.count(Registration.id)).where(
        Registration.webinar_id == registration.webinar_id,
        Registration.status == RegistrationStatus.WAITLISTED,
        or_(Registration.queued_at < registration.queued_at,
            (Registration.queued_at == registration.queued_at)
            & (Registration.id < registration.id))))
    return (ahead or 0) + 1


async def places(session: AsyncSession, webinar_id: int) -> dict[int, int]:
    """Every waitlisted registration's place in line (1 first)."""
    line = (await session.scalars(select(Registration.id).where(
        Registration.webinar_id == webinar_id,
        Registration.status == RegistrationStatus.WAITLISTED)
        .order_by(Registration.queued_at, Registration.id))).all()
    return {rid: n for n, rid in enumerate(line, 1)}


async def promote(session: AsyncSession, clock: Clock, webinar: Webinar) -> list[int]:
    """Give every free seat to the first in line, in order; the ids promoted.

    A seat is taken first (the conditional UPDATE), then the first waitlisted row is moved
    by a conditional UPDATE of its own: of two transactions freeing seats at once, each gets
    a different member (on PostgreSQL the loser's UPDATE finds the row no longer waitlisted
    and tries the next). A seat taken with nobody left in line is given back.
    """
    promoted: list[int] = []
    if webinar.status != "scheduled":
        return promoted
    now = clock.now()
    while await take_seat(session, webinar.id):
        while True:
            first = await session.scalar(
                select(Registration.id).where(
                    Registration.webinar_id == webinar.id,
                    Registration.status == RegistrationStatus.WAITLISTED)
                .order_by(Registration.queued_at, Registration.id).limit(1))
            if first is None:
                await release_seat(session, webinar.id)
                return promoted
            moved = await session.execute(
                update(Registration).where(Registration.id == first,
                                           Registration.status == RegistrationStatus.WAITLISTED)
                .values(status=RegistrationStatus.CONFIRMED, queued_at=None)
                .execution_options(synchronize_session=False))
            if moved.rowcount:  # type: ignore[attr-defined]
                break
        promoted.append(first)
        events.record(session, EventKind.REGISTRATION_CONFIRMED, now, webinar=webinar,
                      registration_id=first, data={"promoted": True})
    return promoted


async def confirm(session: AsyncSession, clock: Clock, registration: Registration, *,
                  actor_id: int | None = None) -> Registration:
    """An organizer confirms a pending registration: a seat, or the waitlist when full."""
    await session.refresh(registration, attribute_names=["status"], with_for_update=True)
    if registration.status != RegistrationStatus.PENDING:
        return registration
    webinar = registration.webinar
    now = clock.now()
    status = await seat_or_line(session, webinar)
    registration.status = status
    registration.queued_at = now if status == RegistrationStatus.WAITLISTED else None
    await session.flush()
    events.record(session, EventKind.REGISTRATION_CONFIRMED
                  if status == RegistrationStatus.CONFIRMED
                  else EventKind.REGISTRATION_WAITLISTED, now, webinar=webinar,
                  registration_id=registration.id, actor_id=actor_id,
                  data={"approved": True})
    return registration


async def decline(session: AsyncSession, clock: Clock, registration: Registration, *,
                  actor_id: int | None = None) -> Registration:
    """An organizer declines a registration (pending, waitlisted or confirmed). One that held
    a seat gives it to the first in line; the member is told either way."""
    return await _end(session, clock, registration, RegistrationStatus.DECLINED,
                      EventKind.REGISTRATION_DECLINED, actor_id)


async def _end(session: AsyncSession, clock: Clock, registration: Registration, status: str,
               kind: EventKind, actor_id: int | None) -> Registration:
    """Cancel or decline once: the row is re-read under a lock, so simultaneous clicks free
    one seat, and a freed seat goes to the first in line. Someone who only waited (pending,
    waitlisted) holds no event in their calendar: `held_seat` tells the notifications
    handler that no CANCEL goes to them."""
    await session.refresh(registration, attribute_names=["status", "sequence_offset"],
                          with_for_update=True)
    if registration.status in (RegistrationStatus.CANCELLED, RegistrationStatus.DECLINED):
        return registration
    now = clock.now()
    held_seat = registration.status == RegistrationStatus.CONFIRMED
    registration.status = status
    registration.cancelled_at = now
    registration.queued_at = None
    if held_seat:
        registration.sequence_offset += 1  # their CANCEL is newer than anything they hold
        await release_seat(session, registration.webinar_id)
    await session.flush()
    data = {"held_seat": held_seat}
    events.record(session, kind, now, webinar=registration.webinar,
                  registration_id=registration.id, actor_id=actor_id, data=data)
    if held_seat:
        await promote(session, clock, registration.webinar)
    return registration


async def pending_of(session: AsyncSession, webinar_id: int) -> list[Registration]:
    return list((await session.scalars(select(Registration).where(
        Registration.webinar_id == webinar_id,
        Registration.status == RegistrationStatus.PENDING)
        .order_by(Registration.created_at, Registration.id))).all())


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
    """The member cancels (or leaves the waitlist, or withdraws a request)."""
    return await _end(session, clock, registration, RegistrationStatus.CANCELLED,
                      EventKind.REGISTRATION_CANCELLED, None)


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
