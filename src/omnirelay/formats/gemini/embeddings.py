"""Embeddings between Gemini's (``embedContent``/``batchEmbedContents``) and OpenAI's formats.

Pure functions around a tiny pivot: the texts to embed (and the wanted size), and the vectors
that came back (and the tokens, when the vendor says). Gemini's single ``embedContent`` is
always sent upstream as a one-item batch, which every Gemini embedding model serves.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

import msgspec

from omnirelay.errors import InvalidRequest
from omnirelay.formats.decoding import decode_as, decode_upstream
from omnirelay.formats.gemini.wire import Content, decode_client


@dataclass(frozen=True, slots=True)
class EmbedInput:
    texts: list[str]
    dimensions: int | None = None


@dataclass(frozen=True, slots=True)
class EmbedOutput:
    vectors: list[list[float]]
    tokens: int | None = None


def estimate_tokens(texts: list[str]) -> int:
    return sum(max(1, (len(t) + 3) // 4) for t in texts)


class _GeminiItem(msgspec.Struct, rename="camel"):
    content: Content
    output_dimensionality: int | None = None


class _GeminiBatch(msgspec.Struct):
    requests: list[_GeminiItem]


class _Values(msgspec.Struct):
    values: list[float]


class _GeminiBatchAnswer(msgspec.Struct):
    embeddings: list[_Values]


def _text(content: Content) -> str:
    return " ".join(p.text for p in content.parts if p.text)


class GeminiEmbeddings:
    name = "gemini"

    def decode_request(self, body: bytes, *, single: bool) -> EmbedInput:
        items = (
            [decode_client(body, _GeminiItem)]
            if single
            else decode_client(body, _GeminiBatch).requests
        )
        if not items:
            raise InvalidRequest("requests must not be empty", param="requests")
        return EmbedInput([_text(i.content) for i in items], items[0].output_dimensionality)

    def encode_request(self, request: EmbedInput, model: str) -> bytes:
        extra = {"outputDimensionality": request.dimensions} if request.dimensions else {}
        items = [
            {"model": f"models/{model}", "content": {"parts": [{"text": t}]}, **extra}
            for t in request.texts
        ]
        return msgspec.json.encode({"requests": items})

    def decode_response(self, data: bytes) -> EmbedOutput:
        answer = decode_upstream(data, _GeminiBatchAnswer)
        return EmbedOutput([e.values for e in answer.embeddings])

    def encode_response(self, answer: EmbedOutput, *, single: bool, model: str) -> bytes:
        embeddings = [{"values": v} for v in answer.vectors]
        if single:
            return msgspec.json.encode({"embedding": embeddings[0] if embeddings else {}})
        return msgspec.json.encode({"embeddings": embeddings})


def wrap_single(body: bytes, model: str) -> bytes:
    """A Gemini ``embedContent`` body as a one-item ``batchEmbedContents`` body, fields kept."""
    item = msgspec.json.decode(body)
    item["model"] = f"models/{model}"
    return msgspec.json.encode({"requests": [item]})


def retarget_batch(body: bytes, model: str) -> bytes:
    document: dict[str, Any] = msgspec.json.decode(body)
    for item in document.get("requests") or ():
        item["model"] = f"models/{model}"
    return msgspec.json.encode(document)


def unwrap_single(data: bytes) -> bytes:
    answer = msgspec.json.decode(data)
    embeddings = answer.get("embeddings") or [{}]
    return msgspec.json.encode({"embedding": embeddings[0]})


class _OpenAIRequest(msgspec.Struct):
    input: str | list[Any]  # texts, or token arrays (which only OpenAI models take)
    dimensions: int | None = None
    encoding_format: str | None = None


def wants_base64(body: bytes) -> bool:
    """Whether an OpenAI client asked for base64 vectors (the SDK does unless told otherwise)."""
    return decode_as(body, _OpenAIRequest).encoding_format == "base64"


class _OpenAIItem(msgspec.Struct):
    embedding: list[float] | str
    index: int = 0


class _OpenAIUsage(msgspec.Struct):
    prompt_tokens: int = 0


class _OpenAIAnswer(msgspec.Struct):
    data: list[_OpenAIItem]
    usage: _OpenAIUsage | None = None


def _floats(value: list[float] | str) -> list[float]:
    if isinstance(value, list):
        return value
    raw = base64.b64decode(value)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


class OpenAIEmbeddings:
    name = "openai"

    def decode_request(self, body: bytes, *, single: bool) -> EmbedInput:
        request = decode_as(body, _OpenAIRequest)
        raw = request.input
        if isinstance(raw, str):
            return EmbedInput([raw], request.dimensions)
        if not raw or not all(isinstance(t, str) for t in raw):
            raise InvalidRequest(
                "token arrays cannot be embedded by this model: send text", param="input"
            )
        return EmbedInput([str(t) for t in raw], request.dimensions)

    def encode_request(self, request: EmbedInput, model: str) -> bytes:
        body: dict[str, Any] = {"model": model, "input": request.texts, "encoding_format": "float"}
        if request.dimensions:
            body["dimensions"] = request.dimensions
        return msgspec.json.encode(body)

    def decode_response(self, data: bytes) -> EmbedOutput:
        answer = decode_upstream(data, _OpenAIAnswer)
        ordered = sorted(answer.data, key=lambda item: item.index)
        tokens = answer.usage.prompt_tokens if answer.usage else None
        return EmbedOutput([_floats(item.embedding) for item in ordered], tokens)

    def encode_response(
        self, answer: EmbedOutput, *, single: bool, model: str, base64_output: bool = False
    ) -> bytes:
        data = []
        for index, vector in enumerate(answer.vectors):
            embedding: list[float] | str = vector
            if base64_output:
                embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = answer.tokens or 0
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return msgspec.json.encode({"object": "list", "data": data, "model": model, "usage": usage})


class EmbeddingCodec(Protocol):
    name: str

    def decode_request(self, body: bytes, *, single: bool) -> EmbedInput: ...

    def encode_request(self, request: EmbedInput, model: str) -> bytes: ...

    def decode_response(self, data: bytes) -> EmbedOutput: ...


_CODECS: Mapping[str, EmbeddingCodec] = MappingProxyType(
    {"gemini": GeminiEmbeddings(), "openai": OpenAIEmbeddings()}
)


def embedding_codec(wire_format: str) -> EmbeddingCodec | None:
    """The embedding codec of a vendor's wire format, or None if it cannot embed."""
    return _CODECS.get(wire_format)
