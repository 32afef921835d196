"""Quota and usage records, end to end: exact charges, streams, refunds, several workers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import httpx
import openai
import pytest

from omnirelay.money import per_million
from tests.support.servers import GatewayProcess, start_gateway

GPT4O_INPUT, GPT4O_OUTPUT = 2_500_000, 10_000_000  # micro-dollars per 1M tokens


def _cost(prompt: int, completion: int) -> int:
    return per_million(prompt, GPT4O_INPUT) + per_million(completion, GPT4O_OUTPUT)


def test_chat_is_charged_its_real_usage(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("payer", quota_usd=5)
    with openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0) as sdk:
        completion = sdk.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "bill me exactly"}]
        )
    assert completion.usage is not None
    (record,) = gateway.wait_for_usage(key_id=key_id, count=1)
    expected = _cost(completion.usage.prompt_tokens, completion.usage.completion_tokens)
    assert record["cost"] == expected
    assert record["prompt_tokens"] == completion.usage.prompt_tokens
    assert record["status"] == 200 and record["endpoint"] == "chat.completions"
    assert record["channel_id"] is not None and record["model"] == "gpt-4o"
    info = gateway.key_info(key_id)
    assert info["spent_micro_usd"] == expected
    assert info["quota_remaining_micro_usd"] == 5_000_000 - expected


def test_stream_is_charged_like_the_same_request_unstreamed(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("streamer", quota_usd=5)
    messages = [{"role": "user", "content": "stream and count these words"}]
    with openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0) as sdk:
        plain = sdk.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
        list(sdk.chat.completions.create(model="gpt-4o", messages=messages, stream=True))  # type: ignore[arg-type]
    records = gateway.wait_for_usage(key_id=key_id, count=2)
    assert records[0]["stream"] and not records[1]["stream"]
    assert records[0]["cost"] == records[1]["cost"]
    assert plain.usage is not None
    assert records[0]["completion_tokens"] == plain.usage.completion_tokens


def test_a_failed_request_costs_nothing(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("unlucky", quota_usd=1)
    with openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0) as sdk:
        with pytest.raises(openai.BadRequestError):
            sdk.images.generate(model="dall-e-3", prompt="x", size="100x100")
    (record,) = gateway.wait_for_usage(key_id=key_id, count=1)
    assert record["status"] == 400 and record["cost"] == 0
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 1_000_000


def test_units_priced_per_image_character_and_second(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("media", quota_usd=5)
    with openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0) as sdk:
        sdk.images.generate(model="dall-e-2", prompt="x", n=2, size="256x256")
        sdk.audio.speech.create(
            model="tts-1", voice="alloy", input="twelve chars", response_format="wav"
        )
    speech, image = sorted(
        gateway.wait_for_usage(key_id=key_id, count=2), key=lambda r: r["endpoint"]
    )
    assert image["endpoint"] == "images.generations" and image["cost"] == 2 * 20_000
    assert speech["units"] == 12 and speech["cost"] == per_million(12, 15_000_000)


def test_cli_creates_a_working_key(gateway: GatewayProcess) -> None:
    env = {
        "OMNIRELAY_DATABASE_URL": gateway.database_url,
        "OMNIRELAY_DATA_DIR": str(gateway.data_dir),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "omnirelay",
            "keys",
            "create",
            "--name",
            "cli",
            "--quota",
            "2.5",
            "--models",
            "gpt-4o-mini",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, **env},
    )
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("sk-or-")
    with openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0) as sdk:
        assert [m.id for m in sdk.models.list()] == ["gpt-4o-mini"]
    listing = subprocess.run(
        [sys.executable, "-m", "omnirelay", "keys", "list"],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, **env},
    )
    assert "cli" in listing.stdout and "$2.500000" in listing.stdout


@pytest.fixture(scope="module")
def two_workers_on_postgres(
    new_database_url: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    url = new_database_url("postgres")  # type: ignore[operator]
    process = start_gateway(url, tmp_path_factory.mktemp("workers"), workers=2)
    try:
        yield process
    finally:
        process.stop()


def test_concurrent_requests_on_two_workers_never_overspend(
    two_workers_on_postgres: GatewayProcess,
) -> None:
    gw = two_workers_on_postgres
    # Each request holds prompt estimate + 20 output tokens; the quota covers only a few.
    key, key_id = gw.create_key("contended", quota_usd=0.002)
    body = {
        "model": "gpt-4o",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "one two three"}],
    }

    async def fire() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            responses = await asyncio.gather(
                *[
                    client.post(
                        gw.v1 + "/chat/completions",
                        json=body,
                        headers={"Authorization": f"Bearer {key}"},
                    )
                    for _ in range(60)
                ]
            )
        return [r.status_code for r in responses]

    statuses = asyncio.run(fire())
    assert set(statuses) <= {200, 429}
    ok = statuses.count(200)
    assert 0 < ok < 60
    # Rejected requests never reached an upstream; only the admitted ones leave records.
    records = gw.wait_for_usage(key_id=key_id, count=ok)
    charged = sum(r["cost"] for r in records)
    info = gw.key_info(key_id)
    assert info["spent_micro_usd"] == charged
    assert info["quota_remaining_micro_usd"] == 2_000 - charged >= 0
    assert all(r["status"] == 200 for r in records)


def test_whichever_worker_answers_the_balance_counts_every_workers_lease(
    two_workers_on_postgres: GatewayProcess,
) -> None:
    """A lease stays in its worker for a while after the last request; a balance read through
    the other worker still counts it as left: quota + spent is the key's cap every time."""
    gw = two_workers_on_postgres
    key, key_id = gw.create_key("leased", quota_usd=5.0)
    headers = {"Authorization": f"Bearer {key}"}
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(8):  # new connections: both workers answer some, and take leases
        with httpx.Client(timeout=30) as client:
            assert client.post(gw.v1 + "/chat/completions", json=body, headers=headers).is_success
    records = gw.wait_for_usage(key_id=key_id, count=8)
    spent = sum(r["cost"] for r in records)
    assert spent > 0
    for _ in range(8):
        with httpx.Client(timeout=30) as client:
            sub = client.get(gw.v1 + "/dashboard/billing/subscription", headers=headers).json()
            usage = client.get(gw.v1 + "/dashboard/billing/usage", headers=headers).json()
        assert sub["hard_limit_usd"] == pytest.approx(5.0, abs=1e-9)
        assert usage["total_usage"] == pytest.approx(spent / 10_000)
