"""The billing audit: two ``serve`` nodes on one PostgreSQL and one Redis (or one node on SQLite)
take a seeded random mix of chat, stream, embedding, image and task requests over a dozen keys
with tight quotas, with faults from the matrix injected and one node SIGKILLed and restarted
halfway; then the money is checked to the micro-dollar:

    Σ ledger entries - Σ final balances  ==  Σ usage records' costs  ==  Σ users' spent
    == Σ the hourly rollups' costs, no user or key below zero, every key's own quota down by
    exactly what it spent, every task settled exactly once, nothing left held by any node.

It prints the totals (run with -s to see them).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support import surfaces
from tests.support.cluster import Cluster, until
from tests.support.redis import start_redis
from tests.support.servers import GatewayProcess, start_sandbox
from tests.support.surfaces import Seen

SEED = 20261201
REQUESTS = 360
WORKERS = 12
USERS = 6
KEYS_PER_USER = 2
BALANCE_USD = 0.35
KEY_QUOTA_USD = 0.12  # every other key has a cap of its own, tighter than its user's balance
TOP_UP_USD = 0.05

ENV = {
    "OMNIRELAY_UPSTREAM_TIMEOUT": "1.0",
    "OMNIRELAY_UPSTREAM_IDLE_TIMEOUT": "0.6",
    "OMNIRELAY_RELAY_BACKOFF_SECONDS": "0.05",
    # Circuits open and probe during the run, as they would.
    "OMNIRELAY_CHANNEL_FAILURES": "8",
    "OMNIRELAY_CHANNEL_FAILURE_WINDOW_SECONDS": "5",
    "OMNIRELAY_CHANNEL_COOLDOWN_SECONDS": "1",
    "OMNIRELAY_NODE_HEARTBEAT_SECONDS": "0.3",
    "OMNIRELAY_NODE_DEAD_SECONDS": "1.5",
    "OMNIRELAY_TASK_LEASE_SECONDS": "2",
    "OMNIRELAY_SHUTDOWN_GRACE_SECONDS": "5",
}

# Faults from the matrix, as sandbox markers (None: no fault), and how often.
FAULTS: tuple[tuple[str | None, int], ...] = (
    (None, 60),
    ("status=500", 5),
    ("status=502 times=1", 5),
    ("status=429", 3),
    ("latency_ms=1200", 3),
    ("malformed=1", 3),
    ("drop_after=2", 4),
    ("idle_after=2", 3),
    ("malformed_after=2", 3),
)
STREAM_ONLY = {"drop_after=2", "idle_after=2", "malformed_after=2"}
KINDS: tuple[tuple[str, int], ...] = (
    ("chat", 24),
    ("stream", 22),
    ("embed", 12),
    ("image", 10),
    ("kling", 10),
    ("mj", 8),
    ("suno", 6),
    ("flux", 8),
)


@dataclass(frozen=True)
class Planned:
    index: int
    kind: str
    key: int  # index into the keys
    node: int
    fault: str | None
    task_fails: bool  # a task the vendor fails ([sandbox-fail]): refunded


def plan(rng: random.Random, keys: int, nodes: int) -> list[Planned]:
    kinds = [k for k, weight in KINDS for _ in range(weight)]
    faults = [f for f, weight in FAULTS for _ in range(weight)]
    planned = []
    for index in range(REQUESTS):
        kind = rng.choice(kinds)
        fault = rng.choice(faults)
        if fault in STREAM_ONLY and kind != "stream":
            fault = None
        planned.append(
            Planned(
                index,
                kind,
                rng.randrange(keys),
                rng.randrange(nodes),
                fault,
                kind in ("kling", "mj", "suno", "flux") and rng.random() < 0.15,
            )
        )
    return planned


_CALL: dict[str, Callable[[GatewayProcess, str, str], Seen]] = {
    "chat": lambda gw, key, text: surfaces.chat(gw, key, "tell me about herons " + text),
    "stream": lambda gw, key, text: surfaces.stream(
        gw, key, "one two three four five six " + text, model="gpt-4.1"
    ),
    "embed": lambda gw, key, text: surfaces.embeddings(gw, key, "herons " + text),
    "image": lambda gw, key, text: surfaces.images(gw, key, "a heron " + text),
    "kling": lambda gw, key, text: surfaces.kling(gw, key, "a heron " + text, wait=0),
    "mj": lambda gw, key, text: surfaces.midjourney(gw, key, "a heron " + text, wait=0),
    "suno": lambda gw, key, text: surfaces.suno(gw, key, "herons " + text, wait=0),
    "flux": lambda gw, key, text: surfaces.flux(gw, key, "a heron " + text),
}


def _text(planned: Planned) -> str:
    text = f"[sandbox-fault {planned.fault} id={planned.index}]" if planned.fault else ""
    return text + (" [sandbox-fail]" if planned.task_fails else "")


def _outcome(seen: Seen) -> str:
    if seen.broken is not None:
        return "connection broke"
    if seen.status == 200 and seen.error is None and seen.error_event is None:
        return "200"
    return f"{seen.status} {seen.error or seen.error_event}"


def _query(url: str, sql: str) -> list[Any]:
    """Rows (read by column name) straight from the database, past every gateway."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split("///", 1)[1]) as db:
            db.row_factory = sqlite3.Row
            return list(db.execute(sql).fetchall())

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def _scalar(url: str, sql: str) -> int:
    return int(_query(url, sql)[0][0] or 0)


