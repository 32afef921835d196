"""Bad input and upstream faults: each gets the OpenAI error envelope and the right status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.servers import GatewayProcess, start_gateway

# A gateway of its own: small body limit, short upstream timeout, and channels that fail.
FAULT_CONFIG = """
[[models]]
name = "flaky-gpt"
kind = "chat"
family = "custom"
prices = { input = 1.0, output = 2.0 }

[[models]]
name = "down-gpt"
kind = "chat"
family = "custom"
prices = { input = 1.0, output = 2.0 }

[[channels]]
name = "broken-upstream"
vendor = "openai"
base_url = "{sandbox}/v1"
api_key = "sk-fault-503-secret-do-not-leak"
models = ["flaky-gpt"]
model_map = { "flaky-gpt" = "gpt-4o" }
priority = 10

# A channel of its own for down-gpt: the one above opens its circuit during the failover test.
[[channels]]
name = "broken-upstream-down"
vendor = "openai"
base_url = "{sandbox}/v1"
api_key = "sk-fault-503-secret-do-not-leak"
models = ["down-gpt"]
model_map = { "down-gpt" = "gpt-4o" }

[[channels]]
name = "healthy-upstream"
vendor = "openai"
base_url = "{sandbox}/v1"
api_key = "sk-sandbox-demo"
models = ["flaky-gpt"]
model_map = { "flaky-gpt" = "gpt-4o" }
"""


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    data = tmp_path_factory.mktemp("faulty")
    process = start_gateway(
        f"sqlite+aiosqlite:///{data / 'db.sqlite'}",
        data,
        config=FAULT_CONFIG,
        extra_env={"OMNIRELAY_MAX_BODY_BYTES": str(1024 * 1024), "OMNIRELAY_UPSTREAM_TIMEOUT": "1"},
    )
    try:
        yield process
    finally:
        process.stop()


def _post(
    gw: GatewayProcess, key: str | None, body: bytes, path: str = "/v1/chat/completions"
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.post(gw.url + path, content=body, headers=headers, timeout=30)


def _error(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return dict(body["error"])


CASES = [
    # (name, body, status, code-or-type)
    ("malformed json", b'{"model": "gpt-4o", "messages": [', 400, "invalid_request_error"),
    ("empty body", b"", 400, "invalid_request_error"),
    (
        "missing model",
        b'{"messages": [{"role": "user", "content": "x"}]}',
        400,
        "invalid_request_error",
    ),
    ("missing messages", b'{"model": "gpt-4o"}', 400, "invalid_request_error"),
    ("empty messages", b'{"model": "gpt-4o", "messages": []}', 400, "invalid_request_error"),
    (
        "model wrong type",
        b'{"model": 5, "messages": [{"role": "user", "content": "x"}]}',
        400,
        "invalid_request_error",
    ),
    (
        "unknown model",
        b'{"model": "gpt-99", "messages": [{"role": "user", "content": "x"}]}',
        404,
        "model_not_found",
    ),
    (
        "embedding model on chat",
        b'{"model": "text-embedding-3-small", "messages": [{"role": "user", "content": "x"}]}',
        400,
        "model_not_supported",
    ),
]


@pytest.mark.parametrize(("name", "body", "status", "code"), CASES, ids=[c[0] for c in CASES])
def test_bad_requests(
    gateway: GatewayProcess, name: str, body: bytes, status: int, code: str
) -> None:
    key, _ = gateway.create_key("bad-input")
    response = _post(gateway, key, body)
    assert response.status_code == status, response.text
    error = _error(response)
    assert code in (error["type"], error["code"])


def test_auth_errors(gateway: GatewayProcess) -> None:
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}'
    missing = _post(gateway, None, body)
    assert missing.status_code == 401 and _error(missing)["code"] == "missing_api_key"
    wrong = _post(gateway, "sk-or-not-a-real-key", body)
    assert wrong.status_code == 401 and _error(wrong)["code"] == "invalid_api_key"
    with openai.OpenAI(base_url=gateway.v1, api_key="sk-or-nope", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError):
            sdk.models.list()


def test_model_not_allowed_is_403(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("narrow", models=["gpt-4o-mini"])
    with openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0) as sdk:
        with pytest.raises(openai.PermissionDeniedError):
            sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])


def test_unknown_url_is_404_envelope(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("urls")
    response = httpx.get(gateway.v1 + "/nothing/here", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 404
    assert "Invalid URL" in str(_error(response)["message"])


def test_quota_exhausted_is_429_not_retried(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("poor", quota_usd=0.000001)
    response = _post(
        gateway, key, b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}'
    )
    assert response.status_code == 429
    assert response.headers["x-should-retry"] == "false"
    assert _error(response)["code"] == "insufficient_quota"
    with openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=2) as sdk:
        with pytest.raises(openai.RateLimitError):
            sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 1


def test_body_over_limit_is_413(faulty: GatewayProcess) -> None:
    key, _ = faulty.create_key("big")
    body = (
        b'{"model": "flaky-gpt", "messages": [{"role": "user", "content": "'
        + b"x" * 2_000_000
        + b'"}]}'
    )
    response = _post(faulty, key, body)
    assert response.status_code == 413
    assert _error(response)["type"] == "request_too_large"


def test_failover_skips_a_broken_channel(faulty: GatewayProcess) -> None:
    key, _ = faulty.create_key("failover")
    with openai.OpenAI(base_url=faulty.v1, api_key=key, max_retries=0) as sdk:
        for _ in range(5):
            completion = sdk.chat.completions.create(
                model="flaky-gpt", messages=[{"role": "user", "content": "still here"}]
            )
            assert completion.choices[0].message.content == "You said: still here"


def test_upstream_5xx_is_502_and_names_no_secret(faulty: GatewayProcess) -> None:
    key, key_id = faulty.create_key("down", quota_usd=1)
    response = _post(
        faulty, key, b'{"model": "down-gpt", "messages": [{"role": "user", "content": "x"}]}'
    )
    assert response.status_code == 502
    assert "sk-fault" not in response.text and "do-not-leak" not in response.text
    faulty.wait_for_usage(key_id=key_id, count=1)
    assert faulty.key_info(key_id)["quota_remaining_micro_usd"] == 1_000_000
    assert faulty.key_info(key_id)["spent_micro_usd"] == 0


def test_upstream_timeout_is_504(faulty: GatewayProcess) -> None:
    key, key_id = faulty.create_key("slow", quota_usd=1)
    body = b'{"model": "flaky-gpt", "messages": [{"role": "user", "content": "x"}], "sandbox_fault": {"latency_ms": 2500}}'
    response = _post(faulty, key, body)
    assert response.status_code == 504, response.text
    assert _error(response)["type"] == "timeout_error"
    faulty.wait_for_usage(key_id=key_id, count=1)
    assert faulty.key_info(key_id)["spent_micro_usd"] == 0


def test_dropped_stream_raises_in_the_sdk_and_bills_what_arrived(faulty: GatewayProcess) -> None:
    key, key_id = faulty.create_key("dropped", quota_usd=1)
    received = []
    with openai.OpenAI(base_url=faulty.v1, api_key=key, max_retries=0) as sdk:
        stream = sdk.chat.completions.create(
            model="flaky-gpt",
            messages=[{"role": "user", "content": "one two three four five six"}],
            stream=True,
            extra_body={"sandbox_fault": {"drop_after": 3}},
        )
        with pytest.raises(openai.APIError, match="interrupted"):
            for chunk in stream:
                received.append(chunk)
    assert len(received) == 3
    (record,) = faulty.wait_for_usage(key_id=key_id, count=1)
    assert record["status"] == 502
    assert record["completion_tokens"] == 3
    assert record["cost"] > 0


def test_client_disconnect_bills_the_partial_stream(faulty: GatewayProcess, tmp_path: Path) -> None:
    key, key_id = faulty.create_key("leaver", quota_usd=1)
    body = (
        b'{"model": "flaky-gpt", "stream": true, "messages": [{"role": "user", "content": '
        b'"a b c d e f g h i j k l m n o p"}], "sandbox_fault": {"chunk_delay_ms": 200}}'
    )
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with httpx.stream(
        "POST", faulty.v1 + "/chat/completions", content=body, headers=headers
    ) as response:
        lines = response.iter_lines()
        seen = 0
        for line in lines:
            if line.startswith("data: "):
                seen += 1
            if seen == 2:
                break
    (record,) = faulty.wait_for_usage(key_id=key_id, count=1, timeout=15)
    assert record["status"] == 499
    assert 2 <= record["completion_tokens"] < 10
    info = faulty.key_info(key_id)
    assert info["spent_micro_usd"] == record["cost"] > 0
    assert info["quota_remaining_micro_usd"] == 1_000_000 - record["cost"]
