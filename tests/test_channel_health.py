"""Channel health against a live gateway: a rejected credential disables a channel at once (and
says why), a model unknown upstream disables that model on that channel only, a flaky channel
opens its circuit after N failures and is probed when its cool-down ends, and an operator's
re-enabling clears what the gateway disabled."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import surfaces
from tests.support.cluster import until
from tests.support.servers import GatewayProcess, start_gateway

CONFIG = """
[[models]]
name = "health-gpt"
kind = "chat"
family = "custom"
prices = { input = 1.0, output = 2.0 }

[[models]]
name = "ghost-gpt"
kind = "chat"
family = "custom"
prices = { input = 1.0, output = 2.0 }

[[channels]]
name = "bad-credential"
vendor = "openai"
base_url = "{sandbox}/v1"
api_key = "sk-fault-401"
models = ["health-gpt"]
model_map = { "health-gpt" = "gpt-4o-mini" }
priority = 10

[[channels]]
name = "flaky"
vendor = "openai"
base_url = "{sandbox}/v1"
api_key = "sk-fault-503"
models = ["health-gpt"]
model_map = { "health-gpt" = "gpt-4o-mini" }
priority = 5
failure_threshold = 2
cooldown = 1.0

[[channels]]
name = "unknown-model"
vendor = "openai"
base_url = "{sandbox}/v1"
api_key = "sk-sandbox-demo"
models = ["ghost-gpt", "health-gpt"]
model_map = { "ghost-gpt" = "gpt-nonexistent", "health-gpt" = "gpt-4o-mini" }
priority = 3

[[channels]]
name = "good"
vendor = "openai"
base_url = "{sandbox}/v1"
api_key = "sk-sandbox-demo"
models = ["health-gpt", "ghost-gpt"]
model_map = { "health-gpt" = "gpt-4o-mini", "ghost-gpt" = "gpt-4o-mini" }
"""


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    data = tmp_path_factory.mktemp("health")
    gateway = start_gateway(
        f"sqlite+aiosqlite:///{data / 'db.sqlite'}",
        data,
        config=CONFIG,
        extra_env={
            "OMNIRELAY_RELAY_ATTEMPTS": "4",
            "OMNIRELAY_RELAY_BACKOFF_SECONDS": "0.02",
            "OMNIRELAY_CHANNEL_PROBE_SECONDS": "0.2",
        },
    )
    try:
        yield gateway
    finally:
        gateway.stop()


def _channels(gateway: GatewayProcess) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in gateway.admin("GET", "/admin/channels").json()["data"]}


def _health(gateway: GatewayProcess) -> dict[str, dict[str, Any]]:
    found = gateway.admin("GET", "/admin/channels/health").json()["data"]
    return {c["name"]: c for c in found}


def test_broken_channels_are_disabled_and_a_flaky_one_opens_then_is_probed(
    healthy: GatewayProcess,
) -> None:
    key, _ = healthy.create_key("health")
    first = surfaces.chat(healthy, key, "hello", model="health-gpt")
    assert first.status == 200  # bad-credential, then flaky, failed over before the first byte
    channels = _channels(healthy)
    broken = channels["bad-credential"]
    assert not broken["enabled"] and broken["state"] == "disabled"
    assert "credential" in broken["disabled_reason"] and broken["disabled_at"]
    assert _health(healthy)["flaky"]["failures_in_window"] == 1

    assert surfaces.chat(healthy, key, "again", model="health-gpt").status == 200
    flaky = _health(healthy)["flaky"]
    assert flaky["state"] == "open" and flaky["circuit_opened"] == 1
    errors = flaky["errors"]
    # Open: not tried any more (its error count stands still), and the bad credential never.
    for _ in range(3):
        assert surfaces.chat(healthy, key, "still", model="health-gpt").status == 200
    assert _health(healthy)["flaky"]["errors"] == errors
    # The cool-down ends; no request probes it in time, so a synthetic probe does: still 503,
    # so the circuit opens again.
    until(lambda: _health(healthy)["flaky"]["circuit_opened"] == 2, 10, "a failed probe")
    assert _health(healthy)["flaky"]["state"] == "open"

    enabled = healthy.admin("PATCH", f"/admin/channels/{broken['id']}", json={"enabled": True})
    assert enabled.status_code == 200
    assert enabled.json()["disabled_reason"] is None and enabled.json()["enabled"]


def test_a_model_unknown_upstream_is_disabled_on_that_channel_only(
    healthy: GatewayProcess,
) -> None:
    key, _ = healthy.create_key("ghost")
    assert surfaces.chat(healthy, key, "boo", model="ghost-gpt").status == 200  # failed over
    channel = _channels(healthy)["unknown-model"]
    assert channel["enabled"] and "ghost-gpt" in channel["disabled_models"]
    assert "does not know" in channel["disabled_models"]["ghost-gpt"]
    time.sleep(0.5)  # past a reload: the database says so too
    assert "ghost-gpt" in _channels(healthy)["unknown-model"]["disabled_models"]
    # Its other model is still served by it.
    assert surfaces.chat(healthy, key, "hi", model="health-gpt").status == 200
