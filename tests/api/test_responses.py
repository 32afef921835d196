"""The official openai SDK's Responses API against a live gateway and the sandbox, on every
vendor family: ``responses.create`` / ``stream`` / ``retrieve`` / ``delete`` /
``input_items.list``, ``previous_response_id`` (within one vendor and across vendors), tools,
structured output, images; stored responses private to their key; bad input refused in
OpenAI's envelope and charged nothing; usage billed exactly."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from omnirelay.formats.sse import EventSplitter, data_of
from omnirelay.money import per_million
from tests.api.sdk_clients import IMAGE_URL, PNG, WEATHER_SCHEMA
from tests.support.servers import GatewayProcess

MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-3-5-sonnet-20241022",
    "gemini": "gemini-2.0-flash",
}
VENDORS = list(MODELS)
# Micro-dollars per 1M tokens (input, output), from the catalogue.
PRICES = {"openai": (150_000, 600_000), "anthropic": (3_000_000, 15_000_000),
          "gemini": (100_000, 400_000)}  # fmt: skip
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather",
           "parameters": WEATHER_SCHEMA}  # fmt: skip
STREAM = pytest.mark.parametrize("stream", [False, True], ids=["once", "stream"])
VENDOR = pytest.mark.parametrize("vendor", VENDORS)


@pytest.fixture(scope="module")
def account(gateway: GatewayProcess) -> tuple[str, int]:
    return gateway.create_key("responses", quota_usd=50.0)


@pytest.fixture
def sdk(gateway: GatewayProcess, account: tuple[str, int]) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key=account[0], max_retries=0)


def _create(sdk: openai.OpenAI, stream: bool, **options: Any) -> Any:
    """``responses.create``, or the same through ``responses.stream`` (checking that the
    streamed text adds up to the final response's)."""
    if not stream:
        return sdk.responses.create(**options)
    deltas: list[str] = []
    with sdk.responses.stream(**options) as events:
        for event in events:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = events.get_final_response()
    assert "".join(deltas) == final.output_text
    return final


def _price(vendor: str, usage: Any) -> int:
    price_in, price_out = PRICES[vendor]
    return per_million(usage.input_tokens, price_in) + per_million(usage.output_tokens, price_out)


@STREAM
@VENDOR
def test_text_answer_echo_store_and_billing(
    gateway: GatewayProcess, vendor: str, stream: bool
) -> None:
    key, key_id = gateway.create_key(f"text-{vendor}", quota_usd=1.0)
    sdk = openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0)
    response = _create(
        sdk, stream, model=MODELS[vendor], input="Hello there Paris",
        instructions="Answer briefly please", metadata={"ticket": "42"}, temperature=0.5,
    )  # fmt: skip
    assert response.output_text == "You said: Hello there Paris"
    assert response.status == "completed" and response.id.startswith("resp_")
    assert response.object == "response" and response.error is None
    assert response.metadata == {"ticket": "42"} and response.store is not False
    if vendor != "openai":  # OpenAI answers with its own (snapshot) model name and defaults
        assert response.model == MODELS[vendor]
        assert response.instructions == "Answer briefly please" and response.temperature == 0.5
    usage = response.usage
    assert usage.output_tokens == 5 and usage.input_tokens > 3
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens_details.reasoning_tokens == 0
    stored = sdk.responses.retrieve(response.id)
    assert stored.id == response.id and stored.output_text == response.output_text
    (record,) = gateway.wait_for_usage(key_id=key_id, count=1)
    assert record["endpoint"] == "responses" and record["status"] == 200
    assert record["stream"] is stream and record["model"] == MODELS[vendor]
    assert (record["prompt_tokens"], record["completion_tokens"]) == (
        usage.input_tokens, usage.output_tokens
    )  # fmt: skip
    assert record["cost"] == _price(vendor, usage)
    gateway.wait_for_balance(key_id, 1_000_000 - record["cost"])


@STREAM
@VENDOR
def test_tool_call_round_trip_with_previous_response_id(
    sdk: openai.OpenAI, vendor: str, stream: bool
) -> None:
    model = MODELS[vendor]
    first = _create(sdk, stream, model=model, input="What is the weather in Paris?",
                    tools=[WEATHER])  # fmt: skip
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    assert call.call_id and call.status == "completed"
    second = _create(
        sdk, stream, model=model, previous_response_id=first.id, tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
    )  # fmt: skip
    assert second.output_text == "Tool results received: sunny"
    assert second.previous_response_id == first.id
    items = sdk.responses.input_items.list(second.id).data
    kinds = [item.type for item in items]  # newest first
    assert kinds == ["function_call_output", "function_call", "message"]
    assert [i.type for i in sdk.responses.input_items.list(second.id, order="asc").data] == (
        kinds[::-1]
    )  # fmt: skip


