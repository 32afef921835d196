"""Anthropic's Messages API (the channel's base URL is the host, e.g. https://api.anthropic.com)."""

from __future__ import annotations

import msgspec

from omnirelay.channels import Channel
from omnirelay.errors import GatewayError
from omnirelay.formats.upstream_errors import map_status
from omnirelay.vendors.base import ChannelForm, Operation, SecretPart, UpstreamCall

API_VERSION = "2023-06-01"

_PATHS: dict[Operation, str] = {
    Operation.CHAT: "/v1/messages",
    Operation.COUNT_TOKENS: "/v1/messages/count_tokens",
}


class _ErrorBody(msgspec.Struct):
    type: str = ""
    message: str = ""


class _ErrorEnvelope(msgspec.Struct):
    error: _ErrorBody | None = None


def _message(body: bytes) -> str:
    try:
        envelope = msgspec.json.decode(body, type=_ErrorEnvelope)
    except msgspec.MsgspecError:
        return body[:300].decode("utf-8", "replace")
    return envelope.error.message if envelope.error is not None else ""


class AnthropicVendor:
    name = "anthropic"
    form = ChannelForm(
        "Anthropic",
        "https://api.anthropic.com",
        (SecretPart("api_key", "API key", "sk-ant-..."),),
        note="The base URL is the host, without /v1.",
    )
    families = frozenset({"anthropic"})
    wire_format = "anthropic"
    operations = frozenset(_PATHS)

    def prepare(
        self, channel: Channel, operation: Operation, *, model: str, stream: bool = False
    ) -> UpstreamCall:
        return UpstreamCall(
            url=channel.base_url + _PATHS[operation],
            headers={"x-api-key": channel.secret, "anthropic-version": API_VERSION},
        )

    def map_error(self, status: int, body: bytes) -> GatewayError:
        return map_status(status, _message(body))
