"""Group commit of the task store's writes (tasks/commits.py): concurrent writes share a
transaction, and each keeps the guarantees it had alone: money taken exactly as one after the
other, a refused or faulty write failing alone, a settlement once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from omnirelay.billing import Account
from omnirelay.config import normalize_database_url
from omnirelay.errors import QuotaExceeded
from omnirelay.keys import create_key
from omnirelay.store import Database, api_keys, open_database, tasks, usage_records, users
from omnirelay.tasks.commits import GroupCommit
from omnirelay.tasks.engine import new_task_id
from omnirelay.tasks.model import Task, TaskStatus, now_ms
from omnirelay.tasks.store import DuplicateExternalId, Outcome, TaskStore

PRICE = 1_000


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, new_database_url: object) -> str:
    return normalize_database_url(new_database_url(request.param))  # type: ignore[operator]


def run(url: str, body: Callable[[Database], Awaitable[None]]) -> None:
    async def main() -> None:
        db = await open_database(url)
        try:
            await body(db)
        finally:
            await db.close()

    asyncio.run(main())


def _values(key_id: int, external: str | None = None, user_id: int | None = None) -> dict[str, Any]:
    now = now_ms()
    return {
        "id": new_task_id(),
        "key_id": key_id,
        "vendor": "",
        "action": "test.action",
        "model": "m",
        "request": "{}",
        "status": TaskStatus.SUBMITTING.value,
        "progress": 0,
        "callback_url": None,
        "external_task_id": external,
        "price": PRICE,
        "reserved": PRICE,
        "user_id": user_id,
        "user_held": user_id is not None,
        "ratio_ppm": 1_000_000,
        "created_ms": now,
        "updated_ms": now,
        "next_poll_ms": now + 600_000,
        "attempts": 0,
        "node_id": None,
    }


async def _quota(db: Database, key_id: int) -> int:
    async with db.engine.connect() as conn:
        return int(
            await conn.scalar(select(api_keys.c.quota_remaining).where(api_keys.c.id == key_id))
        )


async def _count(db: Database, table: Any) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


class _FakeTransaction:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *_: object) -> None:
        return None


class _FakeConnection(_FakeTransaction):
    async def __aenter__(self) -> _FakeConnection:  # type: ignore[override]
        return self

    def begin(self) -> _FakeTransaction:
        return _FakeTransaction()


class _FakeEngine:
    """Just enough of an engine for ``GroupCommit``: transactions that do nothing."""

    def connect(self) -> _FakeConnection:
        return _FakeConnection()


def test_concurrent_writes_share_one_transaction() -> None:
    batches: list[int] = []

    class Db:
        engine = _FakeEngine()
        is_sqlite = False

    async def bulk(_conn: AsyncConnection, items: list[int]) -> list[tuple[bool, Any]]:
        batches.append(len(items))
        await asyncio.sleep(0.01)
        return [(True, item * 2) if item % 5 else (False, ValueError(item)) for item in items]

    async def main() -> list[object]:
        commits: GroupCommit[int] = GroupCommit(Db(), bulk)  # type: ignore[arg-type]
        return await asyncio.gather(*(commits.add(i) for i in range(1, 21)), return_exceptions=True)

    results = asyncio.run(main())
    assert sum(batches) == 20 and max(batches) > 1  # shared, and every item written once
    for i, result in enumerate(results, start=1):
        if i % 5:
            assert result == i * 2
        else:
            assert isinstance(result, ValueError)  # refused alone, the others unaffected


def test_sqlite_writers_of_one_process_take_turns() -> None:
    """On SQLite two committers' transactions never overlap in one process (they queue on the
    database's lock, not in SQLite's busy handler); on PostgreSQL they may."""

    def most_at_once(sqlite: bool) -> int:
        class Db:
            engine = _FakeEngine()
            is_sqlite = sqlite
            sqlite_writes = asyncio.Lock()

        writing = most = 0

        async def bulk(_conn: AsyncConnection, items: list[int]) -> list[tuple[bool, Any]]:
            nonlocal writing, most
            writing += 1
            most = max(most, writing)
            await asyncio.sleep(0.01)
            writing -= 1
            return [(True, item) for item in items]

        async def main() -> None:
            db = Db()
            first: GroupCommit[int] = GroupCommit(db, bulk)  # type: ignore[arg-type]
            second: GroupCommit[int] = GroupCommit(db, bulk)  # type: ignore[arg-type]
            await asyncio.gather(*(c.add(i) for i in range(10) for c in (first, second)))

        asyncio.run(main())
        return most

    assert most_at_once(sqlite=True) == 1
    assert most_at_once(sqlite=False) == 2


def test_concurrent_reservations_take_exactly_what_one_after_the_other_would(url: str) -> None:
    async def body(db: Database) -> None:
        _, key_id = await create_key(db, name="k", quota=5 * PRICE + PRICE // 2)
        store = TaskStore(db)
        account = Account(key_id, None)
        results = await asyncio.gather(
            *(store.insert(_values(key_id), account, PRICE) for _ in range(8)),
            return_exceptions=True,
        )
        created = [r for r in results if isinstance(r, Task)]
        refused = [r for r in results if isinstance(r, QuotaExceeded)]
        assert len(created) == 5 and len(refused) == 3
        assert await _quota(db, key_id) == PRICE // 2
        assert await _count(db, tasks) == 5

    run(url, body)


def test_a_duplicate_external_id_fails_alone(url: str) -> None:
    async def body(db: Database) -> None:
        _, key_id = await create_key(db, name="k", quota=100 * PRICE)
        store = TaskStore(db)
        account = Account(key_id, None)
        externals = ["a", "b", "same", "c", "same", "d"]
        results = await asyncio.gather(
            *(store.insert(_values(key_id, e), account, PRICE) for e in externals),
            return_exceptions=True,
        )
        assert sum(isinstance(r, DuplicateExternalId) for r in results) == 1
        assert sum(isinstance(r, Task) for r in results) == 5
        # The refused one reserved nothing: the shared transaction was rolled back and the
        # others were written again, each alone.
        assert await _quota(db, key_id) == 95 * PRICE
        assert await _count(db, tasks) == 5

    run(url, body)


def test_a_side_that_cannot_pay_gives_the_other_its_money_back(url: str) -> None:
    async def body(db: Database) -> None:
        async with db.engine.begin() as conn:
            user_id = (
                await conn.execute(
                    users.insert()
                    .values(
                        name="u", group_id=0, balance=PRICE, spent=0, created_at=datetime.now(UTC)
                    )
                    .returning(users.c.id)
                )
            ).scalar_one()
        _, key_id = await create_key(db, name="k", quota=10 * PRICE, user_id=user_id)
        store = TaskStore(db)
        account = Account(key_id, user_id)
        results = await asyncio.gather(
            *(store.insert(_values(key_id, user_id=user_id), account, PRICE) for _ in range(3)),
            return_exceptions=True,
        )
        assert sum(isinstance(r, Task) for r in results) == 1  # the user had one price
        assert await _quota(db, key_id) == 9 * PRICE  # the key paid for that one only
        async with db.engine.connect() as conn:
            balance = await conn.scalar(select(users.c.balance).where(users.c.id == user_id))
        assert balance == 0

    run(url, body)


def test_concurrent_settlements_move_the_money_once_each(url: str) -> None:
    async def body(db: Database) -> None:
        _, key_id = await create_key(db, name="k", quota=10 * PRICE)
        store = TaskStore(db)
        account = Account(key_id, None)
        made = await asyncio.gather(
            *(store.insert(_values(key_id), account, PRICE) for _ in range(6))
        )
        assert await _quota(db, key_id) == 4 * PRICE
        charged = Outcome(TaskStatus.SUCCEEDED, charge=PRICE, http_status=200, units=1)
        refunded = Outcome(TaskStatus.FAILED, charge=0, http_status=502, failure="gone")
        # Three charged, three refunded, and each of them settled twice at the same time.
        outcomes = [charged if i % 2 else refunded for i in range(6)]
        results = await asyncio.gather(
            *(store.finish(t, o) for t, o in zip(made, outcomes, strict=True)),
            *(store.finish(t, refunded) for t in made),
        )
        assert sum(r is not None for r in results) == 6
        assert all(r is None for r in results[6:])  # the first of each pair won
        assert await _quota(db, key_id) == 7 * PRICE  # three refunds came back
        async with db.engine.connect() as conn:
            spent = await conn.scalar(select(api_keys.c.spent).where(api_keys.c.id == key_id))
        assert spent == 3 * PRICE
        assert await _count(db, usage_records) == 6

    run(url, body)


def test_no_connection_fails_the_waiting_writes_instead_of_holding_them() -> None:
    class Engine:
        def connect(self) -> Any:
            raise ConnectionRefusedError("the database is away")

    class Db:
        engine = Engine()

    async def bulk(_conn: AsyncConnection, items: list[int]) -> list[tuple[bool, Any]]:
        raise AssertionError("never reached")

    async def main() -> list[object]:
        commits: GroupCommit[int] = GroupCommit(Db(), bulk)  # type: ignore[arg-type]
        return await asyncio.wait_for(
            asyncio.gather(*(commits.add(i) for i in range(5)), return_exceptions=True), 5
        )

    assert all(isinstance(r, ConnectionRefusedError) for r in asyncio.run(main()))
