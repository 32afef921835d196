"""What the console stands on, over real HTTP on both backends: sessions (cookie, CSRF,
sign-out, revocation), a user's own data under /api/me bound to them by the server, the
dashboard's figures against the raw records, every task with its files, the vendors' forms."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.servers import GatewayProcess
from tests.support.tasks import wait_task

COOKIE = "omnirelay_session"


@pytest.fixture
def login(gateway: GatewayProcess) -> Iterator[Callable[[str], tuple[httpx.Client, str]]]:
    """Sign a new client in with a key: (the client, holding the cookie; the CSRF token)."""
    clients: list[httpx.Client] = []

    def sign_in(key: str) -> tuple[httpx.Client, str]:
        client = httpx.Client(base_url=gateway.url, timeout=30)
        clients.append(client)
        response = client.post("/console/api/login", json={"key": key})
        assert response.status_code == 200, response.text
        return client, response.json()["csrf_token"]

    yield sign_in
    for client in clients:
        client.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def new_user(
    gateway: GatewayProcess, balance: float = 1.0, group: str = "default"
) -> tuple[int, str, int]:
    name = f"u-{uuid.uuid4().hex[:8]}"
    user = gateway.admin(
        "POST", "/admin/users", json={"name": name, "balance_usd": balance, "group": group}
    )
    assert user.status_code == 201, user.text
    created = gateway.admin(
        "POST", "/admin/keys", json={"name": "k", "user_id": user.json()["id"]}
    ).json()
    return user.json()["id"], created["key"], created["id"]


def chat(gateway: GatewayProcess, key: str, text: str = "hi") -> None:
    response = httpx.post(gateway.v1 + "/chat/completions", headers=bearer(key), timeout=30,
                          json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})  # fmt: skip
    response.raise_for_status()


def test_a_session_is_an_httponly_strict_cookie_and_changes_need_its_csrf_token(
    gateway: GatewayProcess, login: Any
) -> None:
    anonymous = httpx.get(gateway.url + "/console/api/session")
    assert anonymous.status_code == 204
    response = httpx.post(gateway.url + "/console/api/login", json={"key": gateway.admin_key})
    cookie = response.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert gateway.admin_key not in cookie
    assert response.headers["Cache-Control"] == "no-store"
    info = response.json()
    assert info["who"]["is_admin"] and info["who"]["user_id"] is None

    client, csrf = login(gateway.admin_key)
    assert client.get("/console/api/session").json()["csrf_token"] == csrf
    assert client.get("/admin/keys").status_code == 200
    name = f"g-{uuid.uuid4().hex[:6]}"
    refused = client.post("/admin/groups", json={"name": name})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    wrong = client.post("/admin/groups", json={"name": name}, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    elsewhere = client.post("/admin/groups", json={"name": name},
                            headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"})  # fmt: skip
    assert elsewhere.status_code == 403
    made = client.post("/admin/groups", json={"name": name},
                       headers={"X-CSRF-Token": csrf, "Origin": gateway.url})  # fmt: skip
    assert made.status_code == 201, made.text
    # The relay endpoints take the session too (the playground), with the same rule.
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    assert client.post("/v1/chat/completions", json=body).status_code == 403
    assert (
        client.post("/v1/chat/completions", json=body, headers={"X-CSRF-Token": csrf}).status_code
        == 200
    )

    # A key in the header wins over the cookie: a user key gets no admin rights from it.
    _, user_key, _ = new_user(gateway)
    assert client.get("/admin/keys", headers=bearer(user_key)).status_code == 403

    token = client.cookies[COOKIE]
    assert client.post("/console/api/logout").status_code == 403  # no CSRF token
    out = client.post("/console/api/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204 and COOKIE in out.headers["set-cookie"]
    assert httpx.get(gateway.url + "/admin/keys", cookies={COOKIE: token}).status_code == 401
    # Another browser's session lives on.
    other = httpx.get(gateway.url + "/admin/keys", cookies={COOKIE: response.cookies[COOKIE]})
    assert other.status_code == 200


def test_signing_in_takes_a_valid_key_as_json(gateway: GatewayProcess) -> None:
    bad = httpx.post(gateway.url + "/console/api/login", json={"key": "sk-or-nope"})
    assert bad.status_code == 401 and "invalid API key" in bad.json()["error"]["message"]
    form = httpx.post(gateway.url + "/console/api/login", data={"key": gateway.admin_key})
    assert form.status_code == 400
    assert httpx.post(gateway.url + "/console/api/login", json={"key": " "}).status_code == 400


def test_revoking_a_key_ends_its_sessions(gateway: GatewayProcess, login: Any) -> None:
    _, key, key_id = new_user(gateway)
    client, _ = login(key)
    assert client.get("/api/me").status_code == 200
    gateway.admin("PATCH", f"/admin/keys/{key_id}", json={"enabled": False}).raise_for_status()
    deadline = time.monotonic() + 10
    while client.get("/api/me").status_code != 401:
        assert time.monotonic() < deadline, "the revoked key's session still works"
        time.sleep(0.2)


def test_a_user_sees_only_their_own_data(gateway: GatewayProcess) -> None:
    user_id, key, key_id = new_user(gateway, balance=2)
    other_id, other_key, other_key_id = new_user(gateway)
    chat(gateway, key, "mine")
    chat(gateway, other_key, "theirs")
    gateway.wait_for_usage(key_id=key_id, count=1)
    gateway.wait_for_usage(key_id=other_key_id, count=1)
    me = httpx.get(gateway.url + "/api/me", headers=bearer(key)).json()
    assert me["user_id"] == user_id and me["key"]["id"] == key_id
    assert 0 < me["balance_micro_usd"] <= 2_000_000

    usage = httpx.get(gateway.url + "/api/me/usage", headers=bearer(key)).json()["data"]
    assert [r["user_id"] for r in usage] == [user_id]
    assert (
        httpx.get(
            gateway.url + f"/api/me/usage?user_id={other_id}", headers=bearer(key)
        ).status_code
        == 403
    )
    # Another user's key as a filter selects nothing of theirs.
    foreign = httpx.get(gateway.url + f"/api/me/usage?key_id={other_key_id}", headers=bearer(key))
    assert foreign.json()["data"] == []

    keys = httpx.get(gateway.url + "/api/me/keys", headers=bearer(key)).json()["data"]
    assert [k["id"] for k in keys] == [key_id]
    made = httpx.post(
        gateway.url + "/api/me/keys", headers=bearer(key), json={"name": "second", "quota_usd": 0.5}
    )
    assert made.status_code == 201 and made.json()["user_id"] == user_id
    assert httpx.post(gateway.url + "/api/me/keys", headers=bearer(key),
                      json={"name": "x", "user_id": other_id}).status_code == 400  # fmt: skip
    mine = httpx.patch(
        gateway.url + f"/api/me/keys/{key_id}", headers=bearer(key), json={"enabled": False}
    )
    assert mine.status_code == 409  # the key it is asked with
    theirs = httpx.patch(
        gateway.url + f"/api/me/keys/{other_key_id}", headers=bearer(key), json={"enabled": False}
    )
    assert theirs.status_code == 404
    second = made.json()["id"]
    off = httpx.patch(
        gateway.url + f"/api/me/keys/{second}", headers=bearer(key), json={"enabled": False}
    )
    assert off.status_code == 200 and off.json()["enabled"] is False

    ledger = httpx.get(gateway.url + "/api/me/ledger", headers=bearer(key)).json()["data"]
    assert [e["kind"] for e in ledger] == ["topup"] and ledger[0]["user_id"] == user_id
    admin_only = httpx.get(gateway.url + "/api/me", headers=bearer(gateway.admin_key))
    assert admin_only.status_code == 403 and admin_only.json()["error"]["code"] == "user_only"
    for path in ("/admin/keys", "/admin/usage", "/admin/overview", "/admin/tasks"):
        assert httpx.get(gateway.url + path, headers=bearer(key)).status_code == 403


def test_models_come_at_the_groups_prices(gateway: GatewayProcess) -> None:
    group = f"half-{uuid.uuid4().hex[:6]}"
    gateway.admin("POST", "/admin/groups", json={"name": group, "ratio": 0.5}).raise_for_status()
    _, key, _ = new_user(gateway, group=group)
    listing = httpx.get(gateway.url + "/api/me/models", headers=bearer(key)).json()
    assert listing["ratio"] == 0.5
    mine = {m["name"]: m for m in listing["data"]}
    full = {m["name"]: m for m in gateway.admin("GET", "/admin/models").json()["data"]}
    for name in ("gpt-4o-mini", "kling-v1-6"):
        for price, value in full[name]["prices_micro_usd"].items():
            assert mine[name]["prices_micro_usd"][price] == -(-value // 2)  # rounded up
    assert [p["price_micro_usd"] for p in mine["kling-v1-6"]["task_prices"]] == [
        -(-p["price_micro_usd"] // 2) for p in full["kling-v1-6"]["task_prices"]
    ]


def test_the_overview_adds_up_to_the_records(gateway: GatewayProcess) -> None:
    user_id, key, key_id = new_user(gateway, balance=5)
    for text in ("one", "two", "three"):
        chat(gateway, key, text)
    gateway.wait_for_usage(key_id=key_id, count=3)
    for span in ("hour", "day"):
        data = gateway.admin("GET", f"/admin/overview?range={span}").json()
        usage = data["usage"]
        assert usage["totals"]["requests"] == sum(p["requests"] for p in usage["series"])
        assert usage["totals"]["cost"] == sum(p["cost"] for p in usage["series"])
        assert usage["totals"]["requests"] >= 3
        assert len(usage["series"]) == (12 if span == "hour" else 24)
    week = gateway.admin("GET", "/admin/overview?range=week").json()["usage"]
    assert len(week["series"]) == 168 and week["bucket_seconds"] == 3600
    assert gateway.admin("GET", "/admin/overview?range=year").status_code == 400

    mine = httpx.get(gateway.url + "/api/me/overview?range=hour", headers=bearer(key)).json()
    own = [r for r in gateway.usage(user_id=user_id)]
    assert mine["totals"]["requests"] == len(own) == 3
    assert mine["totals"]["cost"] == sum(r["cost"] for r in own)
    assert mine["top_models"][0]["name"] == "gpt-4o-mini"
    users = gateway.admin("GET", "/admin/overview?range=hour").json()["top_users"]
    assert 1 <= len(users) <= 5
    assert [u["cost"] for u in users] == sorted((u["cost"] for u in users), reverse=True)


def test_every_task_is_listed_with_its_files(gateway: GatewayProcess) -> None:
    user_id, key, _ = new_user(gateway, balance=5)
    _, other_key, _ = new_user(gateway, balance=1)
    video = httpx.post(gateway.url + "/kling/v1/videos/text2video", headers=bearer(key), timeout=30,
                       json={"model_name": "kling-v1", "prompt": "waves", "duration": "5"}).json()["data"]["task_id"]  # fmt: skip
    song = httpx.post(gateway.url + "/suno/submit/music", headers=bearer(key), timeout=30,
                      json={"gpt_description_prompt": "a sea shanty"}).json()["data"]  # fmt: skip
    in_flight = httpx.get(
        gateway.url + "/api/me/tasks?status=in_flight", headers=bearer(key)
    ).json()["data"]
    assert {t["id"] for t in in_flight} <= {video, song}
    finished = wait_task(gateway, video)
    assert finished["status"] == "succeeded" and finished["media"][0]["kind"] == "video"
    assert (
        finished["prompt"] == "waves"
        and finished["charged_micro_usd"] == finished["price_micro_usd"]
    )
    clip = wait_task(gateway, song)["media"][0]
    assert clip["kind"] == "audio" and clip["poster"] and clip["title"]

    mp4 = gateway.admin("GET", finished["media"][0]["url"])
    assert (
        mp4.status_code == 200
        and mp4.headers["content-type"] == "video/mp4"
        and len(mp4.content) > 1000
    )
    own = httpx.get(gateway.url + f"/api/me/tasks/{song}", headers=bearer(key)).json()
    mp3 = httpx.get(gateway.url + own["media"][0]["url"], headers=bearer(key), timeout=30)
    assert (
        own["media"][0]["url"].startswith("/api/me/tasks/")
        and mp3.headers["content-type"] == "audio/mpeg"
    )
    for path in (f"/api/me/tasks/{song}", own["media"][0]["url"]):
        assert httpx.get(gateway.url + path, headers=bearer(other_key)).status_code == 404
    assert (
        httpx.get(gateway.url + f"/api/me/tasks/{song}/files/9", headers=bearer(key)).status_code
        == 404
    )

    listed = httpx.get(gateway.url + "/api/me/tasks", headers=bearer(key)).json()["data"]
    assert [t["id"] for t in listed] == [song, video] and {t["user_id"] for t in listed} == {
        user_id
    }
    kling = gateway.admin("GET", "/admin/tasks?vendor=kling&limit=200").json()["data"]
    assert video in {t["id"] for t in kling} and {t["vendor"] for t in kling} == {"kling"}
    first = gateway.admin("GET", f"/admin/tasks?user_id={user_id}&limit=1").json()
    second = gateway.admin(
        "GET", f"/admin/tasks?user_id={user_id}&limit=1&cursor={first['next_cursor']}"
    ).json()
    assert [first["data"][0]["id"], second["data"][0]["id"]] == [song, video]
    assert second["next_cursor"] is None
    assert gateway.admin("GET", "/admin/tasks?cursor=abc").status_code == 400
    assert gateway.admin("GET", "/admin/tasks?status=done").status_code == 400


def test_the_vendors_say_what_their_channels_need(gateway: GatewayProcess) -> None:
    forms = {v["name"]: v for v in gateway.admin("GET", "/admin/vendors").json()["data"]}
    assert {
        "openai",
        "openai-chat",
        "anthropic",
        "gemini",
        "kling",
        "midjourney",
        "suno",
        "ideogram",
        "bfl",
    } <= set(forms)
    assert [p["name"] for p in forms["kling"]["secret"]] == ["access_key", "secret_key"]
    assert forms["kling"]["joiner"] == ":" and forms["kling"]["tasks"]
    assert forms["openai"]["base_url"].endswith("/v1") and "chat" in forms["openai"]["operations"]
    assert "claude-sonnet-4-6" in forms["anthropic"]["models"]


@pytest.mark.parametrize("path", ["/console/", "/console/js/app.js", "/console/console.css"])
def test_console_files_carry_a_strict_policy(gateway: GatewayProcess, path: str) -> None:
    response = httpx.get(gateway.url + path)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "style-src 'self'" in policy and "unsafe" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_openapi_document_covers_what_the_console_uses(gateway: GatewayProcess) -> None:
    paths = gateway.admin("GET", "/admin/openapi.json").json()["paths"]
    for path in ("/admin/overview", "/admin/tasks", "/admin/tasks/{task_id}", "/admin/tasks/{task_id}/files/{n}",
                 "/admin/vendors", "/api/me", "/api/me/usage", "/api/me/overview", "/api/me/keys",
                 "/api/me/tasks", "/api/me/ledger", "/api/me/models", "/console/api/login"):  # fmt: skip
        assert path in paths, path
    assert "range" in {p["name"] for p in paths["/admin/overview"]["get"]["parameters"]}
