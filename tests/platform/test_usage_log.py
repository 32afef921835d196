"""The usage log queried: filters and cursor paging, aggregates and CSV checked against the raw
records, retention deleting detail in batches while the aggregates stay."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import openai
import pytest

from omnirelay.config import normalize_database_url
from omnirelay.platform.usage_log import AggregateQuery, aggregates, delete_old_usage
from omnirelay.store import open_database
from omnirelay.usage import LATENCY_BUCKETS_MS, UsageEvent, UsageWriter
from tests.conftest import BACKENDS
from tests.platform.test_accounts import chat
from tests.support.servers import GatewayProcess


def _traffic(gateway: GatewayProcess) -> tuple[int, list[dict[str, Any]]]:
    key, key_id = gateway.create_key("logged")
    for _ in range(3):
        assert chat(gateway, key, max_tokens=3).status_code == 200
    assert chat(gateway, key, model="gpt-4o", max_tokens=3).status_code == 200
    with openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0) as sdk:
        sdk.embeddings.create(model="text-embedding-3-small", input="count me")
        with pytest.raises(openai.BadRequestError):
            sdk.images.generate(model="dall-e-3", prompt="x", size="100x100")
    return key_id, gateway.wait_for_usage(key_id=key_id, count=6)


def _bucket(ms: float) -> tuple[float, float]:
    edges = (0, *LATENCY_BUCKETS_MS, float("inf"))
    for low, high in itertools.pairwise(edges):
        if low <= ms < high:
            return low, high
    raise AssertionError(ms)


def test_filters_and_cursor_paging(gateway: GatewayProcess) -> None:
    key_id, records = _traffic(gateway)
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"key_id": key_id, "limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = gateway.admin("GET", "/admin/usage", params=params).json()
        pages.append(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [4, 2]
    paged = [r for p in pages for r in p]
    assert paged == records and len({r["id"] for r in paged}) == 6
    assert [r["id"] for r in paged] == sorted((r["id"] for r in paged), reverse=True)
    first = records[-1]
    assert set(first) >= {"user_id", "ratio", "first_byte_ms", "latency_ms", "channel_id"}
    by = lambda **q: gateway.usage(key_id=key_id, **q)  # noqa: E731
    assert {r["model"] for r in by(model="gpt-4o")} == {"gpt-4o"}
    assert [r["status"] for r in by(errors="true")] == [400]
    assert len(by(errors="false")) == 5 and len(by(status=200)) == 5
    assert len(by(user_id=first["user_id"])) == 6
    assert by(request_id=first["request_id"]) == [first]
    created = datetime.fromisoformat(first["created_at"])
    assert len(by(**{"from": (created + timedelta(hours=1)).isoformat()})) == 0
    assert len(by(to=(created - timedelta(hours=1)).isoformat())) == 0


def test_aggregates_and_csv_match_the_raw_records(gateway: GatewayProcess) -> None:
    key_id, records = _traffic(gateway)
    expected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    latencies: dict[str, list[int]] = defaultdict(list)
    for record in records:
        row = expected[record["model"]]
        row["requests"] += 1
        row["errors"] += record["status"] >= 400
        row["prompt_tokens"] += record["prompt_tokens"]
        row["completion_tokens"] += record["completion_tokens"]
        row["cost"] += record["cost"]
        latencies[record["model"]].append(record["latency_ms"])
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    for bucket in ("hour", "day"):
        found = gateway.admin(
            "GET",
            "/admin/usage/aggregates",
            params={"key_id": key_id, "by": "model", "bucket": bucket, "from": since},
        ).json()["data"]
        totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for row in found:
            for name in ("requests", "errors", "prompt_tokens", "completion_tokens", "cost"):
                totals[row["group"]][name] += row[name]
            start = datetime.fromisoformat(row["start"])
            assert start.minute == 0 and (bucket == "hour" or start.hour == 0)
        assert totals == expected
    per_model = gateway.admin(
        "GET", "/admin/usage/aggregates", params={"key_id": key_id, "by": "model", "bucket": "day"}
    ).json()["data"]
    for row in per_model:
        ordered = sorted(latencies[row["group"]])
        median = ordered[(len(ordered) - 1) // 2]
        low, high = _bucket(median)
        assert low <= row["latency_p50_ms"] <= high, (row, ordered)
        assert row["latency_p50_ms"] <= row["latency_p95_ms"]

    exported = gateway.admin("GET", "/admin/usage/export.csv", params={"key_id": key_id})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [int(r["id"]) for r in rows] == [r["id"] for r in records]
    assert [int(r["cost"]) for r in rows] == [r["cost"] for r in records]
    assert rows[0]["model"] == records[0]["model"] and rows[0]["ratio"] == "1.0"

    table = gateway.admin(
        "GET", "/admin/usage/aggregates.csv", params={"key_id": key_id, "by": "model"}
    )
    summed = defaultdict(int)
    for row in csv.DictReader(io.StringIO(table.text)):
        summed[row["group"]] += int(row["requests"])
    assert summed == {m: v["requests"] for m, v in expected.items()}
    empty = gateway.admin("GET", "/admin/usage/export.csv", params={"key_id": 999_999})
    assert empty.text.splitlines()[0].startswith("id,request_id")


@pytest.mark.parametrize("backend", BACKENDS)
def test_retention_deletes_detail_in_batches_and_keeps_aggregates(
    backend: str, new_database_url: Any
) -> None:
    url = normalize_database_url(str(new_database_url(backend)))
    old = datetime.now(UTC) - timedelta(days=40)

    async def main() -> None:
        db = await open_database(url, migrate=True)
        try:
            writer = UsageWriter(db, 60)
            for i in range(23):
                writer.record(
                    UsageEvent(
                        request_id=f"old-{i}",
                        key_id=1,
                        model="m",
                        endpoint="chat.completions",
                        status=200,
                        cost=5,
                        latency_ms=30 * i,
                        created_at=old if i < 20 else datetime.now(UTC),
                    )
                )
            await writer.flush()
            assert await delete_old_usage(db, 30, batch=7) == 20
            assert await delete_old_usage(db, 30, batch=7) == 0
            kept = await aggregates(
                db, AggregateQuery(since=old - timedelta(days=1), bucket="day", by="model")
            )
            assert sum(a.requests for a in kept) == 23 and sum(a.cost for a in kept) == 115
        finally:
            await db.close()

    asyncio.run(main())
