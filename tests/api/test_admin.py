"""The admin API: keys, channels, models and usage, admin keys only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import openai
import pytest

from tests.support.servers import GatewayProcess


def test_admin_endpoints_need_an_admin_key(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("plain")
    response = httpx.get(gateway.url + "/admin/keys", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "admin_only"
    assert httpx.get(gateway.url + "/admin/keys").status_code == 401


def test_disable_enable_and_top_up_a_key(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("toggled", quota_usd=0.000001)
    headers = {"Authorization": f"Bearer {key}"}
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}
    assert (
        httpx.post(gateway.v1 + "/chat/completions", json=body, headers=headers).status_code == 429
    )
    updated = gateway.admin("PATCH", f"/admin/keys/{key_id}", json={"add_quota_usd": 1})
    assert updated.json()["quota_remaining_micro_usd"] == 1_000_001
    assert (
        httpx.post(gateway.v1 + "/chat/completions", json=body, headers=headers).status_code == 200
    )
    gateway.admin("PATCH", f"/admin/keys/{key_id}", json={"enabled": False}).raise_for_status()
    # This process's cache is invalidated at once; other workers re-read within the cache TTL.
    denied = httpx.post(gateway.v1 + "/chat/completions", json=body, headers=headers)
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "api_key_disabled"


def test_expired_key(gateway: GatewayProcess) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    refused = gateway.admin("POST", "/admin/keys", json={"name": "old", "expires_at": past})
    assert refused.status_code == 400 and "past" in refused.json()["error"]["message"]
    key, key_id = gateway.create_key("old")
    gateway.admin("PATCH", f"/admin/keys/{key_id}", json={"expires_at": past}).raise_for_status()
    with openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError, match="expired"):
            sdk.models.list()


def test_channels_and_prices(gateway: GatewayProcess) -> None:
    created = gateway.admin(
        "POST",
        "/admin/channels",
        json={
            "name": "extra-" + gateway.database_url[-6:],
            "base_url": gateway.sandbox_url + "/v1",
            "api_key": "sk-sandbox-demo",
            "models": ["gpt-4.1"],
            "priority": -5,
        },
    )
    assert created.status_code == 201
    channels = gateway.admin("GET", "/admin/channels").json()["data"]
    extra = next(c for c in channels if c["name"].startswith("extra-"))
    assert extra["models"] == ["gpt-4.1"] and "api_key" not in extra and "secret_enc" not in extra
    bad = gateway.admin(
        "POST", "/admin/channels", json={"name": "x", "base_url": "ftp://x", "api_key": "k"}
    )
    assert bad.status_code == 400
    unknown = gateway.admin(
        "POST",
        "/admin/channels",
        json={"name": "x", "base_url": "http://x", "api_key": "k", "vendor": "nope"},
    )
    assert unknown.status_code == 400 and "unknown vendor" in unknown.json()["error"]["message"]

    priced = gateway.admin(
        "PUT", "/admin/models/gpt-4.1-mini/prices", json={"prices": {"input": 1, "output": 3}}
    )
    assert priced.json()["prices_micro_usd"]["input"] == 1_000_000
    assert (
        gateway.admin("PUT", "/admin/models/nope/prices", json={"prices": {"input": 1}}).status_code
        == 404
    )
    assert (
        gateway.admin(
            "PUT", "/admin/models/gpt-4.1-mini/prices", json={"prices": {"bogus": 1}}
        ).status_code
        == 400
    )

    gateway.admin("POST", f"/admin/channels/{extra['name']}/disable").raise_for_status()
    assert not next(
        c
        for c in gateway.admin("GET", "/admin/channels").json()["data"]
        if c["name"] == extra["name"]
    )["enabled"]


def test_usage_times_are_utc(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("times")
    with openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0) as sdk:
        sdk.embeddings.create(model="text-embedding-3-small", input="x")
    (record,) = gateway.wait_for_usage(key_id=key_id, count=1)
    assert datetime.fromisoformat(record["created_at"]).tzinfo is not None


def test_a_known_admin_path_with_the_wrong_method_is_405_with_allow(
    gateway: GatewayProcess,
) -> None:
    wrong = gateway.admin("PATCH", "/admin/keys")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    assert {"GET", "POST"} <= {m.strip() for m in wrong.headers["Allow"].split(",")}
    one = gateway.admin("PUT", "/admin/keys/123")
    assert one.status_code == 405 and "PATCH" in one.headers["Allow"]
    unknown = gateway.admin("PATCH", "/admin/no-such-thing")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
