"""The sandbox's Responses API straight over HTTP: it refuses what OpenAI refuses, streams the
typed events the official SDK's types accept, and keeps stored responses and their chains."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from omnirelay.formats.sse import EventSplitter, data_of
from tests.support.servers import GatewayProcess

HEADERS = {"Authorization": "Bearer sk-sandbox-demo"}
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
WEATHER = {"type": "function", "name": "get_weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}  # fmt: skip


def _post(gateway: GatewayProcess, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gateway.sandbox_url + "/v1/responses", json=body, headers=HEADERS)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "gpt-4o", "input": "x", "messages": []}, "messages"),
        ({"model": "gpt-4o"}, "input"),
        ({"model": "gpt-4o", "input": "x", "max_output_tokens": 15}, "max_output_tokens"),
        ({"model": "gpt-4o", "input": "x", "temperature": 3}, "temperature"),
        ({"model": "gpt-4o", "input": "x", "reasoning": {"effort": "low"}}, "reasoning.effort"),
        ({"model": "gpt-4o", "input": "x", "tools": [{"type": "browser"}]}, "tools[0].type"),
        ({"model": "gpt-4o", "input": "x", "tools": [{"type": "function", "name": "a b"}]},
         "tools[0].name"),
        ({"model": "gpt-4o", "input": "x", "tool_choice": {"type": "function", "name": "f"}},
         "tool_choice"),
        ({"model": "gpt-4o", "input": [{"role": "assistant", "content": [
            {"type": "input_text", "text": "x"}]}]}, "input[0].content[0].type"),
        ({"model": "gpt-4o", "input": [{"type": "function_call_output", "call_id": "c",
                                         "output": "x"}]}, "input"),
        ({"model": "gpt-4o", "input": "x", "previous_response_id": "resp_none"},
         "previous_response_id"),
        ({"model": "gpt-4o", "input": "x", "text": {"format": {"type": "json_schema"}}},
         "text.format.name"),
        ({"model": "gpt-4o", "input": "x", "include": ["everything"]}, "include[0]"),
        ({"model": "gpt-4o", "input": "x", "metadata": {"k": 1}}, "metadata"),
        ({"model": "gpt-9", "input": "x"}, "model"),
    ],
)  # fmt: skip
def test_refuses_what_openai_refuses(
    gateway: GatewayProcess, body: dict[str, Any], param: str
) -> None:
    response = _post(gateway, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_streams_typed_events_in_order(gateway: GatewayProcess) -> None:
    body = {"model": "gpt-4o", "input": "What is the weather in Paris?", "tools": [WEATHER],
            "stream": True}  # fmt: skip
    response = _post(gateway, body)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = EventSplitter().feed(response.content)
    payloads = [json.loads(data_of(e) or b"") for e in events]
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    for event, payload in zip(events, payloads, strict=True):
        assert event.startswith(f"event: {payload['type']}\n".encode())
        EVENTS.validate_python(payload)
    kinds = [p["type"] for p in payloads]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-2:] == ["response.output_item.done", "response.completed"]
    final = Response.model_validate(payloads[-1]["response"])
    assert final.output[0].type == "function_call"
    arguments = "".join(
        p["delta"] for p in payloads if p["type"] == "response.function_call_arguments.delta"
    )
    assert json.loads(arguments) == {"city": "Paris"}


def test_keeps_responses_and_their_chains(gateway: GatewayProcess) -> None:
    first = _post(gateway, {"model": "gpt-4o", "input": "Weather?", "tools": [WEATHER]}).json()
    Response.model_validate(first)
    call = first["output"][0]
    second = _post(
        gateway,
        {"model": "gpt-4o", "previous_response_id": first["id"], "tools": [WEATHER],
         "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "hot"}]},
    ).json()  # fmt: skip
    assert second["output"][0]["content"][0]["text"] == "Tool results received: hot"
    url = f"{gateway.sandbox_url}/v1/responses/{second['id']}"
    items = httpx.get(url + "/input_items", headers=HEADERS).json()["data"]
    assert [i["type"] for i in items] == ["function_call_output", "function_call", "message"]
    assert httpx.delete(url, headers=HEADERS).json()["deleted"] is True
    assert httpx.get(url, headers=HEADERS).status_code == 404
    unstored = _post(gateway, {"model": "gpt-4o", "input": "x", "store": False}).json()
    assert httpx.get(f"{gateway.sandbox_url}/v1/responses/{unstored['id']}",
                     headers=HEADERS).status_code == 404  # fmt: skip
