"""Pure translation of what current clients carry: thinking (Claude blocks and signatures,
Gemini thought parts and signatures, OpenAI reasoning) in requests, answers and streams; the
reasoning settings; structured output for Claude; cache and reasoning counts; base64."""

from __future__ import annotations

import json
from typing import Any

import pytest

from omnirelay.formats import neutral
from omnirelay.formats.codec import codec, translation
from omnirelay.formats.sse import encode_data

SIGNATURE = "c2lnbmVkLXRoaW5raW5n"


def _anthropic_answer() -> bytes:
    return json.dumps(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude",
            "content": [
                {"type": "thinking", "thinking": "Let me see.", "signature": SIGNATURE},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 10,
                "cache_creation_input_tokens": 300,
                "cache_read_input_tokens": 2000,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 100,
                    "ephemeral_1h_input_tokens": 200,
                },
                "output_tokens": 40,
                "output_tokens_details": {"thinking_tokens": 12},
            },
        }
    ).encode()


def test_anthropic_usage_counts_the_cache_in_the_input() -> None:
    answer = codec("anthropic").decode_response(_anthropic_answer())
    assert answer.usage == neutral.Usage(
        input_tokens=2310,
        output_tokens=40,
        cache_read_tokens=2000,
        cache_write_tokens=100,
        cache_write_1h_tokens=200,
        reasoning_tokens=12,
    )
    back = json.loads(codec("anthropic").encode_response(answer, "m"))["usage"]
    assert (
        back["input_tokens"],
        back["cache_read_input_tokens"],
        back["cache_creation_input_tokens"],
    ) == (10, 2000, 300)
    assert back["cache_creation"] == {
        "ephemeral_5m_input_tokens": 100,
        "ephemeral_1h_input_tokens": 200,
    }


def test_usage_in_openai_and_gemini_terms() -> None:
    answer = codec("anthropic").decode_response(_anthropic_answer())
    openai = json.loads(codec("openai").encode_response(answer, "m"))["usage"]
    assert (
        openai["prompt_tokens"] == 2310 and openai["prompt_tokens_details"]["cached_tokens"] == 2000
    )
    assert openai["completion_tokens_details"]["reasoning_tokens"] == 12
    gemini = json.loads(codec("gemini").encode_response(answer, "m"))["usageMetadata"]
    assert gemini == {
        "promptTokenCount": 2310,
        "candidatesTokenCount": 28,
        "thoughtsTokenCount": 12,
        "cachedContentTokenCount": 2000,
        "totalTokenCount": 2350,
    }
    assert codec("gemini").decode_response(
        json.dumps({"usageMetadata": gemini}).encode()
    ).usage == neutral.Usage(
        input_tokens=2310, output_tokens=40, cache_read_tokens=2000, reasoning_tokens=12
    )
    usage = {
        "prompt_tokens": 50,
        "completion_tokens": 9,
        "prompt_tokens_details": {"cached_tokens": 32},
        "completion_tokens_details": {"reasoning_tokens": 4},
    }
    assert codec("openai").usage_of(json.dumps({"usage": usage}).encode()) == neutral.Usage(
        input_tokens=50, output_tokens=9, cache_read_tokens=32, reasoning_tokens=4
    )


def test_claude_thinking_in_openai_and_gemini_answers() -> None:
    answer = codec("anthropic").decode_response(_anthropic_answer())
    assert answer.parts[0] == neutral.Thinking("Let me see.", SIGNATURE)
    message = json.loads(codec("openai").encode_response(answer, "m"))["choices"][0]["message"]
    assert message["reasoning_content"] == "Let me see."
    parts = json.loads(codec("gemini").encode_response(answer, "m"))["candidates"][0]["content"][
        "parts"
    ]
    assert parts[0] == {"text": "Let me see.", "thought": True}
    assert parts[1]["functionCall"]["name"] == "f" and parts[1]["thoughtSignature"] == SIGNATURE


def test_a_gemini_history_gives_claude_its_signed_thinking_back() -> None:
    """Gemini clients keep thought parts and put the signature on the call; the Claude
    request gets one thinking block, text and signature together, before the tool use."""
    history = {
        "contents": [
            {"role": "user", "parts": [{"text": "Weather?"}]},
            {
                "role": "model",
                "parts": [
                    {"text": "Let me see.", "thought": True},
                    {
                        "functionCall": {"name": "f", "args": {"a": 1}},
                        "thoughtSignature": SIGNATURE,
                    },
                ],
            },
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "f", "response": {"result": "ok"}}}],
            },
        ],
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True}},
    }
    request = codec("gemini").decode_request(json.dumps(history).encode(), model="m", stream=False)
    assert request.reasoning == neutral.Reasoning(budget_tokens=2048, include_thoughts=True)
    body = json.loads(codec("anthropic").encode_request(request, "claude-sonnet-4-20250514"))
    assistant = body["messages"][1]["content"]
    assert assistant[0] == {"type": "thinking", "thinking": "Let me see.", "signature": SIGNATURE}
    assert assistant[1]["type"] == "tool_use"
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] > 2048
    # And back to Gemini: the thought part, then the signature on the call.
    gemini = json.loads(codec("gemini").encode_request(request, "gemini-2.5-flash"))
    assert gemini["contents"][1]["parts"] == history["contents"][1]["parts"]  # type: ignore[index]


