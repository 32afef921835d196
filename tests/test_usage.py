"""The batched usage writer against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from omnirelay.billing import Account
from omnirelay.config import normalize_database_url
from omnirelay.keys import create_key
from omnirelay.platform.users import UserCreate, create_user
from omnirelay.store import api_keys, open_database, usage_hourly, usage_records, users
from omnirelay.usage import UsageEvent, UsageWriter, insert_records
from omnirelay.usage.sqlite import ManyRows
from tests.conftest import BACKENDS


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, new_database_url: Any) -> str:
    return normalize_database_url(str(new_database_url(request.param)))


def test_a_large_batch_lands_whole_with_its_settlement(url: str) -> None:
    """More records than one multi-row statement holds, each field as it was recorded."""
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

    async def main() -> None:
        db = await open_database(url, migrate=True)
        try:
            _, key_id = await create_key(db, name="k", quota=1_000_000)
            writer = UsageWriter(
                db, 60, returns=lambda everything: {(Account(key_id, None), None): 7}
            )
            for i in range(3500):
                writer.record(
                    UsageEvent(
                        request_id=f"req_{i}",
                        key_id=key_id,
                        model="gpt-4o-mini",
                        endpoint="chat.completions",
                        status=200 if i % 2 else 502,
                        channel_id=None if i % 3 else 1,
                        prompt_tokens=i,
                        cost=2,
                        reserved=5 if i % 2 else 0,
                        held_in_db=bool(i % 2),
                        stream=bool(i % 5 == 0),
                        error=None if i % 2 else "upstream 'broke'; -- \"quoted\"",
                        created_at=when,
                    )
                )
            await writer.flush()
            async with db.engine.connect() as conn:
                rows = (await conn.execute(select(usage_records))).all()
                key = (await conn.execute(select(api_keys))).one()
        finally:
            await db.close()
        assert len(rows) == 3500
        by_id = {row.request_id: row for row in rows}
        sample = by_id["req_10"]
        assert (sample.status, sample.channel_id, sample.prompt_tokens, sample.stream) == (
            502,
            None,
            10,
            True,
        )
        assert sample.error == "upstream 'broke'; -- \"quoted\""
        assert sample.created_at.replace(tzinfo=UTC) == when
        assert by_id["req_3"].channel_id == 1 and by_id["req_3"].error is None
        # Refunds only for holds kept in the database (1,750 x (5 - 2)), plus the returned 7.
        assert key.spent == 3500 * 2
        assert key.quota_remaining == 1_000_000 + 1750 * 3 + 7

    asyncio.run(main())


def test_one_flush_settles_every_key_and_user_of_the_batch_once(url: str) -> None:
    """A batch across many keys, users and models: each key's and user's spending and refunds,
    and each rollup row, come out exact (SQLite writes each kind as one multi-row statement)."""

    async def main() -> None:
        db = await open_database(url, migrate=True)
        try:
            user_ids = [
                (await create_user(db, UserCreate(name=f"u{i}", balance_usd=balance))).id
                for i, balance in enumerate([1.0] * 11 + [None])  # the last one: unlimited
            ]
            key_ids = [
                (await create_key(db, name=f"k{i}", quota=None if i == 0 else 500_000))[1]
                for i in range(30)
            ]
            writer = UsageWriter(db, 60)
            for i in range(900):
                key_id, user_id = key_ids[i % 30], user_ids[i % 12]
                writer.record(
                    UsageEvent(
                        request_id=f"many_{i}",
                        key_id=key_id,
                        model=f"model-{i // 30 % 3}",
                        endpoint="chat.completions",
                        status=200,
                        cost=i % 7 + 1,
                        reserved=10,
                        held_user=user_id,
                        user_id=user_id,
                    )
                )
            await writer.flush()
            async with db.engine.connect() as conn:
                keys = {row.id: row for row in (await conn.execute(select(api_keys))).all()}
                people = {row.id: row for row in (await conn.execute(select(users))).all()}
                hourly = (await conn.execute(select(usage_hourly))).all()
        finally:
            await db.close()
        for n, key_id in enumerate(key_ids):
            costs = [i % 7 + 1 for i in range(900) if i % 30 == n]
            assert keys[key_id].spent == sum(costs)
            refund = sum(10 - c for c in costs)
            expected = None if n == 0 else 500_000 + refund  # NULL + n stays NULL
            assert keys[key_id].quota_remaining == expected
        for n, user_id in enumerate(user_ids):
            costs = [i % 7 + 1 for i in range(900) if i % 12 == n]
            assert people[user_id].spent == sum(costs)
            opening = None if n == 11 else 1_000_000
            assert people[user_id].balance == (
                None if opening is None else opening + sum(10 - c for c in costs)
            )
        # 30 keys x 3 models, every (key, model) pair seen 10 times.
        assert len(hourly) == 90
        assert sorted({row.requests for row in hourly}) == [10]
        assert sum(row.cost for row in hourly) == sum(i % 7 + 1 for i in range(900))

    asyncio.run(main())


def test_records_are_written_inside_the_callers_transaction(url: str) -> None:
    """``insert_records`` first thing in a transaction (PostgreSQL writes them by COPY on the
    driver's connection): a rollback takes them back, a commit keeps them and their rollup."""

    def event(i: int, key_id: int) -> UsageEvent:
        return UsageEvent(
            request_id=f"tx_{i}", key_id=key_id, model="m", endpoint="e", status=200, cost=3
        )

    async def main() -> None:
        db = await open_database(url, migrate=True)
        try:
            _, key_id = await create_key(db, name="k", quota=1_000)
            with pytest.raises(RuntimeError):
                async with db.engine.begin() as conn:
                    await insert_records(conn, [event(i, key_id) for i in range(300)])
                    raise RuntimeError("rolled back")
            async with db.engine.begin() as conn:
                await insert_records(conn, [event(i, key_id) for i in range(3)])
            async with db.engine.connect() as conn:
                ids = sorted((await conn.execute(select(usage_records.c.request_id))).scalars())
                hourly = (await conn.execute(select(usage_hourly))).all()
        finally:
            await db.close()
        assert ids == ["tx_0", "tx_1", "tx_2"]
        assert [(row.requests, row.cost) for row in hourly] == [(3, 9)]

    asyncio.run(main())


def test_a_sqlite_flush_of_any_size_uses_one_of_a_few_prepared_statements() -> None:
    """The writer's connection keeps every distinct statement prepared (up to 128 of them, a
    megabyte and more each at a thousand rows): whatever a flush's size, its rows go in
    statements of ten sizes, padded with rows whose first value is NULL."""
    many = ManyRows("INSERT INTO t SELECT * FROM (VALUES {rows}) WHERE column1 IS NOT NULL", 3)
    texts = set()
    for n in range(1, 3001):
        values = list(range(1, 3 * n + 1))
        statements = many.statements(values)
        texts.update(sql for sql, _ in statements)
        kept = [v for _, params in statements for v in params if v is not None]
        assert kept == values
        for sql, params in statements:
            assert sql.count("?") == len(params) <= 3 * 512
    assert len(texts) == 10  # 1, 2, 4, ... 512 rows
    quiet = many.statements(list(range(1, 3 * 450 + 1)), largest=64)
    assert [len(params) // 3 for _, params in quiet] == [64] * 7 + [2]  # 448 rows, then 2
    assert {sql for sql, _ in quiet} <= texts


@pytest.mark.parametrize(("in_flight", "rows"), [(0, 64), (40, 512)])
def test_a_quiet_node_writes_its_sqlite_batch_in_small_statements(
    new_database_url: Any, monkeypatch: pytest.MonkeyPatch, in_flight: int, rows: int
) -> None:
    """Binding a statement's values holds the GIL: a request arriving at an idle node waits
    for a statement of 64 rows at most, a loaded node keeps few large statements."""
    from omnirelay.usage import sqlite as sqlite_batch

    sizes: list[int] = []
    cut = sqlite_batch._RECORDS.statements

    def spy(values: list[Any], largest: int | None = None) -> list[tuple[str, list[Any]]]:
        found = cut(values, largest)
        sizes.extend(len(params) // len(sqlite_batch.RECORD_COLUMNS) for _, params in found)
        return found

    monkeypatch.setattr(sqlite_batch._RECORDS, "statements", spy)

    async def main() -> int:
        db = await open_database(normalize_database_url(new_database_url("sqlite")))
        try:
            _, key_id = await create_key(db, name="k", quota=None)
            writer = UsageWriter(db, 60, in_flight=lambda: in_flight)
            for i in range(450):
                writer.record(
                    UsageEvent(
                        request_id=f"req_{i}",
                        key_id=key_id,
                        model="gpt-4o-mini",
                        endpoint="chat.completions",
                        status=200,
                        cost=1,
                    )
                )
            await writer.flush()
            async with db.engine.connect() as conn:
                return len((await conn.execute(select(usage_records.c.id))).all())
        finally:
            await db.close()

    assert asyncio.run(main()) == 450
    assert max(sizes) == rows and sum(sizes) >= 450
