"""Channels, models and prices managed over the admin API; the OpenAPI document; the audit log."""

from __future__ import annotations

from typing import Any

import httpx

from tests.platform.test_accounts import chat, unique
from tests.support.kling import TEXT2VIDEO
from tests.support.servers import GatewayProcess


def test_channel_crud_test_and_health(gateway: GatewayProcess) -> None:
    name = unique("crud")
    body: dict[str, Any] = {
        "name": name,
        "base_url": gateway.sandbox_url + "/v1/",
        "api_key": "sk-sandbox-demo",
        "models": ["gpt-4.1-mini"],
        "priority": -10,
        "weight": 3,
        "read_timeout": 12.5,
    }
    created = gateway.admin("POST", "/admin/channels", json=body)
    assert created.status_code == 201, created.text
    channel = created.json()
    assert channel["base_url"] == gateway.sandbox_url + "/v1" and channel["read_timeout"] == 12.5
    assert "api_key" not in channel and "secret" not in created.text
    assert gateway.admin("POST", "/admin/channels", json=body).status_code == 409
    one = f"/admin/channels/{channel['id']}"

    tested = gateway.admin("POST", one + "/test", json={})
    assert tested.status_code == 200, tested.text
    result = tested.json()
    assert result["ok"] and result["model"] == "gpt-4.1-mini" and result["http_status"] == 200
    assert result["answer"] and result["latency_ms"] >= 0
    assert gateway.admin("GET", one).json()["last_test"]["status"] == "ok"

    broken = gateway.admin("PATCH", one, json={"api_key": "sk-wrong", "weight": 1})
    assert broken.status_code == 200 and broken.json()["weight"] == 1
    failed = gateway.admin("POST", one + "/test", json={"model": "gpt-4.1-mini"}).json()
    assert not failed["ok"] and failed["http_status"] in (401, 502) and failed["error"]
    assert gateway.admin("GET", one).json()["last_test"]["status"] == "error"
    not_served = gateway.admin("POST", one + "/test", json={"model": "gpt-4o"})
    assert not_served.status_code == 400

    health = gateway.admin("GET", "/admin/channels/health").json()["data"]
    mine = next(h for h in health if h["id"] == channel["id"])
    assert set(mine) >= {"failures_in_a_row", "cooling_down_seconds", "recent_errors"}

    bad = [
        {"vendor": "nope"},
        {"base_url": "ftp://x"},
        {"models": ["gpt4.1"]},
        {"groups": ["no-such-group"]},
        {"read_timeout": -1},
        {"weight": 0},
    ]
    for change in bad:
        assert gateway.admin("PATCH", one, json=change).status_code == 400, change
    assert gateway.admin("DELETE", one).status_code == 204
    assert gateway.admin("GET", one).status_code == 404
    assert gateway.admin("DELETE", one).status_code == 404


def test_a_task_vendor_channel_test_costs_nothing(gateway: GatewayProcess) -> None:
    channels = gateway.admin("GET", "/admin/channels").json()["data"]
    kling = next(c for c in channels if c["vendor"] == "kling")
    result = gateway.admin("POST", f"/admin/channels/{kling['id']}/test", json={}).json()
    assert result["ok"] and "credentials accepted" in result["answer"]


