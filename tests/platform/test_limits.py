"""Rate limits over real HTTP (one node, in memory): each kind refuses with a 429 in the
client's own wire format, Retry-After and the x-ratelimit-* headers, then recovers."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import httpx
import pytest

from tests.platform.test_accounts import chat, make_key, make_user, unique
from tests.support.kling import TEXT2VIDEO
from tests.support.servers import GatewayProcess


def _wait(answer: httpx.Response) -> None:
    time.sleep(float(answer.headers["retry-after-ms"]) / 1000 + 0.1)


def test_requests_per_minute_in_every_wire_format(gateway: GatewayProcess) -> None:
    user_id = make_user(gateway, balance_usd=5)
    key, _ = make_key(gateway, user_id, limits={"rpm": 20})  # one back every 3 s
    remaining = []
    for _ in range(20):
        answer = chat(gateway, key, max_tokens=5)
        assert answer.status_code == 200
        assert answer.headers["x-ratelimit-limit-requests"] == "20"
        remaining.append(int(answer.headers["x-ratelimit-remaining-requests"]))
    # One request comes back every 3 s: on a slow machine one may have come back meanwhile
    # (a count repeats); spend it, then the key is out.
    assert remaining[0] == 19 and all(b in (a, a - 1) for a, b in itertools.pairwise(remaining))
    while remaining[-1] > 0 and len(remaining) < 30:
        answer = chat(gateway, key, max_tokens=5)
        assert answer.status_code == 200
        remaining.append(int(answer.headers["x-ratelimit-remaining-requests"]))
    assert remaining[-1] == 0
    auth = {"Authorization": f"Bearer {key}"}
    refusals = {
        "openai": chat(gateway, key),
        "anthropic": httpx.post(
            gateway.v1 + "/messages",
            json={
                "model": "gpt-4o-mini",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}],
            },
            headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
        ),
        "gemini": httpx.post(
            gateway.url + "/v1beta/models/gpt-4o-mini:generateContent",
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
            headers={"x-goog-api-key": key},
        ),
        "kling": httpx.post(
            gateway.url + TEXT2VIDEO,
            json={"model_name": "kling-v1", "prompt": "a cat"},
            headers=auth,
        ),
    }
    for surface, answer in refusals.items():
        assert answer.status_code == 429, (surface, answer.text)
        assert 1 <= int(answer.headers["Retry-After"]) <= 3, surface
        assert answer.headers["x-ratelimit-remaining-requests"] == "0", surface
        assert answer.headers["x-ratelimit-limit-requests"] == "20", surface
    assert refusals["openai"].json()["error"]["type"] == "rate_limit_error"
    assert refusals["anthropic"].json()["error"]["type"] == "rate_limit_error"
    assert refusals["gemini"].json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert refusals["kling"].json()["code"] == 1302
    _wait(refusals["kling"])
    assert chat(gateway, key).status_code == 200


def test_tokens_per_minute_estimated_then_settled(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("tpm", limits={"tpm": 600})
    first = chat(gateway, key, max_tokens=550)  # admitted on its estimate (prompt + 550)
    assert first.status_code == 200 and int(first.headers["x-ratelimit-remaining-tokens"]) < 50
    # Settled with what it really used (a few tokens), most of the estimate came back.
    second = chat(gateway, key, max_tokens=400)
    assert second.status_code == 200, second.text
    refused = chat(gateway, key, max_tokens=595)
    assert refused.status_code == 429
    assert refused.headers["x-ratelimit-limit-tokens"] == "600"
    assert "tokens per minute" in refused.json()["error"]["message"]
    _wait(refused)
    assert chat(gateway, key, max_tokens=595).status_code == 200


def test_requests_in_flight(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("concurrency", limits={"concurrency": 1})
    slow: dict[str, Any] = {}

    def long_request() -> None:
        slow["answer"] = chat(gateway, key, max_tokens=5, sandbox_fault={"latency_ms": 1500})

    thread = threading.Thread(target=long_request)
    thread.start()
    time.sleep(0.5)
    refused = chat(gateway, key)
    assert refused.status_code == 429 and "in flight" in refused.json()["error"]["message"]
    assert refused.headers["Retry-After"] == "1"
    thread.join()
    assert slow["answer"].status_code == 200
    for _ in range(3):  # one after another is never refused
        assert chat(gateway, key, max_tokens=5).status_code == 200


def test_daily_spending_cap_then_raised(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("spender", limits={"daily_usd": 0.00001})
    statuses = []
    for _ in range(15):
        answer = chat(gateway, key, max_tokens=1)
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            break
    assert statuses[0] == 200 and statuses[-1] == 429, statuses
    assert answer.json()["error"]["code"] == "daily_spend_limit"
    assert 0 < int(answer.headers["Retry-After"]) <= 86400
    raised = gateway.admin("PATCH", f"/admin/keys/{key_id}", json={"limits": {"daily_usd": 1}})
    assert raised.json()["limits"] == {"daily_usd": 1.0}
    assert chat(gateway, key, max_tokens=1).status_code == 200


@pytest.mark.parametrize("where", ["group", "user"])
def test_account_limits_cover_all_its_keys(gateway: GatewayProcess, where: str) -> None:
    group = unique("limited")
    defaults = {"rpm": 3} if where == "group" else {"rpm": 100}
    gateway.admin("POST", "/admin/groups", json={"name": group, "limits": defaults})
    own = {"limits": {"rpm": 3}} if where == "user" else {}
    user_id = make_user(gateway, balance_usd=1, group=group, **own)
    (one, _), (two, _) = make_key(gateway, user_id), make_key(gateway, user_id)
    assert [chat(gateway, k, max_tokens=2).status_code for k in (one, two, one)] == [200] * 3
    refused = chat(gateway, two)
    assert refused.status_code == 429
    assert "account may make 3 requests per minute" in refused.json()["error"]["message"]


def test_unlimited_keys_carry_no_rate_headers(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("free")
    answer = chat(gateway, key, max_tokens=2)
    assert answer.status_code == 200 and "x-ratelimit-limit-requests" not in answer.headers
