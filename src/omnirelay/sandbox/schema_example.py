"""Makes a value that is valid for a JSON Schema: tool arguments and structured output."""

from __future__ import annotations

from typing import Any

_MAX_DEPTH = 12


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node if isinstance(node, dict) else {}
    return schema


def example_for(schema: Any, hint: str = "", root: Any = None, depth: int = 0) -> Any:  # noqa: C901
    """A deterministic instance of ``schema``; strings draw on ``hint`` (the user's words)."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return hint or "example"
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key, []) if _resolve(o, root).get("type") != "null"]
        if options:
            return example_for(options[0], hint, root, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(_resolve(part, root))
        return example_for(merged, hint, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None and "properties" in schema:
        kind = "object"
    if kind == "object":
        # As a model does: the required properties, or all of them if the schema names none.
        properties = schema.get("properties", {})
        required = schema.get("required")
        if isinstance(required, list) and required:
            properties = {k: v for k, v in properties.items() if k in required}
        return {
            name: example_for(sub, name if not hint else hint, root, depth + 1)
            for name, sub in properties.items()
        }
    if kind == "array":
        count = max(int(schema.get("minItems", 1)), 1)
        return [example_for(schema.get("items", {}), hint, root, depth + 1) for _ in range(count)]
    if kind == "integer":
        return _number(schema, 1, integer=True)
    if kind == "number":
        return _number(schema, 1.5, integer=False)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, hint)


def _number(schema: dict[str, Any], default: float, *, integer: bool) -> float | int:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    value = default
    if low is not None and value <= low:
        value = low + 1
    if high is not None and value >= high:
        value = (low + high) / 2 if low is not None else high - 1
    return int(value) if integer else float(value)


def _string(schema: dict[str, Any], hint: str) -> str:
    formats = {
        "date": "2024-01-01",
        "date-time": "2024-01-01T00:00:00Z",
        "email": "a@example.com",
        "uri": "https://example.com",
        "uuid": "00000000-0000-4000-8000-000000000000",
    }
    if schema.get("format") in formats:
        return formats[schema["format"]]
    text = hint or "example"
    low = int(schema.get("minLength", 0))
    high = schema.get("maxLength")
    if len(text) < low:
        text = text + "x" * (low - len(text))
    if high is not None:
        text = text[: int(high)]
    return text
