"""The fault matrix: every fault a gateway meets, on every surface, checked row by row.

Each row says, for one surface and one fault (driven by the sandbox's fault markers, see
``sandbox/faults.py`` and ``sandbox/outages.py``): what the client receives (HTTP status and the
error as its own format names it, or the event that ended its stream), what was charged, and
what the usage record says. It runs on SQLite (one node, restarted when a row kills it) and on
PostgreSQL (two nodes and a Redis; a killed node's holds are given back by the other one); the
PostgreSQL run is ``make reliability``'s, to keep ``make test`` short.

Charges: ``NOTHING`` (the key is back where it was), ``FULL`` (what the answer costs, once),
``PARTIAL`` (a stream billed for what it delivered before it broke), or an exact task price.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import surfaces
from tests.support.cluster import Cluster, until
from tests.support.postgres import free_port
from tests.support.redis import RedisServer, start_redis
from tests.support.servers import GatewayProcess, start_sandbox
from tests.support.surfaces import Seen
from tests.support.tcp_proxy import TcpProxy, tcp_proxy

NOTHING, FULL, PARTIAL = "nothing", "full", "partial"
QUOTA = 5_000_000
# Task prices (catalogue.toml), micro-dollars.
KLING, KLING_V16_VIDEO, MJ, MJ_TURBO, SUNO, SUNO_AUK, FLUX, FLUX_MAX = (
    3_500,
    280_000,
    50_000,
    100_000,
    100_000,
    150_000,
    25_000,
    80_000,
)


@dataclass(frozen=True)
class Row:
    surface: str
    fault: str
    trigger: str  # sandbox-fault settings, or @action for what a marker cannot do
    status: int  # what the client gets
    client: str | None  # its error / the stream's error event / how its task ended
    charge: str | int
    record: tuple[int, str] | None  # the usage record's status and a piece of its error


# fmt: off
ROWS = (
    # surface      fault                           trigger                          status  client (error / event / task)        charge        usage record
    Row("chat",    "upstream timeout",             "latency_ms=1600",               504, "timeout_error/upstream_timeout",      NOTHING,      (504, "timed out")),
    Row("chat",    "upstream 5xx",                 "status=500",                    502, "upstream_error/upstream_error",       NOTHING,      (502, "HTTP 500")),
    Row("chat",    "upstream 5xx once (retried)",  "status=500 times=1",            200, None,                                  FULL,         (200, "")),
    Row("chat",    "429 without Retry-After",      "status=429",                    429, "rate_limit_error/upstream_rate_limited", NOTHING,   (429, "rate limiting")),
    Row("chat",    "429 with Retry-After",         "status=429 retry_after=1",      429, "rate_limit_error/upstream_rate_limited", NOTHING,   (429, "rate limiting")),
    Row("chat",    "connection refused",           "@refused",                      502, "upstream_error/upstream_error",       NOTHING,      (502, "could not be reached")),
    Row("chat",    "connection refused, failover", "@failover",                     200, None,                                  FULL,         (200, "")),
    Row("chat",    "malformed upstream JSON",      "malformed=1",                   502, "upstream_error/upstream_malformed",   NOTHING,      (502, "malformed")),
    Row("chat",    "database unreachable 2.5 s",   "@database",                     200, None,                                  FULL,         (200, "")),
    Row("chat",    "Redis gone",                   "@redis",                        200, None,                                  FULL,         (200, "")),
    Row("stream",  "upstream timeout (first byte)", "latency_ms=1600",              504, "timeout_error/upstream_timeout",      NOTHING,      (504, "timed out")),
    Row("stream",  "upstream 5xx",                 "status=503",                    502, "upstream_error/upstream_error",       NOTHING,      (502, "HTTP 503")),
    Row("stream",  "429 with Retry-After",         "status=429 retry_after=1",      429, "rate_limit_error/upstream_rate_limited", NOTHING,   (429, "rate limiting")),
    Row("stream",  "stream cut after 3 chunks",    "drop_after=3",                  200, "event:upstream_error",                PARTIAL,      (502, "broke")),
    Row("stream",  "stream goes idle",             "idle_after=3",                  200, "event:upstream_error",                PARTIAL,      (502, "went idle")),
    Row("stream",  "malformed event",              "malformed_after=2",             200, "event:upstream_malformed",            PARTIAL,      (502, "malformed")),
    Row("stream",  "node SIGKILLed mid-stream",    "@sigkill",                      200, "broken",                              NOTHING,      None),
    Row("embed",   "upstream timeout",             "latency_ms=1600",               504, "timeout_error/upstream_timeout",      NOTHING,      (504, "timed out")),
    Row("embed",   "upstream 5xx",                 "status=502",                    502, "upstream_error/upstream_error",       NOTHING,      (502, "HTTP 502")),
    Row("embed",   "upstream 5xx once (retried)",  "status=502 times=1",            200, None,                                  FULL,         (200, "")),
    Row("embed",   "429 without Retry-After",      "status=429",                    429, "rate_limit_error/upstream_rate_limited", NOTHING,   (429, "rate limiting")),
    Row("embed",   "429 with Retry-After",         "status=429 retry_after=1",      429, "rate_limit_error/upstream_rate_limited", NOTHING,   (429, "rate limiting")),
    Row("embed",   "connection refused",           "@refused",                      502, "upstream_error/upstream_error",       NOTHING,      (502, "could not be reached")),
    Row("embed",   "malformed upstream JSON",      "malformed=1",                   502, "upstream_error/upstream_malformed",   NOTHING,      (502, "malformed")),
    Row("image",   "upstream timeout",             "latency_ms=1600",               504, "timeout_error/upstream_timeout",      NOTHING,      (504, "timed out")),
    Row("image",   "upstream 5xx",                 "status=500",                    502, "upstream_error/upstream_error",       NOTHING,      (502, "HTTP 500")),
    Row("image",   "upstream 5xx once (retried)",  "status=500 times=1",            200, None,                                  20_000,       (200, "")),
    Row("image",   "429 without Retry-After",      "status=429",                    429, "rate_limit_error/upstream_rate_limited", NOTHING,   (429, "rate limiting")),
    Row("image",   "429 with Retry-After",         "status=429 retry_after=1",      429, "rate_limit_error/upstream_rate_limited", NOTHING,   (429, "rate limiting")),
    Row("image",   "connection refused",           "@refused",                      502, "upstream_error/upstream_error",       NOTHING,      (502, "could not be reached")),
    Row("image",   "malformed upstream JSON",      "malformed=1",                   502, "upstream_error/upstream_malformed",   NOTHING,      (502, "malformed")),
    Row("kling",   "upstream timeout",             "latency_ms=1600",               504, "kling:5002",                          NOTHING,      (504, "did not answer in time")),
    Row("kling",   "upstream 5xx",                 "status=500",                    500, "kling:5000",                          NOTHING,      (502, "HTTP 500")),
    Row("kling",   "upstream 5xx once (failover)", "status=500 times=1",            200, "task:succeed",                        KLING,        (200, "")),
    Row("kling",   "429 without Retry-After",      "status=429",                    429, "kling:1302",                          NOTHING,      (429, "rate limiting")),
    Row("kling",   "429 with Retry-After",         "status=429 retry_after=1",      429, "kling:1302",                          NOTHING,      (429, "rate limiting")),
    Row("kling",   "connection refused, failover", "@failover",                     200, "task:succeed",                        KLING_V16_VIDEO, (200, "")),
    Row("kling",   "malformed upstream JSON",      "malformed=1",                   500, "kling:5000",                          NOTHING,      (502, "code -1")),
    Row("kling",   "vendor down while polled",     "@down",                         200, "task:succeed",                        KLING,        (200, "")),
    Row("kling",   "node SIGKILLed mid-task",      "@sigkill-task",                 200, "task:succeed",                        KLING,        (200, "")),
    Row("mj",      "upstream timeout",             "latency_ms=1600",               200, "mj:9",                                NOTHING,      (504, "did not answer in time")),
    Row("mj",      "upstream 5xx",                 "status=500",                    200, "mj:9",                                NOTHING,      (502, "HTTP 500")),
    Row("mj",      "upstream 5xx once (failover)", "status=500 times=1",            200, "task:SUCCESS",                        MJ,           (200, "")),
    Row("mj",      "429 without Retry-After",      "status=429",                    200, "mj:23",                               NOTHING,      (429, "queue is full")),
    Row("mj",      "429 with Retry-After",         "status=429 retry_after=1",      200, "mj:23",                               NOTHING,      (429, "queue is full")),
    Row("mj",      "connection refused, failover", "@failover",                     200, "task:SUCCESS",                        MJ_TURBO,     (200, "")),
    Row("mj",      "malformed upstream JSON",      "malformed=1",                   200, "mj:9",                                NOTHING,      (502, "code -1")),
    Row("mj",      "vendor down while polled",     "@down",                         200, "task:SUCCESS",                        MJ,           (200, "")),
    Row("suno",    "upstream timeout",             "latency_ms=1600",               504, "suno:upstream_timeout",               NOTHING,      (504, "did not answer in time")),
    Row("suno",    "upstream 5xx",                 "status=500",                    502, "suno:upstream_error",                 NOTHING,      (502, "HTTP 500")),
    Row("suno",    "upstream 5xx once (failover)", "status=500 times=1",            200, "task:SUCCESS",                        SUNO,         (200, "")),
    Row("suno",    "429 without Retry-After",      "status=429",                    429, "suno:rate_limit_exceeded",            NOTHING,      (429, "rate limiting")),
    Row("suno",    "429 with Retry-After",         "status=429 retry_after=1",      429, "suno:rate_limit_exceeded",            NOTHING,      (429, "rate limiting")),
    Row("suno",    "connection refused, failover", "@failover",                     200, "task:SUCCESS",                        SUNO_AUK,     (200, "")),
    Row("suno",    "malformed upstream JSON",      "malformed=1",                   502, "suno:upstream_error",                 NOTHING,      (502, "sandbox-malformed")),
    Row("suno",    "vendor down while polled",     "@down",                         200, "task:SUCCESS",                        SUNO,         (200, "")),
    Row("flux",    "upstream timeout",             "latency_ms=1600",               504, "timeout_error/upstream_timeout",      NOTHING,      (504, "did not answer in time")),
    Row("flux",    "upstream 5xx",                 "status=500",                    502, "upstream_error/upstream_error",       NOTHING,      (502, "HTTP 500")),
    Row("flux",    "upstream 5xx once (failover)", "status=500 times=1",            200, "task:succeed",                        FLUX,         (200, "")),
    Row("flux",    "429 without Retry-After",      "status=429",                    429, "rate_limit_error/rate_limit_exceeded", NOTHING,     (429, "rate limiting")),
    Row("flux",    "429 with Retry-After",         "status=429 retry_after=1",      429, "rate_limit_error/rate_limit_exceeded", NOTHING,     (429, "rate limiting")),
    Row("flux",    "connection refused, failover", "@failover",                     200, "task:succeed",                        FLUX_MAX,     (200, "")),
    Row("flux",    "malformed upstream JSON",      "malformed=1",                   502, "upstream_error/upstream_error",       NOTHING,      (502, "no id")),
    Row("flux",    "vendor down while polled",     "@down",                         200, "task:succeed",                        FLUX,         (200, "")),
)
# fmt: on

# The models a dead channel (connection refused) serves, alone or before a healthy one.
CONFIG = """
[[models]]
name = "refused-gpt"
kind = "chat"
family = "custom"
prices = { input = 1.0, output = 2.0 }

