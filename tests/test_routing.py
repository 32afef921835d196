from __future__ import annotations

import random
from collections import Counter

from omnirelay.channels import Channel
from omnirelay.health import Policy
from omnirelay.routing import Router


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


def test_a_failing_channel_opens_and_a_probe_closes_it() -> None:
    now = [100.0]
    policy = Policy(failures=3, window=10.0, cooldown=30.0)
    router = Router([_channel(1, priority=5), _channel(2)], policy=policy, clock=lambda: now[0])
    bad = router.candidates("m")[0]
    for _ in range(policy.failures):
        router.report_failure(bad)
    assert [c.id for c in router.candidates("m")] == [2]  # open: never picked
    assert router.is_cooling(1) and not router.acquire(bad)
    now[0] += policy.cooldown + 1
    assert [c.id for c in router.candidates("m")] == [1, 2]  # half-open: picked again
    router.report_success(bad)
    assert not router.is_cooling(1)


def test_replace_keeps_health() -> None:
    router = Router([_channel(1, priority=5), _channel(2)], policy=Policy(failures=3))
    for _ in range(3):
        router.report_failure(_channel(1))
    router.replace([_channel(1, priority=5), _channel(2), _channel(3, models=("n",))])
    assert [c.id for c in router.candidates("m")] == [2]
    assert router.models() == {"m", "n"}
