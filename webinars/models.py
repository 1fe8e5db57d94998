"""The tables. Times are stored as naive UTC and always come back timezone-aware (UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .states import (
    AdoptionKind,
    AttendanceSource,
    ConnectionStatus,
    DeliveryKind,
    DeliveryStatus,
    EventKind,
    MeetingStatus,
    OrgLevel,
    RegistrationMode,
    RegistrationStatus,
    RoleName,
    SessionStatus,
    Visibility,
    WebhookStatus,
    WebinarKind,
    WebinarStatus,
    check,
    values,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

WEBINAR_KINDS = values(WebinarKind)
WEBINAR_STATUSES = values(WebinarStatus)
VISIBILITIES = values(Visibility)
ROLES = values(RoleName)
ORG_LEVELS = values(OrgLevel)
MEETING_STATUSES = values(MeetingStatus)
REGISTRATION_STATUSES = values(RegistrationStatus)
REGISTRATION_MODES = values(RegistrationMode)
DELIVERY_KINDS = values(DeliveryKind)
DELIVERY_STATUSES = values(DeliveryStatus)
EVENT_KINDS = values(EventKind)
DEFAULT_REMINDER_OFFSETS = [24 * 60, 15]  # minutes before the start


class UTCDateTime(TypeDecorator[datetime]):
    """Naive UTC in the database (SQLite has no zones), aware UTC in Python."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Organization(Base):
    __tablename__ = "organizations"
    __table_args__ = (CheckConstraint(check("level", OrgLevel), name="level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(20), default="other")
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Last change to any of its webinars (added, changed, moved in or out, cancelled): the
    #: Last-Modified of every calendar that shows its plan.
    plan_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Raised with every change a calendar of its plan shows (its webinars, its name or level,
    #: `webinars.derived`): feeds take their ETag from it without loading a single event.
    plan_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class OrganizationBrand(Base):
    """An organization's own logo, colour and short description (`webinars.branding`); an
    organization without a row, or with an empty field, shows its nearest ancestor's.

    The logo is stored here, re-encoded as PNG, and not on disk: every web process serves it."""

    __tablename__ = "organization_brands"

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    #: "#rrggbb", dark enough for white button text.
    color: Mapped[str | None] = mapped_column(String(7))
    description: Mapped[str | None] = mapped_column(String(300))
    #: Loaded only where it is served (`deferred`): the tree walks read the other columns.
    logo_png: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    #: The first 16 hex digits of the PNG's SHA-256: its ETag and its address's version.
    logo_version: Mapped[str | None] = mapped_column(String(16))
    logo_width: Mapped[int | None] = mapped_column(Integer)
    logo_height: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(8), default="ru")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    roles: Mapped[list[Role]] = relationship(back_populates="account", lazy="selectin")


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("account_id", "organization_id"),
                      CheckConstraint(check("role", RoleName), name="role"))

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    role: Mapped[str] = mapped_column(String(20))

    account: Mapped[Account] = relationship(back_populates="roles")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RateEvent(Base):
    """One counted attempt (a failed login, a public registration) under a limiter key.

    Kept in the database so every limit holds across web processes.
    """

    __tablename__ = "rate_events"
    __table_args__ = (Index("ix_rate_events_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginSession(Base):
    """A signed-in browser. The cookie names it; logging out or a new password deletes it,
    so a copied cookie stops working at once."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    #: SHA-256 of the random id in the cookie.
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Webinar(Base):
    __tablename__ = "webinars"
    __table_args__ = (Index("ix_webinars_org_start", "organization_id", "start_at"),
                      # Events still running that began more than a day ago (periods and
                      # courses): the rest of "upcoming" is a range of ix_webinars_org_start.
                      Index("ix_webinars_org_long_ends", "organization_id", "long_running",
                            "ends_at"),
                      CheckConstraint(check("kind", WebinarKind), name="kind"),
                      CheckConstraint(check("status", WebinarStatus), name="status"),
                      CheckConstraint(check("visibility", Visibility), name="visibility"),
                      CheckConstraint(check("registration_mode", RegistrationMode),
                                      name="registration_mode"))

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    #: Unguessable key in public addresses, so an unlisted webinar cannot be found by counting.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20), default="webinar")
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int | None] = mapped_column(Integer)
    registered_count: Mapped[int] = mapped_column(Integer, default=0)
    #: False exactly when `registration_mode` is closed (kept for the API's older field).
    registration_open: Mapped[bool] = mapped_column(Boolean, default=True)
    #: open, approval (an organizer confirms each one) or closed (`RegistrationMode`).
    registration_mode: Mapped[str] = mapped_column(String(20), default="open",
                                                   server_default="open")
    visibility: Mapped[str] = mapped_column(String(20), default="public")
    platform: Mapped[str] = mapped_column(String(30), default="jitsi")
    static_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    uid: Mapped[str] = mapped_column(String(200), unique=True)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    reminder_offsets: Mapped[list[int]] = mapped_column(JSON, default=list)
    recording_url: Mapped[str | None] = mapped_column(String(500))
    followup_note: Mapped[str | None] = mapped_column(Text)
    #: A copy's original (a regional run of a federal training): changes to the original are
    #: told to the copy's organizers, never written over the copy.
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("webinars.id", ondelete="SET NULL"), index=True)
    #: When a `planned` item is meant to happen, before it has a date: "2027" (during the
    #: year), "2027-Q1" (a quarter) or "2027-03" (a month). `start_at` is then the period's
    #: first moment in the organization's zone, for ordering.
    plan_period: Mapped[str | None] = mapped_column(String(7))
    #: A period rather than a meeting (a contest, a PR action): whole days from the start's
    #: date to `end_date` (inclusive), DTSTART;VALUE=DATE in calendars.
    all_day: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    end_date: Mapped[date | None] = mapped_column(Date)
    #: A submission deadline inside a period; members are reminded of it.
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A course or recurring series (`webinars.series`): {"kind": "weekly", "weekday": 1,
    #: "time": "15:00", "count": 6, "from": "2027-01-12"} or {"kind": "dates", "starts":
    #: ["2027-01-12T15:00", ...]}, local times in `timezone`. None for a single event.
    series_rule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When the whole event is over (`series.ends_at`), kept by `webinars.derived` at every
    #: flush, so "upcoming" and "past" are one indexed condition instead of a scan of every row.
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Runs longer than a day (a period, a course), kept with `ends_at`: the few such events are
    #: found by their own index, so listing what is coming never scans the past.
    long_running: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    organization: Mapped[Organization] = relationship(lazy="joined")
    meeting: Mapped[Meeting | None] = relationship(
        back_populates="webinar", lazy="joined", uselist=False
    )
    #: A series' sessions in order; empty for a single event.
    sessions: Mapped[list[WebinarSession]] = relationship(
        lazy="selectin", order_by="WebinarSession.position", cascade="all, delete-orphan")


class WebinarSession(Base):
    """One session of a course. `original_start` is where the series' rule put it (its
    RECURRENCE-ID); `start_at` is where it is now (moved when they differ)."""

    __tablename__ = "webinar_sessions"
    __table_args__ = (UniqueConstraint("webinar_id", "position"),
                      CheckConstraint(check("status", SessionStatus), name="status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    webinar_id: Mapped[int] = mapped_column(ForeignKey("webinars.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    original_start: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="scheduled")


class Meeting(Base):
    __tablename__ = "meetings"
    __table_args__ = (CheckConstraint(check("status", MeetingStatus), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    webinar_id: Mapped[int] = mapped_column(
        ForeignKey("webinars.id", ondelete="CASCADE"), unique=True
    )
    platform: Mapped[str] = mapped_column(String(30))
    external_id: Mapped[str | None] = mapped_column(String(300))
    join_url: Mapped[str | None] = mapped_column(String(1000))
    host_url: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    error: Mapped[str | None] = mapped_column(String(1000))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Whose credentials made the meeting: moving and deleting it use the same ones, even
    #: after a suborganization connects its own account.
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("platform_connections.id", ondelete="SET NULL"))
    #: The platform's other ids (Zoom uuid, MTS Link eventId, Google calendar id).
    extra: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, server_default="{}")
    #: When the organizers were told the meeting failed (claimed before sending; cleared when
    #: the meeting is tried again, so a new failure is told again).
    failure_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    webinar: Mapped[Webinar] = relationship(back_populates="meeting")


class Adoption(Base):
    """A lower organization taking a plan item of a higher level into its own plan."""

    __tablename__ = "adoptions"
    __table_args__ = (UniqueConstraint("webinar_id", "organization_id"),
                      CheckConstraint(check("kind", AdoptionKind), name="kind"))

    id: Mapped[int] = mapped_column(primary_key=True)
    webinar_id: Mapped[int] = mapped_column(ForeignKey("webinars.id", ondelete="CASCADE"))
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    #: For a copy: the organization's own event.
    copy_id: Mapped[int | None] = mapped_column(
        ForeignKey("webinars.id", ondelete="SET NULL"), index=True)
    #: A local note and a local contact, shown in the adopting organization's plan.
    note: Mapped[str] = mapped_column(Text, default="")
    contact: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PlanReminder(Base):
    """A higher level reminded a lower organization of a plan item it has not taken up.

    Written when the organizer asks (`sent_at`), in the same transaction; `delivered_at` is
    set when its mail went, so a reminder whose job was lost is found and sent again."""

    __tablename__ = "plan_reminders"
    __table_args__ = (Index("ix_plan_reminders_webinar_org", "webinar_id", "organization_id"),
                      Index("ix_plan_reminders_delivered_at_sent_at", "delivered_at",
                            "sent_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    webinar_id: Mapped[int] = mapped_column(ForeignKey("webinars.id", ondelete="CASCADE"))
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"))
    sent_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PlatformConnection(Base):
    """An organization's account on a conferencing platform; its subtree uses it unless a
    suborganization connects its own. The credentials are one sealed JSON object (key:
    CREDENTIALS_KEY, never SECRET_KEY), `hints` what may be shown back (secrets masked)."""

    __tablename__ = "platform_connections"
    __table_args__ = (UniqueConstraint("organization_id", "platform"),
                      CheckConstraint(check("status", ConnectionStatus), name="status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(30))
    credentials_sealed: Mapped[str] = mapped_column(Text)
    hints: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    #: SHA-256 of the random key in this connection's callback address `/hooks/<platform>/<key>`.
    hook_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="untested")
    last_error: Mapped[str | None] = mapped_column(String(1000))
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the organizers were last told the connection is broken (once per breakage).
    broken_notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PersonalJoin(Base):
    """A member's own link on the platform (a Zoom registrant, an MTS Link registration),
    made on their first /j/ click and kept for that meeting only."""

    __tablename__ = "personal_joins"
    __table_args__ = (UniqueConstraint("registration_id", "external_meeting_id"),
                      Index("ix_personal_joins_meeting_person", "meeting_id", "platform_person_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"))
    external_meeting_id: Mapped[str] = mapped_column(String(300))
    platform_person_id: Mapped[str | None] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(String(2000))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Attendance(Base):
    """Someone in the meeting, as the platform reported it (webhook or report). Members are
    matched by the ids we issued; anyone else is kept with the name the platform gave."""

    __tablename__ = "attendances"
    __table_args__ = (Index("ix_attendances_webinar_registration", "webinar_id",
                            "registration_id"),
                      CheckConstraint(check("source", AttendanceSource), name="source"))

    id: Mapped[int] = mapped_column(primary_key=True)
    webinar_id: Mapped[int] = mapped_column(ForeignKey("webinars.id", ondelete="CASCADE"))
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="SET NULL"))
    participant_name: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HookReceipt(Base):
    """A platform callback already taken: the same event sent again is recognised."""

    __tablename__ = "hook_receipts"
    __table_args__ = (UniqueConstraint("connection_id", "dedupe_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("platform_connections.id", ondelete="CASCADE"))
    dedupe_key: Mapped[str] = mapped_column(String(300))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class MemberFeed(Base):
    """A member's personal calendar feed: the plans of their organization chain.

    Made from one registration's personal page (`registration_id`); what it knows of the
    member's other registrations comes only through that registration's proven address
    (`feeds.covered_registrations`). Only the token's hash is stored.
    """

    __tablename__ = "member_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_normalized: Mapped[str] = mapped_column(String(254), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="SET NULL"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Registration(Base):
    __tablename__ = "registrations"
    __table_args__ = (UniqueConstraint("webinar_id", "email_normalized"),
                      # The registrants page, a page at a time in order of registering, and
                      # the deliveries page by status.
                      Index("ix_registrations_webinar_id_created_at_id", "webinar_id",
                            "created_at", "id"),
                      Index("ix_registrations_webinar_id_status_id", "webinar_id", "status",
                            "id"),
                      CheckConstraint(check("status", RegistrationStatus), name="status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    webinar_id: Mapped[int] = mapped_column(ForeignKey("webinars.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    email_normalized: Mapped[str] = mapped_column(String(254), index=True)
    locale: Mapped[str] = mapped_column(String(8))
    timezone: Mapped[str] = mapped_column(String(64))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    status: Mapped[str] = mapped_column(String(20), default="confirmed")
    #: Opens the personal page, where the registration can be cancelled.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    #: Only follows the join address. It travels in calendars and feeds, which members share
    #: with calendar services, so it must not grant more than joining.
    join_token: Mapped[str] = mapped_column(String(64), unique=True)
    #: When a link only ever sent to the address was opened: the mailbox holder stands behind
    #: this registration (its name may greet them; their feed may count it as theirs).
    address_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The organizer who registered the member through the API (their name is trusted).
    registered_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"))
    #: Added to the webinar's SEQUENCE in this member's invitations; it grows when they cancel
    #: and when they register again, so each message is newer than their calendar's copy.
    sequence_offset: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Turned off by List-Unsubscribe or on the personal page: no reminders, no follow-ups.
    reminders_off: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: When this registration was made, or made again after a cancellation.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When it joined the waitlist: the line is served in this order (then by id).
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    webinar: Mapped[Webinar] = relationship(lazy="joined")


class JoinClick(Base):
    """One follow of a personal join address: attendance even where a platform reports none."""

    __tablename__ = "join_clicks"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Delivery(Base):
    """One outgoing message: written with the change that causes it, sent by a worker."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_status_due", "status", "due_at"),
                      # A webinar's deliveries page and its counts by status.
                      Index("ix_deliveries_webinar_id_status", "webinar_id", "status"),
                      # The activity log's "members told, sent, failed" per event.
                      Index("ix_deliveries_event_id_status", "event_id", "status"),
                      CheckConstraint(check("kind", DeliveryKind), name="kind"),
                      CheckConstraint(check("status", DeliveryStatus), name="status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    webinar_id: Mapped[int] = mapped_column(ForeignKey("webinars.id", ondelete="CASCADE"))
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    offset_minutes: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The worker process that holds the row while it is "sending" (`WorkerProcess.id`).
    claimed_by: Mapped[str | None] = mapped_column(String(32))
    #: Random, made once with the row and reused on every attempt (never from a database id).
    message_id: Mapped[str | None] = mapped_column(String(300))
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The event whose handler wrote the row: the activity log counts who was told.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    #: The session of a series a reminder is about.
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("webinar_sessions.id", ondelete="SET NULL"))


class WorkerProcess(Base):
    """A running worker (arq or in-process). Its heartbeat says it still holds its rows."""

    __tablename__ = "worker_processes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """Mail kept locally when no SMTP server is configured (the embedded default)."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id", ondelete="SET NULL"))
    webinar_id: Mapped[int | None] = mapped_column(ForeignKey("webinars.id", ondelete="SET NULL"))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(500))
    message_id: Mapped[str] = mapped_column(String(300))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Event(Base):
    """What happened, written in the same transaction as the change (`webinars.events`).

    The dispatcher (`workers.dispatch`) hands it to every handler registered for its kind;
    `dispatched_at` is set once all of them are done, and reconcile re-queues the rest.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_webinar_id_id", "webinar_id", "id"),
                      # The dispatcher's "earlier events of this webinar not yet handled".
                      Index("ix_events_webinar_id_dispatched_at_id", "webinar_id",
                            "dispatched_at", "id"),
                      Index("ix_events_organization_id_id", "organization_id", "id"),
                      Index("ix_events_dispatched_at_occurred_at", "dispatched_at",
                            "occurred_at"),
                      CheckConstraint(check("kind", EventKind), name="kind"))

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The organization that manages the webinar when it happened.
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    webinar_id: Mapped[int | None] = mapped_column(ForeignKey("webinars.id", ondelete="CASCADE"))
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="SET NULL"))
    #: The organizer who made the change; None for members and for the system.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    #: Ids and changed fields ({"changed": {field: {"old": .., "new": ..}}}), never tokens.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dispatch_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(1000))


class EventHandled(Base):
    """One handler's progress on one event: it exists once the handler started and is done
    at `done_at`. Handlers that work in batches move `cursor` forward, one batch per
    transaction, so a handler run twice continues instead of repeating."""

    __tablename__ = "event_handlers"
    __table_args__ = (PrimaryKeyConstraint("event_id", "handler"),)

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    handler: Mapped[str] = mapped_column(String(40))
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    #: What it set off: messages written, webhook messages queued, meeting jobs started.
    count: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookEndpoint(Base):
    """An integrator's URL: gets the events of its organization's whole subtree."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    #: Event kinds it wants; empty means every kind.
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: The `whsec_` signing secret, encrypted with a key derived from SECRET_KEY.
    secret_sealed: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Set when it kept failing and was turned off; its owner is told once.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    owner_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: First failure since its last success.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookMessage(Base):
    """One event for one endpoint (or a test ping): sent, retried with back-off, and picked
    up by reconcile like a delivery. `msg_id` is the stable `webhook-id`."""

    __tablename__ = "webhook_messages"
    __table_args__ = (UniqueConstraint("event_id", "endpoint_id"),
                      Index("ix_webhook_messages_status_due", "status", "due_at"),
                      Index("ix_webhook_messages_endpoint_id_id", "endpoint_id", "id"),
                      CheckConstraint(check("status", WebhookStatus), name="status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    msg_id: Mapped[str] = mapped_column(String(64), unique=True)
    #: The exact body, so every attempt sends (and signs) the same bytes.
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """One try at sending a webhook message: what the organizer sees on the endpoint's page."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_messages.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int] = mapped_column(Integer)
