"""The Gemini surface, under ``/v1beta`` and ``/v1``: ``models/{model}:generateContent``,
``:streamGenerateContent`` (``alt=sse``), ``:countTokens``, ``:embedContent``,
``:batchEmbedContents``, and the model list.

Auth by ``x-goog-api-key`` or ``?key=`` (``Authorization: Bearer`` works too). Errors are
Google's envelope, mid-stream as a ``data:`` event holding it; any chat model is reachable,
with the body passed through untouched when the model's vendor speaks this format.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from omnirelay.api.chat import (
    DEFAULT_OUTPUT_TOKENS,
    ChatCall,
    count_tokens,
    read_upstream,
    run_chat,
    wire_format,
)
from omnirelay.api.common import (
    bearer_token,
    decode_json,
    gateway_of,
    hold,
    new_request_id,
    read_body,
    renders_errors,
    resolve_model,
)
from omnirelay.billing import Usage
from omnirelay.channels import Channel
from omnirelay.errors import GatewayError, InvalidRequest, NotFound
from omnirelay.formats.gemini import embeddings
from omnirelay.formats.gemini.wire import Routing, encode_error
from omnirelay.gateway import Gateway
from omnirelay.keys import KeyRecord
from omnirelay.relay import BodyBuilder
from omnirelay.vendors import Operation

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CHAT = frozenset({"chat"})
EMBEDDING = frozenset({"embedding"})
_METHODS = {
    "chat": ["generateContent", "streamGenerateContent", "countTokens"],
    "embedding": ["embedContent", "batchEmbedContents"],
}


def error_response(error: GatewayError) -> web.Response:
    return web.Response(
        body=encode_error(error), status=error.status, content_type="application/json"
    )


# Every handler of this surface answers errors in the Google's error envelope.
gemini_errors = renders_errors(error_response)


async def _key(request: web.Request) -> tuple[Gateway, KeyRecord]:
    gateway = gateway_of(request)
    token = (
        request.headers.get("x-goog-api-key") or request.query.get("key") or bearer_token(request)
    )
    return gateway, await gateway.keys.authenticate(token)


def _untouched(body: bytes) -> BodyBuilder:
    # The model is in the URL, so a Gemini body goes upstream exactly as the client sent it.
    def build(channel: Channel) -> tuple[bytes, str]:
        return body, "application/json"

    return build


async def _generate(request: web.Request, model: str, stream: bool) -> web.StreamResponse:
    gateway, key = await _key(request)
    body = await read_body(request)
    routing = decode_json(body, Routing)
    if not routing.contents:
        raise InvalidRequest("* GenerateContentRequest.contents: contents is not specified")
    if stream and request.query.get("alt") != "sse":
        raise InvalidRequest("omnirelay streams Gemini answers as server-sent events: add alt=sse")
    info = resolve_model(gateway, key, model, CHAT)
    config = routing.generation_config
    max_output = (config.max_output_tokens if config else None) or DEFAULT_OUTPUT_TOKENS
    request_id = new_request_id()
    call = ChatCall(
        client="gemini",
        body=body,
        model=model,
        stream=stream,
        endpoint="streamGenerateContent" if stream else "generateContent",
    )
    return await run_chat(
        request,
        gateway,
        key,
        info,
        call,
        max_output=max_output,
        passthrough=_untouched(body),
        request_id=request_id,
        headers={"x-request-id": request_id},
    )


async def _count(request: web.Request, model: str, stream: bool) -> web.StreamResponse:
    gateway, key = await _key(request)
    body = await read_body(request)
    resolve_model(gateway, key, model, CHAT)
    call = ChatCall(client="gemini", body=body, model=model, stream=False, endpoint="countTokens")
    counted = await count_tokens(gateway, call, _untouched(body))
    return web.Response(body=counted, content_type="application/json")


def _embed_builder(
    gateway: Gateway, body: bytes, model: str, wanted: embeddings.EmbedInput, single: bool
) -> BodyBuilder:
    def build(channel: Channel) -> tuple[bytes, str]:
        upstream = channel.upstream_model(model)
        vendor_format = wire_format(gateway, channel, "gemini")
        if vendor_format == "gemini":
            wrapped = embeddings.wrap_single(body, upstream) if single else None
            return wrapped or embeddings.retarget_batch(body, upstream), "application/json"
        codec = embeddings.embedding_codec(vendor_format)
        if codec is None:
            raise InvalidRequest(f"the model '{model}' cannot embed through this endpoint")
        return codec.encode_request(wanted, upstream), "application/json"

    return build


async def _embed(request: web.Request, model: str, single: bool) -> web.StreamResponse:
    gateway, key = await _key(request)
    body = await read_body(request)
    wanted = embeddings.GeminiEmbeddings().decode_request(body, single=single)
    info = resolve_model(gateway, key, model, EMBEDDING)
    estimate = embeddings.estimate_tokens(wanted.texts)
    endpoint = "embedContent" if single else "batchEmbedContents"
    meter = await hold(request, gateway, key, info, endpoint, Usage(prompt_tokens=estimate))
    build = _embed_builder(gateway, body, model, wanted, single)
    try:
        opened = await gateway.relay.open(model, Operation.EMBEDDING, build)
    except GatewayError as error:
        meter.finish(error.status, error=error.message)
        raise
    data = await read_upstream(opened, meter)
    tokens = estimate
    if opened.vendor.wire_format == "gemini":
        answer = embeddings.unwrap_single(data) if single else data
    else:
        codec = embeddings.embedding_codec(opened.vendor.wire_format)
        assert codec is not None  # the builder refused other formats
        try:
            vectors = codec.decode_response(data)
        except GatewayError as error:
            meter.finish(error.status, channel_id=opened.channel.id, error=error.message)
            raise
        tokens = vectors.tokens or estimate
        answer = embeddings.GeminiEmbeddings().encode_response(vectors, single=single, model=model)
    meter.finish(opened.response.status, Usage(prompt_tokens=tokens), channel_id=opened.channel.id)
    return web.Response(body=answer, status=opened.response.status, content_type="application/json")


async def _embed_one(request: web.Request, model: str, stream: bool) -> web.StreamResponse:
    return await _embed(request, model, single=True)


async def _embed_batch(request: web.Request, model: str, stream: bool) -> web.StreamResponse:
    return await _embed(request, model, single=False)


_Method = Callable[[web.Request, str, bool], Awaitable[web.StreamResponse]]
_HANDLERS: dict[str, tuple[_Method, bool]] = {
    "generateContent": (_generate, False),
    "streamGenerateContent": (_generate, True),
    "countTokens": (_count, False),
    "embedContent": (_embed_one, False),
    "batchEmbedContents": (_embed_batch, False),
}


@gemini_errors
async def model_method(request: web.Request) -> web.StreamResponse:
    model, _, method = request.match_info["target"].rpartition(":")
    found = _HANDLERS.get(method)
    if found is None or not model:
        raise NotFound(f"unknown method '{method}' (POST /v1beta/models/<model>:<method>)")
    handler, stream = found
    return await handler(request, model, stream)


def _model_entry(gateway: Gateway, name: str) -> dict[str, object]:
    kind = gateway.catalogue[name].kind
    return {
        "name": f"models/{name}",
        "displayName": name,
        "supportedGenerationMethods": _METHODS.get(kind, []),
    }


def _visible(gateway: Gateway, key: KeyRecord) -> list[str]:
    routable = gateway.router.models(key.group) & gateway.catalogue.keys()
    return sorted(n for n in routable if gateway.catalogue[n].kind in _METHODS and key.may_use(n))


@gemini_errors
async def list_models(request: web.Request) -> web.StreamResponse:
    gateway, key = await _key(request)
    return web.json_response({"models": [_model_entry(gateway, n) for n in _visible(gateway, key)]})


@gemini_errors
async def get_model(request: web.Request) -> web.StreamResponse:
    gateway, key = await _key(request)
    name = request.match_info["target"]
    if name not in _visible(gateway, key):
        raise NotFound(f"models/{name} is not found")
    return web.json_response(_model_entry(gateway, name))


@gemini_errors
async def unknown_route(request: web.Request) -> web.StreamResponse:
    raise NotFound(f"unknown URL ({request.method} {request.path})")


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/v1beta/models", list_models)
    router.add_get("/v1beta/models/{target}", get_model)
    router.add_post("/v1beta/models/{target}", model_method)
    # google-genai defaults to the stable ``v1`` API. Its POSTs are ours; GET /v1/models stays
    # the OpenAI model list, so registering before the OpenAI surface shadows nothing of it.
    router.add_post("/v1/models/{target}", model_method)
    router.add_route("*", "/v1beta/{tail:.*}", unknown_route)
