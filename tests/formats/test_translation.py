"""Table tests for the pure translators: requests, answers, stop reasons, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from omnirelay.errors import InvalidRequest, QuotaExceeded, UpstreamError
from omnirelay.formats import neutral
from omnirelay.formats.codec import codec, translation

PNG = "iVBORw0KGgo="
TOOL_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}

# One conversation — system prompt, image by URL and base64, a tool call and its result, then a
# question — written in each of the three formats.
OPENAI_REQUEST: dict[str, Any] = {
    "model": "m",
    "max_tokens": 50,
    "stop": ["END"],
    "messages": [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather in Paris?"},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "user", "content": "Thanks"},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": TOOL_SCHEMA}}],
    "tool_choice": "auto",
}
ANTHROPIC_REQUEST: dict[str, Any] = {
    "model": "m",
    "max_tokens": 50,
    "system": "Be brief.",
    "stop_sequences": ["END"],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather in Paris?"},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "call_1",
                    "content": [{"type": "text", "text": "sunny"}],
                },
                {"type": "text", "text": "Thanks"},
            ],
        },
    ],
    "tools": [{"name": "get_weather", "input_schema": TOOL_SCHEMA}],
    "tool_choice": {"type": "auto"},
}
GEMINI_REQUEST: dict[str, Any] = {
    "systemInstruction": {"parts": [{"text": "Be brief."}]},
    "contents": [
        {
            "role": "user",
            "parts": [
                {"text": "Weather in Paris?"},
                {"fileData": {"mimeType": "image/png", "fileUri": "https://x.test/a.png"}},
                {"inlineData": {"mimeType": "image/png", "data": PNG}},
            ],
        },
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}},
                {"text": "Thanks"},
            ],
        },
    ],
    "generationConfig": {"maxOutputTokens": 50, "stopSequences": ["END"]},
    "tools": [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"city": {"type": "STRING"}},
                        "required": ["city"],
                    },
                }
            ]
        }
    ],
    "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
}
REQUESTS = {"openai": OPENAI_REQUEST, "anthropic": ANTHROPIC_REQUEST, "gemini": GEMINI_REQUEST}


def _decode(fmt: str) -> neutral.Request:
    return codec(fmt).decode_request(json.dumps(REQUESTS[fmt]).encode(), model="m", stream=False)


@pytest.mark.parametrize("fmt", sorted(REQUESTS))
def test_every_format_decodes_to_the_same_conversation(fmt: str) -> None:
    request = _decode(fmt)
    assert request.system == ["Be brief."]
    assert request.max_tokens == 50 and request.stop == ["END"]
    assert [t.name for t in request.tools] == ["get_weather"]
    assert request.tools[0].parameters["properties"]["city"]["type"] == "string"
    first, call, answer = request.messages
    assert first.parts == [
        neutral.Text("Weather in Paris?"),
        neutral.Image(media_type="image/png", url="https://x.test/a.png"),
        neutral.Image(media_type="image/png", data=PNG),
    ]
    (tool_call,) = call.parts
    assert isinstance(tool_call, neutral.ToolCall)
    assert (tool_call.name, json.loads(tool_call.arguments)) == ("get_weather", {"city": "Paris"})
    result = answer.parts[0]
    assert isinstance(result, neutral.ToolResult)
    assert result.id == tool_call.id  # Gemini's synthesised id pairs the call with its result
    assert result.text == "sunny"
    assert answer.parts[-1] == neutral.Text("Thanks")


@pytest.mark.parametrize(
    ("client", "vendor"),
    [(c, v) for c in REQUESTS for v in REQUESTS if c != v],
)
def test_translation_round_trips_through_every_pair(client: str, vendor: str) -> None:
    """client → vendor body → decoded by the vendor's codec: the same conversation."""
    found = translation(client, vendor)
    assert found is not None
    sent = found.request(_decode(client), "upstream-model")
    back = codec(vendor).decode_request(sent, model="m", stream=False)
    original = _decode(client)
    assert back.system == original.system
    assert back.max_tokens == 50 and back.stop == ["END"]
    assert [m.role for m in back.messages] == [m.role for m in original.messages]
    texts = [[type(p).__name__ for p in m.parts] for m in back.messages]
    assert texts == [
        ["Text", "Image", "Image"],
        ["ToolCall"],
        ["ToolResult", "Text"],
    ]
    call, result = back.messages[1].parts[0], back.messages[2].parts[0]
    assert isinstance(call, neutral.ToolCall) and isinstance(result, neutral.ToolResult)
    assert call.id == result.id
    if vendor != "gemini":  # Gemini carries no ids: they are re-synthesised, still paired
        assert call.id == original.messages[1].parts[0].id  # type: ignore[union-attr]
    assert result.text == "sunny"


