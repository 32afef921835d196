"""The OpenAI Responses API's wire format: the fields the gateway reads, and the Response
objects it writes when it answers for a vendor of another format.

Requests are read leniently (unknown fields ignored, so newer clients keep working); what a
Response repeats of its request (``instructions``, ``tools``, ``text``…) is kept as the raw JSON
the client sent, so it comes back exactly as given.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from omnirelay.errors import GatewayError
from omnirelay.formats import neutral

# Hosted web search, under each name the API has had.
WEB_SEARCH_TOOLS = frozenset(
    {"web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11"}
)
# A field the body does not have (``msgspec.Raw`` fields cannot be optional).
ABSENT = msgspec.Raw()
# The separator of a namespaced tool's flat name, for vendors that have no tool namespaces.
NAMESPACE_SEPARATOR = "__"


class InputPart(msgspec.Struct):
    """A content part of an input message, a tool output, or an assistant message."""

    type: str
    text: str | None = None
    image_url: str | None = None
    file_id: str | None = None
    refusal: str | None = None


class SummaryPart(msgspec.Struct):
    text: str = ""
    type: str = "summary_text"


class Item(msgspec.Struct):
    """Any input item; which fields matter depends on ``type`` (a message when it has a role)."""

    type: str | None = None
    role: str | None = None
    content: str | list[InputPart] | None = None
    id: str | None = None
    call_id: str | None = None
    name: str | None = None
    namespace: str | None = None
    arguments: str | None = None
    output: str | list[InputPart] | None = None
    input: str | None = None  # a custom tool call's free-form input
    summary: list[SummaryPart] | None = None
    encrypted_content: str | None = None

    @property
    def kind(self) -> str:
        if self.type is not None:
            return self.type
        return "message" if self.role is not None else "item_reference"


class WebFilters(msgspec.Struct):
    allowed_domains: list[str] | None = None


class ToolDef(msgspec.Struct):
    type: str
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    tools: list[ToolDef] | None = None  # a namespace's tools
    filters: WebFilters | None = None
    external_web_access: bool | None = None


class ToolChoiceObject(msgspec.Struct):
    type: str
    name: str | None = None
    mode: str | None = None
    tools: list[ToolChoiceObject] | None = None


class TextFormat(msgspec.Struct):
    type: str = "text"
    name: str | None = None
    schema: dict[str, Any] | None = None


class TextConfig(msgspec.Struct):
    format: TextFormat | None = None


class ReasoningConfig(msgspec.Struct):
    effort: str | None = None
    summary: str | None = None
    generate_summary: str | None = None


class Request(msgspec.Struct):
    model: str = ""
    input: str | list[Item] | None = None
    instructions: str | None = None
    tools: list[ToolDef] | None = None
    tool_choice: str | ToolChoiceObject | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt: msgspec.Raw = ABSENT


class Routing(msgspec.Struct):
    """What the gateway needs to route, hold quota and store; the rest stays in the body."""

    model: str = ""
    input: msgspec.Raw = ABSENT
    stream: bool | None = False
    store: bool | None = True
    previous_response_id: str | None = None
    max_output_tokens: int | None = None
    background: bool | None = None
    conversation: msgspec.Raw = ABSENT
    prompt: msgspec.Raw = ABSENT


class Echoed(msgspec.Struct):
    """The request's settings a Response repeats, as the client wrote them."""

    instructions: msgspec.Raw = ABSENT
    tools: msgspec.Raw = ABSENT
    tool_choice: msgspec.Raw = ABSENT
    parallel_tool_calls: msgspec.Raw = ABSENT
    text: msgspec.Raw = ABSENT
    reasoning: msgspec.Raw = ABSENT
    max_output_tokens: msgspec.Raw = ABSENT
    max_tool_calls: msgspec.Raw = ABSENT
    temperature: msgspec.Raw = ABSENT
    top_p: msgspec.Raw = ABSENT
    top_logprobs: msgspec.Raw = ABSENT
    truncation: msgspec.Raw = ABSENT
    metadata: msgspec.Raw = ABSENT
    user: msgspec.Raw = ABSENT
    safety_identifier: msgspec.Raw = ABSENT
    prompt_cache_key: msgspec.Raw = ABSENT
    prompt_cache_retention: msgspec.Raw = ABSENT
    service_tier: msgspec.Raw = ABSENT
    store: msgspec.Raw = ABSENT


# What a Response says for a setting the request left out (as the API reports its defaults).
_DEFAULTS: dict[str, Any] = {
    "instructions": None,
    "tools": [],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "reasoning": {"effort": None, "summary": None},
    "max_output_tokens": None,
    "max_tool_calls": None,
    "temperature": 1.0,
    "top_p": 1.0,
    "top_logprobs": 0,
    "truncation": "disabled",
    "metadata": {},
    "user": None,
    "safety_identifier": None,
    "prompt_cache_key": None,
    "prompt_cache_retention": None,
    "service_tier": "default",
    "store": True,
}


def given(raw: msgspec.Raw) -> bool:
    """Whether a raw field was in the body, with a value other than null."""
    return len(raw) > 0 and bytes(raw) != b"null"


def new_id(prefix: str) -> str:
    """An id in the API's style: ``resp_…``, ``msg_…``, ``fc_…``, ``rs_…``."""
    return f"{prefix}_{secrets.token_hex(24)}"


