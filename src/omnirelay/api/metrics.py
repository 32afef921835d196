"""``GET /metrics``: the Prometheus exposition of every worker's figures (``observability``).

On the main port it needs an admin key (``Authorization: Bearer``); with ``metrics_port`` set,
each worker also serves it on that port (shared with ``SO_REUSEPORT``), without
authentication, bound to ``metrics_host`` (loopback unless the operator says otherwise).
"""

from __future__ import annotations

from aiohttp import web

from omnirelay.api.admin.base import authenticate_admin
from omnirelay.api.common import GATEWAY
from omnirelay.api.openai import openai_errors
from omnirelay.config import Settings
from omnirelay.errors import NotFound
from omnirelay.gateway import Gateway
from omnirelay.observability.metrics import CONTENT_TYPE


async def _exposition(gateway: Gateway) -> web.Response:
    if gateway.observer.metrics is None:
        raise NotFound("metrics are off on this gateway (OMNIRELAY_METRICS)")
    text = await gateway.observer.scrape(gateway.db, gateway.sample())
    return web.Response(body=text, headers={"Content-Type": CONTENT_TYPE})


@openai_errors
async def metrics(request: web.Request) -> web.StreamResponse:
    gateway, _ = await authenticate_admin(request)
    return await _exposition(gateway)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)


async def start_port(gateway: Gateway, settings: Settings) -> web.AppRunner | None:
    """The metrics on a port of their own, if the settings ask for one."""
    if not settings.metrics_port or gateway.observer.metrics is None:
        return None

    async def open_metrics(request: web.Request) -> web.StreamResponse:
        return await _exposition(request.app[GATEWAY])

    app = web.Application()
    app[GATEWAY] = gateway
    app.router.add_get("/metrics", open_metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(
        runner, settings.metrics_host, settings.metrics_port, reuse_port=settings.workers > 1
    )
    await site.start()
    return runner
