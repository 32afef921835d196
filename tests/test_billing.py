"""Quota holds and leases against a real database (SQLite and PostgreSQL).

Two ``Ledger`` objects on one database stand for two worker processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select

from omnirelay.billing import (
    LEASE_FLOOR,
    LEASE_IDLE_SECONDS,
    LEASE_MAX_GROWTH,
    LEASE_REQUESTS,
    LEASE_TARGET_SECONDS,
    Ledger,
    Usage,
)
from omnirelay.catalogue import ModelInfo
from omnirelay.config import normalize_database_url
from omnirelay.errors import QuotaExceeded
from omnirelay.keys import KeyRecord, create_key
from omnirelay.metering import Meter
from omnirelay.store import Database, api_keys, open_database, usage_records
from omnirelay.usage import UsageWriter
from tests.conftest import BACKENDS

MODEL = ModelInfo(name="m", kind="chat", family="openai", per_request=1000)


def _key(key_id: int) -> KeyRecord:
    return KeyRecord(
        id=key_id,
        name="k",
        models=None,
        expires_at=None,
        is_admin=False,
        enabled=True,
        limited=True,
    )


async def _balance(db: Database, key_id: int) -> tuple[int, int]:
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(api_keys.c.quota_remaining, api_keys.c.spent).where(api_keys.c.id == key_id)
            )
        ).one()
    return int(row.quota_remaining), int(row.spent)


def _usage(requests: int = 1) -> Usage:
    return Usage(requests=requests)


def _run(url: str, body: Callable[[Database, KeyRecord], Awaitable[None]], quota: int) -> None:
    async def main() -> None:
        db = await open_database(url, migrate=True)
        try:
            _, key_id = await create_key(db, name="k", quota=quota)
            await body(db, _key(key_id))
        finally:
            await db.close()

    asyncio.run(main())


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, new_database_url: Any) -> str:
    return normalize_database_url(str(new_database_url(request.param)))


def test_holds_come_from_one_lease_and_settle_to_the_exact_cost(url: str) -> None:
    async def body(db: Database, key: KeyRecord) -> None:
        now = [1000.0]
        ledger = Ledger(db, clock=lambda: now[0])
        writer = UsageWriter(db, 60, returns=ledger.returns)
        meters = [
            await Meter.start(
                ledger,
                writer,
                key=key,
                model=MODEL,
                endpoint="e",
                request_id=f"r{i}",
                estimate=_usage(),
            )
            for i in range(10)
        ]
        # One UPDATE took a whole lease; the ten holds came out of it in memory.
        assert all(m.lease is not None for m in meters)
        assert await _balance(db, key.id) == (10**9 - 1000 * LEASE_REQUESTS, 0)
        for meter in meters:
            meter.finish(200, _usage())
        await writer.flush()  # the lease was used since the last flush: kept
        assert await _balance(db, key.id) == (10**9 - 1000 * LEASE_REQUESTS, 10_000)
        now[0] += LEASE_IDLE_SECONDS - 0.5
        await writer.flush()  # a pause shorter than LEASE_IDLE_SECONDS: still kept
        assert await _balance(db, key.id) == (10**9 - 1000 * LEASE_REQUESTS, 10_000)
        now[0] += 0.5
        await writer.flush()  # idle long enough: given back, less what was spent
        assert await _balance(db, key.id) == (10**9 - 10_000, 10_000)
        async with db.engine.connect() as conn:
            assert len((await conn.execute(select(usage_records))).all()) == 10

    _run(url, body, quota=10**9)


def test_a_lease_in_use_is_not_given_back_until_its_requests_settle(url: str) -> None:
    async def body(db: Database, key: KeyRecord) -> None:
        now = [1000.0]
        ledger = Ledger(db, clock=lambda: now[0])
        writer = UsageWriter(db, 60, returns=ledger.returns)
        meter = await Meter.start(
            ledger, writer, key=key, model=MODEL, endpoint="e", request_id="r", estimate=_usage()
        )
        await writer.flush()
        now[0] += 2 * LEASE_IDLE_SECONDS  # a long request: its lease stays
        await writer.flush()
        assert await _balance(db, key.id) == (10**9 - 1000 * LEASE_REQUESTS, 0)
        meter.finish(200, _usage(requests=3))  # cost 3000, more than the 1000 held
        await writer.flush()  # settled just now: the lease stays a while
        assert await _balance(db, key.id) == (10**9 - 1000 * LEASE_REQUESTS, 3000)
        now[0] += LEASE_IDLE_SECONDS
        await writer.flush()  # idle since the request ended: given back, less its cost
        assert await _balance(db, key.id) == (10**9 - 3000, 3000)

    _run(url, body, quota=10**9)


def test_a_nearly_spent_key_reserves_each_request_in_the_database(url: str) -> None:
    quota = 1000 * LEASE_REQUESTS * LEASE_FLOOR - 1  # just too little for a lease

    async def body(db: Database, key: KeyRecord) -> None:
        ledger = Ledger(db)
        hold = await ledger.hold(key, 1000)
        assert hold.lease is None and hold.amount == 1000
        assert await _balance(db, key.id) == (quota - 1000, 0)

    _run(url, body, quota=quota)


def test_processes_with_leases_never_hold_more_than_the_balance(url: str) -> None:
    quota = 1000 * LEASE_REQUESTS * LEASE_FLOOR * 3

    async def body(db: Database, key: KeyRecord) -> None:
        ledgers = [Ledger(db), Ledger(db)]
        held = 0
        for turn in range(quota // 1000 + 10):
            try:
                held += (await ledgers[turn % 2].hold(key, 1000)).amount
            except QuotaExceeded:
                break
        else:
            pytest.fail("the key's quota never ran out")
        for ledger in ledgers:
            await ledger.close()
        outstanding = sum(sum(ledger.returns(everything=True).values()) for ledger in ledgers)
        remaining, _ = await _balance(db, key.id)
        # Every hold is backed by the database: nothing was created or lost on the way.
        assert held <= quota
        assert remaining + outstanding + held == quota
        assert remaining < 1000

    _run(url, body, quota=quota)


def test_a_lease_running_low_is_extended_in_the_background_and_grows(url: str) -> None:
    async def body(db: Database, key: KeyRecord) -> None:
        now = [1000.0]
        ledger = Ledger(db, clock=lambda: now[0])
        first = 1000 * LEASE_REQUESTS
        holds = [await ledger.hold(key, 1000) for _ in range(LEASE_REQUESTS // 2)]
        lease = holds[0].lease
        assert lease is not None and not lease.refilling  # half of it left: not low yet
        now[0] += 0.5
        holds.append(await ledger.hold(key, 1000))
        assert lease.refilling and all(h.lease is lease for h in holds)
        await ledger.close()  # the refill started by the hold that went below half
        # Extended within a second of the first lease: it grows to LEASE_TARGET_SECONDS of
        # what was held in those 0.5 s (33 holds of 1000).
        second = int(33_000 * LEASE_TARGET_SECONDS / 0.5)
        assert lease.size == second > 2 * first
        assert await _balance(db, key.id) == (10**9 - first - second, 0)
        assert lease.available == first + second - 1000 * len(holds)
        # Spending far faster than that: at most LEASE_MAX_GROWTH times a step.
        now[0] += 0.001
        while not lease.refilling:
            holds.append(await ledger.hold(key, 1000))
        await ledger.close()
        assert lease.size == second * LEASE_MAX_GROWTH

    _run(url, body, quota=10**9)


def test_unlimited_keys_hold_nothing(url: str) -> None:
    async def body(db: Database, key: KeyRecord) -> None:
        unlimited = KeyRecord(
            id=key.id,
            name="k",
            models=None,
            expires_at=None,
            is_admin=False,
            enabled=True,
            limited=False,
        )
        hold = await Ledger(db).hold(unlimited, 5000)
        assert hold.amount == 0 and hold.lease is None
        assert await _balance(db, key.id) == (10**6, 0)

    _run(url, body, quota=10**6)
