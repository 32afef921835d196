"""The serving processes sharing one database, and what each holds of the accounts' money.

Every ``serve`` process is a *node*: a row in ``nodes`` whose heartbeat it refreshes every
``heartbeat`` seconds. Whatever a node takes out of balances into memory — a quota lease, a
request's reservation — is added to its row in ``node_holds`` in the transaction that takes
it, and taken off in the transaction that settles it or gives it back (``usage.py``). So
``node_holds`` says, at every commit, how much each node owes each account.

A node whose heartbeat is older than ``dead_after`` seconds has crashed (SIGKILL, power): any
other node, once its own heartbeat has been healthy that long (so that a database outage that
stopped every heartbeat does not make the nodes reap one another), deletes the dead node's row
and gives its holds back to the accounts, in one transaction, and refunds the task
submissions the dead node never finished. A node that was taken for dead but was only stalled
is *fenced*: its next heartbeat, debit or settlement finds its row gone, it joins again under
a new id and forgets its leases (their money was given back), and what its in-flight requests
cost is then charged directly (``usage.Settlement.void``). Nothing is given back twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Column, Subquery, bindparam, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnirelay.store import Database, node_holds, nodes, tasks
from omnirelay.usage import Settlement, apply_settlement

log = logging.getLogger(__name__)

# Adds to what a node holds of an account (0 stands for a side not involved).
HOLD_UPSERT = (
    "INSERT INTO node_holds (node_id, key_id, user_id, amount) "
    "VALUES (:node, :key, :user, :amount) "
    "ON CONFLICT (node_id, key_id, user_id) DO UPDATE SET amount = node_holds.amount + "
    "excluded.amount"
)
SUBMITTING = "submitting"


class Fenced(Exception):
    """This node's row is gone: another node took it for dead and gave its holds back."""

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.node_id = node_id


def _now_ms() -> int:
    return int(time.time() * 1000)


def new_node_id() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class Reaped:
    """A dead node whose holds were given back."""

    node_id: str
    returned: int  # micro-dollars, both sides of every account counted once each
    accounts: int
    submissions: int  # unfinished task submissions made due (to be refunded)


