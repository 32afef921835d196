"""The OpenAI-compatible surface: ``/v1/chat/completions`` and friends.

Bodies are relayed as they came (unknown fields survive); the gateway decodes only what it
needs to route and bill, and re-encodes only when it must change a field (a mapped model
name, or asking a stream for its usage).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
import msgspec
from aiohttp import web

from omnirelay.api.chat import ChatCall, chat_builder, respond, translated
from omnirelay.api.common import (
    bearer_token,
    billed_tokens,
    decode_json,
    gateway_of,
    hold,
    malformed_upstream,
    read_body,
    renders_errors,
    resolve_model,
)
from omnirelay.api.embedding import embedding_builder, needs_translation, translate_answer
from omnirelay.api.streaming import relay_stream
from omnirelay.billing import Usage
from omnirelay.channels import Channel
from omnirelay.errors import GatewayError, InvalidRequest, NotFound, UpstreamError
from omnirelay.formats import multipart
from omnirelay.formats.audio import estimate_duration
from omnirelay.formats.codec import codec
from omnirelay.formats.openai.stream import UsageChunkFilter
from omnirelay.formats.openai.wire import (
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    SpeechRequest,
    WithDuration,
    WithUsage,
    encode_error,
    with_fields,
)
from omnirelay.gateway import Gateway
from omnirelay.keys import KeyRecord
from omnirelay.metering import Meter
from omnirelay.relay import BodyBuilder, Opened
from omnirelay.vendors import Operation

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger(__name__)
S = TypeVar("S", ChatRequest, CompletionRequest)

# When a client sets no output limit, hold quota for this many tokens per choice.
DEFAULT_OUTPUT_TOKENS = 4096
MAX_CHOICES = 128  # the most answers (`n`) one request may ask for
# Prompt estimates count about four bytes a token, capped so large images don't block a key.
PROMPT_ESTIMATE_CAP = 100_000
# The catalogue kinds each token endpoint serves.
_CHAT_KINDS = frozenset({"chat"})
_COMPLETION_KINDS = frozenset({"completion"})


def error_response(error: GatewayError, request_id: str | None = None) -> web.Response:
    headers = {}
    if error.retryable is not None:
        headers["x-should-retry"] = "true" if error.retryable else "false"
    if request_id:
        headers["x-request-id"] = request_id
    return web.Response(
        body=encode_error(error),
        status=error.status,
        content_type="application/json",
        headers=headers,
    )


# Every handler of this surface answers errors in the OpenAI error envelope.
openai_errors = renders_errors(error_response)


def _json_body_builder(body: bytes, model: str, **extra: object) -> BodyBuilder:
    def build(channel: Channel) -> tuple[bytes, str]:
        fields = dict(extra)
        upstream_model = channel.upstream_model(model)
        if upstream_model != model:
            fields["model"] = upstream_model
        return (with_fields(body, **fields) if fields else body), "application/json"

    return build


async def _read_upstream(opened: Opened, meter: Meter) -> bytes:
    try:
        return await opened.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        meter.finish(502, channel_id=opened.channel.id, error=f"upstream read: {exc!r}")
        raise UpstreamError(
            "the upstream connection broke before the response was complete"
        ) from exc
    finally:
        opened.response.release()


def _json_response(opened: Opened, data: bytes, request_id: str) -> web.Response:
    return web.Response(
        body=data,
        status=opened.response.status,
        headers={
            "Content-Type": opened.response.headers.get("Content-Type", "application/json"),
            "x-request-id": request_id,
        },
    )


async def _begin(request: web.Request) -> tuple[Gateway, KeyRecord, bytes]:
    gateway = gateway_of(request)
    key = await gateway.keys.authenticate(bearer_token(request))
    return gateway, key, await read_body(request)


async def _open(
    gateway: Gateway,
    meter: Meter,
    model: str,
    op: Operation,
    build: BodyBuilder,
    stream: bool = False,
) -> Opened:
    try:
        opened = await gateway.relay.open(model, op, build, stream=stream)
        if not stream:
            meter.mark_first_byte()  # the upstream answered; a stream counts its first event
        return opened
    except GatewayError as error:
        meter.finish(error.status, error=error.message)
        raise
    except Exception as exc:
        # Never leave a reservation held: settle at zero, then let the 500 handler answer.
        meter.finish(500, error=f"internal: {exc!r}")
        raise


async def _token_endpoint(
    request: web.Request, kind: type[S], operation: Operation, endpoint: str
) -> web.StreamResponse:
    gateway, key, body = await _begin(request)
    parsed = decode_json(body, kind)
    if isinstance(parsed, ChatRequest):
        if not parsed.messages:
            raise InvalidRequest("'messages' must contain at least one message", param="messages")
        max_out = parsed.max_completion_tokens or parsed.max_tokens or DEFAULT_OUTPUT_TOKENS
        kinds = _CHAT_KINDS
    else:
        max_out = parsed.max_tokens or DEFAULT_OUTPUT_TOKENS
        kinds = _COMPLETION_KINDS
    choices = max(parsed.n or 1, 1)
    if choices > MAX_CHOICES:
        raise InvalidRequest(f"'n' must be at most {MAX_CHOICES}", param="n")
    info = resolve_model(gateway, key, parsed.model, kinds)
    stream = bool(parsed.stream)
    client_wants_usage = bool(
        stream and parsed.stream_options and parsed.stream_options.include_usage
    )
    prompt_estimate = min(len(body) // 4, PROMPT_ESTIMATE_CAP)
    meter = await hold(
        request,
        gateway,
        key,
        info,
        endpoint,
        Usage(prompt_tokens=prompt_estimate, completion_tokens=max_out * choices),
        stream=stream,
    )
    request_id = meter.request_id
    extra: dict[str, object] = {}
    if stream and not client_wants_usage:
        extra["stream_options"] = {"include_usage": True}
    build = _json_body_builder(body, parsed.model, **extra)
    call = None
    if operation is Operation.CHAT:
        # Claude and Gemini models too: the body is translated for a vendor of another format.
        call = ChatCall("openai", body, parsed.model, stream, endpoint, client_wants_usage)
        build = chat_builder(gateway, call, build)
    opened = await _open(gateway, meter, parsed.model, operation, build, stream)
    if call is not None and translated(call, opened) is not None:
        return await respond(request, opened, meter, call, {"x-request-id": request_id})
    if stream:
        return await relay_stream(
            request,
            opened,
            meter,
            UsageChunkFilter(keep_usage_chunk=client_wants_usage),
            error_event=codec("openai").stream_error,
            headers={"x-request-id": request_id},
            prompt_estimate=prompt_estimate,
        )
    data = await _read_upstream(opened, meter)
    meter.finish(
        opened.response.status, _token_usage(data, prompt_estimate), channel_id=opened.channel.id
    )
    return _json_response(opened, data, request_id)


def _token_usage(data: bytes, prompt_estimate: int) -> Usage:
    try:
        reported = msgspec.json.decode(data, type=WithUsage).usage
    except msgspec.ValidationError:
        reported = None
    except msgspec.DecodeError as exc:
        # Not JSON at all: the client would get a broken answer; nothing is billed.
        raise malformed_upstream() from exc
    if reported is None:
        # An upstream that reports no usage is billed on estimates, never for free.
        return Usage(prompt_tokens=prompt_estimate, completion_tokens=len(data) // 4)
    return billed_tokens(reported.neutral())


@openai_errors
async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _token_endpoint(request, ChatRequest, Operation.CHAT, "chat.completions")


@openai_errors
async def completions(request: web.Request) -> web.StreamResponse:
    return await _token_endpoint(request, CompletionRequest, Operation.COMPLETION, "completions")


@openai_errors
async def embeddings(request: web.Request) -> web.StreamResponse:
    gateway, key, body = await _begin(request)
    parsed = decode_json(body, EmbeddingRequest)
    info = resolve_model(gateway, key, parsed.model, frozenset({"embedding"}))
    prompt_estimate = min(len(body) // 4, PROMPT_ESTIMATE_CAP)
    meter = await hold(
        request, gateway, key, info, "embeddings", Usage(prompt_tokens=prompt_estimate)
    )
    request_id = meter.request_id
    build = embedding_builder(gateway, body, parsed.model, _json_body_builder(body, parsed.model))
    opened = await _open(gateway, meter, parsed.model, Operation.EMBEDDING, build)
    data = await _read_upstream(opened, meter)
    if needs_translation(opened):  # a Gemini embedding model
        try:
            data, tokens = translate_answer(opened, body, data, parsed.model)
        except GatewayError as error:
            meter.finish(error.status, channel_id=opened.channel.id, error=error.message)
            raise
        meter.finish(
            opened.response.status, Usage(prompt_tokens=tokens), channel_id=opened.channel.id
        )
        return web.Response(body=data, content_type="application/json")
    meter.finish(
        opened.response.status, _token_usage(data, prompt_estimate), channel_id=opened.channel.id
    )
    return _json_response(opened, data, request_id)


@openai_errors
async def audio_speech(request: web.Request) -> web.StreamResponse:
    gateway, key, body = await _begin(request)
    parsed = decode_json(body, SpeechRequest)
    if not parsed.input:
        raise InvalidRequest("'input' must not be empty", param="input")
    info = resolve_model(gateway, key, parsed.model, frozenset({"speech"}))
    usage = Usage(characters=len(parsed.input))
    meter = await hold(request, gateway, key, info, "audio.speech", usage)
    request_id = meter.request_id
    opened = await _open(
        gateway, meter, parsed.model, Operation.SPEECH, _json_body_builder(body, parsed.model)
    )
    upstream = opened.response
    response = web.StreamResponse(
        status=upstream.status,
        headers={
            "Content-Type": upstream.headers.get("Content-Type", "application/octet-stream"),
            "x-request-id": request_id,
        },
    )
    status, error = upstream.status, None
    try:
        await response.prepare(request)
        async for chunk in upstream.content.iter_chunked(64 * 1024):
            await response.write(chunk)
        await response.write_eof()
    except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
        status, error = 502, f"audio relay broke: {exc!r}"
    finally:
        upstream.close()
        # Speech is priced per input character: a cut-off answer was still synthesised.
        meter.finish(status, usage, channel_id=opened.channel.id, error=error)
    return response


async def _transcribe(
    request: web.Request, operation: Operation, endpoint: str
) -> web.StreamResponse:
    gateway, key, body = await _begin(request)
    content_type = request.headers.get("Content-Type", "")
    try:
        # Uploads run to tens of MB: parse them beside the event loop, not on it.
        parts = await asyncio.to_thread(multipart.parse_form, body, content_type)
    except ValueError as exc:
        raise InvalidRequest(f"expected a multipart/form-data upload: {exc}") from exc
    model = multipart.field(parts, "model")
    upload = next((p for p in parts if p.name == "file" and p.filename is not None), None)
    if not model:
        raise InvalidRequest("the form field 'model' is required", param="model")
    if upload is None or not upload.data:
        raise InvalidRequest("the form field 'file' (an audio file) is required", param="file")
    info = resolve_model(gateway, key, model, frozenset({"transcription"}))
    estimated = estimate_duration(upload.data)
    meter = await hold(request, gateway, key, info, endpoint, Usage(seconds=estimated))
    request_id = meter.request_id

    def build(channel: Channel) -> tuple[bytes, str]:
        upstream_model = channel.upstream_model(model)
        if upstream_model == model:
            return body, content_type
        mapped = [
            multipart.Part("model", upstream_model.encode()) if p.name == "model" else p
            for p in parts
        ]
        return multipart.encode_form(mapped)

    opened = await _open(gateway, meter, model, operation, build)
    data = await _read_upstream(opened, meter)
    seconds = estimated
    if data.startswith(b"{"):
        try:
            seconds = msgspec.json.decode(data, type=WithDuration).duration or estimated
        except msgspec.MsgspecError:
            pass
    meter.finish(opened.response.status, Usage(seconds=seconds), channel_id=opened.channel.id)
    return _json_response(opened, data, request_id)


@openai_errors
async def audio_transcriptions(request: web.Request) -> web.StreamResponse:
    return await _transcribe(request, Operation.TRANSCRIPTION, "audio.transcriptions")


@openai_errors
async def audio_translations(request: web.Request) -> web.StreamResponse:
    return await _transcribe(request, Operation.TRANSLATION, "audio.translations")


def _model_entry(name: str, family: str, created: int) -> dict[str, object]:
    return {"id": name, "object": "model", "created": created, "owned_by": family}


def _visible_models(gateway: Gateway, key: KeyRecord) -> list[str]:
    names = gateway.router.models(key.group) & gateway.catalogue.keys()
    return sorted(name for name in names if key.may_use(name))


@openai_errors
async def list_models(request: web.Request) -> web.StreamResponse:
    gateway = gateway_of(request)
    key = await gateway.keys.authenticate(bearer_token(request))
    created = int(time.time())
    data = [
        _model_entry(name, gateway.catalogue[name].family, created)
        for name in _visible_models(gateway, key)
    ]
    return web.json_response({"object": "list", "data": data}, dumps=_dumps)


@openai_errors
async def retrieve_model(request: web.Request) -> web.StreamResponse:
    gateway = gateway_of(request)
    key = await gateway.keys.authenticate(bearer_token(request))
    name = request.match_info["model"]
    if name not in _visible_models(gateway, key):
        raise NotFound(f"the model '{name}' does not exist", code="model_not_found", param="model")
    entry = _model_entry(name, gateway.catalogue[name].family, int(time.time()))
    return web.json_response(entry, dumps=_dumps)


@openai_errors
async def unknown_route(request: web.Request) -> web.StreamResponse:
    raise NotFound(f"Invalid URL ({request.method} {request.path})", code="unknown_url")


def _dumps(value: object) -> str:
    return msgspec.json.encode(value).decode()


def add_routes(app: web.Application) -> None:
    """Every OpenAI route; ``/v1/images/generations`` (api/images.py) is added before this."""
    router = app.router
    router.add_post("/v1/chat/completions", chat_completions)
    router.add_post("/v1/completions", completions)
    router.add_post("/v1/embeddings", embeddings)
    router.add_post("/v1/audio/speech", audio_speech)
    router.add_post("/v1/audio/transcriptions", audio_transcriptions)
    router.add_post("/v1/audio/translations", audio_translations)
    router.add_get("/v1/models", list_models)
    router.add_get("/v1/models/{model:.+}", retrieve_model)
    router.add_route("*", "/v1/{tail:.*}", unknown_route)
