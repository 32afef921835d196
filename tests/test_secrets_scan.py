"""No secret in any log line or HTTP body: a gateway with secrets of its own (admin key,
Fernet key, the vendors' keys, users' API keys, webhook signing secrets) serves representative
traffic on every surface — successes, errors, streams, tasks with webhooks, downloads, the
admin API, metrics — at DEBUG level; then every answer's body and headers, every webhook
received, and every line the gateway and its sandbox wrote are searched for each secret.

The only bodies allowed to hold a secret are the two that show one once: a key's creation
(the key and its webhook secret) and a webhook secret's rotation.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import pytest
from cryptography.fernet import Fernet

from tests.support.receiver import Received, webhook_receiver
from tests.support.servers import GatewayProcess, start_gateway


@dataclass
class Seen:
    """Everything that came back over HTTP, with the secrets each item may show."""

    items: list[tuple[str, bytes, frozenset[str]]] = field(default_factory=list)

    def add(self, what: str, data: bytes, allowed: frozenset[str] = frozenset()) -> None:
        self.items.append((what, data, allowed))

    def response(self, response: httpx.Response, allowed: frozenset[str] = frozenset()) -> None:
        response.read()
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items()).encode()
        what = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
        self.add(what, headers + b"\n\n" + response.content, allowed)


@pytest.fixture(scope="module")
def secret_world(
    new_database_url: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayProcess, dict[str, str]]]:
    world = {
        "admin key": "sk-or-admin-" + secrets.token_urlsafe(24),
        "fernet key": Fernet.generate_key().decode(),
        "sandbox key": "sk-sbx-" + secrets.token_urlsafe(24),
        "kling access key": "ak-" + secrets.token_urlsafe(16),
        "kling secret key": "kl-" + secrets.token_urlsafe(32),
    }
    env = {
        "OMNIRELAY_ADMIN_KEY": world["admin key"],
        "OMNIRELAY_SECRET_KEY": world["fernet key"],
        "OMNIRELAY_SANDBOX_KEY": world["sandbox key"],
        "OMNIRELAY_SANDBOX_KLING_ACCESS_KEY": world["kling access key"],
        "OMNIRELAY_SANDBOX_KLING_SECRET_KEY": world["kling secret key"],
        "OMNIRELAY_LOG_LEVEL": "DEBUG",
    }
    url = new_database_url("sqlite")  # type: ignore[operator]
    process = start_gateway(url, tmp_path_factory.mktemp("secrets"), extra_env=env)
    process.admin_key = world["admin key"]
    try:
        yield process, world
    finally:
        process.stop()


def _created_key(gateway: GatewayProcess, seen: Seen, world: dict[str, str], name: str) -> str:
    response = httpx.post(
        gateway.url + "/admin/keys",
        json={"name": name, "quota_usd": 50},
        headers={"Authorization": f"Bearer {world['admin key']}"},
        timeout=30,
    )
    created = response.json()
    key, hook_secret = created["key"], created["webhook_secret"]
    world[f"api key {name}"] = key
    world[f"webhook secret {name}"] = hook_secret
    seen.response(response, allowed=frozenset({key, hook_secret}))
    return str(key)


def _traffic(gateway: GatewayProcess, world: dict[str, str], seen: Seen) -> list[Received]:
    admin = {"Authorization": f"Bearer {world['admin key']}"}
    key = _created_key(gateway, seen, world, "alice")
    other = _created_key(gateway, seen, world, "bob")
    bearer = {"Authorization": f"Bearer {key}"}
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}
    with httpx.Client(
        base_url=gateway.url, timeout=60, event_hooks={"response": [seen.response]}
    ) as http:
        http.post("/v1/chat/completions", json=chat, headers=bearer)
        http.post("/v1/chat/completions", json={**chat, "stream": True}, headers=bearer)
        http.post(
            "/v1/chat/completions",
            json={**chat, "model": "claude-sonnet-4-20250514"},
            headers=bearer,
        )
        http.post(
            "/v1/chat/completions",
            json={**chat, "model": "gemini-2.0-flash", "stream": True},
            headers=bearer,
        )
        http.post("/v1/chat/completions", json={**chat, "model": "nope"}, headers=bearer)
        http.post("/v1/chat/completions", json={"model": 3}, headers=bearer)
        http.post(
            "/v1/chat/completions", json=chat, headers={"Authorization": "Bearer sk-or-wrong"}
        )
        http.post("/v1/chat/completions", json=chat, headers={"Authorization": f"Basic {key}"})
        http.post(
            "/v1/messages",
            json={
                "model": "claude-sonnet-4-20250514",
                "max_tokens": 20,
                "messages": chat["messages"],
            },
            headers={"x-api-key": key},
        )
        http.post(
            "/v1/messages",
            json={
                "model": "gpt-4o-mini",
                "max_tokens": 20,
                "stream": True,
                "messages": chat["messages"],
            },
            headers={"x-api-key": key},
        )
        gemini_body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        http.post(
            "/v1beta/models/gemini-2.0-flash:generateContent",
            json=gemini_body,
            headers={"x-goog-api-key": key},
        )
        http.post(
            f"/v1beta/models/gpt-4o-mini:streamGenerateContent?alt=sse&key={key}", json=gemini_body
        )
        http.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "hi"}, headers=bearer)
        http.post(
            "/v1/responses",
            json={"model": "claude-sonnet-4-20250514", "input": "hi", "stream": True},
            headers=bearer,
        )
        http.post(
            "/v1/embeddings",
            json={"model": "text-embedding-3-small", "input": ["a", "b"]},
            headers=bearer,
        )
        http.post(
            "/v1/images/generations",
            json={"model": "dall-e-3", "prompt": "a fox", "response_format": "b64_json"},
            headers=bearer,
        )
        http.get("/v1/models", headers=bearer)
        http.get("/v1/dashboard/billing/subscription", headers=bearer)
        http.post("/suno/submit/music", json={"gpt_description_prompt": "sea"}, headers=bearer)
        http.post(
            "/kling/v1/videos/text2video",
            json={"prompt": "p", "callback_url": "http://10.0.0.1/x"},
            headers=bearer,
        )
        with webhook_receiver() as receiver:
            made = http.post(
                "/kling/v1/videos/text2video",
                json={"prompt": "a secret harbour", "callback_url": receiver.url},
                headers=bearer,
            )
            mj = http.post(
                "/mj/submit/imagine",
                json={"prompt": "lanterns", "notifyHook": receiver.url},
                headers={"mj-api-secret": other},
            )
            task_id = made.json()["data"]["task_id"]
            mj_id = mj.json()["result"]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                kling = http.get(f"/kling/v1/videos/text2video/{task_id}", headers=bearer).json()
                job = http.get(f"/mj/task/{mj_id}/fetch", headers={"mj-api-secret": other}).json()
                if kling["data"]["task_status"] in ("succeed", "failed") and job["status"] in (
                    "SUCCESS",
                    "FAILURE",
                ):
                    break
                time.sleep(0.3)
            http.get(f"/mj/image/{mj_id}")
            time.sleep(1.0)
            calls = list(receiver.calls)
        for path in (
            "/admin/keys",
            "/admin/channels",
            "/admin/channels/health",
            "/admin/users",
            "/admin/usage",
            "/admin/audit",
            "/admin/status",
            "/metrics",
            "/admin/openapi.json",
        ):
            http.get(path, headers=admin)
        http.get("/admin/keys", headers=bearer)  # a user key on the admin API
        http.post(
            "/admin/channels",
            json={
                "name": "extra",
                "vendor": "openai",
                "base_url": gateway.sandbox_url + "/v1",
                "api_key": world["sandbox key"],
            },
            headers=admin,
        )
        http.post("/admin/channels/1/test", json={}, headers=admin)
        key_id = http.get("/admin/keys", headers=admin).json()["data"][-1]["id"]
    rotated = httpx.post(
        f"{gateway.url}/admin/keys/{key_id}/webhook-secret", headers=admin, timeout=30
    )
    world["webhook secret rotated"] = rotated.json()["webhook_secret"]
    seen.response(rotated, allowed=frozenset({world["webhook secret rotated"]}))
    with openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0) as sdk:
        sdk.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "sdk"}]
        )
    return calls


def _needles(value: str) -> list[bytes]:
    """A secret as it could appear: as is, base64-encoded, or percent-encoded."""
    raw = value.encode()
    return [raw, base64.b64encode(raw), raw.replace(b"=", b"%3D").replace(b"-", b"%2D")]


def test_no_secret_in_any_log_line_or_http_body(
    secret_world: tuple[GatewayProcess, dict[str, str]],
) -> None:
    gateway, world = secret_world
    seen = Seen()
    calls = _traffic(gateway, world, seen)
    assert calls, "the webhooks were delivered"
    for call in calls:
        headers = "\n".join(f"{k}: {v}" for k, v in call.headers.items()).encode()
        seen.add("webhook", headers + b"\n\n" + call.body)
    time.sleep(1.5)  # the last log lines are written by the logging thread
    gateway.stop()
    logs = [p for p in Path(gateway.data_dir).glob("*.log")]
    lines = [line for p in logs for line in p.read_bytes().splitlines()]
    assert len(lines) > 50, "DEBUG logging wrote the traffic down"
    assert any(b'"logger":"omnirelay.access"' in line for line in lines)
    hits: list[str] = []
    for name, value in world.items():
        for needle in _needles(value):
            hits += [f"{name} in log: {line[:200]!r}" for line in lines if needle in line]
            hits += [
                f"{name} in {what}: {data[:200]!r}"
                for what, data, allowed in seen.items
                if needle in data and value not in allowed
            ]
    assert len(seen.items) > 40
    assert hits == [], "\n".join(hits[:20])
