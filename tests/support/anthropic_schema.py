"""A strict conformance check of Anthropic Messages answers against the installed ``anthropic``
SDK's types (generated from the published API schema).

Strict means: every key is a field of the type (nothing unknown, at any depth), every field
the published schema requires is present (the SDK's non-optional fields, and the required
fields whose value may be null, listed in ``REQUIRED_NULLABLE``: the SDK cannot tell those
from optional ones), and every value has the field's type (the SDK's pydantic validation).
Unions of blocks and deltas are resolved by their ``type``, as the SDK does.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any

import pydantic
from anthropic import types as anthropic_types
from anthropic.types import raw_message_delta_event

# Required by the published schema, though null is a valid value (so the SDK marks them
# Optional). The list follows the API reference's required fields of each object.
REQUIRED_NULLABLE: dict[type[pydantic.BaseModel], frozenset[str]] = {
    anthropic_types.Message: frozenset({"stop_reason", "stop_sequence"}),
    anthropic_types.Usage: frozenset(
        {
            "cache_creation",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "server_tool_use",
            "service_tier",
        }
    ),
    anthropic_types.TextBlock: frozenset({"citations"}),
    anthropic_types.MessageDeltaUsage: frozenset(
        {
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "input_tokens",
            "server_tool_use",
        }
    ),
    raw_message_delta_event.Delta: frozenset({"stop_reason", "stop_sequence"}),
}

STREAM_EVENTS: dict[str, type[pydantic.BaseModel]] = {
    "message_start": anthropic_types.RawMessageStartEvent,
    "content_block_start": anthropic_types.RawContentBlockStartEvent,
    "content_block_delta": anthropic_types.RawContentBlockDeltaEvent,
    "content_block_stop": anthropic_types.RawContentBlockStopEvent,
    "message_delta": anthropic_types.RawMessageDeltaEvent,
    "message_stop": anthropic_types.RawMessageStopEvent,
}


class NonConformance(AssertionError):
    pass


def _models_in(annotation: Any) -> list[type[pydantic.BaseModel]]:
    """The pydantic models an annotation allows (through Optional, List, Union, Annotated)."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, typing.List):  # noqa: UP006
        found: list[type[pydantic.BaseModel]] = []
        for arg in typing.get_args(annotation):
            found += _models_in(arg)
        return found
    return []


def _tag(model: type[pydantic.BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    if field is None:
        return None
    args = typing.get_args(field.annotation)
    return str(args[0]) if args else None


def _pick(candidates: list[type[pydantic.BaseModel]], value: Any, path: str) -> Any:
    if len(candidates) == 1 or not isinstance(value, dict):
        return candidates[0]
    for model in candidates:
        if _tag(model) == value.get("type"):
            return model
    raise NonConformance(f"{path}: no type {value.get('type')!r} among {candidates}")


def check(model: type[pydantic.BaseModel], value: Any, path: str = "$") -> None:
    """Raise ``NonConformance`` unless ``value`` is a strict instance of ``model``."""
    if not isinstance(value, dict):
        raise NonConformance(f"{path}: expected an object for {model.__name__}, got {value!r}")
    fields = model.model_fields
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise NonConformance(f"{path}: {model.__name__} has no field {unknown[0]!r}")
    required = {n for n, f in fields.items() if f.is_required()}
    required |= REQUIRED_NULLABLE.get(model, frozenset())
    missing = sorted(required - set(value))
    if missing:
        raise NonConformance(f"{path}: {model.__name__} lacks required {missing[0]!r}")
    for name, item in value.items():
        candidates = _models_in(fields[name].annotation)
        if not candidates or item is None:
            continue
        if isinstance(item, list):
            for i, element in enumerate(item):
                check(
                    _pick(candidates, element, f"{path}.{name}[{i}]"),
                    element,
                    f"{path}.{name}[{i}]",
                )
        else:
            check(_pick(candidates, item, f"{path}.{name}"), item, f"{path}.{name}")
    try:
        model.model_validate(value)
    except pydantic.ValidationError as exc:
        raise NonConformance(f"{path}: {exc}") from exc


def check_message(document: dict[str, Any]) -> None:
    check(anthropic_types.Message, document)


def sse_events(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of every event of an Anthropic stream; each must have both lines."""
    events: list[tuple[str, dict[str, Any]]] = []
    for raw in body.decode().replace("\r\n", "\n").split("\n\n"):
        if not raw.strip():
            continue
        lines = dict(line.split(": ", 1) for line in raw.split("\n") if ": " in line)
        if "event" not in lines or "data" not in lines:
            raise NonConformance(f"an event without its event or data line: {raw[:200]!r}")
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def check_stream(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Check every event of a stream, and their order: message_start, blocks each opened,
    delta'd and stopped in turn, message_delta, message_stop."""
    events = sse_events(body)
    names = [name for name, _ in events if name != "ping"]
    if not names or names[0] != "message_start" or names[-2:] != ["message_delta", "message_stop"]:
        raise NonConformance(f"stream out of order: {names}")
    open_block: int | None = None
    for i, (name, data) in enumerate(events):
        if data.get("type") != name:
            raise NonConformance(f"event {i}: event line {name!r}, data type {data.get('type')!r}")
        if name == "ping":
            continue
        if name == "error":
            raise NonConformance(f"event {i}: an error event: {data}")
        check(STREAM_EVENTS[name], data, f"events[{i}]")
        if name == "content_block_start":
            if open_block is not None:
                raise NonConformance(f"event {i}: block {data['index']} opened inside {open_block}")
            open_block = data["index"]
        elif name == "content_block_stop":
            open_block = None
    if open_block is not None:
        raise NonConformance(f"block {open_block} was never stopped")
    return events


def accumulated(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The message a stream adds up to (as the SDK accumulates it), to check like an answer."""
    message: dict[str, Any] = {}
    for name, data in events:
        if name == "message_start":
            message = json.loads(json.dumps(data["message"]))
        elif name == "content_block_start":
            message["content"].append(json.loads(json.dumps(data["content_block"])))
        elif name == "content_block_delta":
            block, delta = message["content"][data["index"]], data["delta"]
            kind = delta["type"]
            if kind == "text_delta":
                block["text"] += delta["text"]
            elif kind == "input_json_delta":
                block["_json"] = block.get("_json", "") + delta["partial_json"]
            elif kind == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif kind == "signature_delta":
                block["signature"] = delta["signature"]
        elif name == "message_delta":
            message.update({k: v for k, v in data["delta"].items() if k in message})
            message["usage"].update({k: v for k, v in data["usage"].items() if v is not None})
    for block in message.get("content", []):
        if "_json" in block:
            block["input"] = json.loads(block.pop("_json") or "{}")
    return message
