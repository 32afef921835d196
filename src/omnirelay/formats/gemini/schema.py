"""JSON Schema ↔ Gemini's Schema (the OpenAPI subset ``parameters`` and ``responseSchema`` take).

Clients write draft 2020-12 (Claude Code's tools carry ``$schema``, ``$defs`` and ``$ref``,
``anyOf``, ``const``, type lists, ``additionalProperties``); Gemini refuses every keyword its
Schema lacks and takes ``enum`` on strings only and few ``format`` values. The conversion keeps
what Gemini can check and drops the rest, so a tool the client can call stays callable:
references are inlined (a recursive one ends in an open object), ``const`` becomes a one-value
enum, ``null`` in a type list or an ``anyOf`` becomes ``nullable``.
"""

from __future__ import annotations

from typing import Any

_KEPT = frozenset(
    {
        "title", "description", "maxItems", "minItems", "required", "minProperties",
        "maxProperties", "minLength", "maxLength", "pattern", "example", "propertyOrdering",
        "default", "minimum", "maximum",
    }
)  # fmt: skip
_FORMATS = {
    "STRING": frozenset({"enum", "date-time"}),
    "NUMBER": frozenset({"float", "double"}),
    "INTEGER": frozenset({"int32", "int64"}),
}
_MAX_DEPTH = 16


class _Converter:
    def __init__(self, root: dict[str, Any]) -> None:
        self._defs: dict[str, Any] = {
            **(root.get("definitions") or {}),
            **(root.get("$defs") or {}),
        }
        self._active: list[str] = []  # references being inlined (to stop a recursion)

    def _resolve(self, ref: str, depth: int) -> dict[str, Any]:
        name = ref.rsplit("/", 1)[-1]
        target = self._defs.get(name)
        if not isinstance(target, dict) or name in self._active or depth > _MAX_DEPTH:
            return {"type": "OBJECT"}
        self._active.append(name)
        try:
            return self.convert(target, depth + 1)
        finally:
            self._active.pop()

    def convert(self, schema: Any, depth: int = 0) -> dict[str, Any]:  # noqa: C901
        if not isinstance(schema, dict) or depth > _MAX_DEPTH:
            return {}
        if isinstance(schema.get("$ref"), str):
            resolved = self._resolve(schema["$ref"], depth)
            extra = {k: v for k, v in schema.items() if k in ("description", "title")}
            return {**resolved, **extra}
        if "allOf" in schema and isinstance(schema["allOf"], list):
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                merged = _merge(merged, part if isinstance(part, dict) else {})
            return self.convert(merged, depth + 1)
        out: dict[str, Any] = {k: v for k, v in schema.items() if k in _KEPT}
        nullable = bool(schema.get("nullable"))
        kinds = schema.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds] if kinds is not None else []
        named = [str(k).upper() for k in kinds if k != "null"]
        nullable = nullable or len(named) < len(kinds)
        options = schema.get("anyOf", schema.get("oneOf"))
        if isinstance(options, list):
            given = [o for o in options if isinstance(o, dict)]
            kept = [self.convert(o, depth + 1) for o in given if o.get("type") != "null"]
            nullable = nullable or len(kept) < len(given)
            if len(kept) == 1 and not named:
                out = {**kept[0], **out}
            elif kept:
                out["anyOf"] = kept
        if len(named) > 1:
            out["anyOf"] = [{"type": k} for k in named]
        elif named:
            out["type"] = named[0]
        if "const" in schema and "enum" not in schema:
            schema = {**schema, "enum": [schema["const"]]}
        _enum(schema, out)
        if isinstance(schema.get("properties"), dict):
            out["properties"] = {
                name: self.convert(sub, depth + 1) for name, sub in schema["properties"].items()
            }
            out.setdefault("type", "OBJECT")
        if "items" in schema:
            items = schema["items"]
            out["items"] = self.convert(items[0] if isinstance(items, list) else items, depth + 1)
            out.setdefault("type", "ARRAY")
        if "exclusiveMinimum" in schema and "minimum" not in out:
            out["minimum"] = schema["exclusiveMinimum"]
        if "exclusiveMaximum" in schema and "maximum" not in out:
            out["maximum"] = schema["exclusiveMaximum"]
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in _FORMATS.get(str(out.get("type")), ()):
            out["format"] = fmt
        if isinstance(out.get("required"), list) and isinstance(out.get("properties"), dict):
            out["required"] = [r for r in out["required"] if r in out["properties"]]
        if nullable:
            out["nullable"] = True
        return out


def _merge(base: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **{k: v for k, v in part.items() if k not in ("properties", "required")}}
    if "properties" in part:
        merged["properties"] = {**base.get("properties", {}), **part["properties"]}
    if "required" in part:
        merged["required"] = [*base.get("required", []), *part["required"]]
    return merged


def _enum(schema: dict[str, Any], out: dict[str, Any]) -> None:
    values = schema.get("enum")
    if not isinstance(values, list) or not values:
        return
    if out.get("type") in (None, "STRING") and all(isinstance(v, str) for v in values):
        out["type"] = "STRING"
        out["enum"] = values
    elif "type" not in out:
        kinds = {type(v) for v in values if v is not None}
        if kinds <= {int}:
            out["type"] = "INTEGER"
        elif kinds <= {int, float}:
            out["type"] = "NUMBER"
        elif kinds == {bool}:
            out["type"] = "BOOLEAN"
    # Numbers and booleans cannot be enumerated in Gemini's Schema: the type still holds.


def to_gemini_schema(schema: Any) -> Any:
    """JSON Schema → Gemini's Schema (upper-case types, the keywords it knows)."""
    if not isinstance(schema, dict):
        return schema
    return _Converter(schema).convert(schema)


def from_gemini_schema(schema: Any) -> Any:
    """Gemini's Schema → JSON Schema (lower-case types; Gemini-only keywords dropped)."""
    if isinstance(schema, list):
        return [from_gemini_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key in ("properties",) and isinstance(value, dict):
            out[key] = {name: from_gemini_schema(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf"):
            out[key] = from_gemini_schema(value)
        elif key not in ("propertyOrdering", "nullable"):
            out[key] = value
    if schema.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out
