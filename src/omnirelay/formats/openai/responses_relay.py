"""The Responses-to-Responses stream transform: an upstream that speaks the Responses API
streams to the client untouched, while the gateway reads what it must — the usage and the
final Response (in ``response.completed``), failures, and the last ``sequence_number`` (so an
error event the gateway adds continues the count).

Only the few events that open or close a response are decoded; the many deltas cost a
substring test. The closing event is held until the upstream stream has ended, so the gateway
can store the response before the client sees it end. A continued conversation's
``previous_response_id`` (which the upstream never saw) is written back into the response.
"""

from __future__ import annotations

from typing import Any

import msgspec

from omnirelay.errors import GatewayError, UpstreamError
from omnirelay.formats import neutral
from omnirelay.formats.openai.responses_stream import encode_event, error_event
from omnirelay.formats.openai.responses_wire import Usage
from omnirelay.formats.sse import data_of

_CLOSING = frozenset({"response.completed", "response.incomplete"})
_WITH_RESPONSE = frozenset({"response.created", "response.in_progress", *_CLOSING})
_FAILING = frozenset({"response.failed", "error"})
_WATCHED = _WITH_RESPONSE | _FAILING
_SEQUENCE = b'"sequence_number":'


class _Response(msgspec.Struct):
    usage: Usage | None = None


class _Error(msgspec.Struct):
    message: str = ""


class _FailedResponse(msgspec.Struct):
    error: _Error | None = None


class _Event(msgspec.Struct):
    type: str = ""
    message: str | None = None
    response: msgspec.Raw = msgspec.Raw()


def _event_name(event: bytes) -> str | None:
    if event.startswith(b"event:"):
        line = event.split(b"\n", 1)[0]
        return line[6:].strip().decode("ascii", "replace")
    return None


class ResponsesRelay:
    __slots__ = ("_held", "_previous", "_sequence", "complete", "failure", "final", "usage")

    def __init__(self, previous_response_id: str | None = None) -> None:
        self._previous = previous_response_id
        self._held: list[bytes] = []
        self._sequence = -1
        self.usage: neutral.Usage | None = None
        self.failure: GatewayError | None = None
        self.final: bytes | None = None  # the whole Response, once the stream completed
        self.complete = False

    def feed(self, event: bytes) -> list[bytes]:
        at = event.rfind(_SEQUENCE)
        if at >= 0:
            digits = event[at + len(_SEQUENCE) :].lstrip()[:20]
            number = digits[: len(digits) - len(digits.lstrip(b"0123456789"))]
            if number:
                self._sequence = int(number)
        name = _event_name(event)
        if name is not None and name not in _WATCHED:
            return [event]
        payload = data_of(event)
        if payload is None:
            return [event]
        try:
            item = msgspec.json.decode(payload, type=_Event)
        except msgspec.MsgspecError:
            return [event]
        if item.type in _FAILING:
            self.failure = UpstreamError(f"the upstream failed: {_message(item)}")
            return [event]
        if item.type not in _WITH_RESPONSE or not item.response:
            return [event]
        if self._previous is not None:
            event, response = self._restated(item)
        else:
            response = bytes(item.response)
        if item.type not in _CLOSING:
            return [event]
        self.complete = True
        self.final = response
        reported = msgspec.json.decode(response, type=_Response).usage
        self.usage = reported.neutral() if reported is not None else None
        self._held.append(event)
        return []

    def _restated(self, item: _Event) -> tuple[bytes, bytes]:
        """The event again, its response naming the previous response."""
        document: dict[str, Any] = msgspec.json.decode(item.response)
        document["previous_response_id"] = self._previous
        response = msgspec.json.encode(document)
        fields = {"response": msgspec.Raw(response)}
        return encode_event(item.type, self._sequence, fields), response

    def finish(self) -> list[bytes]:
        held, self._held = self._held, []
        return held

    def fail(self, error: GatewayError) -> bytes:
        self._sequence += 1
        return error_event(error, self._sequence)


def _message(item: _Event) -> str:
    if item.message:
        return item.message
    if item.response:
        failed = msgspec.json.decode(item.response, type=_FailedResponse)
        if failed.error is not None and failed.error.message:
            return failed.error.message
    return "stream error"
