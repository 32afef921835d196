"""The sandbox's Anthropic: ``/v1/messages`` and ``/v1/messages/count_tokens`` over HTTP, with
the real API's headers, validation, errors and exact stream event sequence."""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from omnirelay.sandbox.anthropic_rules import (
    BETAS,
    Checked,
    UnknownModel,
    blocks_of,
    thinking_on,
    validate,
)
from omnirelay.sandbox.caching import Segment, cache_of
from omnirelay.sandbox.chat import (
    Answer,
    Conversation,
    SandboxInputError,
    ToolSpec,
    answer,
    describe_inline,
    describe_url,
    hint_of,
)
from omnirelay.sandbox.faults import Fault, apply_before, fault_for, write_events
from omnirelay.sandbox.signatures import sign

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
    unknown = [b for b in betas_of(request) if b not in BETAS]
    if unknown:
        return error(
            400, f"Unexpected value(s) `{', '.join(unknown)}` for the `anthropic-beta` header."
        )
    return None


def betas_of(request: web.Request) -> list[str]:
    return [b.strip() for b in request.headers.get("anthropic-beta", "").split(",") if b.strip()]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(b.get("text", "") for b in content if b.get("type") == "text")


def _said(content: Any) -> str:
    """What the user typed: the last text block (clients put reminders and context first)."""
    if isinstance(content, str):
        return content
    texts = [b.get("text", "") for b in content if b.get("type") == "text"]
    return texts[-1] if texts else ""


def _images(messages: list[dict[str, Any]]) -> list[str]:
    phrases: list[str] = []
    for message in messages:
        for block in blocks_of(message) if message["role"] == "user" else ():
            source = block.get("source") or {}
            if block.get("type") != "image":
                continue
            if source.get("type") == "base64":
                phrases.append(describe_inline(source["media_type"], source["data"]))
            else:
                phrases.append(describe_url(source["url"]))
    return phrases


def _response_format(body: dict[str, Any]) -> dict[str, Any] | None:
    output_format = (body.get("output_config") or {}).get("format")
    if output_format is None:
        return None
    return {"type": "json_schema", "json_schema": {"schema": output_format["schema"]}}


def conversation(body: dict[str, Any]) -> Conversation:
    messages = [m for m in body["messages"] if m["role"] != "system"]
    spoken = [
        m
        for m in messages
        if m["role"] == "user" and (isinstance(m["content"], str) or _text_of(m["content"]))
    ]
    results = [
        _text_of(b.get("content", "")) for m in messages for b in blocks_of(m)
        if b.get("type") == "tool_result"
    ]  # fmt: skip
    last = blocks_of(messages[-1]) if messages else []
    answering = any(b.get("type") == "tool_result" for b in last) and messages[-1]["role"] == "user"
    choice = body.get("tool_choice") or {}
    modes = {"any": "required", "tool": "named", "none": "none"}
    return Conversation(
        user_text=_said(spoken[-1]["content"]) if spoken else "",
        images=_images(messages),
        tool_results=results if answering else None,
        tools=[
            ToolSpec(t["name"], t["input_schema"])
            for t in body.get("tools") or ()
            if t.get("type") in (None, "custom") and not t.get("defer_loading")
        ],
        tool_mode=modes.get(str(choice.get("type")), "auto"),
        named_tool=choice.get("name"),
        parallel_tools=not choice.get("disable_parallel_tool_use"),
        max_tokens=body["max_tokens"],
        stop=list(body.get("stop_sequences") or ()),
        response_format=_response_format(body),
    )


def _words(text: str) -> int:
    return len(text.split())


def _block_tokens(block: dict[str, Any]) -> int:
    kind = block.get("type")
    if kind == "text":
        return _words(str(block.get("text", "")))
    if kind == "image":
        return 85
    if kind == "tool_use":
        return 1 + len(json.dumps(block.get("input", {}))) // 4
    if kind == "tool_result":
        content = block.get("content", "")
        inner = content if isinstance(content, list) else [{"type": "text", "text": content}]
        return 1 + sum(_block_tokens(b) for b in inner if isinstance(b, dict))
    if kind == "thinking":
        return _words(str(block.get("thinking", "")))
    return 1


def _key(block: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True)


def _ttl(block: dict[str, Any]) -> str | None:
    control = block.get("cache_control")
    return str(control.get("ttl", "5m")) if isinstance(control, dict) else None


