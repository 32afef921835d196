"""Responses API streams ↔ neutral stream events, incrementally; and the transform that relays
a Responses upstream's stream to a Responses client.

Every event goes out with its ``event:`` line and a ``sequence_number`` counting from 0, in
the API's order: ``response.created``, ``response.in_progress``, then per output item
``output_item.added``, its content events, ``output_item.done``, and last
``response.completed`` (or ``response.incomplete``). That closing event waits for the end of
the upstream stream, because some vendors report usage only after their finish reason. A
failure is an ``error`` event followed by ``response.failed``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from omnirelay.errors import GatewayError, UpstreamError
from omnirelay.formats import neutral
from omnirelay.formats.openai.responses_wire import (
    Answer,
    Echo,
    OutputItem,
    flat_name,
    function_call_item,
    message_item,
    new_id,
    output_text,
    reasoning_item,
    response_body,
    status_of,
    stop_of,
)
from omnirelay.formats.sse import data_of, encode_data


def encode_event(kind: str, sequence: int, fields: dict[str, Any]) -> bytes:
    payload = {"type": kind, "sequence_number": sequence, **fields}
    return encode_data(msgspec.json.encode(payload), kind)


def error_event(error: GatewayError, sequence: int) -> bytes:
    fields = {"code": error.code, "message": error.message, "param": error.param}
    return encode_event("error", sequence, fields)


@dataclass(slots=True)
class _Item:
    """An output item still being written."""

    kind: str  # message | reasoning | function_call
    index: int  # its output_index
    id: str
    text: list[str] = field(default_factory=list)  # text, summary, or argument fragments
    call: neutral.ToolCall | None = None
    signature: str | None = None
    summary_open: bool = False


class ResponsesStreamEncoder:
    """Neutral events → Responses events. ``final`` is the whole Response once the stream is
    complete (what a stored response keeps)."""

    __slots__ = (
        "_done",
        "_echo",
        "_open",
        "_pending",
        "_sequence",
        "_started",
        "_stop",
        "_tools",
        "_usage",
        "final",
    )

    def __init__(self, echo: Echo) -> None:
        self._echo = echo
        self._sequence = 0
        self._started = False
        self._open: list[_Item] = []  # text/reasoning last, at most one of them
        self._done: dict[int, dict[str, Any]] = {}  # output_index → finished item
        self._tools: dict[int, _Item] = {}  # neutral tool index → its item
        self._stop = neutral.StopReason.END
        self._usage: neutral.Usage | None = None
        self._pending: list[bytes] | None = None
        self.final: dict[str, Any] | None = None

    def _event(self, kind: str, **fields: Any) -> bytes:
        event = encode_event(kind, self._sequence, fields)
        self._sequence += 1
        return event

    def _snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        output = [self._done[i] for i in sorted(self._done)]
        return response_body(self._echo, status=status, output=output, **extra)

    def feed(self, event: neutral.Event) -> list[bytes]:
        out: list[bytes] = []
        if not self._started and not isinstance(event, neutral.Failure):
            self._started = True
            response = self._snapshot("in_progress")
            out += [
                self._event("response.created", response=response),
                self._event("response.in_progress", response=response),
            ]
        if isinstance(event, neutral.TextDelta):
            out += self._text(event.text)
        elif isinstance(event, neutral.ThinkingDelta):
            out += self._thinking(event)
        elif isinstance(event, neutral.ToolStart):
            out += self._tool_start(event)
        elif isinstance(event, neutral.ToolDelta):
            out += self._tool_delta(event)
        elif isinstance(event, neutral.Finish):
            self._stop = event.stop
            out += self._close_all()
        elif isinstance(event, neutral.Usage):
            self._usage = event
        elif isinstance(event, neutral.Failure):
            out += self._failure(event.error)
        return out

    def _new_item(self, kind: str, prefix: str) -> _Item:
        item = _Item(kind, len(self._done) + len(self._open), new_id(prefix))
        self._open.append(item)
        return item

    def _current(self, kind: str) -> _Item | None:
        last = self._open[-1] if self._open else None
        return last if last is not None and last.kind == kind else None

    def _text(self, text: str) -> list[bytes]:
        out: list[bytes] = []
        item = self._current("message")
        if item is None:
            out += self._close_all()
            item = self._new_item("message", "msg")
            where = {"item_id": item.id, "output_index": item.index, "content_index": 0}
            out += [
                self._event(
                    "response.output_item.added",
                    output_index=item.index,
                    item=message_item(item.id, "", "in_progress"),
                ),
                self._event("response.content_part.added", **where, part=output_text("")),
            ]
        item.text.append(text)
        out.append(
            self._event(
                "response.output_text.delta",
                item_id=item.id,
                output_index=item.index,
                content_index=0,
                delta=text,
                logprobs=[],
            )
        )
        return out

    def _thinking(self, event: neutral.ThinkingDelta) -> list[bytes]:
        out: list[bytes] = []
        item = self._current("reasoning")
        if item is None:
            out += self._close_all()
            item = self._new_item("reasoning", "rs")
            added = reasoning_item(item.id, "", None, "in_progress")
            out.append(
                self._event("response.output_item.added", output_index=item.index, item=added)
            )
        if event.signature is not None:
            item.signature = event.signature
        if not event.text:
            return out
        where = {"item_id": item.id, "output_index": item.index, "summary_index": 0}
        if not item.summary_open:
            item.summary_open = True
            part = {"type": "summary_text", "text": ""}
            out.append(self._event("response.reasoning_summary_part.added", **where, part=part))
        item.text.append(event.text)
        out.append(self._event("response.reasoning_summary_text.delta", **where, delta=event.text))
        return out

    def _tool_start(self, event: neutral.ToolStart) -> list[bytes]:
        out: list[bytes] = []
        if self._open and self._open[-1].kind != "function_call":
            out += self._close(self._open.pop())
        item = self._new_item("function_call", "fc")
        item.call = neutral.ToolCall(event.id, event.name, "")
        self._tools[event.index] = item
        added = function_call_item(item.id, item.call, self._echo, "in_progress")
        out.append(self._event("response.output_item.added", output_index=item.index, item=added))
        return out

    def _tool_delta(self, event: neutral.ToolDelta) -> list[bytes]:
        item = self._tools.get(event.index)
        if item is None or item not in self._open:
            return []
        item.text.append(event.fragment)
        return [
            self._event(
                "response.function_call_arguments.delta",
                item_id=item.id,
                output_index=item.index,
                delta=event.fragment,
            )
        ]

    def _close_all(self) -> list[bytes]:
        out: list[bytes] = []
        for item in self._open:
            out += self._close(item)
        self._open.clear()
        return out

    def _close(self, item: _Item) -> list[bytes]:
        text = "".join(item.text)
        if item.kind == "message":
            where = {"item_id": item.id, "output_index": item.index, "content_index": 0}
            done = message_item(item.id, text)
            events = [
                self._event("response.output_text.done", **where, text=text, logprobs=[]),
                self._event("response.content_part.done", **where, part=output_text(text)),
            ]
        elif item.kind == "reasoning":
            where = {"item_id": item.id, "output_index": item.index, "summary_index": 0}
            done = reasoning_item(item.id, text, item.signature)
            events = []
            if item.summary_open:
                part = {"type": "summary_text", "text": text}
                events = [
                    self._event("response.reasoning_summary_text.done", **where, text=text),
                    self._event("response.reasoning_summary_part.done", **where, part=part),
                ]
        else:
            assert item.call is not None
            call = neutral.ToolCall(item.call.id, item.call.name, text)
            done = function_call_item(item.id, call, self._echo)
            events = [
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item.id,
                    output_index=item.index,
                    arguments=text,
                    name=done["name"],
                ),
            ]
        self._done[item.index] = done
        events.append(self._event("response.output_item.done", output_index=item.index, item=done))
        return events

    def conclude(self) -> dict[str, Any]:
        """Close the stream's output (once); the whole Response it amounts to."""
        if self.final is None:
            pending = self._close_all()
            status, incomplete = status_of(self._stop)
            self.final = self._snapshot(
                status,
                usage=self._usage or neutral.Usage(),
                incomplete=incomplete,
                completed_at=int(time.time()) if status == "completed" else None,
            )
            kind = "response.completed" if status == "completed" else "response.incomplete"
            pending.append(self._event(kind, response=self.final))
            self._pending = pending
        return self.final

    def finish(self) -> list[bytes]:
        self.conclude()
        pending, self._pending = self._pending or [], []
        return pending

    def fail(self, error: GatewayError) -> bytes:
        """What a stream that failed ends with: an ``error`` event, then ``response.failed``."""
        return b"".join(self._failure(error))

    def _failure(self, error: GatewayError) -> list[bytes]:
        failed = self._snapshot("failed", usage=self._usage, error=error)
        first = error_event(error, self._sequence)
        self._sequence += 1
        return [first, self._event("response.failed", response=failed)]


