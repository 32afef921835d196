"""Builds the aiohttp application: routes, and the lifespan that owns resources."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from omnirelay.api import admin, anthropic, gemini, openai
from omnirelay.api.common import GATEWAY
from omnirelay.config import Settings
from omnirelay.gateway import Gateway


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def build_app(settings: Settings) -> web.Application:
    """The gateway app. ``gateway.bootstrap`` must have run once against the same database."""
    app = web.Application(client_max_size=settings.max_body_bytes)

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        gateway = await Gateway.open(settings)
        app[GATEWAY] = gateway
        yield
        await gateway.close()

    app.cleanup_ctx.append(lifespan)
    app.router.add_get("/healthz", healthz)
    anthropic.add_routes(app)  # before openai: its /v1/ catch-all would shadow /v1/messages
    gemini.add_routes(app)
    openai.add_routes(app)
    admin.add_routes(app)
    return app
