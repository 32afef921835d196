"""The chat flow every client surface shares once it has understood a request: reserve quota,
send to the model's channels (translating the body for a vendor that speaks another format),
answer in the client's format, settle with the real usage.

When client and vendor speak the same format the body is the client's own (fields the gateway
does not know survive) and the answer is relayed untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from omnirelay.api.common import billed_tokens, check_well_formed, hold
from omnirelay.api.streaming import relay_stream
from omnirelay.billing import Usage
from omnirelay.catalogue import ModelInfo
from omnirelay.channels import Channel
from omnirelay.errors import GatewayError, UpstreamError
from omnirelay.formats import neutral
from omnirelay.formats.codec import Translation, codec, stream_passthrough, translation
from omnirelay.gateway import Gateway
from omnirelay.keys import KeyRecord
from omnirelay.metering import Meter
from omnirelay.relay import BodyBuilder, Opened
from omnirelay.vendors import Operation, Vendor

# When a client sets no output limit, hold quota for this many tokens.
DEFAULT_OUTPUT_TOKENS = 4096
# Prompt estimates count about four bytes a token, capped so large images don't block a key.
PROMPT_ESTIMATE_CAP = 100_000


@dataclass(slots=True)
class ChatCall:
    """One chat request as a client surface understood it."""

    client: str  # the client's wire format
    body: bytes
    model: str
    stream: bool
    endpoint: str
    include_usage: bool = False  # OpenAI clients that asked for the usage chunk
    # Protocol headers the client sent (e.g. anthropic-beta), for vendors of its own format.
    forward_headers: Mapping[str, str] = field(default_factory=dict)
    _neutral: neutral.Request | None = field(default=None, repr=False)

    def neutral(self) -> neutral.Request:
        """The request in the pivot form, decoded once however many channels are tried."""
        if self._neutral is None:
            self._neutral = codec(self.client).decode_request(
                self.body, model=self.model, stream=self.stream
            )
        return self._neutral

    def headers_for(self, vendor: Vendor) -> Mapping[str, str]:
        return self.forward_headers if vendor.wire_format == self.client else {}

    @property
    def prompt_estimate(self) -> int:
        return min(len(self.body) // 4, PROMPT_ESTIMATE_CAP)


def wire_format(gateway: Gateway, channel: Channel, default: str) -> str:
    vendor = gateway.vendors.get(channel.vendor)
    return vendor.wire_format if vendor is not None else default


def chat_builder(gateway: Gateway, call: ChatCall, passthrough: BodyBuilder) -> BodyBuilder:
    """Per channel: the client's body as is, or translated for the vendor's format."""

    info = gateway.catalogue.get(call.model)
    limit = info.max_output_tokens if info is not None else None

    def build(channel: Channel) -> tuple[bytes, str]:
        found = translation(call.client, wire_format(gateway, channel, call.client))
        if found is None:
            return passthrough(channel)
        request = call.neutral()
        if limit is not None and request.max_tokens is not None and request.max_tokens > limit:
            # A client sized for another vendor's models (Claude Code asks 32,000 of any
            # model) would be refused by this one.
            request.max_tokens = limit
        return found.request(request, channel.upstream_model(call.model)), "application/json"

    return build


def translated(call: ChatCall, opened: Opened) -> Translation | None:
    return translation(call.client, opened.vendor.wire_format)


async def start_meter(
    request: web.Request,
    gateway: Gateway,
    key: KeyRecord,
    info: ModelInfo,
    call: ChatCall,
    max_output: int,
    request_id: str,
) -> Meter:
    if info.max_output_tokens is not None:
        max_output = min(max_output, info.max_output_tokens)  # no answer is longer
    estimate = Usage(prompt_tokens=call.prompt_estimate, completion_tokens=max_output)
    return await hold(
        request,
        gateway,
        key,
        info,
        call.endpoint,
        estimate,
        stream=call.stream,
        request_id=request_id,
    )


async def open_upstream(
    gateway: Gateway, meter: Meter, call: ChatCall, operation: Operation, build: BodyBuilder
) -> Opened:
    try:
        opened = await gateway.relay.open(
            call.model, operation, build, stream=call.stream, headers_for=call.headers_for
        )
    except GatewayError as error:
        meter.finish(error.status, error=error.message)
        raise
    if not call.stream:
        meter.mark_first_byte()  # the upstream answered; a stream counts its first event
    return opened


async def read_upstream(opened: Opened, meter: Meter | None) -> bytes:
    try:
        return await opened.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        if meter is not None:
            meter.finish(502, channel_id=opened.channel.id, error=f"upstream read: {exc!r}")
        raise UpstreamError(
            "the upstream connection broke before the response was complete"
        ) from exc
    finally:
        opened.response.release()


async def respond(
    request: web.Request,
    opened: Opened,
    meter: Meter,
    call: ChatCall,
    headers: Mapping[str, str],
) -> web.StreamResponse:
    """Answer the client in its format, from whatever format the vendor answered in."""
    found = translated(call, opened)
    client = codec(call.client)
    if call.stream:
        transform = (
            found.stream(call.model, include_usage=call.include_usage)
            if found is not None
            else stream_passthrough(call.client)
        )
        return await relay_stream(
            request,
            opened,
            meter,
            transform,
            error_event=client.stream_error,
            headers=headers,
            prompt_estimate=call.prompt_estimate,
        )
    data = await read_upstream(opened, meter)
    usage: neutral.Usage | None
    if found is None:
        usage = client.usage_of(data)
        if usage is None:
            check_well_formed(data)
    else:
        try:
            data, usage = found.response(data, call.model)
        except GatewayError as error:
            meter.finish(error.status, channel_id=opened.channel.id, error=error.message)
            raise
    billed = (
        billed_tokens(usage)
        if usage is not None
        # An upstream that reports no usage is billed on estimates, never for free.
        else Usage(prompt_tokens=call.prompt_estimate, completion_tokens=len(data) // 4)
    )
    meter.finish(opened.response.status, billed, channel_id=opened.channel.id)
    return web.Response(
        body=data,
        status=opened.response.status,
        headers={"Content-Type": "application/json", **headers},
    )


async def run_chat(
    request: web.Request,
    gateway: Gateway,
    key: KeyRecord,
    info: ModelInfo,
    call: ChatCall,
    *,
    max_output: int,
    passthrough: BodyBuilder,
    request_id: str,
    headers: Mapping[str, str],
) -> web.StreamResponse:
    """The whole chat lifecycle for the Anthropic and Gemini surfaces."""
    meter = await start_meter(request, gateway, key, info, call, max_output, request_id)
    build = chat_builder(gateway, call, passthrough)
    opened = await open_upstream(gateway, meter, call, Operation.CHAT, build)
    return await respond(request, opened, meter, call, headers)


def _counts_upstream(gateway: Gateway, model: str) -> bool:
    for channel in gateway.router.candidates(model):
        vendor = gateway.vendors.get(channel.vendor)
        if vendor is not None and Operation.COUNT_TOKENS in vendor.operations:
            return True
    return False


async def count_tokens(gateway: Gateway, call: ChatCall, passthrough: BodyBuilder) -> bytes:
    """Count a prompt's tokens in the client's format: by the vendor's counting endpoint when
    one of the model's channels has one, else a local estimate. Counting is free, as at the
    vendors, so it is not metered."""
    client = codec(call.client)
    prompt = client.decode_count_request(call.body, model=call.model)
    if not _counts_upstream(gateway, call.model):
        return client.encode_count_response(neutral.estimate_tokens(prompt))

    def build(channel: Channel) -> tuple[bytes, str]:
        vendor_format = wire_format(gateway, channel, call.client)
        if vendor_format == call.client:
            return passthrough(channel)
        body = codec(vendor_format).encode_count_request(prompt, channel.upstream_model(call.model))
        return body or b"{}", "application/json"

    opened = await gateway.relay.open(
        call.model, Operation.COUNT_TOKENS, build, headers_for=call.headers_for
    )
    data = await read_upstream(opened, None)
    if opened.vendor.wire_format == call.client:
        return data
    tokens = codec(opened.vendor.wire_format).decode_count_response(data)
    return client.encode_count_response(tokens)
