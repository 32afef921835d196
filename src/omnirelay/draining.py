"""Graceful shutdown: SIGTERM stops new work, lets what is in flight finish, then stops.

On SIGTERM (or SIGINT) a serving process keeps its socket open but *drains*: every new request
is answered 503 with ``Retry-After`` (a load balancer in front retries it on another node), and
``/healthz`` answers 503 ``draining`` so the balancer stops sending. Requests and streams in
flight go on for up to ``shutdown_grace_seconds``; what is still running then is cancelled, and
cancellation settles it (a stream is billed for what it delivered, a request that delivered
nothing is charged nothing, see ``api.common.settles_holds``). Then the app's lifespan closes
the gateway: the task poller hands its claims back, the usage writer writes what is queued and
every quota lease goes back, and the node leaves (``nodes.py``). Nothing is held forever.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Paths that answer while draining (they report the draining themselves).
_ALWAYS = frozenset({"/healthz"})
RETRY_AFTER_SECONDS = 2


class Drain:
    """Counts requests in flight; once draining, refuses new ones."""

    __slots__ = ("_idle", "draining", "in_flight")

    def __init__(self) -> None:
        self.draining = False
        self.in_flight = 0
        self._idle = asyncio.Event()

    def middleware(self) -> Middleware:
        @web.middleware
        async def drain(request: web.Request, handler: Handler) -> web.StreamResponse:
            if self.draining and request.path not in _ALWAYS:
                return refused()
            self.in_flight += 1
            try:
                return await handler(request)
            finally:
                self.in_flight -= 1
                if self.in_flight == 0 and self.draining:
                    self._idle.set()

        return drain

    async def drain(self, grace: float) -> int:
        """Refuse new requests and wait up to ``grace`` seconds for those in flight; how many
        are still running."""
        self.draining = True
        if self.in_flight:
            log.info("draining: %d request(s) in flight, %g s to finish", self.in_flight, grace)
            try:
                await asyncio.wait_for(self._idle.wait(), grace)
            except TimeoutError:
                log.warning("draining: %d request(s) still running; cancelling", self.in_flight)
        return self.in_flight


def refused() -> web.Response:
    # The shape every client understands well enough to retry: OpenAI's envelope, which the
    # official SDKs of the other formats read as a 503 too.
    return web.json_response(
        {
            "error": {
                "message": "this gateway node is shutting down; retry (another node may answer)",
                "type": "service_unavailable",
                "param": None,
                "code": "draining",
            }
        },
        status=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Connection": "close"},
    )


async def serve(
    app: web.Application,
    drain: Drain,
    *,
    host: str,
    port: int,
    reuse_port: bool,
    grace: float,
) -> None:
    """Run ``app`` until SIGTERM or SIGINT, then drain for ``grace`` seconds and stop."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port)
        await site.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        started = time.monotonic()
        left = await drain.drain(grace)
        log.info("drained in %.1f s (%d cancelled); stopping", time.monotonic() - started, left)
    finally:
        # Closes the socket, cancels what still runs (it settles), then the lifespan closes
        # the gateway.
        await runner.cleanup()
