"""Prompt caching billed as the vendors bill it, to the micro-dollar, streamed and not: a long
prefix sent twice is a cache write then a cache read (Claude, marked with ``cache_control``),
or cached automatically (OpenAI, Gemini's implicit caching); reasoning is billed as output.

The prices below are the vendors' published price lists (US dollars per million tokens),
written here independently of ``catalogue.toml``: the test proves the catalogue and the
billing agree with them. The expected cost is exact: the sum of tokens times price, rounded up
once to a whole micro-dollar.
"""

from __future__ import annotations

import math
import uuid
from fractions import Fraction
from typing import Any

import pytest

from tests.support.sdk_pool import SDKs, sdk_pool  # noqa: F401 (the sdks fixture)
from tests.support.servers import GatewayProcess

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")


# Published list prices, USD per 1M tokens.
CLAUDE_SONNET_4 = {
    "input": "3",
    "cache_write": "3.75",
    "cache_write_1h": "6",
    "cache_read": "0.30",
    "output": "15",
}
GPT_4O = {"input": "2.50", "cache_read": "1.25", "output": "10"}
O4_MINI = {"input": "1.10", "cache_read": "0.275", "output": "4.40"}
GEMINI_25_FLASH = {"input": "0.30", "cache_read": "0.03", "output": "2.50"}


def vendor_cost(prices: dict[str, str], **tokens: int) -> int:
    """Micro-dollars: tokens times USD per million tokens is micro-dollars, summed exactly."""
    fresh = (
        tokens["prompt"]
        - tokens.get("cache_read", 0)
        - tokens.get("cache_write", 0)
        - tokens.get("cache_write_1h", 0)
    )
    total = Fraction(prices["input"]) * fresh + Fraction(prices["output"]) * tokens["completion"]
    for part in ("cache_read", "cache_write", "cache_write_1h"):
        total += Fraction(prices.get(part, prices["input"])) * tokens.get(part, 0)
    return math.ceil(total)


def _long_text(words: int = 1500) -> str:
    """A long prefix, unique to the test run so no other test shares its cache entries."""
    salt = uuid.uuid4().hex
    return " ".join(f"{salt[i % 32]}word{i}" for i in range(words))


@pytest.fixture
def payer(gateway: GatewayProcess) -> tuple[str, int]:
    return gateway.create_key("cache-payer", quota_usd=20)


def _records(gateway: GatewayProcess, key_id: int, count: int) -> list[dict[str, Any]]:
    return list(reversed(gateway.wait_for_usage(key_id=key_id, count=count)))


@pytest.mark.parametrize("ttl", ["5m", "1h"])
@pytest.mark.parametrize("stream", [False, True], ids=["once", "stream"])
def test_claude_cache_write_then_read(
    sdks: SDKs, gateway: GatewayProcess, payer: tuple[str, int], ttl: str, stream: bool
) -> None:
    key, key_id = payer
    sdk = sdks.anthropic(key)
    control: Any = {"type": "ephemeral", "ttl": ttl}
    system: Any = [{"type": "text", "text": _long_text(), "cache_control": control}]
    messages: Any = [{"role": "user", "content": "Hello Paris"}]
    usages = []
    for _ in range(2):
        if stream:
            with sdk.messages.stream(
                model="claude-sonnet-4-20250514", max_tokens=100, system=system, messages=messages
            ) as events:
                usages.append(events.get_final_message().usage)
        else:
            usages.append(
                sdk.messages.create(
                    model="claude-sonnet-4-20250514",
                    max_tokens=100,
                    system=system,
                    messages=messages,
                ).usage
            )
    write, read = usages
    written = write.cache_creation_input_tokens or 0
    assert written > 1024 and write.cache_read_input_tokens == 0
    assert read.cache_read_input_tokens == written and read.cache_creation_input_tokens == 0
    assert write.cache_creation is not None
    split = (
        write.cache_creation.ephemeral_5m_input_tokens,
        write.cache_creation.ephemeral_1h_input_tokens,
    )
    assert split == ((written, 0) if ttl == "5m" else (0, written))
    part = "cache_write" if ttl == "5m" else "cache_write_1h"
    for usage, record in zip(usages, _records(gateway, key_id, 2), strict=True):
        prompt = (
            usage.input_tokens
            + (usage.cache_creation_input_tokens or 0)
            + (usage.cache_read_input_tokens or 0)
        )
        counts = {
            part: usage.cache_creation_input_tokens or 0,
            "cache_read": usage.cache_read_input_tokens or 0,
        }
        assert (
            record["prompt_tokens"] == prompt and record["completion_tokens"] == usage.output_tokens
        )
        assert record["cache_read_tokens"] == counts["cache_read"]
        assert record[f"{part}_tokens"] == counts[part]
        assert record["cost"] == vendor_cost(
            CLAUDE_SONNET_4, prompt=prompt, completion=usage.output_tokens, **counts
        )
    # The read costs a tenth of fresh input: far less than the write.
    records = _records(gateway, key_id, 2)
    assert records[1]["cost"] * 5 < records[0]["cost"]


