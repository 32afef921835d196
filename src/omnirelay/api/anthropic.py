"""The Anthropic Messages surface: ``POST /v1/messages`` and ``/v1/messages/count_tokens``.

Auth by ``x-api-key`` (as the SDK sends it) or ``Authorization: Bearer``. Errors are
Anthropic's envelope, mid-stream as an ``event: error``; any chat model is reachable, with the
body passed through untouched when the model's vendor speaks this format.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from omnirelay.api.chat import ChatCall, count_tokens, run_chat
from omnirelay.api.common import (
    bearer_token,
    decode_json,
    gateway_of,
    new_request_id,
    read_body,
    renders_errors,
    resolve_model,
)
from omnirelay.channels import Channel
from omnirelay.errors import GatewayError, InvalidRequest
from omnirelay.formats.anthropic.wire import CountRouting, Routing, encode_error
from omnirelay.formats.openai.wire import with_fields
from omnirelay.gateway import Gateway
from omnirelay.keys import KeyRecord
from omnirelay.relay import BodyBuilder

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CHAT = frozenset({"chat"})


def error_response(error: GatewayError) -> web.Response:
    request_id = new_request_id()
    headers = {"request-id": request_id}
    if error.retryable is not None:
        headers["x-should-retry"] = "true" if error.retryable else "false"
    return web.Response(
        body=encode_error(error, request_id),
        status=error.status,
        content_type="application/json",
        headers=headers,
    )


# Every handler of this surface answers errors in the Anthropic's error envelope.
anthropic_errors = renders_errors(error_response)


def _forwarded(request: web.Request) -> dict[str, str]:
    # Beta features are asked for by header; a Claude vendor must see them to honour them.
    beta = request.headers.get("anthropic-beta")
    return {"anthropic-beta": beta} if beta else {}


async def _begin(request: web.Request) -> tuple[Gateway, KeyRecord, bytes]:
    gateway = gateway_of(request)
    token = request.headers.get("x-api-key") or bearer_token(request)
    key = await gateway.keys.authenticate(token)
    return gateway, key, await read_body(request)


def _passthrough(body: bytes, model: str) -> BodyBuilder:
    def build(channel: Channel) -> tuple[bytes, str]:
        upstream_model = channel.upstream_model(model)
        if upstream_model == model:
            return body, "application/json"
        return with_fields(body, model=upstream_model), "application/json"

    return build


@anthropic_errors
async def messages(request: web.Request) -> web.StreamResponse:
    gateway, key, body = await _begin(request)
    routing = decode_json(body, Routing)
    if not routing.messages:
        raise InvalidRequest("messages: at least one message is required", param="messages")
    if routing.max_tokens < 1:
        raise InvalidRequest("max_tokens: must be at least 1", param="max_tokens")
    info = resolve_model(gateway, key, routing.model, CHAT)
    request_id = new_request_id()
    call = ChatCall(
        client="anthropic",
        body=body,
        model=routing.model,
        stream=bool(routing.stream),
        endpoint="messages",
        forward_headers=_forwarded(request),
    )
    return await run_chat(
        request,
        gateway,
        key,
        info,
        call,
        max_output=routing.max_tokens,
        passthrough=_passthrough(body, routing.model),
        request_id=request_id,
        headers={"request-id": request_id},
    )


@anthropic_errors
async def count_message_tokens(request: web.Request) -> web.StreamResponse:
    gateway, key, body = await _begin(request)
    routing = decode_json(body, CountRouting)
    resolve_model(gateway, key, routing.model, CHAT)
    call = ChatCall(
        client="anthropic",
        body=body,
        model=routing.model,
        stream=False,
        endpoint="count_tokens",
        forward_headers=_forwarded(request),
    )
    counted = await count_tokens(gateway, call, _passthrough(body, routing.model))
    return web.Response(body=counted, content_type="application/json")


def add_routes(app: web.Application) -> None:
    # Registered before the OpenAI surface, whose /v1/ catch-all would otherwise answer these.
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_message_tokens)
