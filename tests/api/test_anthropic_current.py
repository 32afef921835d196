"""Anthropic Messages as clients speak it today, against a live gateway and the sandbox: answers
in the current published schema from every vendor family (strict check, streamed and not),
``system`` messages inside ``messages``, thinking carried across formats with its signature,
structured output reaching Claude, and base64 as the SDKs really send it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.genai import types

from tests.api.sdk_clients import PNG
from tests.support.anthropic_schema import accumulated, check_message, check_stream
from tests.support.sdk_pool import SDKs, sdk_pool  # noqa: F401 (the sdks fixture)
from tests.support.servers import GatewayProcess

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")


# One model per vendor family, and the ones with a feature of their own.
FAMILIES = {
    "claude": "claude-sonnet-4-6",
    "openai": "gpt-4o-mini",
    "gemini": "gemini-2.5-flash",
}
THINKERS = {
    "claude-budget": "claude-sonnet-4-20250514",  # thinking by budget only
    "claude-adaptive": "claude-sonnet-4-6",
    "openai-reasoning": "o4-mini",
    "gemini-thinking": "gemini-2.5-flash",
}
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"enum": ["celsius", "fahrenheit"]},
            "when": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
            "place": {"$ref": "#/$defs/place"},
        },
        "required": ["city", "unit", "place"],
        "additionalProperties": False,
        "$defs": {
            "place": {
                "type": "object",
                "properties": {"country": {"type": "string"}, "rank": {"const": 1}},
                "required": ["country"],
            }
        },
    },
}


@pytest.fixture(scope="module")
def key(gateway: GatewayProcess) -> str:
    return gateway.create_key("anthropic-current", quota_usd=50.0)[0]


@pytest.fixture(scope="module")
def http(gateway: GatewayProcess, key: str) -> Iterator[httpx.Client]:
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=30) as client:
        yield client


def _post(http: httpx.Client, body: dict[str, Any], **headers: str) -> httpx.Response:
    response = http.post("/v1/messages", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize("model", list(FAMILIES.values()), ids=list(FAMILIES))
@pytest.mark.parametrize("tools", [False, True], ids=["text", "tools"])
def test_answers_conform_to_the_current_schema(http: httpx.Client, model: str, tools: bool) -> None:
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": 200,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
    }
    if tools:
        body["tools"] = [WEATHER]
    once = _post(http, body).json()
    check_message(once)
    assert once["usage"]["cache_creation"] == {
        "ephemeral_5m_input_tokens": 0,
        "ephemeral_1h_input_tokens": 0,
    }
    events = check_stream(_post(http, {**body, "stream": True}).content)
    streamed = accumulated(events)
    check_message(streamed)
    assert [b["type"] for b in streamed["content"]] == [b["type"] for b in once["content"]]
    if tools:
        (call,) = [b for b in once["content"] if b["type"] == "tool_use"]
        assert call["input"]["unit"] == "celsius" and "country" in call["input"]["place"]


@pytest.mark.parametrize("model", list(THINKERS.values()), ids=list(THINKERS))
def test_thinking_answers_conform(http: httpx.Client, model: str) -> None:
    thinking = (
        {"type": "adaptive"}
        if model == "claude-sonnet-4-6"
        else {"type": "enabled", "budget_tokens": 2048}
    )
    body = {
        "model": model,
        "max_tokens": 4096,
        "thinking": thinking,
        "messages": [{"role": "user", "content": "Think about Paris"}],
    }
    once = _post(http, body).json()
    check_message(once)
    events = check_stream(_post(http, {**body, "stream": True}).content)
    check_message(accumulated(events))
    kinds = [b["type"] for b in once["content"]]
    assert kinds[-1] == "text"
    if model.startswith("claude"):
        assert kinds[0] == "thinking" and once["content"][0]["signature"]
    elif model.startswith("gemini"):  # Gemini signs its thinking when tools are in play
        assert kinds[0] == "thinking" and once["content"][0]["thinking"]
    else:  # OpenAI keeps its reasoning hidden
        assert kinds == ["text"]
    assert once["usage"]["output_tokens_details"]["thinking_tokens"] > 0


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gemini-2.5-flash", "claude-sonnet-4-6"])
def test_system_messages_inside_messages(http: httpx.Client, model: str) -> None:
    base = [{"role": "user", "content": [{"type": "text", "text": "Hello Paris"}]}]
    system = {
        "role": "system",
        "content": [
            {
                "type": "text",
                "text": "Reply in few words " * 10,
                "cache_control": {"type": "ephemeral"},
            }
        ],
    }
    plain = _post(http, {"model": model, "max_tokens": 50, "messages": base}).json()
    told = _post(http, {"model": model, "max_tokens": 50, "messages": [*base, system]}).json()
    assert told["content"][0]["text"] == plain["content"][0]["text"] == "You said: Hello Paris"

    def prompt(answer: dict[str, Any]) -> int:
        usage = answer["usage"]
        return int(
            usage["input_tokens"]
            + usage["cache_read_input_tokens"]
            + usage["cache_creation_input_tokens"]
        )

    # The system message reached the vendor: forty more words of prompt.
    assert prompt(told) >= prompt(plain) + 40


@pytest.mark.parametrize(
    ("client", "model"),
    [
        ("anthropic", "gpt-4o-mini"),
        ("anthropic", "gemini-2.0-flash"),
        ("openai", "claude-3-5-haiku-20241022"),
        ("openai", "gemini-2.0-flash"),
    ],
)
def test_a_request_sized_for_other_models_is_held_to_the_models_limit(
    sdks: SDKs, http: httpx.Client, key: str, client: str, model: str
) -> None:
    """Claude Code asks 32,000 output tokens of any model; these write at most 16,384 or
    8,192, and their vendors refuse more. Translated requests are held to the limit (a
    request in the vendor's own format is the client's to size, and passes untouched)."""
    messages: Any = [{"role": "user", "content": "Hello Rome"}]
    if client == "anthropic":
        answer = _post(http, {"model": model, "max_tokens": 32000, "messages": messages}).json()
        text = answer["content"][0]["text"]
    else:
        completion = sdks.openai(key).chat.completions.create(
            model=model, max_tokens=32000, messages=messages
        )
        text = completion.choices[0].message.content
    assert text == "You said: Hello Rome"


def test_claude_thinking_round_trip_keeps_the_signature(http: httpx.Client) -> None:
    """Claude Code's loop on a Claude model: thinking, a tool call, the tool's result sent back
    with the signed thinking; a tampered signature is refused as the real API refuses it."""
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 1024, "display": "omitted"},
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
    }
    first = _post(http, body).json()
    thinking, call = first["content"]
    assert thinking["type"] == "thinking" and thinking["thinking"] == ""
    result = {"type": "tool_result", "tool_use_id": call["id"], "content": "sunny"}
    turn = [
        {"role": "assistant", "content": first["content"]},
        {"role": "user", "content": [result]},
    ]
    second = _post(http, {**body, "messages": [*body["messages"], *turn]}).json()
    assert second["content"][-1]["text"] == "Tool results received: sunny"
    forged = {**thinking, "signature": base64.b64encode(b"forged").decode()}
    turn[0] = {"role": "assistant", "content": [forged, call]}
    refused = http.post("/v1/messages", json={**body, "messages": [*body["messages"], *turn]})
    assert refused.status_code == 400 and "signature" in refused.json()["error"]["message"]


def test_gemini_thinking_round_trip_through_an_anthropic_client(http: httpx.Client) -> None:
    """Gemini's thought signature rides in a Claude thinking block and goes back to Gemini on
    the function call it came with (the sandbox refuses a signature it did not make)."""
    body: dict[str, Any] = {
        "model": "gemini-2.5-flash",
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
    }
    first = _post(http, body).json()
    kinds = [b["type"] for b in first["content"]]
    assert kinds == ["thinking", "tool_use"] and first["content"][0]["signature"]
    call = first["content"][1]
    result = {"type": "tool_result", "tool_use_id": call["id"], "content": "rainy"}
    turn = [
        {"role": "assistant", "content": first["content"]},
        {"role": "user", "content": [result]},
    ]
    second = _post(http, {**body, "messages": [*body["messages"], *turn]}).json()
    assert second["content"][-1]["text"] == "Tool results received: rainy"
    forged = {**first["content"][0], "signature": "bm90IGEgc2lnbmF0dXJl"}
    turn[0] = {"role": "assistant", "content": [forged, call]}
    refused = http.post("/v1/messages", json={**body, "messages": [*body["messages"], *turn]})
    assert refused.status_code == 400 and "ignature" in refused.json()["error"]["message"]


def test_claude_thinking_round_trip_through_a_gemini_client(
    sdks: SDKs, gateway: GatewayProcess, key: str
) -> None:
    """The google-genai SDK keeps the thought signature on the function call; the gateway
    gives it back to Claude as the signed thinking block Claude requires mid tool use."""
    client = sdks.genai(key)
    tool = types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="get_weather",
                parameters_json_schema={
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            )
        ]
    )
    config = types.GenerateContentConfig(
        tools=[tool],
        thinking_config=types.ThinkingConfig(thinking_budget=2048, include_thoughts=True),
    )
    history: list[Any] = [types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])]
    first = client.models.generate_content(
        model="claude-sonnet-4-20250514", contents=history, config=config
    )
    content = first.candidates[0].content  # type: ignore[index]
    assert content is not None and content.parts is not None
    thought = [p for p in content.parts if p.thought]
    (call,) = [p for p in content.parts if p.function_call]
    assert thought and call.thought_signature
    history += [
        content,
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(name="get_weather", response={"result": "windy"})
            ],
        ),
    ]
    second = client.models.generate_content(
        model="claude-sonnet-4-20250514", contents=history, config=config
    )
    assert second.text == "Tool results received: windy"


SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "model",
    ["claude-sonnet-4-6", "claude-sonnet-4-20250514"],
    ids=["structured-outputs", "forced-tool"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["once", "stream"])
def test_structured_output_reaches_claude(
    sdks: SDKs, gateway: GatewayProcess, key: str, model: str, stream: bool
) -> None:
    client = sdks.openai(key)
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "trip", "schema": SCHEMA, "strict": True},
    }
    messages: Any = [{"role": "user", "content": "Plan a trip to Paris"}]
    if stream:
        chunks = client.chat.completions.create(
            model=model, messages=messages, response_format=response_format, stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        answer = client.chat.completions.create(
            model=model, messages=messages, response_format=response_format
        )
        assert answer.choices[0].finish_reason == "stop"
        text = answer.choices[0].message.content or ""
    value = json.loads(text)
    assert set(value) == {"city", "days"} and isinstance(value["days"], int)


def test_structured_output_beside_tools_on_an_older_claude(
    sdks: SDKs, gateway: GatewayProcess, key: str
) -> None:
    """With tools of its own the client's tools stay callable; the JSON answer comes after."""
    client = sdks.openai(key)
    tool: Any = {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {
                "type": "object",
                "properties": {"q": {"type": "string"}},
                "required": ["q"],
            },
        },
    }
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "trip", "schema": SCHEMA},
    }
    messages: Any = [{"role": "user", "content": "Use lookup for Paris"}]
    first = client.chat.completions.create(
        model="claude-sonnet-4-20250514",
        messages=messages,
        tools=[tool],
        response_format=response_format,
    )
    (call,) = first.choices[0].message.tool_calls or []
    assert call.function.name == "lookup"  # type: ignore[union-attr]