class Run:
    """Sends the plan from worker threads; kills the last node halfway and brings it back."""

    def __init__(self, cluster: Cluster, keys: list[str], planned: list[Planned]) -> None:
        self.cluster = cluster
        self.keys = keys
        self.planned = planned
        self.outcomes: Counter[str] = Counter()
        self.sent = itertools.count()
        self.lock = threading.Lock()
        self.killed = threading.Event()
        self.started = time.monotonic()
        self.events: list[str] = []
        self.victim = len(cluster.nodes) - 1
        self.restarter: threading.Thread | None = None

    def one(self, planned: Planned) -> None:
        if next(self.sent) == len(self.planned) // 2 and not self.killed.is_set():
            self.killed.set()
            self.cluster.kill(self.victim)
            self.events.append(f"node {self.victim} SIGKILLed at {self._clock():.1f} s")
            self.restarter = threading.Thread(target=self._restart, daemon=True)
            self.restarter.start()
        node = self.cluster.nodes[planned.node]
        try:
            seen = _CALL[planned.kind](node, self.keys[planned.key], _text(planned))
            outcome = _outcome(seen)
        except (httpx.HTTPError, ValueError) as exc:  # a node down or being killed
            outcome = f"unreachable ({type(exc).__name__})"
        with self.lock:
            self.outcomes[f"{planned.kind}: {outcome}"] += 1

    def _restart(self) -> None:
        time.sleep(0.5)
        self.cluster.restart(self.victim)
        self.events.append(f"node {self.victim} back at {self._clock():.1f} s")

    def _clock(self) -> float:
        return time.monotonic() - self.started


@pytest.mark.parametrize(("backend", "nodes"), [("sqlite", 1), ("postgres", 2)])
def test_the_money_adds_up(
    backend: str, nodes: int, new_database_url: Callable[[str], str], tmp_path: Path
) -> None:
    started = time.monotonic()
    url = new_database_url(backend)
    redis = start_redis() if backend == "postgres" else None
    sandbox = start_sandbox(tmp_path / "sandbox")
    env = {**ENV, "OMNIRELAY_REDIS_URL": redis.url} if redis is not None else ENV
    cluster = Cluster(url, tmp_path / "node", sandbox, env)
    run: Run | None = None
    try:
        cluster.start(nodes)
        admin = cluster.nodes[0]
        users, keys, capped = _accounts(admin)
        planned = plan(random.Random(SEED), len(keys), nodes)
        run = Run(cluster, keys, planned)
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            futures = [pool.submit(run.one, p) for p in planned]
            for n, future in enumerate(futures):
                future.result()
                if n == len(futures) // 4:
                    for user_id in users[:2]:  # a ledger entry in the middle of it all
                        _top_up(cluster, user_id)
        _settle(cluster, url, nodes)
        totals = _audit(url, users, capped)
    finally:
        if run is not None and run.restarter is not None:
            run.restarter.join(60)  # never stop the cluster under a restart in flight
        cluster.stop()
        sandbox.stop()
        if redis is not None:
            redis.close()
    _print(backend, nodes, run, totals, time.monotonic() - started)


def _top_up(cluster: Cluster, user_id: int) -> None:
    """Through whichever node answers: on a slow machine the kill may come first, and the
    only node of the SQLite run is then being restarted. A top-up whose answer was lost and
    is sent again is two ledger entries, which the audit counts like any other."""
    deadline = time.monotonic() + 60
    while True:
        for node in cluster.nodes:
            try:
                answer = node.admin(
                    "POST", f"/admin/users/{user_id}/topups", json={"amount_usd": TOP_UP_USD}
                )
            except httpx.HTTPError:
                continue
            if answer.status_code < 500:
                answer.raise_for_status()
                return
        assert time.monotonic() < deadline, "no node took the top-up within a minute"
        time.sleep(0.2)


def _accounts(admin: GatewayProcess) -> tuple[list[int], list[str], dict[int, int]]:
    """A dozen keys over six users with tight balances; every other key has a cap of its own.
    Returns the user ids, the keys, and the capped keys' ids with their caps."""
    users, keys, capped = [], [], {}
    for u in range(USERS):
        made = admin.admin(
            "POST", "/admin/users", json={"name": f"audit-{u}", "balance_usd": BALANCE_USD}
        )
        made.raise_for_status()
        user_id = int(made.json()["id"])
        users.append(user_id)
        for k in range(KEYS_PER_USER):
            body: dict[str, Any] = {"name": f"audit-{u}-{k}", "user_id": user_id}
            if k % 2:
                body["quota_usd"] = KEY_QUOTA_USD
            key = admin.admin("POST", "/admin/keys", json=body)
            key.raise_for_status()
            keys.append(key.json()["key"])
            if k % 2:
                capped[int(key.json()["id"])] = int(KEY_QUOTA_USD * 1_000_000)
    return users, keys, capped


