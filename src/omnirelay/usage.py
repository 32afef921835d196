"""Usage records and quota settlement, written in batches by one background task per process.

The response path only appends to an in-memory queue; every ``flush_seconds`` the writer
inserts the records, adds them to the hourly rollups (``usage_hourly``, which the aggregates
read and retention keeps) and applies each key's and user's net settlement in one transaction
(on SQLite, in one trip to a thread: ``_SQLiteBatch``), together with the quota leases the
ledger gives back (``billing.Ledger.returns``). On shutdown it drains what is queued and
returns every lease.

The same transaction takes what it settles off this node's holds (``nodes.py``); a hold whose
node row is gone was given back by the reaper already, so its release is void and what the
requests cost is charged directly instead (``Settlement.void``).

Each batch has an id, written in ``usage_batches`` by its own transaction: a batch whose COMMIT
was ambiguous (the connection broke, the answer never came) is retried under the same id, and
if the first COMMIT did land, the retry finds the id and applies nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sqlite3
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, text, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnirelay.store import Database, api_keys, usage_batches, usage_records, users

if TYPE_CHECKING:
    from omnirelay.billing import Account, Returned

log = logging.getLogger(__name__)

MAX_BATCH = 2000
_ROWS_PER_CHUNK = 100
# Usage records prepared on the event loop between two yields (~5 µs of CPU each).
_ROWS_PER_SLICE = 32


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
    user_id: int | None = None  # whose balance paid (None: an admin key)
    ratio_ppm: int = 1_000_000  # the group's price ratio applied to ``cost``
    first_byte_ms: int | None = None
    # Which sides of the account a database hold came from (see ``held_in_db``).
    held_key: bool = True
    held_user: int | None = None
    # The node whose holds count the hold (None: untracked).
    node: str | None = None


_NOT_COLUMNS = ("reserved", "held_in_db", "held_key", "held_user", "node")
# The record's columns. Read field by field: ``dataclasses.asdict`` deep-copies every value and
# cost ~40 µs a record, blocking the event loop for milliseconds at each flush under load.
_COLUMNS = tuple(f.name for f in fields(UsageEvent) if f.name not in _NOT_COLUMNS)


# NULL + n stays NULL: unlimited keys and users keep no balance, only what they spent.
_SETTLE = (
    "UPDATE api_keys SET quota_remaining = quota_remaining + ?, spent = spent + ? WHERE id = ?"
)
_SETTLE_USERS = "UPDATE users SET balance = balance + ?, spent = spent + ? WHERE id = ?"
_RELEASE = (
    "UPDATE node_holds SET amount = amount - ? WHERE node_id = ? AND key_id = ? AND user_id = ?"
)
_MARK_BATCH = "INSERT INTO usage_batches (id, created_ms) VALUES (?, ?)"
# Batch ids are kept this long: far longer than any retry of a batch.
BATCH_MARKS_KEPT_MS = 86_400_000

# Upper edges of the latency histogram of the rollups (the last bucket is everything above).
LATENCY_BUCKETS_MS = (
    10,
    25,
    50,
    100,
    200,
    350,
    500,
    750,
    1000,
    1500,
    2500,
    4000,
    7000,
    12000,
    30000,
)
BUCKET_COLUMNS = tuple(f"lat_{i:02d}" for i in range(len(LATENCY_BUCKETS_MS) + 1))
_SUMMED = (
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "latency_ms",
    *BUCKET_COLUMNS,
)
_ROLLUP_KEY = ("hour", "key_id", "model", "channel_id")
_INSERTED = (*_ROLLUP_KEY, "user_id", *_SUMMED)
# Plain SQL that SQLite and PostgreSQL both take (named parameters, ON CONFLICT upsert); our
# own column names, every value a bound parameter.
ROLLUP_UPSERT = (
    f"INSERT INTO usage_hourly ({', '.join(_INSERTED)}) "  # noqa: S608
    f"VALUES ({', '.join(':' + c for c in _INSERTED)}) "
    f"ON CONFLICT ({', '.join(_ROLLUP_KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = usage_hourly.{c} + excluded.{c}" for c in _SUMMED)
)


RollupSlots = dict[tuple[int, int, str, int], dict[str, Any]]


def rollups(events: Iterable[UsageEvent]) -> list[dict[str, Any]]:
    """The hourly rollup rows that ``events`` add to, one per (hour, key, model, channel)."""
    rows: RollupSlots = {}
    roll_into(rows, events)
    return list(rows.values())


def roll_into(rows: RollupSlots, events: Iterable[UsageEvent]) -> None:
    """Add ``events`` to the rollup rows (a batch is rolled up a slice at a time)."""
    for event in events:
        hour = int(event.created_at.timestamp()) // 3600 * 3600
        slot = (hour, event.key_id, event.model, event.channel_id or 0)
        row = rows.get(slot)
        if row is None:
            row = rows[slot] = dict.fromkeys(_SUMMED, 0)
            row.update(zip(_ROLLUP_KEY, slot, strict=True))
            row["user_id"] = event.user_id or 0
        row["requests"] += 1
        row["errors"] += event.status >= 400
        row["prompt_tokens"] += event.prompt_tokens
        row["completion_tokens"] += event.completion_tokens
        row["cost"] += event.cost
        row["latency_ms"] += event.latency_ms
        row[BUCKET_COLUMNS[bisect_right(LATENCY_BUCKETS_MS, event.latency_ms)]] += 1


async def insert_records(conn: AsyncConnection, events: Sequence[UsageEvent]) -> None:
    """Insert usage records and their rollups on a connection in a transaction."""
    # In chunks: the driver runs on the event loop, and preparing a statement's rows holds it
    # (~10 µs a row through an executemany, ~2.5 by COPY); each chunk lets requests run in
    # between.
    copy = await _copier(conn) if events else None
    for start in range(0, len(events), _ROWS_PER_CHUNK):
        chunk = events[start : start + _ROWS_PER_CHUNK]
        if copy is not None:
            await copy([tuple([getattr(event, name) for name in _COLUMNS]) for event in chunk])
        else:
            rows = [{name: getattr(event, name) for name in _COLUMNS} for event in chunk]
            await conn.execute(usage_records.insert(), rows)
    if events:
        await conn.execute(text(ROLLUP_UPSERT), rollups(events))


async def _copier(
    conn: AsyncConnection,
) -> Callable[[list[tuple[Any, ...]]], Awaitable[object]] | None:
    """On PostgreSQL through asyncpg, inside the transaction already begun: a binary COPY of
    records into ``usage_records`` on the same connection (so in the same transaction). Every
    record is one in each stream's and request's settlement: by SQLAlchemy's executemany the
    PostgreSQL workers spent ~10 µs of the event loop a record, by COPY ~2.5."""
    if conn.dialect.driver != "asyncpg":
        return None
    driver = (await conn.get_raw_connection()).driver_connection
    if driver is None or not driver.is_in_transaction():
        return None  # a COPY outside the caller's transaction would commit on its own

    async def copy(records: list[tuple[Any, ...]]) -> object:
        return await driver.copy_records_to_table(
            usage_records.name, records=records, columns=_COLUMNS
        )

    return copy


# A node's hold on an account: (node id, key id or 0, user id or 0).
HoldKey = tuple[str, int, int]


@dataclass(slots=True)
class Settlement:
    """Net changes per key and per user from a batch: refunds of holds, and spending; and what
    comes off each node's holds."""

    key_refunds: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    key_spent: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    user_refunds: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    user_spent: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    releases: dict[HoldKey, int] = field(default_factory=lambda: defaultdict(int))

    @classmethod
    def of(
        cls, batch: Iterable[UsageEvent], credits: Mapping[tuple[Account, str | None], int]
    ) -> Settlement:
        found = cls()
        found.add_credits(credits)
        found.add_events(batch)
        return found

    def add_credits(self, credits: Mapping[tuple[Account, str | None], int]) -> None:
        found = self
        for (account, node), amount in credits.items():
            if account.key_id is not None:
                found.key_refunds[account.key_id] += amount
            if account.user_id is not None:
                found.user_refunds[account.user_id] += amount
            if node is not None:
                found.releases[(node, account.key_id or 0, account.user_id or 0)] += amount

    def add_events(self, batch: Iterable[UsageEvent]) -> None:
        found = self
        for event in batch:
            if event.held_in_db:
                if event.held_key:
                    found.key_refunds[event.key_id] += event.reserved - event.cost
                if event.held_user is not None:
                    found.user_refunds[event.held_user] += event.reserved - event.cost
            found.key_spent[event.key_id] += event.cost
            if event.user_id is not None:
                found.user_spent[event.user_id] += event.cost
            if event.node is not None:
                # A lease's hold is gone once spent; a reservation's once settled.
                released = event.reserved if event.held_in_db else event.cost
                hold = (event.node, event.key_id if event.held_key else 0, event.held_user or 0)
                found.releases[hold] += released

    def void(self, hold: HoldKey) -> None:
        """The hold's node was reaped, which gave back all it held: its release gives back
        nothing more (refunds shrink by it, so what the requests cost is charged)."""
        amount = self.releases.pop(hold, 0)
        _, key_id, user_id = hold
        if key_id:
            self.key_refunds[key_id] -= amount
        if user_id:
            self.user_refunds[user_id] -= amount

    def release_rows(self) -> list[tuple[int, str, int, int]]:
        """(amount, node, key, user) of every hold to take off, in one order (lock order)."""
        return [(amount, *hold) for hold, amount in sorted(self.releases.items()) if amount]

    def rows(self, users_too: bool) -> list[tuple[int, int, int]]:
        """(refund, spent, id) for keys, or for users, in id order (one lock order)."""
        if users_too:
            refunds, spent = self.user_refunds, self.user_spent
        else:
            refunds, spent = self.key_refunds, self.key_spent
        return [(refunds.get(i, 0), spent.get(i, 0), i) for i in sorted(refunds.keys() | spent)]


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
        self,
        batch_id: str,
        statements: list[tuple[str, tuple[Any, ...]]],
        rolled: list[dict[str, Any]],
        settlement: Settlement,
    ) -> bool:
        """One transaction (runs in a worker thread): the batch's mark, the records, their
        rollups, the nodes' holds, then the keys' and the users' (refund, spent, id). False if
        the batch had been applied already."""
        if self._connection is None:
            self._connection = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=10
            )
            self._connection.execute("PRAGMA synchronous=NORMAL")
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            try:
                connection.execute(_MARK_BATCH, (batch_id, int(time.time() * 1000)))
            except sqlite3.IntegrityError:
                connection.execute("ROLLBACK")
                return False
            for statement, params in statements:
                connection.execute(statement, params)
            connection.executemany(ROLLUP_UPSERT, rolled)
            for row in settlement.release_rows():
                if connection.execute(_RELEASE, row).rowcount != 1:
                    settlement.void(row[1:])
            connection.executemany(_SETTLE, settlement.rows(users_too=False))
            connection.executemany(_SETTLE_USERS, settlement.rows(users_too=True))
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return True

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


