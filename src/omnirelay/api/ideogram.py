"""The Ideogram surface: ``POST /ideogram/generate`` and ``/ideogram/v1/ideogram-v3/generate``.

Auth by ``Api-Key`` (as Ideogram's clients send it) or ``Authorization: Bearer``. Bodies are
checked with Ideogram's rules before anything is held or sent, then relayed as they came; the
reply is Ideogram's own. Price: per image of the model, charged for the images delivered (an
image withheld by Ideogram's safety check has no URL and costs nothing). Errors are
``{"error": "..."}`` with Ideogram's statuses (400 input, 401 key, 422 safety, 429, 5xx).
"""

from __future__ import annotations

from aiohttp import web

from omnirelay.api.common import (
    bearer_token,
    gateway_of,
    hold,
    read_body,
    renders_errors,
    resolve_model,
)
from omnirelay.billing import Usage
from omnirelay.errors import GatewayError
from omnirelay.formats import ideogram
from omnirelay.keys import KeyRecord
from omnirelay.metering import Meter
from omnirelay.relay import Opened
from omnirelay.vendors import Operation


def error_response(error: GatewayError) -> web.Response:
    return web.Response(
        body=ideogram.error_body(error.message),
        status=error.status,
        content_type="application/json",
    )


ideogram_errors = renders_errors(error_response)


def _credential(request: web.Request) -> str | None:
    return request.headers.get("Api-Key") or bearer_token(request)


async def _relay(
    request: web.Request,
    key: KeyRecord,
    body: bytes,
    content_type: str,
    generation: ideogram.Generation,
) -> web.StreamResponse:
    gateway = gateway_of(request)
    info = resolve_model(gateway, key, generation.model, frozenset({"image"}))
    meter: Meter = await hold(
        request, gateway, key, info, "ideogram.generate", Usage(images=generation.num_images)
    )
    try:
        opened: Opened = await gateway.relay.open(
            generation.model, Operation.IMAGE, lambda channel: (body, content_type)
        )
    except GatewayError as error:
        meter.finish(error.status, error=error.message)
        raise
    try:
        data = await opened.read()
    finally:
        opened.response.release()
    try:
        delivered = ideogram.safe_images(data)
    except GatewayError as error:
        meter.finish(502, channel_id=opened.channel.id, error=error.message)
        raise
    meter.finish(200, Usage(images=delivered), channel_id=opened.channel.id)
    return web.Response(body=data, content_type="application/json")


@ideogram_errors
async def generate(request: web.Request) -> web.StreamResponse:
    key = await gateway_of(request).keys.authenticate(_credential(request))
    body = await read_body(request)
    _, generation = ideogram.check_legacy(body)
    return await _relay(request, key, body, "application/json", generation)


@ideogram_errors
async def generate_v3(request: web.Request) -> web.StreamResponse:
    key = await gateway_of(request).keys.authenticate(_credential(request))
    body = await read_body(request)
    content_type = request.headers.get("Content-Type", "")
    generation = ideogram.check_v3(ideogram.v3_fields(body, content_type))
    return await _relay(request, key, body, content_type, generation)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/ideogram/generate", generate)
    app.router.add_post("/ideogram/v1/ideogram-v3/generate", generate_v3)