@pytest.mark.parametrize(("model", "prices"), [("gpt-4o", GPT_4O), ("o4-mini", O4_MINI)])
@pytest.mark.parametrize("stream", [False, True], ids=["once", "stream"])
def test_openai_automatic_cache(
    sdks: SDKs,
    gateway: GatewayProcess,
    payer: tuple[str, int],
    model: str,
    prices: dict[str, str],
    stream: bool,
) -> None:
    key, key_id = payer
    sdk = sdks.openai(key)
    messages: Any = [
        {"role": "system", "content": _long_text()},
        {"role": "user", "content": "Hello Paris"},
    ]
    usages = []
    for _ in range(2):
        if stream:
            chunks = list(
                sdk.chat.completions.create(
                    model=model,
                    messages=messages,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            )
            usages.append(chunks[-1].usage)
        else:
            usages.append(sdk.chat.completions.create(model=model, messages=messages).usage)
    first, second = usages
    assert first is not None and second is not None
    assert (
        first.prompt_tokens_details is not None and first.prompt_tokens_details.cached_tokens == 0
    )
    assert second.prompt_tokens_details is not None
    cached = second.prompt_tokens_details.cached_tokens or 0
    assert cached >= 1024 and cached % 128 == 0 and cached <= second.prompt_tokens
    for usage, record in zip(usages, _records(gateway, key_id, 2), strict=True):
        assert usage is not None and usage.prompt_tokens_details is not None
        read = usage.prompt_tokens_details.cached_tokens or 0
        reasoning = (
            usage.completion_tokens_details.reasoning_tokens
            if usage.completion_tokens_details
            else 0
        )
        assert record["cache_read_tokens"] == read and record["reasoning_tokens"] == (
            reasoning or 0
        )
        assert record["cost"] == vendor_cost(
            prices, prompt=usage.prompt_tokens, completion=usage.completion_tokens, cache_read=read
        )
    if model == "o4-mini":
        assert _records(gateway, key_id, 2)[0]["reasoning_tokens"] > 0


@pytest.mark.parametrize("stream", [False, True], ids=["once", "stream"])
def test_gemini_implicit_cache_and_thinking(
    sdks: SDKs, gateway: GatewayProcess, payer: tuple[str, int], stream: bool
) -> None:
    key, key_id = payer
    client = sdks.genai(key)
    prompt = _long_text() + " Hello Paris"
    usages = []
    for _ in range(2):
        if stream:
            chunks = list(
                client.models.generate_content_stream(model="gemini-2.5-flash", contents=prompt)
            )
            usages.append(chunks[-1].usage_metadata)
        else:
            usages.append(
                client.models.generate_content(
                    model="gemini-2.5-flash", contents=prompt
                ).usage_metadata
            )
    first, second = usages
    assert first is not None and second is not None
    assert not first.cached_content_token_count and (second.cached_content_token_count or 0) >= 1024
    for usage, record in zip(usages, _records(gateway, key_id, 2), strict=True):
        assert usage is not None and usage.prompt_token_count is not None
        thoughts = usage.thoughts_token_count or 0
        completion = (usage.candidates_token_count or 0) + thoughts
        read = usage.cached_content_token_count or 0
        assert thoughts > 0 and record["reasoning_tokens"] == thoughts
        assert record["completion_tokens"] == completion and record["cache_read_tokens"] == read
        assert record["cost"] == vendor_cost(
            GEMINI_25_FLASH, prompt=usage.prompt_token_count, completion=completion, cache_read=read
        )


def test_a_translated_cache_read_is_billed_at_the_vendors_price(
    sdks: SDKs, gateway: GatewayProcess, payer: tuple[str, int]
) -> None:
    """An Anthropic client on an OpenAI model: OpenAI's cached tokens come back as Claude's
    cache_read_input_tokens, and are billed at OpenAI's cached-input price."""
    key, key_id = payer
    sdk = sdks.anthropic(key)
    system = _long_text()
    usages = [
        sdk.messages.create(
            model="gpt-4o",
            max_tokens=50,
            system=system,
            messages=[{"role": "user", "content": "Hi Oslo"}],
        ).usage
        for _ in range(2)
    ]
    assert (
        usages[0].cache_read_input_tokens == 0 and (usages[1].cache_read_input_tokens or 0) >= 1024
    )
    for usage, record in zip(usages, _records(gateway, key_id, 2), strict=True):
        read = usage.cache_read_input_tokens or 0
        prompt = usage.input_tokens + read
        assert record["prompt_tokens"] == prompt and record["cache_read_tokens"] == read
        assert record["cost"] == vendor_cost(
            GPT_4O, prompt=prompt, completion=usage.output_tokens, cache_read=read
        )
