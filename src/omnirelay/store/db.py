"""The async engine and its set-up: driver options, SQLite pragmas, migrations at start."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, Table, Update, event, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works: it only has to be the same in every process that migrates.
_MIGRATION_LOCK_ID = 0x6F6D6E69


@dataclass(slots=True)
class Database:
    """The engine plus what callers need to know about the backend."""

    engine: AsyncEngine
    url: str
    # SQLite has one writer: this process's batched writers (``tasks/commits.py``) take turns
    # here, in order, rather than in SQLite's busy handler, which sleeps between tries with a
    # growing backoff (up to 100 ms a try) and let one batch wait seconds under load.
    sqlite_writes: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the single writer; busy_timeout makes several worker
    # processes queue for the write lock instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# A pooled PostgreSQL connection idle this long is pinged before it is used again.
_PING_IDLE_SECONDS = 10.0


def _checked_in(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _check_alive(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Instead of ``pool_pre_ping`` (a BEGIN, a query and a ROLLBACK each time a connection is
    checked out: three round trips per transaction under load): a connection the server or
    the network closed is known to the driver without asking, and only one left idle for a
    while is pinged. A dead one is replaced (the pool retries on ``DisconnectionError``)."""
    from sqlalchemy.exc import DisconnectionError

    driver = dbapi_connection.driver_connection
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the connection was closed")
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since > _PING_IDLE_SECONDS:
        try:
            dbapi_connection.ping()
        except Exception as exc:
            raise DisconnectionError(str(exc)) from exc


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    # Imported here: serving workers never migrate, and alembic (with mako) costs each of
    # them several MB of memory.
    from alembic import command

    if connection.dialect.name == "postgresql":
        # Two processes starting at once on one PostgreSQL must not both migrate.
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
    command.upgrade(_alembic_config(connection), "head")


async def open_database(url: str, *, migrate: bool = True) -> Database:
    """Create the engine for ``url`` and bring its schema to the latest migration."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, pool_size=5, max_overflow=10)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        engine = create_async_engine(url, pool_size=10, max_overflow=20)
        event.listen(engine.sync_engine, "connect", _checked_in)  # new: not pinged at once
        event.listen(engine.sync_engine, "checkin", _checked_in)
        event.listen(engine.sync_engine, "checkout", _check_alive)
    database = Database(engine=engine, url=url)
    if migrate:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
    return database


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached (or is locked past its wait), not
    that a statement was wrong: the gateway answers 503 and the client may retry."""
    from sqlalchemy import exc as sa

    if isinstance(exc, sa.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa.OperationalError | sa.InterfaceError
        )
    return isinstance(exc, sa.TimeoutError | ConnectionError)


def claiming(db: Database, table: Table, due: Select[Any], **values: Any) -> Update:
    """``UPDATE table SET values WHERE id IN (due) RETURNING *``: how several processes take
    work from one table (due task polls, due webhook deliveries) without taking the same row.
    On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED``, so claimers pass each other;
    on SQLite the single writer makes the statement atomic by itself."""
    if db.is_postgres:
        due = due.with_for_update(skip_locked=True, of=table)
    return (
        update(table)
        .where(table.c.id.in_(due.scalar_subquery()))
        .values(**values)
        .returning(*table.c)
    )