def flat_name(namespace: str | None, name: str) -> str:
    return f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name


@dataclass(frozen=True, slots=True)
class Echo:
    """Everything a Response says that does not come from the model: its id and time, the
    model the client asked for, and the request's settings."""

    id: str
    created_at: int
    model: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    previous_response_id: str | None = None
    # flat tool name → (namespace, name), to give a namespaced tool's calls their namespace back
    namespaced: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        body: bytes,
        *,
        id: str,
        created_at: int,
        model: str,
        previous_response_id: str | None = None,
        namespaced: Mapping[str, tuple[str, str]] | None = None,
    ) -> Echo:
        echoed = msgspec.json.decode(body, type=Echoed)
        fields = {
            name: raw if given(raw := getattr(echoed, name)) else default
            for name, default in _DEFAULTS.items()
        }
        return cls(id, created_at, model, fields, previous_response_id, namespaced or {})

    def call_name(self, flat: str) -> tuple[str | None, str]:
        """A tool call's (namespace, name) from the flat name a vendor used."""
        found = self.namespaced.get(flat)
        return found if found is not None else (None, flat)


def usage_body(usage: neutral.Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens + usage.cache_write_1h_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


class OutputItem(msgspec.Struct):
    type: str
    id: str | None = None
    content: list[InputPart] | None = None
    call_id: str | None = None
    name: str | None = None
    namespace: str | None = None
    arguments: str | None = None
    summary: list[SummaryPart] | None = None
    encrypted_content: str | None = None


class _Incomplete(msgspec.Struct):
    reason: str | None = None


class Answer(msgspec.Struct):
    id: str = ""
    model: str = ""
    status: str | None = None
    output: list[OutputItem] = []
    usage: Usage | None = None
    incomplete_details: _Incomplete | None = None


def stop_of(status: str | None, reason: str | None, called: bool) -> neutral.StopReason:
    if status == "incomplete":
        if reason == "content_filter":
            return neutral.StopReason.FILTER
        return neutral.StopReason.LENGTH
    return neutral.StopReason.TOOL if called else neutral.StopReason.END


class _InputDetails(msgspec.Struct):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class _OutputDetails(msgspec.Struct):
    reasoning_tokens: int = 0


class Usage(msgspec.Struct):
    input_tokens: int = 0
    output_tokens: int = 0
    input_tokens_details: _InputDetails | None = None
    output_tokens_details: _OutputDetails | None = None

    def neutral(self) -> neutral.Usage:
        inputs = self.input_tokens_details or _InputDetails()
        return neutral.Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=inputs.cached_tokens,
            cache_write_tokens=inputs.cache_write_tokens,
            reasoning_tokens=(self.output_tokens_details or _OutputDetails()).reasoning_tokens,
        )


class WithUsage(msgspec.Struct):
    usage: Usage | None = None


def status_of(stop: neutral.StopReason) -> tuple[str, dict[str, str] | None]:
    """A Response's ``status`` and ``incomplete_details`` for how the answer ended."""
    if stop is neutral.StopReason.LENGTH:
        return "incomplete", {"reason": "max_output_tokens"}
    if stop is neutral.StopReason.FILTER:
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def error_code(error: GatewayError) -> str:
    return "rate_limit_exceeded" if error.status == 429 else "server_error"


def response_body(
    echo: Echo,
    *,
    status: str,
    output: list[dict[str, Any]],
    usage: neutral.Usage | None = None,
    incomplete: dict[str, str] | None = None,
    error: GatewayError | None = None,
    completed_at: int | None = None,
) -> dict[str, Any]:
    """A whole Response object."""
    return {
        "id": echo.id,
        "object": "response",
        "created_at": echo.created_at,
        "status": status,
        "background": False,
        "completed_at": completed_at,
        "error": (
            {"code": error_code(error), "message": error.message} if error is not None else None
        ),
        "incomplete_details": incomplete,
        "model": echo.model,
        "output": output,
        "previous_response_id": echo.previous_response_id,
        **echo.fields,
        "usage": usage_body(usage) if usage is not None else None,
    }


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [output_text(text)] if status == "completed" else [],
    }


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def function_call_item(
    item_id: str, call: neutral.ToolCall, echo: Echo, status: str = "completed"
) -> dict[str, Any]:
    namespace, name = echo.call_name(call.name)
    item: dict[str, Any] = {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": call.arguments,
        "call_id": call.id,
        "name": name,
    }
    if namespace is not None:
        item["namespace"] = namespace
    return item


# Reasoning items the gateway writes for another vendor's thinking carry its signature in
# ``encrypted_content`` behind this mark: so it goes back to that kind of vendor, and never to
# OpenAI, whose own encrypted content it is not.
SIGNATURE_MARK = "omnirelay.v1:"


def signature_of(encrypted: str | None) -> str | None:
    """The vendor's signature in an ``encrypted_content`` the gateway wrote, else None."""
    if encrypted is not None and encrypted.startswith(SIGNATURE_MARK):
        return encrypted[len(SIGNATURE_MARK) :]
    return None


def reasoning_item(
    item_id: str, summary: str, signature: str | None, status: str = "completed"
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id,
        "type": "reasoning",
        "status": status,
        "summary": [{"type": "summary_text", "text": summary}] if summary else [],
    }
    if signature is not None:
        item["encrypted_content"] = SIGNATURE_MARK + signature
    return item
