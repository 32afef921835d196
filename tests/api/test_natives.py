"""The official openai, anthropic and google-genai SDKs against a live gateway and the sandbox:
every (client format, vendor) pair, streaming and not, tools, images, system prompts, stop
reasons, usage and billing; mid-stream errors in each client's format."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import openai
import pytest
from google.genai import errors as genai_errors

from tests.api.sdk_clients import IMAGE_URL, PNG, Client, make_client
from tests.support.servers import GatewayProcess

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-3-5-sonnet-20241022",
    "gemini": "gemini-2.0-flash",
}
FORMATS = list(MODELS)
PAIRS = [(c, v) for c in FORMATS for v in FORMATS]
# The prefix each vendor's tool-call ids carry (Gemini has none: the gateway makes them).
ID_PREFIXES = {"openai": "call_", "anthropic": "toolu_", "gemini": "call_"}


@pytest.fixture(scope="module")
def account(gateway: GatewayProcess) -> tuple[str, int]:
    return gateway.create_key("natives", quota_usd=50.0)


def _client(gateway: GatewayProcess, account: tuple[str, int], name: str) -> Client:
    return make_client(name, gateway.url, account[0])


def _usage_of(gateway: GatewayProcess, key_id: int, count: int) -> list[dict[str, Any]]:
    """The newest ``count`` usage records of a key, once the batched writer has stored them."""
    deadline = time.monotonic() + 10
    while True:
        rows = gateway.usage(key_id=key_id, limit=count)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


@pytest.mark.parametrize("stream", [False, True], ids=["once", "stream"])
@pytest.mark.parametrize(("client", "vendor"), PAIRS)
def test_chat_with_system_prompt(
    gateway: GatewayProcess, account: tuple[str, int], client: str, vendor: str, stream: bool
) -> None:
    sdk = _client(gateway, account, client)
    history = [sdk.user("Hello there Paris")]
    reply = sdk.send(MODELS[vendor], history, stream=stream, system="Answer briefly please")
    assert reply.text == "You said: Hello there Paris"
    assert reply.stop == "end" and not reply.calls
    assert reply.output_tokens == 5 and reply.input_tokens > 0
    if not stream:
        # The system prompt reached the vendor: it counts as prompt tokens there.
        bare = sdk.send(MODELS[vendor], history, stream=False)
        assert reply.input_tokens - bare.input_tokens >= 3


@pytest.mark.parametrize("stream", [False, True], ids=["once", "stream"])
@pytest.mark.parametrize(("client", "vendor"), PAIRS)
def test_tool_calls_round_trip_with_ids(
    gateway: GatewayProcess, account: tuple[str, int], client: str, vendor: str, stream: bool
) -> None:
    sdk = _client(gateway, account, client)
    history = [sdk.user("What is the weather in Paris?")]
    first = sdk.send(MODELS[vendor], history, stream=stream, tools=True)
    assert first.stop == "tool"
    assert [(c.name, c.args) for c in first.calls] == [("get_weather", {"city": "Paris"})]
    call_id = first.calls[0].id
    if client != "gemini" or vendor != "gemini":
        assert call_id is not None and call_id.startswith(ID_PREFIXES[vendor])
    # The results go back with the call's id (Anthropic's sandbox rejects unpaired ids).
    history = sdk.answer_tools(history, first, "sunny, 21C")
    second = sdk.send(MODELS[vendor], history, stream=stream, tools=True)
    assert second.text == "Tool results received: sunny, 21C"
    assert second.stop == "end"


@pytest.mark.parametrize("stream", [False, True], ids=["once", "stream"])
@pytest.mark.parametrize(("client", "vendor"), PAIRS)
def test_images_by_base64_and_url(
    gateway: GatewayProcess, account: tuple[str, int], client: str, vendor: str, stream: bool
) -> None:
    sdk = _client(gateway, account, client)
    reply = sdk.send(MODELS[vendor], [sdk.user("Describe these", images=True)], stream=stream)
    assert reply.text == (
        f"I see 2 image(s): an inline image/png of {len(PNG)} bytes, an image at {IMAGE_URL}. "
        "You said: Describe these"
    )


@pytest.mark.parametrize(("client", "vendor"), PAIRS)
def test_output_limit_stops_for_length(
    gateway: GatewayProcess, account: tuple[str, int], client: str, vendor: str
) -> None:
    sdk = _client(gateway, account, client)
    reply = sdk.send(MODELS[vendor], [sdk.user("Hello there Paris")], stream=True, max_tokens=2)
    assert (reply.text, reply.stop) == ("You said:", "length")


def _stream_with_drop(sdk: Client, model: str) -> None:
    # The marker travels in the text, so the sandbox drops the stream whatever the translation.
    sdk.send(model, [sdk.user("Hello [sandbox-fault drop_after=2] Paris")], stream=True)


@pytest.mark.parametrize(("client", "vendor"), PAIRS)
def test_mid_stream_failure_is_the_clients_error_event(
    gateway: GatewayProcess, client: str, vendor: str
) -> None:
    key, key_id = gateway.create_key(f"drop-{client}-{vendor}")
    sdk = make_client(client, gateway.url, key)
    expected: dict[str, type[Exception]] = {
        "openai": openai.APIError,
        "anthropic": anthropic.APIStatusError,
        "gemini": genai_errors.APIError,
    }
    with pytest.raises(expected[client]) as caught:
        _stream_with_drop(sdk, MODELS[vendor])
    assert "interrupted" in str(caught.value)
    (record,) = _usage_of(gateway, key_id, 1)
    assert record["status"] == 502 and record["stream"]


# Catalogue list prices in micro-dollars per million tokens (input, output).
PRICES = {
    "gpt-4o-mini": (150_000, 600_000),
    "claude-3-5-sonnet-20241022": (3_000_000, 15_000_000),
    "gemini-2.0-flash": (100_000, 400_000),
}


def test_billing_matches_reported_usage_on_every_pair(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("billing", quota_usd=5.0)
    sent = []
    for client, vendor in PAIRS:
        sdk = make_client(client, gateway.url, key)
        for stream in (False, True):
            reply = sdk.send(MODELS[vendor], [sdk.user("Bill me Paris")], stream=stream)
            sent.append((MODELS[vendor], stream, reply))
    records = list(reversed(_usage_of(gateway, key_id, len(sent))))
    assert len(records) == len(sent)
    for (model, stream, reply), record in zip(sent, records, strict=True):
        assert (record["status"], record["model"], record["stream"]) == (200, model, stream)
        assert (record["prompt_tokens"], record["completion_tokens"]) == (
            reply.input_tokens,
            reply.output_tokens,
        )
        price_in, price_out = PRICES[model]
        expected = -(-record["prompt_tokens"] * price_in // 1_000_000) + -(
            -record["completion_tokens"] * price_out // 1_000_000
        )
        assert record["cost"] == expected > 0
    info = gateway.key_info(key_id)
    assert info["spent_micro_usd"] == sum(r["cost"] for r in records)


def test_nothing_is_charged_for_a_rejected_request(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("rejected", quota_usd=1.0)
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)
    with pytest.raises(anthropic.BadRequestError):
        sdk.messages.create(
            model=MODELS["gemini"],
            max_tokens=10,
            messages=[
                {"role": "assistant", "content": "no user turn"},
                {"role": "tool", "content": "x"},
            ],  # type: ignore[list-item, misc]
        )
    (record,) = _usage_of(gateway, key_id, 1)
    assert record["cost"] == 0 and record["status"] == 400
    # What the key can spend (the stored quota reads lower while a worker keeps its lease).
    assert gateway.spendable_usd(key) == pytest.approx(1.0, abs=1e-9)
    assert gateway.key_info(key_id)["spent_micro_usd"] == 0