def test_translated_bodies_are_the_vendor_wire_shapes() -> None:
    to_anthropic = json.loads(
        translation("openai", "anthropic").request(_decode("openai"), "claude-x")
    )  # type: ignore[union-attr]
    assert to_anthropic["model"] == "claude-x" and to_anthropic["system"] == "Be brief."
    assert to_anthropic["messages"][2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "call_1",
        "content": [{"type": "text", "text": "sunny"}],
    }
    assert to_anthropic["tools"][0]["input_schema"] == TOOL_SCHEMA
    to_gemini = json.loads(translation("anthropic", "gemini").request(_decode("anthropic"), "g"))  # type: ignore[union-attr]
    assert "model" not in to_gemini  # the model travels in the URL
    assert to_gemini["contents"][2]["parts"][0] == {
        "functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}
    }
    declaration = to_gemini["tools"][0]["functionDeclarations"][0]
    assert declaration["parameters"]["properties"]["city"]["type"] == "STRING"
    to_openai = json.loads(translation("gemini", "openai").request(_decode("gemini"), "gpt"))  # type: ignore[union-attr]
    roles = [m["role"] for m in to_openai["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert (
        to_openai["messages"][3]["tool_call_id"] == to_openai["messages"][2]["tool_calls"][0]["id"]
    )
    assert to_openai["max_completion_tokens"] == 50


@pytest.mark.parametrize(
    ("vendor", "body", "expected"),
    [
        ("openai", {"choices": [{"message": {"content": "x"}, "finish_reason": "stop"}]}, "end"),
        (
            "openai",
            {"choices": [{"message": {"content": "x"}, "finish_reason": "length"}]},
            "length",
        ),
        (
            "openai",
            {
                "choices": [
                    {
                        "message": {
                            "tool_calls": [
                                {"id": "c", "function": {"name": "f", "arguments": "{}"}}
                            ]
                        },
                        "finish_reason": "tool_calls",
                    }
                ]
            },
            "tool",
        ),
        (
            "anthropic",
            {"content": [{"type": "text", "text": "x"}], "stop_reason": "end_turn"},
            "end",
        ),
        ("anthropic", {"content": [], "stop_reason": "max_tokens"}, "length"),
        (
            "anthropic",
            {"content": [], "stop_reason": "stop_sequence", "stop_sequence": "Z"},
            "stop_sequence",
        ),
        (
            "anthropic",
            {
                "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
                "stop_reason": "tool_use",
            },
            "tool",
        ),
        (
            "gemini",
            {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"}]},
            "end",
        ),
        (
            "gemini",
            {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "MAX_TOKENS"}]},
            "length",
        ),
        (
            "gemini",
            {
                "candidates": [
                    {
                        "content": {"parts": [{"functionCall": {"name": "f", "args": {}}}]},
                        "finishReason": "STOP",
                    }
                ]
            },
            "tool",
        ),
        (
            "gemini",
            {"candidates": [{"content": {"parts": []}, "finishReason": "SAFETY"}]},
            "filter",
        ),
        ("gemini", {"promptFeedback": {"blockReason": "SAFETY"}}, "filter"),
    ],
)
def test_stop_reasons_are_read(vendor: str, body: dict[str, Any], expected: str) -> None:
    assert codec(vendor).decode_response(json.dumps(body).encode()).stop == expected