def segments(body: dict[str, Any]) -> list[Segment]:
    """The prompt in the order the API caches it: tools, system, messages."""
    out = [Segment(_key(t), len(json.dumps(t)) // 4, _ttl(t)) for t in body.get("tools") or ()]
    system = body.get("system") or []
    for block in [{"type": "text", "text": system}] if isinstance(system, str) else system:
        out.append(Segment(_key(block), _words(str(block.get("text", ""))), _ttl(block)))
    for message in body["messages"]:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for i, block in enumerate(blocks):
            framing = 4 if i == 0 else 0  # each message's role and turn markers
            key = message["role"] + _key(block)
            out.append(Segment(key, framing + _block_tokens(block), _ttl(block)))
    top = body.get("cache_control")
    if isinstance(top, dict) and out:
        # A top-level cache_control marks the last cacheable block.
        last = out[-1]
        out[-1] = Segment(last.key, last.tokens, str(top.get("ttl", "5m")))
    return out


def count_tokens_of(body: dict[str, Any]) -> int:
    return sum(s.tokens for s in segments(body))


def _thinking_block(body: dict[str, Any], hint: str) -> tuple[dict[str, Any] | None, int]:
    """The thinking block of the answer (shown or omitted, always signed) and its tokens."""
    if not thinking_on(body):
        return None, 0
    thought = f"The user wants an answer about {hint}; answer it plainly."
    shown = "" if body["thinking"].get("display") == "omitted" else thought
    return {"type": "thinking", "thinking": shown, "signature": sign(thought)}, _words(thought)


def _content(reply: Answer, thinking: dict[str, Any] | None) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [thinking] if thinking is not None else []
    if reply.content:
        blocks.append({"type": "text", "text": reply.content, "citations": None})
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


def _usage(body: dict[str, Any], checked: Checked, request: web.Request, output: int,
           thinking: int) -> dict[str, Any]:  # fmt: skip
    prompt = segments(body)
    cached = cache_of(request).marked(prompt, checked.model.cache_minimum)
    written = cached.write_5m + cached.write_1h
    return {
        "input_tokens": sum(s.tokens for s in prompt) - cached.read - written,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached.read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cached.write_5m,
            "ephemeral_1h_input_tokens": cached.write_1h,
        },
        "output_tokens": output,
        "output_tokens_details": {"thinking_tokens": thinking},
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
        "service_tier": "standard",
        "inference_geo": None,
        "speed": None,
    }


def _sse(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()


def _block_events(index: int, block: dict[str, Any]) -> list[bytes]:
    kind = block["type"]
    opened = {
        "text": {"type": "text", "text": "", "citations": None},
        "thinking": {"type": "thinking", "thinking": "", "signature": ""},
    }.get(kind, {**block, "input": {}})
    events = [_sse("content_block_start", {"index": index, "content_block": opened})]
    deltas: list[dict[str, Any]] = []
    if kind == "text":
        words = block["text"].split(" ")
        deltas = [
            {"type": "text_delta", "text": (" " if i else "") + w} for i, w in enumerate(words)
        ]
    elif kind == "thinking":
        if block["thinking"]:
            deltas.append({"type": "thinking_delta", "thinking": block["thinking"]})
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    else:
        arguments = json.dumps(block["input"])
        fragments = [""] + [arguments[i : i + 8] for i in range(0, len(arguments), 8)]
        deltas = [{"type": "input_json_delta", "partial_json": f} for f in fragments]
    events += [_sse("content_block_delta", {"index": index, "delta": d}) for d in deltas]
    events.append(_sse("content_block_stop", {"index": index}))
    return events


def _events(message: dict[str, Any]) -> list[bytes]:
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**usage, "output_tokens": 1}
    events = [_sse("message_start", {"message": start}), _sse("ping", {})]
    for index, block in enumerate(message["content"]):
        events += _block_events(index, block)
        if index == 0:
            events.append(_sse("ping", {}))
    delta = {
        "stop_reason": message["stop_reason"],
        "stop_sequence": message["stop_sequence"],
        "stop_details": None,
        "container": None,
    }
    fields = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
              "output_tokens", "output_tokens_details", "server_tool_use")  # fmt: skip
    final = {name: usage[name] for name in fields}
    events.append(_sse("message_delta", {"delta": delta, "usage": final}))
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
        except UnknownModel as exc:
            return error(404, str(exc))

    return wrapped


@endpoint
async def messages(request: web.Request, body: dict[str, Any], fault: Fault) -> web.StreamResponse:
    checked = validate(body, betas_of(request))
    talk = conversation(body)
    reply = answer(talk)
    thinking, thought = _thinking_block(body, hint_of(talk.user_text))
    stop_reason, stop_sequence = _stop(reply)
    output = max(reply.tokens, 1) + thought
    message = {
        "id": "msg_01" + secrets.token_hex(11),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": _content(reply, thinking),
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "stop_details": None,
        "container": None,
        "diagnostics": None,
        "usage": _usage(body, checked, request, output, thought),
    }
    headers = {"request-id": "req_" + secrets.token_hex(12)}
    if not body.get("stream"):
        return web.json_response(message, headers=headers)
    response = web.StreamResponse(
        headers={**headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    return await write_events(request, response, _events(message), fault)


@endpoint
async def count_tokens(
    request: web.Request, body: dict[str, Any], fault: Fault
) -> web.StreamResponse:
    validate(body, betas_of(request), counting=True)
    return web.json_response({"input_tokens": count_tokens_of(body)})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
