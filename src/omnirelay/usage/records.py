"""What a usage record is, its hourly rollups and a batch's settlement, and how they are
written through SQLAlchemy (PostgreSQL, and SQLite inside callers' transactions).

The rollups (``usage_hourly``) are what the aggregates read and what retention keeps; a
``Settlement`` is a batch's net change per key, per user and per node hold, applied in one
lock order.
"""

from __future__ import annotations

import operator
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnirelay.store import api_keys, usage_records, users

if TYPE_CHECKING:
    from omnirelay.billing import Account

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
RECORD_COLUMNS = tuple(f.name for f in fields(UsageEvent) if f.name not in _NOT_COLUMNS)


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
ROLLUP_SUMMED = (
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "latency_ms",
    *BUCKET_COLUMNS,
)
ROLLUP_KEY = ("hour", "key_id", "model", "channel_id")
ROLLUP_COLUMNS = (*ROLLUP_KEY, "user_id", *ROLLUP_SUMMED)
# Plain SQL that SQLite and PostgreSQL both take (named parameters, ON CONFLICT upsert); our
# own column names, every value a bound parameter.
ROLLUP_UPSERT = (
    f"INSERT INTO usage_hourly ({', '.join(ROLLUP_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(':' + c for c in ROLLUP_COLUMNS)}) "
    f"ON CONFLICT ({', '.join(ROLLUP_KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = usage_hourly.{c} + excluded.{c}" for c in ROLLUP_SUMMED)
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
            row = rows[slot] = dict.fromkeys(ROLLUP_SUMMED, 0)
            row.update(zip(ROLLUP_KEY, slot, strict=True))
            row["user_id"] = event.user_id or 0
        row["requests"] += 1
        row["errors"] += event.status >= 400
        row["prompt_tokens"] += event.prompt_tokens
        row["completion_tokens"] += event.completion_tokens
        row["cost"] += event.cost
        row["latency_ms"] += event.latency_ms
        row[BUCKET_COLUMNS[bisect_right(LATENCY_BUCKETS_MS, event.latency_ms)]] += 1


async def insert_records(
    conn: AsyncConnection,
    events: Sequence[UsageEvent],
    rolled_up: list[dict[str, Any]] | None = None,
) -> None:
    """Insert usage records and their rollups (``rollups(events)``, unless the caller made
    them already) on a connection in a transaction."""
    if conn.dialect.name == "postgresql":
        await _copy_records(conn, events)
    else:
        await _insert_records(conn, events)
    if events:
        await conn.execute(text(ROLLUP_UPSERT), rollups(events) if rolled_up is None else rolled_up)


# A record's columns in ``RECORD_COLUMNS`` order, as a tuple: one C call a record.
_record_row = operator.attrgetter(*RECORD_COLUMNS)
# Records a COPY encodes between two yields (~1 µs each, in asyncpg's C).
_ROWS_PER_COPY = 128


async def _copy_records(conn: AsyncConnection, events: Sequence[UsageEvent]) -> None:
    """PostgreSQL: the records by binary COPY on the driver's connection, inside the
    transaction of ``conn``.

    The same rows INSERTed through SQLAlchemy (a dict a record, then the statement's parameter
    processing) made a flush of 500 records cost ~7 ms of the event loop, in slices of about a
    millisecond that a request arriving meanwhile waits for; by COPY it is ~3.5 ms, in slices
    under half a millisecond."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        # The dialect begins its transaction at the first statement: without one the COPY
        # would commit on its own, outside what ``conn`` commits or rolls back.
        await conn.exec_driver_sql("SELECT 1")
    for start in range(0, len(events), _ROWS_PER_COPY):
        rows = [_record_row(event) for event in events[start : start + _ROWS_PER_COPY]]
        await driver.copy_records_to_table("usage_records", records=rows, columns=RECORD_COLUMNS)


async def _insert_records(conn: AsyncConnection, events: Sequence[UsageEvent]) -> None:
    # In chunks: the driver runs on the event loop, and preparing a statement's rows holds it
    # (~10 µs a row); each chunk lets requests run in between.
    for start in range(0, len(events), _ROWS_PER_CHUNK):
        rows = [
            {name: getattr(event, name) for name in RECORD_COLUMNS}
            for event in events[start : start + _ROWS_PER_CHUNK]
        ]
        await conn.execute(usage_records.insert(), rows)


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
