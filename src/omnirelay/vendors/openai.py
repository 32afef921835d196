"""OpenAI and every server that speaks its API (the channel's base URL ends in ``/v1``).

``openai`` channels are sent Responses API requests as they are; a server that has only chat
completions (many OpenAI-compatible servers) is declared as ``openai-chat``, and gets them
translated. An ``openai`` channel that turns out to lack ``/responses`` is translated for too
(the relay remembers its 404), so an operator who picked the wrong one loses nothing.
"""

from __future__ import annotations

import msgspec

from omnirelay.channels import Channel
from omnirelay.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from omnirelay.formats.upstream_errors import account_exhausted
from omnirelay.vendors.base import ChannelForm, Operation, SecretPart, UpstreamCall

_PATHS: dict[Operation, str] = {
    Operation.CHAT: "/chat/completions",
    Operation.COMPLETION: "/completions",
    Operation.EMBEDDING: "/embeddings",
    Operation.SPEECH: "/audio/speech",
    Operation.TRANSCRIPTION: "/audio/transcriptions",
    Operation.TRANSLATION: "/audio/translations",
    Operation.IMAGE: "/images/generations",
    Operation.RESPONSES: "/responses",
}


class _ErrorBody(msgspec.Struct):
    message: str = ""
    type: str | None = None
    code: str | int | None = None
    param: str | None = None


class _ErrorEnvelope(msgspec.Struct):
    error: _ErrorBody | str | None = None


def _upstream_message(body: bytes) -> _ErrorBody:
    try:
        envelope = msgspec.json.decode(body, type=_ErrorEnvelope)
    except msgspec.DecodeError:
        return _ErrorBody(message=body[:300].decode("utf-8", "replace"))
    if isinstance(envelope.error, _ErrorBody):
        return envelope.error
    return _ErrorBody(message=envelope.error or "")


class OpenAIVendor:
    name = "openai"
    form = ChannelForm(
        "OpenAI (or a server with its API)",
        "https://api.openai.com/v1",
        (SecretPart("api_key", "API key", "sk-..."),),
        note="The base URL ends in /v1. Responses API requests are sent as they are.",
    )
    families = frozenset({"openai"})
    wire_format = "openai"
    operations = frozenset(_PATHS)

    def prepare(
        self, channel: Channel, operation: Operation, *, model: str, stream: bool = False
    ) -> UpstreamCall:
        return UpstreamCall(
            url=channel.base_url + _PATHS[operation],
            headers={"Authorization": f"Bearer {channel.secret}"},
        )

    def map_error(self, status: int, body: bytes) -> GatewayError:
        detail = _upstream_message(body)
        code = str(detail.code) if detail.code is not None else None
        if status in (401, 403):
            # The channel's credential is ours, not the client's: never echo the upstream text,
            # which may quote part of the secret.
            return UpstreamError(
                f"the upstream rejected this gateway's credential (HTTP {status})",
                code="upstream_auth_failed",
            )
        if status == 404:
            return NotFound(detail.message or "not found upstream", code=code, param=detail.param)
        if status == 413:
            return PayloadTooLarge(detail.message or "request too large for the upstream")
        if status in (408, 504):
            return UpstreamTimeout(f"the upstream timed out (HTTP {status})")
        if 400 <= status < 500 and status != 429:
            return InvalidRequest(
                detail.message or f"the upstream rejected the request (HTTP {status})",
                code=code,
                param=detail.param,
                status=status if status in (400, 409, 422) else 400,
            )
        if status == 429 and code == "insufficient_quota":
            return account_exhausted(status)
        if status == 429:
            return RateLimited(
                f"the upstream is rate limiting this gateway: {detail.message[:200]}".rstrip(": "),
                code="upstream_rate_limited",
            )
        return UpstreamError(
            f"the upstream failed (HTTP {status}): {detail.message[:200]}".rstrip(": "),
            code="upstream_error",
        )


class OpenAIChatVendor(OpenAIVendor):
    """An OpenAI-compatible server without the Responses API: Responses requests reach it as
    chat completions, translated by the gateway."""

    name = "openai-chat"
    form = ChannelForm(
        "OpenAI-compatible (chat completions only)",
        "",
        (SecretPart("api_key", "API key"),),
        note="A server without the Responses API: such requests reach it translated.",
    )
    operations = frozenset(_PATHS) - {Operation.RESPONSES}
