"""Table tests for the finer points: tool choice, schemas, field-name case, embeddings, config."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import pytest

from omnirelay.config import _channels_from_env
from omnirelay.errors import InvalidRequest
from omnirelay.formats import neutral
from omnirelay.formats.codec import codec
from omnirelay.formats.gemini.embeddings import EmbedOutput, OpenAIEmbeddings, embedding_codec
from omnirelay.formats.gemini.schema import from_gemini_schema, to_gemini_schema
from omnirelay.formats.gemini.wire import camelize


def _request(choice: neutral.ToolChoice | None, parallel: bool | None = None) -> neutral.Request:
    return neutral.Request(
        model="m",
        messages=[neutral.Message("user", [neutral.Text("hi")])],
        tools=[neutral.Tool("f", None, {"type": "object", "properties": {}})],
        tool_choice=choice,
        parallel_tool_calls=parallel,
    )


@pytest.mark.parametrize(
    ("choice", "openai", "anthropic", "gemini"),
    [
        (neutral.ToolChoice("auto"), "auto", {"type": "auto"}, {"mode": "AUTO"}),
        (neutral.ToolChoice("none"), "none", {"type": "none"}, {"mode": "NONE"}),
        (neutral.ToolChoice("required"), "required", {"type": "any"}, {"mode": "ANY"}),
        (
            neutral.ToolChoice("named", "f"),
            {"type": "function", "function": {"name": "f"}},
            {"type": "tool", "name": "f"},
            {"mode": "ANY", "allowedFunctionNames": ["f"]},
        ),
    ],
)
def test_tool_choice_in_every_format(
    choice: neutral.ToolChoice, openai: Any, anthropic: Any, gemini: Any
) -> None:
    written = {
        f: json.loads(codec(f).encode_request(_request(choice), "m"))
        for f in ("openai", "anthropic", "gemini")
    }
    assert written["openai"]["tool_choice"] == openai
    assert written["anthropic"]["tool_choice"] == anthropic
    assert written["gemini"]["toolConfig"]["functionCallingConfig"] == gemini
    for fmt, body in written.items():  # and back again
        back = codec(fmt).decode_request(json.dumps(body).encode(), model="m", stream=False)
        assert back.tool_choice == choice


def test_parallel_tool_calls_off() -> None:
    body = json.loads(codec("anthropic").encode_request(_request(None, parallel=False), "m"))
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    back = codec("anthropic").decode_request(json.dumps(body).encode(), model="m", stream=False)
    assert back.parallel_tool_calls is False
    openai = json.loads(codec("openai").encode_request(back, "m"))
    assert openai["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("json_schema", "gemini"),
    [
        ({"type": "string"}, {"type": "STRING"}),
        ({"type": ["string", "null"]}, {"type": "STRING", "nullable": True}),
        (
            {
                "type": "object",
                "properties": {"n": {"type": "integer", "minimum": 1}},
                "additionalProperties": False,
            },
            {"type": "OBJECT", "properties": {"n": {"type": "INTEGER", "minimum": 1}}},
        ),
        (
            {"type": "array", "items": {"type": "number"}},
            {"type": "ARRAY", "items": {"type": "NUMBER"}},
        ),
    ],
)
def test_schemas_convert(json_schema: dict[str, Any], gemini: dict[str, Any]) -> None:
    assert to_gemini_schema(json_schema) == gemini
    back = from_gemini_schema(gemini)
    assert back == {k: v for k, v in json_schema.items() if k != "additionalProperties"}


def test_snake_case_field_names_but_not_free_form_keys() -> None:
    document = {
        "system_instruction": {"parts": [{"text": "s"}]},
        "contents": [
            {
                "parts": [
                    {"inline_data": {"mime_type": "image/png", "data": "x"}},
                    {"function_call": {"name": "f", "args": {"city_name": "Oslo"}}},
                ]
            }
        ],
        "tools": [
            {
                "function_declarations": [
                    {"name": "f", "parameters": {"properties": {"city_name": {}}}}
                ]
            }
        ],
    }
    assert camelize(document) == {
        "systemInstruction": {"parts": [{"text": "s"}]},
        "contents": [
            {
                "parts": [
                    {"inlineData": {"mimeType": "image/png", "data": "x"}},
                    {"functionCall": {"name": "f", "args": {"city_name": "Oslo"}}},
                ]
            }
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "f", "parameters": {"properties": {"city_name": {}}}}
                ]
            }
        ],
    }


def test_embeddings_translate() -> None:
    wanted = OpenAIEmbeddings().decode_request(
        b'{"model": "m", "input": ["a", "b"], "dimensions": 4}', single=False
    )
    gemini = embedding_codec("gemini")
    assert gemini is not None
    body = json.loads(gemini.encode_request(wanted, "gemini-embedding-001"))
    assert body == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": t}]},
                "outputDimensionality": 4,
            }
            for t in ("a", "b")
        ]
    }
    answer = gemini.decode_response(
        b'{"embeddings": [{"values": [0.5, -1.0]}, {"values": [2.0, 0.25]}]}'
    )
    written = json.loads(
        OpenAIEmbeddings().encode_response(
            EmbedOutput(answer.vectors, 3), single=False, model="m", base64_output=True
        )
    )
    raw = base64.b64decode(written["data"][1]["embedding"])
    assert struct.unpack("<2f", raw) == (2.0, 0.25) and written["usage"]["prompt_tokens"] == 3
    with pytest.raises(InvalidRequest):
        OpenAIEmbeddings().decode_request(b'{"model": "m", "input": [[1, 2]]}', single=False)


def test_vendor_keys_in_the_environment_become_channels() -> None:
    specs = _channels_from_env(
        {"ANTHROPIC_API_KEY": "a", "GEMINI_API_KEY": "g", "OMNIRELAY_GEMINI_BASE_URL": "http://gem"}
    )
    assert [(s.vendor, s.base_url, s.secret) for s in specs] == [
        ("anthropic", "https://api.anthropic.com", "a"),
        ("gemini", "http://gem", "g"),
    ]


def test_structured_output_openai_and_gemini() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "N", "schema": schema}},
    }
    request = codec("openai").decode_request(json.dumps(body).encode(), model="m", stream=False)
    gemini = json.loads(codec("gemini").encode_request(request, "g"))
    assert gemini["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "OBJECT",
            "properties": {"n": {"type": "INTEGER"}},
            "required": ["n"],
        },
    }
    back = codec("gemini").decode_request(json.dumps(gemini).encode(), model="m", stream=False)
    openai = json.loads(codec("openai").encode_request(back, "m"))
    assert openai["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": schema},
    }
