"""Prices and quota: estimate, hold before the upstream call, settle after it.

Every hold is money already taken from the key's balance in the database by a conditional
UPDATE, so the database stays the only truth and a key can overspend at most by what its
in-flight requests cost beyond their estimates, whatever the number of workers or nodes.

To keep that UPDATE off the response path, a process takes quota in *leases*: one UPDATE moves
a slice of a key's balance into the process (``LEASE_REQUESTS`` estimates at first, growing to
about two seconds of the key's spending there), and requests hold from the lease in memory. A
settled request gives the lease back its hold less its cost, so the lease shrinks by exactly
what was spent; a lease running low is extended in the background before it runs out. Leases
are taken only while the key's balance is at least ``LEASE_FLOOR`` times the lease; below
that (a nearly spent key) every request reserves its own estimate in the database, as if
there were no leases. A lease unused for one usage-flush interval goes back to the database
with that flush (``Ledger.returns``), and all of them go back at shutdown. The price: the
database shows a key's balance less what processes hold (so a nearly spent key may be refused
while another process still holds a slice of it, until that slice goes back), and a process
that dies holding a lease loses its slice. Settling and returns go through the batched usage
writer, off the response path.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import update

from omnirelay.catalogue import ModelInfo
from omnirelay.errors import QuotaExceeded
from omnirelay.keys import KeyRecord
from omnirelay.money import micro_to_usd, per_million
from omnirelay.store import Database, api_keys

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Usage:
    """What a request consumed, in the units the catalogue prices.

    ``prompt_tokens`` counts every input token; the cache counts are parts of it (read from a
    cache, written to a 5-minute or a 1-hour one), priced at the model's cache prices.
    ``reasoning_tokens`` are part of ``completion_tokens`` and priced as output, as every
    vendor bills them; the record keeps them apart.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    images: int = 0
    seconds: float = 0.0
    characters: int = 0
    requests: int = 1
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def units(self) -> int:
        """One number for the usage record's ``units`` column (non-token usage)."""
        return self.images or math.ceil(self.seconds) or self.characters


def _token_cost(model: ModelInfo, usage: Usage) -> int:
    """Tokens at their prices, summed exactly and rounded up once, as a vendor's bill adds
    them. A cache price of zero means the model prices that part as fresh input."""
    fresh_price = model.input_per_mtok
    read = usage.cache_read_tokens
    write = usage.cache_write_tokens
    write_1h = usage.cache_write_1h_tokens
    fresh = max(usage.prompt_tokens - read - write - write_1h, 0)
    write_price = model.cache_write_per_mtok or fresh_price
    total = (
        fresh * fresh_price
        + read * (model.cache_read_per_mtok or fresh_price)
        + write * write_price
        + write_1h * (model.cache_write_1h_per_mtok or write_price)
        + usage.completion_tokens * model.output_per_mtok
    )
    return per_million(total, 1) if total > 0 else 0


def cost_of(model: ModelInfo, usage: Usage) -> int:
    """The price of ``usage`` on ``model`` in micro-dollars: tokens rounded up together,
    other units rounded up each."""
    return (
        _token_cost(model, usage)
        + per_million(usage.characters, model.per_mchar)
        + usage.images * model.per_image
        + math.ceil(usage.seconds * model.per_second)
        + usage.requests * model.per_request
    )


# A first lease is this many estimates of the request that asked for it. A lease extended
# again within LEASE_GROWTH_SECONDS doubles, one that lasted LEASE_SHRINK_SECONDS halves: a
# lease holds about one to two seconds of what the key spends in this process.
LEASE_REQUESTS = 64
LEASE_GROWTH_SECONDS = 1.0
LEASE_SHRINK_SECONDS = 10.0
# A lease is taken only while the key's balance is at least this many times its size.
LEASE_FLOOR = 16


