"""Prices and quota: estimate, reserve before the upstream call, settle after it.

A request reserves its estimated cost with one conditional UPDATE, so the balance in the
database is the only truth and a key can overspend at most by what its in-flight requests
cost beyond their estimates, whatever the number of workers or nodes. Settling (refunding the
difference between reserve and real cost) goes through the batched usage writer, off the
response path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import update

from omnirelay.catalogue import ModelInfo
from omnirelay.errors import QuotaExceeded
from omnirelay.keys import KeyRecord
from omnirelay.money import micro_to_usd, per_million
from omnirelay.store import Database, api_keys


@dataclass(slots=True)
class Usage:
    """What a request consumed, in the units the catalogue prices."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    images: int = 0
    seconds: float = 0.0
    characters: int = 0
    requests: int = 1

    @property
    def units(self) -> int:
        """One number for the usage record's ``units`` column (non-token usage)."""
        return self.images or math.ceil(self.seconds) or self.characters


def cost_of(model: ModelInfo, usage: Usage) -> int:
    """The price of ``usage`` on ``model`` in micro-dollars, rounded up per component."""
    return (
        per_million(usage.prompt_tokens, model.input_per_mtok)
        + per_million(usage.completion_tokens, model.output_per_mtok)
        + per_million(usage.characters, model.per_mchar)
        + usage.images * model.per_image
        + math.ceil(usage.seconds * model.per_second)
        + usage.requests * model.per_request
    )


class Ledger:
    """Reserves quota in the database. Unlimited keys reserve nothing and touch no row."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def reserve(self, key: KeyRecord, amount: int) -> int:
        """Take ``amount`` from the key's balance or raise ``QuotaExceeded``; returns the hold."""
        if not key.limited:
            return 0
        amount = max(amount, 0)
        statement = (
            update(api_keys)
            .where(api_keys.c.id == key.id, api_keys.c.quota_remaining >= amount)
            .values(quota_remaining=api_keys.c.quota_remaining - amount)
        )
        if amount == 0:
            statement = (
                update(api_keys)
                .where(api_keys.c.id == key.id, api_keys.c.quota_remaining > 0)
                .values(quota_remaining=api_keys.c.quota_remaining)
            )
        async with self._db.engine.begin() as conn:
            result = await conn.execute(statement)
        if result.rowcount != 1:
            raise QuotaExceeded(
                "this API key's quota is exhausted or too low for this request "
                f"(estimated cost ${micro_to_usd(amount)}); add quota to continue"
            )
        return amount
