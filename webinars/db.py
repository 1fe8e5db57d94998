"""One engine per process and the session factory; SQLite tuned for a writer at a time,
PostgreSQL's pool sized by settings and rid of dead connections without a ping per checkout."""

from __future__ import annotations

import select
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

Sessionmaker = async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class PoolSettings:
    """A process's PostgreSQL connections (DATABASE_POOL_* settings): `size` kept open,
    `max_overflow` more opened under load and closed when returned, `recycle` seconds after
    which a connection is replaced at its next checkout, `timeout` seconds a request waits for
    a free one before it fails."""

    size: int = 5
    max_overflow: int = 10
    recycle: float = 1800.0
    timeout: float = 30.0


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, pool: PoolSettings | None = None, sqlite_foreign_keys: bool = True,
                **kwargs: Any) -> AsyncEngine:
    """`sqlite_foreign_keys=False` is for migrations only: SQLite alters a table by copying
    it and dropping the old one, which would cascade-delete every row that refers to it.
    `pool` applies to PostgreSQL; SQLite keeps SQLAlchemy's pool (one writer at a time)."""
    if not is_sqlite(url):
        pool = pool or PoolSettings()
        engine = create_async_engine(url, pool_size=pool.size, max_overflow=pool.max_overflow,
                                     pool_recycle=pool.recycle, pool_timeout=pool.timeout,
                                     **kwargs)
        event.listen(engine.sync_engine, "checkout", refuse_dropped)
        return engine
    engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin (see on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if sqlite_foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        # Take the write lock up front: a deferred transaction that reads and then writes can
        # fail with SQLITE_BUSY instead of waiting, which would break concurrent registrations.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def refuse_dropped(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Pool checkout: a connection the server dropped while it sat in the pool is replaced
    before anyone uses it (raising DisconnectionError makes the pool reconnect and retry).

    This replaces `pool_pre_ping`, whose round trip on every checkout cost about an eighth of
    a public page's CPU. Nothing is sent: a server that ends a connection (a restart, a
    failover, `pg_terminate_backend`, an idle timeout) writes its FATAL message and closes the
    socket, so an idle connection with anything to read, or that the driver already saw close,
    is dead. Connections that vanish without a word (a cable, a NAT table) are what
    `pool_recycle` and a failing request's invalidation of the pool are for."""
    if dropped(dbapi_connection):
        raise DisconnectionError("the database server closed this pooled connection")


def dropped(dbapi_connection: Any) -> bool:
    driver = getattr(dbapi_connection, "driver_connection", None)
    is_closed = getattr(driver, "is_closed", None)
    if is_closed is None:
        return False
    if is_closed():
        return True
    transport = getattr(driver, "_transport", None)  # asyncpg keeps no public socket
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return False
    fd = sock.fileno()
    if fd < 0:  # the transport has let go of its socket: closing
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))  # readable while idle: a FATAL message or the end of stream


def make_sessionmaker(engine: AsyncEngine) -> Sessionmaker:
    """Sessions that keep the derived columns (`webinars.derived`)."""
    from .derived import DerivedSession  # the models import nothing of the engine's module

    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=DerivedSession)
