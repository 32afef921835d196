"""OpenAI chat-completion chunks ↔ neutral stream events, incrementally."""

from __future__ import annotations

import secrets
import time
from typing import Any

import msgspec

from omnirelay.errors import GatewayError, UpstreamError
from omnirelay.formats import neutral
from omnirelay.formats.openai.wire import StreamChunk, Usage, encode_error
from omnirelay.formats.sse import DONE, data_of, encode_data
from omnirelay.formats.upstream_errors import malformed


class _Function(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolDelta(msgspec.Struct):
    index: int = 0
    id: str | None = None
    function: _Function | None = None


class _Delta(msgspec.Struct):
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[_ToolDelta] | None = None
    reasoning_content: str | None = None


class _Choice(msgspec.Struct):
    index: int = 0
    delta: _Delta = msgspec.field(default_factory=_Delta)
    finish_reason: str | None = None


class _Error(msgspec.Struct):
    message: str = ""


class _Chunk(msgspec.Struct):
    id: str = ""
    model: str = ""
    choices: list[_Choice] = []
    usage: Usage | None = None
    error: _Error | None = None


FINISH_REASONS: dict[str, neutral.StopReason] = {
    "stop": neutral.StopReason.END,
    "length": neutral.StopReason.LENGTH,
    "tool_calls": neutral.StopReason.TOOL,
    "function_call": neutral.StopReason.TOOL,
    "content_filter": neutral.StopReason.FILTER,
}
FINISH_NAMES: dict[neutral.StopReason, str] = {
    neutral.StopReason.END: "stop",
    neutral.StopReason.STOP_SEQUENCE: "stop",
    neutral.StopReason.LENGTH: "length",
    neutral.StopReason.TOOL: "tool_calls",
    neutral.StopReason.FILTER: "content_filter",
}


def new_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def usage_document(usage: neutral.Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


class OpenAIStreamDecoder:
    __slots__ = ("_started", "complete")

    def __init__(self) -> None:
        self._started = False
        self.complete = False

    def feed(self, event: bytes) -> list[neutral.Event]:
        if event == DONE:
            self.complete = True
            return []
        payload = data_of(event)
        if payload is None:
            return []
        try:
            chunk = msgspec.json.decode(payload, type=_Chunk)
        except msgspec.ValidationError:
            return []  # a shape we do not know: tolerated
        except msgspec.DecodeError:
            return [neutral.Failure(malformed("event"))]
        if chunk.error is not None:
            return [neutral.Failure(UpstreamError(f"the upstream failed: {chunk.error.message}"))]
        out: list[neutral.Event] = []
        if not self._started:
            self._started = True
            out.append(neutral.Start(chunk.id, chunk.model))
        for choice in chunk.choices[:1]:  # translation serves one choice
            out += _choice_events(choice)
        if chunk.usage is not None:
            out.append(chunk.usage.neutral())
        return out


def _choice_events(choice: _Choice) -> list[neutral.Event]:
    out: list[neutral.Event] = []
    delta = choice.delta
    if delta.reasoning_content:
        out.append(neutral.ThinkingDelta(delta.reasoning_content))
    text = delta.content or delta.refusal
    if text:
        out.append(neutral.TextDelta(text))
    for call in delta.tool_calls or ():
        function = call.function or _Function()
        if call.id:
            out.append(neutral.ToolStart(call.index, call.id, function.name or ""))
        if function.arguments:
            out.append(neutral.ToolDelta(call.index, function.arguments))
    if choice.finish_reason:
        out.append(neutral.Finish(FINISH_REASONS.get(choice.finish_reason, neutral.StopReason.END)))
    return out


class OpenAIStreamEncoder:
    """Writes chunks as OpenAI does: same id and created on each, ``[DONE]`` at the end."""

    __slots__ = ("_base", "_include_usage", "_started", "_usage")

    def __init__(self, model: str, *, include_usage: bool = False) -> None:
        self._base: dict[str, Any] = {
            "id": new_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        self._include_usage = include_usage
        self._started = False
        self._usage: neutral.Usage | None = None

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {
            **self._base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self._include_usage:
            chunk["usage"] = None
        return encode_data(msgspec.json.encode(chunk))

    def feed(self, event: neutral.Event) -> list[bytes]:
        out: list[bytes] = []
        if not self._started and not isinstance(event, neutral.Usage | neutral.Failure):
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))
        if isinstance(event, neutral.TextDelta):
            out.append(self._chunk({"content": event.text}))
        elif isinstance(event, neutral.ThinkingDelta):
            if event.text:  # signatures have no place in this format
                out.append(self._chunk({"reasoning_content": event.text}))
        elif isinstance(event, neutral.ToolStart):
            call = {
                "index": event.index,
                "id": event.id,
                "type": "function",
                "function": {"name": event.name, "arguments": ""},
            }
            out.append(self._chunk({"tool_calls": [call]}))
        elif isinstance(event, neutral.ToolDelta):
            call = {"index": event.index, "function": {"arguments": event.fragment}}
            out.append(self._chunk({"tool_calls": [call]}))
        elif isinstance(event, neutral.Finish):
            out.append(self._chunk({}, FINISH_NAMES[event.stop]))
        elif isinstance(event, neutral.Usage):
            self._usage = event
        elif isinstance(event, neutral.Failure):
            out.append(encode_data(encode_error(event.error)))
        return out

    def finish(self) -> list[bytes]:
        out: list[bytes] = []
        if self._include_usage:
            usage = self._usage or neutral.Usage()
            chunk = {**self._base, "choices": [], "usage": usage_document(usage)}
            out.append(encode_data(msgspec.json.encode(chunk)))
        out.append(DONE)
        return out


_USAGE_MARK = b'"usage":{'
# What makes ``UsageChunkFilter.feed`` read an event rather than pass it.
_USAGE_MARKS = (_USAGE_MARK, b'"usage": {')


class UsageChunkFilter:
    """The OpenAI-to-OpenAI stream transform: events pass untouched, the usage is read from the
    usage chunk, and that chunk is dropped when the gateway (not the client) asked for it.

    Only events that mention a usage object are decoded, so most events cost a substring test.
    """

    __slots__ = ("_keep_usage_chunk", "done", "failure", "usage")

    def __init__(self, keep_usage_chunk: bool) -> None:
        self._keep_usage_chunk = keep_usage_chunk
        self.usage: neutral.Usage | None = None
        self.failure: GatewayError | None = None
        self.done = False

    @property
    def complete(self) -> bool:
        return self.done

    def feed(self, event: bytes) -> list[bytes]:
        if event == DONE:
            self.done = True
            return [event]
        if not event.endswith(b"}\n\n") and self._malformed(event):
            # A broken event is never relayed: the client gets an error event instead.
            self.failure = malformed("event")
            return [encode_data(encode_error(self.failure))]
        if _USAGE_MARK not in event and b'"usage": {' not in event:
            return [event]
        payload = data_of(event)
        if payload is None:
            return [event]
        try:
            chunk = msgspec.json.decode(payload, type=StreamChunk)
        except msgspec.MsgspecError:
            return [event]
        if chunk.usage is None:
            return [event]
        self.usage = chunk.usage.neutral()
        if not self._keep_usage_chunk and not chunk.choices:
            return []
        return [event]

    def finish(self) -> list[bytes]:
        return []

    def passing(self, chunk: bytes) -> tuple[int, int]:
        """How many bytes at the start of ``chunk`` (a chunk that starts an event) are whole
        events that ``feed`` would relay untouched, and how many events: they go to the client
        as they came, unsplit. They are the events before the first that may hold a usage
        object (read by ``feed``), if each of them is one line ending in ``}`` (then none is
        ``[DONE]``, none is malformed by the one test ``feed`` makes, none is blank; and
        without a CR there is nothing to normalise). Byte searches only, no event split out."""
        if b"\r" in chunk:
            return 0, 0
        stop = len(chunk) - len(DONE) if chunk.endswith(DONE) else len(chunk)
        for mark in _USAGE_MARKS:
            at = chunk.find(mark, 0, stop)
            if at >= 0:
                stop = at
        end = chunk.rfind(b"\n\n", 0, stop) + 2
        if end < 2:
            return 0, 0
        events = chunk.count(b"}\n\n", 0, end)
        # Every line end is one of those events' two: one line each, none blank.
        if chunk.count(b"\n", 0, end) != 2 * events:
            return 0, 0
        return end, events

    @staticmethod
    def _malformed(event: bytes) -> bool:
        # Only asked of events not ending in "}" (one comparison for the others).
        payload = data_of(event)
        if payload is None or payload.startswith(b"["):
            return False
        try:
            msgspec.json.decode(payload)
        except msgspec.DecodeError:
            return True
        return False
