"""Anthropic Messages ↔ the neutral pivot: answers, usage, token counts, and the codec
(requests: ``request.py``; streams: ``stream.py``).

Answers are written in the current published shape whichever vendor served them: every field
of the message, its usage (cache counts and their 5-minute/1-hour split, service tier) and its
blocks (text with ``citations``, thinking with its signature).
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from omnirelay.errors import GatewayError
from omnirelay.formats import neutral
from omnirelay.formats.anthropic.request import (
    ANSWER_TOOLS,
    VALUE_TOOL,
    decode_request,
    encode_request,
    prompt,
)
from omnirelay.formats.anthropic.stream import AnthropicStreamDecoder, AnthropicStreamEncoder
from omnirelay.formats.anthropic.wire import (
    STOP_NAMES,
    STOP_REASONS,
    Block,
    CountResponse,
    Response,
    WithUsage,
    encode_error,
    message_document,
    stream_error,
)
from omnirelay.formats.decoding import decode_upstream


def answer_text(block: Block) -> str:
    """The JSON text of a structured answer given through the forced answer tool."""
    value = block.input if block.name != VALUE_TOOL else (block.input or {}).get("value")
    return msgspec.json.encode(value).decode()


def _answer_part(block: Block) -> neutral.AnswerPart | None:
    kind = block.type
    if kind == "text":
        return neutral.Text(block.text) if block.text else None
    if kind == "tool_use":
        if block.name in ANSWER_TOOLS:
            return neutral.Text(answer_text(block))
        arguments = msgspec.json.encode(block.input or {}).decode()
        return neutral.ToolCall(block.id or "", block.name or "", arguments)
    if kind == "thinking":
        return neutral.Thinking(block.thinking or "", signature=block.signature)
    if kind == "redacted_thinking":
        return neutral.Thinking("", redacted=block.data or "")
    return None


def decode_response(body: bytes) -> neutral.Response:
    raw = decode_upstream(body, Response)
    parts = [p for p in map(_answer_part, raw.content) if p is not None]
    stop = STOP_REASONS.get(raw.stop_reason or "end_turn", neutral.StopReason.END)
    if stop is neutral.StopReason.TOOL and not any(isinstance(p, neutral.ToolCall) for p in parts):
        stop = neutral.StopReason.END  # the tool called was the answer tool
    return neutral.Response(
        id=raw.id,
        model=raw.model,
        parts=parts,
        stop=stop,
        stop_sequence=raw.stop_sequence,
        usage=raw.usage.neutral(),
    )


def new_id() -> str:
    return "msg_" + secrets.token_hex(12)


def content_block(part: neutral.AnswerPart) -> dict[str, Any]:
    if isinstance(part, neutral.Text):
        return {"type": "text", "text": part.text, "citations": None}
    if isinstance(part, neutral.Thinking):
        if part.redacted is not None:
            return {"type": "redacted_thinking", "data": part.redacted}
        return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}
    return {
        "type": "tool_use",
        "id": part.id,
        "name": part.name,
        "input": neutral.arguments_object(part.arguments),
    }


def encode_response(response: neutral.Response, model: str) -> bytes:
    stop = STOP_NAMES[response.stop]
    return msgspec.json.encode(
        message_document(
            new_id(),
            model,
            [content_block(p) for p in response.parts],
            response.usage,
            stop,
            response.stop_sequence if stop == "stop_sequence" else None,
        )
    )


class AnthropicCodec:
    name = "anthropic"

    def decode_request(self, body: bytes, *, model: str, stream: bool) -> neutral.Request:
        return decode_request(body, model=model, stream=stream)

    def encode_request(self, request: neutral.Request, model: str) -> bytes:
        return encode_request(request, model)

    def decode_response(self, body: bytes) -> neutral.Response:
        return decode_response(body)

    def encode_response(self, response: neutral.Response, model: str) -> bytes:
        return encode_response(response, model)

    def usage_of(self, body: bytes) -> neutral.Usage | None:
        try:
            usage = msgspec.json.decode(body, type=WithUsage).usage
        except msgspec.MsgspecError:
            return None
        return None if usage is None else usage.neutral()

    def stream_decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder()

    def stream_encoder(self, model: str, *, include_usage: bool = False) -> AnthropicStreamEncoder:
        return AnthropicStreamEncoder(model, new_id())

    def error_body(self, error: GatewayError) -> bytes:
        return encode_error(error)

    def stream_error(self, error: GatewayError) -> bytes:
        return stream_error(error)

    def decode_count_request(self, body: bytes, *, model: str) -> neutral.Request:
        return decode_request(body, model=model, stream=False)

    def encode_count_request(self, request: neutral.Request, model: str) -> bytes | None:
        return msgspec.json.encode(prompt(request, model))

    def decode_count_response(self, body: bytes) -> int:
        return decode_upstream(body, CountResponse).input_tokens

    def encode_count_response(self, tokens: int) -> bytes:
        return msgspec.json.encode({"input_tokens": tokens})
