"""What the sandbox's Claude accepts, as the real Messages API does today: models and what each
one can do, beta names, and the validation of a request body (``validate``).

Accepted as the real API accepts them: ``system`` messages inside ``messages``, ``thinking``
(``enabled`` with a budget, ``adaptive``, ``disabled``), ``output_config`` (``effort``, a JSON
Schema ``format``), ``context_management`` (with its beta), ``cache_control`` on any block (at
most four breakpoints), deferred and server tools. Refused as it refuses them: a feature the
model lacks, thinking with forced tool use or non-default sampling, a tool-use turn without
the thinking that preceded it, and thinking blocks whose signature is not the sandbox's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from omnirelay.sandbox.chat import SandboxInputError, describe_inline, describe_url
from omnirelay.sandbox.signatures import signed_thinking


@dataclass(frozen=True, slots=True)
class Model:
    thinking: bool = True  # thinking {type: enabled}
    adaptive: bool = False  # thinking {type: adaptive}
    effort: bool = False  # output_config.effort
    structured: bool = False  # output_config.format
    cache_minimum: int = 1024  # the shortest prefix prompt caching keeps
    max_output: int = 64000  # the largest max_tokens


_CLAUDE_4 = Model()
MODELS: dict[str, Model] = {
    "claude-3-5-sonnet-20241022": Model(thinking=False, max_output=8192),
    "claude-3-5-haiku-20241022": Model(thinking=False, cache_minimum=2048, max_output=8192),
    "claude-3-7-sonnet-20250219": _CLAUDE_4,
    "claude-sonnet-4-20250514": _CLAUDE_4,
    "claude-opus-4-20250514": Model(max_output=32000),
    "claude-3-haiku-20240307": Model(thinking=False, cache_minimum=2048, max_output=4096),
    "claude-sonnet-4-5-20250929": Model(structured=True),
    "claude-haiku-4-5-20251001": Model(structured=True, cache_minimum=4096),
    "claude-sonnet-4-6": Model(adaptive=True, effort=True, structured=True),
    "claude-opus-4-6": Model(
        adaptive=True, effort=True, structured=True, cache_minimum=4096, max_output=128000
    ),
}
# Beta names the API knows (the SDK's list and what Claude Code sends); it refuses others.
BETAS = frozenset(
    {
        "message-batches-2024-09-24", "prompt-caching-2024-07-31", "computer-use-2024-10-22",
        "computer-use-2025-01-24", "pdfs-2024-09-25", "token-counting-2024-11-01",
        "token-efficient-tools-2025-02-19", "output-128k-2025-02-19", "files-api-2025-04-14",
        "mcp-client-2025-04-04", "dev-full-thinking-2025-05-14",
        "interleaved-thinking-2025-05-14", "code-execution-2025-05-22",
        "extended-cache-ttl-2025-04-11", "context-1m-2025-08-07",
        "context-management-2025-06-27", "model-context-window-exceeded-2025-08-26",
        "skills-2025-10-02", "claude-code-20250219", "fine-grained-tool-streaming-2025-05-14",
        "structured-outputs-2025-11-13", "advanced-tool-use-2025-11-20", "effort-2025-11-24",
        "web-fetch-2025-09-10", "compact-2026-01-12", "fast-mode-2026-02-01",
        "thinking-token-count-2026-05-13", "mid-conversation-tool-changes-2026-07-01",
    }
)  # fmt: skip
CONTEXT_MANAGEMENT_BETA = "context-management-2025-06-27"
FIELDS = frozenset(
    {
        "model", "messages", "max_tokens", "system", "tools", "tool_choice", "temperature",
        "top_p", "top_k", "stop_sequences", "stream", "metadata", "thinking", "service_tier",
        "container", "mcp_servers", "context_management", "output_config", "cache_control",
        "inference_geo", "speed", "sandbox_fault",
    }
)  # fmt: skip
_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
# Server tools (run by Anthropic) are typed and carry no input_schema.
_SERVER_TOOLS = re.compile(
    r"^(web_search|web_fetch|code_execution|bash|text_editor|computer|memory|tool_search_tool"
    r"_regex|tool_search_tool_bm25)_\d{8}$"
)
_EFFORTS = frozenset({"low", "medium", "high", "xhigh", "max"})
_EDITS = frozenset({"clear_thinking_20251015", "clear_tool_uses_20250919", "compact_20260112"})
MAX_BREAKPOINTS = 4
MIN_BUDGET = 1024


class UnknownModel(LookupError):
    pass


@dataclass(slots=True)
class Checked:
    """What validation learned on the way: the model, and the cache breakpoints seen."""

    model: Model
    breakpoints: int = 0


def _cache_control(block: dict[str, Any], where: str, checked: Checked) -> None:
    control = block.get("cache_control")
    if control is None:
        return
    if not isinstance(control, dict) or control.get("type") != "ephemeral":
        raise SandboxInputError(f"{where}.cache_control.type: Input should be 'ephemeral'")
    if control.get("ttl", "5m") not in ("5m", "1h"):
        raise SandboxInputError(f"{where}.cache_control.ttl: Input should be '5m' or '1h'")
    checked.breakpoints += 1


def _check_image(source: dict[str, Any], where: str) -> None:
    if source.get("type") == "base64":
        if source.get("media_type") not in _MEDIA_TYPES:
            raise SandboxInputError(f"{where}.source.media_type: unsupported image type")
        describe_inline(source["media_type"], str(source.get("data", "")), where)
    elif source.get("type") == "url":
        describe_url(str(source.get("url", "")), where)
    else:
        raise SandboxInputError(f"{where}.source: expected a base64 or url source")


def _check_thinking(block: dict[str, Any], where: str, role: str) -> None:
    if role != "assistant":
        raise SandboxInputError(f"{where}: thinking blocks may only appear in assistant turns")
    if block["type"] == "redacted_thinking":
        if not isinstance(block.get("data"), str) or not block["data"]:
            raise SandboxInputError(f"{where}.data: Field required")
        return
    signature = block.get("signature")
    text = block.get("thinking")
    if not isinstance(signature, str) or not isinstance(text, str):
        raise SandboxInputError(f"{where}: thinking blocks need `thinking` and `signature`")
    signed = signed_thinking(signature)
    if signed is None or text not in ("", signed):
        raise SandboxInputError(f"{where}: Invalid `signature` in `thinking` block")


def _check_result(block: dict[str, Any], where: str, role: str, checked: Checked) -> None:
    if not isinstance(block.get("tool_use_id"), str):
        raise SandboxInputError(f"{where}.tool_use_id: Field required")
    content = block.get("content", "")
    for i, inner in enumerate(content if isinstance(content, list) else ()):
        if isinstance(inner, dict) and inner.get("type") == "tool_reference":
            continue  # a deferred tool loaded by a tool search
        check_block(inner, f"{where}.content.{i}", role, checked)


def check_block(block: Any, where: str, role: str, checked: Checked) -> None:
    if not isinstance(block, dict):
        raise SandboxInputError(f"{where}: Input should be an object")
    kind = block.get("type")
    _cache_control(block, where, checked)
    if kind == "text":
        if not isinstance(block.get("text"), str) or not block["text"]:
            raise SandboxInputError(f"{where}: text content blocks must be non-empty")
    elif kind == "image":
        _check_image(block.get("source") or {}, where)
    elif kind == "tool_use":
        if not isinstance(block.get("id"), str) or not isinstance(block.get("input"), dict):
            raise SandboxInputError(f"{where}: tool_use needs an id and an object input")
    elif kind == "tool_result":
        _check_result(block, where, role, checked)
    elif kind in ("thinking", "redacted_thinking"):
        _check_thinking(block, where, role)
    elif kind not in ("document", "search_result"):
        raise SandboxInputError(f"{where}.type: unknown content block type {kind!r}")


def blocks_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    return content if isinstance(content, list) else []


def _check_tool_pairs(messages: list[dict[str, Any]]) -> None:
    """Every tool_use is answered in the next user turn; no tool_result answers nothing."""
    asked: set[str] = set()
    turns = [(i, m) for i, m in enumerate(messages) if m["role"] != "system"]
    for i, message in turns:
        blocks = blocks_of(message)
        answered = {b["tool_use_id"] for b in blocks if b.get("type") == "tool_result"}
        if message["role"] == "user":
            if answered - asked:
                raise SandboxInputError(
                    f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` "
                    f"blocks: {sorted(answered - asked)[0]}"
                )
            if asked - answered:
                raise SandboxInputError(
                    f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {sorted(asked - answered)[0]}"
                )
            asked = set()
        else:
            asked = {b["id"] for b in blocks if b.get("type") == "tool_use"}


def _check_messages(messages: Any, checked: Checked) -> None:
    if not isinstance(messages, list) or not messages:
        raise SandboxInputError("messages: at least one message is required")
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant", "system"):
            raise SandboxInputError(
                f"messages.{i}.role: Input should be 'user', 'assistant' or 'system'"
            )
        content = message.get("content")
        if not isinstance(content, str | list):
            raise SandboxInputError(f"messages.{i}.content: Field required")
        for j, block in enumerate(content if isinstance(content, list) else ()):
            where = f"messages.{i}.content.{j}"
            if role == "system" and (not isinstance(block, dict) or block.get("type") != "text"):
                raise SandboxInputError(f"{where}.type: system messages take text blocks only")
            check_block(block, where, str(role), checked)
    _check_tool_pairs(messages)


def _check_tools(body: dict[str, Any], checked: Checked) -> None:
    for i, tool in enumerate(body.get("tools") or ()):
        kind = tool.get("type")
        _cache_control(tool, f"tools.{i}", checked)
        if kind not in (None, "custom"):
            if not isinstance(kind, str) or not _SERVER_TOOLS.match(kind):
                raise SandboxInputError(f"tools.{i}.type: unknown tool type {kind!r}")
            continue
        if not _TOOL_NAME.match(str(tool.get("name", ""))):
            raise SandboxInputError(f"tools.{i}.name: String should match ^[a-zA-Z0-9_-]{{1,128}}$")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise SandboxInputError(f"tools.{i}.input_schema.type: Input should be 'object'")
    choice = body.get("tool_choice")
    if choice is not None and choice.get("type") not in ("auto", "any", "tool", "none"):
        raise SandboxInputError("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")


def _check_sampling(body: dict[str, Any]) -> None:
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        raise SandboxInputError("system: Input should be a string or a list of text blocks")
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        raise SandboxInputError("temperature: Input should be between 0 and 1")
    stops = body.get("stop_sequences")
    if stops is not None and not all(isinstance(s, str) for s in stops):
        raise SandboxInputError("stop_sequences: Input should be a list of strings")


def thinking_on(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking") or {}
    return thinking.get("type") in ("enabled", "adaptive")


def _check_thinking_config(body: dict[str, Any], model: Model, counting: bool) -> None:
    thinking = body.get("thinking")
    if thinking is None:
        return
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in ("enabled", "adaptive", "disabled"):
        raise SandboxInputError(
            "thinking.type: Input should be 'enabled', 'adaptive' or 'disabled'"
        )
    if thinking.get("display") not in (None, "summarized", "omitted"):
        raise SandboxInputError("thinking.display: Input should be 'summarized' or 'omitted'")
    if kind == "disabled":
        return
    if not model.thinking or (kind == "adaptive" and not model.adaptive):
        raise SandboxInputError(f"thinking.type: '{kind}' is not supported for this model")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < MIN_BUDGET:
            raise SandboxInputError("thinking.budget_tokens: Input should be at least 1024")
        if not counting and budget >= body["max_tokens"]:
            raise SandboxInputError("`max_tokens` must be greater than `thinking.budget_tokens`")
    if body.get("temperature") not in (None, 1):
        raise SandboxInputError("`temperature` may only be set to 1 when thinking is enabled")
    if body.get("top_k") is not None:
        raise SandboxInputError("`top_k` cannot be set when thinking is enabled")
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        raise SandboxInputError("Thinking may not be enabled when tool_choice forces tool use.")
    _check_thinking_turn(body["messages"])


def _check_thinking_turn(messages: list[dict[str, Any]]) -> None:
    """Mid tool use, the assistant turn that called the tools must open with its thinking."""
    turns = [m for m in messages if m["role"] != "system"]
    last = blocks_of(turns[-1]) if turns else []
    if (
        not turns
        or turns[-1]["role"] != "user"
        or not any(b.get("type") == "tool_result" for b in last)
    ):
        return
    called = turns[-2] if len(turns) > 1 else None
    opening = blocks_of(called)[0].get("type") if called and blocks_of(called) else None
    if opening not in ("thinking", "redacted_thinking"):
        raise SandboxInputError(
            "messages: Expected `thinking` or `redacted_thinking`, but found "
            f"`{opening}`. When `thinking` is enabled, a final `assistant` message must start "
            "with a thinking block."
        )


def _check_output_config(body: dict[str, Any], model: Model) -> None:
    config = body.get("output_config")
    if config is None:
        return
    if not isinstance(config, dict) or set(config) - {"effort", "format"}:
        raise SandboxInputError("output_config: Extra inputs are not permitted")
    effort = config.get("effort")
    if effort is not None:
        if effort not in _EFFORTS:
            raise SandboxInputError("output_config.effort: Input should be 'low', 'medium', "
                                    "'high', 'xhigh' or 'max'")  # fmt: skip
        if not model.effort:
            raise SandboxInputError("output_config.effort: not supported for this model")
    output_format = config.get("format")
    if output_format is not None:
        if not model.structured:
            raise SandboxInputError("output_config.format: not supported for this model")
        if output_format.get("type") != "json_schema" or not isinstance(
            output_format.get("schema"), dict
        ):
            raise SandboxInputError("output_config.format: expected a json_schema with a schema")


def _check_context_management(body: dict[str, Any], betas: list[str]) -> None:
    management = body.get("context_management")
    if management is None:
        return
    if CONTEXT_MANAGEMENT_BETA not in betas:
        raise SandboxInputError("context_management: Extra inputs are not permitted")
    for i, edit in enumerate((management or {}).get("edits") or ()):
        if not isinstance(edit, dict) or edit.get("type") not in _EDITS:
            raise SandboxInputError(f"context_management.edits.{i}.type: unknown edit type")


def validate(body: dict[str, Any], betas: list[str], *, counting: bool = False) -> Checked:
    """Check a /v1/messages body (``counting``: a count_tokens body) or raise the API's 400;
    an unknown model is ``UnknownModel``."""
    extra = sorted(set(body) - FIELDS)
    if extra:
        raise SandboxInputError(f"{extra[0]}: Extra inputs are not permitted")
    if not isinstance(body.get("model"), str):
        raise SandboxInputError("model: Field required")
    if body["model"] not in MODELS:
        raise UnknownModel(f"model: {body['model']}")
    checked = Checked(MODELS[body["model"]])
    if not counting and (not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1):
        raise SandboxInputError("max_tokens: Field required (a positive integer)")
    if not counting and body["max_tokens"] > checked.model.max_output:
        raise SandboxInputError(
            f"max_tokens: {body['max_tokens']} > {checked.model.max_output}, which is the "
            f"maximum allowed number of output tokens for {body['model']}"
        )
    _check_messages(body.get("messages"), checked)
    for i, block in enumerate(body["system"] if isinstance(body.get("system"), list) else ()):
        check_block(block, f"system.{i}", "system", checked)
    _check_tools(body, checked)
    _check_sampling(body)
    _check_thinking_config(body, checked.model, counting)
    _check_output_config(body, checked.model)
    _check_context_management(body, betas)
    if body.get("cache_control") is not None:
        _cache_control(body, "", checked)
    if checked.breakpoints > MAX_BREAKPOINTS:
        raise SandboxInputError(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {checked.breakpoints}."
        )
    return checked
