"""Conversations of the Responses API kept by the gateway: the input items a response was made
from, and how a request naming it as ``previous_response_id`` continues from there.

The gateway keeps the state itself, whatever vendor answered: a later request is sent with the
whole conversation as its input (the vendors that keep no state need it, and an OpenAI upstream
does not know the gateway's ids). Items taken from earlier turns lose their ids on the way up,
so an upstream never looks them up; reasoning items travel only with their encrypted content,
which is what makes them valid anywhere.
"""

from __future__ import annotations

from typing import Any

import msgspec

from omnirelay.errors import InvalidRequest
from omnirelay.formats.openai.responses_wire import SIGNATURE_MARK, new_id

Items = list[dict[str, Any]]

# The id prefix the API gives each kind of item.
_PREFIXES = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "custom_tool_call": "ctc",
    "custom_tool_call_output": "ctco",
    "reasoning": "rs",
}


def _content_list(role: str, content: Any) -> Any:
    if not isinstance(content, str):
        return content
    kind = "output_text" if role == "assistant" else "input_text"
    part: dict[str, Any] = {"type": kind, "text": content}
    if kind == "output_text":
        part["annotations"] = []
    return [part]


def normalized(raw_input: Any) -> Items:
    """A request's ``input`` as the items it lists: each with its ``type`` and an ``id``, and
    messages with their content as a list of parts (how ``input_items`` shows them)."""
    if raw_input is None:
        return []
    if isinstance(raw_input, str):
        raw_input = [{"role": "user", "content": raw_input}]
    items: Items = []
    for raw in raw_input:
        if not isinstance(raw, dict):
            continue
        item = dict(raw)
        kind = item.setdefault("type", "message" if "role" in item else "item_reference")
        if kind == "message":
            item["content"] = _content_list(str(item.get("role", "user")), item.get("content"))
        if kind != "item_reference" and not item.get("id"):
            item["id"] = new_id(_PREFIXES.get(kind, "item"))
        items.append(item)
    return items


def replayable(output: Items) -> Items:
    """A response's output items as input items of the next turn."""
    items: Items = []
    for item in output:
        if item.get("type") == "reasoning" and not item.get("encrypted_content"):
            continue
        items.append(item)
    return items


def _for_upstream(item: dict[str, Any]) -> dict[str, Any]:
    if item.get("type") == "reasoning":
        return item  # its id is required, and the encrypted content is self-contained
    return {k: v for k, v in item.items() if k not in ("id", "status")}


def resolve_references(items: Items, earlier: Items) -> Items:
    """Replace ``item_reference`` items with the earlier item of that id; one that names no
    earlier item is left for the upstream (OpenAI resolves its own ids)."""
    by_id = {str(i["id"]): i for i in earlier if i.get("id")}
    return [_for_upstream(by_id[i["id"]]) if _names(i, by_id) else i for i in items]


def _names(item: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> bool:
    kind = item.get("type", "message" if "role" in item else "item_reference")
    return kind == "item_reference" and item.get("id") in by_id


def continued_body(body: bytes, history: Items) -> tuple[bytes, Items]:
    """The request with ``history`` before its own input and no ``previous_response_id``; and
    its own input items, normalized."""
    document = msgspec.json.decode(body)
    if not isinstance(document, dict):
        raise InvalidRequest("the body must be a JSON object")
    raw_input = document.get("input")
    own = normalized(raw_input)
    # Sent as the client wrote it (ids it made up stay its own); only references are resolved.
    sent = [{"role": "user", "content": raw_input}] if isinstance(raw_input, str) else raw_input
    sent = [i for i in sent or () if isinstance(i, dict)]
    document.pop("previous_response_id", None)
    document["input"] = [_for_upstream(i) for i in history] + resolve_references(sent, history)
    return msgspec.json.encode(document), own


def input_items(body: bytes) -> Items:
    """A request's own input items, normalized."""
    document = msgspec.json.decode(body)
    return normalized(document.get("input")) if isinstance(document, dict) else []


_MARKED = b'"' + SIGNATURE_MARK.encode()


def for_openai(body: bytes) -> bytes:
    """The body without reasoning items that hold another vendor's thinking (OpenAI would
    refuse them as encrypted content it did not write). A substring test first: most bodies
    have none."""
    if _MARKED not in body:
        return body
    document = msgspec.json.decode(body)
    items = document.get("input") if isinstance(document, dict) else None
    if not isinstance(items, list):
        return body
    document["input"] = [i for i in items if not _marked(i)]
    return msgspec.json.encode(document)


def _marked(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and item.get("type") == "reasoning"
        and str(item.get("encrypted_content", "")).startswith(SIGNATURE_MARK)
    )
