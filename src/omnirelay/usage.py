"""Usage records and quota settlement, written in batches by one background task per process.

The response path only appends to an in-memory queue; every ``flush_seconds`` the writer
inserts the records and applies each key's net settlement in one transaction (on SQLite, in one
trip to a thread: ``_SQLiteBatch``), together with
the quota leases the ledger gives back (``billing.Ledger.returns``). On shutdown it drains
what is queued and returns every lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Dialect

from omnirelay.store import Database, api_keys, usage_records

log = logging.getLogger(__name__)

MAX_BATCH = 2000
_ROWS_PER_CHUNK = 100


@dataclass(slots=True)
class UsageEvent:
    request_id: str
    key_id: int
    model: str
    endpoint: str
    status: int
    channel_id: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    units: int = 0
    cost: int = 0
    reserved: int = 0
    # False when the hold came from a lease: the lease got the refund, the database gets none.
    held_in_db: bool = True
    latency_ms: int = 0
    stream: bool = False
    error: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0


# The record's columns. Read field by field: ``dataclasses.asdict`` deep-copies every value and
# cost ~40 µs a record, blocking the event loop for milliseconds at each flush under load.
_COLUMNS = tuple(f.name for f in fields(UsageEvent) if f.name not in ("reserved", "held_in_db"))


# NULL + n stays NULL: unlimited keys keep no balance, only what they spent.
_SETTLE = (
    "UPDATE api_keys SET quota_remaining = quota_remaining + ?, spent = spent + ? WHERE id = ?"
)


class _SQLiteBatch:
    """Writes a whole batch to SQLite in one trip to a thread, on a connection of its own.

    Through the async driver every statement is a round trip between the event loop and the
    driver's thread, and each one waits for the GIL: under load a flush held SQLite's write
    lock (which every worker process shares) for seconds. Here the transaction runs in the
    thread from BEGIN to COMMIT, and the records go in as one ``INSERT … VALUES (…), (…)`` per
    chunk (``executemany`` steps once per row and gives up the GIL at every step). The
    statements are built on the event loop a chunk at a time; the thread only executes them.
    """

    def __init__(self, path: str, dialect: Dialect) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None
        columns = [usage_records.c[name] for name in _COLUMNS]
        self._processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
        limit = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999  # bound variables
        # Building one statement's parameters holds the event loop: ~100 rows keep that well
        # under a millisecond (the writer yields between statements).
        self._rows_per_statement = min(_ROWS_PER_CHUNK, limit // len(columns))
        # Names from our own table definition; every value is a bound parameter.
        self._head = f"INSERT INTO {usage_records.name} ({', '.join(_COLUMNS)}) VALUES "  # noqa: S608
        self._row = "(" + ", ".join("?" * len(columns)) + ")"

    def statements(self, events: Sequence[UsageEvent]) -> Iterator[tuple[str, tuple[Any, ...]]]:
        step = self._rows_per_statement
        for chunk in (events[i : i + step] for i in range(0, len(events), step)):
            params: list[Any] = []
            for event in chunk:
                for name, process in zip(_COLUMNS, self._processors, strict=True):
                    value = getattr(event, name)
                    params.append(process(value) if process is not None else value)
            yield self._head + ", ".join([self._row] * len(chunk)), tuple(params)

    def write(
        self, statements: list[tuple[str, tuple[Any, ...]]], settlements: list[tuple[int, int, int]]
    ) -> None:
        """One transaction (runs in a worker thread): the records, then (refund, spent, key)."""
        if self._connection is None:
            self._connection = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=10
            )
            self._connection.execute("PRAGMA synchronous=NORMAL")
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement, params in statements:
                connection.execute(statement, params)
            connection.executemany(_SETTLE, settlements)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


# Called at each flush (with True at shutdown): amounts owed back to keys' balances.
Returns = Callable[[bool], Mapping[int, int]]


class UsageWriter:
    def __init__(self, db: Database, flush_seconds: float, returns: Returns | None = None) -> None:
        self._db = db
        self._flush_seconds = flush_seconds
        self._returns = returns
        self._pending: list[UsageEvent] = []
        self._credits: dict[int, int] = defaultdict(int)
        path = db.engine.url.database if db.is_sqlite else None
        self._sqlite = (
            _SQLiteBatch(path, db.engine.dialect)
            if path and path != ":memory:" and not path.startswith("file:")
            else None
        )
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def record(self, event: UsageEvent) -> None:
        """Queue a record; never blocks, never fails the request."""
        self._pending.append(event)
        if len(self._pending) >= MAX_BATCH:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-writer")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.flush()
        finally:
            if self._sqlite is not None:
                self._sqlite.close()

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._flush_seconds)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("usage flush failed; will retry")
                await asyncio.sleep(1.0)

    async def flush(self) -> None:
        if self._returns is not None:
            for key_id, amount in self._returns(self._stopping).items():
                self._credits[key_id] += amount
        if not self._pending and not self._credits:
            return
        batch, self._pending = self._pending, []
        credits, self._credits = self._credits, defaultdict(int)
        try:
            await self._write(batch, credits)
        except BaseException:
            self._pending[:0] = batch  # keep them for the next attempt
            for key_id, amount in credits.items():
                self._credits[key_id] += amount
            raise

    async def _write(self, batch: list[UsageEvent], credits: Mapping[int, int]) -> None:
        refunds: dict[int, int] = defaultdict(int, credits)
        spent: dict[int, int] = defaultdict(int)
        for event in batch:
            if event.held_in_db:
                refunds[event.key_id] += event.reserved - event.cost
            spent[event.key_id] += event.cost
        if self._sqlite is not None:
            settlements = [(refunds[k], spent[k], k) for k in sorted(spent.keys() | refunds.keys())]
            statements = []
            for statement in self._sqlite.statements(batch):
                statements.append(statement)
                await asyncio.sleep(0)  # let requests run between chunks
            await asyncio.to_thread(self._sqlite.write, statements, settlements)
            return
        async with self._db.engine.begin() as conn:
            # In chunks: the driver runs on the event loop, and preparing a statement's rows
            # holds it (~10 µs a row); each chunk lets requests run in between.
            for start in range(0, len(batch), _ROWS_PER_CHUNK):
                rows = [
                    {name: getattr(event, name) for name in _COLUMNS}
                    for event in batch[start : start + _ROWS_PER_CHUNK]
                ]
                await conn.execute(usage_records.insert(), rows)
            for key_id in sorted(spent.keys() | refunds.keys()):
                # NULL + n stays NULL: unlimited keys keep no balance, only what they spent.
                await conn.execute(
                    update(api_keys)
                    .where(api_keys.c.id == key_id)
                    .values(
                        quota_remaining=api_keys.c.quota_remaining + refunds[key_id],
                        spent=api_keys.c.spent + spent[key_id],
                    )
                )
