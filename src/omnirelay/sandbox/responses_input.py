"""What the sandbox's Responses API accepts, checked as strictly as the real one, and the
conversation a request amounts to (for the shared answer logic in ``sandbox/chat.py``)."""

from __future__ import annotations

import json
import re
from typing import Any

from omnirelay.sandbox.chat import (
    Conversation,
    SandboxInputError,
    ToolSpec,
    describe_inline,
    describe_url,
)

# Top-level parameters the API knows (``sandbox_*`` are the sandbox's own test hooks).
PARAMETERS = frozenset(
    """model input instructions tools tool_choice parallel_tool_calls text reasoning
    max_output_tokens max_tool_calls temperature top_p top_logprobs truncation metadata user
    safety_identifier prompt_cache_key prompt_cache_retention service_tier store stream
    stream_options include previous_response_id background conversation prompt client_metadata
    context_management sandbox_fault sandbox_echo""".split()
)
ITEM_TYPES = frozenset(
    """message function_call function_call_output reasoning item_reference web_search_call
    custom_tool_call custom_tool_call_output""".split()
)
TOOL_TYPES = frozenset(
    """function namespace custom web_search web_search_2025_08_26 web_search_preview
    web_search_preview_2025_03_11 file_search code_interpreter image_generation mcp
    local_shell shell apply_patch computer_use_preview tool_search""".split()
)
INCLUDABLE = frozenset(
    """reasoning.encrypted_content message.output_text.logprobs web_search_call.action.sources
    web_search_call.results file_search_call.results message.input_image.image_url
    computer_call_output.output.image_url code_interpreter_call.outputs""".split()
)
_USER_PARTS = frozenset({"input_text", "input_image", "input_file"})
_ASSISTANT_PARTS = frozenset({"output_text", "refusal"})
_ROLES = frozenset({"user", "system", "developer", "assistant"})
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
_SUMMARIES = frozenset({"auto", "concise", "detailed"})
MIN_OUTPUT_TOKENS = 16


def _invalid(message: str, param: str | None) -> SandboxInputError:
    return SandboxInputError(message, param)


def _supported(value: Any, allowed: frozenset[str], param: str) -> None:
    if value not in allowed:
        listed = ", ".join(f"'{a}'" for a in sorted(allowed))
        raise _invalid(f"Invalid value: '{value}'. Supported values are: {listed}.", param)


def kind_of(item: dict[str, Any]) -> str:
    return str(item.get("type") or ("message" if "role" in item else "item_reference"))


def _check_content(item: dict[str, Any], where: str) -> None:
    content = item.get("content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _invalid(f"Invalid type for '{where}.content': expected a string or array.", where)
    allowed = _ASSISTANT_PARTS if item.get("role") == "assistant" else _USER_PARTS
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        if not isinstance(part, dict):
            raise _invalid(f"Invalid type for '{at}': expected an object.", at)
        _supported(part.get("type"), allowed, f"{at}.type")
        if part["type"] == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str) and not part.get("file_id"):
                raise _invalid(f"Missing required parameter: '{at}.image_url'.", at)
            if isinstance(url, str):
                _describe_image(url, at)
        elif part["type"] != "input_file" and not isinstance(
            part.get("text", part.get("refusal")), str
        ):
            raise _invalid(f"Missing required parameter: '{at}.text'.", at)


def _describe_image(url: str, where: str) -> str:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        return describe_inline(header[5:].split(";")[0], data, where)
    return describe_url(url, where)


def _check_item(item: Any, where: str, calls: set[str]) -> None:
    if not isinstance(item, dict):
        raise _invalid(f"Invalid type for '{where}': expected an object.", where)
    kind = kind_of(item)
    _supported(kind, ITEM_TYPES, f"{where}.type")
    if kind == "message":
        _supported(item.get("role"), _ROLES, f"{where}.role")
        _check_content(item, where)
    elif kind in ("function_call", "custom_tool_call"):
        for name in ("call_id", "name", "arguments" if kind == "function_call" else "input"):
            if not isinstance(item.get(name), str):
                raise _invalid(f"Missing required parameter: '{where}.{name}'.", f"{where}.{name}")
        calls.add(item["call_id"])
    elif kind in ("function_call_output", "custom_tool_call_output"):
        if item.get("call_id") not in calls:
            raise _invalid(
                f"No tool call found for function call output with call_id {item.get('call_id')}.",
                "input",
            )
    elif kind == "reasoning" and not isinstance(item.get("summary"), list):
        raise _invalid(f"Missing required parameter: '{where}.summary'.", f"{where}.summary")


