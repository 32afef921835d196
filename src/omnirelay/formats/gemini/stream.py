"""Gemini ``alt=sse`` chunks ↔ neutral stream events, incrementally.

A Gemini stream has no end marker: it is complete once a chunk carried a ``finishReason``.
Gemini sends each function call whole, so the encoder holds one call's argument fragments
until the call is complete (the next part, or the end) — never more than that call.
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from omnirelay.errors import UpstreamError
from omnirelay.formats import neutral
from omnirelay.formats.gemini.wire import (
    FINISH_NAMES,
    STATUS_CODES,
    Content,
    ErrorBody,
    Response,
    content_parts,
    encode_part,
    stop_reason,
    stream_error,
    usage_metadata,
)
from omnirelay.formats.sse import data_of, encode_data
from omnirelay.formats.upstream_errors import malformed, map_status


class GeminiStreamDecoder:
    __slots__ = ("_calls", "_seed", "_started", "complete")

    def __init__(self) -> None:
        self._started = False
        self._calls = 0
        self._seed = secrets.token_hex(8)
        self.complete = False

    def feed(self, event: bytes) -> list[neutral.Event]:
        payload = data_of(event)
        if payload is None:
            return []
        try:
            chunk = msgspec.json.decode(payload, type=Response)
        except msgspec.ValidationError:
            return []  # a shape we do not know: tolerated
        except msgspec.DecodeError:
            return [neutral.Failure(malformed("event"))]
        if chunk.error is not None:
            return [_failure(chunk.error)]
        out: list[neutral.Event] = []
        usage = chunk.usage_metadata
        if not self._started:
            self._started = True
            if chunk.response_id:
                self._seed = chunk.response_id
            prompt = usage.prompt_token_count if usage else None
            out.append(neutral.Start(chunk.response_id or "", chunk.model_version or "", prompt))
        candidate = chunk.candidates[0] if chunk.candidates else None
        if candidate is not None:
            out += self._parts(candidate.content)
        if usage is not None:
            out.append(usage.neutral())
        if candidate is not None and candidate.finish_reason:
            self.complete = True
            out.append(neutral.Finish(stop_reason(candidate.finish_reason, self._calls > 0)))
        elif chunk.prompt_feedback is not None and chunk.prompt_feedback.block_reason:
            self.complete = True  # a blocked prompt ends the stream with no candidates
            out.append(neutral.Finish(neutral.StopReason.FILTER))
        return out

    def _parts(self, content: Content | None) -> list[neutral.Event]:
        out: list[neutral.Event] = []
        for part in content_parts(content, self._seed, self._calls):
            if isinstance(part, neutral.Text):
                out.append(neutral.TextDelta(part.text))
            elif isinstance(part, neutral.Thinking):
                out.append(neutral.ThinkingDelta(part.text, part.signature))
            else:
                out.append(neutral.ToolStart(self._calls, part.id, part.name))
                out.append(neutral.ToolDelta(self._calls, part.arguments))
                self._calls += 1
        return out


def _failure(error: ErrorBody) -> neutral.Failure:
    mapped = map_status(STATUS_CODES.get(error.status, error.code or 500), error.message)
    if not isinstance(mapped, UpstreamError):
        mapped = UpstreamError(f"the upstream failed mid-stream: {error.message}")
    return neutral.Failure(mapped)


class GeminiStreamEncoder:
    """Thought text goes out as ``thought`` parts; a signature waits for the next part (as
    Gemini puts it on the function call after the thinking)."""

    __slots__ = ("_finish", "_id", "_model", "_pending", "_signature", "_usage")

    def __init__(self, model: str) -> None:
        self._model = model
        self._id = secrets.token_hex(12)
        self._pending: tuple[neutral.ToolStart, list[str]] | None = None
        self._signature: str | None = None
        self._finish: neutral.Finish | None = None
        self._usage: neutral.Usage | None = None

    def _chunk(self, parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
        if self._signature is not None and parts:
            parts = [{**parts[0], "thoughtSignature": self._signature}, *parts[1:]]
            self._signature = None
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish is not None:
            candidate["finishReason"] = finish
        chunk: dict[str, Any] = {
            "candidates": [candidate],
            "modelVersion": self._model,
            "responseId": self._id,
        }
        if self._usage is not None or finish is not None:
            chunk["usageMetadata"] = usage_metadata(self._usage or neutral.Usage())
        return encode_data(msgspec.json.encode(chunk))

    def _flush(self) -> list[bytes]:
        if self._pending is None:
            return []
        (start, fragments), self._pending = self._pending, None
        call = neutral.ToolCall(start.id, start.name, "".join(fragments))
        return [self._chunk([encode_part(call)])]

    def feed(self, event: neutral.Event) -> list[bytes]:
        if isinstance(event, neutral.TextDelta):
            return [*self._flush(), self._chunk([{"text": event.text}])]
        if isinstance(event, neutral.ThinkingDelta):
            out = self._flush()
            if event.text:
                out.append(self._chunk([{"text": event.text, "thought": True}]))
            if event.signature:
                self._signature = event.signature
            return out
        if isinstance(event, neutral.ToolStart):
            out = self._flush()
            self._pending = (event, [])
            return out
        if isinstance(event, neutral.ToolDelta):
            if self._pending is not None and self._pending[0].index == event.index:
                self._pending[1].append(event.fragment)
            return []
        if isinstance(event, neutral.Finish):
            self._finish = event
        elif isinstance(event, neutral.Usage):
            self._usage = event
        elif isinstance(event, neutral.Failure):
            return [stream_error(event.error)]
        return []

    def finish(self) -> list[bytes]:
        out = self._flush()
        finish = self._finish or neutral.Finish(neutral.StopReason.END)
        out.append(self._chunk([{"text": ""}], FINISH_NAMES[finish.stop]))
        return out
