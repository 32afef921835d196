"""The official openai SDK against a live gateway routed to the sandbox: chat completions."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import openai
import pytest
from pydantic import BaseModel

from tests.support.servers import GatewayProcess


@pytest.fixture
def client(gateway: GatewayProcess) -> Iterator[openai.OpenAI]:
    key, _ = gateway.create_key("chat-tests")
    with openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0) as sdk:
        yield sdk


def test_chat_non_streaming(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello relay"},
        ],
    )
    assert completion.choices[0].message.content == "You said: hello relay"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 4
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_unknown_fields_pass_through_both_ways(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "echo"}],
        extra_body={"sandbox_echo": {"nested": [1, 2, 3]}},
    )
    assert completion.model_extra is not None
    assert completion.model_extra["sandbox_echo"] == {"nested": [1, 2, 3]}


def test_stream_without_usage_hides_the_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "one two three four"}],
            stream=True,
        )
    )
    assert len(chunks) > 3
    assert all(chunk.choices for chunk in chunks)
    assert all(chunk.usage is None for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == "You said: one two three four"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_stream_with_include_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "count me"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.completion_tokens == 4
    assert all(chunk.usage is None for chunk in chunks[:-1])


def test_n_choices(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "pick"}], n=3
    )
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert len({c.message.content for c in completion.choices}) == 3

    texts: dict[int, str] = {}
    for chunk in client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "pick"}], n=2, stream=True
    ):
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
    assert texts == {0: "You said: pick", 1: "You said: pick (choice 1)"}


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string"}, "offset": {"type": "integer"}},
            "required": ["zone", "offset"],
        },
    },
}


def test_parallel_tool_calls_and_tool_results(client: openai.OpenAI) -> None:
    messages: list[dict[str, object]] = [
        {"role": "user", "content": "Call get_weather and get_time for Paris"}
    ]
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=messages,  # type: ignore[arg-type]
        tools=[WEATHER_TOOL, TIME_TOOL],  # type: ignore[list-item]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]  # type: ignore[union-attr]
    weather = json.loads(calls[0].function.arguments)  # type: ignore[union-attr]
    assert weather == {"city": "Paris", "unit": "celsius"}
    assert isinstance(json.loads(calls[1].function.arguments)["offset"], int)  # type: ignore[union-attr]

    messages.append(choice.message.model_dump(exclude_none=True))
    for call in calls:
        messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny"})
    follow_up = client.chat.completions.create(
        model="gpt-4o",
        messages=messages,  # type: ignore[arg-type]
        tools=[WEATHER_TOOL, TIME_TOOL],  # type: ignore[list-item]
    )
    assert follow_up.choices[0].message.content == "Tool results received: sunny; sunny"


def test_streamed_tool_call_fragments_reassemble(client: openai.OpenAI) -> None:
    arguments: dict[int, str] = {}
    names: dict[int, str] = {}
    ids: dict[int, str] = {}
    for chunk in client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather in Oslo?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        stream=True,
    ):
        for delta in chunk.choices[0].delta.tool_calls or []:
            if delta.id:
                ids[delta.index] = delta.id
            if delta.function and delta.function.name:
                names[delta.index] = delta.function.name
            if delta.function and delta.function.arguments:
                arguments[delta.index] = arguments.get(delta.index, "") + delta.function.arguments
    assert names == {0: "get_weather"}
    assert ids[0].startswith("call_")
    assert json.loads(arguments[0]) == {"city": "Oslo", "unit": "celsius"}


class Person(BaseModel):
    name: str
    age: int
    tags: list[str]


def test_structured_output_parse_helper(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Describe Ada"}],
        response_format=Person,
    )
    person = completion.choices[0].message.parsed
    assert isinstance(person, Person)
    assert person.name == "Ada"


def test_json_object_mode(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "json please"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(completion.choices[0].message.content or "") == {
        "answer": "You said: json please"
    }


def test_vision_url_and_large_base64(client: openai.OpenAI) -> None:
    image = b"\x89PNG\r\n\x1a\n" + bytes(4_000_000)
    data_url = "data:image/png;base64," + base64.b64encode(image).decode()
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    {"type": "image_url", "image_url": {"url": data_url, "detail": "low"}},
                ],
            }
        ],
    )
    content = completion.choices[0].message.content or ""
    assert "I see 2 image(s)" in content
    assert "https://example.com/cat.png" in content
    assert f"image/png of {len(image)} bytes" in content


def test_max_tokens_truncates_with_length(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "a b c d e f"}], max_tokens=3
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == "You said: a"