def check_items(items: list[Any], earlier_calls: set[str]) -> None:
    calls = set(earlier_calls)
    for i, item in enumerate(items):
        _check_item(item, f"input[{i}]", calls)


def _check_tool(tool: Any, where: str) -> None:
    if not isinstance(tool, dict):
        raise _invalid(f"Invalid type for '{where}': expected an object.", where)
    kind = tool.get("type")
    _supported(kind, TOOL_TYPES, f"{where}.type")
    if kind in ("function", "custom", "namespace"):
        name = tool.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise _invalid(
                f"Invalid '{where}.name': string does not match pattern. Expected a string that "
                "matches the pattern '^[a-zA-Z0-9_-]+$'.",
                f"{where}.name",
            )
    if kind == "function":
        parameters = tool.get("parameters")
        if parameters is not None and (
            not isinstance(parameters, dict) or parameters.get("type", "object") != "object"
        ):
            raise _invalid(
                f"Invalid schema for function '{tool['name']}': schema must be a JSON Schema "
                "of 'type: \"object\"'.",
                f"{where}.parameters",
            )
    elif kind == "namespace":
        inner = tool.get("tools")
        if not isinstance(inner, list) or not inner:
            raise _invalid(f"Missing required parameter: '{where}.tools'.", f"{where}.tools")
        for j, sub in enumerate(inner):
            _check_tool(sub, f"{where}.tools[{j}]")
            _supported(sub["type"], frozenset({"function", "custom"}), f"{where}.tools[{j}].type")
    elif kind == "file_search" and not tool.get("vector_store_ids"):
        raise _invalid(
            f"Missing required parameter: '{where}.vector_store_ids'.", f"{where}.vector_store_ids"
        )


def function_names(tools: list[Any]) -> dict[str, str | None]:
    """Callable tool name → its namespace (None outside one)."""
    names: dict[str, str | None] = {}
    for tool in tools:
        if tool.get("type") in ("function", "custom"):
            names[tool["name"]] = None
        elif tool.get("type") == "namespace":
            names.update({t["name"]: tool["name"] for t in tool["tools"]})
    return names


def _check_tool_choice(choice: Any, names: dict[str, str | None]) -> None:
    if choice is None or choice in ("auto", "none", "required"):
        return
    if not isinstance(choice, dict):
        raise _invalid(
            f"Invalid value: '{choice}'. Supported values are: 'none', 'auto' and 'required'.",
            "tool_choice",
        )
    if choice.get("type") in ("function", "custom") and choice.get("name") not in names:
        raise _invalid(
            f"Tool choice '{choice.get('type')}' not found in 'tools' parameter.", "tool_choice"
        )


def _check_text(text: Any) -> None:
    if text is None:
        return
    fmt = (text or {}).get("format") if isinstance(text, dict) else None
    if fmt is None:
        return
    _supported(
        fmt.get("type"), frozenset({"text", "json_object", "json_schema"}), "text.format.type"
    )
    if fmt["type"] == "json_schema":
        if not isinstance(fmt.get("name"), str) or not _NAME.match(fmt["name"]):
            raise _invalid("Missing required parameter: 'text.format.name'.", "text.format.name")
        if not isinstance(fmt.get("schema"), dict):
            raise _invalid(
                "Missing required parameter: 'text.format.schema'.", "text.format.schema"
            )


def _check_numbers(body: dict[str, Any]) -> None:
    limit = body.get("max_output_tokens")
    if limit is not None and (not isinstance(limit, int) or limit < MIN_OUTPUT_TOKENS):
        raise SandboxInputError(
            f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
            f"{MIN_OUTPUT_TOKENS}, but got {limit} instead.",
            "max_output_tokens",
        )
    for name, high in (("temperature", 2.0), ("top_p", 1.0)):
        value = body.get(name)
        if value is not None and not (isinstance(value, int | float) and 0 <= value <= high):
            raise _invalid(f"Invalid '{name}': must be between 0 and {high:g}.", name)


def _check_metadata(metadata: Any) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict) or len(metadata) > 16:
        raise _invalid("Invalid 'metadata': expected an object of at most 16 pairs.", "metadata")
    for key, value in metadata.items():
        if len(key) > 64 or not isinstance(value, str) or len(value) > 512:
            raise _invalid(
                "Invalid 'metadata': keys are strings of at most 64 characters, values strings "
                "of at most 512.",
                "metadata",
            )