class NodeRegistry:
    """This process's node: joins, heartbeats, leaves; notices and reaps dead nodes."""

    def __init__(
        self,
        db: Database,
        *,
        heartbeat: float = 5.0,
        dead_after: float = 30.0,
        version: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self.version = version
        self.heartbeat = heartbeat
        self.dead_after = dead_after
        self._clock = clock
        self.id = new_node_id()
        self._healthy_since: float | None = None
        self._task: asyncio.Task[None] | None = None
        # Called when this node was fenced, before it joins again (the ledger forgets leases).
        self.on_fenced: Callable[[], None] | None = None
        self._rejoining = asyncio.Lock()

    async def join(self) -> None:
        now = _now_ms()
        async with self._db.engine.begin() as conn:
            await conn.execute(
                nodes.insert().values(
                    id=self.id,
                    host=socket.gethostname()[:200],
                    pid=os.getpid(),
                    version=self.version[:64],
                    started_ms=now,
                    heartbeat_ms=now,
                )
            )
        self._healthy_since = self._clock()

    async def rejoin(self, fenced: str | None = None) -> None:
        """Fenced: forget what this node held (it was given back) and join under a new id.
        Many requests notice it at once: one rejoins, the others (``fenced`` no longer this
        node's id) find it done."""
        async with self._rejoining:
            if fenced is not None and fenced != self.id:
                return
            old = self.id
            self.id = new_node_id()
            log.error(
                "node %s was taken for dead by another node; joining again as %s", old, self.id
            )
            if self.on_fenced is not None:
                self.on_fenced()
            await self.join()

    async def beat(self) -> None:
        beaten = self.id
        async with self._db.engine.begin() as conn:
            found = await conn.execute(_BEAT, {"beat_id": beaten, "beat_ms": _now_ms()})
        if found.rowcount != 1:
            await self.rejoin(beaten)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="node-heartbeat")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await self.beat()
                if self._healthy_since is None:
                    self._healthy_since = self._clock()
            except Exception:
                self._healthy_since = None
                log.exception("node heartbeat failed; will retry")
                continue
            if self._clock() - self._healthy_since >= self.dead_after:
                try:
                    await self.reap()
                except Exception:
                    log.exception("reaping dead nodes failed; will retry")

    async def reap(self) -> list[Reaped]:
        """Give back what dead nodes held; the nodes reaped."""
        cutoff = _now_ms() - int(self.dead_after * 1000)
        async with self._db.engine.connect() as conn:
            dead = list(
                (
                    await conn.execute(
                        select(nodes.c.id).where(
                            nodes.c.heartbeat_ms < cutoff, nodes.c.id != self.id
                        )
                    )
                ).scalars()
            )
        reaped = []
        for node_id in dead:
            found = await self._reap_one(node_id, cutoff)
            if found is not None:
                reaped.append(found)
                log.warning(
                    "node %s is gone: gave back %d micro-USD it held of %d account(s); "
                    "%d unfinished submission(s) will be refunded",
                    found.node_id,
                    found.returned,
                    found.accounts,
                    found.submissions,
                )
        return reaped

    async def _reap_one(self, node_id: str, cutoff: int) -> Reaped | None:
        async with self._db.engine.begin() as conn:
            gone = await conn.execute(
                delete(nodes).where(nodes.c.id == node_id, nodes.c.heartbeat_ms < cutoff)
            )
            if gone.rowcount != 1:
                return None  # another node reaped it, or it came back
            held = (
                await conn.execute(
                    delete(node_holds)
                    .where(node_holds.c.node_id == node_id)
                    .returning(node_holds.c.key_id, node_holds.c.user_id, node_holds.c.amount)
                )
            ).all()
            settlement = Settlement()
            returned = 0
            for key_id, user_id, amount in held:
                if amount and key_id:
                    settlement.key_refunds[key_id] += amount
                if amount and user_id:
                    settlement.user_refunds[user_id] += amount
                returned += amount
            await apply_settlement(conn, settlement)
            # A submission the dead node never finished: due now, the poller refunds it.
            submissions = await conn.execute(
                update(tasks)
                .where(tasks.c.node_id == node_id, tasks.c.status == SUBMITTING)
                .values(next_poll_ms=_now_ms())
            )
        return Reaped(node_id, returned, sum(1 for h in held if h[2]), submissions.rowcount)

    async def stop(self) -> None:
        """Stop heartbeating (and reaping)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def leave(self) -> None:
        """A clean shutdown, after every lease went back: drop this node's rows. Holds that
        could not be settled (the database was away) stay, under a heartbeat of 0, so the
        next node to look gives them back at once."""
        await self.stop()
        async with self._db.engine.begin() as conn:
            await conn.execute(
                delete(node_holds).where(node_holds.c.node_id == self.id, node_holds.c.amount == 0)
            )
            left = await conn.scalar(
                select(node_holds.c.node_id).where(node_holds.c.node_id == self.id).limit(1)
            )
            if left is None:
                await conn.execute(delete(nodes).where(nodes.c.id == self.id))
            else:
                log.warning("node %s leaves money unsettled; the next node returns it", self.id)
                await conn.execute(
                    update(nodes).where(nodes.c.id == self.id).values(heartbeat_ms=0)
                )


# Built once, with bound parameters: on this path (heartbeats, every lease extension) building
# a statement and its cache key cost more of the event loop than running it.
_BEAT = (
    update(nodes)
    .where(nodes.c.id == bindparam("beat_id"))
    .values(heartbeat_ms=bindparam("beat_ms"))
)
_ALIVE = select(nodes.c.id).where(nodes.c.id == bindparam("alive_id"))
_ALIVE_SHARED = _ALIVE.with_for_update(read=True)


async def hold_in_node(
    conn: AsyncConnection, db: Database, node_id: str, key: int, user: int, amount: int
) -> None:
    """Inside a debit's transaction: check this node still exists (else ``Fenced``) and add
    ``amount`` to what it holds of the account."""
    # FOR SHARE: a reaper deleting the row waits for this debit, or this debit for it.
    alive = _ALIVE_SHARED if db.is_postgres else _ALIVE
    if await conn.scalar(alive, {"alive_id": node_id}) is None:
        raise Fenced(node_id)
    await conn.execute(
        text(HOLD_UPSERT), {"node": node_id, "key": key, "user": user, "amount": amount}
    )


def held_per(column: Column[int]) -> Subquery:
    """What every process holds of each account, unspent (``account``, ``held``): per key with
    ``node_holds.c.key_id``, per user with ``node_holds.c.user_id``. Joined to the accounts
    (0 is no account), a stored balance plus ``held`` is what is left, as ``held_by_nodes``."""
    return (
        select(column.label("account"), func.sum(node_holds.c.amount).label("held"))
        .group_by(column)
        .subquery()
    )


def plus_held(stored: int | None, held: int | None) -> int | None:
    """A stored balance with ``held`` (a ``held_per`` figure, None if nothing is held) added
    back: what is left. None stays None (unlimited)."""
    return None if stored is None else int(stored) + int(held or 0)


async def held_by_nodes(
    conn: AsyncConnection, *, key_id: int | None = None, user_id: int | None = None
) -> int:
    """What every process holds of a key's quota (``key_id``) or of a user's balance
    (``user_id``) and has not spent yet: their leases and the requests in flight.

    A balance as stored is less than that; added back, it is what the account has left
    (requests finished in the last usage flush still count as left until it lands). Each
    process keeps an idle lease for ``LEASE_IDLE_SECONDS``, so adding back only the answering
    process's own leases showed a balance short by the others' for that long."""
    column = node_holds.c.key_id if key_id is not None else node_holds.c.user_id
    wanted = key_id if key_id is not None else user_id
    total = await conn.scalar(
        select(func.coalesce(func.sum(node_holds.c.amount), 0)).where(column == wanted)
    )
    return int(total or 0)
