"""The platform's figures: what rate limits cost a request (in memory and through Redis), what
auth + limits + a quota lease cost together, how long a usage flush holds SQLite's write lock,
and the usage queries on a million records.

    python benchmarks/limits_and_usage.py OUT.json [--postgres URL] [--rows 1000000] [--quick]

Starts its own redis-server on a free port (Debian's package) and uses throwaway databases.
CPU time is the process's own (``time.process_time``): on a shared machine it is the robust
measure of what the hot path costs; wall time through Redis includes the loopback round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from omnirelay.billing import Ledger  # noqa: E402
from omnirelay.config import normalize_database_url  # noqa: E402
from omnirelay.keys import KeyCache, KeyRecord, create_key  # noqa: E402
from omnirelay.platform.limits.admission import Limiter  # noqa: E402
from omnirelay.platform.limits.base import Limits, Scope  # noqa: E402
from omnirelay.platform.limits.memory import MemoryLimits  # noqa: E402
from omnirelay.platform.limits.redis import RedisLimits  # noqa: E402
from omnirelay.platform.redis_link import RedisLink  # noqa: E402
from omnirelay.platform.usage_log import (  # noqa: E402
    AggregateQuery,
    UsageQuery,
    aggregates,
    every_record,
    page,
)
from omnirelay.store import Database, open_database, usage_records  # noqa: E402
from omnirelay.usage import ROLLUP_UPSERT, UsageEvent, rollups  # noqa: E402

# The worst case: a key and its user, each with all five kinds of limit.
SCOPES = (
    Scope(id="k:1", rpm=10**9, tpm=10**12, concurrency=10**6, daily=10**15),
    Scope(id="u:1", rpm=10**9, tpm=10**12, concurrency=10**6, monthly=10**15),
)
# The common case: requests per minute on the key.
RPM_ONLY = (Scope(id="k:2", rpm=10**9),)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_redis() -> tuple[subprocess.Popen[bytes], str, Path]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port, workdir = _free_port(), Path(tempfile.mkdtemp(prefix="bench-redis-"))
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, f"redis://127.0.0.1:{port}/0", workdir
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


async def _per_request(
    step: Callable[[int], Awaitable[None]], n: int, concurrency: int = 1
) -> dict[str, float]:
    """CPU and wall microseconds per call of ``step``, ``concurrency`` at a time."""
    cpu, wall = time.process_time(), time.perf_counter()
    if concurrency == 1:
        for i in range(n):
            await step(i)
    else:
        per = n // concurrency

        async def worker(w: int) -> None:
            for i in range(per):
                await step(w * per + i)

        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        n = per * concurrency
    return {
        "cpu_us": round((time.process_time() - cpu) / n * 1e6, 2),
        "wall_us": round((time.perf_counter() - wall) / n * 1e6, 2),
        "requests": n,
    }


async def _limiter_costs(
    backend: Any, n: int, concurrency: int, scopes: tuple[Scope, ...] = SCOPES
) -> dict[str, float]:
    limiter = Limiter(backend)
    key = KeyRecord(1, "k", None, None, False, True, False, user_id=1, scopes=scopes)

    async def step(i: int) -> None:
        admission = await limiter.admit(key, tokens=300, cost=10, ticket=f"t{i}")
        limiter.settle(admission, tokens=250, cost=8)

    await _per_request(step, min(n, 2000), concurrency)  # warm up
    return await _per_request(step, n, concurrency)


async def limiter_figures(quick: bool) -> dict[str, Any]:
    n = 20_000 if quick else 200_000
    figures: dict[str, Any] = {}
    unlimited = KeyRecord(1, "k", None, None, False, True, False)
    limiter = Limiter(MemoryLimits())

    async def free(i: int) -> None:
        await limiter.admit(unlimited, tokens=300, cost=10, ticket="t")

    figures["no_limits"] = await _per_request(free, n)
    figures["memory"] = await _limiter_costs(MemoryLimits(), n, 1)
    figures["memory_rpm_only"] = await _limiter_costs(MemoryLimits(), n, 1, RPM_ONLY)
    process, url, workdir = _start_redis()
    try:
        link = RedisLink(url)
        await link.start()
        redis_n = 3_000 if quick else 20_000
        figures["redis_sequential"] = await _limiter_costs(RedisLimits(link), redis_n, 1)
        figures["redis_64_in_flight"] = await _limiter_costs(RedisLimits(link), redis_n, 64)
        figures["redis_rpm_only_64_in_flight"] = await _limiter_costs(
            RedisLimits(link), redis_n, 64, RPM_ONLY
        )
        await link.close()
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    return figures


async def hot_path_figures(quick: bool) -> dict[str, Any]:
    """A cached key, its limits and a hold from its user's lease, settled: once per request."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-hot-"))
    db = await open_database(f"sqlite+aiosqlite:///{workdir}/hot.db")
    try:
        raw, _ = await create_key(db, name="hot", limits=Limits(rpm=10**9, tpm=10**12))
        cache, ledger, limiter = KeyCache(db, 3600), Ledger(db), Limiter(MemoryLimits())
        key = await cache.authenticate(raw)
        from omnirelay.store import users

        async with db.engine.begin() as conn:  # the user gets a balance: holds come from a lease
            await conn.execute(users.update().values(balance=10**12))
        cache.invalidate()

        async def step(i: int) -> None:
            record = await cache.authenticate(raw)
            admission = await limiter.admit(record, tokens=300, cost=10, ticket=f"t{i}")
            hold = await ledger.hold(record, 10)
            if hold.lease is not None:
                hold.lease.settle(hold.amount, 8)
            limiter.settle(admission, tokens=250, cost=8)

        n = 20_000 if quick else 200_000
        await _per_request(step, 2000)
        result = await _per_request(step, n)
        result["note"] = "KeyCache hit + Limiter (key and user scopes) + lease hold and settle"
        assert key.user_id is not None
        return result
    finally:
        await db.close()
        shutil.rmtree(workdir, ignore_errors=True)


