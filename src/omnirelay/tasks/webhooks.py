"""Signed webhook deliveries from the outbox (``tasks/outbox.py``), at least once.

Each POST carries ``X-Omnirelay-Signature: t=<unix seconds>,v1=<hex>`` where ``hex`` is
HMAC-SHA256 over ``f"{t}.".encode() + body`` keyed with the SHA-256 hex digest of the API key
that created the task. A receiver that knows its key can therefore check that a callback came
from this gateway and is recent, and the gateway never stores the key itself (only its hash).
``X-Omnirelay-Delivery`` names the delivery: a retry (after a timeout, a restart, or an
operator's re-send) carries the same id, so a receiver can drop what it already has.

Deliveries live in the database, written with the task change they announce, so a restart
loses none: every process claims due ones, POSTs them (``post_delivery``, the one outbound call
of this module), and records the outcome. A failure is retried after a jittered delay that
doubles from ``retry_seconds`` up to an hour, until ``give_up_seconds`` after the change (a day
by default); then the delivery is dead, listed and re-sendable in ``/admin/webhooks``.
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

from omnirelay.store import Database
from omnirelay.tasks.outbox import Claimed, Outbox

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Omnirelay-Signature"
DELIVERY_HEADER = "X-Omnirelay-Delivery"
DELIVERY_TIMEOUT = 10.0
MAX_CONCURRENT = 32
MAX_RETRY_DELAY = 3600.0
# A claimed delivery is another process's to retry if this one has not finished it by then.
CLAIM_LEASE_MS = int((DELIVERY_TIMEOUT + 50) * 1000)
POLL_SECONDS = 1.0


def signing_key(api_key_hash: str) -> bytes:
    """The HMAC key of a task's webhooks: the hex SHA-256 of the client's API key."""
    return api_key_hash.encode("ascii")


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
    """How one POST went: the receiver's status (None if it was not reached) and why not."""

    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def post_delivery(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: Mapping[str, str]
) -> Attempt:
    """POST one delivery to a receiver: the only request this module makes, so a guard on
    outbound requests made on a user's behalf wraps it here."""
    try:
        async with session.post(
            url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT),
            allow_redirects=False,
        ) as response:
            return Attempt(response.status, None if response.status < 300 else "not accepted")
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Attempt(None, f"unreachable: {type(exc).__name__}")


class WebhookSender:
    """Delivers the outbox: claims due deliveries, POSTs them, records how it went."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        db: Database,
        *,
        retry_seconds: float = 1.0,
        give_up_seconds: float = 86400.0,
        rng: random.Random | None = None,
    ) -> None:
        self._session = session
        self.outbox = Outbox(db)
        self.retry_seconds = retry_seconds
        self.give_up_seconds = give_up_seconds
        self._rng = rng or random.Random()  # noqa: S311 - retry jitter, not security
        self._wake = asyncio.Event()
        self._stopping = False
        self._runner: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

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
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(signing_key(delivery.key_hash), delivery.body, int(time.time())),
            DELIVERY_HEADER: delivery.delivery_id,
        }
        try:
            attempt = await post_delivery(self._session, delivery.url, delivery.body, headers)
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
            dead = await self.outbox.failed(
                delivery, attempt.status, error, self.retry_delay(delivery.attempts)
            )
        except Exception:
            # The outcome is lost with the database; the claim lapses and it is sent again.
            log.exception("recording webhook delivery %s failed", delivery.delivery_id)
            return
        if dead:
            log.warning(
                "webhook %s for task %s to %s is dead after %d attempts (%s)",
                delivery.delivery_id,
                delivery.task_id,
                delivery.url,
                delivery.attempts,
                error,
            )
        else:
            log.info("webhook %s to %s failed: %s", delivery.delivery_id, delivery.url, error)

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