@VENDOR
def test_the_whole_conversation_resent_without_storing(sdk: openai.OpenAI, vendor: str) -> None:
    """How Codex works: ``store: false``, and every turn resends every item."""
    model = MODELS[vendor]
    history: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = sdk.responses.create(model=model, input=history, tools=[WEATHER], store=False)
    call = first.output[0]
    history += [item.model_dump(exclude_none=True) for item in first.output]
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "rain"})
    second = sdk.responses.create(model=model, input=history, tools=[WEATHER], store=False)
    assert second.output_text == "Tool results received: rain"
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(second.id)


def test_a_conversation_moves_between_vendors(sdk: openai.OpenAI) -> None:
    """Each vendor gets the whole conversation, whichever vendor answered before: Claude's and
    Gemini's sandboxes refuse a tool result whose call they were not shown."""
    first = sdk.responses.create(model=MODELS["openai"], input="Weather in Paris?",
                                 tools=[WEATHER])  # fmt: skip
    call = first.output[0]
    second = sdk.responses.create(
        model=MODELS["anthropic"], previous_response_id=first.id, tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "warm"}],
    )  # fmt: skip
    assert second.output_text == "Tool results received: warm"
    third = sdk.responses.create(
        model=MODELS["gemini"], previous_response_id=second.id, input="And in Rome?"
    )
    assert third.output_text == "You said: And in Rome?"
    items = sdk.responses.input_items.list(third.id, order="asc").data
    assert [i.type for i in items] == [
        "message", "function_call", "function_call_output", "message", "message",
    ]  # fmt: skip


STRUCTURED = VENDORS


@STREAM
@pytest.mark.parametrize("vendor", STRUCTURED)
def test_structured_output(sdk: openai.OpenAI, vendor: str, stream: bool) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
        "additionalProperties": False,
    }
    text = {"format": {"type": "json_schema", "name": "forecast", "schema": schema, "strict": True}}
    response = _create(sdk, stream, model=MODELS[vendor], input="Forecast for Paris", text=text)
    answer = json.loads(response.output_text)
    assert set(answer) == {"city", "days"} and isinstance(answer["days"], int)
    assert response.text.format.type == "json_schema"


@VENDOR
def test_images_by_url_and_base64(sdk: openai.OpenAI, vendor: str) -> None:
    inline = "data:image/png;base64," + base64.b64encode(PNG).decode()
    content = [
        {"type": "input_text", "text": "What is in these?"},
        {"type": "input_image", "image_url": inline, "detail": "auto"},
        {"type": "input_image", "image_url": IMAGE_URL, "detail": "low"},
    ]
    response = sdk.responses.create(
        model=MODELS[vendor], input=[{"role": "user", "content": content}]
    )
    assert response.output_text.startswith("I see 2 image(s)")


@VENDOR
def test_hosted_tools_beside_function_tools(sdk: openai.OpenAI, vendor: str) -> None:
    """Codex offers hosted tools on every turn; where a vendor has no equivalent they are left
    out, and the function tools still work."""
    tools: list[Any] = [
        {"type": "namespace", "name": "crm", "description": "CRM tools", "tools": [
            {"type": "function", "name": "find_customer", "parameters": {
                "type": "object", "properties": {"name": {"type": "string"}}}}]},
        WEATHER,
        {"type": "web_search"},
    ]  # fmt: skip
    response = sdk.responses.create(
        model=MODELS[vendor], input="Please find_customer Alice", tools=tools
    )
    (call,) = [i for i in response.output if i.type == "function_call"]
    assert (call.namespace, call.name) == ("crm", "find_customer")
    searched = sdk.responses.create(model=MODELS[vendor], input="Look it up",
                                    tools=[{"type": "web_search"}])  # fmt: skip
    assert searched.output_text == "You said: Look it up"


