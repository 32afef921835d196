"""Prices and quota: estimate, hold before the upstream call, settle after it.

Money is held on an *account*: a user's balance, a key's own quota (a cap some keys carry), or
both at once for a capped key of a user with a balance; unlimited keys of unlimited users (and
admin keys) hold nothing and touch no row. Every hold is money already taken from the
account's rows in the database by conditional UPDATEs in one transaction, so the database
stays the only truth and an account can overspend at most by what its in-flight requests
cost beyond their estimates, whatever the number of workers or nodes.

To keep those UPDATEs off the response path, a process takes quota in *leases*: one transaction
moves a slice of an account into the process (``LEASE_REQUESTS`` estimates at first, growing to
about ``LEASE_TARGET_SECONDS`` of the account's spending there), and requests hold from the
lease in memory; all keys of a user without caps of their own share the user's lease. A settled
request gives the lease back its hold less its cost, so the lease shrinks by exactly what was
spent; a lease running low is extended in the background before it runs out. Leases are taken
only while the account has at least ``LEASE_FLOOR`` times the lease; below that (a nearly spent
account) every request reserves its own estimate in the database, as if there were no leases. A
lease unused for ``LEASE_IDLE_SECONDS`` goes back to the database with the next usage flush
(``Ledger.returns``), and all of them go back at shutdown: a key that pauses between requests,
as people and agents do, finds its lease still there and waits for no database on its next
request. The price: the database shows a balance less what processes hold (so a nearly spent
user may be refused while another process still holds a slice of it, until that slice goes
back). Settling and returns go through the batched usage writer, off the response path.

Every lease extension and every reservation is also counted, in its own transaction, in what
this process (its *node*, ``nodes.py``) holds of the account; settling and returning take it
off again. A process killed outright (SIGKILL) therefore loses nothing for good: once its
heartbeat has stopped, another process gives back what it held (the unspent part of its
leases and the reservations of its requests in flight; what they cost goes with the usage
records the dead process never wrote, so nobody is charged for them).

A group's price ratio multiplies every price (``apply_ratio``), the estimate held as well as
the cost charged, rounded up like every other component.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Update, bindparam, update

from omnirelay.catalogue import ModelInfo
from omnirelay.errors import QuotaExceeded
from omnirelay.keys import KeyRecord
from omnirelay.money import MICRO, micro_to_usd, per_million
from omnirelay.nodes import Fenced, NodeRegistry, hold_in_node
from omnirelay.store import Database, api_keys, users

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


def apply_ratio(cost: int, ratio_ppm: int) -> int:
    """``cost`` times a group's price ratio (parts per million), rounded up."""
    if ratio_ppm == MICRO or cost <= 0:
        return cost
    return -(-cost * ratio_ppm // MICRO)


@dataclass(frozen=True, slots=True)
class Account:
    """Where a hold comes from: a key's own quota, its user's balance, or both (ids or None)."""

    key_id: int | None
    user_id: int | None

    @classmethod
    def of(cls, key: KeyRecord) -> Account | None:
        key_side = key.id if key.limited else None
        user_side = key.user_id if key.user_limited else None
        if key_side is None and user_side is None:
            return None
        return cls(key_side, user_side)

    def __str__(self) -> str:
        return f"key {self.key_id}" if self.key_id is not None else f"user {self.user_id}"


class _Short(Exception):
    """One side of an account lacked the money: roll the transaction back."""


def _debits(account: Account, amount: int, minimum: int) -> Iterator[Update]:
    """Take ``amount`` from each side of ``account`` that holds at least ``minimum``."""
    if account.key_id is not None:
        yield (
            update(api_keys)
            .where(api_keys.c.id == account.key_id, api_keys.c.quota_remaining >= minimum)
            .values(quota_remaining=api_keys.c.quota_remaining - amount)
        )
    if account.user_id is not None:
        yield (
            update(users)
            .where(users.c.id == account.user_id, users.c.balance >= minimum)
            .values(balance=users.c.balance - amount)
        )


def credit_statements(account: Account, amount: int) -> Iterator[Update]:
    """The UPDATEs that give ``amount`` back to each side of ``account`` (undoing a debit's
    first side when its second refused, inside the same transaction)."""
    if account.key_id is not None:
        yield (
            update(api_keys)
            .where(api_keys.c.id == account.key_id)
            .values(quota_remaining=api_keys.c.quota_remaining + amount)
        )
    if account.user_id is not None:
        yield (
            update(users)
            .where(users.c.id == account.user_id)
            .values(balance=users.c.balance + amount)
        )


def quota_exceeded(account: Account, amount: int) -> QuotaExceeded:
    whose = "API key's quota" if account.key_id is not None else "account's balance"
    if account.key_id is not None and account.user_id is not None:
        whose = "API key's quota or its account's balance"
    return QuotaExceeded(
        f"this {whose} is exhausted or too low for this request "
        f"(estimated cost ${micro_to_usd(amount)}); add quota to continue"
    )


def debit_statements(account: Account, amount: int, minimum: int | None = None) -> Iterator[Update]:
    """The conditional UPDATEs that take ``amount`` (each must change one row, or roll back)
    from sides holding at least ``minimum`` (by default the amount, and at least 1)."""
    return _debits(account, amount, max(amount, 1) if minimum is None else minimum)


# ``_debits`` as statements built once (bound parameters): ``debit`` runs at every lease
# extension, and building the UPDATEs and their cache keys cost more than running them.
_DEBIT_KEY = (
    update(api_keys)
    .where(
        api_keys.c.id == bindparam("debit_id"),
        api_keys.c.quota_remaining >= bindparam("debit_minimum"),
    )
    .values(quota_remaining=api_keys.c.quota_remaining - bindparam("debit_amount"))
)
_DEBIT_USER = (
    update(users)
    .where(users.c.id == bindparam("debit_id"), users.c.balance >= bindparam("debit_minimum"))
    .values(balance=users.c.balance - bindparam("debit_amount"))
)


async def debit(
    db: Database, account: Account, amount: int, minimum: int, node: str | None = None
) -> bool:
    """Take ``amount`` from every side of ``account`` in one transaction, or from none; held
    by ``node`` (``nodes.py``) if given, which raises ``Fenced`` if that node was reaped."""
    try:
        async with db.engine.begin() as conn:
            # The node's hold first: every transaction locks nodes, node_holds, api_keys, users
            # in that order (a flush releases holds before it settles keys), or they deadlock.
            if node is not None:
                await hold_in_node(
                    conn, db, node, account.key_id or 0, account.user_id or 0, amount
                )
            values = {"debit_amount": amount, "debit_minimum": minimum}
            for statement, side in ((_DEBIT_KEY, account.key_id), (_DEBIT_USER, account.user_id)):
                if side is not None:
                    found = await conn.execute(statement, {**values, "debit_id": side})
                    if found.rowcount != 1:
                        raise _Short
    except _Short:
        return False
    return True


# A first lease is this many estimates of the request that asked for it. A lease extended
# again within LEASE_GROWTH_SECONDS grows to LEASE_TARGET_SECONDS of what the key spent in
# this process since the last extension (at least doubling, at most LEASE_MAX_GROWTH times a
# step); one that lasted LEASE_SHRINK_SECONDS halves. Doubling alone took a key starting a
# burst of thousands of requests a second five extensions to catch up, and on SQLite each
# can wait ~100 ms for the write lock while the lease runs dry under the requests.
LEASE_REQUESTS = 64
LEASE_GROWTH_SECONDS = 1.0
LEASE_SHRINK_SECONDS = 10.0
LEASE_TARGET_SECONDS = 2.0
LEASE_MAX_GROWTH = 16
# A lease is taken only while the key's balance is at least this many times its size.
LEASE_FLOOR = 16
# A lease nobody held from for this long goes back with the next usage flush. Short enough
# that another process's idle slice of a balance comes back soon; long enough that a pause
# between requests (a reader, an agent thinking, a benchmark between runs) does not cost the
# next request a synchronous lease, which waits behind the usage writer's settlement of the
# same account row.
LEASE_IDLE_SECONDS = 10.0


class Lease:
    """Quota this process took from one account in the database, held in memory."""

    __slots__ = (
        "account",
        "available",
        "extended_at",
        "idle_since",
        "in_flight",
        "lock",
        "node",
        "refilling",
        "size",
        "topped",
        "used",
    )

    def __init__(self, account: Account, node: str | None = None) -> None:
        self.account = account
        self.node = node  # the node whose holds count it (None: untracked)
        self.available = 0
        self.size = 0  # of the last extension
        self.topped = 0  # ``available`` right after it
        self.extended_at = -math.inf
        self.in_flight = 0
        self.used = False  # held from or settled since the last ``Ledger.returns``
        self.idle_since = -math.inf  # when ``Ledger.returns`` last saw it used
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
        self.used = True  # idle counts from the last request's end, not from its start

    @property
    def low(self) -> bool:
        # Half the last extension left: the background extension has that long to land. On
        # SQLite it can wait in the busy handler while another worker's usage writer holds
        # the write lock; a lease run dry meanwhile makes every request wait for it.
        return self.available * 2 < self.size


@dataclass(slots=True)
class Hold:
    """Quota held for one request: from a lease, or (``lease`` None) reserved in the database
    on ``account`` (None: nothing held)."""

    amount: int
    lease: Lease | None = None
    account: Account | None = None
    node: str | None = None  # the node whose holds count it (None: untracked)


# What leases give back: (account, the node whose holds counted it) → amount.
Returned = dict[tuple[Account, str | None], int]


class Ledger:
    """Holds quota for requests. Unlimited accounts hold nothing and touch no row.

    With a ``registry`` every lease and reservation is counted in this node's holds, so a
    crash loses nothing for good (``nodes.py``)."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], float] = time.monotonic,
        registry: NodeRegistry | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._registry = registry
        self._leases: dict[Account, Lease] = {}
        self._refills: set[asyncio.Task[None]] = set()

    def _node(self) -> str | None:
        return self._registry.id if self._registry is not None else None

    @property
    def node_id(self) -> str | None:
        """This process's node (tasks record who submitted them), if nodes are tracked."""
        return self._node()

    def forget(self) -> None:
        """This node was fenced: its leases' money was given back by another node."""
        for lease in self._leases.values():
            lease.available = 0
        self._leases.clear()

    async def _fenced(self, node_id: str) -> None:
        if self._registry is not None:
            await self._registry.rejoin(node_id)

    async def hold(self, key: KeyRecord, amount: int) -> Hold:
        """Hold ``amount`` for a request, from this process's lease when it can."""
        account = Account.of(key)
        if account is None:
            return Hold(0)
        amount = max(amount, 0)
        lease = self._leases.get(account)
        if lease is None:
            lease = self._leases[account] = Lease(account, self._node())
        if lease.take(amount):
            if lease.low and not lease.refilling:
                self._refill_soon(lease, amount)
            return Hold(amount, lease, account, lease.node)
        try:
            async with lease.lock:
                # Another request may have extended the lease while this one waited, or a
                # flush may have returned it (then it is detached: extending it would strand
                # the slice).
                attached = self._leases.get(account) is lease
                if attached and (
                    lease.take(amount) or (await self._extend(lease, amount) and lease.take(amount))
                ):
                    return Hold(amount, lease, account, lease.node)
        except Fenced as fenced:
            await self._fenced(fenced.node_id)
        return await self.reserve(key, amount)

    def _refill_soon(self, lease: Lease, amount: int) -> None:
        """Extend a lease running low in the background, so no request waits for the database."""

        async def refill() -> None:
            try:
                async with lease.lock:
                    if lease.low and self._leases.get(lease.account) is lease:
                        await self._extend(lease, amount)
            except Fenced as fenced:
                await self._fenced(fenced.node_id)
            except Exception:
                log.exception("extending the quota lease of %s failed", lease.account)
            finally:
                lease.refilling = False

        lease.refilling = True
        task = asyncio.create_task(refill(), name=f"lease-{lease.account}")
        self._refills.add(task)
        task.add_done_callback(self._refills.discard)

    async def _extend(self, lease: Lease, amount: int) -> bool:
        base = max(amount, 1) * LEASE_REQUESTS
        now = self._clock()
        size = lease.size
        lasted = now - lease.extended_at
        if lasted < LEASE_GROWTH_SECONDS:
            spent = max(lease.topped - lease.available, 0)  # held or spent since then
            wanted = int(spent * LEASE_TARGET_SECONDS / max(lasted, 0.001))
            size = min(max(size * 2, wanted), size * LEASE_MAX_GROWTH)
        elif lasted > LEASE_SHRINK_SECONDS:
            size //= 2
        for attempt in dict.fromkeys((max(size, base), base)):  # then the smallest lease
            if await debit(self._db, lease.account, attempt, attempt * LEASE_FLOOR, lease.node):
                lease.available += attempt
                lease.size = attempt
                lease.topped = lease.available
                lease.extended_at = now
                return True
        return False

    async def close(self) -> None:
        """Wait for lease extensions in flight (then ``returns(everything=True)`` is complete)."""
        if self._refills:
            await asyncio.gather(*self._refills, return_exceptions=True)

    def returns(self, everything: bool = False) -> Returned:
        """Take back what idle leases hold (all leases if ``everything``): (account, node) →
        amount.

        The caller owes these amounts to the accounts in the database. A lease is idle when no
        request holds from it and none took a hold for ``LEASE_IDLE_SECONDS``.
        """
        owed: Returned = {}
        now = self._clock()
        for account, lease in list(self._leases.items()):
            if lease.used:
                lease.used = False
                lease.idle_since = now
            idle = (
                lease.in_flight == 0
                and not lease.lock.locked()
                and now - lease.idle_since >= LEASE_IDLE_SECONDS
            )
            if everything or idle:
                if lease.available:
                    owed[(account, lease.node)] = lease.available
                    lease.available = 0
                if idle:
                    del self._leases[account]
        return owed

    async def reserve(self, key: KeyRecord, amount: int) -> Hold:
        """Take ``amount`` from the key's account in the database or raise ``QuotaExceeded``.

        Zero is held too when the account is exhausted: a free request of a spent user fails.
        """
        account = Account.of(key)
        if account is None:
            return Hold(0)
        amount = max(amount, 0)
        node = self._node()
        try:
            taken = await debit(self._db, account, amount, max(amount, 1), node)
        except Fenced as fenced:
            await self._fenced(fenced.node_id)
            node = self._node()
            taken = await debit(self._db, account, amount, max(amount, 1), node)
        if not taken:
            raise quota_exceeded(account, amount)
        return Hold(amount, None, account, node)