@pytest.mark.parametrize(
    ("stop", "openai", "anthropic", "gemini"),
    [
        ("end", "stop", "end_turn", "STOP"),
        ("length", "length", "max_tokens", "MAX_TOKENS"),
        ("tool", "tool_calls", "tool_use", "STOP"),
        ("filter", "content_filter", "refusal", "SAFETY"),
    ],
)
def test_stop_reasons_are_written(stop: str, openai: str, anthropic: str, gemini: str) -> None:
    answer = neutral.Response(
        id="r",
        model="m",
        parts=[neutral.Text("hi"), neutral.ToolCall("toolu_1", "f", '{"a": 1}')],
        stop=neutral.StopReason(stop),
        usage=neutral.Usage(3, 4),
    )
    written = {f: json.loads(codec(f).encode_response(answer, "m")) for f in REQUESTS}
    assert written["openai"]["choices"][0]["finish_reason"] == openai
    assert written["openai"]["choices"][0]["message"]["tool_calls"][0]["id"] == "toolu_1"
    usage = written["openai"]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (3, 4, 7)
    assert written["anthropic"]["stop_reason"] == anthropic
    assert written["anthropic"]["content"][1] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "f",
        "input": {"a": 1},
    }
    usage = written["anthropic"]["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (3, 4)
    assert written["gemini"]["candidates"][0]["finishReason"] == gemini
    assert (
        written["gemini"]["candidates"][0]["content"]["parts"][1]["functionCall"]["id"] == "toolu_1"
    )
    assert written["gemini"]["usageMetadata"]["totalTokenCount"] == 7


def test_gemini_synthesised_ids_are_stable() -> None:
    body = json.dumps(GEMINI_REQUEST).encode()
    first = codec("gemini").decode_request(body, model="m", stream=False)
    again = codec("gemini").decode_request(body, model="m", stream=False)
    assert first.messages[1].parts == again.messages[1].parts
    answer = json.dumps(
        {
            "responseId": "r1",
            "candidates": [
                {
                    "content": {
                        "parts": [
                            {"functionCall": {"name": "f", "args": {}}},
                            {"functionCall": {"name": "f", "args": {"x": 1}}},
                        ]
                    },
                    "finishReason": "STOP",
                }
            ],
        }
    ).encode()
    ids = [
        p.id
        for p in codec("gemini").decode_response(answer).parts
        if isinstance(p, neutral.ToolCall)
    ]
    assert len(set(ids)) == 2
    assert ids == [
        p.id
        for p in codec("gemini").decode_response(answer).parts
        if isinstance(p, neutral.ToolCall)
    ]


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        ("openai", {"messages": [{"role": "wizard", "content": "x"}]}),
        ("openai", {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}),
        ("anthropic", {"messages": [{"role": "tool", "content": "x"}]}),
        (
            "anthropic",
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": {"type": "file"}}]}
                ]
            },
        ),
        ("gemini", {"contents": [{"parts": [{"executableCode": {"code": "1"}}]}]}),
        ("gemini", {"contents": "not a list"}),
    ],
)
def test_bad_input_is_an_invalid_request(fmt: str, body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        codec(fmt).decode_request(json.dumps(body).encode(), model="m", stream=False)


def test_unreadable_upstream_answers_are_upstream_errors() -> None:
    for fmt in REQUESTS:
        with pytest.raises(UpstreamError):
            codec(fmt).decode_response(b"<html>bad gateway</html>")


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (
            "openai",
            {
                "error": {
                    "message": "m",
                    "type": "insufficient_quota",
                    "param": None,
                    "code": "insufficient_quota",
                }
            },
        ),
        ("anthropic", {"type": "error", "error": {"type": "billing_error", "message": "m"}}),
        ("gemini", {"error": {"code": 429, "message": "m", "status": "RESOURCE_EXHAUSTED"}}),
    ],
)
def test_errors_render_in_each_format(fmt: str, expected: dict[str, Any]) -> None:
    assert json.loads(codec(fmt).error_body(QuotaExceeded("m"))) == expected
    event = codec(fmt).stream_error(QuotaExceeded("m"))
    assert event.endswith(b"\n\n") and json.loads(event.split(b"data: ", 1)[1]) == expected
    assert event.startswith(b"event: error\n") == (fmt == "anthropic")
