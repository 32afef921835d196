from __future__ import annotations

import random
from collections import Counter

from omnirelay.channels import Channel
from omnirelay.routing import COOLDOWN_SECONDS, FAILURES_BEFORE_COOLDOWN, Router


def _channel(
    id: int, priority: int = 0, weight: int = 1, models: tuple[str, ...] = ("m",)
) -> Channel:
    return Channel(
        id=id,
        name=f"c{id}",
        vendor="openai",
        base_url="http://x",
        secret="s",
        models=frozenset(models),
        model_map={},
        priority=priority,
        weight=weight,
    )


def test_higher_priority_first_then_lower_as_failover() -> None:
    router = Router([_channel(1, priority=0), _channel(2, priority=5)])
    assert [c.id for c in router.candidates("m")] == [2, 1]
    assert router.candidates("unknown") == []


def test_weights_spread_load_within_a_priority() -> None:
    router = Router([_channel(1, weight=1), _channel(2, weight=3)], rng=random.Random(7))
    firsts = Counter(router.candidates("m")[0].id for _ in range(4000))
    assert 0.70 < firsts[2] / 4000 < 0.80


def test_a_failing_channel_cools_down_and_recovers() -> None:
    now = [100.0]
    router = Router([_channel(1, priority=5), _channel(2)], clock=lambda: now[0])
    bad = router.candidates("m")[0]
    for _ in range(FAILURES_BEFORE_COOLDOWN):
        router.report_failure(bad)
    assert [c.id for c in router.candidates("m")] == [2, 1]  # still tried, but last
    assert router.is_cooling(1)
    now[0] += COOLDOWN_SECONDS + 1
    assert [c.id for c in router.candidates("m")] == [1, 2]
    router.report_success(bad)
    assert not router.is_cooling(1)


def test_replace_keeps_health() -> None:
    router = Router([_channel(1, priority=5), _channel(2)])
    for _ in range(FAILURES_BEFORE_COOLDOWN):
        router.report_failure(_channel(1))
    router.replace([_channel(1, priority=5), _channel(2), _channel(3, models=("n",))])
    assert [c.id for c in router.candidates("m")] == [2, 1]
    assert router.models() == {"m", "n"}
