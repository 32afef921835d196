"""The OpenAI Responses API: ``POST /v1/responses``, ``GET`` and ``DELETE /v1/responses/{id}``,
``GET /v1/responses/{id}/input_items``.

Every chat model serves it. A channel whose vendor speaks the Responses API gets the client's
body as it came (unknown fields survive) and its answer is relayed untouched; any other
channel — a chat-completions-only OpenAI-compatible server, Claude, Gemini — gets the request
translated through the neutral pivot, and the gateway writes the Response itself. The gateway
keeps conversations (``store``, ``previous_response_id``) in its own database whatever vendor
answered, so a conversation may continue on another vendor; stored responses are private to
their key. Errors are OpenAI's envelope; mid-stream, an ``error`` event (then
``response.failed`` when the gateway writes the stream).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
from aiohttp import web

from omnirelay.api.chat import DEFAULT_OUTPUT_TOKENS, PROMPT_ESTIMATE_CAP, read_upstream
from omnirelay.api.chat import wire_format as channel_format
from omnirelay.api.common import (
    bearer_token,
    billed_tokens,
    decode_json,
    gateway_of,
    hold,
    read_body,
    resolve_model,
)
from omnirelay.api.openai import openai_errors
from omnirelay.api.streaming import StreamTransform, relay_stream
from omnirelay.billing import Usage
from omnirelay.channels import Channel
from omnirelay.errors import GatewayError, InvalidRequest, NotFound
from omnirelay.formats import neutral
from omnirelay.formats.codec import StreamTranslator, Translation, translation
from omnirelay.formats.openai import responses_items
from omnirelay.formats.openai.responses import ToolSet, answer_body, decode_with_tools
from omnirelay.formats.openai.responses_relay import ResponsesRelay
from omnirelay.formats.openai.responses_stream import ResponsesStreamEncoder
from omnirelay.formats.openai.responses_wire import Echo, Routing, WithUsage, given, new_id
from omnirelay.gateway import Gateway
from omnirelay.keys import KeyRecord
from omnirelay.metering import Meter
from omnirelay.relay import BodyBuilder, Fallback, Opened
from omnirelay.store.responses import ResponseStore
from omnirelay.vendors import Operation

log = logging.getLogger(__name__)

CHAT = frozenset({"chat"})
ENDPOINT = "responses"
CLIENT = "responses"  # the client's wire format, in the codec registry


@dataclass(slots=True)
class Turn:
    """One request to create a response, as the gateway understood it."""

    key: KeyRecord
    routing: Routing
    body: bytes  # what is sent: the client's body, after the earlier turns when it continues
    history: responses_items.Items = field(default_factory=list)
    own_items: responses_items.Items | None = None  # its own input, normalized
    _translated: tuple[neutral.Request, ToolSet] | None = field(default=None, repr=False)
    _echo: Echo | None = field(default=None, repr=False)

    @property
    def model(self) -> str:
        return self.routing.model

    @property
    def stream(self) -> bool:
        return bool(self.routing.stream)

    @property
    def store(self) -> bool:
        return self.routing.store is not False

    @property
    def prompt_estimate(self) -> int:
        return min(len(self.body) // 4, PROMPT_ESTIMATE_CAP)

    def neutral(self) -> tuple[neutral.Request, ToolSet]:
        """The request in the pivot form, decoded once however many channels are tried."""
        if self._translated is None:
            self._translated = decode_with_tools(self.body, model=self.model, stream=self.stream)
        return self._translated

    def echo(self) -> Echo:
        """What the gateway's own Response says besides the model's output."""
        if self._echo is None:
            self._echo = Echo.of(
                self.body,
                id=new_id("resp"),
                created_at=int(time.time()),
                model=self.model,
                previous_response_id=self.routing.previous_response_id,
                namespaced=self.neutral()[1].namespaced,
            )
        return self._echo

    def context(self) -> responses_items.Items:
        """The input items the response is made from, earlier turns included."""
        own = self.own_items
        if own is None:
            own = self.own_items = responses_items.input_items(self.body)
        return self.history + own


def _validate(routing: Routing) -> None:
    if not routing.model:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    if routing.background:
        raise InvalidRequest(
            "background responses are not supported by this gateway; stream instead",
            param="background",
        )
    if given(routing.conversation):
        raise InvalidRequest(
            "conversations are not supported by this gateway; use previous_response_id",
            param="conversation",
        )
    if not given(routing.input) and not given(routing.prompt) and not routing.previous_response_id:
        raise InvalidRequest("Missing required parameter: 'input'.", param="input")
    if routing.max_output_tokens is not None and routing.max_output_tokens < 1:
        raise InvalidRequest("'max_output_tokens' must be at least 1", param="max_output_tokens")


async def _turn(store: ResponseStore, key: KeyRecord, body: bytes, routing: Routing) -> Turn:
    previous = routing.previous_response_id
    if not previous:
        return Turn(key, routing, body)
    earlier = await store.get(key.id, previous)
    if earlier is None:
        raise InvalidRequest(
            f"Previous response with id '{previous}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    history = earlier.context + responses_items.replayable(earlier.output)
    continued, own = responses_items.continued_body(body, history)
    return Turn(key, routing, continued, history, own)


def _native_body(turn: Turn) -> BodyBuilder:
    def build(channel: Channel) -> tuple[bytes, str]:
        upstream_model = channel.upstream_model(turn.model)
        body = responses_items.for_openai(turn.body)
        if upstream_model != turn.model:
            document = msgspec.json.decode(body)
            document["model"] = upstream_model
            body = msgspec.json.encode(document)
        return body, "application/json"

    return build


def _translation(opened_format: str) -> Translation:
    found = translation(CLIENT, opened_format)
    if found is None:  # pragma: no cover - no vendor speaks this format through chat
        raise InvalidRequest("this model's channel cannot serve the Responses API")
    return found


def _translated_body(gateway: Gateway, turn: Turn) -> BodyBuilder:
    def build(channel: Channel) -> tuple[bytes, str]:
        found = _translation(channel_format(gateway, channel, "openai"))
        upstream_model = channel.upstream_model(turn.model)
        return found.request(turn.neutral()[0], upstream_model), "application/json"

    return build


def _billed(usage: neutral.Usage | None, turn: Turn, answer: bytes) -> Usage:
    if usage is None:
        # An upstream that reports no usage is billed on estimates, never for free.
        return Usage(prompt_tokens=turn.prompt_estimate, completion_tokens=len(answer) // 4)
    return billed_tokens(usage)


async def _keep(store: ResponseStore, turn: Turn, body: bytes) -> None:
    """Store an answered response for later turns and retrieval (when the client asked)."""
    if not turn.store:
        return
    try:
        response_id = msgspec.json.decode(body, type=_WithId).id
        if response_id:
            await store.save(turn.key.id, response_id, turn.model, turn.context(), body)
    except Exception:
        # The client has its answer, and was charged for it; losing the stored copy must not
        # turn that into an error.
        log.exception("storing response for key %s failed", turn.key.id)


class _WithId(msgspec.Struct):
    id: str = ""


async def _stream(
    request: web.Request,
    opened: Opened,
    meter: Meter,
    turn: Turn,
    store: ResponseStore,
    transform: StreamTransform,
    error_event: Callable[[GatewayError], bytes],
    final: Callable[[], bytes | None],
) -> web.StreamResponse:
    """Relay a stream; once it is complete, ``final`` is the Response to store."""

    async def keep() -> None:
        body = final()
        if body is not None:
            await _keep(store, turn, body)

    return await relay_stream(
        request,
        opened,
        meter,
        transform,
        error_event=error_event,
        headers={"x-request-id": meter.request_id},
        prompt_estimate=turn.prompt_estimate,
        on_complete=keep,
    )


async def _answer_native(
    request: web.Request, opened: Opened, meter: Meter, turn: Turn, store: ResponseStore
) -> web.StreamResponse:
    headers = {"x-request-id": meter.request_id}
    if turn.stream:
        relay = ResponsesRelay(turn.routing.previous_response_id)
        return await _stream(
            request, opened, meter, turn, store, relay, relay.fail, lambda: relay.final
        )
    data = await read_upstream(opened, meter)
    try:
        usage = msgspec.json.decode(data, type=WithUsage).usage
    except msgspec.MsgspecError:
        usage = None
    if turn.routing.previous_response_id is not None:
        document = msgspec.json.decode(data)
        if isinstance(document, dict):
            document["previous_response_id"] = turn.routing.previous_response_id
            data = msgspec.json.encode(document)
    billed = _billed(usage.neutral() if usage is not None else None, turn, data)
    meter.finish(opened.response.status, billed, channel_id=opened.channel.id)
    await _keep(store, turn, data)
    return web.Response(
        body=data,
        status=opened.response.status,
        headers={"Content-Type": "application/json", **headers},
    )


async def _answer_translated(
    request: web.Request, opened: Opened, meter: Meter, turn: Turn, store: ResponseStore
) -> web.StreamResponse:
    headers = {"x-request-id": meter.request_id}
    vendor = _translation(opened.vendor.wire_format).vendor
    if turn.stream:
        encoder = ResponsesStreamEncoder(turn.echo())
        translator = StreamTranslator(vendor.stream_decoder(), encoder)
        return await _stream(
            request,
            opened,
            meter,
            turn,
            store,
            translator,
            encoder.fail,
            lambda: msgspec.json.encode(encoder.conclude()),
        )
    data = await read_upstream(opened, meter)
    try:
        answer = vendor.decode_response(data)
    except GatewayError as error:
        meter.finish(error.status, channel_id=opened.channel.id, error=error.message)
        raise
    body = msgspec.json.encode(answer_body(answer, turn.echo()))
    meter.finish(
        opened.response.status, _billed(answer.usage, turn, data), channel_id=opened.channel.id
    )
    await _keep(store, turn, body)
    return web.Response(body=body, headers={"Content-Type": "application/json", **headers})


async def _begin(request: web.Request) -> tuple[Gateway, KeyRecord, ResponseStore]:
    gateway = gateway_of(request)
    key = await gateway.keys.authenticate(bearer_token(request))
    return gateway, key, ResponseStore(gateway.db)


@openai_errors
async def create_response(request: web.Request) -> web.StreamResponse:
    gateway, key, store = await _begin(request)
    body = await read_body(request)
    routing = decode_json(body, Routing)
    _validate(routing)
    info = resolve_model(gateway, key, routing.model, CHAT)
    turn = await _turn(store, key, body, routing)
    estimate = Usage(
        prompt_tokens=turn.prompt_estimate,
        completion_tokens=routing.max_output_tokens or DEFAULT_OUTPUT_TOKENS,
    )
    meter = await hold(request, gateway, key, info, ENDPOINT, estimate, stream=turn.stream)
    try:
        opened = await gateway.relay.open(
            turn.model,
            Operation.RESPONSES,
            _native_body(turn),
            stream=turn.stream,
            fallback=Fallback(Operation.CHAT, _translated_body(gateway, turn)),
        )
    except GatewayError as error:
        meter.finish(error.status, error=error.message)
        raise
    if opened.operation is Operation.RESPONSES:
        return await _answer_native(request, opened, meter, turn, store)
    return await _answer_translated(request, opened, meter, turn, store)


async def _stored(request: web.Request) -> tuple[ResponseStore, KeyRecord, str]:
    _, key, store = await _begin(request)
    return store, key, request.match_info["response_id"]


def _missing(response_id: str) -> NotFound:
    return NotFound(f"Response with id '{response_id}' not found.", code=None)


@openai_errors
async def retrieve_response(request: web.Request) -> web.StreamResponse:
    store, key, response_id = await _stored(request)
    found = await store.get(key.id, response_id)
    if found is None:
        raise _missing(response_id)
    return web.Response(body=found.body, content_type="application/json")


@openai_errors
async def delete_response(request: web.Request) -> web.StreamResponse:
    store, key, response_id = await _stored(request)
    if not await store.delete(key.id, response_id):
        raise _missing(response_id)
    body = {"id": response_id, "object": "response", "deleted": True}
    return web.Response(body=msgspec.json.encode(body), content_type="application/json")


def _page_size(raw: str | None) -> int:
    try:
        limit = int(raw) if raw is not None else 20
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise InvalidRequest("'limit' must be an integer between 1 and 100", param="limit")
    return limit


@openai_errors
async def list_input_items(request: web.Request) -> web.StreamResponse:
    store, key, response_id = await _stored(request)
    limit = _page_size(request.query.get("limit"))
    order = request.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("'order' must be 'asc' or 'desc'", param="order")
    found = await store.get(key.id, response_id)
    if found is None:
        raise _missing(response_id)
    items = found.context if order == "asc" else found.context[::-1]
    ids = [str(i.get("id", "")) for i in items]
    for cursor, keep_after in (("after", True), ("before", False)):
        value = request.query.get(cursor)
        if value is not None and value in ids:
            at = ids.index(value)
            items, ids = (items[at + 1 :], ids[at + 1 :]) if keep_after else (items[:at], ids[:at])
    page = items[:limit]
    body = {
        "object": "list",
        "data": page,
        "first_id": page[0].get("id") if page else None,
        "last_id": page[-1].get("id") if page else None,
        "has_more": len(items) > limit,
    }
    return web.Response(body=msgspec.json.encode(body), content_type="application/json")


def add_routes(app: web.Application) -> None:
    # Registered before the OpenAI surface, whose /v1/ catch-all would otherwise answer these.
    router = app.router
    router.add_post("/v1/responses", create_response)
    router.add_get("/v1/responses/{response_id}", retrieve_response)
    router.add_delete("/v1/responses/{response_id}", delete_response)
    router.add_get("/v1/responses/{response_id}/input_items", list_input_items)
