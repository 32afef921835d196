"""OpenAI-format embedding requests for models whose vendor speaks another format (Gemini).

The OpenAI surface keeps its pass-through for OpenAI-format vendors; these helpers translate
the body per channel, and the answer back, through ``formats/gemini/embeddings.py``.
"""

from __future__ import annotations

from omnirelay.api.chat import wire_format
from omnirelay.channels import Channel
from omnirelay.errors import InvalidRequest, UpstreamError
from omnirelay.formats.gemini.embeddings import (
    EmbedOutput,
    OpenAIEmbeddings,
    embedding_codec,
    estimate_tokens,
    wants_base64,
)
from omnirelay.gateway import Gateway
from omnirelay.relay import BodyBuilder, Opened

CLIENT = "openai"


def embedding_builder(
    gateway: Gateway, body: bytes, model: str, passthrough: BodyBuilder
) -> BodyBuilder:
    def build(channel: Channel) -> tuple[bytes, str]:
        vendor_format = wire_format(gateway, channel, CLIENT)
        if vendor_format == CLIENT:
            return passthrough(channel)
        codec = embedding_codec(vendor_format)
        if codec is None:
            raise InvalidRequest(f"the model '{model}' cannot embed through this endpoint")
        wanted = OpenAIEmbeddings().decode_request(body, single=False)
        return codec.encode_request(wanted, channel.upstream_model(model)), "application/json"

    return build


def needs_translation(opened: Opened) -> bool:
    return opened.vendor.wire_format != CLIENT


def translate_answer(opened: Opened, body: bytes, data: bytes, model: str) -> tuple[bytes, int]:
    """The vendor's answer as OpenAI's, and the tokens to bill (estimated if not reported)."""
    codec = embedding_codec(opened.vendor.wire_format)
    if codec is None:  # the builder sends nothing to such a vendor; kept for the type checker
        raise UpstreamError("the upstream answered in a format without embeddings")
    answer = codec.decode_response(data)
    tokens = answer.tokens or estimate_tokens(
        OpenAIEmbeddings().decode_request(body, single=False).texts
    )
    written = OpenAIEmbeddings().encode_response(
        EmbedOutput(answer.vectors, tokens),
        single=False,
        model=model,
        base64_output=wants_base64(body),
    )
    return written, tokens
