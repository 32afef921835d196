"""Task prices as data: the ``[[task_prices]]`` tables of ``catalogue.toml``.

A task's price depends on more than its model (a 10-second "pro" video costs more than a
5-second "std" one), so each entry names a model, a product (``video`` or ``image``) and
optionally a ``mode`` and a ``duration``; the price is per unit, and a request for ``n``
units costs ``n`` times it. Which models a task endpoint accepts is whatever is priced here.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from omnirelay.money import usd_to_micro


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
        text = resources.files("omnirelay").joinpath("catalogue.toml").read_text(encoding="utf-8")
        return cls.from_entries(tomllib.loads(text).get("task_prices", []))

    def models(self, product: str) -> list[str]:
        return sorted({k.model for k in self._prices if k.product == product})

    def price(self, key: PriceKey, n: int = 1) -> int | None:
        """Micro-dollars for ``n`` units, or None if this combination has no price."""
        unit = self._prices.get(key)
        if unit is None:
            # An entry without mode/duration prices every mode/duration of its model.
            unit = self._prices.get(PriceKey(key.model, key.product))
        return None if unit is None else unit * n
