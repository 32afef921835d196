"""The OpenAI wire format: the fields the gateway reads, and the envelopes it writes.

Structs list only what routing and billing need; every other field stays in the raw body and
is passed through untouched.
"""

from __future__ import annotations

from typing import Any

import msgspec

from omnirelay.errors import GatewayError
from omnirelay.formats import neutral


class StreamOptions(msgspec.Struct, omit_defaults=True):
    include_usage: bool | None = None


class ChatRequest(msgspec.Struct):
    model: str
    messages: list[msgspec.Raw]
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int | None = 1
    max_tokens: int | None = None
    max_completion_tokens: int | None = None


class CompletionRequest(msgspec.Struct):
    model: str
    prompt: msgspec.Raw
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int | None = 1
    best_of: int | None = None
    max_tokens: int | None = 16


class EmbeddingRequest(msgspec.Struct):
    model: str
    input: msgspec.Raw


class SpeechRequest(msgspec.Struct):
    model: str
    input: str
    voice: msgspec.Raw


class ImageRequest(msgspec.Struct):
    prompt: str
    model: str = "dall-e-2"
    n: int | None = 1
    size: str | None = None
    response_format: str | None = None
    quality: str | None = None
    style: str | None = None


class PromptDetails(msgspec.Struct):
    cached_tokens: int | None = 0


class CompletionDetails(msgspec.Struct):
    reasoning_tokens: int | None = 0


class Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptDetails | None = None
    completion_tokens_details: CompletionDetails | None = None

    def neutral(self) -> neutral.Usage:
        """OpenAI counts cached tokens inside ``prompt_tokens``, reasoning inside completion."""
        cached = self.prompt_tokens_details.cached_tokens if self.prompt_tokens_details else 0
        details = self.completion_tokens_details
        return neutral.Usage(
            input_tokens=self.prompt_tokens,
            output_tokens=self.completion_tokens,
            cache_read_tokens=cached or 0,
            reasoning_tokens=(details.reasoning_tokens or 0) if details else 0,
        )


class WithUsage(msgspec.Struct):
    usage: Usage | None = None


class WithData(msgspec.Struct):
    data: list[msgspec.Raw] = []


class WithDuration(msgspec.Struct):
    duration: float | None = None


class StreamChunk(msgspec.Struct):
    choices: list[msgspec.Raw] = []
    usage: Usage | None = None


def error_body(error: GatewayError) -> dict[str, Any]:
    return {
        "error": {
            "message": error.message,
            "type": error.kind,
            "param": error.param,
            "code": error.code,
        }
    }


def encode_error(error: GatewayError) -> bytes:
    return msgspec.json.encode(error_body(error))


def with_fields(body: bytes, **fields: Any) -> bytes:
    """Re-encode a JSON object with some top-level fields replaced, the rest untouched."""
    document = msgspec.json.decode(body)
    document.update(fields)
    return msgspec.json.encode(document)
