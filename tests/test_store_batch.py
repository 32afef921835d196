"""The batched UPDATE (``store/batch.py``) against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Integer, String, select, update

from omnirelay.config import normalize_database_url
from omnirelay.keys import create_key
from omnirelay.store import api_keys, open_database
from omnirelay.store.batch import BatchUpdate
from tests.conftest import BACKENDS

RENAME = BatchUpdate(
    [("id", Integer()), ("name", String())],
    lambda v: update(api_keys).where(api_keys.c.id == v.c.id).values(name=v.c.name),
)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, new_database_url: Any) -> str:
    return normalize_database_url(str(new_database_url(request.param)))


def test_a_batch_first_in_a_transaction_is_rolled_back_with_it(url: str) -> None:
    """Each row gets its own values; and as the first statement of a transaction the batch is
    part of it. (A ``WITH … UPDATE`` opened no transaction in Python's sqlite3 module and
    committed at once, whatever came after it.)"""

    async def names(db: Any) -> list[str]:
        async with db.engine.connect() as conn:
            return list((await conn.execute(select(api_keys.c.name).order_by(api_keys.c.id))).scalars())

    async def main() -> None:
        db = await open_database(url, migrate=True)
        try:
            ids = [(await create_key(db, name=f"k{i}"))[1] for i in range(3)]
            with pytest.raises(RuntimeError):
                async with db.engine.begin() as conn:
                    statement, params = RENAME([(ids[0], "first"), (ids[2], "third")])
                    await conn.execute(statement, params)
                    raise RuntimeError("what comes after it failed")
            assert await names(db) == ["k0", "k1", "k2"]
            async with db.engine.begin() as conn:
                statement, params = RENAME([(ids[0], "first"), (ids[2], "third")])
                await conn.execute(statement, params)
            assert await names(db) == ["first", "k1", "third"]
        finally:
            await db.close()

    asyncio.run(main())
