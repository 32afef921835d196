"""Anthropic Messages requests ↔ the neutral pivot.

Decoding reads what Claude Code and the SDKs send today: ``system`` messages inside
``messages``, thinking blocks (signatures kept for the way back), ``thinking`` and
``output_config`` (effort, a JSON Schema), deferred tools. What has no meaning for another
vendor (``cache_control``, ``context_management``, citations, server tools) is not carried.

Encoding asks a Claude model only for what it has (``models.features``): thinking by budget or
adaptive with effort, and a JSON Schema answer by ``output_config.format`` or, on models
without structured outputs, by a forced tool whose input is the answer (``ANSWER_TOOLS``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from omnirelay.errors import InvalidRequest
from omnirelay.formats import neutral
from omnirelay.formats.anthropic.models import Features, features
from omnirelay.formats.anthropic.wire import Block, Request, Source, ToolChoice
from omnirelay.formats.decoding import decode_as

DEFAULT_MAX_TOKENS = 4096
# The forced tool carrying a structured answer: an object schema as the tool's input, any
# other schema wrapped as the input's ``value``. Answers by these tools become text again.
ANSWER_TOOL = "omnirelay_json_answer"
VALUE_TOOL = "omnirelay_json_value"
ANSWER_TOOLS = frozenset({ANSWER_TOOL, VALUE_TOOL})
# Thinking budgets for an effort word, on models that take a budget only.
EFFORT_BUDGETS = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 24576,
    "max": 32000,
}
_EFFORTS = frozenset({"low", "medium", "high", "xhigh", "max"})
MIN_BUDGET = 1024


def _image(source: Source | None) -> neutral.Image:
    if source is not None and source.type == "base64" and source.data is not None:
        data = neutral.standard_base64(source.data)
        return neutral.Image(media_type=source.media_type or "image/png", data=data)
    if source is not None and source.type == "url" and source.url:
        return neutral.image_from_url(source.url)
    raise InvalidRequest("image blocks need a base64 or url source", param="messages")


def _result_content(content: str | list[Block] | None) -> list[neutral.Text | neutral.Image]:
    if content is None:
        return []
    if isinstance(content, str):
        return [neutral.Text(content)]
    parts: list[neutral.Text | neutral.Image] = []
    for block in content:
        if block.type == "text":
            parts.append(neutral.Text(block.text or ""))
        elif block.type == "image":
            parts.append(_image(block.source))
        elif block.type == "tool_reference" and block.tool_name:
            # A deferred tool made visible to the model: other vendors see it in the tool list.
            parts.append(neutral.Text(f"Tool available: {block.tool_name}"))
    return parts


def _part(block: Block, where: str) -> neutral.Part | None:
    kind = block.type
    if kind == "text":
        return neutral.Text(block.text or "")
    if kind == "image":
        return _image(block.source)
    if kind == "tool_use":
        arguments = msgspec.json.encode(block.input or {}).decode()
        return neutral.ToolCall(block.id or "", block.name or "", arguments)
    if kind == "tool_result":
        return neutral.ToolResult(
            id=block.tool_use_id or "",
            content=_result_content(block.content),
            is_error=bool(block.is_error),
        )
    if kind == "thinking":
        return neutral.Thinking(block.thinking or "", signature=block.signature)
    if kind == "redacted_thinking":
        return neutral.Thinking("", redacted=block.data or "")
    raise InvalidRequest(
        f"{where}.type: content blocks of type '{kind}' cannot be sent to this model",
        param=where,
    )


def _text_of(content: str | list[Block], where: str) -> str:
    if isinstance(content, str):
        return content
    for j, block in enumerate(content):
        if block.type != "text":
            raise InvalidRequest(
                f"{where}.content.{j}.type: system messages hold text blocks only", param=where
            )
    return "\n\n".join(b.text or "" for b in content if b.text)


def _tool_choice(raw: ToolChoice | None) -> neutral.ToolChoice | None:
    if raw is None:
        return None
    modes: dict[str, neutral.ToolChoice] = {
        "auto": neutral.ToolChoice("auto"),
        "any": neutral.ToolChoice("required"),
        "none": neutral.ToolChoice("none"),
    }
    if raw.type == "tool":
        return neutral.ToolChoice("named", raw.name)
    if raw.type not in modes:
        raise InvalidRequest(f"invalid tool_choice type '{raw.type}'", param="tool_choice")
    return modes[raw.type]


def _referenced(raw: Request) -> set[str]:
    """Deferred tools a ``tool_reference`` block has made visible so far."""
    names: set[str] = set()
    for message in raw.messages:
        for block in message.content if isinstance(message.content, list) else ():
            if block.type == "tool_result" and isinstance(block.content, list):
                names.update(b.tool_name for b in block.content if b.tool_name)
    return names


def _tools(raw: Request) -> list[neutral.Tool]:
    """Client tools the model can see. Server tools (typed, run by Anthropic) have no meaning
    elsewhere; a deferred tool is hidden from the model until a tool search loads it."""
    visible = _referenced(raw) if any(t.defer_loading for t in raw.tools or ()) else set()
    return [
        neutral.Tool(t.name, t.description, dict(t.input_schema or {"type": "object"}))
        for t in raw.tools or ()
        if t.type in (None, "custom") and (not t.defer_loading or t.name in visible)
    ]


def _reasoning(raw: Request) -> neutral.Reasoning | None:
    thinking = raw.thinking
    effort = raw.output_config.effort if raw.output_config else None
    if thinking is None or thinking.type == "disabled":
        return neutral.Reasoning(effort=effort) if effort else None
    return neutral.Reasoning(
        effort=effort,
        budget_tokens=thinking.budget_tokens if thinking.type == "enabled" else None,
        include_thoughts=thinking.display != "omitted",
    )


def decode_request(body: bytes, *, model: str, stream: bool) -> neutral.Request:
    raw = decode_as(body, Request)
    system = raw.system
    instructions = [system] if isinstance(system, str) else [b.text or "" for b in system or ()]
    messages: list[neutral.Message] = []
    for i, message in enumerate(raw.messages):
        where = f"messages.{i}"
        if message.role == "system":
            instructions.append(_text_of(message.content, where))
            continue
        if message.role not in ("user", "assistant"):
            raise InvalidRequest(
                f"{where}.role: must be 'user', 'assistant' or 'system'", param=f"{where}.role"
            )
        blocks = message.content
        parts = (
            [neutral.Text(blocks)]
            if isinstance(blocks, str)
            else [
                p
                for j, b in enumerate(blocks)
                if (p := _part(b, f"{where}.content.{j}")) is not None
            ]
        )
        messages.append(neutral.Message(message.role, parts))  # type: ignore[arg-type]
    choice = raw.tool_choice
    output_format = raw.output_config.format if raw.output_config else None
    schema = output_format.schema if output_format is not None else None
    return neutral.Request(
        model=model,
        messages=messages,
        system=[s for s in instructions if s],
        tools=_tools(raw),
        tool_choice=_tool_choice(choice),
        parallel_tool_calls=(
            False if choice is not None and choice.disable_parallel_tool_use else None
        ),
        max_tokens=raw.max_tokens,
        temperature=raw.temperature,
        top_p=raw.top_p,
        top_k=raw.top_k,
        stop=list(raw.stop_sequences or ()),
        json_mode=schema is not None,
        json_schema=schema,
        user=raw.metadata.user_id if raw.metadata else None,
        stream=stream,
        reasoning=_reasoning(raw),
    )


# Encoding, for a Claude vendor.


def _image_block(image: neutral.Image) -> dict[str, Any]:
    if image.url is not None:
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    source = {"type": "base64", "media_type": image.media_type, "data": image.data or ""}
    return {"type": "image", "source": source}


def _thinking_block(part: neutral.Thinking) -> dict[str, Any] | None:
    if part.redacted is not None:
        return {"type": "redacted_thinking", "data": part.redacted}
    if not part.signature:
        return None  # Claude takes back only the thinking it signed
    return {"type": "thinking", "thinking": part.text, "signature": part.signature}


def _block(part: neutral.Part) -> dict[str, Any] | None:
    if isinstance(part, neutral.Text):
        # The API rejects empty text blocks.
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, neutral.Image):
        return _image_block(part)
    if isinstance(part, neutral.ToolCall):
        return {
            "type": "tool_use",
            "id": part.id,
            "name": part.name,
            "input": neutral.arguments_object(part.arguments),
        }
    if isinstance(part, neutral.Thinking):
        return _thinking_block(part)
    content: list[dict[str, Any]] = [
        _image_block(p) if isinstance(p, neutral.Image) else {"type": "text", "text": p.text}
        for p in part.content
        if not (isinstance(p, neutral.Text) and not p.text)
    ]
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": part.id, "content": content}
    if part.is_error:
        block["is_error"] = True
    return block


def _messages(messages: list[neutral.Message]) -> list[dict[str, Any]]:
    """Alternating turns; tool results first in their user turn, as the API requires."""
    out: list[dict[str, Any]] = []
    for message in messages:
        blocks = [b for b in map(_block, message.parts) if b is not None]
        if not blocks:
            continue
        if out and out[-1]["role"] == message.role:
            out[-1]["content"] += blocks
        else:
            out.append({"role": message.role, "content": blocks})
    for entry in out:
        entry["content"].sort(key=lambda b: b["type"] != "tool_result")
    return out


def _tool_definitions(tools: list[neutral.Tool]) -> list[dict[str, Any]]:
    return [
        {
            "name": t.name,
            **({"description": t.description} if t.description else {}),
            "input_schema": {"type": "object", **t.parameters},
        }
        for t in tools
    ]


def _tool_choice_wire(request: neutral.Request) -> dict[str, Any] | None:
    choice = request.tool_choice
    wire: dict[str, Any] | None = None
    if choice is not None:
        names = {"auto": "auto", "none": "none", "required": "any", "named": "tool"}
        wire = {"type": names[choice.mode]}
        if choice.mode == "named":
            wire["name"] = choice.name
    if request.parallel_tool_calls is False and request.tools:
        wire = wire or {"type": "auto"}
        if wire["type"] != "none":
            wire["disable_parallel_tool_use"] = True
    if wire is not None and (request.tools or wire["type"] == "none"):
        return wire
    return None


def _tools_and_choice(request: neutral.Request) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if request.tools:
        body["tools"] = _tool_definitions(request.tools)
    if request.web_search is not None:
        body.setdefault("tools", []).append(_web_search_tool(request.web_search))
    wire = _tool_choice_wire(request)
    if wire is not None:
        body["tool_choice"] = wire
    return body


def _web_search_tool(search: neutral.WebSearch) -> dict[str, Any]:
    """Claude's own web search (a server tool: Anthropic runs the searches)."""
    tool: dict[str, Any] = {"type": "web_search_20250305", "name": "web_search"}
    if search.allowed_domains:
        tool["allowed_domains"] = list(search.allowed_domains)
    return tool


