"""The task poller at scale: N Kling tasks in flight on PostgreSQL, polled by a running omnirelay.

    python benchmarks/poller.py OUT.json --gateway URL --key KEY --database URL --vendor-port P
        [--pgid PGID] [--tasks 10000] [--poll-seconds 10] [--window 30] [--concurrency 64]

It starts a fake Kling vendor here (answers at once, unique task ids, any credential), submits
the tasks through the gateway's Kling API (the submits/s of that phase are reported too), then
watches from outside only: the vendor records when each task is polled, and a reader of the
``tasks`` table records each task's due time (``next_poll_ms``) as the gateway writes it. The
lag of a poll is its arrival at the vendor minus the due time it answered (the last one seen
that is not later than the arrival: a claim moves the due time a lease ahead).

Two phases, to show whether the poller's cost follows the due tasks rather than the tasks in
flight: all N in flight, then the vendor fails 90% of them (refunded) and the remaining tenth
is measured again; then the rest fail, and the idle gateway is measured (the baseline that
"beyond idle" subtracts; it is measured at the start too, for comparison). CPU is the gateway's
process group's time on a CPU over each window, to the nanosecond; every window is as long.

The gateway must run with OMNIRELAY_TASK_POLL_SECONDS = OMNIRELAY_TASK_POLL_MAX_SECONDS =
--poll-seconds (one steady interval, so due tasks per second = in flight / interval).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from cpu import group_processes  # benchmarks/cpu.py, beside this script

KLING_PATH = "/kling/v1/videos/image2video"


def group_cpu_exact(pgid: int) -> float:
    """CPU seconds of a process group's live threads, to the nanosecond (``schedstat``): the
    clock ticks of ``/proc/PID/stat`` (``cpu.py``) are 10 ms per process, a quarter of what the
    gateway spends in a short window at a low due rate."""
    total = 0
    for pid, _ in group_processes(pgid):
        try:
            for thread in os.listdir(f"/proc/{pid}/task"):
                total += int(Path(f"/proc/{pid}/task/{thread}/schedstat").read_text().split()[0])
        except (OSError, ValueError):
            continue
    return total / 1e9


def _now_ms() -> float:
    return time.time() * 1000


@dataclass
class Vendor:
    """A Kling imitation answering at once; it remembers every poll."""

    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    polls: list[tuple[str, float]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    submits: int = 0
    failing: set[str] = field(default_factory=set)  # answered "failed" from now on

    @staticmethod
    def _envelope(data: dict[str, Any]) -> web.Response:
        body = {"code": 0, "message": "SUCCEED", "request_id": "bench", "data": data}
        return web.json_response(body)

    async def submit(self, request: web.Request) -> web.Response:
        await request.read()
        self.submits += 1
        task_id = f"bench-{next(self.ids)}"
        ms = int(_now_ms())
        return self._envelope(
            {"task_id": task_id, "task_status": "submitted", "task_info": {},
             "created_at": ms, "updated_at": ms}
        )

    async def query(self, request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        self.polls.append((task_id, _now_ms()))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # answer at once, but let concurrent polls overlap
            failed = task_id in self.failing
            ms = int(_now_ms())
            return self._envelope(
                {"task_id": task_id, "task_status": "failed" if failed else "processing",
                 "task_status_msg": "benchmark: done with this task" if failed else "",
                 "created_at": ms, "updated_at": ms}
            )
        finally:
            self.in_flight -= 1

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/videos/image2video", self.submit)
        app.router.add_get("/v1/videos/image2video/{task_id}", self.query)
        return app


class DueReader:
    """Reads every unfinished task's due time from the ``tasks`` table, every ``period`` s."""

    def __init__(self, dsn: str, period: float = 0.2) -> None:
        self._dsn = dsn
        self._period = period
        self.dues: dict[str, set[int]] = {}  # upstream id -> every due time seen
        self.scan_ms: list[float] = []
        self.unfinished = 0

    async def run(self, stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            while not stop.is_set():
                started = time.perf_counter()
                rows = await conn.fetch(
                    "SELECT upstream_id, next_poll_ms FROM tasks"
                    " WHERE finished_ms IS NULL AND upstream_id IS NOT NULL"
                )
                self.scan_ms.append((time.perf_counter() - started) * 1000)
                self.unfinished = len(rows)
                for uid, due in rows:
                    self.dues.setdefault(uid, set()).add(due)
                try:
                    await asyncio.wait_for(stop.wait(), self._period)
                except TimeoutError:
                    pass
        finally:
            await conn.close()

    async def transactions(self) -> int:
        """The database's committed transactions so far, less this reader's own."""
        conn = await asyncpg.connect(self._dsn)
        try:
            done = await conn.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            )
        finally:
            await conn.close()
        return int(done) - len(self.scan_ms)

    def lag_ms(self, uid: str, polled: float) -> float | None:
        seen = sorted(self.dues.get(uid, ()))
        i = bisect_right(seen, polled)
        return None if i == 0 else polled - seen[i - 1]


