"""The sandbox's chat logic, free of HTTP: deterministic answers, tool calls, structured output.

Answers mention the last user message; with tools it calls the tools the user names (or the
first one) with arguments valid for their schemas; with ``json_schema`` it answers JSON valid
for the schema. One word is one completion token, so usage is exact and predictable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from omnirelay.sandbox.schema_example import example_for


class SandboxInputError(ValueError):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class Answer:
    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"
    stop_sequence: str | None = None  # the stop sequence that ended the answer, if one did

    @property
    def tokens(self) -> int:
        words = len(self.content.split()) if self.content else 0
        return words + sum(max(1, len(c.arguments) // 4) for c in self.tool_calls)


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def json_tokens(value: Any) -> list[str]:
    """A JSON value as tokens of four characters (what tool definitions cost)."""
    text = json.dumps(value)
    return [text[i : i + 4] for i in range(0, len(text) - 3, 4)]


def prompt_tokens(messages: list[dict[str, Any]], tools: list[Any] | None) -> list[str]:
    """An OpenAI prompt as the sandbox's tokens: the tools, then per message four framing
    tokens, its words and 85 tokens an image. Prompt caching compares these."""
    tokens = json_tokens(tools) if tools else []
    for message in messages:
        content = message.get("content")
        tokens += [f"<{message.get('role')}>"] * 4
        tokens += text_of(content).split()
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict) and part.get("type") == "image_url":
                url = str((part.get("image_url") or {}).get("url", ""))
                tokens += [hashlib.sha256(url.encode()).hexdigest()[:8]] * 85
    return tokens


def count_prompt_tokens(messages: list[dict[str, Any]], tools: list[Any] | None) -> int:
    return len(prompt_tokens(messages, tools))


_URL_SAFE = str.maketrans("-_", "+/")


def decode_base64(data: str) -> bytes:
    """Base64 as the vendors take it: either alphabet, padding optional."""
    data = data.strip().translate(_URL_SAFE)
    return base64.b64decode(data + "=" * (-len(data) % 4), validate=True)


def describe_inline(media_type: str, data: str, param: str = "messages") -> str:
    """The phrase for an inline base64 image; bad data is a 400, as with the real APIs."""
    try:
        raw = decode_base64(data)
    except (binascii.Error, ValueError) as exc:
        raise SandboxInputError("invalid base64 image data", param) from exc
    return f"an inline {media_type or 'image'} of {len(raw)} bytes"


def describe_url(url: str, param: str = "messages") -> str:
    if url.startswith(("http://", "https://")):
        return f"an image at {url}"
    raise SandboxInputError("image URLs must be http(s) URLs", param)


def describe_images(content: Any) -> list[str]:
    """One phrase per image part; base64 data URLs are decoded (bad data is a 400)."""
    phrases: list[str] = []
    if not isinstance(content, list):
        return phrases
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "image_url":
            continue
        url = str((part.get("image_url") or {}).get("url", ""))
        if url.startswith("data:"):
            header, _, data = url.partition(",")
            phrases.append(describe_inline(header[5:].split(";")[0], data))
        elif url.startswith(("http://", "https://")):
            phrases.append(describe_url(url))
        else:
            raise SandboxInputError(
                "image_url.url must be an http(s) URL or a data URL", "messages"
            )
    return phrases


@dataclass(slots=True)
class ToolSpec:
    name: str
    parameters: dict[str, Any]


@dataclass(slots=True)
class Conversation:
    """What the answer depends on, whatever the vendor format it arrived in."""

    user_text: str  # the last user message's text
    images: list[str] = field(default_factory=list)  # one phrase per image the user sent
    tool_results: list[str] | None = None  # set when the last turn answers tool calls
    tools: list[ToolSpec] = field(default_factory=list)
    tool_mode: str = "auto"  # auto | none | required | named
    named_tool: str | None = None
    parallel_tools: bool = True
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    response_format: dict[str, Any] | None = None
    choice_index: int = 0


def hint_of(text: str) -> str:
    words = [w.strip(".,!?;:'\"()") for w in text.split()]
    capitals = [w for w in words if w[:1].isupper()]
    return (capitals[-1] if capitals else (words[-1] if words else "")) or "example"


def _call_id(seed: str, index: int) -> str:
    return "call_" + hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()[:24]


def _tool_calls(conversation: Conversation) -> list[ToolCall]:
    tools = conversation.tools
    user_text = conversation.user_text
    if conversation.tool_mode == "named":
        chosen = [t for t in tools if t.name == conversation.named_tool]
    else:
        lowered = user_text.lower()
        chosen = [
            t
            for t in tools
            if t.name.lower() in lowered or t.name.lower().replace("_", " ") in lowered
        ]
        chosen = chosen or tools[:1]
    if not conversation.parallel_tools:
        chosen = chosen[:1]
    hint = hint_of(user_text)
    return [
        ToolCall(
            id=_call_id(user_text + t.name, i),
            name=t.name,
            arguments=json.dumps(example_for(t.parameters or {"type": "object"}, hint)),
        )
        for i, t in enumerate(chosen)
    ]


def answer(conversation: Conversation) -> Answer:
    """The deterministic answer: tool calls, tool-result acknowledgement, or an echo."""
    if (
        conversation.tools
        and conversation.tool_mode != "none"
        and conversation.tool_results is None
    ):
        return Answer(
            content=None, tool_calls=_tool_calls(conversation), finish_reason="tool_calls"
        )
    if conversation.tool_results is not None:
        content = "Tool results received: " + "; ".join(conversation.tool_results)
    else:
        content = f"You said: {conversation.user_text}"
        images = conversation.images
        if images:
            content = f"I see {len(images)} image(s): {', '.join(images)}. " + content
        if conversation.choice_index:
            content += f" (choice {conversation.choice_index})"
    response_format = conversation.response_format or {}
    hint = hint_of(conversation.user_text)
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
        return Answer(content=json.dumps(example_for(schema, hint)))
    if response_format.get("type") == "json_object":
        return Answer(content=json.dumps({"answer": content}))
    return _limit(content, conversation.max_tokens, conversation.stop)


def _openai_conversation(request: dict[str, Any], choice_index: int) -> Conversation:
    messages = request["messages"]
    user_messages = [m for m in messages if m.get("role") == "user"]
    tool_results = None
    if messages[-1].get("role") == "tool":
        tool_results = [text_of(m.get("content")) for m in messages if m.get("role") == "tool"]
    choice = request.get("tool_choice")
    mode, named = "auto", None
    if isinstance(choice, dict):
        mode, named = "named", (choice.get("function") or {}).get("name")
    elif choice in ("none", "required"):
        mode = str(choice)
    stop = request.get("stop")
    return Conversation(
        user_text=text_of(user_messages[-1].get("content")) if user_messages else "",
        images=[p for m in user_messages for p in describe_images(m.get("content"))],
        tool_results=tool_results,
        tools=[
            ToolSpec(str(f.get("name")), f.get("parameters") or {"type": "object"})
            for f in (
                t.get("function", {})
                for t in request.get("tools") or ()
                if t.get("type", "function") == "function"
            )
        ],
        tool_mode=mode,
        named_tool=named,
        parallel_tools=request.get("parallel_tool_calls") is not False,
        max_tokens=request.get("max_completion_tokens") or request.get("max_tokens"),
        stop=[stop] if isinstance(stop, str) else list(stop or ()),
        response_format=request.get("response_format"),
        choice_index=choice_index,
    )


def answer_chat(request: dict[str, Any], choice_index: int = 0) -> Answer:
    return answer(_openai_conversation(request, choice_index))


def _limit(content: str, max_tokens: int | None, stop: list[str] | None = None) -> Answer:
    hits = [(content.find(s), s) for s in stop or () if s and s in content]
    if hits:
        position, sequence = min(hits)
        content = content[:position]
        if max_tokens is None or len(content.split(" ")) <= max_tokens:
            return Answer(content=content, finish_reason="stop", stop_sequence=sequence)
    words = content.split(" ")
    if max_tokens is not None and len(words) > max_tokens:
        return Answer(content=" ".join(words[:max_tokens]), finish_reason="length")
    return Answer(content=content)


def answer_completion(prompt: str, max_tokens: int | None, choice_index: int) -> Answer:
    text = f" You said: {prompt}" + (f" (choice {choice_index})" if choice_index else "")
    return _limit(text, max_tokens if max_tokens is not None else 16)


def validate_chat(request: dict[str, Any]) -> None:
    if not isinstance(request.get("model"), str):
        raise SandboxInputError("you must provide a model parameter", "model")
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise SandboxInputError("'messages' must be a non-empty array", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in {
            "system",
            "developer",
            "user",
            "assistant",
            "tool",
            "function",
        }:
            raise SandboxInputError(f"invalid role in messages[{i}]", f"messages[{i}].role")
    response_format = request.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        name = (response_format.get("json_schema") or {}).get("name")
        if not isinstance(name, str) or not name:
            raise SandboxInputError(
                "response_format.json_schema.name is required", "response_format"
            )
    n = request.get("n", 1)
    if not isinstance(n, int) or n < 1:
        raise SandboxInputError("'n' must be a positive integer", "n")