# --- how long a usage flush holds SQLite's write lock ------------------------------------------

FLUSH_RECORDS = 1000


def _timed_write(
    batch: Any, batch_id: str, values: list[Any], rolled: dict[Any, Any], settlement: Any
) -> float:
    start = time.perf_counter()
    batch.write(batch_id, values, list(rolled.values()), settlement)
    return (time.perf_counter() - start) * 1000


def _usage_batch(prefix: str, count: int) -> list[UsageEvent]:
    return [
        UsageEvent(
            request_id=f"{prefix}_{i}",
            key_id=1,
            model=MODELS[0],
            endpoint="chat.completions",
            status=200,
            cost=120,
            reserved=150,
            user_id=1,
        )
        for i in range(count)
    ]


WAKE_RECORDS = 450  # a quarter second of one worker's records at one connection
WAKE_SLEEP = 0.0003


def _wake_round(
    batch: Any, batch_id: str, events: list[UsageEvent], rows: int | None
) -> tuple[float, float]:
    """One flush in a thread while this thread sleeps and wakes: (latest wake, write) in ms."""
    from omnirelay.usage import Settlement, roll_into

    rolled: dict[Any, dict[str, Any]] = {}
    roll_into(rolled, events)
    settlement = Settlement()
    settlement.add_events(events)
    values = batch.values(events)
    took: list[float] = []

    def write() -> None:
        start = time.perf_counter()
        batch.write(batch_id, values, list(rolled.values()), settlement, rows)
        took.append((time.perf_counter() - start) * 1000)

    writer = threading.Thread(target=write)
    writer.start()
    late = 0.0
    while writer.is_alive():
        start = time.perf_counter()
        time.sleep(WAKE_SLEEP)
        late = max(late, time.perf_counter() - start - WAKE_SLEEP)
    writer.join()
    return late * 1000, took[0]


async def flush_wake_figures(quick: bool) -> dict[str, Any]:
    """While the usage writer's thread writes a flush of ``WAKE_RECORDS`` records to SQLite,
    the main thread sleeps 0.3 ms at a time, as an event loop waits for the next request at one
    connection: how late it wakes (waiting for the GIL, which binding a statement's values
    holds), with the statements of a quiet node (64 rows) and of a busy one (512)."""
    from omnirelay.usage import QUIET_ROWS
    from omnirelay.usage.sqlite import SQLiteBatch

    workdir = Path(tempfile.mkdtemp(prefix="bench-wake-"))
    path = workdir / "wake.db"
    db = await open_database(f"sqlite+aiosqlite:///{path}")
    await db.close()
    batch = SQLiteBatch(str(path), db.engine.dialect)
    figures: dict[str, Any] = {"records": WAKE_RECORDS, "idle_sleep_ms": WAKE_SLEEP * 1000}
    try:
        for label, rows in (("quiet", QUIET_ROWS), ("busy", None)):
            rounds = [
                _wake_round(
                    batch, f"wake-{label}-{n}", _usage_batch(f"w{label}{n}", WAKE_RECORDS), rows
                )
                for n in range(4 if quick else 12)
            ]
            worst = [late for late, _ in rounds]
            figures[label] = {
                "rows_per_statement": rows or 512,
                "worst_late_ms_median": round(statistics.median(worst), 2),
                "worst_late_ms_max": round(max(worst), 2),
                "write_ms_median": round(statistics.median(w for _, w in rounds), 2),
            }
    finally:
        batch.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return figures