def test_stored_responses_are_private_to_their_key(
    gateway: GatewayProcess, sdk: openai.OpenAI
) -> None:
    mine = sdk.responses.create(model=MODELS["openai"], input="secret")
    other_key, _ = gateway.create_key("other")
    other = openai.OpenAI(base_url=gateway.v1, api_key=other_key, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.input_items.list(mine.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.delete(mine.id)
    with pytest.raises(openai.BadRequestError) as refused:
        other.responses.create(model=MODELS["openai"], previous_response_id=mine.id, input="x")
    assert refused.value.code == "previous_response_not_found"
    assert sdk.responses.retrieve(mine.id).output_text == "You said: secret"
    sdk.responses.delete(mine.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(mine.id)


BAD = [
    ({"input": "x"}, 400, "model"),
    ({"model": "gpt-4o-mini"}, 400, "input"),
    ({"model": "no-such-model", "input": "x"}, 404, "model"),
    ({"model": "gpt-4o-mini", "input": "x", "background": True}, 400, "background"),
    ({"model": "gpt-4o-mini", "input": "x", "previous_response_id": "resp_nope"}, 400,
     "previous_response_id"),
    ({"model": "gpt-4o-mini", "input": 5}, 400, "input"),
    # Refused by the vendors, passed on as their 400:
    ({"model": "gpt-4o-mini", "input": "x", "max_output_tokens": 5}, 400, "max_output_tokens"),
    ({"model": "gpt-4o-mini", "input": "x", "reasoning": {"effort": "high"}}, 400,
     "reasoning.effort"),
    ({"model": "gpt-4o-mini", "input": [{"type": "function_call_output", "call_id": "c9",
                                          "output": "x"}]}, 400, "input"),
    # Refused by the translation, for what another vendor cannot take:
    ({"model": MODELS["anthropic"], "input": [{"role": "user", "content": [
        {"type": "input_file", "file_id": "file_1"}]}]}, 400, "input[0]"),
    ({"model": MODELS["gemini"], "input": "x", "tools": [WEATHER],
      "tool_choice": {"type": "code_interpreter"}}, 400, "tool_choice"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "status", "param"), BAD)
def test_bad_input_is_refused_and_costs_nothing(
    gateway: GatewayProcess, body: dict[str, Any], status: int, param: str
) -> None:
    key, key_id = gateway.create_key("bad-input", quota_usd=1.0)
    headers = {"Authorization": f"Bearer {key}"}
    response = httpx.post(gateway.v1 + "/responses", json=body, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert error["param"] == param or (error["param"] or "").startswith(param), error
    # The stored quota may read lower for a while (a worker keeps a lease after a request that
    # reached the vendor); what the key can spend, and what it spent, show it cost nothing.
    assert gateway.spendable_usd(key) == pytest.approx(1.0, abs=1e-9)
    assert gateway.key_info(key_id)["spent_micro_usd"] == 0


def test_unknown_stored_response_and_bad_listing(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve("resp_does_not_exist")
    with pytest.raises(openai.NotFoundError):
        sdk.responses.delete("resp_does_not_exist")
    made = sdk.responses.create(model=MODELS["gemini"], input="list me")
    with pytest.raises(openai.BadRequestError):
        sdk.responses.input_items.list(made.id, limit=1000)


@VENDOR
def test_a_stream_cut_upstream_ends_with_an_error_event(
    gateway: GatewayProcess, vendor: str
) -> None:
    key, key_id = gateway.create_key(f"cut-{vendor}", quota_usd=1.0)
    sdk = openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0)
    seen: list[str] = []
    with pytest.raises(RuntimeError, match=r"response\.completed"):
        with sdk.responses.stream(
            model=MODELS[vendor], input="Tell a long story [sandbox-fault drop_after=2]"
        ) as events:
            seen += [event.type for event in events]
            events.get_final_response()
    assert seen[0] == "response.created" and "error" in seen
    assert "response.completed" not in seen
    (record,) = gateway.wait_for_usage(key_id=key_id, count=1)
    assert record["status"] == 502 and record["stream"]


def test_a_previous_response_id_continues_a_streamed_answer(sdk: openai.OpenAI) -> None:
    """A streamed response is stored before its last event reaches the client."""
    with sdk.responses.stream(model=MODELS["openai"], input="Remember Paris") as events:
        first = events.get_final_response()
    second = sdk.responses.create(
        model=MODELS["anthropic"], previous_response_id=first.id, input="What did I say?"
    )
    assert second.output_text == "You said: What did I say?"
    assert [i.type for i in sdk.responses.input_items.list(second.id).data] == [
        "message", "message", "message"
    ]  # fmt: skip


@STREAM
@VENDOR
def test_answers_conform_to_the_current_schema(
    gateway: GatewayProcess, account: tuple[str, int], vendor: str, stream: bool
) -> None:
    """Strict validation against the official SDK's types (its client parses leniently)."""
    body = {
        "model": MODELS[vendor],
        "input": "Weather in Paris?",
        "tools": [WEATHER],
        "stream": stream,
        "reasoning": {"summary": "auto"} if vendor != "openai" else None,
    }
    body = {k: v for k, v in body.items() if v is not None}
    headers = {"Authorization": f"Bearer {account[0]}"}
    response = httpx.post(gateway.v1 + "/responses", json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    if not stream:
        Response.model_validate(response.json())
        return
    events = EventSplitter().feed(response.content)
    payloads = [json.loads(data_of(event) or b"") for event in events]
    adapter: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
    for payload in payloads:
        adapter.validate_python(payload)
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    Response.model_validate(payloads[-1]["response"])
