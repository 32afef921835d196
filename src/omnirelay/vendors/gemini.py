"""Google's Gemini API (the channel's base URL is the host, e.g.
https://generativelanguage.googleapis.com). The model is part of every URL; streams are asked
for as server-sent events (``alt=sse``). Embeddings always go to ``batchEmbedContents``, which
serves one input as well as many.
"""

from __future__ import annotations

from urllib.parse import quote

import msgspec

from omnirelay.channels import Channel
from omnirelay.errors import GatewayError
from omnirelay.formats.upstream_errors import credential_rejected, map_status
from omnirelay.vendors.base import ChannelForm, Operation, SecretPart, UpstreamCall

_METHODS: dict[Operation, str] = {
    Operation.CHAT: "generateContent",
    Operation.COUNT_TOKENS: "countTokens",
    Operation.EMBEDDING: "batchEmbedContents",
}


class _ErrorBody(msgspec.Struct):
    code: int = 0
    message: str = ""
    status: str = ""


class _ErrorEnvelope(msgspec.Struct):
    error: _ErrorBody | None = None


def _detail(body: bytes) -> _ErrorBody:
    try:
        envelope = msgspec.json.decode(body, type=_ErrorEnvelope)
    except msgspec.MsgspecError:
        return _ErrorBody(message=body[:300].decode("utf-8", "replace"))
    return envelope.error or _ErrorBody()


class GeminiVendor:
    name = "gemini"
    form = ChannelForm(
        "Google Gemini",
        "https://generativelanguage.googleapis.com",
        (SecretPart("api_key", "API key", "AIza..."),),
        note="The base URL is the host, without /v1beta.",
    )
    families = frozenset({"gemini"})
    wire_format = "gemini"
    operations = frozenset(_METHODS)

    def prepare(
        self, channel: Channel, operation: Operation, *, model: str, stream: bool = False
    ) -> UpstreamCall:
        method = _METHODS[operation]
        suffix = ""
        if stream and operation is Operation.CHAT:
            method, suffix = "streamGenerateContent", "?alt=sse"
        name = quote(model.removeprefix("models/"), safe="-._~")
        return UpstreamCall(
            url=f"{channel.base_url}/v1beta/models/{name}:{method}{suffix}",
            headers={"x-goog-api-key": channel.secret},
        )

    def map_error(self, status: int, body: bytes) -> GatewayError:
        detail = _detail(body)
        # Gemini answers a bad key with 400 INVALID_ARGUMENT: that is our credential, not the
        # client's request, so it must neither be echoed nor blamed on the client.
        if status == 400 and "api key" in detail.message.lower():
            return credential_rejected(status)
        return map_status(status, detail.message)
