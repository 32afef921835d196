"""What a node holds of the accounts' money comes back when it dies, once; a node taken for dead
while alive is fenced; a usage batch whose COMMIT was ambiguous is applied once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import select

from omnirelay.billing import Ledger
from omnirelay.config import normalize_database_url
from omnirelay.keys import KeyRecord, create_key
from omnirelay.nodes import NodeRegistry
from omnirelay.store import Database, api_keys, node_holds, nodes, open_database, usage_records
from omnirelay.usage import UsageEvent, UsageWriter

QUOTA = 10_000_000  # enough for leases (an account holds at least 16 of them)
FAST = {"heartbeat": 0.05, "dead_after": 0.3}


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, new_database_url: Callable[[str], str]) -> str:
    return normalize_database_url(new_database_url(request.param))


def run(url: str, body: Callable[[Database, KeyRecord], Awaitable[None]]) -> None:
    async def main() -> None:
        db = await open_database(url)
        try:
            _, key_id = await create_key(db, name="k", quota=QUOTA)
            await body(db, KeyRecord(key_id, "k", None, None, False, True, True))
        finally:
            await db.close()

    asyncio.run(main())


async def _quota(db: Database, key_id: int) -> tuple[int, int]:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).one()
    return int(row.quota_remaining), int(row.spent)


async def _held(db: Database, node_id: str) -> int:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(node_holds.c.amount).where(node_holds.c.node_id == node_id)
        )
        return sum(int(r[0]) for r in rows)


def _spent(key: KeyRecord, node: str, cost: int, reserved: int) -> UsageEvent:
    """The record of a request that held ``reserved`` from a lease and cost ``cost``."""
    return UsageEvent(
        request_id=f"req-{cost}",
        key_id=key.id,
        model="m",
        endpoint="chat.completions",
        status=200,
        cost=cost,
        reserved=reserved,
        held_in_db=False,
        held_key=True,
        node=node,
    )


def test_a_dead_node_s_holds_come_back_once(url: str) -> None:
    async def body(db: Database, key: KeyRecord) -> None:
        dead = NodeRegistry(db, **FAST)
        await dead.join()
        hold = await Ledger(db, registry=dead).hold(key, 1_000)  # a lease: 64 estimates
        assert hold.lease is not None and hold.node == dead.id
        remaining, _ = await _quota(db, key.id)
        held = await _held(db, dead.id)
        assert held == QUOTA - remaining > 1_000  # every micro-dollar taken is accounted for
        # It dies (no heartbeat, no flush); a live node notices once the heartbeat is stale.
        alive = NodeRegistry(db, **FAST)
        await alive.join()
        assert await alive.reap() == []  # not stale yet
        await asyncio.sleep(0.4)
        [reaped] = await alive.reap()
        assert reaped.node_id == dead.id and reaped.returned == held
        assert await _quota(db, key.id) == (QUOTA, 0)
        assert await alive.reap() == []  # given back once
        async with db.engine.connect() as conn:
            left = {r[0] for r in await conn.execute(select(nodes.c.id))}
        assert left == {alive.id}

    run(url, body)


def test_a_node_taken_for_dead_while_alive_is_fenced(url: str) -> None:
    """Its holds were given back: what it settles later is charged directly, its returns give
    nothing back again, and it joins again under a new id."""

    async def body(db: Database, key: KeyRecord) -> None:
        stalled = NodeRegistry(db, **FAST)
        await stalled.join()
        old_id = stalled.id
        ledger = Ledger(db, registry=stalled)
        stalled.on_fenced = ledger.forget
        hold = await ledger.hold(key, 1_000)
        assert hold.lease is not None
        hold.lease.settle(1_000, 400)  # a request ran, costing 400
        await asyncio.sleep(0.4)
        other = NodeRegistry(db, **FAST)
        await other.join()
        [reaped] = await other.reap()
        assert reaped.node_id == old_id
        assert await _quota(db, key.id) == (QUOTA, 0)
        # The stalled node wakes up: its writer settles the request and returns the lease.
        writer = UsageWriter(db, 60, returns=ledger.returns)
        writer.record(_spent(key, old_id, 400, 1_000))
        await writer.stop()
        assert await _quota(db, key.id) == (QUOTA - 400, 400)
        await stalled.beat()  # finds its row gone
        assert stalled.id != old_id
        again = await ledger.hold(key, 1_000)
        assert again.node == stalled.id
        assert await _held(db, stalled.id) == QUOTA - 400 - (await _quota(db, key.id))[0]

    run(url, body)


def test_an_ambiguous_commit_is_applied_once(url: str) -> None:
    async def body(db: Database, key: KeyRecord) -> None:
        hold = await Ledger(db).reserve(key, 1_000)
        assert hold.lease is None
        writer = UsageWriter(db, 60)
        real = writer._write
        calls = 0

        async def answer_lost(batch: object) -> bool:
            nonlocal calls
            calls += 1
            applied = await real(batch)  # type: ignore[arg-type]
            if calls == 1:
                raise ConnectionResetError("the connection broke after COMMIT")
            return applied

        writer._write = answer_lost  # type: ignore[method-assign]
        event = UsageEvent(
            request_id="req-once",
            key_id=key.id,
            model="m",
            endpoint="chat.completions",
            status=200,
            cost=700,
            reserved=1_000,
            held_in_db=True,
        )
        writer.record(event)
        with pytest.raises(ConnectionResetError):
            await writer.flush()
        await writer.flush()  # the same batch, under its id: found, not applied again
        assert calls == 2
        await writer.stop()
        assert await _quota(db, key.id) == (QUOTA - 700, 700)
        async with db.engine.connect() as conn:
            records = (await conn.execute(select(usage_records))).all()
        assert [r.request_id for r in records] == ["req-once"]

    run(url, body)


def test_requests_that_find_their_node_fenced_at_once_rejoin_it_once(url: str) -> None:
    """Many requests in flight notice the fencing together: one new node id, one row, and
    each of their holds is taken under it (the second pair of a PostgreSQL audit run once
    raced to insert the same new id and answered 500)."""

    async def body(db: Database, key: KeyRecord) -> None:
        fenced = NodeRegistry(db, **FAST)
        await fenced.join()
        old_id = fenced.id
        ledger = Ledger(db, registry=fenced)
        fenced.on_fenced = ledger.forget
        await asyncio.sleep(0.4)
        other = NodeRegistry(db, **FAST)
        await other.join()
        await other.reap()
        holds = await asyncio.gather(*(ledger.reserve(key, 100) for _ in range(8)))
        assert fenced.id != old_id
        assert {hold.node for hold in holds} == {fenced.id}
        async with db.engine.connect() as conn:
            rows = (await conn.execute(select(nodes.c.id))).scalars().all()
        assert sorted(rows) == sorted([fenced.id, other.id])

    run(url, body)
