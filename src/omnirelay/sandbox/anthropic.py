"""The sandbox's Anthropic: ``/v1/messages`` and ``/v1/messages/count_tokens`` over HTTP, with
the real API's headers, validation, errors and exact stream event sequence."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from omnirelay.sandbox.chat import (
    Answer,
    Conversation,
    SandboxInputError,
    ToolSpec,
    answer,
    describe_inline,
    describe_url,
)
from omnirelay.sandbox.faults import Fault, apply_before, fault_for, write_events

MODELS = frozenset(
    {
        "claude-3-5-sonnet-20241022",
        "claude-3-5-haiku-20241022",
        "claude-3-7-sonnet-20250219",
        "claude-sonnet-4-20250514",
        "claude-opus-4-20250514",
        "claude-3-haiku-20240307",
    }
)
# A few real beta names; the real API rejects names it does not know, and so does the sandbox.
BETAS = frozenset(
    {
        "prompt-caching-2024-07-31",
        "token-counting-2024-11-01",
        "interleaved-thinking-2025-05-14",
        "claude-code-20250219",
        "fine-grained-tool-streaming-2025-05-14",
    }
)
_FIELDS = frozenset(
    {
        "model", "messages", "max_tokens", "system", "tools", "tool_choice", "temperature",
        "top_p", "top_k", "stop_sequences", "stream", "metadata", "thinking", "service_tier",
        "container", "mcp_servers", "context_management", "sandbox_fault",
    }
)  # fmt: skip
_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str) -> web.Response:
    kind = _ERROR_TYPES.get(status, "api_error")
    body = {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_" + secrets.token_hex(12),
    }
    return web.json_response(body, status=status)


def owns(path: str) -> bool:
    return path.startswith("/v1/messages")


def check_auth(request: web.Request, expected: str) -> web.Response | None:
    key = request.headers.get("x-api-key", "")
    if key != expected and not key.startswith("sk-fault-"):
        return error(401, "invalid x-api-key")
    if not request.headers.get("anthropic-version"):
        return error(400, "anthropic-version: header is required")
    betas = [b.strip() for b in request.headers.get("anthropic-beta", "").split(",") if b.strip()]
    unknown = [b for b in betas if b not in BETAS]
    if unknown:
        return error(
            400, f"Unexpected value(s) `{', '.join(unknown)}` for the `anthropic-beta` header."
        )
    return None


class _NotFound(Exception):
    pass


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(b.get("text", "") for b in content if b.get("type") == "text")


def _check_image(source: dict[str, Any], where: str) -> None:
    if source.get("type") == "base64":
        if source.get("media_type") not in _MEDIA_TYPES:
            raise SandboxInputError(f"{where}.source.media_type: unsupported image type")
        describe_inline(source["media_type"], str(source.get("data", "")), where)
    elif source.get("type") == "url":
        describe_url(str(source.get("url", "")), where)
    else:
        raise SandboxInputError(f"{where}.source: expected a base64 or url source")


def _check_block(block: Any, where: str) -> None:
    if not isinstance(block, dict):
        raise SandboxInputError(f"{where}: Input should be an object")
    kind = block.get("type")
    if kind == "text":
        if not isinstance(block.get("text"), str) or not block["text"]:
            raise SandboxInputError(f"{where}: text content blocks must be non-empty")
    elif kind == "image":
        _check_image(block.get("source") or {}, where)
    elif kind == "tool_use":
        if not isinstance(block.get("id"), str) or not isinstance(block.get("input"), dict):
            raise SandboxInputError(f"{where}: tool_use needs an id and an object input")
    elif kind == "tool_result":
        if not isinstance(block.get("tool_use_id"), str):
            raise SandboxInputError(f"{where}.tool_use_id: Field required")
        content = block.get("content", "")
        for i, inner in enumerate(content if isinstance(content, list) else ()):
            _check_block(inner, f"{where}.content.{i}")
    elif kind not in ("thinking", "redacted_thinking", "document"):
        raise SandboxInputError(f"{where}.type: unknown content block type {kind!r}")


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    return content if isinstance(content, list) else []


def _check_tool_pairs(messages: list[dict[str, Any]]) -> None:
    """Every tool_use is answered in the next user turn; no tool_result answers nothing."""
    asked: set[str] = set()
    for i, message in enumerate(messages):
        blocks = _blocks(message)
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


def validate(body: dict[str, Any], *, counting: bool = False) -> None:
    extra = sorted(set(body) - _FIELDS)
    if extra:
        raise SandboxInputError(f"{extra[0]}: Extra inputs are not permitted")
    if not isinstance(body.get("model"), str):
        raise SandboxInputError("model: Field required")
    if body["model"] not in MODELS:
        raise _NotFound(f"model: {body['model']}")
    if not counting and (not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1):
        raise SandboxInputError("max_tokens: Field required (a positive integer)")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise SandboxInputError("messages: at least one message is required")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise SandboxInputError(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if not isinstance(content, str | list):
            raise SandboxInputError(f"messages.{i}.content: Field required")
        for j, block in enumerate(content if isinstance(content, list) else ()):
            _check_block(block, f"messages.{i}.content.{j}")
    _check_tool_pairs(messages)
    _check_options(body)


def _check_options(body: dict[str, Any]) -> None:
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        raise SandboxInputError("system: Input should be a string or a list of text blocks")
    for i, tool in enumerate(body.get("tools") or ()):
        if _server_tool(tool, i):
            continue
        if not _TOOL_NAME.match(str(tool.get("name", ""))):
            raise SandboxInputError(f"tools.{i}.name: String should match ^[a-zA-Z0-9_-]{{1,128}}$")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise SandboxInputError(f"tools.{i}.input_schema.type: Input should be 'object'")
    choice = body.get("tool_choice")
    if choice is not None and choice.get("type") not in ("auto", "any", "tool", "none"):
        raise SandboxInputError("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        raise SandboxInputError("temperature: Input should be between 0 and 1")
    stops = body.get("stop_sequences")
    if stops is not None and not all(isinstance(s, str) for s in stops):
        raise SandboxInputError("stop_sequences: Input should be a list of strings")


def _server_tool(tool: dict[str, Any], index: int) -> bool:
    """Whether a tool is one Anthropic runs itself (web search); a wrong one is refused."""
    kind = tool.get("type")
    if kind is None or kind == "custom":
        return False
    if not str(kind).startswith("web_search_") or tool.get("name") != "web_search":
        raise SandboxInputError(
            f"tools.{index}: Input tag '{kind}' found using 'type' does not "
            "match any of the expected tags"
        )
    return True


def _images(messages: list[dict[str, Any]]) -> list[str]:
    phrases: list[str] = []
    for message in messages:
        for block in _blocks(message) if message["role"] == "user" else ():
            source = block.get("source") or {}
            if block.get("type") != "image":
                continue
            if source.get("type") == "base64":
                phrases.append(describe_inline(source["media_type"], source["data"]))
            else:
                phrases.append(describe_url(source["url"]))
    return phrases


def conversation(body: dict[str, Any]) -> Conversation:
    messages = body["messages"]
    spoken = [
        m
        for m in messages
        if m["role"] == "user" and (isinstance(m["content"], str) or _text_of(m["content"]))
    ]
    results = [
        _text_of(b.get("content", "")) for m in messages for b in _blocks(m)
        if b.get("type") == "tool_result"
    ]  # fmt: skip
    last = _blocks(messages[-1])
    answering = messages[-1]["role"] == "user" and any(b.get("type") == "tool_result" for b in last)
    choice = body.get("tool_choice") or {}
    modes = {"any": "required", "tool": "named", "none": "none"}
    return Conversation(
        user_text=_text_of(spoken[-1]["content"]) if spoken else "",
        images=_images(messages),
        tool_results=results if answering else None,
        tools=[
            ToolSpec(t["name"], t["input_schema"])
            for t in body.get("tools") or ()
            if "input_schema" in t
        ],
        tool_mode=modes.get(str(choice.get("type")), "auto"),
        named_tool=choice.get("name"),
        parallel_tools=not choice.get("disable_parallel_tool_use"),
        max_tokens=body["max_tokens"],
        stop=list(body.get("stop_sequences") or ()),
    )


def count_tokens_of(body: dict[str, Any]) -> int:
    messages = body["messages"]
    words = sum(len(_text_of(m["content"]).split()) + 4 for m in messages)
    system = body.get("system") or ""
    words += len((system if isinstance(system, str) else _text_of(system)).split())
    images = 85 * sum(1 for m in messages for b in _blocks(m) if b.get("type") == "image")
    tools = len(json.dumps(body["tools"])) // 4 if body.get("tools") else 0
    return words + images + tools


def _content(reply: Answer) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.content:
        blocks.append({"type": "text", "text": reply.content})
    for call in reply.tool_calls:
        block_id = "toolu_01" + call.id.removeprefix("call_")
        blocks.append(
            {
                "type": "tool_use",
                "id": block_id,
                "name": call.name,
                "input": json.loads(call.arguments),
            }
        )
    return blocks


def _stop(reply: Answer) -> tuple[str, str | None]:
    if reply.stop_sequence is not None:
        return "stop_sequence", reply.stop_sequence
    return _STOP_REASONS[reply.finish_reason], None


def _sse(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()


def _events(message: dict[str, Any], reply: Answer) -> list[bytes]:
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {"input_tokens": message["usage"]["input_tokens"], "output_tokens": 1}
    events = [_sse("message_start", {"message": start}), _sse("ping", {})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append(
                _sse(
                    "content_block_start",
                    {"index": index, "content_block": {"type": "text", "text": ""}},
                )
            )
            for i, word in enumerate(block["text"].split(" ")):
                delta = {"type": "text_delta", "text": (" " if i else "") + word}
                events.append(_sse("content_block_delta", {"index": index, "delta": delta}))
        else:
            opened = {**block, "input": {}}
            events.append(_sse("content_block_start", {"index": index, "content_block": opened}))
            arguments = json.dumps(block["input"])
            fragments = [""] + [arguments[i : i + 8] for i in range(0, len(arguments), 8)]
            for fragment in fragments:
                delta = {"type": "input_json_delta", "partial_json": fragment}
                events.append(_sse("content_block_delta", {"index": index, "delta": delta}))
        events.append(_sse("content_block_stop", {"index": index}))
        if index == 0:
            events.append(_sse("ping", {}))
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    usage = {"output_tokens": message["usage"]["output_tokens"]}
    events.append(_sse("message_delta", {"delta": delta, "usage": usage}))
    events.append(_sse("message_stop", {}))
    return events


def endpoint(
    handler: Callable[[web.Request, dict[str, Any], Fault], Awaitable[web.StreamResponse]],
) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError:
            return error(400, "There was an error parsing the body of your request as JSON.")
        if not isinstance(body, dict):
            return error(400, "The request body must be a JSON object.")
        fault = fault_for(request, body)
        failed = await apply_before(fault, error)
        if failed is not None:
            return failed
        try:
            return await handler(request, body, fault)
        except SandboxInputError as exc:
            return error(400, str(exc))
        except _NotFound as exc:
            return error(404, str(exc))

    return wrapped


@endpoint
async def messages(request: web.Request, body: dict[str, Any], fault: Fault) -> web.StreamResponse:
    validate(body)
    reply = answer(conversation(body))
    stop_reason, stop_sequence = _stop(reply)
    message = {
        "id": "msg_01" + secrets.token_hex(11),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": _content(reply),
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": {"input_tokens": count_tokens_of(body), "output_tokens": max(reply.tokens, 1)},
    }
    headers = {"request-id": "req_" + secrets.token_hex(12)}
    if not body.get("stream"):
        return web.json_response(message, headers=headers)
    response = web.StreamResponse(
        headers={**headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    return await write_events(request, response, _events(message, reply), fault)


@endpoint
async def count_tokens(
    request: web.Request, body: dict[str, Any], fault: Fault
) -> web.StreamResponse:
    validate(body, counting=True)
    return web.json_response({"input_tokens": count_tokens_of(body)})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
