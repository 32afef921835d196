"""The sandbox's OpenAI Responses API: ``POST /v1/responses`` (streamed as the real API does,
typed events with sequence numbers), ``GET`` and ``DELETE /v1/responses/{id}``,
``GET /v1/responses/{id}/input_items``. Stored responses live in memory, bounded; answers come
from the shared chat logic (``sandbox/chat.py``), so they are the same as the other vendors'.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from omnirelay.sandbox.chat import Answer, SandboxInputError, answer
from omnirelay.sandbox.faults import Fault, write_events
from omnirelay.sandbox.openai import MODELS, endpoint, error
from omnirelay.sandbox.responses_input import (
    check_items,
    conversation,
    function_names,
    items_of,
    prompt_tokens,
    validate,
)

MAX_STORED = 1000


@dataclass(slots=True)
class Stored:
    body: dict[str, Any]  # the Response
    context: list[dict[str, Any]]  # the input items it was made from, earlier turns included


class ResponseStore:
    def __init__(self) -> None:
        self.items: OrderedDict[str, Stored] = OrderedDict()

    def put(self, response_id: str, stored: Stored) -> None:
        self.items[response_id] = stored
        while len(self.items) > MAX_STORED:
            self.items.popitem(last=False)


STORE = web.AppKey("responses_store", ResponseStore)


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def _with_ids(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    prefixes = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}
    return [i if i.get("id") else {**i, "id": _id(prefixes.get(i["type"], "item"))} for i in items]


def _output(result: Answer, namespaces: dict[str, str | None]) -> list[dict[str, Any]]:
    output: list[dict[str, Any]] = []
    if result.content is not None:
        text = {"type": "output_text", "text": result.content, "annotations": [], "logprobs": []}
        output.append(
            {
                "id": _id("msg"),
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [text],
            }
        )
    for call in result.tool_calls:
        item = {
            "id": _id("fc"),
            "type": "function_call",
            "status": "completed",
            "arguments": call.arguments,
            "call_id": call.id,
            "name": call.name,
        }
        namespace = namespaces.get(call.name)
        if namespace is not None:
            item["namespace"] = namespace
        output.append(item)
    return output


_ECHOED: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "max_tool_calls": None,
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "prompt_cache_key": None,
    "safety_identifier": None,
    "service_tier": "default",
    "store": True,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "tool_choice": "auto",
    "tools": [],
    "top_logprobs": 0,
    "top_p": 1.0,
    "truncation": "disabled",
    "user": None,
    "metadata": {},
    "reasoning": {"effort": None, "summary": None},
}


def _response(body: dict[str, Any], status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": body["_id"],
        "object": "response",
        "created_at": body["_created"],
        "status": status,
        "background": False,
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "model": body["model"],
        "output": output,
        **{k: body.get(k, default) for k, default in _ECHOED.items()},
        "usage": None,
    }


def _finished(
    body: dict[str, Any], result: Answer, output: list[dict[str, Any]], prompt: int
) -> dict[str, Any]:
    status = "incomplete" if result.finish_reason == "length" else "completed"
    response = _response(body, status, output)
    if status == "incomplete":
        response["incomplete_details"] = {"reason": "max_output_tokens"}
    else:
        response["completed_at"] = int(time.time())
    response["usage"] = {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": result.tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + result.tokens,
    }
    return response


class _Events:
    """Typed SSE events numbered from 0."""

    def __init__(self) -> None:
        self.events: list[bytes] = []

    def add(self, kind: str, **fields: Any) -> None:
        payload = {"type": kind, "sequence_number": len(self.events), **fields}
        self.events.append(f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode())


def _item_events(events: _Events, index: int, item: dict[str, Any]) -> None:
    if item["type"] == "message":
        text = item["content"][0]["text"]
        where = {"item_id": item["id"], "output_index": index, "content_index": 0}
        empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        events.add(
            "response.output_item.added",
            output_index=index,
            item={**item, "status": "in_progress", "content": []},
        )
        events.add("response.content_part.added", **where, part=empty)
        for i, word in enumerate(text.split(" ")):
            events.add(
                "response.output_text.delta", **where, delta=(" " if i else "") + word, logprobs=[]
            )
        events.add("response.output_text.done", **where, text=text, logprobs=[])
        events.add("response.content_part.done", **where, part=item["content"][0])
    else:
        arguments = item["arguments"]
        events.add(
            "response.output_item.added",
            output_index=index,
            item={**item, "status": "in_progress", "arguments": ""},
        )
        for start in range(0, len(arguments), 8):
            events.add(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=index,
                delta=arguments[start : start + 8],
            )
        events.add(
            "response.function_call_arguments.done",
            item_id=item["id"],
            output_index=index,
            arguments=arguments,
            name=item["name"],
        )
    events.add("response.output_item.done", output_index=index, item=item)


async def _stream(
    request: web.Request, body: dict[str, Any], final: dict[str, Any], fault: Fault
) -> web.StreamResponse:
    events = _Events()
    started = _response(body, "in_progress", [])
    events.add("response.created", response=started)
    events.add("response.in_progress", response=started)
    for index, item in enumerate(final["output"]):
        _item_events(events, index, item)
    closing = "response.completed" if final["status"] == "completed" else "response.incomplete"
    events.add(closing, response=final)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    )
    return await write_events(request, response, events.events, fault)


def _earlier(store: ResponseStore, body: dict[str, Any]) -> list[dict[str, Any]]:
    previous = body.get("previous_response_id")
    if previous is None:
        return []
    stored = store.items.get(previous)
    if stored is None:
        raise SandboxInputError(
            f"Previous response with id '{previous}' not found.", "previous_response_id"
        )
    return stored.context + list(stored.body["output"])


def _resolve(items: list[dict[str, Any]], earlier: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id = {i.get("id"): i for i in earlier if i.get("id")}
    resolved = []
    for item in items:
        if item["type"] == "item_reference":
            if item.get("id") not in by_id:
                raise SandboxInputError(f"Item with id '{item.get('id')}' not found.", "input")
            item = by_id[item["id"]]
        resolved.append(item)
    return resolved


@endpoint
async def create(request: web.Request, body: dict[str, Any], fault: Fault) -> web.StreamResponse:
    model = body.get("model")
    if not isinstance(model, str):
        raise SandboxInputError("Missing required parameter: 'model'.", "model")
    if MODELS.get(model) != "chat":
        return error(
            400, f"The requested model '{model}' does not exist.", "model", "model_not_found"
        )
    # The sandbox's chat models are not reasoning models: they refuse ``reasoning.effort``.
    validate(body, reasoning_model=False)
    store = request.app[STORE]
    earlier = _earlier(store, body)
    own = _resolve(items_of(body.get("input")), earlier)
    check_items(own, {str(i.get("call_id")) for i in earlier if i.get("type") == "function_call"})
    items = earlier + own
    result = answer(conversation(body, items))
    body = {**body, "_id": _id("resp"), "_created": int(time.time())}
    namespaces = function_names(body.get("tools") or [])
    final = _finished(body, result, _output(result, namespaces), prompt_tokens(body, items))
    if body.get("store", True):
        store.put(final["id"], Stored(final, _with_ids(items)))
    if body.get("stream"):
        return await _stream(request, body, final, fault)
    return web.json_response(final)


def _stored(request: web.Request) -> tuple[str, Stored | None]:
    response_id = request.match_info["response_id"]
    return response_id, request.app[STORE].items.get(response_id)


def _not_found(response_id: str) -> web.Response:
    return error(404, f"Response with id '{response_id}' not found.")


async def retrieve(request: web.Request) -> web.StreamResponse:
    response_id, stored = _stored(request)
    return web.json_response(stored.body) if stored is not None else _not_found(response_id)


async def delete(request: web.Request) -> web.StreamResponse:
    response_id, stored = _stored(request)
    if stored is None:
        return _not_found(response_id)
    del request.app[STORE].items[response_id]
    return web.json_response({"id": response_id, "object": "response", "deleted": True})


async def input_items(request: web.Request) -> web.StreamResponse:
    response_id, stored = _stored(request)
    if stored is None:
        return _not_found(response_id)
    items = stored.context if request.query.get("order") == "asc" else stored.context[::-1]
    limit = int(request.query.get("limit", "20"))
    page = items[:limit]
    return web.json_response(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > limit,
        }
    )


def add_routes(app: web.Application) -> None:
    app[STORE] = ResponseStore()
    app.router.add_post("/v1/responses", create)
    app.router.add_get("/v1/responses/{response_id}", retrieve)
    app.router.add_delete("/v1/responses/{response_id}", delete)
    app.router.add_get("/v1/responses/{response_id}/input_items", input_items)
