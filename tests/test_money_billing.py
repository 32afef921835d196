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
