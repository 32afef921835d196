"""Anthropic message-stream events ↔ neutral stream events, incrementally.

Every event goes out with its ``event:`` line (the SDK ignores data without one). The closing
``message_delta`` waits for the end of the upstream stream because OpenAI reports usage only
after its finish reason. Thinking travels as its own blocks (``thinking_delta``, then the
``signature_delta`` that closes it; ``redacted_thinking`` whole).
"""

from __future__ import annotations

from typing import Any

import msgspec

from omnirelay.errors import UpstreamError
from omnirelay.formats import neutral
from omnirelay.formats.anthropic.request import ANSWER_TOOL, VALUE_TOOL
from omnirelay.formats.anthropic.wire import (
    STOP_NAMES,
    STOP_REASONS,
    Block,
    Response,
    Usage,
    message_document,
    stream_error,
    usage_document,
)
from omnirelay.formats.sse import data_of, encode_data
from omnirelay.formats.upstream_errors import malformed, map_status

# Anthropic's error types → the status they stand for, to map a mid-stream error like a reply.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class _Delta(msgspec.Struct):
    type: str | None = None
    text: str | None = None
    partial_json: str | None = None
    thinking: str | None = None
    signature: str | None = None
    stop_reason: str | None = None
    stop_sequence: str | None = None


class _Error(msgspec.Struct):
    type: str = "api_error"
    message: str = ""


class _Event(msgspec.Struct):
    type: str
    message: Response | None = None
    index: int = 0
    content_block: Block | None = None
    delta: _Delta | None = None
    usage: Usage | None = None
    error: _Error | None = None


def _merged(start: Usage, later: Usage) -> Usage:
    """message_delta counts are cumulative, and may leave out what message_start said."""
    return Usage(
        input_tokens=later.input_tokens if later.input_tokens is not None else start.input_tokens,
        output_tokens=later.output_tokens,
        cache_creation_input_tokens=(
            later.cache_creation_input_tokens
            if later.cache_creation_input_tokens is not None
            else start.cache_creation_input_tokens
        ),
        cache_read_input_tokens=(
            later.cache_read_input_tokens
            if later.cache_read_input_tokens is not None
            else start.cache_read_input_tokens
        ),
        cache_creation=later.cache_creation or start.cache_creation,
        output_tokens_details=later.output_tokens_details,
    )


class AnthropicStreamDecoder:
    __slots__ = ("_answer", "_calls", "_start", "_tools", "_value", "complete")

    def __init__(self) -> None:
        self._tools: dict[int, int] = {}  # content-block index → tool-call position
        self._answer: int | None = None  # the block of a structured answer given as a tool
        self._value: list[str] | None = None  # its fragments, when wrapped as ``value``
        self._start = Usage()
        self._calls = 0
        self.complete = False

    def feed(self, event: bytes) -> list[neutral.Event]:
        payload = data_of(event)
        if payload is None:
            return []
        try:
            item = msgspec.json.decode(payload, type=_Event)
        except msgspec.ValidationError:
            return []  # a shape we do not know: tolerated
        except msgspec.DecodeError:
            return [neutral.Failure(malformed("event"))]
        handler = _HANDLERS.get(item.type)
        return handler(self, item) if handler is not None else []

    def _message_start(self, item: _Event) -> list[neutral.Event]:
        message = item.message or Response()
        self._start = message.usage
        return [neutral.Start(message.id, message.model, message.usage.neutral().input_tokens)]

    def _block_start(self, item: _Event) -> list[neutral.Event]:
        block = item.content_block
        if block is None:
            return []
        if block.type == "tool_use" and block.name in (ANSWER_TOOL, VALUE_TOOL):
            self._answer = item.index
            self._value = [] if block.name == VALUE_TOOL else None
            return []
        if block.type == "tool_use":
            position = len(self._tools)
            self._tools[item.index] = position
            return [neutral.ToolStart(position, block.id or "", block.name or "")]
        if block.type == "text" and block.text:
            return [neutral.TextDelta(block.text)]
        if block.type == "thinking" and (block.thinking or block.signature):
            return [neutral.ThinkingDelta(block.thinking or "", block.signature or None)]
        if block.type == "redacted_thinking":
            return [neutral.ThinkingDelta(redacted=block.data or "")]
        return []

    def _block_delta(self, item: _Event) -> list[neutral.Event]:
        delta = item.delta
        if delta is None:
            return []
        kind = delta.type
        if kind == "text_delta" and delta.text:
            return [neutral.TextDelta(delta.text)]
        if kind == "input_json_delta" and delta.partial_json:
            if item.index == self._answer:
                if self._value is not None:
                    self._value.append(delta.partial_json)
                    return []
                return [neutral.TextDelta(delta.partial_json)]
            if item.index in self._tools:
                return [neutral.ToolDelta(self._tools[item.index], delta.partial_json)]
        if kind == "thinking_delta" and delta.thinking:
            return [neutral.ThinkingDelta(delta.thinking)]
        if kind == "signature_delta" and delta.signature:
            return [neutral.ThinkingDelta(signature=delta.signature)]
        return []

    def _block_stop(self, item: _Event) -> list[neutral.Event]:
        if item.index != self._answer or self._value is None:
            return []
        wrapped = neutral.arguments_object("".join(self._value))
        self._value = None
        return [neutral.TextDelta(msgspec.json.encode(wrapped.get("value")).decode())]

    def _message_delta(self, item: _Event) -> list[neutral.Event]:
        out: list[neutral.Event] = []
        if item.delta is not None and item.delta.stop_reason:
            stop = STOP_REASONS.get(item.delta.stop_reason, neutral.StopReason.END)
            if stop is neutral.StopReason.TOOL and not self._tools:
                stop = neutral.StopReason.END  # only the answer tool was called
            out.append(neutral.Finish(stop, item.delta.stop_sequence))
        if item.usage is not None:
            out.append(_merged(self._start, item.usage).neutral())
        return out

    def _message_stop(self, item: _Event) -> list[neutral.Event]:
        self.complete = True
        return []

    def _error(self, item: _Event) -> list[neutral.Event]:
        error = item.error or _Error()
        mapped = map_status(_ERROR_STATUS.get(error.type, 500), error.message)
        if not isinstance(mapped, UpstreamError):
            mapped = UpstreamError(f"the upstream failed mid-stream: {error.message}")
        return [neutral.Failure(mapped)]