async def flush_hold_figures(quick: bool) -> dict[str, Any]:
    """One flush's transaction written by the usage writer's thread while the main thread runs
    Python without pause, as a loaded event loop does: how long SQLite's write lock (shared by
    every worker) is held, for a batch of one key and of many keys, users and models."""

    from omnirelay.usage import Settlement, roll_into
    from omnirelay.usage.sqlite import SQLiteBatch

    workdir = Path(tempfile.mkdtemp(prefix="bench-flush-"))
    path = workdir / "flush.db"
    db = await open_database(f"sqlite+aiosqlite:///{path}")
    await db.close()
    batch = SQLiteBatch(str(path), db.engine.dialect)
    busy = threading.Event()

    def spin() -> None:
        while not busy.is_set():
            sum(range(1000))

    spinner = threading.Thread(target=spin)
    spinner.start()
    figures: dict[str, Any] = {"records": FLUSH_RECORDS}
    try:
        for keys in (1, 50):
            holds = []
            for n in range(3 if quick else 7):
                events = [
                    UsageEvent(
                        request_id=f"flush_{keys}_{n}_{i}",
                        key_id=1 + i % keys,
                        model=MODELS[i // keys % 3],
                        endpoint="chat.completions",
                        status=200,
                        cost=120,
                        reserved=150,
                        user_id=1 + i % max(1, keys // 2),
                    )
                    for i in range(FLUSH_RECORDS)
                ]
                rolled: dict[Any, dict[str, Any]] = {}
                roll_into(rolled, events)
                settlement = Settlement()
                settlement.add_events(events)
                values = batch.values(events)
                holds.append(
                    await asyncio.to_thread(
                        _timed_write, batch, f"flush-{keys}-{n}", values, rolled, settlement
                    )
                )
            figures[f"keys_{keys}"] = {
                "median_ms": round(statistics.median(holds), 1),
                "max_ms": round(max(holds), 1),
                "rollup_rows": len(rolled),
            }
    finally:
        busy.set()
        spinner.join()
        batch.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return figures


# --- the usage log on a million records -------------------------------------------------------

MODELS = [f"model-{i}" for i in range(10)]
KEYS = 200  # 100 users with two keys each; each key uses two models
DAYS = 7


def _events(rows: int, seed: int = 7) -> list[UsageEvent]:
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=DAYS)
    span = DAYS * 86400
    found = []
    for i in range(rows):
        key = rng.randrange(KEYS) + 1
        model = MODELS[(key + rng.randrange(2)) % len(MODELS)]
        latency = int(min(60_000, rng.lognormvariate(math.log(600), 0.9)))
        status = 200 if rng.random() > 0.02 else rng.choice((429, 500, 502))
        found.append(
            UsageEvent(
                request_id=f"req_{i:012x}",
                key_id=key,
                model=model,
                endpoint="chat.completions",
                status=status,
                channel_id=MODELS.index(model) % 5 + 1,
                prompt_tokens=rng.randrange(20, 2000),
                completion_tokens=rng.randrange(0, 800),
                cost=rng.randrange(10, 20_000),
                latency_ms=latency,
                first_byte_ms=latency // 3,
                created_at=start + timedelta(seconds=span * i / rows),
                user_id=(key + 1) // 2,
            )
        )
    return found


async def _load_sqlite(db: Database, events: list[UsageEvent]) -> None:
    import sqlite3

    path = db.engine.url.database
    assert path is not None
    columns = [c.name for c in usage_records.columns if c.name != "id"]
    connection = sqlite3.connect(path)
    try:
        statement = (
            f"INSERT INTO usage_records ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        connection.executemany(
            statement,
            (
                tuple(
                    e.created_at.strftime("%Y-%m-%d %H:%M:%S.%f") if c == "created_at"
                    else getattr(e, c)
                    for c in columns
                )
                for e in events
            ),
        )
        connection.executemany(ROLLUP_UPSERT, rollups(events))
        connection.commit()
    finally:
        connection.close()


async def _load_postgres(db: Database, events: list[UsageEvent]) -> None:
    import asyncpg
    from sqlalchemy import text

    columns = [c.name for c in usage_records.columns if c.name != "id"]
    conn = await asyncpg.connect(db.url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.copy_records_to_table(
            "usage_records",
            records=[tuple(getattr(e, c) for c in columns) for e in events],
            columns=columns,
        )
    finally:
        await conn.close()
    async with db.engine.begin() as connection:
        await connection.execute(text(ROLLUP_UPSERT), rollups(events))
        await connection.execute(text("ANALYZE usage_records"))
        await connection.execute(text("ANALYZE usage_hourly"))


async def _timed(action: Callable[[], Awaitable[Any]], repeat: int = 5) -> dict[str, float]:
    await action()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await action()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2)}


