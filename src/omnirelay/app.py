"""Builds the aiohttp application: routes, and the lifespan that owns resources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from omnirelay.api import account, admin, anthropic, gemini, images, openai
from omnirelay.api import ideogram as ideogram_api
from omnirelay.api import kling as kling_api
from omnirelay.api import metrics as metrics_api
from omnirelay.api import midjourney as midjourney_api
from omnirelay.api import responses as responses_api
from omnirelay.api import suno as suno_api
from omnirelay.api.common import GATEWAY
from omnirelay.api.middleware import observe, on_prepare
from omnirelay.config import Settings
from omnirelay.gateway import Gateway

CONSOLE_DIR = Path(__file__).parent / "console"


async def healthz(request: web.Request) -> web.Response:
    # 200 while degraded too: the gateway serves (with per-node limits) without Redis.
    return web.json_response(request.app[GATEWAY].health())


async def console_index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(CONSOLE_DIR / "index.html")


async def console_redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/")


def build_app(settings: Settings) -> web.Application:
    """The gateway app. ``gateway.bootstrap`` must have run once against the same database."""
    # The request's context, header limits, its trace span, metrics and log line.
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[observe])
    app.on_response_prepare.append(on_prepare)

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        gateway = await Gateway.open(settings)
        app[GATEWAY] = gateway
        metrics_port = await metrics_api.start_port(gateway, settings)
        yield
        if metrics_port is not None:
            await metrics_port.cleanup()
        await gateway.close()

    app.cleanup_ctx.append(lifespan)
    app.router.add_get("/healthz", healthz)
    metrics_api.add_routes(app)
    app.router.add_get("/", console_redirect)
    app.router.add_get("/console", console_redirect)
    app.router.add_get("/console/", console_index)
    app.router.add_static("/console/", CONSOLE_DIR)
    account.add_routes(app)  # before openai too: /v1/dashboard/...
    anthropic.add_routes(app)  # before openai: its /v1/ catch-all would shadow /v1/messages
    gemini.add_routes(app)
    responses_api.add_routes(app)  # before openai, like anthropic
    images.add_routes(app)  # before openai: every image model, not only OpenAI's
    openai.add_routes(app)
    admin.add_routes(app)
    kling_api.add_routes(app)
    suno_api.add_routes(app)
    ideogram_api.add_routes(app)
    midjourney_api.add_routes(app)
    admin.add_fallback(app)  # last: unknown /admin paths answer in the envelope
    return app