class Lease:
    """Quota this process took from one key's balance in the database, held in memory."""

    __slots__ = (
        "available",
        "extended_at",
        "in_flight",
        "key_id",
        "lock",
        "refilling",
        "size",
        "used",
    )

    def __init__(self, key_id: int) -> None:
        self.key_id = key_id
        self.available = 0
        self.size = 0  # of the last extension
        self.extended_at = -math.inf
        self.in_flight = 0
        self.used = False  # a hold was taken since the last ``Ledger.returns``
        self.refilling = False
        self.lock = asyncio.Lock()  # one extension at a time

    def take(self, amount: int) -> bool:
        if self.available < amount or self.available <= 0:
            return False
        self.available -= amount
        self.in_flight += 1
        self.used = True
        return True

    def settle(self, held: int, cost: int) -> None:
        """A request that held ``held`` from this lease finished, costing ``cost``."""
        self.available += held - cost
        self.in_flight -= 1

    @property
    def low(self) -> bool:
        return self.available * 4 < self.size


@dataclass(slots=True)
class Hold:
    """Quota held for one request: from a lease, or (``lease`` None) reserved in the database."""

    amount: int
    lease: Lease | None = None


class Ledger:
    """Holds quota for requests. Unlimited keys hold nothing and touch no row."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._clock = clock
        self._leases: dict[int, Lease] = {}
        self._refills: set[asyncio.Task[None]] = set()

    async def hold(self, key: KeyRecord, amount: int) -> Hold:
        """Hold ``amount`` for a request, from this process's lease when it can."""
        if not key.limited:
            return Hold(0)
        amount = max(amount, 0)
        lease = self._leases.get(key.id)
        if lease is None:
            lease = self._leases[key.id] = Lease(key.id)
        if lease.take(amount):
            if lease.low and not lease.refilling:
                self._refill_soon(lease, amount)
            return Hold(amount, lease)
        async with lease.lock:
            # Another request may have extended the lease while this one waited, or a flush may
            # have returned it (then it is detached: extending it would strand the slice).
            attached = self._leases.get(key.id) is lease
            if attached and (
                lease.take(amount) or (await self._extend(lease, amount) and lease.take(amount))
            ):
                return Hold(amount, lease)
        return Hold(await self.reserve(key, amount))

    def _refill_soon(self, lease: Lease, amount: int) -> None:
        """Extend a lease running low in the background, so no request waits for the database."""

        async def refill() -> None:
            try:
                async with lease.lock:
                    if lease.low and self._leases.get(lease.key_id) is lease:
                        await self._extend(lease, amount)
            except Exception:
                log.exception("extending the quota lease of key %s failed", lease.key_id)
            finally:
                lease.refilling = False

        lease.refilling = True
        task = asyncio.create_task(refill(), name=f"lease-{lease.key_id}")
        self._refills.add(task)
        task.add_done_callback(self._refills.discard)

    async def _extend(self, lease: Lease, amount: int) -> bool:
        base = max(amount, 1) * LEASE_REQUESTS
        now = self._clock()
        size = lease.size
        if now - lease.extended_at < LEASE_GROWTH_SECONDS:
            size *= 2
        elif now - lease.extended_at > LEASE_SHRINK_SECONDS:
            size //= 2
        for attempt in dict.fromkeys((max(size, base), base)):  # then the smallest lease
            statement = (
                update(api_keys)
                .where(
                    api_keys.c.id == lease.key_id,
                    api_keys.c.quota_remaining >= attempt * LEASE_FLOOR,
                )
                .values(quota_remaining=api_keys.c.quota_remaining - attempt)
            )
            async with self._db.engine.begin() as conn:
                result = await conn.execute(statement)
            if result.rowcount == 1:
                lease.available += attempt
                lease.size = attempt
                lease.extended_at = now
                return True
        return False

    async def close(self) -> None:
        """Wait for lease extensions in flight (then ``returns(everything=True)`` is complete)."""
        if self._refills:
            await asyncio.gather(*self._refills, return_exceptions=True)

    def returns(self, everything: bool = False) -> dict[int, int]:
        """Take back what idle leases hold (all leases if ``everything``): key id → amount.

        The caller owes these amounts to the keys' balances in the database. A lease is idle
        when no request holds from it and none took a hold since the previous call.
        """
        owed: dict[int, int] = {}
        for key_id, lease in list(self._leases.items()):
            idle = not lease.used and lease.in_flight == 0 and not lease.lock.locked()
            if everything or idle:
                if lease.available:
                    owed[key_id] = lease.available
                    lease.available = 0
                if idle:
                    del self._leases[key_id]
            lease.used = False
        return owed

    async def reserve(self, key: KeyRecord, amount: int) -> int:
        """Take ``amount`` from the key's balance in the database or raise ``QuotaExceeded``."""
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
