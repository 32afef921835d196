"""Users own balances, keys spend them, groups price them: over real HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select

from omnirelay.config import normalize_database_url
from omnirelay.money import per_million
from omnirelay.store import api_keys, open_database, users
from tests.support.servers import ADMIN_KEY, GatewayProcess

GPT4O_MINI = (150_000, 600_000)  # micro-dollars per 1M input / output tokens
_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


def make_user(gateway: GatewayProcess, balance_usd: float | None = 1.0, **fields: Any) -> int:
    body = {"name": unique("user"), "balance_usd": balance_usd, **fields}
    response = gateway.admin("POST", "/admin/users", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def make_key(gateway: GatewayProcess, user_id: int, **fields: Any) -> tuple[str, int]:
    body = {"name": unique("key"), "user_id": user_id, **fields}
    response = gateway.admin("POST", "/admin/keys", json=body)
    assert response.status_code == 201, response.text
    return response.json()["key"], int(response.json()["id"])


def user(gateway: GatewayProcess, user_id: int) -> dict[str, Any]:
    response = gateway.admin("GET", f"/admin/users/{user_id}")
    response.raise_for_status()
    return dict(response.json())


def chat(
    gateway: GatewayProcess, key: str, model: str = "gpt-4o-mini", **extra: Any
) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}], **extra}
    return httpx.post(
        gateway.v1 + "/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def mini_cost(prompt: int, completion: int) -> int:
    return per_million(prompt, GPT4O_MINI[0]) + per_million(completion, GPT4O_MINI[1])


def wait_balance(gateway: GatewayProcess, user_id: int, expected: int) -> dict[str, Any]:
    """Leases go back to the database with the next usage flush."""
    import time

    deadline = time.monotonic() + 10
    while True:
        found = user(gateway, user_id)
        if found["balance_micro_usd"] == expected or time.monotonic() > deadline:
            assert found["balance_micro_usd"] == expected, found
            return found
        time.sleep(0.05)


def test_a_user_with_two_keys_spends_one_balance(gateway: GatewayProcess) -> None:
    user_id = make_user(gateway, balance_usd=1.0)
    (first, first_id), (second, second_id) = make_key(gateway, user_id), make_key(gateway, user_id)
    with openai.OpenAI(base_url=gateway.v1, api_key=first, max_retries=0) as sdk:
        a = sdk.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "a"}]
        )
    with openai.OpenAI(base_url=gateway.v1, api_key=second, max_retries=0) as sdk:
        b = sdk.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "bb"}]
        )
    assert a.usage is not None and b.usage is not None
    spent_a = mini_cost(a.usage.prompt_tokens, a.usage.completion_tokens)
    spent_b = mini_cost(b.usage.prompt_tokens, b.usage.completion_tokens)
    found = wait_balance(gateway, user_id, 1_000_000 - spent_a - spent_b)
    assert found["spent_micro_usd"] == spent_a + spent_b and found["keys"] == 2
    assert gateway.key_info(first_id)["spent_micro_usd"] == spent_a
    assert gateway.key_info(second_id)["spent_micro_usd"] == spent_b
    assert gateway.key_info(second_id)["balance_micro_usd"] == 1_000_000 - spent_a - spent_b
    records = gateway.usage(user_id=user_id)
    assert sorted(r["key_id"] for r in records) == sorted([first_id, second_id])


def test_a_spent_user_is_refused_on_every_key(gateway: GatewayProcess) -> None:
    user_id = make_user(gateway, balance_usd=0.000001)
    key, _ = make_key(gateway, user_id)
    other, _ = make_key(gateway, user_id)
    refused = chat(gateway, key)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "insufficient_quota"
    assert "balance" in refused.json()["error"]["message"]
    assert chat(gateway, other).status_code == 429
    topped = gateway.admin(
        "POST", f"/admin/users/{user_id}/topups", json={"amount_usd": 1, "note": "paid invoice 7"}
    )
    assert topped.status_code == 201
    assert topped.json()["user"]["balance_micro_usd"] == 1_000_001
    assert chat(gateway, other).status_code == 200


def test_group_ratio_is_applied_and_frozen_on_the_record(gateway: GatewayProcess) -> None:
    group = gateway.admin("POST", "/admin/groups", json={"name": unique("vip"), "ratio": 0.8})
    assert group.status_code == 201 and group.json()["ratio"] == 0.8
    user_id = make_user(gateway, balance_usd=1.0, group=group.json()["name"])
    key, key_id = make_key(gateway, user_id)
    first = chat(gateway, key).json()["usage"]
    base = mini_cost(first["prompt_tokens"], first["completion_tokens"])
    (record,) = gateway.wait_for_usage(key_id=key_id, count=1)
    assert record["ratio"] == 0.8 and record["cost"] == -(-base * 8 // 10)
    changed = gateway.admin("PATCH", f"/admin/groups/{group.json()['id']}", json={"ratio": 2.5})
    assert changed.json()["ratio"] == 2.5
    second = chat(gateway, key).json()["usage"]
    base_two = mini_cost(second["prompt_tokens"], second["completion_tokens"])
    newer, older = gateway.wait_for_usage(key_id=key_id, count=2)
    assert older == record  # history keeps the ratio it was charged at
    assert newer["ratio"] == 2.5 and newer["cost"] == -(-base_two * 25 // 10)
    wait_balance(gateway, user_id, 1_000_000 - record["cost"] - newer["cost"])


def test_top_ups_and_the_ledger(gateway: GatewayProcess) -> None:
    user_id = make_user(gateway, balance_usd=2.0)
    path = f"/admin/users/{user_id}/topups"
    assert gateway.admin("POST", path, json={"amount_usd": 3.5, "note": "bank"}).status_code == 201
    taken = gateway.admin("POST", path, json={"amount_usd": -1, "note": "refund"})
    assert taken.json()["entry"]["balance_after_micro_usd"] == 4_500_000
    too_much = gateway.admin("POST", path, json={"amount_usd": -10})
    assert too_much.status_code == 400 and "negative" in too_much.json()["error"]["message"]
    assert gateway.admin("POST", path, json={"amount_usd": 0}).status_code == 400
    ledger = gateway.admin("GET", f"/admin/users/{user_id}/ledger").json()["data"]
    assert [(e["kind"], e["delta_micro_usd"], e["note"]) for e in ledger] == [
        ("topup", -1_000_000, "refund"),
        ("topup", 3_500_000, "bank"),
        ("topup", 2_000_000, "opening balance"),
    ]
    assert all(e["actor"].startswith("admin key") for e in ledger)
    unlimited = make_user(gateway, balance_usd=None)
    refused = gateway.admin("POST", f"/admin/users/{unlimited}/topups", json={"amount_usd": 1})
    assert refused.status_code == 400 and "unlimited" in refused.json()["error"]["message"]
    assert (
        gateway.admin("POST", "/admin/users/999999/topups", json={"amount_usd": 1}).status_code
        == 404
    )


def test_a_key_carries_its_own_limits(gateway: GatewayProcess) -> None:
    user_id = make_user(gateway, balance_usd=10.0)
    capped, _ = make_key(gateway, user_id, quota_usd=0.00001)  # ten micro-dollars of its own
    answers = [chat(gateway, capped, max_tokens=1) for _ in range(12)]
    statuses = [a.status_code for a in answers]
    assert statuses[0] == 200 and 429 in statuses, statuses
    refused = answers[statuses.index(429)].json()["error"]
    assert refused["code"] == "insufficient_quota" and "API key's quota" in refused["message"]
    assert user(gateway, user_id)["balance_micro_usd"] > 9_000_000  # the user still has money

    only_mini, _ = make_key(gateway, user_id, models=["gpt-4o-mini"])
    assert chat(gateway, only_mini, model="gpt-4o").status_code == 403

    elsewhere, _ = make_key(gateway, user_id, allowed_ips=["10.0.0.0/8"])
    denied = chat(gateway, elsewhere)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "ip_not_allowed"
    here, here_id = make_key(gateway, user_id, allowed_ips=["127.0.0.1/32", "::1"])
    assert chat(gateway, here).status_code == 200
    moved = gateway.admin("PATCH", f"/admin/keys/{here_id}", json={"allowed_ips": ["192.0.2.0/24"]})
    assert moved.json()["allowed_ips"] == ["192.0.2.0/24"]
    assert chat(gateway, here).status_code == 403


def test_groups_choose_models_and_channels(gateway: GatewayProcess) -> None:
    name = unique("mini-only")
    group = gateway.admin("POST", "/admin/groups", json={"name": name, "models": ["gpt-4o-mini"]})
    user_id = make_user(gateway, group=name)
    key, _ = make_key(gateway, user_id)
    denied = chat(gateway, key, model="gpt-4o")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "model_not_in_group"
    with openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0) as sdk:
        assert [m.id for m in sdk.models.list()] == ["gpt-4o-mini"]
    # A channel for another group only: this group does not see its model.
    other = unique("elite")
    gateway.admin("POST", "/admin/groups", json={"name": other}).raise_for_status()
    created = gateway.admin(
        "POST",
        "/admin/channels",
        json={
            "name": unique("elite-channel"),
            "base_url": gateway.sandbox_url + "/v1",
            "api_key": "sk-sandbox-demo",
            "models": ["gpt-4o-mini"],
            "groups": [other],
            "priority": 100,
        },
    )
    assert created.status_code == 201 and created.json()["groups"] == [other]
    assert chat(gateway, key).status_code == 200  # served by the channels for every group
    elite_user = make_user(gateway, group=other)
    elite_key, elite_key_id = make_key(gateway, elite_user)
    assert chat(gateway, elite_key).status_code == 200
    (record,) = gateway.wait_for_usage(key_id=elite_key_id, count=1)
    assert record["channel_id"] == created.json()["id"]
    gateway.admin("DELETE", f"/admin/channels/{created.json()['id']}").raise_for_status()
    assert gateway.admin("DELETE", f"/admin/groups/{group.json()['id']}").status_code == 409


def test_dashboard_billing_answers_for_the_keys_user(gateway: GatewayProcess) -> None:
    user_id = make_user(gateway, balance_usd=5.0)
    key, key_id = make_key(gateway, user_id)
    headers = {"Authorization": f"Bearer {key}"}
    assert chat(gateway, key).status_code == 200
    gateway.wait_for_usage(key_id=key_id, count=1)  # spending lands with its record
    spent = user(gateway, user_id)
    for prefix in ("/v1", ""):
        sub = httpx.get(gateway.url + prefix + "/dashboard/billing/subscription", headers=headers)
        assert sub.status_code == 200
        assert sub.json()["object"] == "billing_subscription"
        assert sub.json()["hard_limit_usd"] == pytest.approx(5.0)
        usage = httpx.get(gateway.url + prefix + "/dashboard/billing/usage", headers=headers)
        assert usage.json()["total_usage"] == pytest.approx(spent["spent_micro_usd"] / 10_000)
    ranged = httpx.get(
        gateway.url + "/v1/dashboard/billing/usage",
        params={"start_date": "2020-01-01", "end_date": "2999-01-01"},
        headers=headers,
    ).json()
    assert ranged["total_usage"] == pytest.approx(spent["spent_micro_usd"] / 10_000)
    assert ranged["daily_costs"][0]["line_items"][0]["name"] == "gpt-4o-mini"
    bad = httpx.get(
        gateway.url + "/v1/dashboard/billing/usage", params={"start_date": "soon"}, headers=headers
    )
    assert bad.status_code == 400


def test_keys_without_the_bearer_word(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("bare")
    bare = httpx.get(gateway.v1 + "/models", headers={"Authorization": key})
    assert bare.status_code == 200
    basic = httpx.get(gateway.v1 + "/models", headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401 and "Bearer" in basic.json()["error"]["message"]


def test_the_last_admin_key_cannot_be_taken_away(gateway: GatewayProcess) -> None:
    keys = gateway.admin("GET", "/admin/keys").json()["data"]
    main_id = next(k["id"] for k in keys if k["is_admin"] and k["prefix"] == ADMIN_KEY[:10])
    spare = gateway.admin("POST", "/admin/keys", json={"name": unique("spare"), "is_admin": True})
    assert spare.status_code == 201 and spare.json()["user_id"] is None
    spare_id = spare.json()["id"]
    # Other admin keys may exist (other tests): disable all but the main one.
    for other in gateway.admin("GET", "/admin/keys").json()["data"]:
        if other["is_admin"] and other["enabled"] and other["id"] not in (main_id, spare_id):
            gateway.admin("PATCH", f"/admin/keys/{other['id']}", json={"enabled": False})
    assert (
        gateway.admin("PATCH", f"/admin/keys/{spare_id}", json={"enabled": False}).status_code
        == 200
    )
    for change in ({"enabled": False}, {"is_admin": False, "user_id": make_user(gateway)}):
        refused = gateway.admin("PATCH", f"/admin/keys/{main_id}", json=change)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "last_admin_key"
    assert gateway.admin("DELETE", f"/admin/keys/{main_id}").status_code == 409
    assert gateway.admin("GET", "/admin/keys").status_code == 200  # still in charge


def test_admin_input_is_validated_into_400s(gateway: GatewayProcess) -> None:
    for path in (
        "/admin/usage?limit=abc",
        "/admin/usage?limit=0",
        "/admin/usage?bogus=1",
        "/admin/users?limit=x",
        "/admin/usage?from=yesterday",
        "/admin/usage/aggregates?by=color",
        "/admin/usage?cursor=zz",
        "/admin/groups?limit=5",
    ):
        response = gateway.admin("GET", path)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]["type"] == "invalid_request_error"
    cases = [
        ({"name": "q", "quota_usd": -1}, "negative"),
        ({"name": "m", "models": ["gpt4o"]}, "did you mean 'gpt-4o'"),
        ({"name": "c", "allowed_ips": ["300.1.2.3/8"]}, "not an IP address"),
        ({"name": "l", "limits": {"rpm": 0}}, "positive"),
        ({"name": "u", "colour": "red"}, "unknown field"),
    ]
    for body, words in cases:
        response = gateway.admin("POST", "/admin/keys", json=body)
        assert response.status_code == 400 and words in response.json()["error"]["message"], body
    name = unique("twice")
    assert gateway.admin("POST", "/admin/keys", json={"name": name}).status_code == 201
    again = gateway.admin("POST", "/admin/keys", json={"name": name})
    assert again.status_code == 409 and "already exists" in again.json()["error"]["message"]
    user_id = make_user(gateway)
    make_key(gateway, user_id, name="laptop")
    assert (
        gateway.admin(
            "POST", "/admin/keys", json={"name": "laptop", "user_id": user_id}
        ).status_code
        == 409
    )


def test_group_ratio_applies_to_task_charges(gateway: GatewayProcess) -> None:
    from tests.support.kling import TEXT2VIDEO, wait_task

    name = unique("half")
    gateway.admin("POST", "/admin/groups", json={"name": name, "ratio": 0.5}).raise_for_status()
    user_id = make_user(gateway, balance_usd=1.0, group=name)
    key, _ = make_key(gateway, user_id)
    submitted = httpx.post(
        gateway.url + TEXT2VIDEO,
        json={"model_name": "kling-v1-5", "prompt": "a red kite", "mode": "std", "duration": "5"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert submitted.status_code == 200, submitted.text
    task_id = submitted.json()["data"]["task_id"]
    assert wait_task(gateway, TEXT2VIDEO, key, task_id, seconds=30)["task_status"] == "succeed"
    (record,) = gateway.usage(request_id=task_id)
    assert record["ratio"] == 0.5 and record["cost"] == 140_000  # $0.28 at half price
    wait_balance(gateway, user_id, 1_000_000 - 140_000)



async def _stored(database_url: str, key_id: int, user_id: int) -> tuple[int, int]:
    """A key's quota and its user's balance as the database has them."""
    db = await open_database(normalize_database_url(database_url), migrate=False)
    try:
        async with db.engine.connect() as conn:
            quota = await conn.scalar(
                select(api_keys.c.quota_remaining).where(api_keys.c.id == key_id)
            )
            balance = await conn.scalar(select(users.c.balance).where(users.c.id == user_id))
    finally:
        await db.close()
    return int(quota), int(balance)


def test_admin_views_count_the_leases_workers_hold_as_left(gateway: GatewayProcess) -> None:
    # A worker leases a slice of a balance (one LEASE_FLOOR times larger than the slice) and
    # keeps it for a while after the last request: the admin's views of a key, a user and
    # their lists show what is left, as the account's own view does, not the stored figure.
    user_id = make_user(gateway, balance_usd=200.0)
    key, key_id = make_key(gateway, user_id, quota_usd=100.0)
    answer = chat(gateway, key)
    assert answer.status_code == 200, answer.text
    usage = answer.json()["usage"]
    quota_left = 100_000_000 - mini_cost(usage["prompt_tokens"], usage["completion_tokens"])
    balance_left = 200_000_000 - (100_000_000 - quota_left)
    gateway.wait_for_usage(key_id=key_id, count=1)
    shown = gateway.wait_for_balance(key_id, quota_left)  # once the flush has settled the cost
    stored_quota, stored_balance = asyncio.run(_stored(gateway.database_url, key_id, user_id))
    assert stored_quota < quota_left and stored_balance < balance_left  # a lease is out
    assert shown["balance_micro_usd"] == balance_left
    assert user(gateway, user_id)["balance_micro_usd"] == balance_left
    listed = gateway.admin("GET", "/admin/keys", params={"user_id": user_id}).json()["data"]
    assert [k["quota_remaining_micro_usd"] for k in listed] == [quota_left]
    people = gateway.admin("GET", "/admin/users").json()["data"]
    assert [p["balance_micro_usd"] for p in people if p["id"] == user_id] == [balance_left]
    mine = httpx.get(
        gateway.url + "/api/me", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert mine.json()["balance_micro_usd"] == balance_left
