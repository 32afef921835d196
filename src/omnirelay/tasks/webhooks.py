"""Signed webhook deliveries from the outbox (``tasks/outbox.py``), at least once.

Each POST carries ``X-Omnirelay-Signature: t=<unix seconds>,v1=<hex>`` where ``hex`` is
HMAC-SHA256 over ``f"{t}.".encode() + body`` keyed with the webhook signing secret of the API
key that created the task (``whsec_...``, shown once when the key is made or its secret rotated;
stored encrypted, so the database alone cannot forge a signature; ``tasks/signing.py``). A
receiver that knows the secret can check that a callback came from this gateway and is recent.
``X-Omnirelay-Delivery`` names the delivery: a retry (after a timeout, a restart, or an
operator's re-send) carries the same id, so a receiver can drop what it already has.

Every POST goes through the guarded outbound client (``omnirelay.outbound``): a callback URL
whose host now resolves to a refused address is dead at once, never retried.

Deliveries live in the database, written with the task change they announce, so a restart
loses none: every process claims due ones, POSTs them (``post_delivery``, the one outbound
call of this module, through the guard), and records the outcome. A failure is retried after
a jittered delay that doubles from ``retry_seconds`` up to an hour, until ``give_up_seconds``
after the change (a day by default); then the delivery is dead, listed and re-sendable in
``/admin/webhooks``.
Deliveries for one task go out in order (a later status never overtakes an earlier one);
different tasks deliver concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from omnirelay.outbound import GuardedClient, UnsafeUrl, where
from omnirelay.store import Database
from omnirelay.tasks.outbox import Claimed, Outbox
from omnirelay.tasks.signing import SigningKeys

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Omnirelay-Signature"
DELIVERY_HEADER = "X-Omnirelay-Delivery"
DELIVERY_TIMEOUT = 10.0
MAX_CONCURRENT = 32
MAX_RETRY_DELAY = 3600.0
# A claimed delivery is another process's to retry if this one has not finished it by then.
CLAIM_LEASE_MS = int((DELIVERY_TIMEOUT + 50) * 1000)
POLL_SECONDS = 1.0


def sign(key: bytes, body: bytes, timestamp: int) -> str:
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(key: bytes, body: bytes, header: str, tolerance: float = 300.0) -> bool:
    """Check a signature header as a receiver would (used by tests and documented for users)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(key, body, timestamp)
    return hmac.compare_digest(expected, header)


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one POST went: the receiver's status (None if it was not reached) and why not;
    ``final``: retrying cannot help (the guard refuses the destination)."""

    status: int | None
    error: str | None = None
    final: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def post_delivery(
    client: GuardedClient, url: str, body: bytes, headers: Mapping[str, str]
) -> Attempt:
    """POST one delivery to a receiver (never redirected) through the outbound guard."""
    try:
        status = await client.post(url, body, headers, seconds=DELIVERY_TIMEOUT)
    except UnsafeUrl as refused:
        return Attempt(None, f"refused: {refused.reason}", final=True)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Attempt(None, f"unreachable: {type(exc).__name__}")
    return Attempt(status, None if status < 300 else "not accepted")


class WebhookSender:
    """Delivers the outbox: claims due deliveries, POSTs them, records how it went."""

    def __init__(
        self,
        client: GuardedClient,
        db: Database,
        *,
        signing: SigningKeys | None = None,
        retry_seconds: float = 1.0,
        give_up_seconds: float = 86400.0,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self._signing = signing  # None: every delivery goes out unsigned
        self.outbox = Outbox(db)
        self.retry_seconds = retry_seconds
        self.give_up_seconds = give_up_seconds
        self._rng = rng or random.Random()  # noqa: S311 - retry jitter, not security
        self._wake = asyncio.Event()
        self._stopping = False
        self._runner: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """Deliveries this process is sending right now (the outbox holds the rest)."""
        return len(self._running)

    def wake(self) -> None:
        """A delivery was written: look now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="webhooks")

    def retry_delay(self, attempts: int) -> float:
        base = min(MAX_RETRY_DELAY, self.retry_seconds * 2.0 ** max(attempts - 1, 0))
        return float(base * (0.8 + 0.4 * self._rng.random()))

    async def _run(self) -> None:
        while not self._stopping:
            free = MAX_CONCURRENT - len(self._running)
            claimed: list[Claimed] = []
            if free > 0:
                try:
                    claimed = await self.outbox.claim(free, CLAIM_LEASE_MS)
                except Exception:
                    log.exception("claiming webhook deliveries failed; retrying")
            for delivery in claimed:
                worker = asyncio.create_task(self._deliver(delivery), name="webhook")
                self._running.add(worker)
                worker.add_done_callback(self._done)
            if len(claimed) < free or free <= 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
                self._wake.clear()

    def _done(self, worker: asyncio.Task[None]) -> None:
        self._running.discard(worker)
        self._wake.set()  # a task's next delivery may be claimable now

    async def _deliver(self, delivery: Claimed) -> None:
        if delivery.key_hash is None:
            await self.outbox.failed(delivery, None, "the key that created the task is gone", 1e9)
            return
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: delivery.delivery_id}
        key = (
            self._signing.resolve(delivery.key_id, delivery.webhook_secret, delivery.key_hash)
            if self._signing is not None
            else None
        )
        if key is not None:
            headers[SIGNATURE_HEADER] = sign(key, delivery.body, int(time.time()))
        try:
            attempt = await post_delivery(self._client, delivery.url, delivery.body, headers)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.outbox.release(delivery))
            raise
        try:
            if attempt.ok:
                await self.outbox.delivered(delivery, attempt.status or 200)
                return
            error = attempt.error or "failed"
            if attempt.status is not None:
                error = f"HTTP {attempt.status}: {error}"
            retry_in = 1e9 if attempt.final else self.retry_delay(delivery.attempts)
            dead = await self.outbox.failed(delivery, attempt.status, error, retry_in)
        except Exception:
            # The outcome is lost with the database; the claim lapses and it is sent again.
            log.exception("recording webhook delivery %s failed", delivery.delivery_id)
            return
        if dead:
            log.warning(
                "webhook %s for task %s to %s is dead after %d attempts (%s)",
                delivery.delivery_id,
                delivery.task_id,
                where(delivery.url),
                delivery.attempts,
                error,
            )
        else:
            log.info(
                "webhook %s to %s failed: %s", delivery.delivery_id, where(delivery.url), error
            )

    async def stop(self, grace: float = 5.0) -> None:
        """Give in-flight deliveries ``grace`` seconds, then cancel the rest (their claims
        lapse and another process, or the next start, sends them)."""
        self._stopping = True
        self._wake.set()
        if self._runner is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._running:
            await asyncio.wait(set(self._running), timeout=grace)
        for delivery in list(self._running):
            delivery.cancel()
        for delivery in list(self._running):
            with contextlib.suppress(asyncio.CancelledError):
                await delivery
