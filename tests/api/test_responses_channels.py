"""How a Responses request reaches an OpenAI-format upstream that has only chat completions:
a channel declared ``openai-chat`` is translated for at once; an ``openai`` channel whose
upstream answers ``/responses`` with 404 is translated for too, and remembered."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.api.test_responses import WEATHER
from tests.support.servers import GatewayProcess, start_gateway

CONFIG = """
[[models]]
name = "compat-declared"
kind = "chat"
family = "custom"
prices = { input = 1.0, output = 2.0 }

[[models]]
name = "compat-probed"
kind = "chat"
family = "custom"
prices = { input = 1.0, output = 2.0 }

[[channels]]
name = "declared-chat-only"
vendor = "openai-chat"
base_url = "{sandbox}/v1"
api_key = "sk-sandbox-demo"
models = ["compat-declared"]
model_map = { "compat-declared" = "gpt-4o" }

[[channels]]
name = "chat-only-server"
vendor = "openai"
base_url = "{sandbox}/chat-only/v1"
api_key = "sk-sandbox-demo"
models = ["compat-probed"]
model_map = { "compat-probed" = "gpt-4o" }
"""


@pytest.fixture(scope="module")
def compat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    data = tmp_path_factory.mktemp("compat")
    process = start_gateway(f"sqlite+aiosqlite:///{data / 'db.sqlite'}", data, config=CONFIG)
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.parametrize("model", ["compat-declared", "compat-probed"])
def test_chat_only_upstreams_serve_responses(compat: GatewayProcess, model: str) -> None:
    key, key_id = compat.create_key(model, quota_usd=1.0)
    sdk = openai.OpenAI(base_url=compat.v1, api_key=key, max_retries=0)
    first = sdk.responses.create(model=model, input="Weather in Paris?", tools=[WEATHER])
    # The gateway wrote this Response (an OpenAI upstream would name its own model).
    assert first.model == model
    (call,) = first.output
    assert call.type == "function_call" and json.loads(call.arguments) == {"city": "Paris"}
    output = [{"type": "function_call_output", "call_id": call.call_id, "output": "mild"}]
    with sdk.responses.stream(
        model=model, previous_response_id=first.id, input=output, tools=[WEATHER]
    ) as events:
        second = events.get_final_response()
    assert second.output_text == "Tool results received: mild"
    records = compat.wait_for_usage(key_id=key_id, count=2)
    assert all(r["status"] == 200 and r["cost"] > 0 for r in records)
    if model == "compat-probed":
        # The 404 was seen once; the channel was sent chat completions from then on.
        assert compat.log.read_text().count("has no responses route") == 1
