"""The Anthropic Messages wire format: typed structs for what the gateway reads, and errors.

Structs tolerate unknown fields (the API grows); bodies that pass through are never re-encoded
from these structs.
"""

from __future__ import annotations

from typing import Any

import msgspec

from omnirelay.errors import GatewayError
from omnirelay.formats import neutral
from omnirelay.formats.sse import encode_data


class Source(msgspec.Struct):
    type: str
    media_type: str | None = None
    data: str | None = None
    url: str | None = None


class Block(msgspec.Struct):
    """Any content block; ``cache_control``, ``citations`` and the like are not read."""

    type: str
    text: str | None = None
    source: Source | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None
    tool_use_id: str | None = None
    content: str | list[Block] | None = None
    is_error: bool | None = None
    thinking: str | None = None
    signature: str | None = None
    data: str | None = None  # redacted_thinking
    tool_name: str | None = None  # tool_reference (a deferred tool made visible)


class Message(msgspec.Struct):
    role: str
    content: str | list[Block]


class Tool(msgspec.Struct):
    name: str
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    type: str | None = None  # None or "custom": a client tool; else a server tool
    defer_loading: bool | None = None


class Thinking(msgspec.Struct):
    type: str  # enabled | adaptive | disabled | between_tools
    budget_tokens: int | None = None
    display: str | None = None  # summarized | omitted


class OutputFormat(msgspec.Struct):
    type: str
    schema: dict[str, Any] | None = None


class OutputConfig(msgspec.Struct):
    effort: str | None = None
    format: OutputFormat | None = None


class ToolChoice(msgspec.Struct):
    type: str
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Metadata(msgspec.Struct):
    user_id: str | None = None


class Routing(msgspec.Struct):
    """What routing and billing read from a ``/v1/messages`` body."""

    model: str
    max_tokens: int
    messages: list[msgspec.Raw]
    stream: bool | None = False


class CountRouting(msgspec.Struct):
    model: str
    messages: list[msgspec.Raw]


class Request(msgspec.Struct):
    messages: list[Message]
    max_tokens: int | None = None
    system: str | list[Block] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] | None = None
    metadata: Metadata | None = None
    thinking: Thinking | None = None
    output_config: OutputConfig | None = None


class CacheCreation(msgspec.Struct):
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0


class OutputTokensDetails(msgspec.Struct):
    thinking_tokens: int = 0


class Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation: CacheCreation | None = None
    output_tokens_details: OutputTokensDetails | None = None

    def neutral(self) -> neutral.Usage:
        """Anthropic's ``input_tokens`` leaves the cache out; the pivot's includes it."""
        read = self.cache_read_input_tokens or 0
        written = self.cache_creation_input_tokens or 0
        hour = self.cache_creation.ephemeral_1h_input_tokens if self.cache_creation else 0
        details = self.output_tokens_details
        return neutral.Usage(
            input_tokens=(self.input_tokens or 0) + written + read,
            output_tokens=self.output_tokens or 0,
            cache_read_tokens=read,
            cache_write_tokens=max(written - hour, 0),
            cache_write_1h_tokens=min(hour, written),
            reasoning_tokens=details.thinking_tokens if details else 0,
        )


def usage_document(usage: neutral.Usage) -> dict[str, Any]:
    """The current ``usage`` object, every field the published schema has."""
    written = usage.cache_write_tokens + usage.cache_write_1h_tokens
    fresh = usage.input_tokens - usage.cache_read_tokens - written
    return {
        "input_tokens": max(fresh, 0),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": usage.cache_write_tokens,
            "ephemeral_1h_input_tokens": usage.cache_write_1h_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"thinking_tokens": usage.reasoning_tokens},
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
        "service_tier": "standard",
        "inference_geo": None,
        "speed": None,
    }


def message_document(
    message_id: str,
    model: str,
    content: list[dict[str, Any]],
    usage: neutral.Usage,
    stop: str | None,
    stop_sequence: str | None,
) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": stop_sequence,
        "stop_details": None,
        "container": None,
        "diagnostics": None,
        "usage": usage_document(usage),
    }


class Response(msgspec.Struct):
    id: str = ""
    model: str = ""
    content: list[Block] = []
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: Usage = msgspec.field(default_factory=Usage)


class WithUsage(msgspec.Struct):
    usage: Usage | None = None


class CountResponse(msgspec.Struct):
    input_tokens: int


STOP_REASONS: dict[str, neutral.StopReason] = {
    "end_turn": neutral.StopReason.END,
    "pause_turn": neutral.StopReason.END,
    "max_tokens": neutral.StopReason.LENGTH,
    "model_context_window_exceeded": neutral.StopReason.LENGTH,
    "stop_sequence": neutral.StopReason.STOP_SEQUENCE,
    "tool_use": neutral.StopReason.TOOL,
    "refusal": neutral.StopReason.FILTER,
}
STOP_NAMES: dict[neutral.StopReason, str] = {
    neutral.StopReason.END: "end_turn",
    neutral.StopReason.LENGTH: "max_tokens",
    neutral.StopReason.STOP_SEQUENCE: "stop_sequence",
    neutral.StopReason.TOOL: "tool_use",
    neutral.StopReason.FILTER: "refusal",
}

# Our error kinds → Anthropic's error types (the HTTP status stays ours).
_ERROR_TYPES: dict[str, str] = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "permission_error": "permission_error",
    "not_found_error": "not_found_error",
    "request_too_large": "request_too_large",
    "insufficient_quota": "billing_error",
    "rate_limit_error": "rate_limit_error",
    "timeout_error": "timeout_error",
}


def error_document(error: GatewayError, request_id: str | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "type": "error",
        "error": {"type": _ERROR_TYPES.get(error.kind, "api_error"), "message": error.message},
    }
    if request_id:
        document["request_id"] = request_id
    return document


def encode_error(error: GatewayError, request_id: str | None = None) -> bytes:
    return msgspec.json.encode(error_document(error, request_id))


def stream_error(error: GatewayError) -> bytes:
    return encode_data(encode_error(error), event="error")