async def _queries(db: Database) -> dict[str, Any]:
    week = datetime.now(UTC) - timedelta(days=DAYS + 1)
    day = datetime.now(UTC) - timedelta(days=1)
    middle = 500_000

    async def raw_group_by() -> Any:
        from sqlalchemy import func, select

        statement = (
            select(usage_records.c.model, func.count(), func.sum(usage_records.c.cost))
            .where(usage_records.c.created_at >= week)
            .group_by(usage_records.c.model)
        )
        async with db.engine.connect() as conn:
            return (await conn.execute(statement)).all()

    async def export_one_key() -> int:
        return sum([1 async for _ in every_record(db, UsageQuery(key_id=7))])

    cases: dict[str, Callable[[], Awaitable[Any]]] = {
        "aggregates day x model, 7 days": lambda: aggregates(
            db, AggregateQuery(since=week, bucket="day", by="model")
        ),
        "aggregates hour x key, 24 h": lambda: aggregates(
            db, AggregateQuery(since=day, bucket="hour", by="key")
        ),
        "aggregates hour x model, one user, 7 days": lambda: aggregates(
            db, AggregateQuery(since=week, bucket="hour", by="model", user_id=42)
        ),
        "aggregates day x channel, 7 days": lambda: aggregates(
            db, AggregateQuery(since=week, bucket="day", by="channel")
        ),
        "log: newest 100": lambda: page(db, UsageQuery()),
        "log: one user, 100": lambda: page(db, UsageQuery(user_id=42)),
        "log: one model, 100": lambda: page(db, UsageQuery(model="model-3")),
        "log: errors only, 100": lambda: page(db, UsageQuery(errors=True)),
        "log: a page deep in the middle": lambda: page(db, UsageQuery(cursor=str(middle))),
        "for comparison: GROUP BY model on the raw records": raw_group_by,
    }
    found = {name: await _timed(action) for name, action in cases.items()}
    exported = await export_one_key()
    started = time.perf_counter()
    await export_one_key()
    found["CSV-ready export of one key's records"] = {
        "rows": exported,
        "rows_per_s": round(exported / (time.perf_counter() - started)),
    }
    return found


async def usage_figures(rows: int, postgres: str | None) -> dict[str, Any]:
    events = _events(rows)
    figures: dict[str, Any] = {"rows": rows, "keys": KEYS, "models": len(MODELS), "days": DAYS}
    figures["rollup_rows"] = len(rollups(events))
    workdir = Path(tempfile.mkdtemp(prefix="bench-usage-"))
    try:
        db = await open_database(f"sqlite+aiosqlite:///{workdir}/usage.db")
        try:
            started = time.perf_counter()
            await _load_sqlite(db, events)
            figures["sqlite_load_s"] = round(time.perf_counter() - started, 1)
            figures["sqlite"] = await _queries(db)
        finally:
            await db.close()
        if postgres:
            db = await open_database(normalize_database_url(postgres))
            try:
                started = time.perf_counter()
                await _load_postgres(db, events)
                figures["postgres_load_s"] = round(time.perf_counter() - started, 1)
                figures["postgres"] = await _queries(db)
            finally:
                await db.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--postgres", default=None, help="an empty database's URL")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    result = {
        "limiter": await limiter_figures(args.quick),
        "hot_path": await hot_path_figures(args.quick),
        "flush_hold": await flush_hold_figures(args.quick),
        "flush_wake": await flush_wake_figures(args.quick),
        "usage": await usage_figures(100_000 if args.quick else args.rows, args.postgres),
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