_HANDLERS = {
    "message_start": AnthropicStreamDecoder._message_start,
    "content_block_start": AnthropicStreamDecoder._block_start,
    "content_block_delta": AnthropicStreamDecoder._block_delta,
    "content_block_stop": AnthropicStreamDecoder._block_stop,
    "message_delta": AnthropicStreamDecoder._message_delta,
    "message_stop": AnthropicStreamDecoder._message_stop,
    "error": AnthropicStreamDecoder._error,
}


def _event(name: str, data: dict[str, Any]) -> bytes:
    return encode_data(msgspec.json.encode({"type": name, **data}), event=name)


def delta_usage(usage: neutral.Usage) -> dict[str, Any]:
    """``message_delta``'s usage: the cumulative counts, as the published schema has them."""
    whole = usage_document(usage)
    fields = (
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "output_tokens",
        "output_tokens_details",
        "server_tool_use",
    )
    return {name: whole[name] for name in fields}


class AnthropicStreamEncoder:
    """Writes message_start, one content block at a time, then message_delta/message_stop."""

    __slots__ = (
        "_blocks",
        "_finish",
        "_id",
        "_kind",
        "_model",
        "_open",
        "_started",
        "_tools",
        "_usage",
    )

    def __init__(self, model: str, message_id: str) -> None:
        self._model = model
        self._id = message_id
        self._started = False
        self._blocks = 0  # blocks opened so far
        self._open: int | None = None  # index of the open block
        self._kind: str | None = None  # its type
        self._tools: dict[int, int] = {}  # tool-call position → block index
        self._finish: neutral.Finish | None = None
        self._usage: neutral.Usage | None = None

    def _start(self, input_tokens: int | None) -> list[bytes]:
        self._started = True
        usage = neutral.Usage(input_tokens=input_tokens or 0)
        message = message_document(self._id, self._model, [], usage, None, None)
        return [_event("message_start", {"message": message}), _event("ping", {})]

    def _close(self) -> list[bytes]:
        if self._open is None:
            return []
        index, self._open, self._kind = self._open, None, None
        return [_event("content_block_stop", {"index": index})]

    def _open_block(self, block: dict[str, Any]) -> list[bytes]:
        out = self._close()
        self._open = self._blocks
        self._kind = block["type"]
        self._blocks += 1
        out.append(_event("content_block_start", {"index": self._open, "content_block": block}))
        return out

    def _delta(self, delta: dict[str, Any], index: int | None = None) -> bytes:
        where = self._open if index is None else index
        return _event("content_block_delta", {"index": where, "delta": delta})

    def _thinking(self, event: neutral.ThinkingDelta) -> list[bytes]:
        if event.redacted is not None:
            out = self._open_block({"type": "redacted_thinking", "data": event.redacted})
            return out + self._close()
        out = []
        if self._kind != "thinking":
            out += self._open_block({"type": "thinking", "thinking": "", "signature": ""})
        if event.text:
            out.append(self._delta({"type": "thinking_delta", "thinking": event.text}))
        if event.signature:
            out.append(self._delta({"type": "signature_delta", "signature": event.signature}))
            out += self._close()  # a signature ends its thinking block
        return out

    def feed(self, event: neutral.Event) -> list[bytes]:
        out: list[bytes] = []
        if isinstance(event, neutral.Failure):
            return [stream_error(event.error)]
        if isinstance(event, neutral.Usage):
            self._usage = event
            return []
        if not self._started:
            out += self._start(event.input_tokens if isinstance(event, neutral.Start) else None)
        if isinstance(event, neutral.TextDelta):
            if self._kind != "text":
                out += self._open_block({"type": "text", "text": "", "citations": None})
            out.append(self._delta({"type": "text_delta", "text": event.text}))
        elif isinstance(event, neutral.ThinkingDelta):
            out += self._thinking(event)
        elif isinstance(event, neutral.ToolStart):
            block = {"type": "tool_use", "id": event.id, "name": event.name, "input": {}}
            out += self._open_block(block)
            assert self._open is not None
            self._tools[event.index] = self._open
        elif isinstance(event, neutral.ToolDelta) and event.index in self._tools:
            delta = {"type": "input_json_delta", "partial_json": event.fragment}
            out.append(self._delta(delta, self._tools[event.index]))
        elif isinstance(event, neutral.Finish):
            self._finish = event
        return out

    def finish(self) -> list[bytes]:
        out = [] if self._started else self._start(None)
        out += self._close()
        finish = self._finish or neutral.Finish(neutral.StopReason.END)
        stop = STOP_NAMES[finish.stop]
        delta = {
            "stop_reason": stop,
            "stop_sequence": finish.stop_sequence if stop == "stop_sequence" else None,
            "stop_details": None,
            "container": None,
        }
        usage = delta_usage(self._usage or neutral.Usage())
        out.append(_event("message_delta", {"delta": delta, "usage": usage}))
        out.append(_event("message_stop", {}))
        return out
