"""Migration 0007 on a database with data in it (SQLite and PostgreSQL): every key becomes the
key of a user of its own, balances move to the users, nothing is lost or counted twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, select, text

from omnirelay.config import normalize_database_url
from omnirelay.keys import KeyCache, hash_key
from omnirelay.store import (
    api_keys,
    balance_entries,
    open_database,
    tasks,
    usage_hourly,
    usage_records,
    users,
)
from omnirelay.store.db import _alembic_config
from omnirelay.tasks.model import Task, TaskStatus
from omnirelay.tasks.store import Outcome, TaskStore
from tests.conftest import BACKENDS

NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


def _to(revision: str) -> Any:
    def upgrade(connection: Connection) -> None:
        command.upgrade(_alembic_config(connection), revision)

    return upgrade


def _old_data(connection: Connection) -> None:
    keys = [
        (1, "admin", "h-admin", None, 0, True),
        (2, "alice", hash_key("sk-or-alice"), 4_000_000, 1_000_000, False),
        (3, "alice", "h-alice-2", 250, 9, False),  # same name: the users must differ
        (4, "free", "h-free", None, 77, False),
    ]
    for key_id, name, digest, quota, spent, admin in keys:
        connection.execute(
            text(
                "INSERT INTO api_keys (id, name, key_hash, key_prefix, quota_remaining, spent, "
                "is_admin, enabled, created_at) VALUES (:id, :name, :hash, 'sk-or-xxxx', :quota, "
                ":spent, :admin, :enabled, :created)"
            ),
            {
                "id": key_id,
                "name": name,
                "hash": digest,
                "quota": quota,
                "spent": spent,
                "admin": admin,
                "enabled": True,
                "created": NOW,
            },
        )
    for i, (key_id, model, cost, status, latency) in enumerate(
        [(2, "gpt-4o", 600_000, 200, 120), (2, "gpt-4o", 400_000, 200, 800), (3, "m", 9, 502, 30)]
    ):
        connection.execute(
            text(
                "INSERT INTO usage_records (request_id, key_id, model, channel_id, endpoint, "
                "prompt_tokens, completion_tokens, units, cost, latency_ms, status, stream, "
                "created_at) VALUES (:rid, :key, :model, 1, 'chat.completions', 10, 5, 0, :cost, "
                ":latency, :status, :stream, :created)"
            ),
            {
                "rid": f"req_{i}",
                "key": key_id,
                "model": model,
                "cost": cost,
                "latency": latency,
                "status": status,
                "stream": False,
                "created": NOW,
            },
        )
    for task_id, settlement in (("open-task", None), ("done-task", "charged")):
        connection.execute(
            text(
                "INSERT INTO tasks (id, key_id, vendor, action, model, request, status, progress, "
                "price, reserved, charged, settlement, created_ms, updated_ms, next_poll_ms, "
                "attempts) VALUES (:id, 2, 'kling', 'kling.text2video', 'kling-v1', '{}', "
                ":status, 0, 140000, 140000, :charged, :settlement, 1, 1, 1, 0)"
            ),
            {
                "id": task_id,
                "status": "queued" if settlement is None else "succeeded",
                "charged": None if settlement is None else 140000,
                "settlement": settlement,
            },
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_existing_keys_become_users_with_their_balances(
    backend: str, new_database_url: Any
) -> None:
    url = normalize_database_url(str(new_database_url(backend)))

    async def main() -> None:
        db = await open_database(url, migrate=False)
        try:
            async with db.engine.begin() as conn:
                await conn.run_sync(_to("0002"))
                await conn.run_sync(_old_data)
            async with db.engine.begin() as conn:
                await conn.run_sync(_to("head"))
            await _check(db)
        finally:
            await db.close()

    asyncio.run(main())


async def _check(db: Any) -> None:
    async with db.engine.connect() as conn:
        keys = {r.id: r for r in (await conn.execute(select(api_keys))).all()}
        people = {r.id: r for r in (await conn.execute(select(users))).all()}
        entries = (await conn.execute(select(balance_entries))).all()
        records = (await conn.execute(select(usage_records))).all()
        rolled = (await conn.execute(select(usage_hourly))).all()
        open_task = (await conn.execute(select(tasks).where(tasks.c.id == "open-task"))).one()
    assert keys[1].user_id is None  # the admin key belongs to no user
    owners = {key_id: people[keys[key_id].user_id] for key_id in (2, 3, 4)}
    assert len({o.id for o in owners.values()}) == 3
    assert {o.name for o in owners.values()} == {"alice", "alice-2", "free"}
    assert [(owners[k].balance, owners[k].spent) for k in (2, 3, 4)] == [
        (4_000_000, 1_000_000),
        (250, 9),
        (None, 77),
    ]
    assert all(keys[k].quota_remaining is None for k in (2, 3, 4))  # moved, not copied
    assert sorted((e.user_id, e.delta, e.kind) for e in entries) == sorted(
        [(owners[2].id, 4_000_000, "migration"), (owners[3].id, 250, "migration")]
    )
    assert {r.key_id: r.user_id for r in records} == {2: owners[2].id, 3: owners[3].id}
    assert sum(r.requests for r in rolled) == 3 and sum(r.cost for r in rolled) == 1_000_009
    assert sum(r.errors for r in rolled) == 1
    assert all(r.hour == int(NOW.timestamp()) // 3600 * 3600 for r in rolled)
    # The open task's held price is refunded to where the money now is: the user.
    assert open_task.user_id == owners[2].id and open_task.user_held
    store = TaskStore(db)
    task = Task.from_row(open_task)
    assert await store.finish(task, Outcome(TaskStatus.FAILED, charge=0, http_status=500))
    async with db.engine.connect() as conn:
        balance = await conn.scalar(select(users.c.balance).where(users.c.id == owners[2].id))
    assert balance == 4_140_000
    record = await KeyCache(db, 5).authenticate("sk-or-alice")
    assert record.user_id == owners[2].id and record.user_limited and not record.limited
