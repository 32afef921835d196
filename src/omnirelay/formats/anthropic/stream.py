"""Anthropic message-stream events ↔ neutral stream events, incrementally.

Every event goes out with its ``event:`` line (the SDK ignores data without one). The closing
``message_delta`` waits for the end of the upstream stream because OpenAI reports usage only
after its finish reason.
"""

from __future__ import annotations

from typing import Any

import msgspec

from omnirelay.errors import UpstreamError
from omnirelay.formats import neutral
from omnirelay.formats.anthropic.wire import (
    STOP_NAMES,
    STOP_REASONS,
    Block,
    Response,
    Usage,
    stream_error,
)
from omnirelay.formats.sse import data_of, encode_data
from omnirelay.formats.upstream_errors import map_status

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


class AnthropicStreamDecoder:
    __slots__ = ("_input", "_stop", "_tools", "complete")

    def __init__(self) -> None:
        self._tools: dict[int, int] = {}  # content-block index → tool-call position
        self._input = 0
        self._stop: neutral.Finish | None = None
        self.complete = False

    def feed(self, event: bytes) -> list[neutral.Event]:
        payload = data_of(event)
        if payload is None:
            return []
        try:
            item = msgspec.json.decode(payload, type=_Event)
        except msgspec.MsgspecError:
            return []
        handler = _HANDLERS.get(item.type)
        return handler(self, item) if handler is not None else []

    def _start(self, item: _Event) -> list[neutral.Event]:
        message = item.message or Response()
        self._input = message.usage.neutral().input_tokens
        return [neutral.Start(message.id, message.model, self._input)]

    def _block_start(self, item: _Event) -> list[neutral.Event]:
        block = item.content_block
        if block is None:
            return []
        if block.type == "tool_use":
            position = len(self._tools)
            self._tools[item.index] = position
            return [neutral.ToolStart(position, block.id or "", block.name or "")]
        if block.type == "text" and block.text:
            return [neutral.TextDelta(block.text)]
        return []

    def _block_delta(self, item: _Event) -> list[neutral.Event]:
        delta = item.delta
        if delta is None:
            return []
        if delta.type == "text_delta" and delta.text:
            return [neutral.TextDelta(delta.text)]
        if delta.type == "input_json_delta" and delta.partial_json and item.index in self._tools:
            return [neutral.ToolDelta(self._tools[item.index], delta.partial_json)]
        return []

    def _message_delta(self, item: _Event) -> list[neutral.Event]:
        out: list[neutral.Event] = []
        if item.delta is not None and item.delta.stop_reason:
            stop = STOP_REASONS.get(item.delta.stop_reason, neutral.StopReason.END)
            out.append(neutral.Finish(stop, item.delta.stop_sequence))
        if item.usage is not None:
            # message_delta counts are cumulative; input may be restated or left out.
            usage = item.usage.neutral()
            out.append(neutral.Usage(usage.input_tokens or self._input, usage.output_tokens))
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
    "message_start": AnthropicStreamDecoder._start,
    "content_block_start": AnthropicStreamDecoder._block_start,
    "content_block_delta": AnthropicStreamDecoder._block_delta,
    "message_delta": AnthropicStreamDecoder._message_delta,
    "message_stop": AnthropicStreamDecoder._message_stop,
    "error": AnthropicStreamDecoder._error,
}


def _event(name: str, data: dict[str, Any]) -> bytes:
    return encode_data(msgspec.json.encode({"type": name, **data}), event=name)


class AnthropicStreamEncoder:
    """Writes message_start, one content block at a time, then message_delta/message_stop."""

    __slots__ = ("_blocks", "_finish", "_id", "_model", "_open", "_started", "_tools", "_usage")

    def __init__(self, model: str, message_id: str) -> None:
        self._model = model
        self._id = message_id
        self._started = False
        self._blocks = 0  # blocks opened so far
        self._open: int | None = None  # index of the open block
        self._tools: dict[int, int] = {}  # tool-call position → block index
        self._finish: neutral.Finish | None = None
        self._usage: neutral.Usage | None = None

    def _start(self, input_tokens: int | None) -> list[bytes]:
        self._started = True
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens or 0, "output_tokens": 0},
        }
        return [_event("message_start", {"message": message}), _event("ping", {})]

    def _close(self) -> list[bytes]:
        if self._open is None:
            return []
        index, self._open = self._open, None
        return [_event("content_block_stop", {"index": index})]

    def _open_block(self, block: dict[str, Any]) -> list[bytes]:
        out = self._close()
        self._open = self._blocks
        self._blocks += 1
        out.append(_event("content_block_start", {"index": self._open, "content_block": block}))
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
            if self._open is None or self._open in self._tools.values():
                out += self._open_block({"type": "text", "text": ""})
            delta = {"type": "text_delta", "text": event.text}
            out.append(_event("content_block_delta", {"index": self._open, "delta": delta}))
        elif isinstance(event, neutral.ToolStart):
            block = {"type": "tool_use", "id": event.id, "name": event.name, "input": {}}
            out += self._open_block(block)
            assert self._open is not None
            self._tools[event.index] = self._open
        elif isinstance(event, neutral.ToolDelta) and event.index in self._tools:
            delta = {"type": "input_json_delta", "partial_json": event.fragment}
            index = self._tools[event.index]
            out.append(_event("content_block_delta", {"index": index, "delta": delta}))
        elif isinstance(event, neutral.Finish):
            self._finish = event
        return out

    def finish(self) -> list[bytes]:
        out = [] if self._started else self._start(None)
        out += self._close()
        finish = self._finish or neutral.Finish(neutral.StopReason.END)
        usage = self._usage or neutral.Usage()
        stop = STOP_NAMES[finish.stop]
        delta = {
            "stop_reason": stop,
            "stop_sequence": finish.stop_sequence if stop == "stop_sequence" else None,
        }
        counts = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
        out.append(_event("message_delta", {"delta": delta, "usage": counts}))
        out.append(_event("message_stop", {}))
        return out
