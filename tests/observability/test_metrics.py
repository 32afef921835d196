"""/metrics scraped and parsed with prometheus-client's own parser after traffic through two
workers: the counters match the usage records; the endpoint needs an admin key on the main
port and none on its own port."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.kling import TEXT2VIDEO, submit, wait_task
from tests.support.postgres import free_port
from tests.support.servers import GatewayProcess, start_gateway


@pytest.fixture(scope="module")
def metered(
    new_database_url: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayProcess, int]]:
    url = new_database_url("sqlite")  # type: ignore[operator]
    port = free_port()
    process = start_gateway(
        url,
        tmp_path_factory.mktemp("metered"),
        workers=2,
        extra_env={"OMNIRELAY_METRICS_PORT": str(port)},
    )
    try:
        yield process, port
    finally:
        process.stop()


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name].append((dict(sample.labels), sample.value))
    return found


def total(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(
        value
        for got, value in found.get(name, [])
        if all(got.get(k) == v for k, v in labels.items())
    )


def test_counters_match_the_usage_records(metered: tuple[GatewayProcess, int]) -> None:
    gateway, port = metered
    key, key_id = gateway.create_key("metrics", quota_usd=5)
    with openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0) as sdk:
        for n in range(6):
            sdk.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"count {n}"}]
            )
        stream = sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "stream please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        assert list(stream)
        sdk.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
        with pytest.raises(openai.NotFoundError):
            sdk.chat.completions.create(
                model="no-such-model", messages=[{"role": "user", "content": "x"}]
            )
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gateway.v1, api_key="sk-or-wrong", max_retries=0).models.list()
    task_id = submit(gateway, TEXT2VIDEO, key, {"prompt": "a counted harbour"})
    wait_task(gateway, TEXT2VIDEO, key, task_id)
    records = gateway.wait_for_usage(key_id=key_id, count=9)

    def scrape() -> dict[str, list[tuple[dict[str, str], float]]]:
        response = gateway.admin("GET", "/metrics")
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/plain")
        return samples(response.text)

    found = scrape()
    by_model: dict[str, list[dict[str, object]]] = defaultdict(list)
    for record in records:
        by_model[str(record["model"])].append(record)
    for model in ("gpt-4o-mini", "text-embedding-3-small"):
        mine = by_model[model]
        assert total(found, "omnirelay_requests_total", surface="openai", model=model) == len(mine)
        assert total(
            found, "omnirelay_spent_micro_usd_total", surface="openai", model=model
        ) == sum(
            int(r["cost"])
            for r in mine  # type: ignore[call-overload]
        )
        assert total(found, "omnirelay_tokens_total", model=model, kind="prompt") == sum(
            int(r["prompt_tokens"])
            for r in mine  # type: ignore[call-overload]
        )
        assert total(
            found, "omnirelay_request_duration_seconds_count", surface="openai", model=model
        ) == len(mine)
        assert total(
            found, "omnirelay_time_to_first_byte_seconds_count", surface="openai", model=model
        ) == len(mine)
    [task_record] = [r for r in records if r["request_id"] == task_id]
    assert total(found, "omnirelay_tasks_finished_total", vendor="kling", state="succeeded") >= 1
    assert total(found, "omnirelay_spent_micro_usd_total", surface="tasks") >= int(
        task_record["cost"]  # type: ignore[call-overload]
    )
    assert total(found, "omnirelay_requests_total", surface="openai", model="", status="404") >= 1
    assert total(found, "omnirelay_requests_total", surface="openai", model="", status="401") >= 1
    # Sampled and scrape-time figures are there too.
    assert ({"channel": "sandbox-openai", "vendor": "openai"}, 0.0) in found[
        "omnirelay_channel_circuit_open"
    ]
    assert "omnirelay_task_poller_lag_seconds" in found
    assert "omnirelay_usage_writer_lag_seconds" in found
    assert total(found, "omnirelay_db_pool_connections", state="size") > 0
    assert total(found, "omnirelay_build_info") == 1
    # The other worker answers the same figures: they live in files both share.
    again = scrape()
    assert total(again, "omnirelay_requests_total", model="gpt-4o-mini") == len(
        by_model["gpt-4o-mini"]
    )
    # On its own port, without a key.
    open_port = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert open_port.status_code == 200
    assert total(samples(open_port.text), "omnirelay_requests_total", model="gpt-4o-mini") == len(
        by_model["gpt-4o-mini"]
    )


def test_metrics_on_the_main_port_need_an_admin_key(metered: tuple[GatewayProcess, int]) -> None:
    gateway, _ = metered
    assert httpx.get(gateway.url + "/metrics", timeout=10).status_code == 401
    key, _ = gateway.create_key("not-admin")
    user = httpx.get(gateway.url + "/metrics", headers={"Authorization": f"Bearer {key}"})
    assert user.status_code == 403 and user.json()["error"]["code"] == "admin_only"