def prompt(request: neutral.Request, model: str) -> dict[str, Any]:
    """What the model reads (also the token-counting body)."""
    body: dict[str, Any] = {"model": model, "messages": _messages(request.messages)}
    system = "\n\n".join(s for s in request.system if s)
    if system:
        body["system"] = system
    body.update(_tools_and_choice(request))
    return body


def _answer_tool(schema: dict[str, Any]) -> dict[str, Any]:
    description = "Give your whole answer with this tool; its input is the answer."
    if schema.get("type") == "object":
        return {"name": ANSWER_TOOL, "description": description, "input_schema": schema}
    wrapped = {"type": "object", "properties": {"value": schema}, "required": ["value"]}
    return {"name": VALUE_TOOL, "description": description, "input_schema": wrapped}


def _structured(request: neutral.Request, body: dict[str, Any], model: Features) -> None:
    """A JSON answer: Claude's structured outputs where the model has them, else a forced tool."""
    schema = request.json_schema
    if schema is not None and model.structured:
        body.setdefault("output_config", {})["format"] = {"type": "json_schema", "schema": schema}
        return
    tool = _answer_tool(schema if schema is not None else {"type": "object"})
    client_tools = body.get("tools", [])
    choice = body.get("tool_choice", {})
    body["tools"] = [*client_tools, tool]
    if client_tools and choice.get("type") != "none":
        # The model may still call the client's tools; any tool call is an answer either way.
        body["tool_choice"] = {**choice, "type": "any"} if choice.get("type") != "tool" else choice
    else:
        body["tool_choice"] = {"type": "tool", "name": tool["name"]}