def validate(body: dict[str, Any], reasoning_model: bool) -> None:
    """Raise ``SandboxInputError`` for what the real API rejects (items are checked apart,
    with the tool calls of earlier turns)."""
    for name in body:
        if name not in PARAMETERS:
            raise _invalid(f"Unknown parameter: '{name}'.", name)
    raw_input = body.get("input")
    if raw_input is None and not body.get("previous_response_id"):
        raise _invalid("Missing required parameter: 'input'.", "input")
    if raw_input is not None and not isinstance(raw_input, str | list):
        raise _invalid("Invalid type for 'input': expected a string or an array.", "input")
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise _invalid("Invalid type for 'tools': expected an array.", "tools")
    for i, tool in enumerate(tools):
        _check_tool(tool, f"tools[{i}]")
    _check_tool_choice(body.get("tool_choice"), function_names(tools))
    _check_text(body.get("text"))
    _check_numbers(body)
    _check_metadata(body.get("metadata"))
    reasoning = body.get("reasoning") or {}
    if reasoning.get("effort") is not None:
        if not reasoning_model:
            raise _invalid(
                "Unsupported parameter: 'reasoning.effort' is not supported with this model.",
                "reasoning.effort",
            )
        _supported(reasoning["effort"], _EFFORTS, "reasoning.effort")
    if reasoning.get("summary") is not None:
        _supported(reasoning["summary"], _SUMMARIES, "reasoning.summary")
    for i, value in enumerate(body.get("include") or ()):
        _supported(value, INCLUDABLE, f"include[{i}]")


def items_of(raw_input: Any) -> list[dict[str, Any]]:
    if raw_input is None:
        return []
    if isinstance(raw_input, str):
        return [{"type": "message", "role": "user", "content": raw_input}]
    return [dict(i, type=kind_of(i)) for i in raw_input]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(
        str(p.get("text") or p.get("refusal") or "")
        for p in content or ()
        if isinstance(p, dict) and p.get("type") in ("input_text", "output_text", "refusal")
    )


def output_text(output: Any) -> str:
    return output if isinstance(output, str) else _text(output)


def _tool_mode(choice: Any) -> tuple[str, str | None]:
    if isinstance(choice, dict) and choice.get("type") in ("function", "custom"):
        return "named", choice.get("name")
    if choice in ("none", "required"):
        return str(choice), None
    return "auto", None


def _response_format(text: Any) -> dict[str, Any] | None:
    fmt = (text or {}).get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_schema":
        return {"type": "json_schema", "json_schema": {"schema": fmt.get("schema")}}
    return {"type": "json_object"}


def conversation(body: dict[str, Any], items: list[dict[str, Any]]) -> Conversation:
    users = [i for i in items if i["type"] == "message" and i.get("role") == "user"]
    answering = bool(items) and items[-1]["type"] in (
        "function_call_output",
        "custom_tool_call_output",
    )
    results = [output_text(i.get("output")) for i in items if i["type"].endswith("_call_output")]
    images = [
        _describe_image(str(p.get("image_url")), "input")
        for i in users
        for p in (i["content"] if isinstance(i.get("content"), list) else [])
        if p.get("type") == "input_image" and p.get("image_url")
    ]
    tools = body.get("tools") or []
    specs = [
        ToolSpec(t["name"], t.get("parameters") or {"type": "object"})
        for t in tools
        if t.get("type") == "function"
    ] + [
        ToolSpec(t["name"], t.get("parameters") or {"type": "object"})
        for n in tools
        if n.get("type") == "namespace"
        for t in n["tools"]
        if t.get("type") == "function"
    ]
    mode, named = _tool_mode(body.get("tool_choice"))
    return Conversation(
        user_text=_text(users[-1].get("content")) if users else "",
        images=images,
        tool_results=results if answering else None,
        tools=specs,
        tool_mode=mode,
        named_tool=named,
        parallel_tools=body.get("parallel_tool_calls") is not False,
        max_tokens=body.get("max_output_tokens"),
        response_format=_response_format(body.get("text")),
    )


def prompt_tokens(body: dict[str, Any], items: list[dict[str, Any]]) -> int:
    """Words of every text, four per item, 85 per image, and the tools' JSON over four."""
    total = len(str(body.get("instructions") or "").split())
    for item in items:
        total += 4 + len(_text(item.get("content")).split())
        total += len(output_text(item.get("output")).split()) if "output" in item else 0
        content = item.get("content")
        if isinstance(content, list):
            total += 85 * sum(1 for p in content if p.get("type") == "input_image")
    tools = body.get("tools")
    return total + (len(json.dumps(tools)) // 4 if tools else 0)
