"""GET /admin/status: version, uptime, the nodes seen, database and Redis health, the poller's
lag and the queues."""

from __future__ import annotations

import time

import httpx
import pytest

from omnirelay import __version__
from tests.support.kling import TEXT2VIDEO, submit, wait_task
from tests.support.redis import RedisServer
from tests.support.servers import GatewayProcess, start_gateway


def test_the_status_page_shows_the_gateway_at_a_glance(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("status", quota_usd=5)
    task_id = submit(gateway, TEXT2VIDEO, key, {"prompt": "a watched harbour"})
    response = gateway.admin("GET", "/admin/status")
    assert response.status_code == 200, response.text
    status = response.json()
    assert status["version"] == __version__
    assert status["uptime_seconds"] > 0
    assert status["database"]["status"] == "ok" and status["database"]["latency_ms"] >= 0
    assert status["redis"] == {"status": "off", "latency_ms": None, "error": None}
    assert status["metrics"] is True and status["tracing"] is False
    assert status["node"] in [node["id"] for node in status["nodes"]]
    queues = status["queues"]
    assert queues["tasks_open"] >= 1 and queues["poller_lag_seconds"] >= 0
    assert any(name.startswith("kling/") for name in queues["tasks_by_state"])
    wait_task(gateway, TEXT2VIDEO, key, task_id)
    # The uptime moves on; a user key may not look.
    time.sleep(0.2)
    assert (
        gateway.admin("GET", "/admin/status").json()["uptime_seconds"] >= status["uptime_seconds"]
    )
    refused = httpx.get(gateway.url + "/admin/status", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 403


def test_the_status_page_reports_redis_when_one_is_configured(
    new_database_url: object, tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> None:
    url = new_database_url("sqlite")  # type: ignore[operator]
    process = start_gateway(
        url,
        tmp_path_factory.mktemp("status-redis"),
        extra_env={"OMNIRELAY_REDIS_URL": redis_server.url},
    )
    try:
        redis = process.admin("GET", "/admin/status").json()["redis"]
        assert redis["status"] == "ok" and redis["latency_ms"] >= 0
    finally:
        process.stop()
