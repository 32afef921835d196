"""What every node re-reads on a timer (the catalogue, the channels, the task prices), since
another node or an operator may have changed them.

The reload runs every ``cache_ttl_seconds`` in every serving process, on the event loop that
serves requests, so it is kept small: one connection for the three reads, and nothing rebuilt
from rows equal to the last ones read (rebuilding the catalogue and the channels, and swapping
the router's lists, was most of its CPU; a request arriving meanwhile waited for it). The rows
are compared whole, every column, so any change made by anyone is seen on the next read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from omnirelay.catalogue import ModelInfo, catalogue_of
from omnirelay.channels import Channel, channel_of
from omnirelay.crypto import SecretBox
from omnirelay.store import Database, channels, models, task_prices
from omnirelay.tasks.pricing import PriceKey, TaskPrices

_MODELS = select(models).order_by(models.c.name)
_CHANNELS = select(channels).where(channels.c.enabled).order_by(channels.c.id)
_TASK_PRICES = select(task_prices).order_by(task_prices.c.id)


@dataclass(frozen=True, slots=True)
class Reloaded:
    """What changed since the last read; None: the same as then."""

    catalogue: dict[str, ModelInfo] | None = None
    channels: list[Channel] | None = None
    task_prices: TaskPrices | None = None


class ConfigReader:
    """Reads the three tables and builds only what differs from the previous read."""

    def __init__(
        self, db: Database, box: SecretBox, families: Mapping[str, frozenset[str]]
    ) -> None:
        self._db = db
        self._box = box
        self._families = families
        self._models: Sequence[Any] | None = None
        self._channels: Sequence[Any] | None = None
        self._prices: Sequence[Any] | None = None
        self._catalogue: dict[str, ModelInfo] = {}

    async def read(self) -> Reloaded:
        async with self._db.engine.connect() as conn:
            model_rows = (await conn.execute(_MODELS)).all()
            channel_rows = (await conn.execute(_CHANNELS)).all()
            price_rows = (await conn.execute(_TASK_PRICES)).all()
        catalogue = found_channels = prices = None
        known = self._catalogue
        if model_rows != self._models:
            catalogue = known = catalogue_of(row._mapping for row in model_rows)
        # A channel listing no models serves its vendor's models in the catalogue.
        if catalogue is not None or channel_rows != self._channels:
            found_channels = [
                channel_of(row, self._box, known, self._families) for row in channel_rows
            ]
        if price_rows != self._prices:
            prices = TaskPrices(
                {PriceKey(r.model, r.product, r.mode, r.duration): int(r.price) for r in price_rows}
            )
        # Only once all of it is built: a read that failed half-way is repeated whole.
        self._models, self._channels, self._prices = model_rows, channel_rows, price_rows
        self._catalogue = known
        return Reloaded(catalogue, found_channels, prices)

    def forget(self) -> None:
        """The next read rebuilds everything."""
        self._models = self._channels = self._prices = None
