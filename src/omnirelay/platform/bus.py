"""Invalidations: a change made on one node reaches every node's caches.

Topics: ``keys`` (keys, users, groups: the key cache is cleared) and ``catalogue`` (channels,
models, prices: the catalogue and channels are re-read). ``publish`` handles a topic in this
process at once; with Redis it also goes to every other node over pub/sub (within
milliseconds). Without Redis, or while it is away, other nodes catch up at their next reload
(the key cache's TTL, the periodic reload); after Redis comes back, every topic is handled
once, since messages may have been missed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from omnirelay.platform.redis_link import RedisLink

if TYPE_CHECKING:
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

CHANNEL = "omnirelay:invalidate"
TOPICS = ("keys", "catalogue")
Handler = Callable[[str], Awaitable[None]]


class Bus:
    """Invalidations within this process only (no Redis)."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def _deliver(self, topic: str) -> None:
        for handler in self._handlers:
            try:
                await handler(topic)
            except Exception:
                log.exception("handling the invalidation '%s' failed", topic)

    async def publish(self, topic: str) -> None:
        await self._deliver(topic)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisBus(Bus):
    """Invalidations for every node subscribed to the same Redis."""

    def __init__(self, link: RedisLink) -> None:
        super().__init__()
        self._link = link
        self._node = secrets.token_hex(6)  # our own messages are handled already
        self._listener: asyncio.Task[None] | None = None
        link.on_reconnect(self._resume)

    async def start(self) -> None:
        if self._link.up:
            await self._listen()

    async def _resume(self) -> None:
        for topic in TOPICS:
            await self._deliver(topic)
        await self._listen()

    async def _listen(self) -> None:
        pubsub = self._link.client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(CHANNEL)
        except Exception as exc:  # noqa: BLE001 - Redis went away again
            self._link.failed(exc)
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            return
        self._listener = asyncio.create_task(self._run(pubsub), name="invalidation-bus")

    async def _run(self, pubsub: PubSub) -> None:
        try:
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None or message.get("type") != "message":
                    continue
                node, _, topic = bytes(message["data"]).decode().partition(":")
                if node != self._node:
                    await self._deliver(topic)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the connection broke: the link watches
            self._link.failed(exc)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def publish(self, topic: str) -> None:
        await self._deliver(topic)
        if not self._link.up:
            return
        try:
            await self._link.client.publish(CHANNEL, f"{self._node}:{topic}")
        except Exception as exc:  # noqa: BLE001 - others will catch up at their next reload
            self._link.failed(exc)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