def test_unsigned_thinking_is_not_sent_to_claude() -> None:
    request = neutral.Request(
        model="m",
        messages=[
            neutral.Message("user", [neutral.Text("hi")]),
            neutral.Message(
                "assistant", [neutral.Thinking("from another vendor"), neutral.Text("hello")]
            ),
            neutral.Message("user", [neutral.Text("again")]),
        ],
    )
    body = json.loads(codec("anthropic").encode_request(request, "claude-sonnet-4-20250514"))
    assert body["messages"][1]["content"] == [{"type": "text", "text": "hello"}]


def _events(*events: tuple[str, dict[str, Any]]) -> list[bytes]:
    return [encode_data(json.dumps({"type": n, **d}).encode(), event=n) for n, d in events]


CLAUDE_STREAM = _events(
    (
        "message_start",
        {
            "message": {
                "id": "m",
                "model": "c",
                "content": [],
                "usage": {"input_tokens": 5, "cache_read_input_tokens": 1500, "output_tokens": 1},
            }
        },
    ),
    (
        "content_block_start",
        {"index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
    ),
    ("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm."}}),
    (
        "content_block_delta",
        {"index": 0, "delta": {"type": "signature_delta", "signature": SIGNATURE}},
    ),
    ("content_block_stop", {"index": 0}),
    ("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"index": 1, "delta": {"type": "text_delta", "text": "Hi"}}),
    ("content_block_stop", {"index": 1}),
    ("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}}),
    ("message_stop", {}),
)


def _translate(
    client: str, vendor: str, events: list[bytes]
) -> tuple[list[bytes], neutral.Usage | None]:
    found = translation(client, vendor)
    assert found is not None
    stream = found.stream("m", include_usage=True)
    out = [b for e in events for b in stream.feed(e)] + stream.finish()
    return out, stream.usage


def test_claude_stream_thinking_to_gemini_and_openai() -> None:
    out, usage = _translate("gemini", "anthropic", CLAUDE_STREAM)
    assert usage == neutral.Usage(input_tokens=1505, output_tokens=7, cache_read_tokens=1500)
    chunks = [json.loads(e.decode().removeprefix("data: ")) for e in out]
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    assert parts[0] == {"text": "Hmm.", "thought": True}
    assert parts[1] == {"text": "Hi", "thoughtSignature": SIGNATURE}
    assert chunks[-1]["usageMetadata"]["cachedContentTokenCount"] == 1500
    out, _ = _translate("openai", "anthropic", CLAUDE_STREAM)
    deltas = [json.loads(e.decode()[6:])["choices"] for e in out if e.startswith(b"data: {")]
    reasoning = [c[0]["delta"].get("reasoning_content") for c in deltas if c]
    assert "Hmm." in reasoning


def test_gemini_stream_thinking_to_claude() -> None:
    chunks = [
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "Pondering.", "thought": True}]}}
            ]
        },
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {
                                "functionCall": {"name": "f", "args": {}},
                                "thoughtSignature": SIGNATURE,
                            }
                        ],
                    },
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 9,
                "candidatesTokenCount": 3,
                "thoughtsTokenCount": 2,
            },
        },
    ]
    out, usage = _translate(
        "anthropic", "gemini", [encode_data(json.dumps(c).encode()) for c in chunks]
    )
    assert usage is not None and usage.reasoning_tokens == 2 and usage.output_tokens == 5
    text = b"".join(out).decode()
    assert '"thinking_delta","thinking":"Pondering."' in text.replace(": ", ":").replace(", ", ",")
    assert SIGNATURE in text and text.index(SIGNATURE) < text.index('"tool_use"')


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-sonnet-4-20250514", {"thinking": {"type": "enabled", "budget_tokens": 16384}}),
        (
            "claude-sonnet-4-6",
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}},
        ),
        ("claude-3-5-sonnet-20241022", {}),
    ],
)
def test_openai_reasoning_effort_to_claude(model: str, expected: dict[str, Any]) -> None:
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "reasoning_effort": "high",
        "temperature": 0.2,
        "max_tokens": 30000,
    }
    request = codec("openai").decode_request(json.dumps(body).encode(), model=model, stream=False)
    claude = json.loads(codec("anthropic").encode_request(request, model))
    assert {k: claude[k] for k in ("thinking", "output_config") if k in claude} == expected
    assert ("temperature" in claude) == (not expected)  # Claude refuses sampling while thinking


