"""JSON Schema as clients write it (draft 2020-12) → Gemini's Schema, which the sandbox checks
as strictly as Google does."""

from __future__ import annotations

from typing import Any

import pytest

from omnirelay.formats.gemini.schema import to_gemini_schema
from omnirelay.sandbox.gemini_rules import check_schema

CASES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {},
            "additionalProperties": False,
        },
        {"type": "OBJECT", "properties": {}},
    ),
    ({"const": "fixed"}, {"type": "STRING", "enum": ["fixed"]}),
    ({"enum": [1, 2, 3]}, {"type": "INTEGER"}),
    ({"type": "integer", "enum": [1, 2]}, {"type": "INTEGER"}),
    ({"type": ["string", "integer"]}, {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]}),
    ({"anyOf": [{"type": "string"}, {"type": "null"}]}, {"type": "STRING", "nullable": True}),
    ({"type": "string", "format": "uri"}, {"type": "STRING"}),
    ({"type": "string", "format": "date-time"}, {"type": "STRING", "format": "date-time"}),
    ({"type": "integer", "exclusiveMinimum": 0}, {"type": "INTEGER", "minimum": 0}),
    (
        {
            "allOf": [
                {"properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"properties": {"b": {"type": "number"}}},
            ]
        },
        {
            "type": "OBJECT",
            "properties": {"a": {"type": "STRING"}, "b": {"type": "NUMBER"}},
            "required": ["a"],
        },
    ),
    (
        {
            "type": "object",
            "properties": {"node": {"$ref": "#/$defs/node", "description": "the root"}},
            "$defs": {
                "node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}
            },
        },
        {
            "type": "OBJECT",
            "properties": {
                "node": {
                    "type": "OBJECT",
                    "properties": {"child": {"type": "OBJECT"}},
                    "description": "the root",
                }
            },
        },
    ),
    (
        {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "number"}]}},
        {"type": "ARRAY", "items": {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}]}},
    ),
]


@pytest.mark.parametrize(("json_schema", "gemini"), CASES)
def test_json_schema_to_gemini(json_schema: dict[str, Any], gemini: dict[str, Any]) -> None:
    converted = to_gemini_schema(json_schema)
    assert converted == gemini
    check_schema(converted, "parameters")


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "object", "additionalProperties": False}, 'Unknown name "additionalProperties"'),
        ({"$ref": "#/$defs/x"}, 'Unknown name "$ref"'),
        ({"type": "integer", "enum": [1]}, "only allowed for STRING"),
        ({"type": "string", "format": "uri"}, "only 'date-time' and 'enum'"),
    ],
)
def test_the_sandbox_refuses_what_gemini_refuses(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("$", r"\$")):
        check_schema(schema, "parameters")