def _url_safe_png() -> bytes:
    """A PNG whose base64 has the characters the two alphabets write differently."""
    data = PNG + b"\xfb\xef\xff"
    assert {"+", "/"} & set(base64.b64encode(data).decode())
    return data


@pytest.mark.parametrize("model", list(FAMILIES.values()), ids=list(FAMILIES))
def test_google_genai_inline_bytes_reach_every_vendor(
    sdks: SDKs, gateway: GatewayProcess, key: str, model: str
) -> None:
    """types.Part.from_bytes: the SDK writes the URL-safe alphabet; every vendor takes it."""
    data = _url_safe_png()
    client = sdks.genai(key)
    reply = client.models.generate_content(
        model=model,
        contents=[types.Part.from_bytes(data=data, mime_type="image/png"), "Describe it"],
    )
    assert reply.text is not None and f"an inline image/png of {len(data)} bytes" in reply.text


@pytest.mark.parametrize("model", list(FAMILIES.values()), ids=list(FAMILIES))
def test_unpadded_url_safe_base64_from_an_anthropic_client(http: httpx.Client, model: str) -> None:
    data = _url_safe_png()
    encoded = base64.urlsafe_b64encode(data).decode().rstrip("=")
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": encoded},
    }
    body = {
        "model": model,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [image, {"type": "text", "text": "Describe it"}]}],
    }
    answer = _post(http, body).json()
    assert f"an inline image/png of {len(data)} bytes" in answer["content"][0]["text"]


def test_the_anthropic_sdk_reads_translated_answers(
    sdks: SDKs, gateway: GatewayProcess, key: str
) -> None:
    sdk = sdks.anthropic(key)
    for model in FAMILIES.values():
        message = sdk.messages.create(
            model=model, max_tokens=50, messages=[{"role": "user", "content": "Hello Oslo"}]
        )
        assert (
            message.usage.cache_read_input_tokens == 0 and message.usage.service_tier == "standard"
        )
        with sdk.messages.stream(
            model=model, max_tokens=50, messages=[{"role": "user", "content": "Hello Oslo"}]
        ) as stream:
            final = stream.get_final_message()
        assert final.content[0].type == "text" and final.content[0].citations is None