class _Event(msgspec.Struct):
    type: str = ""
    sequence_number: int = 0
    response: Answer | None = None
    item: OutputItem | None = None
    item_id: str | None = None
    delta: str | None = None
    message: str | None = None


def _failure(message: str | None) -> neutral.Failure:
    return neutral.Failure(UpstreamError(f"the upstream failed: {message or 'stream error'}"))


class ResponsesStreamDecoder:
    """Responses events → neutral events (for a Responses upstream and another client)."""

    __slots__ = ("_argued", "_tools", "complete")

    def __init__(self) -> None:
        self._tools: dict[str, int] = {}  # function_call item id → tool index
        self._argued: set[str] = set()  # items whose arguments came as deltas
        self.complete = False

    def feed(self, event: bytes) -> list[neutral.Event]:
        payload = data_of(event)
        if payload is None:
            return []
        try:
            item = msgspec.json.decode(payload, type=_Event)
        except msgspec.MsgspecError:
            return []
        kind = item.type
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            return [neutral.TextDelta(item.delta)] if item.delta else []
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return [neutral.ThinkingDelta(item.delta)] if item.delta else []
        if kind == "response.function_call_arguments.delta":
            index = self._tools.get(item.item_id or "")
            if index is None or not item.delta:
                return []
            self._argued.add(item.item_id or "")
            return [neutral.ToolDelta(index, item.delta)]
        if kind in ("response.output_item.added", "response.output_item.done"):
            return self._item(kind, item.item)
        if kind == "response.created" and item.response is not None:
            return [neutral.Start(item.response.id, item.response.model)]
        if kind in ("response.completed", "response.incomplete"):
            return self._end(item.response or Answer())
        if kind == "response.failed":
            self.complete = True
            return [_failure(item.message)]
        if kind == "error":
            return [_failure(item.message)]
        return []

    def _item(self, kind: str, output: OutputItem | None) -> list[neutral.Event]:
        if output is None or output.type != "function_call":
            return []
        key = output.id or output.call_id or ""
        if kind == "response.output_item.added":
            index = self._tools[key] = len(self._tools)
            name = flat_name(output.namespace, output.name or "")
            return [neutral.ToolStart(index, output.call_id or "", name)]
        if key in self._tools and key not in self._argued and output.arguments:
            # An upstream that sends the arguments whole, only in the finished item.
            return [neutral.ToolDelta(self._tools[key], output.arguments)]
        return []

    def _end(self, answer: Answer) -> list[neutral.Event]:
        self.complete = True
        reason = answer.incomplete_details.reason if answer.incomplete_details else None
        called = bool(self._tools) or any(o.type == "function_call" for o in answer.output)
        out: list[neutral.Event] = [neutral.Finish(stop_of(answer.status, reason, called))]
        if answer.usage is not None:
            out.append(answer.usage.neutral())
        return out