[[models]]
name = "failover-gpt"
kind = "chat"
family = "custom"
prices = { input = 1.0, output = 2.0 }

[[models]]
name = "refused-embedding"
kind = "embedding"
family = "custom"
prices = { input = 0.02 }

[[models]]
name = "refused-image"
kind = "image"
family = "custom"
prices = { per_image = 0.02 }

[[channels]]
name = "dead-openai"
vendor = "openai"
base_url = "http://127.0.0.1:{dead}/v1"
api_key = "sk-dead"
models = ["refused-gpt", "failover-gpt", "refused-embedding", "refused-image"]
model_map = { "refused-gpt" = "gpt-4o-mini", "failover-gpt" = "gpt-4o-mini", "refused-embedding" = "text-embedding-3-small", "refused-image" = "dall-e-2" }
priority = 10

[[channels]]
name = "failover-openai"
vendor = "openai"
base_url = "{sandbox}/v1"
api_key = "sk-sandbox-demo"
models = ["failover-gpt"]
model_map = { "failover-gpt" = "gpt-4o-mini" }
""" + "".join(
    f"""
[[channels]]
name = "dead-{vendor}"
vendor = "{vendor}"
base_url = "http://127.0.0.1:{{dead}}{path}"
api_key = "{dead_key}"
models = ["{model}"]
priority = 10

