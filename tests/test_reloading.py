"""The periodic reload: unchanged tables are not rebuilt, any change to a row is seen, and a
channel secret is decrypted once per ciphertext."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cryptography.fernet import Fernet

from omnirelay.catalogue import ModelSpec, seed_models
from omnirelay.channels import upsert_channels
from omnirelay.config import ChannelSpec, normalize_database_url
from omnirelay.crypto import SecretBox
from omnirelay.reloading import ConfigReader
from omnirelay.store import channels, models, open_database, task_prices
from omnirelay.tasks.pricing import builtin_entries, seed_task_prices
from tests.conftest import BACKENDS

FAMILIES = {"openai": frozenset({"openai"})}


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, new_database_url: Any) -> str:
    return normalize_database_url(new_database_url(request.param))


class CountingBox(SecretBox):
    def __init__(self) -> None:
        super().__init__(Fernet.generate_key())
        self.opened = 0

    def decrypt(self, token: str) -> str:
        self.opened += 1 if token not in self._opened else 0
        return super().decrypt(token)


def spec(name: str, secret: str, models: tuple[str, ...] = ()) -> ChannelSpec:
    return ChannelSpec(
        name=name, vendor="openai", base_url="http://127.0.0.1:9/v1", secret=secret, models=models
    )


def test_only_what_changed_is_rebuilt_and_every_change_is_seen(url: str) -> None:
    async def main() -> None:
        db = await open_database(url, migrate=True)
        try:
            box = CountingBox()
            await seed_models(
                db, [ModelSpec(name="m-1", kind="chat", family="openai", prices={})], []
            )
            await seed_task_prices(db, builtin_entries())
            await upsert_channels(db, box, [spec("a", "sk-a"), spec("b", "sk-b", ("m-1",))])
            reader = ConfigReader(db, box, FAMILIES)

            first = await reader.read()
            assert first.catalogue is not None and "m-1" in first.catalogue
            assert first.channels is not None and first.task_prices is not None
            by_name = {c.name: c for c in first.channels}
            assert by_name["a"].models == {"m-1"}  # no list: every model of its family
            assert by_name["a"].secret == "sk-a"
            assert box.opened == 2

            again = await reader.read()
            assert again.catalogue is None and again.channels is None
            assert again.task_prices is None

            # A new model: the catalogue, and the channels serving the whole family.
            await seed_models(
                db, [ModelSpec(name="m-2", kind="chat", family="openai", prices={})], []
            )
            grown = await reader.read()
            assert grown.catalogue is not None and "m-2" in grown.catalogue
            assert grown.channels is not None
            assert {c.name: c for c in grown.channels}["a"].models == {"m-1", "m-2"}
            assert grown.task_prices is None
            assert box.opened == 2  # the same ciphertexts: not decrypted again

            # Any column of a channel, written by anyone.
            async with db.engine.begin() as conn:
                await conn.execute(
                    channels.update().where(channels.c.name == "b").values(priority=7)
                )
            moved = await reader.read()
            assert moved.catalogue is None and moved.channels is not None
            assert {c.name: c for c in moved.channels}["b"].priority == 7

            await upsert_channels(db, box, [spec("b", "sk-b2", ("m-1",))])  # a new secret
            rotated = await reader.read()
            assert rotated.channels is not None
            assert {c.name: c for c in rotated.channels}["b"].secret == "sk-b2"

            async with db.engine.begin() as conn:
                await conn.execute(channels.update().values(enabled=False))
                await conn.execute(task_prices.update().values(price=task_prices.c.price + 1))
                await conn.execute(models.delete().where(models.c.name == "m-2"))
            emptied = await reader.read()
            assert emptied.channels == []
            assert emptied.task_prices is not None
            assert emptied.catalogue is not None and "m-2" not in emptied.catalogue
        finally:
            await db.close()

    asyncio.run(main())
