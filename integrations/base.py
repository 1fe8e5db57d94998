"""The one interface every conferencing platform adapter implements, and its error tree.

Adapters take plain values and return plain values: no ORM objects, no sessions. They receive
the process's shared aiohttp session (through `integrations.http.PlatformHttp`) and never
create their own. Adapters translate; the core (workers/meetings.py) decides what to retry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import aiohttp


@dataclass(frozen=True)
class Occurrence:
    """One held session of a course: where it is now, and where the course's rule put it
    (`original_start`; they differ once the session was moved). `position` counts from 0
    over every session the rule made, cancelled ones included."""

    position: int
    start: datetime
    duration: timedelta
    original_start: datetime

    @property
    def end(self) -> datetime:
        return self.start + self.duration


@dataclass(frozen=True)
class MeetingSpec:
    """What the core wants: a meeting for this event. `idempotency_key` is stable per event.

    A course (series) also lists its held sessions in `occurrences`, in order; `start` and
    `duration` are then its first held session's. Platforms with persistent rooms ignore
    them; platforms whose meetings are bound to a time must cover every one.
    """

    title: str
    start: datetime
    duration: timedelta
    description: str = ""
    idempotency_key: str = ""
    static_url: str | None = None
    #: The event's own IANA zone, for platforms that show a zone to the host.
    timezone: str = "UTC"
    occurrences: tuple[Occurrence, ...] = ()

    @property
    def end(self) -> datetime:
        """When the last session (or the one meeting) is over."""
        return max((o.end for o in self.occurrences), default=self.start + self.duration)


@dataclass(frozen=True)
class Recurrence:
    """A course laid on one recurring meeting: `count` slots `every` apart in local wall time
    (so a weekly course keeps its hour across a DST change), from `first`, each `duration`
    long. `skipped` slots hold no session (cancelled); `moved` slots hold a session that is
    elsewhere now or lasts otherwise (the platform's occurrence is edited to it)."""

    first: datetime
    every: timedelta
    count: int
    duration: timedelta
    zone: str
    skipped: tuple[int, ...] = ()
    moved: tuple[tuple[int, Occurrence], ...] = ()

    def slot(self, index: int) -> datetime:
        local = self.first.astimezone(ZoneInfo(self.zone)).replace(tzinfo=None)
        wall = local + self.every * index
        return wall.replace(tzinfo=ZoneInfo(self.zone)).astimezone(UTC)

    @property
    def plain(self) -> bool:
        """Every slot is held as the rule says: a plain recurring meeting covers it."""
        return not self.skipped and not self.moved


def _wall(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def weekly(spec: MeetingSpec) -> Recurrence | None:
    """The course as a weekly rule on its sessions' original starts (one local weekday and
    time), with cancelled weeks skipped and moved sessions listed; None when the original
    starts are not whole weeks apart at one local time (a list of dates)."""
    held = spec.occurrences
    if len(held) < 2:
        return None
    base = min(held, key=lambda o: o.original_start)
    first = _wall(base.original_start, spec.timezone)
    slots: dict[int, Occurrence] = {}
    for item in held:
        gap = _wall(item.original_start, spec.timezone) - first
        if gap.seconds or gap.microseconds or gap.days % 7:
            return None
        slots[gap.days // 7] = item
    count = max(slots) + 1
    return Recurrence(
        first=base.original_start, every=timedelta(weeks=1), count=count,
        duration=spec.duration, zone=spec.timezone,
        skipped=tuple(i for i in range(count) if i not in slots),
        moved=tuple((i, o) for i, o in sorted(slots.items())
                    if o.start != o.original_start or o.duration != spec.duration))


def daily(spec: MeetingSpec) -> Recurrence:
    """The course as daily slots from its first held session, one per held session, each
    after the first moved to its real time: for platforms that take only a rule and
    per-occurrence edits, when the sessions follow no weekly rule."""
    held = sorted(spec.occurrences, key=lambda o: o.start)
    plan = Recurrence(first=held[0].start, every=timedelta(days=1), count=len(held),
                      duration=held[0].duration, zone=spec.timezone)
    moved = tuple((i, o) for i, o in enumerate(held)
                  if o.start != plan.slot(i) or o.duration != plan.duration)
    return Recurrence(plan.first, plan.every, plan.count, plan.duration, plan.zone, (), moved)


def occurrence_key(position: int) -> str:
    """The `MeetingLink.extra` key of a session that has its own meeting on the platform
    (an MTS Link eventsession): its value is "<external id>|<start ISO>|<join url>"."""
    return f"occurrence.{position}"


def occurrence_link(link: MeetingLink, position: int | None) -> MeetingLink:
    """The meeting of one session where sessions have their own (same extra), else `link`."""
    value = link.extra.get(occurrence_key(position)) if position is not None else None
    if not value or value.count("|") < 2:
        return link
    ident, _, url = value.split("|", 2)
    return MeetingLink(ident, url, link.host_url, link.extra)


@dataclass(frozen=True)
class MeetingLink:
    """What the platform gave back: where attendees go, and the ids to find the meeting again.

    `host_url` is only set where it never expires (a Jitsi room); expiring host links
    (Zoom's start_url) are fetched by `host_link` when the host clicks. `extra` holds the
    platform's other ids (Zoom uuid, MTS Link eventId, Google calendar id).
    """

    external_id: str
    join_url: str
    host_url: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Person:
    """Someone joining: `id` is the id we issue ("r17" for registration 17, "h3" for
    organizer 3); platforms echo it back in attendance reports and webhooks."""

    id: str
    name: str
    email: str


@dataclass(frozen=True)
class PersonalLink:
    """A link for one person. `platform_id` is what the platform calls them (Zoom's
    registrant id, MTS Link's participationId), kept to match attendance."""

    url: str
    expires_at: datetime | None = None
    platform_id: str | None = None


@dataclass(frozen=True)
class HookRequest:
    """A callback as received at `/hooks/<platform>/<key>`, before anything is believed."""

    headers: Mapping[str, str]  # lower-case names
    body: bytes
    query: Mapping[str, str]
    received_at: datetime
    method: str = "POST"


#: Kinds of `PlatformEvent`.
MEETING_STARTED = "meeting.started"
MEETING_ENDED = "meeting.ended"
PARTICIPANT_JOINED = "participant.joined"
PARTICIPANT_LEFT = "participant.left"
RECORDING_READY = "recording.ready"


@dataclass(frozen=True)
class PlatformEvent:
    """One normalised fact from a webhook or an attendance report.

    `participant_id` is an id we issued (Person.id) or the platform's id for a person we
    registered there (PersonalLink.platform_id); never an e-mail address.
    """

    kind: str
    external_id: str
    occurred_at: datetime
    dedupe_key: str
    participant_id: str | None = None
    participant_name: str | None = None
    recording_url: str | None = None


@dataclass(frozen=True)
class HookReply:
    """What to answer the platform (a URL-validation challenge, or an empty 200) and what
    the callback told us."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"
    events: tuple[PlatformEvent, ...] = ()


class ConferencingError(Exception):
    """Base of every error an adapter raises. The message is for the organizer: it names the
    exact problem and, where it helps, what to do."""


class PlatformUnavailable(ConferencingError):
    """Temporary: timeouts, 5xx. The job retries with back-off."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(PlatformUnavailable):
    """429: try again after `retry_after` seconds."""


class QuotaExceeded(PlatformUnavailable):
    """A daily quota is used up (Zoom's 100 meeting creates a day): retry after the reset,
    never hot."""


class PlatformRejected(ConferencingError):
    """Final: the organizer must act."""


class AuthError(PlatformRejected):
    """Bad, expired or revoked credentials, or a missing permission or scope."""


class PlanRestricted(PlatformRejected):
    """The account's plan does not allow this (Zoom webinars, Telemost outside Yandex 360
    for Business, Telemost live streams)."""


class InvalidRequest(PlatformRejected):
    """The platform refused what we sent (a bad field)."""


class InvalidState(PlatformRejected):
    """Not now: the meeting is running (Zoom 3002) or has ended."""


class MeetingNotFound(ConferencingError):
    """The platform no longer knows the meeting; delete treats this as done."""


class BadSignature(ConferencingError):
    """A callback that is not from the platform: missing or wrong signature or secret."""


class NotSupported(ConferencingError):
    """The platform has no such thing (a webhook, a host link, an attendance report)."""


class Adapter(Protocol):
    name: str
    #: "dynamic" adapters call an API or mint links; "static" ones validate a pasted link.
    link_kind: str

    async def create(self, spec: MeetingSpec) -> MeetingLink:
        """Create the meeting; the same idempotency key twice is harmless where the platform
        has such keys (the core keeps the external id for the others)."""
        ...

    async def get(self, link: MeetingLink) -> MeetingLink:
        """The meeting as the platform has it now; MeetingNotFound when it is gone."""
        ...

    async def update(self, link: MeetingLink, spec: MeetingSpec) -> MeetingLink:
        """Move or rename the same meeting; only a platform that cannot move one returns a
        new link."""
        ...

    async def delete(self, link: MeetingLink) -> None:
        """Remove the meeting; a meeting that is already gone counts as deleted."""
        ...

    async def check(self) -> None:
        """Test the connection with a harmless call; raise the error that says what is
        wrong (AuthError, PlanRestricted, PlatformUnavailable)."""
        ...

    async def host_link(self, link: MeetingLink, host: Person) -> PersonalLink:
        """A fresh link that opens the meeting as its host, fetched or signed just now."""
        ...

    async def join_link(self, link: MeetingLink, person: Person) -> PersonalLink:
        """This person's own link where the platform has them (registrants, signed joins,
        tokens); the shared `join_url` otherwise."""
        ...

    async def handle_hook(self, request: HookRequest) -> HookReply:
        """Verify a callback (BadSignature when it is not genuine) and normalise it;
        NotSupported for platforms without callbacks."""
        ...

    async def attendance(self, link: MeetingLink) -> list[PlatformEvent]:
        """Who joined and left, from the platform's report; NotSupported without one."""
        ...


@contextmanager
def translate_errors(platform: str) -> Iterator[None]:
    """Map transport failures onto the error tree, keeping the cause."""
    try:
        yield
    except ConferencingError:
        raise
    except TimeoutError as exc:
        raise PlatformUnavailable(f"{platform}: no answer in time") from exc
    except aiohttp.ClientResponseError as exc:
        if exc.status == 429 or exc.status >= 500:
            raise PlatformUnavailable(f"{platform}: HTTP {exc.status}") from exc
        raise PlatformRejected(f"{platform}: HTTP {exc.status}") from exc
    except aiohttp.ClientError as exc:
        raise PlatformUnavailable(f"{platform}: {type(exc).__name__}") from exc
