"""Builds the aiohttp application: routes, and the lifespan that owns resources."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from omnirelay.api import account, admin, anthropic, console, gemini, images, me, openai
from omnirelay.api import docs as docs_api
from omnirelay.api import ideogram as ideogram_api
from omnirelay.api import kling as kling_api
from omnirelay.api import metrics as metrics_api
from omnirelay.api import midjourney as midjourney_api
from omnirelay.api import responses as responses_api
from omnirelay.api import suno as suno_api
from omnirelay.api.common import GATEWAY
from omnirelay.api.middleware import observe, on_prepare
from omnirelay.api.session import session_credentials
from omnirelay.config import Settings
from omnirelay.draining import Drain
from omnirelay.gateway import Gateway

DRAIN = web.AppKey("drain", Drain)


async def healthz(request: web.Request) -> web.Response:
    # 200 while degraded too: the gateway serves (with per-node limits) without Redis. 503
    # while draining: a load balancer stops sending it new requests.
    found = request.app[GATEWAY].health()
    if request.app[DRAIN].draining:
        return web.json_response({**found, "status": "draining"}, status=503)
    return web.json_response(found)




def build_app(settings: Settings) -> web.Application:
    """The gateway app. ``gateway.bootstrap`` must have run once against the same database."""
    drain = Drain()
    # The request's context, header limits, its trace span, metrics and log line (outermost:
    # a drained request is observed too); then the drain; then a console session's key.
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[observe, drain.middleware(), session_credentials],
    )
    app[DRAIN] = drain
    app.on_response_prepare.append(on_prepare)

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        gateway = await Gateway.open(settings, in_flight=lambda: drain.in_flight)
        app[GATEWAY] = gateway
        metrics_port = await metrics_api.start_port(gateway, settings)
        yield
        if metrics_port is not None:
            await metrics_port.cleanup()
        await gateway.close()

    app.cleanup_ctx.append(lifespan)
    app.router.add_get("/healthz", healthz)
    metrics_api.add_routes(app)
    console.add_routes(app)  # the web console, and signing in to it
    me.add_routes(app)  # a user's own data (/api/me/...)
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
    docs_api.add_routes(app)
    admin.add_fallback(app)  # last: unknown /admin paths answer in the envelope
    return app