def test_models_and_prices_including_task_prices(gateway: GatewayProcess) -> None:
    models = {m["name"]: m for m in gateway.admin("GET", "/admin/models").json()["data"]}
    kling = models["kling-v1"]
    assert kling["kind"] == "task" and kling["routable"]
    prices = {(p["product"], p["mode"], p["duration"]): p for p in kling["task_prices"]}
    assert prices[("video", "std", "5")]["price_micro_usd"] == 140_000

    name = unique("house-model")
    created = gateway.admin(
        "POST",
        "/admin/models",
        json={"name": name, "kind": "chat", "family": "openai", "prices": {"input": 1.25}},
    )
    assert created.status_code == 201
    assert created.json()["prices_micro_usd"]["input"] == 1_250_000
    changed = gateway.admin("PATCH", f"/admin/models/{name}", json={"prices": {"output": 2}})
    assert changed.json()["prices_micro_usd"] == {
        **created.json()["prices_micro_usd"],
        "output": 2_000_000,
    }
    assert gateway.admin("PATCH", f"/admin/models/{name}", json={"kind": "blob"}).status_code == 400
    assert gateway.admin("DELETE", f"/admin/models/{name}").status_code == 204

    # A task price edited over the API is the price a task is charged.
    entry = prices[("video", "std", "10")]
    updated = gateway.admin("PATCH", f"/admin/task-prices/{entry['id']}", json={"usd": 0.3})
    assert updated.json()["price_micro_usd"] == 300_000
    key, key_id = gateway.create_key("tasker", quota_usd=5)
    submitted = httpx.post(
        gateway.url + TEXT2VIDEO,
        json={"model_name": "kling-v1", "prompt": "a lighthouse", "mode": "std", "duration": "10"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert submitted.status_code == 200, submitted.text
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 4_700_000  # held
    extra = gateway.admin(
        "POST",
        "/admin/task-prices",
        json={"model": "kling-v1", "product": "image", "usd": 0.01},
    )
    assert extra.status_code in (201, 409)
    assert (
        gateway.admin(
            "POST", "/admin/task-prices", json={"model": "nope", "product": "video", "usd": 1}
        ).status_code
        == 400
    )
    gateway.admin(
        "PATCH", f"/admin/task-prices/{entry['id']}", json={"usd": 0.28}
    ).raise_for_status()


def test_openapi_covers_every_admin_route(gateway: GatewayProcess) -> None:
    from omnirelay.api.admin import ROUTES
    from omnirelay.api.admin.openapi import _path

    document = httpx.get(gateway.url + "/admin/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    for route in ROUTES:
        path, _ = _path(route.path)
        operation = document["paths"][path][route.method.lower()]
        assert operation["summary"] and "4XX" in operation["responses"]
        if route.body is not None:
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[-1] in document["components"]["schemas"]
    usage = document["paths"]["/admin/usage"]["get"]
    names = {p["name"] for p in usage["parameters"]}
    assert {"from", "to", "user_id", "key_id", "model", "limit", "cursor"} <= names
    limit = next(p for p in usage["parameters"] if p["name"] == "limit")
    assert limit["schema"]["type"] == "integer"
    key_create = document["components"]["schemas"]["KeyCreate"]
    assert key_create["required"] == ["name"]
    assert "/api/redeem" in document["paths"]


def test_every_mutating_call_is_audited(gateway: GatewayProcess) -> None:
    name = unique("audited")
    gateway.admin(
        "POST",
        "/admin/channels",
        json={"name": name, "base_url": "http://127.0.0.1:9", "api_key": "sk-very-secret"},
    ).raise_for_status()
    gateway.admin("POST", "/admin/keys", json={"name": "q", "quota_usd": -1})  # refused
    entries = gateway.admin("GET", "/admin/audit", params={"limit": 5}).json()["data"]
    refused, created = entries[0], entries[1]
    assert refused["status"] == 400 and refused["path"] == "/admin/keys"
    assert created["method"] == "POST" and created["status"] == 201
    assert created["body"]["name"] == name and created["body"]["api_key"] == "***"
    assert "sk-very-secret" not in gateway.admin("GET", "/admin/audit").text
    assert created["actor"] == "admin" and created["ip"] == "127.0.0.1"
    channel = next(
        c for c in gateway.admin("GET", "/admin/channels").json()["data"] if c["name"] == name
    )
    gateway.admin("DELETE", f"/admin/channels/{channel['id']}").raise_for_status()
    # Reads are not audited.
    latest = gateway.admin("GET", "/admin/audit", params={"limit": 1}).json()["data"][0]
    assert latest["method"] == "DELETE"
    assert chat(gateway, gateway.create_key("after-audit")[0]).status_code == 200