def _settle(cluster: Cluster, url: str, nodes: int) -> None:
    """Every task ends; the killed node is reaped; the survivors stop cleanly (leases back)."""
    until(
        lambda: _scalar(url, "SELECT count(*) FROM tasks WHERE settlement IS NULL") == 0,
        60,
        "every task settled",
    )
    until(lambda: _scalar(url, "SELECT count(*) FROM nodes") == nodes, 30, "the dead node reaped")
    cluster.stop()


def _audit(url: str, users: list[int], capped: dict[int, int]) -> dict[str, int]:
    ids = ",".join(map(str, users))
    ledger = _scalar(url, f"SELECT sum(delta) FROM balance_entries WHERE user_id IN ({ids})")
    balances = _scalar(url, f"SELECT sum(balance) FROM users WHERE id IN ({ids})")
    spent = _scalar(url, f"SELECT sum(spent) FROM users WHERE id IN ({ids})")
    costs = _scalar(url, f"SELECT sum(cost) FROM usage_records WHERE user_id IN ({ids})")
    hourly = _scalar(url, f"SELECT sum(cost) FROM usage_hourly WHERE user_id IN ({ids})")
    records = _scalar(url, f"SELECT count(*) FROM usage_records WHERE user_id IN ({ids})")
    # Per user: what left the balance is what its records cost.
    for row in _query(
        url,
        "SELECT u.id, u.balance, u.spent, "
        "(SELECT coalesce(sum(delta), 0) FROM balance_entries b WHERE b.user_id = u.id) AS funded, "
        "(SELECT coalesce(sum(cost), 0) FROM usage_records r WHERE r.user_id = u.id) AS cost "
        f"FROM users u WHERE u.id IN ({ids})",
    ):
        assert row["balance"] >= 0, dict(row)
        assert row["funded"] - row["balance"] == row["cost"] == row["spent"], dict(row)
    # Every key's own quota went down by exactly what the key spent.
    for row in _query(
        url,
        "SELECT k.id, k.quota_remaining, k.spent, "
        "(SELECT coalesce(sum(cost), 0) FROM usage_records r WHERE r.key_id = k.id) AS cost "
        f"FROM api_keys k WHERE k.user_id IN ({ids})",
    ):
        assert row["spent"] == row["cost"], dict(row)
        if row["id"] in capped:
            assert row["quota_remaining"] >= 0, dict(row)
            assert capped[row["id"]] - row["quota_remaining"] == row["cost"], dict(row)
    # Every task settled once: one record each, costing what the task was charged.
    tasks = _query(
        url,
        "SELECT t.id, t.status, t.settlement, t.charged, "
        "(SELECT count(*) FROM usage_records r WHERE r.request_id = t.id) AS records, "
        "(SELECT coalesce(sum(cost), 0) FROM usage_records r WHERE r.request_id = t.id) AS cost "
        "FROM tasks t",
    )
    for task in tasks:
        assert task["settlement"] in ("charged", "refunded"), dict(task)
        assert task["records"] == 1 and task["cost"] == (task["charged"] or 0), dict(task)
    duplicates = _scalar(
        url,
        "SELECT count(*) FROM (SELECT request_id FROM usage_records "
        "GROUP BY request_id HAVING count(*) > 1) AS twice",
    )
    assert duplicates == 0  # no batch applied twice
    held = _scalar(url, "SELECT coalesce(sum(amount), 0) FROM node_holds")
    nodes_left = _scalar(url, "SELECT count(*) FROM nodes")
    assert held == 0 and nodes_left == 0
    assert ledger - balances == costs == spent == hourly
    return {
        "ledger entries (top-ups)": ledger,
        "final balances": balances,
        "balance changes": ledger - balances,
        "usage records' costs": costs,
        "users' spent": spent,
        "hourly rollups' costs": hourly,
        "usage records": records,
        "tasks": len(tasks),
        "tasks charged": sum(1 for t in tasks if t["settlement"] == "charged"),
        "tasks refunded": sum(1 for t in tasks if t["settlement"] == "refunded"),
        "task charges": sum(int(t["charged"] or 0) for t in tasks),
        "left held by nodes": held,
    }


def _print(backend: str, nodes: int, run: Run, totals: dict[str, int], seconds: float) -> None:
    print(
        f"\nbilling audit on {backend} ({nodes} node(s)): {REQUESTS} requests, seed {SEED}, {seconds:.0f} s"
    )
    for event in run.events:
        print(f"  {event}")
    for name, count in sorted(run.outcomes.items()):
        print(f"  {count:4d}  {name}")
    counts = {"usage records", "tasks", "tasks charged", "tasks refunded"}
    for name, value in totals.items():
        unit = "" if name in counts else " micro-USD"
        print(f"  {name:>26}: {value:>10,}{unit}")
