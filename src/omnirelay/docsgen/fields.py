"""Request fields read off the wire structs: name, JSON type, default, allowed values.

``msgspec.inspect`` gives what the decoder enforces (types, literals, required fields); nested
structs are walked into dotted names (``camera_control.config.zoom``) so every field a client
can send has a row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import inspect

_SCALARS: dict[type[Any], str] = {
    inspect.StrType: "string",
    inspect.IntType: "integer",
    inspect.FloatType: "number",
    inspect.BoolType: "boolean",
    inspect.RawType: "any JSON",
    inspect.AnyType: "any JSON",
    inspect.DictType: "object",
}


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One field of a request body as the decoder sees it."""

    path: str
    type: str
    required: bool
    default: str | None
    choices: tuple[str, ...]
    nested: bool  # an object whose own fields follow as rows


def _without_none(kind: inspect.Type) -> tuple[inspect.Type, bool]:
    if isinstance(kind, inspect.UnionType):
        rest = [t for t in kind.types if not isinstance(t, inspect.NoneType)]
        nullable = len(rest) < len(kind.types)
        if len(rest) == 1:
            return rest[0], nullable
        return inspect.UnionType(types=tuple(rest)), nullable
    return kind, False


def type_name(kind: inspect.Type) -> str:
    """A JSON type as a person reads it: ``string``, ``array of object``, ``string or array``."""
    kind, _ = _without_none(kind)
    for scalar, name in _SCALARS.items():
        if isinstance(kind, scalar):
            return name
    if isinstance(kind, inspect.LiteralType):
        return (
            type_name(inspect.StrType())
            if all(isinstance(v, str) for v in kind.values)
            else ("integer")
        )
    if isinstance(kind, inspect.ListType):
        return f"array of {type_name(kind.item_type)}"
    if isinstance(kind, inspect.StructType):
        return "object"
    if isinstance(kind, inspect.UnionType):
        return " or ".join(dict.fromkeys(type_name(t) for t in kind.types))
    return "any JSON"


def _choices(kind: inspect.Type) -> tuple[str, ...]:
    kind, _ = _without_none(kind)
    if isinstance(kind, inspect.LiteralType):
        return tuple(str(v) for v in kind.values)
    return ()


def _default(field: inspect.Field) -> str | None:
    if field.required or field.default is None or field.default is msgspec.NODEFAULT:
        return None
    return msgspec.json.encode(field.default).decode()


def _struct_of(kind: inspect.Type) -> inspect.StructType | None:
    kind, _ = _without_none(kind)
    if isinstance(kind, inspect.ListType):
        kind, _ = _without_none(kind.item_type)
    return kind if isinstance(kind, inspect.StructType) else None


def walk(struct: type[msgspec.Struct], prefix: str = "") -> Iterator[FieldInfo]:
    """Every field of ``struct``, nested struct fields after their parent."""
    info = inspect.type_info(struct)
    assert isinstance(info, inspect.StructType)
    yield from _walk(info, prefix, set())


def _walk(info: inspect.StructType, prefix: str, seen: set[type[Any]]) -> Iterator[FieldInfo]:
    for field in info.fields:
        path = f"{prefix}{field.encode_name}"
        inner = _struct_of(field.type)
        # A recursive struct (a content block holding blocks) is described once.
        nested = inner is not None and inner.cls not in seen
        yield FieldInfo(
            path=path,
            type=type_name(field.type),
            required=field.required,
            default=_default(field),
            choices=_choices(field.type),
            nested=nested,
        )
        if inner is not None and nested:
            sep = "[]." if isinstance(_without_none(field.type)[0], inspect.ListType) else "."
            yield from _walk(inner, path + sep, seen | {info.cls, inner.cls})