# Called at each flush (with True at shutdown): amounts owed back to accounts.
Returns = Callable[[bool], "Returned"]


@dataclass(slots=True)
class _Batch:
    """Records and returns written together, under one id (kept if the write failed)."""

    events: list[UsageEvent]
    credits: dict[tuple[Account, str | None], int]
    id: str = field(default_factory=lambda: secrets.token_hex(12))


class UsageWriter:
    def __init__(self, db: Database, flush_seconds: float, returns: Returns | None = None) -> None:
        self._db = db
        self._flush_seconds = flush_seconds
        self._returns = returns
        self._pending: list[UsageEvent] = []
        self._credits: dict[tuple[Account, str | None], int] = defaultdict(int)
        # Batches whose write failed, perhaps after their COMMIT: retried as they were.
        self._unsure: list[_Batch] = []
        path = db.engine.url.database if db.is_sqlite else None
        self._sqlite = (
            _SQLiteBatch(path, db.engine.dialect)
            if path and path != ":memory:" and not path.startswith("file:")
            else None
        )
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._pruned = time.monotonic()
        self._oldest: float | None = None  # monotonic time the oldest pending record came

    def record(self, event: UsageEvent) -> None:
        """Queue a record; never blocks, never fails the request."""
        if not self._pending and not self._unsure:
            self._oldest = time.monotonic()
        self._pending.append(event)
        if len(self._pending) >= MAX_BATCH:
            self._wake.set()

    def backlog(self) -> tuple[int, float]:
        """Records not yet written (the database may be away), and how long the oldest has
        waited (the writer's lag)."""
        count = len(self._pending) + sum(len(b.events) for b in self._unsure)
        oldest = self._oldest
        lag = time.monotonic() - oldest if oldest is not None and count else 0.0
        return count, lag

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
                await self._prune()
            except Exception:
                log.exception("usage flush failed; will retry")
                await asyncio.sleep(1.0)

    async def flush(self) -> None:
        if self._returns is not None:
            for owed, amount in self._returns(self._stopping).items():
                self._credits[owed] += amount
        while self._unsure:
            await self._apply(self._unsure[0])
            self._unsure.pop(0)
        if not self._pending and not self._credits:
            return
        batch = _Batch(self._pending, dict(self._credits))
        self._pending, self._credits = [], defaultdict(int)
        try:
            await self._apply(batch)
        except BaseException:
            self._unsure.append(batch)  # retried as it is, under its id
            raise

    async def _apply(self, batch: _Batch) -> None:
        if not await self._write(batch):
            log.info("usage batch %s had been written already; not applied again", batch.id)

    async def _write(self, batch: _Batch) -> bool:
        # A slice of the batch at a time, yielding in between: the flush runs on the loop that
        # serves requests, and a request arriving meanwhile waits for the slice under way
        # (all of a batch in one go was a millisecond and more at one connection).
        events = batch.events
        settlement = Settlement()
        settlement.add_credits(batch.credits)
        rolled: RollupSlots = {}
        statements: list[tuple[str, tuple[Any, ...]]] = []
        for start in range(0, len(events), _ROWS_PER_SLICE):
            chunk = events[start : start + _ROWS_PER_SLICE]
            settlement.add_events(chunk)
            if self._sqlite is not None:
                roll_into(rolled, chunk)
                statements.extend(self._sqlite.statements(chunk))
            await asyncio.sleep(0)
        if self._sqlite is not None:
            return await asyncio.to_thread(
                self._sqlite.write, batch.id, statements, list(rolled.values()), settlement
            )
        try:
            async with self._db.engine.begin() as conn:
                await conn.execute(
                    usage_batches.insert().values(id=batch.id, created_ms=int(time.time() * 1000))
                )
                await insert_records(conn, batch.events)
                await release_holds(conn, settlement)
                await apply_settlement(conn, settlement)
        except IntegrityError:
            if await self._applied(batch.id):
                return False
            raise
        return True

    async def _applied(self, batch_id: str) -> bool:
        async with self._db.engine.connect() as conn:
            found = await conn.scalar(
                usage_batches.select()
                .with_only_columns(usage_batches.c.id)
                .where(usage_batches.c.id == batch_id)
            )
        return found is not None

    async def _prune(self) -> None:
        """Hourly: forget batch ids older than any retry."""
        if time.monotonic() - self._pruned < 3600:
            return
        self._pruned = time.monotonic()
        edge = int(time.time() * 1000) - BATCH_MARKS_KEPT_MS
        async with self._db.engine.begin() as conn:
            await conn.execute(delete(usage_batches).where(usage_batches.c.created_ms < edge))


async def release_holds(conn: AsyncConnection, settlement: Settlement) -> None:
    """Take what a batch settled off its nodes' holds; a hold whose row is gone (its node was
    reaped) is voided in ``settlement`` before the money moves."""
    for amount, node, key_id, user_id in settlement.release_rows():
        found = await conn.execute(
            text(
                "UPDATE node_holds SET amount = amount - :amount "
                "WHERE node_id = :node AND key_id = :key AND user_id = :user"
            ),
            {"amount": amount, "node": node, "key": key_id, "user": user_id},
        )
        if found.rowcount != 1:
            settlement.void((node, key_id, user_id))


async def apply_settlement(conn: AsyncConnection, settlement: Settlement) -> None:
    """Refunds and spending on keys, then users (one lock order, like the holds)."""
    # NULL + n stays NULL: unlimited keys and users keep no balance, only what they spent.
    for refund, spent, key_id in settlement.rows(users_too=False):
        await conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id)
            .values(
                quota_remaining=api_keys.c.quota_remaining + refund,
                spent=api_keys.c.spent + spent,
            )
        )
    for refund, spent, user_id in settlement.rows(users_too=True):
        await conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(balance=users.c.balance + refund, spent=users.c.spent + spent)
        )
