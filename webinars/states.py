"""Every state and kind the tables hold, typed. The migrations turn each into a CHECK
constraint, so a misspelt value fails at the database, not weeks later in a report."""

from __future__ import annotations

from enum import StrEnum


class WebinarKind(StrEnum):
    WEBINAR = "webinar"
    CONFERENCE = "conference"
    TRAINING = "training"
    ACTION = "action"
    CONTEST = "contest"
    OTHER = "other"


class WebinarStatus(StrEnum):
    DRAFT = "draft"
    #: An indicative item of a yearly plan: a month, a quarter or the year (`plan_period`),
    #: no date yet. It shows in plans, not in calendars, and takes no registrations.
    PLANNED = "planned"
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    FINISHED = "finished"


class SessionStatus(StrEnum):
    """One session of a course: held as planned (or moved), or cancelled on its own."""

    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class Visibility(StrEnum):
    PUBLIC = "public"
    UNLISTED = "unlisted"


class RoleName(StrEnum):
    ADMIN = "admin"
    ORGANIZER = "organizer"


class OrgLevel(StrEnum):
    FEDERAL = "federal"
    REGIONAL = "regional"
    MUNICIPAL = "municipal"
    PRIMARY = "primary"
    OTHER = "other"


class MeetingStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"
    #: The webinar was cancelled and the meeting removed from the platform.
    DELETED = "deleted"


class AdoptionKind(StrEnum):
    #: The organization's members register for the one shared event; it shows in its plan.
    JOIN = "join"
    #: The organization runs its own event made from the original (`Adoption.copy_id`).
    COPY = "copy"


class ConnectionStatus(StrEnum):
    #: Saved, not yet tested.
    UNTESTED = "untested"
    OK = "ok"
    #: The platform refused the credentials (on test, on use or in the daily check).
    BROKEN = "broken"


class AttendanceSource(StrEnum):
    WEBHOOK = "webhook"
    REPORT = "report"


class RegistrationMode(StrEnum):
    """How a webinar takes registrations."""

    OPEN = "open"
    #: Each registration waits for an organizer to confirm or decline it.
    APPROVAL = "approval"
    CLOSED = "closed"


class RegistrationStatus(StrEnum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    #: Waiting for an organizer (approval mode); holds no seat.
    PENDING = "pending"
    #: The webinar was full: in line for a seat (`Registration.queued_at` orders the line).
    WAITLISTED = "waitlisted"
    #: An organizer declined it.
    DECLINED = "declined"


class DeliveryKind(StrEnum):
    INVITATION = "invitation"
    UPDATE = "update"
    CANCELLATION = "cancellation"
    REMINDER = "reminder"
    FOLLOWUP = "followup"
    #: Before a period's submission deadline (`Webinar.deadline_at`).
    DEADLINE = "deadline"
    #: "Your request was received" (approval mode), no calendar part.
    PENDING = "pending"
    #: "You are on the waitlist", no calendar part: no seat, no event in their calendar.
    WAITLISTED = "waitlisted"
    #: A seat freed up for someone on the waitlist: the invitation (REQUEST) saying so.
    PROMOTED = "promoted"
    #: "Your registration was declined", no calendar part.
    DECLINED = "declined"
    #: Their personal link again, after registering again with the same address.
    LINK = "link"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPERSEDED = "superseded"


class EventKind(StrEnum):
    """What happened. Names are an API (webhook consumers filter on them): add, never rename."""

    WEBINAR_DRAFTED = "webinar.drafted"
    WEBINAR_SCHEDULED = "webinar.scheduled"
    WEBINAR_CHANGED = "webinar.changed"
    WEBINAR_CANCELLED = "webinar.cancelled"
    REGISTRATION_CONFIRMED = "registration.confirmed"
    REGISTRATION_CANCELLED = "registration.cancelled"
    REGISTRATION_PENDING = "registration.pending"
    REGISTRATION_WAITLISTED = "registration.waitlisted"
    REGISTRATION_DECLINED = "registration.declined"
    MEETING_READY = "meeting.ready"
    MEETING_FAILED = "meeting.failed"
    DELIVERY_FAILED = "delivery.failed"


class WebhookStatus(StrEnum):
    """A webhook message: one per (event, endpoint), or a test ping."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


def check(column: str, enum: type[StrEnum]) -> str:
    """The SQL of a CHECK constraint that holds `column` to the enum's values."""
    return f"{column} IN ({', '.join(repr(v) for v in values(enum))})"