[[channels]]
name = "backup-{vendor}"
vendor = "{vendor}"
base_url = "{{sandbox}}{path}"
api_key = "{key}"
priority = -1
"""
    for vendor, path, model, key, dead_key in (
        (
            "kling",
            "/kling",
            "kling-v1-6",
            "ak-sandbox-kling:sk-sandbox-kling-secret-0123456789abcdef",
            "ak-dead:sk-dead",
        ),
        ("midjourney", "", "midjourney-turbo", "sk-sandbox-demo", "sk-dead"),
        ("suno", "", "chirp-auk", "sk-sandbox-demo", "sk-dead"),
        ("bfl", "/bfl", "flux-kontext-max", "sk-sandbox-demo", "sk-dead"),
    )
)

ENV = {
    # Short timeouts so a timed-out upstream costs a row little.
    "OMNIRELAY_UPSTREAM_TIMEOUT": "1.0",
    "OMNIRELAY_UPSTREAM_IDLE_TIMEOUT": "0.7",
    "OMNIRELAY_RELAY_BACKOFF_SECONDS": "0.05",
    # Every row on its own: no circuit opens here (test_channel_health.py tests that).
    "OMNIRELAY_CHANNEL_FAILURES": "100000",
    "OMNIRELAY_NODE_HEARTBEAT_SECONDS": "0.3",
    "OMNIRELAY_NODE_DEAD_SECONDS": "1.5",
    "OMNIRELAY_TASK_LEASE_SECONDS": "2",
    "OMNIRELAY_SHUTDOWN_GRACE_SECONDS": "3",
}


@dataclass
class Matrix:
    backend: str
    cluster: Cluster
    proxy: TcpProxy | None = None
    redis: RedisServer | None = None
    sqlite_path: Path | None = None


# PostgreSQL's two nodes take as long again: ``make reliability`` runs them, ``make test`` not.
@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.reliability)]
)
def matrix(
    request: pytest.FixtureRequest,
    new_database_url: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Matrix]:
    backend = request.param
    data = tmp_path_factory.mktemp(f"matrix-{backend}")
    sandbox = start_sandbox(data / "sandbox")
    config = CONFIG.replace("{dead}", str(free_port()))
    try:
        if backend == "sqlite":
            path = data / "matrix.db"
            cluster = Cluster(f"sqlite+aiosqlite:///{path}", data / "node", sandbox, ENV, config)
            yield Matrix(backend, cluster.start(1), sqlite_path=path)
            cluster.stop()
            return
        url = new_database_url("postgres")
        port = int(url.split("@")[1].split("/")[0].split(":")[1])
        redis = start_redis()
        with tcp_proxy(port) as proxy:
            proxied = url.replace(f":{port}/", f":{proxy.port}/")
            env = {**ENV, "OMNIRELAY_REDIS_URL": redis.url}
            cluster = Cluster(proxied, data / "node", sandbox, env, config)
            try:
                yield Matrix(backend, cluster.start(2), proxy=proxy, redis=redis)
            finally:
                cluster.stop()
                redis.close()
    finally:
        sandbox.stop()


_IDS = itertools.count(1)


def _marker(trigger: str) -> str:
    # A nonce keeps a ``times``-limited fault to this row.
    return f"[sandbox-fault {trigger} id={next(_IDS)}]"


_CALLS: dict[str, Callable[[GatewayProcess, str, str], Seen]] = {
    "chat": lambda gw, key, text: surfaces.chat(gw, key, "tell me about otters " + text),
    "stream": lambda gw, key, text: surfaces.stream(gw, key, "one two three four five " + text),
    "embed": lambda gw, key, text: surfaces.embeddings(gw, key, "otters " + text),
    "image": lambda gw, key, text: surfaces.images(gw, key, "an otter " + text),
    "kling": lambda gw, key, text: surfaces.kling(gw, key, "an otter " + text),
    "mj": lambda gw, key, text: surfaces.midjourney(gw, key, "an otter " + text),
    "suno": lambda gw, key, text: surfaces.suno(gw, key, "a song about otters " + text),
    "flux": lambda gw, key, text: surfaces.flux(gw, key, "an otter " + text),
}
# What each surface asks of a dead channel's model (``@refused``, ``@failover``).
_DEAD_MODELS: dict[str, Callable[[GatewayProcess, str, bool], Seen]] = {
    "chat": lambda gw, key, alone: surfaces.chat(
        gw, key, "hi", model="refused-gpt" if alone else "failover-gpt"
    ),
    "embed": lambda gw, key, alone: surfaces.embeddings_of(gw, key, "hi", "refused-embedding"),
    "image": lambda gw, key, alone: surfaces.images(gw, key, "an otter", "refused-image"),
    "kling": lambda gw, key, alone: surfaces.kling(gw, key, "an otter", model="kling-v1-6"),
    "mj": lambda gw, key, alone: surfaces.midjourney(gw, key, "an otter", prefix="/mj-turbo/mj"),
    "suno": lambda gw, key, alone: surfaces.suno(gw, key, "otters", model="chirp-auk"),
    "flux": lambda gw, key, alone: surfaces.flux(gw, key, "an otter", model="flux-kontext-max"),
}
# Where each task vendor is polled, for ``@down`` (its submissions stay up).
_POLLS = {
    "kling": {"prefix": "/kling/v1/images/generations/", "methods": ["GET"]},
    "mj": {"prefix": "/mj/task/"},
    "suno": {"prefix": "/suno/fetch"},
    "flux": {"prefix": "/bfl/v1/get_result"},
}


def _outage(matrix: Matrix, **spec: Any) -> None:
    url = matrix.cluster.sandbox.url + "/sandbox/outages"
    assert httpx.post(url, json=spec, timeout=10).status_code == 201


def _full_stream_tokens(matrix: Matrix) -> int:
    node = matrix.cluster.node(0)
    key, key_id = node.create_key("matrix-full", quota_usd=1)
    seen = _CALLS["stream"](node, key, "")
    assert seen.done
    (record,) = node.wait_for_usage(key_id=key_id, count=1)
    return int(record["completion_tokens"])


def _sigkill_mid_stream(matrix: Matrix, turn: int, key: str) -> Seen:
    """Kill the node serving a slow stream after two events; another node (or the restarted
    one) gives back what the dead one held."""
    cluster = matrix.cluster
    index = turn % len(cluster.nodes)
    node = cluster.nodes[index]

    def kill(events: int) -> None:
        if events == 2:
            cluster.kill(index)

    text = "a b c d e f g h i j k l m n o p " + _marker("chunk_delay_ms=300")
    seen = surfaces.stream(node, key, text, on_event=kill)
    if len(cluster.nodes) == 1:
        cluster.restart(index)
    return seen


def _sigkill_mid_task(matrix: Matrix, turn: int, key: str) -> Seen:
    cluster = matrix.cluster
    index = turn % len(cluster.nodes)
    seen = surfaces.kling(cluster.nodes[index], key, "an otter", wait=0)
    cluster.kill(index)
    if len(cluster.nodes) == 1:
        cluster.restart(index)
    other = cluster.nodes[(index + 1) % len(cluster.nodes)]
    found = surfaces.kling_status(other, key, seen.task_id or "", wait=30)
    seen.task_status = found
    return seen


def _database_outage(matrix: Matrix, node: GatewayProcess, key: str) -> Seen:
    """The database away for 2.5 s: a key already seen keeps being served from memory; a key
    the node has never seen is refused with 503 where the database is unreachable (PostgreSQL)
    and waits for it where it is only locked (SQLite)."""
    # (Creating a key empties the key caches: the stranger first, then the warm-up.)
    stranger, _ = node.create_key("matrix-stranger", quota_usd=1)
    assert surfaces.chat(node, key, "warm up").status == 200  # cached, with a lease
    if matrix.proxy is not None:
        matrix.proxy.cut(2.5)
    else:
        assert matrix.sqlite_path is not None
        _lock_sqlite(matrix.sqlite_path, 2.5)
    time.sleep(0.2)
    seen = surfaces.chat(node, key, "while the database is away")
    other = surfaces.chat(node, stranger, "hello")
    if matrix.proxy is not None:
        assert other.status == 503 and other.error == "service_unavailable/database_unavailable"
        assert other.retry_after is not None
    else:
        assert other.status == 200
    time.sleep(2.5)
    return seen


def _lock_sqlite(path: Path, seconds: float) -> None:
    locked = threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(path, timeout=10)
        connection.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(seconds)
        connection.rollback()
        connection.close()

    threading.Thread(target=hold, daemon=True).start()
    assert locked.wait(10)


def _redis_gone(matrix: Matrix, node: GatewayProcess, key: str) -> Seen:
    if matrix.redis is None:
        pytest.skip("no Redis is configured on this backend")
    matrix.redis.stop()
    try:
        seen = surfaces.chat(node, key, "without Redis")
        health = httpx.get(node.url + "/healthz", timeout=5).json()
        assert health["status"] == "degraded" and health["redis"] == "degraded"
    finally:
        matrix.redis.start()
    until(lambda: httpx.get(node.url + "/healthz", timeout=5).json()["redis"] == "ok", 15, "Redis")
    return seen


def _act(matrix: Matrix, row: Row, turn: int, node: GatewayProcess, key: str) -> Seen:
    trigger = row.trigger
    if trigger in ("@refused", "@failover"):
        return _DEAD_MODELS[row.surface](node, key, trigger == "@refused")
    if trigger == "@down":
        _outage(matrix, seconds=2.0, mode="status", status=503, **_POLLS[row.surface])
        return _CALLS[row.surface](node, key, "")
    if trigger == "@sigkill":
        return _sigkill_mid_stream(matrix, turn, key)
    if trigger == "@sigkill-task":
        return _sigkill_mid_task(matrix, turn, key)
    if trigger == "@database":
        return _database_outage(matrix, node, key)
    if trigger == "@redis":
        return _redis_gone(matrix, node, key)
    return _CALLS[row.surface](node, key, _marker(trigger))


def _check_client(row: Row, seen: Seen) -> None:
    assert seen.status == row.status, seen
    client = row.client
    if client is None:
        assert seen.error is None and seen.error_event is None, seen
    elif client == "broken":
        assert seen.broken is not None or not seen.done, seen
    elif client.startswith("event:"):
        assert seen.error_event == client[6:] and not seen.done, seen
    elif client.startswith("task:"):
        assert seen.task_status == client[5:], seen
    else:
        assert seen.error == client, seen
    if row.trigger.endswith("retry_after=1"):
        assert seen.retry_after == "1", seen


def _check_money(row: Row, node: GatewayProcess, key_id: int, full_tokens: int) -> None:
    if row.record is None:
        # Nothing was written for the request: what the dead node held comes back.
        node.wait_for_balance(key_id, QUOTA, timeout=20)
        assert node.usage(key_id=key_id) == []
        assert node.key_info(key_id)["spent_micro_usd"] == 0
        return
    records = [r for r in node.wait_for_usage(key_id=key_id, count=_records(row), timeout=20)]
    record = records[0]
    status, error = row.record
    assert record["status"] == status, record
    assert error in (record["error"] or ""), record
    spent = sum(r["cost"] for r in records)
    if row.charge == NOTHING:
        assert spent == 0, records
    elif row.charge == FULL:
        assert spent > 0 and all(r["status"] == 200 for r in records), records
    elif row.charge == PARTIAL:
        assert spent > 0 and record["completion_tokens"] < full_tokens, records
    else:
        assert spent == row.charge, records
    info = node.wait_for_balance(key_id, QUOTA - spent, timeout=20)
    assert info["spent_micro_usd"] == spent


def _records(row: Row) -> int:
    return 2 if row.trigger == "@database" else 1  # the warm-up request, then the row's


_COOLED_SURFACES = ("chat", "stream", "embed", "image")


def _cooled(row: Row, node: GatewayProcess) -> None:
    """A 429 with Retry-After cools the channel: the next request within it (sent at once,
    before the slower money checks, with a key of its own so the row's records stay the
    row's) is refused without reaching the upstream."""
    if row.trigger.endswith("retry_after=1") and row.surface in _COOLED_SURFACES:
        other, _ = node.create_key("matrix-cooled", quota_usd=QUOTA / 1_000_000)
        early = _CALLS[row.surface](node, other, "")
        assert early.status == 503 and early.error == "service_unavailable/no_channel_available"
        assert early.retry_after == "1"


def _after(row: Row) -> None:
    """Once the cool-down has passed, the rows after are served again."""
    if row.trigger.endswith("retry_after=1"):
        time.sleep(1.1)


@pytest.fixture(scope="module")
def full_tokens(matrix: Matrix) -> int:
    return _full_stream_tokens(matrix)


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.surface}: {r.fault}" for r in ROWS])
def test_fault(matrix: Matrix, full_tokens: int, row: Row) -> None:
    turn = ROWS.index(row)
    node = matrix.cluster.node(turn)
    key, key_id = node.create_key("matrix", quota_usd=QUOTA / 1_000_000)
    seen = _act(matrix, row, turn, node, key)
    _check_client(row, seen)
    _cooled(row, node)
    # Read the money from a node alive now (a row may have killed the one that served it).
    killed = row.trigger.startswith("@sigkill")
    reader = matrix.cluster.node(turn + 1) if killed else node
    _check_money(row, reader, key_id, full_tokens)
    if killed and len(matrix.cluster.nodes) > 1:
        matrix.cluster.restart(turn % len(matrix.cluster.nodes))  # for the rows after
    _after(row)


def test_the_matrix_as_a_table() -> None:
    """The table above as markdown (run with -s to see it; the operators' page on health and
    failover has it)."""
    lines = [
        "| surface | fault | client receives | charged | usage record |",
        "|---|---|---|---|---|",
    ]
    for row in ROWS:
        client = f"{row.status} {row.client or ''}".strip()
        charge = row.charge if isinstance(row.charge, str) else f"${row.charge / 1e6:g}"
        record = f"{row.record[0]} {row.record[1]}".strip() if row.record else "none"
        lines.append(f"| {row.surface} | {row.fault} | {client} | {charge} | {record} |")
    print("\n".join(lines))
    assert len(lines) == len(ROWS) + 2
