"""The one Redis connection of a process, and whether Redis is there right now.

Every user of Redis (the shared rate limits, the invalidation bus) reports a failure here;
the link then says so once in the log, and watches for Redis coming back (a PING a second),
after which it says so again and tells its listeners (who re-subscribe, re-seed). Calls fail
fast while Redis is away: its users fall back to per-node behaviour instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

# Loopback or LAN Redis answers in well under a millisecond; a stuck one must not hold
# requests for long.
SOCKET_TIMEOUT = 0.25
WATCH_SECONDS = 1.0

Listener = Callable[[], Awaitable[None]]


class RedisLink:
    def __init__(self, url: str, *, watch_seconds: float = WATCH_SECONDS) -> None:
        # Imported here: a gateway without Redis never loads the client (~20 MB a worker).
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.url = url
        self.client: Redis = Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self.up = False
        self._watch_seconds = watch_seconds
        self._listeners: list[Listener] = []
        self._watcher: asyncio.Task[None] | None = None
        self._closed = False

    def on_reconnect(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        try:
            await self.client.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means "not there"
            self.failed(exc)
            return
        self.up = True
        log.info("Redis at %s: rate limits and invalidations are shared", self._where)

    @property
    def _where(self) -> str:
        return self.url.rsplit("@", 1)[-1]  # never log a password

    @property
    def status(self) -> str:
        return "ok" if self.up else "degraded"

    def failed(self, exc: BaseException) -> None:
        """A call to Redis failed: serve per node until it answers again."""
        if self.up or self._watcher is None:
            log.warning(
                "Redis at %s is unreachable (%s): rate limits are per node, and changes reach "
                "other nodes at their next reload, until it is back",
                self._where,
                type(exc).__name__,
            )
        self.up = False
        if self._watcher is None and not self._closed:
            self._watcher = asyncio.create_task(self._watch(), name="redis-watch")

    async def _watch(self) -> None:
        try:
            while not self._closed:
                await asyncio.sleep(self._watch_seconds)
                try:
                    await self.client.ping()
                except Exception:  # noqa: BLE001, S112 - still away; try again next second
                    continue
                self.up = True
                log.info(
                    "Redis at %s is back: rate limits and invalidations shared again", self._where
                )
                for listener in self._listeners:
                    try:
                        await listener()
                    except Exception:
                        log.exception("a Redis reconnection listener failed")
                return
        finally:
            self._watcher = None

    async def close(self) -> None:
        self._closed = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self.client.aclose()
