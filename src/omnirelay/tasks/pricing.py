"""Task prices as data: the ``[[task_prices]]`` tables of ``catalogue.toml``.

A task's price depends on more than its model (a 10-second "pro" video costs more than a
5-second "std" one), so each entry names a model, a product (``video`` or ``image``) and
optionally a ``mode`` and a ``duration``; the price is per unit, and a request for ``n``
units costs ``n`` times it. Which models a task endpoint accepts is whatever is priced here.

The entries seed the ``task_prices`` table (entries it lacks, like models); the table is
what is in force, and operators change it through the admin API.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from sqlalchemy import select

from omnirelay.money import usd_to_micro
from omnirelay.store import Database, task_prices


@dataclass(frozen=True, slots=True)
class PriceKey:
    model: str
    product: str
    mode: str = ""
    duration: str = ""


class TaskPrices:
    def __init__(self, prices: Mapping[PriceKey, int]) -> None:
        self._prices = dict(prices)

    @classmethod
    def from_entries(cls, entries: Iterable[Mapping[str, Any]]) -> TaskPrices:
        prices = {}
        for entry in entries:
            key = PriceKey(
                model=str(entry["model"]),
                product=str(entry["product"]),
                mode=str(entry.get("mode", "")),
                duration=str(entry.get("duration", "")),
            )
            prices[key] = usd_to_micro(entry["usd"])
        return cls(prices)

    @classmethod
    def builtin(cls) -> TaskPrices:
        return cls.from_entries(builtin_entries())

    def items(self) -> list[tuple[PriceKey, int]]:
        return sorted(self._prices.items(), key=lambda item: _order(item[0]))

    def for_model(self, model: str) -> list[tuple[PriceKey, int]]:
        return [(k, v) for k, v in self.items() if k.model == model]

    def models(self, product: str) -> list[str]:
        return sorted({k.model for k in self._prices if k.product == product})

    def price(self, key: PriceKey, n: int = 1) -> int | None:
        """Micro-dollars for ``n`` units, or None if this combination has no price."""
        unit = self._prices.get(key)
        if unit is None:
            # An entry without mode/duration prices every mode/duration of its model.
            unit = self._prices.get(PriceKey(key.model, key.product))
        return None if unit is None else unit * n


def _order(key: PriceKey) -> tuple[str, str, str, int, str]:
    digits = key.duration if key.duration.isdigit() else ""
    return (key.model, key.product, key.mode, int(digits or 0), key.duration)


def builtin_entries() -> list[Mapping[str, Any]]:
    text = resources.files("omnirelay").joinpath("catalogue.toml").read_text(encoding="utf-8")
    return list(tomllib.loads(text).get("task_prices", []))


async def seed_task_prices(db: Database, entries: Iterable[Mapping[str, Any]]) -> None:
    """Insert the built-in task prices the table lacks; prices an operator changed stay."""
    builtin = TaskPrices.from_entries(entries)
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        rows = await conn.execute(
            select(
                task_prices.c.model,
                task_prices.c.product,
                task_prices.c.mode,
                task_prices.c.duration,
            )
        )
        known = {PriceKey(*row) for row in rows}
        for key, price in builtin.items():
            if key not in known:
                await conn.execute(
                    task_prices.insert().values(
                        model=key.model,
                        product=key.product,
                        mode=key.mode,
                        duration=key.duration,
                        price=price,
                        created_at=now,
                    )
                )


async def load_task_prices(db: Database) -> TaskPrices:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(task_prices))).all()
    return TaskPrices(
        {PriceKey(r.model, r.product, r.mode, r.duration): int(r.price) for r in rows}
    )
