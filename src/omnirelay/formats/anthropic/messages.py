"""Anthropic Messages ↔ the neutral pivot: requests, answers, token counts (streams: next door)."""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from omnirelay.errors import GatewayError, InvalidRequest
from omnirelay.formats import neutral
from omnirelay.formats.anthropic.stream import AnthropicStreamDecoder, AnthropicStreamEncoder
from omnirelay.formats.anthropic.wire import (
    STOP_NAMES,
    STOP_REASONS,
    Block,
    CountResponse,
    Request,
    Response,
    Source,
    ToolChoice,
    WithUsage,
    encode_error,
    stream_error,
)
from omnirelay.formats.decoding import decode_as, decode_upstream

DEFAULT_MAX_TOKENS = 4096
# Blocks other vendors cannot take and that carry nothing the next turn needs.
_DROPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})


def _image(source: Source | None) -> neutral.Image:
    if source is not None and source.type == "base64" and source.data is not None:
        return neutral.Image(media_type=source.media_type or "image/png", data=source.data)
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
    return parts


def _part(block: Block) -> neutral.Part | None:
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
    if kind in _DROPPED_BLOCKS:
        return None
    raise InvalidRequest(
        f"content blocks of type '{kind}' cannot be sent to this model", param="messages"
    )


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


def decode_request(body: bytes, *, model: str, stream: bool) -> neutral.Request:
    raw = decode_as(body, Request)
    messages: list[neutral.Message] = []
    for i, message in enumerate(raw.messages):
        if message.role not in ("user", "assistant"):
            raise InvalidRequest(
                f"messages.{i}.role: must be 'user' or 'assistant'", param=f"messages.{i}.role"
            )
        blocks = message.content
        parts = (
            [neutral.Text(blocks)]
            if isinstance(blocks, str)
            else [p for p in map(_part, blocks) if p is not None]
        )
        messages.append(neutral.Message(message.role, parts))  # type: ignore[arg-type]
    system = raw.system
    choice = raw.tool_choice
    return neutral.Request(
        model=model,
        messages=messages,
        system=[system] if isinstance(system, str) else [b.text or "" for b in system or ()],
        tools=[
            neutral.Tool(t.name, t.description, t.input_schema or {"type": "object"})
            for t in raw.tools or ()
        ],
        tool_choice=_tool_choice(choice),
        parallel_tool_calls=(
            False if choice is not None and choice.disable_parallel_tool_use else None
        ),
        max_tokens=raw.max_tokens,
        temperature=raw.temperature,
        top_p=raw.top_p,
        top_k=raw.top_k,
        stop=list(raw.stop_sequences or ()),
        user=raw.metadata.user_id if raw.metadata else None,
        stream=stream,
    )


def _image_block(image: neutral.Image) -> dict[str, Any]:
    if image.url is not None:
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    source = {"type": "base64", "media_type": image.media_type, "data": image.data or ""}
    return {"type": "image", "source": source}


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


def _tools(request: neutral.Request) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if request.tools:
        body["tools"] = [
            {
                "name": t.name,
                **({"description": t.description} if t.description else {}),
                "input_schema": {"type": "object", **t.parameters},
            }
            for t in request.tools
        ]
    if request.web_search is not None:
        body.setdefault("tools", []).append(_web_search_tool(request.web_search))
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
        body["tool_choice"] = wire
    return body


def _web_search_tool(search: neutral.WebSearch) -> dict[str, Any]:
    """Claude's own web search (a server tool: Anthropic runs the searches)."""
    tool: dict[str, Any] = {"type": "web_search_20250305", "name": "web_search"}
    if search.allowed_domains:
        tool["allowed_domains"] = list(search.allowed_domains)
    return tool


def _prompt(request: neutral.Request, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": _messages(request.messages)}
    system = "\n\n".join(s for s in request.system if s)
    if system:
        body["system"] = system
    body.update(_tools(request))
    return body


def encode_request(request: neutral.Request, model: str) -> bytes:
    body = _prompt(request, model)
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
    if request.stream:
        body["stream"] = True
    return msgspec.json.encode(body)


def decode_response(body: bytes) -> neutral.Response:
    raw = decode_upstream(body, Response)
    parts: list[neutral.Text | neutral.ToolCall] = []
    for block in raw.content:
        if block.type == "text" and block.text:
            parts.append(neutral.Text(block.text))
        elif block.type == "tool_use":
            arguments = msgspec.json.encode(block.input or {}).decode()
            parts.append(neutral.ToolCall(block.id or "", block.name or "", arguments))
    return neutral.Response(
        id=raw.id,
        model=raw.model,
        parts=parts,
        stop=STOP_REASONS.get(raw.stop_reason or "end_turn", neutral.StopReason.END),
        stop_sequence=raw.stop_sequence,
        usage=raw.usage.neutral(),
    )


def new_id() -> str:
    return "msg_" + secrets.token_hex(12)


def encode_response(response: neutral.Response, model: str) -> bytes:
    content: list[dict[str, Any]] = []
    for part in response.parts:
        if isinstance(part, neutral.Text):
            content.append({"type": "text", "text": part.text})
        else:
            content.append(
                {
                    "type": "tool_use",
                    "id": part.id,
                    "name": part.name,
                    "input": neutral.arguments_object(part.arguments),
                }
            )
    stop = STOP_NAMES[response.stop]
    return msgspec.json.encode(
        {
            "id": new_id(),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": response.stop_sequence if stop == "stop_sequence" else None,
            "usage": {
                "input_tokens": response.usage.input_tokens,
                "output_tokens": response.usage.output_tokens,
            },
        }
    )


class AnthropicCodec:
    name = "anthropic"

    def decode_request(self, body: bytes, *, model: str, stream: bool) -> neutral.Request:
        return decode_request(body, model=model, stream=stream)

    def encode_request(self, request: neutral.Request, model: str) -> bytes:
        return encode_request(request, model)

    def decode_response(self, body: bytes) -> neutral.Response:
        return decode_response(body)

    def encode_response(self, response: neutral.Response, model: str) -> bytes:
        return encode_response(response, model)

    def usage_of(self, body: bytes) -> neutral.Usage | None:
        try:
            usage = msgspec.json.decode(body, type=WithUsage).usage
        except msgspec.MsgspecError:
            return None
        return None if usage is None else usage.neutral()

    def stream_decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder()

    def stream_encoder(self, model: str, *, include_usage: bool = False) -> AnthropicStreamEncoder:
        return AnthropicStreamEncoder(model, new_id())

    def error_body(self, error: GatewayError) -> bytes:
        return encode_error(error)

    def stream_error(self, error: GatewayError) -> bytes:
        return stream_error(error)

    def decode_count_request(self, body: bytes, *, model: str) -> neutral.Request:
        return decode_request(body, model=model, stream=False)

    def encode_count_request(self, request: neutral.Request, model: str) -> bytes | None:
        return msgspec.json.encode(_prompt(request, model))

    def decode_count_response(self, body: bytes) -> int:
        return decode_upstream(body, CountResponse).input_tokens

    def encode_count_response(self, tokens: int) -> bytes:
        return msgspec.json.encode({"input_tokens": tokens})
