"""Usage records and quota settlement, written in batches by one background task per process.

The response path only appends to an in-memory queue; every ``flush_seconds`` the writer
inserts the records, adds them to the hourly rollups (``usage_hourly``, which the aggregates
read and retention keeps) and applies each key's and user's net settlement in one transaction,
together with the quota leases the ledger gives back (``billing.Ledger.returns``). On shutdown
it drains what is queued and returns every lease. What a record, a rollup and a settlement are
is in ``records``; on SQLite the transaction runs in one trip to a thread (``sqlite``).

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
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from omnirelay.store import Database, usage_batches
from omnirelay.usage.records import (
    BUCKET_COLUMNS,
    LATENCY_BUCKETS_MS,
    ROLLUP_UPSERT,
    RollupSlots,
    Settlement,
    UsageEvent,
    apply_settlement,
    insert_records,
    release_holds,
    roll_into,
    rollups,
)
from omnirelay.usage.sqlite import SQLiteBatch

if TYPE_CHECKING:
    from omnirelay.billing import Account, Returned

__all__ = [
    "BATCH_MARKS_KEPT_MS",
    "BUCKET_COLUMNS",
    "LATENCY_BUCKETS_MS",
    "MAX_BATCH",
    "ROLLUP_UPSERT",
    "Settlement",
    "UsageEvent",
    "UsageWriter",
    "apply_settlement",
    "insert_records",
    "release_holds",
    "roll_into",
    "rollups",
]

log = logging.getLogger(__name__)

MAX_BATCH = 2000
# Usage records prepared on the event loop between two yields (~5 µs of CPU each).
_ROWS_PER_SLICE = 32
# A SQLite flush while fewer requests than this are in flight (an idle or lightly used node)
# goes in statements of QUIET_ROWS rows at most (``SQLiteBatch.write``): a request arriving
# meanwhile waits ~0.1-0.3 ms for the GIL, not ~1.3-1.7 ms.
QUIET_IN_FLIGHT = 4
QUIET_ROWS = 64
# Batch ids are kept this long: far longer than any retry of a batch.
BATCH_MARKS_KEPT_MS = 86_400_000

# Called at each flush (with True at shutdown): amounts owed back to accounts.
Returns = Callable[[bool], "Returned"]


@dataclass(slots=True)
class _Batch:
    """Records and returns written together, under one id (kept if the write failed)."""

    events: list[UsageEvent]
    credits: dict[tuple[Account, str | None], int]
    id: str = field(default_factory=lambda: secrets.token_hex(12))


class UsageWriter:
    def __init__(
        self,
        db: Database,
        flush_seconds: float,
        returns: Returns | None = None,
        in_flight: Callable[[], int] | None = None,
    ) -> None:
        """``in_flight`` counts the requests this process serves (None: taken as busy)."""
        self._db = db
        self._flush_seconds = flush_seconds
        self._returns = returns
        self._in_flight = in_flight
        self._pending: list[UsageEvent] = []
        self._credits: dict[tuple[Account, str | None], int] = defaultdict(int)
        # Batches whose write failed, perhaps after their COMMIT: retried as they were.
        self._unsure: list[_Batch] = []
        path = db.engine.url.database if db.is_sqlite else None
        self._sqlite = (
            SQLiteBatch(path, db.engine.dialect)
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
        values: list[Any] = []
        for start in range(0, len(events), _ROWS_PER_SLICE):
            chunk = events[start : start + _ROWS_PER_SLICE]
            settlement.add_events(chunk)
            roll_into(rolled, chunk)
            if self._sqlite is not None:
                values += self._sqlite.values(chunk)
            await asyncio.sleep(0)
        if self._sqlite is not None:
            quiet = self._in_flight is not None and self._in_flight() < QUIET_IN_FLIGHT
            return await asyncio.to_thread(
                self._sqlite.write,
                batch.id,
                values,
                list(rolled.values()),
                settlement,
                QUIET_ROWS if quiet else None,
            )
        try:
            async with self._db.engine.begin() as conn:
                await conn.execute(
                    usage_batches.insert().values(id=batch.id, created_ms=int(time.time() * 1000))
                )
                await insert_records(conn, batch.events, list(rolled.values()))
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
