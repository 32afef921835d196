"""Translation between chat wire formats, dispatched in one place.

Each format has a ``Codec`` (to and from the neutral pivot in ``neutral.py``); a
``Translation`` pairs the client's codec with the vendor's. ``translation(client, vendor)`` is
the only dispatch: ``None`` means both speak the same format and bodies pass through untouched.
Everything here is pure: bytes in, bytes out, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from omnirelay.errors import GatewayError
from omnirelay.formats import neutral
from omnirelay.formats.anthropic.messages import AnthropicCodec
from omnirelay.formats.gemini.content import GeminiCodec
from omnirelay.formats.openai.chat import OpenAICodec
from omnirelay.formats.openai.responses import ResponsesCodec
from omnirelay.formats.upstream_errors import MALFORMED


class StreamDecoder(Protocol):
    """One format's SSE events → neutral events; ``complete`` once the stream's end was seen."""

    complete: bool

    def feed(self, event: bytes) -> list[neutral.Event]: ...


class StreamEncoder(Protocol):
    """Neutral events → one format's SSE events; ``finish`` closes a complete stream."""

    def feed(self, event: neutral.Event) -> list[bytes]: ...

    def finish(self) -> list[bytes]: ...


class Codec(Protocol):
    name: str

    def decode_request(self, body: bytes, *, model: str, stream: bool) -> neutral.Request: ...

    def encode_request(self, request: neutral.Request, model: str) -> bytes: ...

    def decode_response(self, body: bytes) -> neutral.Response: ...

    def encode_response(self, response: neutral.Response, model: str) -> bytes: ...

    def usage_of(self, body: bytes) -> neutral.Usage | None: ...

    def stream_decoder(self) -> StreamDecoder: ...

    def stream_encoder(self, model: str, *, include_usage: bool = False) -> StreamEncoder: ...

    def error_body(self, error: GatewayError) -> bytes: ...

    def stream_error(self, error: GatewayError) -> bytes: ...

    def decode_count_request(self, body: bytes, *, model: str) -> neutral.Request: ...

    def encode_count_request(self, request: neutral.Request, model: str) -> bytes | None:
        """The vendor's token-counting body, or None if the format has no such endpoint."""
        ...

    def decode_count_response(self, body: bytes) -> int: ...

    def encode_count_response(self, tokens: int) -> bytes: ...


class StreamTranslator:
    """Turns a vendor's stream into the client's format, event by event."""

    __slots__ = ("_decoder", "_encoder", "failure", "usage")

    def __init__(self, decoder: StreamDecoder, encoder: StreamEncoder) -> None:
        self._decoder = decoder
        self._encoder = encoder
        self.usage: neutral.Usage | None = None
        self.failure: GatewayError | None = None

    @property
    def complete(self) -> bool:
        return self._decoder.complete

    def feed(self, event: bytes) -> list[bytes]:
        out: list[bytes] = []
        for item in self._decoder.feed(event):
            if isinstance(item, neutral.Usage):
                self.usage = item
            elif isinstance(item, neutral.Failure):
                self.failure = item.error
            out += self._encoder.feed(item)
        return out

    def finish(self) -> list[bytes]:
        return self._encoder.finish()


class PassThrough:
    """Relays a same-format stream untouched while reading its usage and its end; an event that
    is not JSON is replaced by the format's error event (``render``)."""

    __slots__ = ("_decoder", "_render", "failure", "usage")

    def __init__(
        self, decoder: StreamDecoder, render: Callable[[GatewayError], bytes] | None = None
    ) -> None:
        self._decoder = decoder
        self._render = render
        self.usage: neutral.Usage | None = None
        self.failure: GatewayError | None = None

    @property
    def complete(self) -> bool:
        return self._decoder.complete

    def feed(self, event: bytes) -> list[bytes]:
        for item in self._decoder.feed(event):
            if isinstance(item, neutral.Usage):
                self.usage = item
            elif isinstance(item, neutral.Failure):
                self.failure = item.error
                if item.error.code == MALFORMED and self._render is not None:
                    return [self._render(item.error)]
        return [event]

    def finish(self) -> list[bytes]:
        return []


@dataclass(frozen=True, slots=True)
class Translation:
    client: Codec
    vendor: Codec

    def request(self, request: neutral.Request, upstream_model: str) -> bytes:
        return self.vendor.encode_request(request, upstream_model)

    def response(self, body: bytes, model: str) -> tuple[bytes, neutral.Usage]:
        answer = self.vendor.decode_response(body)
        return self.client.encode_response(answer, model), answer.usage

    def stream(self, model: str, *, include_usage: bool = False) -> StreamTranslator:
        return StreamTranslator(
            self.vendor.stream_decoder(),
            self.client.stream_encoder(model, include_usage=include_usage),
        )


def _registry() -> tuple[Mapping[str, Codec], Mapping[tuple[str, str], Translation]]:
    """Adding a format means adding its codec here; every pair with the others follows."""
    found: list[Codec] = [OpenAICodec(), AnthropicCodec(), GeminiCodec()]
    found.append(ResponsesCodec())
    by_name = {c.name: c for c in found}
    pairs = {(a.name, b.name): Translation(a, b) for a in found for b in found if a.name != b.name}
    return MappingProxyType(by_name), MappingProxyType(pairs)


_CODECS, _TRANSLATIONS = _registry()


def codec(name: str) -> Codec:
    return _CODECS[name]


def translation(client: str, vendor: str) -> Translation | None:
    """How to translate between ``client`` and ``vendor`` formats; None when they are the same."""
    return _TRANSLATIONS.get((client, vendor))


def stream_passthrough(name: str) -> PassThrough:
    found = _CODECS[name]
    return PassThrough(found.stream_decoder(), found.stream_error)