def _signed_last_turn(request: neutral.Request) -> bool:
    """With thinking on, Claude wants the assistant turn that called tools to open with the
    thinking it signed; a history from another vendor has none, so thinking stays off."""
    for message in reversed(request.messages):
        if message.role == "assistant":
            calls = any(isinstance(p, neutral.ToolCall) for p in message.parts)
            signed = any(
                isinstance(p, neutral.Thinking) and (p.signature or p.redacted is not None)
                for p in message.parts
            )
            return signed or not calls
    return True


def _thinking(request: neutral.Request, body: dict[str, Any], model: Features) -> None:
    reasoning = request.reasoning
    if reasoning is None or not model.thinking or reasoning.effort == "none":
        return
    if body.get("tool_choice", {}).get("type") in ("any", "tool"):
        return  # Claude cannot think while forced to use a tool
    if not _signed_last_turn(request):
        return
    display = {} if reasoning.include_thoughts else {"display": "omitted"}
    effort = reasoning.effort
    if model.adaptive and reasoning.budget_tokens is None:
        body["thinking"] = {"type": "adaptive", **display}
        if effort and model.effort:
            level = effort if effort in _EFFORTS else "low"
            body.setdefault("output_config", {})["effort"] = level
    else:
        budget = max(reasoning.budget_tokens or EFFORT_BUDGETS.get(effort or "", 8192), MIN_BUDGET)
        if budget >= body["max_tokens"]:
            if request.max_tokens is not None:
                budget = body["max_tokens"] - 1
            else:
                body["max_tokens"] = budget + DEFAULT_MAX_TOKENS
        if budget < MIN_BUDGET:
            return  # the answer's limit leaves no room to think
        body["thinking"] = {"type": "enabled", "budget_tokens": budget, **display}
    # Sampling options Claude refuses while thinking.
    if body.get("temperature") not in (None, 1):
        del body["temperature"]
    body.pop("top_k", None)
    if body.get("top_p") is not None and body["top_p"] < 0.95:
        del body["top_p"]


def encode_request(request: neutral.Request, model: str) -> bytes:
    body = prompt(request, model)
    body["max_tokens"] = request.max_tokens or DEFAULT_MAX_TOKENS
    if request.temperature is not None:
        # OpenAI allows up to 2; Anthropic's scale ends at 1.
        body["temperature"] = min(request.temperature, 1.0)
    optional = {"top_p": request.top_p, "top_k": request.top_k}
    body.update({k: v for k, v in optional.items() if v is not None})
    if request.stop:
        body["stop_sequences"] = request.stop
    if request.user:
        body["metadata"] = {"user_id": request.user}
    found = features(model)
    if request.json_schema is not None or request.json_mode:
        _structured(request, body, found)
    _thinking(request, body, found)
    if request.stream:
        body["stream"] = True
    return msgspec.json.encode(body)