@pytest.mark.parametrize(
    ("model", "config"),
    [
        ("gemini-2.5-flash", {"includeThoughts": True, "thinkingBudget": 1024}),
        ("gemini-3-pro-preview", {"includeThoughts": True, "thinkingLevel": "low"}),
        ("gemini-2.0-flash", None),
    ],
)
def test_reasoning_to_gemini(model: str, config: dict[str, Any] | None) -> None:
    request = neutral.Request(
        model="m",
        messages=[neutral.Message("user", [neutral.Text("x")])],
        reasoning=neutral.Reasoning(effort="low"),
    )
    body = json.loads(codec("gemini").encode_request(request, model))
    assert body.get("generationConfig", {}).get("thinkingConfig") == config


@pytest.mark.parametrize(
    ("budget", "effort"), [(512, "minimal"), (3000, "low"), (8192, "medium"), (31999, "high")]
)
def test_budgets_to_openai_reasoning_effort(budget: int, effort: str) -> None:
    request = neutral.Request(
        model="m",
        messages=[neutral.Message("user", [neutral.Text("x")])],
        reasoning=neutral.Reasoning(budget_tokens=budget),
        temperature=0.5,
    )
    body = json.loads(codec("openai").encode_request(request, "o4-mini"))
    assert body["reasoning_effort"] == effort and "temperature" not in body
    assert "reasoning_effort" not in json.loads(codec("openai").encode_request(request, "gpt-4o"))


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_structured_output_by_output_config_or_forced_tool() -> None:
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": SCHEMA}},
    }
    request = codec("openai").decode_request(json.dumps(body).encode(), model="m", stream=False)
    modern = json.loads(codec("anthropic").encode_request(request, "claude-sonnet-4-5-20250929"))
    assert modern["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    older = json.loads(codec("anthropic").encode_request(request, "claude-sonnet-4-20250514"))
    assert older["tool_choice"] == {"type": "tool", "name": older["tools"][0]["name"]}
    assert older["tools"][0]["input_schema"] == SCHEMA
    answer = {
        "content": [
            {
                "type": "tool_use",
                "id": "t",
                "name": older["tools"][0]["name"],
                "input": {"city": "Oslo"},
            }
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    decoded = codec("anthropic").decode_response(json.dumps(answer).encode())
    assert (
        decoded.parts == [neutral.Text('{"city":"Oslo"}')]
        and decoded.stop is neutral.StopReason.END
    )


def test_a_non_object_schema_is_wrapped_and_unwrapped() -> None:
    request = neutral.Request(
        model="m",
        messages=[neutral.Message("user", [neutral.Text("x")])],
        json_schema={"type": "array", "items": {"type": "integer"}},
    )
    body = json.loads(codec("anthropic").encode_request(request, "claude-3-5-haiku-20241022"))
    tool = body["tools"][0]
    assert tool["input_schema"]["properties"]["value"] == {
        "type": "array",
        "items": {"type": "integer"},
    }
    events = _events(
        (
            "message_start",
            {"message": {"id": "m", "model": "c", "content": [], "usage": {"input_tokens": 1}}},
        ),
        (
            "content_block_start",
            {
                "index": 0,
                "content_block": {"type": "tool_use", "id": "t", "name": tool["name"], "input": {}},
            },
        ),
        (
            "content_block_delta",
            {"index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"value": [1,'}},
        ),
        (
            "content_block_delta",
            {"index": 0, "delta": {"type": "input_json_delta", "partial_json": " 2]}"}},
        ),
        ("content_block_stop", {"index": 0}),
        ("message_delta", {"delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}}),
        ("message_stop", {}),
    )
    out, _ = _translate("openai", "anthropic", events)
    chunks = [json.loads(e.decode()[6:]) for e in out if e.startswith(b"data: {")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert json.loads(text) == [1, 2]
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"


@pytest.mark.parametrize(
    ("data", "standard"),
    [
        ("-_8", "+/8="),
        ("-_8=", "+/8="),
        ("+/8=", "+/8="),
        ("aGk", "aGk="),
        ("aG\nk=", "aGk="),
        ("aGk=", "aGk="),
    ],
)
def test_base64_is_held_in_the_standard_alphabet(data: str, standard: str) -> None:
    assert neutral.standard_base64(data) == standard
    assert neutral.image_from_url(f"data:image/png;base64,{data}").data == standard
