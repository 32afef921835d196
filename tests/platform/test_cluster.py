"""Two ``omnirelay serve`` nodes on one PostgreSQL and one Redis: limits hold across them,
changes reach the other node within a second, and losing Redis degrades without stopping.

Both nodes keep their caches for a minute (``OMNIRELAY_CACHE_TTL_SECONDS=60``), so whatever the
other node sees within a second came through Redis, not through a cache expiring.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.platform.test_accounts import chat, make_key, make_user
from tests.support.redis import RedisServer
from tests.support.servers import GatewayProcess, start_gateway

Nodes = tuple[GatewayProcess, GatewayProcess]


@pytest.fixture
def nodes(
    new_database_url: Callable[[str], str], redis_server: RedisServer, tmp_path: Path
) -> Iterator[Nodes]:
    url = new_database_url("postgres")
    env = {"OMNIRELAY_REDIS_URL": redis_server.url, "OMNIRELAY_CACHE_TTL_SECONDS": "60"}
    # One data directory: one secret key for the channels both nodes read.
    first = start_gateway(url, tmp_path / "data", extra_env=env)
    try:
        second = start_gateway(url, tmp_path / "data", extra_env=env)
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


def until(check: Callable[[], bool], seconds: float) -> float:
    """Seconds until ``check`` holds; fails after ``seconds``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, "not within the time allowed"
        time.sleep(0.02)
    return time.monotonic() - started


def health(node: GatewayProcess) -> dict[str, str]:
    return dict(httpx.get(node.url + "/healthz", timeout=5).json())


def test_limits_hold_across_nodes(nodes: Nodes) -> None:
    a, b = nodes
    assert health(a) == {"status": "ok", "redis": "ok", "limits": "redis"}
    user_id = make_user(a, balance_usd=5, limits={"rpm": 6})
    key, _ = make_key(a, user_id)
    statuses = [chat(node, key, max_tokens=2).status_code for node in (a, b) * 3]
    assert statuses == [200] * 6
    for node in (a, b):
        refused = chat(node, key)
        assert refused.status_code == 429
        assert refused.headers["x-ratelimit-remaining-requests"] == "0"


def test_a_revoked_key_is_refused_by_the_other_node_within_a_second(nodes: Nodes) -> None:
    a, b = nodes
    user_id = make_user(a, balance_usd=5)
    key, key_id = make_key(a, user_id)
    assert chat(b, key).status_code == 200  # b has it cached now, for a minute
    a.admin("PATCH", f"/admin/keys/{key_id}", json={"enabled": False}).raise_for_status()
    until(lambda: chat(b, key).status_code == 401, seconds=1.0)
    # Re-limited on one node: the other applies the new limit as fast.
    a.admin("PATCH", f"/admin/keys/{key_id}", json={"enabled": True}).raise_for_status()
    until(lambda: chat(b, key).status_code == 200, seconds=1.0)
    a.admin("PATCH", f"/admin/keys/{key_id}", json={"limits": {"rpm": 1}}).raise_for_status()
    until(lambda: "x-ratelimit-limit-requests" in chat(b, key).headers, seconds=1.0)


def test_catalogue_changes_reach_the_other_node_within_a_second(nodes: Nodes) -> None:
    a, b = nodes
    a.admin("PUT", "/admin/models/gpt-4.1/prices", json={"prices": {"input": 7}}).raise_for_status()

    def seen() -> bool:
        models = b.admin("GET", "/admin/models").json()["data"]
        return (
            next(m for m in models if m["name"] == "gpt-4.1")["prices_micro_usd"]["input"]
            == 7_000_000
        )

    until(seen, seconds=1.0)


def test_redis_lost_mid_test_then_back(nodes: Nodes, redis_server: RedisServer) -> None:
    a, b = nodes
    user_id = make_user(a, balance_usd=5, limits={"rpm": 600})
    key, key_id = make_key(a, user_id)
    assert chat(a, key).status_code == 200
    redis_server.stop()
    # Both keep serving, with per-node limits, and say so.
    for node in (a, b):
        assert chat(node, key, max_tokens=2).status_code == 200
        assert chat(node, key, max_tokens=2).headers["x-ratelimit-limit-requests"] == "600"
        assert health(node) == {"status": "degraded", "redis": "degraded", "limits": "degraded"}
        assert "is unreachable" in node.log.read_text()
    redis_server.start()
    for node in (a, b):
        until(lambda node=node: health(node)["redis"] == "ok", seconds=10)  # type: ignore[misc]
        assert "is back" in node.log.read_text()
    # Invalidations flow again once reconnected.
    a.admin("PATCH", f"/admin/keys/{key_id}", json={"enabled": False}).raise_for_status()
    until(lambda: chat(b, key).status_code == 401, seconds=1.0)
