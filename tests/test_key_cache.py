"""The key cache re-reads a busy key in the background, never uses an entry older than its TTL
(a revoked key is refused within it), and caches nothing read before an invalidation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from omnirelay.errors import AuthenticationFailed
from omnirelay.keys import KeyCache, create_key
from omnirelay.store import Database, api_keys, open_database

TTL = 0.4


async def _rename(db: Database, key_id: int, name: str) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(name=name))


def test_a_busy_key_is_refreshed_in_the_background_and_revocation_holds(tmp_path: Path) -> None:
    async def main() -> None:
        db = await open_database(f"sqlite+aiosqlite:///{tmp_path}/k.db", migrate=True)
        try:
            raw, key_id = await create_key(db, name="first")
            cache = KeyCache(db, TTL)
            assert (await cache.authenticate(raw)).name == "first"
            await _rename(db, key_id, "second")
            await asyncio.sleep(TTL * 0.6)
            # Past half its TTL: answered from the entry, re-read behind the request.
            assert (await cache.authenticate(raw)).name == "first"
            await asyncio.sleep(0.1)
            assert (await cache.authenticate(raw)).name == "second"

            async with db.engine.begin() as conn:
                await conn.execute(
                    api_keys.update().where(api_keys.c.id == key_id).values(enabled=False)
                )
            # However busy the key, the revocation holds within the TTL.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + TTL + 0.1
            while True:
                try:
                    await cache.authenticate(raw)
                except AuthenticationFailed:
                    break
                assert loop.time() < deadline, "a revoked key was served past the TTL"
                await asyncio.sleep(0.01)
        finally:
            await db.close()

    asyncio.run(main())


def test_a_refresh_begun_before_an_invalidation_is_not_cached(tmp_path: Path) -> None:
    async def main() -> None:
        db = await open_database(f"sqlite+aiosqlite:///{tmp_path}/k.db", migrate=True)
        try:
            raw, key_id = await create_key(db, name="first")
            cache = KeyCache(db, 60)
            await cache.authenticate(raw)
            started = asyncio.Event()
            release = asyncio.Event()
            real_query = cache._query

            async def slow_query(digest: str) -> object:
                row = await real_query(digest)  # reads "first"
                started.set()
                await release.wait()
                return row

            cache._query = slow_query  # type: ignore[method-assign]
            cache._refresh(next(iter(cache._entries)))
            await started.wait()
            await _rename(db, key_id, "second")
            cache.invalidate()  # the change, announced while the old row is in flight
            release.set()
            cache._query = real_query  # type: ignore[method-assign]
            await asyncio.sleep(0.05)
            assert (await cache.authenticate(raw)).name == "second"
        finally:
            await db.close()

    asyncio.run(main())


@pytest.mark.parametrize("deleted", [True, False])
def test_a_key_deleted_or_disabled_is_refused_after_a_refresh(
    tmp_path: Path, deleted: bool
) -> None:
    async def main() -> None:
        db = await open_database(f"sqlite+aiosqlite:///{tmp_path}/k.db", migrate=True)
        try:
            raw, key_id = await create_key(db, name="first")
            cache = KeyCache(db, TTL)
            await cache.authenticate(raw)
            async with db.engine.begin() as conn:
                where = api_keys.c.id == key_id
                if deleted:
                    await conn.execute(api_keys.delete().where(where))
                else:
                    await conn.execute(api_keys.update().where(where).values(enabled=False))
            await asyncio.sleep(TTL * 0.6)
            await cache.authenticate(raw)  # still within its TTL: served, and re-read
            await asyncio.sleep(0.1)
            with pytest.raises(AuthenticationFailed):
                await cache.authenticate(raw)
        finally:
            await db.close()

    asyncio.run(main())


def test_a_key_used_lately_stays_fresh_while_idle_and_revocation_holds(tmp_path: Path) -> None:
    async def main() -> None:
        db = await open_database(f"sqlite+aiosqlite:///{tmp_path}/k.db", migrate=True)
        cache = KeyCache(db, TTL)
        cache.start()
        try:
            raw, key_id = await create_key(db, name="first")
            other, _ = await create_key(db, name="other")  # two keys: re-read in one batch
            await cache.authenticate(raw)
            await cache.authenticate(other)
            real_query = cache._query
            asked: list[str] = []

            async def counted(digest: str) -> object:
                asked.append(digest)
                return await real_query(digest)

            cache._query = counted  # type: ignore[method-assign]
            await asyncio.sleep(TTL * 2)  # no request meanwhile
            await cache.authenticate(raw)
            await cache.authenticate(other)
            assert asked == [], "the first request after a pause waited for the database"

            async with db.engine.begin() as conn:
                await conn.execute(
                    api_keys.update().where(api_keys.c.id == key_id).values(enabled=False)
                )
            await asyncio.sleep(TTL)  # idle again: the background read sees the revocation
            with pytest.raises(AuthenticationFailed):
                await cache.authenticate(raw)
            assert asked == []
        finally:
            await cache.stop()
            await db.close()

    asyncio.run(main())
