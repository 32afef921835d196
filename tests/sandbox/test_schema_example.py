from __future__ import annotations

from typing import Any

import pytest

from omnirelay.sandbox.schema_example import example_for

SCHEMAS: list[tuple[dict[str, Any], Any]] = [
    ({"type": "string"}, "Paris"),
    ({"type": "string", "enum": ["a", "b"]}, "a"),
    ({"type": "integer", "minimum": 5}, 6),
    ({"type": "number", "maximum": 0}, -1.0),
    ({"type": "boolean"}, True),
    ({"type": "array", "items": {"type": "integer"}, "minItems": 2}, [1, 1]),
    ({"anyOf": [{"type": "null"}, {"type": "string", "format": "date"}]}, "2024-01-01"),
    ({"type": ["null", "integer"]}, 1),
    ({"const": 3}, 3),
    ({"type": "string", "maxLength": 3}, "Par"),
]


@pytest.mark.parametrize(("schema", "expected"), SCHEMAS)
def test_examples(schema: dict[str, Any], expected: Any) -> None:
    assert example_for(schema, "Paris") == expected


def test_refs_and_nested_objects() -> None:
    schema = {
        "type": "object",
        "properties": {"owner": {"$ref": "#/$defs/Person"}, "count": {"type": "integer"}},
        "$defs": {"Person": {"type": "object", "properties": {"name": {"type": "string"}}}},
    }
    assert example_for(schema, "Ada") == {"owner": {"name": "Ada"}, "count": 1}


def test_recursive_schema_terminates() -> None:
    schema = {
        "$ref": "#/$defs/Node",
        "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}},
    }
    assert isinstance(example_for(schema), dict)