def _pct(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def submit_all(
    gateway: str, key: str, body: bytes, n: int, concurrency: int, max_seconds: float
) -> dict[str, Any]:
    """Submits ``n`` tasks, ``concurrency`` at a time, for at most ``max_seconds``."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    todo = iter(range(n))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        deadline = time.monotonic() + max_seconds

        async def worker() -> None:
            for _ in todo:
                if time.monotonic() > deadline:
                    return
                started = time.perf_counter()
                try:
                    async with session.post(gateway + KLING_PATH, data=body, headers=headers) as r:
                        answer = await r.read()
                        if r.status != 200:
                            errors[str(r.status)] = errors.get(str(r.status), 0) + 1
                            if sum(errors.values()) <= 3:
                                print(f"submit: HTTP {r.status}: {answer[:300]!r}", file=sys.stderr)
                except aiohttp.ClientError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    latencies.sort()
    done = len(latencies)
    return {
        "tasks": done, "asked": n, "capped": done < n, "concurrency": concurrency,
        "seconds": round(seconds, 2), "ok": done - sum(errors.values()),
        "rps": round(done / seconds, 1), "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(_pct(latencies, 0.99), 2), "errors": errors,
    }


async def window(
    vendor: Vendor, reader: DueReader, pgid: int | None, seconds: float, in_flight: int
) -> dict[str, Any]:
    """Polls, their lag and the gateway's CPU over ``seconds``."""
    first = len(vendor.polls)
    vendor.max_in_flight = vendor.in_flight
    transactions = await reader.transactions()
    cpu_before = group_cpu_exact(pgid) if pgid else None
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - started
    cpu = group_cpu_exact(pgid) - cpu_before if pgid and cpu_before is not None else None
    # Each backend publishes its counts within a second or so: at both ends alike.
    transactions = await reader.transactions() - transactions
    polls = vendor.polls[first:]
    lags = sorted(
        lag for uid, at in polls if (lag := reader.lag_ms(uid, at)) is not None
    )
    out: dict[str, Any] = {
        "in_flight": in_flight, "seconds": round(elapsed, 1), "polls": len(polls),
        "polls_per_s": round(len(polls) / elapsed, 1),
        "max_concurrent_upstream_polls": vendor.max_in_flight,
    }
    if lags:
        out["lag_ms"] = {
            "n": len(lags), "p50": round(statistics.median(lags), 1),
            "p99": round(_pct(lags, 0.99), 1), "max": round(lags[-1], 1),
        }
    # Of the gateway: the reader's scans are not counted, and the 1 is the first reading's.
    out["db_transactions_per_s"] = round(max(transactions - 1, 0) / elapsed, 1)
    if polls:
        out["db_transactions_per_poll"] = round(max(transactions - 1, 0) / len(polls), 3)
    if cpu is not None:
        out["gateway_cpu_s_per_s"] = round(cpu / elapsed, 4)
        out["gateway_cpu_ms_per_poll"] = round(cpu * 1000 / len(polls), 3) if polls else None
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    vendor = Vendor()
    runner = web.AppRunner(vendor.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.vendor_port).start()
    reader = DueReader(args.database.replace("postgresql+asyncpg://", "postgresql://"))
    stop = asyncio.Event()
    reading = asyncio.create_task(reader.run(stop))
    body: bytes = args.body_bytes
    try:
        # The gateway's own background (heartbeats, reloads, key refreshes, idle claims) with
        # nothing in flight: the part of its CPU that does not follow the due tasks (measured
        # again at the end). As long as the other windows: the same share of the periodic work
        # (key refreshes, reloads) falls in each.
        idle = await window(vendor, reader, args.pgid, args.window, 0)
        print(f"nothing in flight: {idle}", file=sys.stderr)
        submit = await submit_all(
            args.gateway, args.key, body, args.tasks, args.concurrency, args.submit_seconds
        )
        in_flight = submit["ok"]
        print(f"submitted: {submit}", file=sys.stderr)
        # Let the first polls (due a poll interval after each submit) reach a steady rate.
        await asyncio.sleep(args.poll_seconds)
        full = await window(vendor, reader, args.pgid, args.window, in_flight)
        print(f"all in flight: {full}", file=sys.stderr)
        ids = sorted({uid for uid, _ in vendor.polls})
        vendor.failing = {uid for i, uid in enumerate(ids) if i % 10}
        # They fail on their next poll; measure once they are gone (or after a minute).
        deadline = time.monotonic() + max(60.0, 3 * args.poll_seconds)
        while reader.unfinished > in_flight // 10 + 5 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.5)  # the reader's own loop updates the count
        drained_in = round(time.monotonic() - deadline + max(60.0, 3 * args.poll_seconds), 1)
        drained = reader.unfinished <= in_flight // 10 + 5
        # Steady again, as before the first window: a poll interval for the settlements of the
        # failed (refunds, usage records) to be written and the tenth's polls to spread evenly.
        await asyncio.sleep(args.poll_seconds)
        tenth = await window(vendor, reader, args.pgid, args.window, reader.unfinished)
        # When the window began, after the vendor began failing them (the report says so).
        tenth["drained_after_s"] = round(drained_in + args.poll_seconds, 1)
        tenth["drained"] = drained
        print(f"a tenth in flight: {tenth}", file=sys.stderr)
        # The idle gateway again, once every task has ended: the baseline subtracted above is
        # this one, of a gateway as long up as in the windows it is compared with (the first,
        # just after start, still holds the start's own work).
        vendor.failing = set(ids)
        deadline = time.monotonic() + max(60.0, 3 * args.poll_seconds)
        while reader.unfinished > 0 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        await asyncio.sleep(args.poll_seconds)
        idle_end = await window(vendor, reader, args.pgid, args.window, reader.unfinished)
        print(f"nothing in flight again: {idle_end}", file=sys.stderr)
    finally:
        stop.set()
        await reading
        await runner.cleanup()
    idle_cpu = idle_end.get("gateway_cpu_s_per_s")
    for w in (full, tenth):  # CPU per poll beyond the idle gateway's
        cpu, rate = w.get("gateway_cpu_s_per_s"), w.get("polls_per_s")
        if idle_cpu is not None and cpu is not None and rate:
            w["gateway_cpu_ms_per_poll_net"] = round(max(cpu - idle_cpu, 0.0) * 1000 / rate, 3)
    per_poll = [w.get("gateway_cpu_ms_per_poll_net") for w in (full, tenth)]
    return {
        "idle_gateway_cpu_s_per_s": idle_cpu,
        "idle_at_start": idle,
        "idle_at_end": idle_end,
        "tasks": in_flight, "poll_seconds": args.poll_seconds,
        "due_per_s_expected": round(in_flight / args.poll_seconds, 1),
        "submit": submit, "all_in_flight": full, "tenth_in_flight": tenth,
        # 1.0 = the poller's CPU follows the due tasks; above 1, part of it follows the in flight
        # (per poll beyond the idle gateway's CPU, which follows neither).
        # Only meaningful once the nine tenths are gone (else the second window polls them too).
        "cpu_per_poll_tenth_vs_all": (
            round(per_poll[1] / per_poll[0], 2)  # type: ignore[operator]
            if all(per_poll) and tenth.get("drained")
            else None
        ),
        "table_scan_ms_p50": (
            round(statistics.median(reader.scan_ms), 1) if reader.scan_ms else None
        ),
        "vendor_submits": vendor.submits,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--database", required=True, help="the gateway's PostgreSQL URL")
    parser.add_argument("--vendor-port", type=int, required=True)
    parser.add_argument("--body", required=True, help="the Kling image2video body to submit")
    parser.add_argument("--pgid", type=int, default=None, help="the gateway's process group")
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--poll-seconds", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--submit-seconds", type=float, default=180.0, help="stop submitting after this long"
    )
    args = parser.parse_args()
    args.body_bytes = Path(args.body).read_bytes()
    import uvloop

    figures = uvloop.run(main_async(args))
    args.out.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
