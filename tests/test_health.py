"""Channel health: the rolling window, the circuit, cool-downs, disabling; the relay's helpers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from omnirelay.channels import Channel
from omnirelay.errors import NotFound, UpstreamError
from omnirelay.formats.upstream_errors import retry_after
from omnirelay.health import Breaker, CircuitState, Policy, broken_reason
from omnirelay.relay import RetryPolicy, Timeouts
from omnirelay.routing import Router


def _channel(id: int, priority: int = 0, **fields: object) -> Channel:
    return Channel(
        id=id,
        name=f"c{id}",
        vendor="openai",
        base_url="http://x",
        secret="s",
        models=frozenset({"m", "other"}),
        model_map={},
        priority=priority,
        **fields,  # type: ignore[arg-type]
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_outside_the_window_do_not_open_the_circuit() -> None:
    breaker = Breaker(Policy(failures=3, window=10.0, cooldown=5.0))
    assert not breaker.failure(0.0, "a")
    assert not breaker.failure(6.0, "b")
    assert not breaker.failure(11.0, "c")  # the first one has left the window
    assert breaker.state(11.0) is CircuitState.CLOSED
    assert breaker.failure(12.0, "d")  # three within ten seconds
    assert breaker.state(12.0) is CircuitState.OPEN
    assert breaker.state(17.1) is CircuitState.HALF_OPEN


def test_a_success_between_failures_keeps_the_circuit_closed() -> None:
    breaker = Breaker(Policy(failures=3, window=10.0, cooldown=5.0))
    for t in range(10):  # a busy channel with an error now and then
        assert not breaker.failure(float(t), "stray")
        breaker.success()
    assert breaker.state(10.0) is CircuitState.CLOSED
    assert not breaker.failure(11.0, "a") and not breaker.failure(11.5, "b")
    assert breaker.failure(12.0, "c")


def test_half_open_admits_one_probe_and_its_outcome_decides() -> None:
    clock = Clock()
    policy = Policy(failures=2, window=60.0, cooldown=10.0)
    router = Router([_channel(1)], policy=policy, clock=clock)
    channel = router.candidates("m")[0]
    router.report_failure(channel)
    assert router.report_failure(channel)  # opened
    assert router.candidates("m") == []
    assert router.wait_for("m") == 10.0
    clock.now += 10.0
    assert router.candidates("m") == [channel]
    assert router.acquire(channel)  # the probe
    assert not router.acquire(channel)  # one at a time
    router.report_failure(channel, "probe failed")  # opens again at once, for a full cool-down
    assert router.health(1).state is CircuitState.OPEN
    clock.now += 10.0
    assert router.acquire(channel)
    router.report_success(channel)
    assert router.health(1).state is CircuitState.CLOSED
    assert router.acquire(channel) and router.acquire(channel)
    assert router.health(1).opened == 2


def test_a_probe_that_never_reports_lapses() -> None:
    clock = Clock()
    router = Router([_channel(1)], policy=Policy(failures=1, cooldown=5.0), clock=clock)
    channel = router.candidates("m")[0]
    router.report_failure(channel)
    clock.now += 5.0
    assert router.probes_due(0.0) == [channel]
    assert router.acquire(channel)
    assert router.probes_due(0.0) == []
    clock.now += 5.0
    assert router.acquire(channel)  # the first probe went silent for a cool-down


def test_retry_after_cools_without_counting_a_failure() -> None:
    clock = Clock()
    router = Router([_channel(1), _channel(2)], policy=Policy(failures=1), clock=clock)
    first = router.channel(1)
    assert first is not None
    router.cool(first, 2.5, "HTTP 429")
    assert [c.id for c in router.candidates("m")] == [2]
    assert router.health(1).state is CircuitState.COOLING
    clock.now += 2.5
    assert router.health(1).state is CircuitState.CLOSED  # not a fault: no probe needed
    assert {c.id for c in router.candidates("m")} == {1, 2}


def test_per_channel_policy_overrides_the_settings() -> None:
    clock = Clock()
    router = Router(
        [_channel(1, failure_threshold=1, cooldown=2.0), _channel(2)],
        policy=Policy(failures=5),
        clock=clock,
    )
    one, two = router.channel(1), router.channel(2)
    assert one is not None and two is not None
    assert router.report_failure(one)
    assert not router.report_failure(two)
    assert router.wait_for("m") == 0.0  # channel 2 still serves


def test_a_disabled_channel_is_never_picked_again() -> None:
    clock = Clock()
    seen: list[tuple[int, str, str | None]] = []
    router = Router([_channel(1, priority=5), _channel(2)], clock=clock)
    router.on_disable = lambda c, reason, model: seen.append((c.id, reason, model))
    stale = router.candidates("m")  # a retry loop's list, taken before the disabling
    first = stale[0]
    router.disable(first, "credential rejected")
    assert seen == [(1, "credential rejected", None)]
    assert not router.acquire(first, "m")  # even from the stale list
    assert [c.id for c in router.candidates("m")] == [2]
    assert router.channel(1) is None
    assert router.health(1).state is CircuitState.DISABLED
    # A reload older than the database write keeps it out; after the write, the operator's
    # re-enabling (the channel loaded again) brings it back.
    router.replace([_channel(1, priority=5), _channel(2)], read_at=clock.now)
    assert [c.id for c in router.candidates("m")] == [2]
    router.disable_written(1, None)
    clock.now += 1
    router.replace([_channel(1, priority=5), _channel(2)], read_at=clock.now)
    assert [c.id for c in router.candidates("m")] == [1, 2]


def test_a_model_missing_upstream_disables_only_that_model() -> None:
    router = Router([_channel(1, priority=5), _channel(2)])
    first = router.channel(1)
    assert first is not None
    router.disable(first, "the upstream does not know 'm'", "m")
    assert [c.id for c in router.candidates("m")] == [2]
    assert [c.id for c in router.candidates("other")] == [1, 2]
    assert not router.acquire(first, "m") and router.acquire(first, "other")


def test_broken_signals() -> None:
    credential = UpstreamError("x", code="upstream_auth_failed")
    account = UpstreamError("x", code="upstream_account")
    missing = NotFound("no such model", code="model_not_found")
    found = broken_reason(credential, "m")
    assert found is not None and found.model is None and "credential" in found.reason
    found = broken_reason(account, "m")
    assert found is not None and found.model is None
    found = broken_reason(missing, "m")
    assert found is not None and found.model == "m"
    assert broken_reason(UpstreamError("HTTP 503"), "m") is None
    assert broken_reason(NotFound("no such file"), "m") is None


def test_retry_after_headers() -> None:
    assert retry_after({"Retry-After": "3"}) == 3.0
    assert retry_after({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    assert retry_after({"Retry-After": "-4"}) == 0.0
    assert retry_after({"Retry-After": "99999"}) == 3600.0
    assert retry_after({"Retry-After": "soon"}) is None
    assert retry_after({}) is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    found = retry_after({"Retry-After": later})
    assert found is not None and 25 < found <= 30


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(attempts=5, backoff=0.2, backoff_max=1.0)
    rng = random.Random(1)
    delays = [policy.delay(n, rng) for n in (1, 2, 3, 4)]
    assert 0.1 <= delays[0] <= 0.3 and 0.2 <= delays[1] <= 0.6
    assert all(d <= 1.5 for d in delays)


def test_channel_timeouts_override_the_settings() -> None:
    defaults = Timeouts(connect=5, first_byte=60, idle=30, total=None)
    assert defaults.of(_channel(1)) is defaults
    own = defaults.of(_channel(1, first_byte_timeout=2.0, read_timeout=0.5, total_timeout=9.0))
    assert own == Timeouts(connect=5, first_byte=2.0, idle=0.5, total=9.0)
    assert own.client.sock_read is None and own.client.total == 9.0
