"""The Alembic migrations build exactly the schema the models describe, on both databases, and
upgrade a database made by an earlier head without losing its rows."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from webinars import feeds
from webinars.db import make_engine, make_sessionmaker
from webinars.migrate import upgrade
from webinars.models import Base, Delivery, RateEvent, Registration, Webinar
from webinars.security import hash_token


def diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []


async def _fresh_database(database_url: str) -> str:
    """An empty database of the same kind, to migrate step by step."""
    if database_url.startswith("sqlite"):
        path = database_url.rsplit("/", 1)[0] + f"/upgrade-{uuid.uuid4().hex}.db"
        return path
    name = f"webinars_upgrade_{uuid.uuid4().hex[:12]}"
    admin = make_engine(database_url.rsplit("/", 1)[0] + "/postgres",
                        isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"CREATE DATABASE {name}"))
    finally:
        await admin.dispose()
    return database_url.rsplit("/", 1)[0] + f"/{name}"


async def _counts(conn: Any, tables: Iterable[str]) -> dict[str, int]:
    return {t: (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
            for t in tables}


async def _database_with_rows(database_url: str, *, through: str) -> str:
    """A fresh database upgraded revision by revision up to `through`, each revision's rows
    (ROWS_BY_REVISION) inserted as soon as it is reached; dropped again if that fails."""
    url = await _fresh_database(database_url)
    try:
        for revision, rows in ROWS_BY_REVISION:
            await asyncio.to_thread(upgrade, url, revision)
            engine = make_engine(url)
            try:
                async with engine.begin() as conn:
                    for statement in rows:
                        await conn.execute(text(statement))
            finally:
                await engine.dispose()
            if revision == through:
                return url
    except BaseException:
        await _drop(url)
        raise
    raise ValueError(f"no rows for revision {through}")


async def _drop(url: str) -> None:
    if url.startswith("sqlite"):
        return
    name = url.rsplit("/", 1)[1]
    admin = make_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        await admin.dispose()


ROWS_AT_0001 = [
    ("INSERT INTO organizations (id, parent_id, slug, name, level, timezone, created_at) VALUES "
    "(1, NULL, 'union', 'Профсоюз', 'federal', 'Europe/Moscow', '2026-11-01 10:00:00'), "
    "(2, 1, 'school-5', 'Школа № 5', 'primary', 'Asia/Vladivostok', '2026-11-01 10:00:00')"),
    ("INSERT INTO accounts (id, email, name, password_hash, locale, created_at) VALUES "
    "(1, 'org@union.example', 'Организатор', 'x', 'ru', '2026-11-01 10:00:00')"),
    ("INSERT INTO login_attempts (key, at) VALUES ('email:org@union.example', "
    "'2026-11-30 09:00:00')"),
    ("INSERT INTO webinars (id, organization_id, public_id, title, description, kind, start_at, "
    "timezone, duration_minutes, capacity, registered_count, registration_open, visibility, "
    "platform, static_url, status, uid, sequence, reminder_offsets, recording_url, "
    "followup_note, created_by_id, created_at, updated_at) VALUES (1, 1, "
    "'0123456789abcdef0123456789abcdef', 'Вебинар', '', 'webinar', '2026-12-10 10:00:00', "
    "'Europe/Moscow', 90, NULL, 2, TRUE, 'public', 'jitsi', NULL, 'scheduled', "
    "'webinar-1@union.example', 1, '[1440, 15]', NULL, NULL, 1, '2026-11-01 10:00:00', "
    "'2026-11-02 10:00:00')"),
    ("INSERT INTO registrations (id, webinar_id, name, email, email_normalized, locale, timezone, "
    "organization_id, status, token, join_token, created_at, cancelled_at) VALUES "
    "(1, 1, 'Мария', 'Maria@School.example', 'maria@school.example', 'ru', 'Asia/Vladivostok', "
    "2, 'confirmed', 'reg-token-1', 'join-token-1', '2026-11-03 10:00:00', NULL), "
    "(2, 1, 'Пётр', 'petr@school.example', 'petr@school.example', 'ru', 'Europe/Moscow', "
    "NULL, 'confirmed', 'reg-token-2', 'join-token-2', '2026-11-03 11:00:00', NULL)"),
    ("INSERT INTO member_feeds (id, email_normalized, organization_id, token, created_at, "
    "revoked_at) VALUES (1, 'maria@school.example', 2, 'old-feed-token', "
    "'2026-11-04 10:00:00', NULL)"),
    ("INSERT INTO deliveries (id, webinar_id, registration_id, kind, due_at, status, sequence, "
    "offset_minutes, attempts, last_error, lease_until, enqueued_at, sent_at, created_at) VALUES "
    "(1, 1, 1, 'invitation', '2026-11-03 10:00:00', 'sent', 0, NULL, 1, NULL, NULL, NULL, "
    "'2026-11-03 10:00:05', '2026-11-03 10:00:00'), "
    "(2, 1, 2, 'reminder', '2026-12-10 09:45:00', 'pending', 1, 15, 0, NULL, NULL, NULL, NULL, "
    "'2026-11-03 11:00:00')"),
    "INSERT INTO roles (id, account_id, organization_id, role) VALUES (1, 1, 1, 'admin')",
    ("INSERT INTO api_tokens (id, account_id, name, token_hash, created_at) VALUES "
    "(1, 1, 'site', 'abc', '2026-11-01 10:00:00')"),
    ("INSERT INTO meetings (id, webinar_id, platform, external_id, join_url, host_url, status, "
    "error, attempts, next_attempt_at, updated_at) VALUES (1, 1, 'jitsi', 'room', "
    "'https://meet.jit.si/room', NULL, 'ready', NULL, 1, NULL, '2026-11-01 10:00:00')"),
    "INSERT INTO join_clicks (id, registration_id, at) VALUES (1, 1, '2026-12-10 10:01:00')",
    ("INSERT INTO outbox_messages (id, delivery_id, webinar_id, recipient, subject, message_id, "
    "raw, created_at) VALUES (1, 1, 1, 'maria@school.example', 'Приглашение', '<x@y>', "
    "'raw', '2026-11-03 10:00:05')"),
]
KEPT_TABLES = ("organizations", "accounts", "roles", "api_tokens", "webinars", "meetings",
               "registrations", "join_clicks", "deliveries", "outbox_messages", "member_feeds")


async def row_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return {t: (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
                    for t in KEPT_TABLES}
    finally:
        await engine.dispose()


async def test_upgrading_a_database_of_the_previous_head_keeps_every_row(
    database_url: str,
) -> None:
    url = await _fresh_database(database_url)
    try:
        await asyncio.to_thread(upgrade, url, "0001")
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                for statement in ROWS_AT_0001:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()
        before = await row_counts(url)
        assert all(before.values())
        await asyncio.to_thread(upgrade, url, "head")
        assert await row_counts(url) == before

        engine = make_engine(url)
        try:
            async with make_sessionmaker(engine)() as session:
                webinar = await session.get(Webinar, 1)
                assert webinar is not None and webinar.title == "Вебинар"
                assert webinar.organization.plan_changed_at is None
                regs = (await session.scalars(select(Registration).order_by(Registration.id)
                                              )).all()
                assert [(r.token, r.join_token, r.status) for r in regs] == [
                    ("reg-token-1", "join-token-1", "confirmed"),
                    ("reg-token-2", "join-token-2", "confirmed")]
                assert all(not r.reminders_off and r.sequence_offset == 0
                           and r.address_confirmed_at is None for r in regs)
                # The feed's old address works, the raw token is gone, its origin is found.
                feed = await feeds.by_token(session, "old-feed-token")
                assert feed.token_hash == hash_token("old-feed-token")
                assert feed.registration_id == 1 and feed.organization_id == 2
                rows = (await session.scalars(select(Delivery).order_by(Delivery.id))).all()
                assert [(d.kind, d.status, d.message_id) for d in rows] == [
                    ("invitation", "sent", None), ("reminder", "pending", None)]
                assert [e.key for e in (await session.scalars(select(RateEvent))).all()] == [
                    "email:org@union.example"]
            async with engine.connect() as conn:
                assert await conn.run_sync(diff) == []
        finally:
            await engine.dispose()
    finally:
        await _drop(url)


ROWS_AT_0002 = [
    ("INSERT INTO login_sessions (id, account_id, session_hash, created_at, expires_at) VALUES "
     "(1, 1, 'hash', '2026-11-29 10:00:00', '2026-12-13 10:00:00')"),
    ("INSERT INTO worker_processes (id, host, pid, started_at, heartbeat_at) VALUES "
     "('w1', 'host', 42, '2026-11-29 10:00:00', '2026-11-29 10:00:05')"),
    ("INSERT INTO deliveries (id, webinar_id, registration_id, kind, due_at, status, sequence, "
     "offset_minutes, attempts, last_error, lease_until, claimed_by, message_id, enqueued_at, "
     "sent_at, created_at) VALUES (3, 1, 2, 'update', '2026-11-29 10:00:00', 'sending', 1, "
     "NULL, 1, NULL, '2026-11-29 10:10:00', 'w1', 'abc@union.example', NULL, NULL, "
     "'2026-11-29 10:00:00')"),
]
TABLES_AT_0002 = (*KEPT_TABLES, "login_sessions", "worker_processes", "rate_events")


async def test_upgrading_a_database_of_0002_keeps_every_row_and_checks_states(
    database_url: str,
) -> None:
    """The previous head (0002) with rows in every table, upgraded to 0003: nothing is lost,
    deliveries made before have no event, and a misspelt state is refused by the database."""
    url = await _fresh_database(database_url)
    try:
        await asyncio.to_thread(upgrade, url, "0001")
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                for statement in ROWS_AT_0001:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()
        await asyncio.to_thread(upgrade, url, "0002")
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                for statement in ROWS_AT_0002:
                    await conn.execute(text(statement))
                before = await _counts(conn, TABLES_AT_0002)
        finally:
            await engine.dispose()
        assert all(before.values())
        await asyncio.to_thread(upgrade, url, "head")
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                after = await _counts(conn, TABLES_AT_0002)
                assert after == before
                rows = (await conn.execute(text(
                    "SELECT id, status, claimed_by, message_id, event_id FROM deliveries "
                    "ORDER BY id"))).all()
                assert [tuple(r) for r in rows] == [
                    (1, "sent", None, None, None), (2, "pending", None, None, None),
                    (3, "sending", "w1", "abc@union.example", None)]
            with pytest.raises(IntegrityError):
                async with engine.begin() as conn:
                    await conn.execute(text("UPDATE deliveries SET status = 'snet' WHERE id = 1"))
            with pytest.raises(IntegrityError):
                async with engine.begin() as conn:
                    await conn.execute(text("UPDATE webinars SET status = 'live' WHERE id = 1"))
        finally:
            await engine.dispose()
    finally:
        await _drop(url)


ROWS_AT_0003 = [
    ("INSERT INTO events (id, kind, occurred_at, organization_id, webinar_id, registration_id, "
     "actor_id, data, dispatched_at, dispatch_attempts) VALUES (1, 'webinar.scheduled', "
     "'2026-11-29 10:00:00', 2, 1, NULL, 1, '{}', '2026-11-29 10:00:01', 1)"),
    ("INSERT INTO webhook_endpoints (id, organization_id, url, description, kinds, "
     "secret_sealed, enabled, created_at) VALUES (1, 2, 'https://crm.example/hooks', 'CRM', "
     "'[]', 'sealed', true, '2026-11-29 10:00:00')"),
]
TABLES_AT_0003 = (*TABLES_AT_0002, "events", "webhook_endpoints")


async def test_upgrading_a_database_of_0003_keeps_every_row_and_its_meetings(
    database_url: str,
) -> None:
    """The previous head (0003) with rows, upgraded to 0004: nothing is lost, and the meetings
    made before (public Jitsi, pasted links) have no connection and no extra ids."""
    url = await _fresh_database(database_url)
    try:
        await asyncio.to_thread(upgrade, url, "0001")
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                for statement in ROWS_AT_0001:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()
        await asyncio.to_thread(upgrade, url, "0002")
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                for statement in ROWS_AT_0002:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()
        await asyncio.to_thread(upgrade, url, "0003")
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                for statement in ROWS_AT_0003:
                    await conn.execute(text(statement))
                before = await _counts(conn, TABLES_AT_0003)
                meeting_before = (await conn.execute(text(
                    "SELECT platform, external_id, join_url, status FROM meetings"))).all()
        finally:
            await engine.dispose()
        assert all(before.values())
        await asyncio.to_thread(upgrade, url, "head")
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                after = await _counts(conn, TABLES_AT_0003)
                assert after == before
                meeting_after = (await conn.execute(text(
                    "SELECT platform, external_id, join_url, status FROM meetings"))).all()
                assert meeting_after == meeting_before
                assert (await conn.execute(text(
                    "SELECT count(*) FROM meetings WHERE connection_id IS NOT NULL "
                    "OR failure_notified_at IS NOT NULL"))).scalar_one() == 0
                assert await conn.run_sync(diff) == []
            async with make_sessionmaker(engine)() as session:
                webinar = await session.get(Webinar, 1)
                assert webinar is not None and webinar.meeting is not None
                assert webinar.meeting.extra == {}
        finally:
            await engine.dispose()
    finally:
        await _drop(url)


ROWS_AT_0004 = [
    ("INSERT INTO platform_connections (id, organization_id, platform, credentials_sealed, "
     "hints, hook_key_hash, status, created_at, updated_at) VALUES (1, 2, 'zoom', 'sealed', "
     "'{}', 'hash', 'ok', '2026-11-29 10:00:00', '2026-11-29 10:00:00')"),
    ("INSERT INTO attendances (id, webinar_id, registration_id, participant_name, source, "
     "joined_at) VALUES (1, 1, 1, 'Мария', 'webhook', '2026-11-29 10:05:00')"),
]
TABLES_AT_0004 = (*TABLES_AT_0003, "platform_connections", "attendances")


async def test_upgrading_a_database_of_0004_keeps_every_row_and_the_webinars_as_they_were(
    database_url: str,
) -> None:
    """The previous head (0004) with rows, upgraded to 0005 (the yearly plan): nothing is lost,
    every webinar stays a dated, non-all-day event of its own, and the new status is allowed."""
    url = await _database_with_rows(database_url, through="0004")
    try:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                before = await _counts(conn, TABLES_AT_0004)
                webinars_before = (await conn.execute(text(
                    "SELECT id, title, status, start_at FROM webinars ORDER BY id"))).all()
        finally:
            await engine.dispose()
        assert all(before.values())
        await asyncio.to_thread(upgrade, url, "head")
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                after = await _counts(conn, TABLES_AT_0004)
                assert after == before
                assert (await conn.execute(text(
                    "SELECT id, title, status, start_at FROM webinars ORDER BY id"))).all() \
                    == webinars_before
                assert (await conn.execute(text(
                    "SELECT count(*) FROM webinars WHERE all_day OR source_id IS NOT NULL "
                    "OR plan_period IS NOT NULL OR end_date IS NOT NULL"))).scalar_one() == 0
                assert await conn.run_sync(diff) == []
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE webinars SET status = 'planned', "
                                        "plan_period = '2027-Q1' WHERE id = 1"))
            with pytest.raises(IntegrityError):
                async with engine.begin() as conn:
                    await conn.execute(text("UPDATE webinars SET status = 'plan' WHERE id = 1"))
        finally:
            await engine.dispose()
    finally:
        await _drop(url)


ROWS_AT_0005 = [
    ("INSERT INTO adoptions (id, webinar_id, organization_id, kind, note, contact, created_at) "
     "VALUES (1, 1, 2, 'join', 'Смотрим вместе', '', '2026-11-30 10:00:00')"),
    ("INSERT INTO plan_reminders (id, webinar_id, organization_id, sent_at) "
     "VALUES (1, 1, 2, '2026-11-30 11:00:00')"),
    ("INSERT INTO webinar_sessions (id, webinar_id, position, start_at, original_start, "
     "duration_minutes, status) VALUES (1, 1, 0, '2026-12-08 12:00:00', "
     "'2026-12-08 12:00:00', 90, 'scheduled')"),
]
TABLES_AT_0005 = (*TABLES_AT_0004, "adoptions", "plan_reminders", "webinar_sessions")


async def test_upgrading_a_database_of_0005_keeps_every_row_and_marks_reminders_sent(
    database_url: str,
) -> None:
    """The previous head (0005) with rows, upgraded to 0006: nothing is lost, and a reminder
    recorded before it (written only once its mail went) counts as delivered, so the
    reconcile never sends it again."""
    url = await _database_with_rows(database_url, through="0005")
    try:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                before = await _counts(conn, TABLES_AT_0005)
        finally:
            await engine.dispose()
        assert all(before.values())
        await asyncio.to_thread(upgrade, url, "head")
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                after = await _counts(conn, TABLES_AT_0005)
                assert after == before
                assert (await conn.execute(text(
                    "SELECT count(*) FROM plan_reminders WHERE delivered_at = sent_at"
                ))).scalar_one() == 1
                assert await conn.run_sync(diff) == []
        finally:
            await engine.dispose()
    finally:
        await _drop(url)


ROWS_AT_0006 = [
    # A webinar whose registration was closed, beside webinar 1 (open) from ROWS_AT_0001.
    ("INSERT INTO webinars (id, organization_id, public_id, title, description, kind, start_at, "
     "timezone, duration_minutes, capacity, registered_count, registration_open, visibility, "
     "platform, static_url, status, uid, sequence, reminder_offsets, recording_url, "
     "followup_note, created_by_id, created_at, updated_at) VALUES (2, 1, "
     "'fedcba9876543210fedcba9876543210', 'Закрытый', '', 'webinar', '2026-12-11 10:00:00', "
     "'Europe/Moscow', 60, 10, 0, FALSE, 'public', 'jitsi', NULL, 'scheduled', "
     "'webinar-2@union.example', 0, '[]', NULL, NULL, 1, '2026-11-01 10:00:00', "
     "'2026-11-02 10:00:00')"),
    ("UPDATE registrations SET status = 'cancelled', cancelled_at = '2026-11-05 10:00:00' "
     "WHERE id = 2"),
]


async def test_upgrading_a_database_of_0006_keeps_every_row_and_each_webinars_registration(
    database_url: str,
) -> None:
    """The previous head (0006) with rows, upgraded to 0007 (registration modes, waitlist):
    nothing is lost, an open webinar is in mode open and a closed one in mode closed, every
    registration keeps its status and waits in no line, and the new states are allowed."""
    url = await _database_with_rows(database_url, through="0006")
    try:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                before = await _counts(conn, TABLES_AT_0005)
                registrations_before = (await conn.execute(text(
                    "SELECT id, status, cancelled_at FROM registrations ORDER BY id"))).all()
        finally:
            await engine.dispose()
        assert all(before.values())
        await asyncio.to_thread(upgrade, url, "head")
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                after = await _counts(conn, TABLES_AT_0005)
                assert after == before
                assert (await conn.execute(text(
                    "SELECT id, registration_open, registration_mode FROM webinars "
                    "ORDER BY id"))).all() == [(1, True, "open"), (2, False, "closed")]
                assert (await conn.execute(text(
                    "SELECT id, status, cancelled_at FROM registrations ORDER BY id"
                ))).all() == registrations_before
                assert (await conn.execute(text(
                    "SELECT count(*) FROM registrations WHERE queued_at IS NOT NULL"
                ))).scalar_one() == 0
                assert await conn.run_sync(diff) == []
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE registrations SET status = 'waitlisted', "
                                        "queued_at = created_at WHERE id = 2"))
                await conn.execute(text("UPDATE webinars SET registration_mode = 'approval' "
                                        "WHERE id = 1"))
            for bad in ("UPDATE registrations SET status = 'waiting' WHERE id = 2",
                        "UPDATE webinars SET registration_mode = 'invite' WHERE id = 1"):
                with pytest.raises(IntegrityError):
                    async with engine.begin() as conn:
                        await conn.execute(text(bad))
        finally:
            await engine.dispose()
    finally:
        await _drop(url)


ROWS_AT_0007 = [
    ("UPDATE plan_reminders SET delivered_at = '2026-11-30 11:00:05' WHERE id = 1"),
    ("UPDATE webinars SET registration_mode = 'approval' WHERE id = 1"),
]


async def test_upgrading_a_database_of_0007_keeps_every_row_and_brands_nobody(
    database_url: str,
) -> None:
    """The previous head (0007) with rows, upgraded to 0008 (branding): nothing is lost, no
    organization has a brand (pages and mails look as before), and a logo can be stored."""
    url = await _database_with_rows(database_url, through="0007")
    try:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                before = await _counts(conn, TABLES_AT_0005)
                orgs_before = (await conn.execute(text(
                    "SELECT id, parent_id, slug, name FROM organizations ORDER BY id"))).all()
        finally:
            await engine.dispose()
        assert all(before.values())
        await asyncio.to_thread(upgrade, url, "head")
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                after = await _counts(conn, TABLES_AT_0005)
                assert after == before
                assert (await conn.execute(text(
                    "SELECT id, parent_id, slug, name FROM organizations ORDER BY id"
                ))).all() == orgs_before
                assert (await conn.execute(text(
                    "SELECT count(*) FROM organization_brands"))).scalar_one() == 0
                assert await conn.run_sync(diff) == []
            async with engine.begin() as conn:
                await conn.execute(text(
                    "INSERT INTO organization_brands (organization_id, color, logo_png, "
                    "logo_version, updated_at) VALUES (2, '#1f4e8c', :png, '0123456789abcdef', "
                    "'2026-12-01 10:00:00')"), {"png": b"\x89PNG\r\n\x1a\n\x00\xff"})
                assert (await conn.execute(text(
                    "SELECT logo_png FROM organization_brands"))).scalar_one() \
                    == b"\x89PNG\r\n\x1a\n\x00\xff"
            with pytest.raises(IntegrityError):
                async with engine.begin() as conn:
                    await conn.execute(text(
                        "INSERT INTO organization_brands (organization_id, updated_at) "
                        "VALUES (2, '2026-12-01 10:00:00')"))
        finally:
            await engine.dispose()
    finally:
        await _drop(url)


ROWS_AT_0008 = [
    # A course of three sessions; its last one is cancelled, so it ends with the second.
    ("INSERT INTO webinars (id, organization_id, public_id, title, description, kind, start_at, "
     "timezone, duration_minutes, capacity, registered_count, registration_open, visibility, "
     "platform, static_url, status, uid, sequence, reminder_offsets, recording_url, "
     "followup_note, created_by_id, created_at, updated_at, series_rule) VALUES (3, 2, "
     "'00112233445566778899aabbccddeeff', 'Курс', '', 'training', '2027-01-12 05:00:00', "
     "'Asia/Vladivostok', 60, NULL, 0, TRUE, 'public', 'jitsi', NULL, 'scheduled', "
     "'webinar-3@union.example', 0, '[]', NULL, NULL, 1, '2026-11-01 10:00:00', "
     "'2026-11-02 10:00:00', '{\"kind\": \"weekly\", \"weekday\": 1, \"time\": \"15:00\", "
     "\"count\": 3, \"from\": \"2027-01-12\"}')"),
    ("INSERT INTO webinar_sessions (id, webinar_id, position, start_at, original_start, "
     "duration_minutes, status) VALUES "
     "(2, 3, 0, '2027-01-12 05:00:00', '2027-01-12 05:00:00', 60, 'scheduled'), "
     "(3, 3, 1, '2027-01-19 05:00:00', '2027-01-19 05:00:00', 90, 'scheduled'), "
     "(4, 3, 2, '2027-01-26 05:00:00', '2027-01-26 05:00:00', 60, 'cancelled')"),
    ("INSERT INTO organization_brands (organization_id, color, updated_at) "
     "VALUES (2, '#1f4e8c', '2026-12-01 10:00:00')"),
]
TABLES_AT_0008 = (*TABLES_AT_0005, "organization_brands")


async def test_upgrading_a_database_of_0008_keeps_every_row_and_knows_when_each_event_ends(
    database_url: str,
) -> None:
    """The previous head (0008) with rows, upgraded to 0009 (lists): nothing is lost, each
    webinar knows when it ends as the product computes it (a course: its last held session),
    every organization's plan starts at version 0, and the schema matches the models."""
    url = await _database_with_rows(database_url, through="0008")
    try:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                before = await _counts(conn, TABLES_AT_0008)
        finally:
            await engine.dispose()
        assert all(before.values())
        await asyncio.to_thread(upgrade, url, "head")
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                assert await _counts(conn, TABLES_AT_0008) == before
                ends = {row[0]: (str(row[1])[:19], bool(row[2])) for row in (
                    await conn.execute(text(
                        "SELECT id, ends_at, long_running FROM webinars ORDER BY id"))).all()}
                assert ends == {1: ("2026-12-10 11:30:00", False),
                                2: ("2026-12-11 11:00:00", False),
                                3: ("2027-01-19 06:30:00", True)}
                assert (await conn.execute(text(
                    "SELECT DISTINCT plan_version FROM organizations"))).scalars().all() == [0]
                assert await conn.run_sync(diff) == []
        finally:
            await engine.dispose()
    finally:
        await _drop(url)


#: Each revision with the rows a database of it holds, in order (`_database_with_rows`).
ROWS_BY_REVISION = [("0001", ROWS_AT_0001), ("0002", ROWS_AT_0002), ("0003", ROWS_AT_0003),
                    ("0004", ROWS_AT_0004), ("0005", ROWS_AT_0005), ("0006", ROWS_AT_0006),
                    ("0007", ROWS_AT_0007), ("0008", ROWS_AT_0008)]
