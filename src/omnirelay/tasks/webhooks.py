"""Signed webhook deliveries, retried with backoff, off the poller's path.

Each POST carries ``X-Omnirelay-Signature: t=<unix seconds>,v1=<hex>`` where ``hex`` is
HMAC-SHA256 over ``f"{t}.".encode() + body`` keyed with the webhook signing secret of the API
key that created the task (``whsec_...``, shown once when the key is made or its secret rotated;
stored encrypted, so the database alone cannot forge a signature; ``tasks/signing.py``). A
receiver that knows the secret can check that a callback came from this gateway and is recent.

Every delivery goes through the guarded outbound client (``omnirelay.outbound``): a callback
URL whose host now resolves to a refused address is dropped, never retried.

Deliveries for one task go out in order (a later status never overtakes an earlier one);
different tasks deliver concurrently. Pending deliveries live in this process: one that is
still retrying when the process stops is dropped (the task itself is safe in the store, and
the client can always query it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time

import aiohttp

from omnirelay.outbound import GuardedClient, UnsafeUrl, where

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Omnirelay-Signature"
# Delays before each retry; a delivery is attempted len(RETRY_DELAYS) + 1 times.
RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 15.0, 60.0)
DELIVERY_TIMEOUT = 10.0
MAX_CONCURRENT = 32


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


class WebhookSender:
    def __init__(self, client: GuardedClient, delays: tuple[float, ...] = RETRY_DELAYS) -> None:
        self._client = client
        self._delays = delays
        self._limit = asyncio.Semaphore(MAX_CONCURRENT)
        self._last: dict[str, asyncio.Task[None]] = {}
        self._running: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """Deliveries queued or retrying in this process."""
        return len(self._running)

    def send(self, task_id: str, url: str, body: bytes, key: bytes | None) -> None:
        """Queue one delivery (unsigned if ``key`` is None); returns at once."""
        previous = self._last.get(task_id)
        delivery = asyncio.create_task(
            self._deliver(task_id, url, body, key, previous), name=f"webhook-{task_id}"
        )
        self._last[task_id] = delivery
        self._running.add(delivery)
        delivery.add_done_callback(lambda t: self._done(task_id, t))

    def _done(self, task_id: str, delivery: asyncio.Task[None]) -> None:
        self._running.discard(delivery)
        if self._last.get(task_id) is delivery:
            del self._last[task_id]

    async def _deliver(
        self,
        task_id: str,
        url: str,
        body: bytes,
        key: bytes | None,
        previous: asyncio.Task[None] | None,
    ) -> None:
        if previous is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(previous)
        for attempt in range(len(self._delays) + 1):
            if attempt:
                await asyncio.sleep(self._delays[attempt - 1])
            try:
                if await self._attempt(url, body, key):
                    return
            except UnsafeUrl as refused:
                log.warning("webhook for task %s refused: %s", task_id, refused.reason)
                return
        log.warning("webhook for task %s to %s: giving up after retries", task_id, where(url))

    async def _attempt(self, url: str, body: bytes, key: bytes | None) -> bool:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers[SIGNATURE_HEADER] = sign(key, body, int(time.time()))
        async with self._limit:
            try:
                status = await self._client.post(url, body, headers, seconds=DELIVERY_TIMEOUT)
                return status < 300
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.info("webhook to %s failed: %s", where(url), type(exc).__name__)
                return False

    async def stop(self, grace: float = 5.0) -> None:
        """Give in-flight deliveries ``grace`` seconds, then cancel the rest."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=grace)
        for delivery in list(self._running):
            delivery.cancel()
        for delivery in list(self._running):
            with contextlib.suppress(asyncio.CancelledError):
                await delivery
