from __future__ import annotations

import pytest

from omnirelay.billing import Usage, cost_of
from omnirelay.catalogue import ModelInfo, builtin_models
from omnirelay.money import micro_to_usd, per_million, usd_to_micro


@pytest.mark.parametrize(
    ("usd", "micro"), [(0, 0), (1, 1_000_000), (0.000001, 1), ("2.5", 2_500_000), (0.0000005, 1)]
)
def test_usd_to_micro(usd: float | str, micro: int) -> None:
    assert usd_to_micro(usd) == micro


def test_micro_to_usd_is_exact() -> None:
    assert micro_to_usd(1_234_567) == "1.234567"
    assert micro_to_usd(-5) == "-0.000005"


def test_per_million_rounds_up() -> None:
    assert per_million(1, 2_500_000) == 3  # 2.5 micro-dollars → 3
    assert per_million(1_000_000, 2_500_000) == 2_500_000
    assert per_million(0, 10) == 0


def test_cost_of_combines_units() -> None:
    model = ModelInfo(
        name="m",
        kind="chat",
        family="f",
        input_per_mtok=2_500_000,
        output_per_mtok=10_000_000,
        per_request=7,
        per_image=40_000,
        per_second=100,
        per_mchar=15_000_000,
    )
    usage = Usage(prompt_tokens=1000, completion_tokens=500, images=2, seconds=1.5, characters=10)
    assert cost_of(model, usage) == 2500 + 5000 + 80_000 + 150 + 150 + 7


def test_builtin_catalogue_is_complete() -> None:
    names = {m.name: m for m in builtin_models()}
    for required in (
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-3.5-turbo-instruct",
        "text-embedding-3-small",
        "tts-1",
        "whisper-1",
        "dall-e-3",
    ):
        assert required in names
        assert names[required].prices, required


SONNET = ModelInfo(
    name="claude",
    kind="chat",
    family="anthropic",
    input_per_mtok=3_000_000,
    output_per_mtok=15_000_000,
    cache_read_per_mtok=300_000,
    cache_write_per_mtok=3_750_000,
    cache_write_1h_per_mtok=6_000_000,
)


def test_cached_tokens_are_priced_as_the_vendor_prices_them() -> None:
    # 2,000 read at $0.30, 100 written for 5 minutes at $3.75, 200 for an hour at $6, 10 fresh
    # at $3, 40 out at $15: 600 + 375 + 1,200 + 30 + 600 micro-dollars.
    usage = Usage(
        prompt_tokens=2310,
        completion_tokens=40,
        cache_read_tokens=2000,
        cache_write_tokens=100,
        cache_write_1h_tokens=200,
        reasoning_tokens=12,  # part of the output, priced as output
    )
    assert cost_of(SONNET, usage) == 600 + 375 + 1200 + 30 + 600


def test_tokens_are_rounded_up_once_not_per_part() -> None:
    # 1 token read (0.3 µ$) + 1 fresh (3 µ$) + 1 out (15 µ$) = 18.3 µ$ → 19, not 1 + 3 + 15.
    usage = Usage(prompt_tokens=2, completion_tokens=1, cache_read_tokens=1)
    assert cost_of(SONNET, usage) == 19


def test_an_unpriced_cache_is_priced_as_input() -> None:
    plain = ModelInfo(name="m", kind="chat", family="f", input_per_mtok=2_000_000)
    cached = Usage(prompt_tokens=1000, cache_read_tokens=600, cache_write_1h_tokens=100)
    assert cost_of(plain, cached) == cost_of(plain, Usage(prompt_tokens=1000)) == 2000
