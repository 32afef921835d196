"""Group commit: the task store's writes from concurrent callers share one transaction.

A submit writes twice (the reservation with its task row, then the vendor's acceptance) and a
settlement once; each used to be its own transaction, with its own connection check-out,
BEGIN, COMMIT and WAL flush, and (for the money) its own turn at the account's row lock, held
until that flush ended. Under load most of a submit's time was that queue. Here a caller hands
its write over as an *item* and waits: while a transaction is being written, the items that
arrive queue up, and the next transaction takes them all, through one *bulk* function that
writes them together (one multi-row statement where it can, one debit per account). Alone, an
item is written at once: nothing waits for a batch to fill.

Nothing is weaker than one transaction per item: an item's writes commit together or not at
all, and its caller hears of success only after the commit. A bulk function answers each item
with its result or its refusal (a task whose account lacks the money), and a refused item
writes nothing. A database error loses the whole transaction: it is rolled back and every item
is written again alone, so only the item at fault fails (a duplicate ``external_task_id``),
and a deadlock costs one retry.

One committer writes one kind of item, and its bulk function locks rows in one order (task
rows by id, accounts by id): two transactions of a kind never wait on each other in a circle.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from omnirelay.store import Database

log = logging.getLogger(__name__)

Item = TypeVar("Item")
# Writes items in a transaction: an outcome per item, in order, each (True, its result) or
# (False, the item's refusal, an exception raised to its caller).
Bulk = Callable[[AsyncConnection, list[Item]], Awaitable[list[tuple[bool, Any]]]]

# Items per transaction: enough to absorb a burst, few enough that one transaction stays short.
MAX_ITEMS = 64
# Transactions a committer writes side by side (each on its own connection). One: what arrives
# while it commits waits for the next, which takes it all (with two, a burst went out as two
# half-size transactions, which for one key queued at its row lock anyway); every process has
# its own committers.
MAX_PARALLEL = 1


def _retrieved(done: asyncio.Future[Any]) -> None:
    # A caller that went away leaves its outcome unread: not an "exception never retrieved".
    if not done.cancelled():
        done.exception()


class GroupCommit(Generic[Item]):
    def __init__(
        self,
        db: Database,
        bulk: Bulk[Item],
        max_items: int = MAX_ITEMS,
        parallel: int = MAX_PARALLEL,
    ) -> None:
        self._db = db
        self._bulk = bulk
        self._max_items = max_items
        self._parallel = parallel
        self._queue: list[tuple[Item, asyncio.Future[Any]]] = []
        self._writers = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def add(self, item: Item) -> Any:
        """Write ``item`` with whatever else is waiting; its result once committed (or its
        refusal, or the database's error, raised)."""
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieved)
        self._queue.append((item, done))
        if self._writers < self._parallel:
            self._writers += 1
            writer = asyncio.create_task(self._write(), name="task-group-commit")
            self._tasks.add(writer)
            writer.add_done_callback(self._tasks.discard)
        # Shielded: a caller that goes away (a client hanging up) does not cancel the others'
        # transaction; its own item is written all the same, as it would have been alone.
        return await asyncio.shield(done)

    async def _write(self) -> None:
        try:
            while self._queue:
                try:
                    # One connection for a burst: checked out (and pinged) once, not per batch.
                    async with self._db.engine.connect() as conn:
                        while self._queue:
                            if not await self._commit(conn, self._take()):
                                break  # the connection may be broken: the next batch, another
                except Exception as error:  # noqa: BLE001 - no connection: the next batch hears
                    for _, done in self._take():
                        if not done.done():
                            done.set_exception(error)
        finally:
            self._writers -= 1

    def _take(self) -> list[tuple[Item, asyncio.Future[Any]]]:
        batch = self._queue[: self._max_items]
        del self._queue[: self._max_items]
        return batch

    async def _commit(
        self, conn: AsyncConnection, batch: list[tuple[Item, asyncio.Future[Any]]]
    ) -> bool:
        """Write ``batch`` in one transaction on ``conn``, or (if that fails) each item alone;
        whether the shared transaction went through."""
        shared = True
        try:
            outcomes = await self._transaction(conn, [item for item, _ in batch])
        except asyncio.CancelledError:  # shutdown: nobody waits forever
            for _, done in batch:
                done.cancel()
            raise
        except Exception as error:  # noqa: BLE001 - handed to the caller, or retried alone
            shared = False
            if len(batch) == 1:  # it was alone already
                outcomes = [(False, error)]
            else:
                log.info("a shared task transaction of %d failed (%s)", len(batch), error)
                outcomes = [await self._alone(item) for item, _ in batch]
        for (_, done), (ok, value) in zip(batch, outcomes, strict=True):
            if done.done():
                continue
            if ok:
                done.set_result(value)
            else:
                done.set_exception(value)
        return shared

    async def _alone(self, item: Item) -> tuple[bool, Any]:
        try:
            async with self._db.engine.connect() as conn:
                [outcome] = await self._transaction(conn, [item])
        except Exception as refused:  # noqa: BLE001 - the caller's error
            return (False, refused)
        return outcome

    async def _transaction(
        self, conn: AsyncConnection, items: list[Item]
    ) -> list[tuple[bool, Any]]:
        async with self._turn(), conn.begin():
            outcomes = await self._bulk(conn, items)
            if len(outcomes) != len(items):  # rolled back: a bug, not a write
                raise RuntimeError("a bulk write answered for the wrong number of items")
        return outcomes

    def _turn(self) -> AbstractAsyncContextManager[Any]:
        return self._db.sqlite_writes if self._db.is_sqlite else nullcontext()
