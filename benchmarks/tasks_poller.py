"""The task poller with many tasks in flight: lag between due and polled, and CPU per poll.

The stack of ``tasks_submit.py`` (nginx fake upstream, PostgreSQL, ``omnirelay serve`` with N
workers), with the fake upstream answering every Kling task query "processing", so tasks stay
in flight. One task is submitted through the API; N copies of it are then written straight into
the database (queued, already polled ``--attempts`` times, so each is polled every 30 s, and
first due spread over the next 30 s). A trigger, in the benchmark's database only, records
each claim: ``claimed at - due at`` (a claim moves ``next_poll_ms`` a lease ahead).

    .venv/bin/python benchmarks/tasks_poller.py [--tasks 10000] [--seconds 40] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpu import group_cpu_seconds
from tasks_submit import OMNI_PORT, PG_PORT, SCRATCH, log, started, stop_on_sigterm

LEASE_MS = 60_000  # the default task lease (OMNIRELAY_TASK_LEASE_SECONDS)
PROCESSING = (
    '{"code":0,"message":"SUCCEED","request_id":"bench-poll",'
    '"data":{"task_id":"bench-task-0001","task_status":"processing"}}'
)
TRIGGER = f"""
CREATE TABLE bench_claims (lag_ms bigint NOT NULL, at_ms bigint NOT NULL);
CREATE FUNCTION bench_claimed() RETURNS trigger AS $$
BEGIN
  IF NEW.attempts = OLD.attempts + 1 THEN
    INSERT INTO bench_claims VALUES (NEW.next_poll_ms - {LEASE_MS} - OLD.next_poll_ms,
                                     NEW.next_poll_ms - {LEASE_MS});
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER bench_claimed AFTER UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION bench_claimed();
"""


async def seed(count: int, attempts: int, spread_ms: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{PG_PORT}/bench")
    try:
        await conn.execute(TRIGGER)
        now = int(time.time() * 1000)
        # Copies of the submitted task: same key, channel and upstream id; nothing reserved.
        await conn.execute(
            """
            INSERT INTO tasks (id, key_id, vendor, channel_id, upstream_id, action, model,
                               request, status, progress, price, reserved, created_ms,
                               updated_ms, next_poll_ms, attempts, user_id, user_held,
                               ratio_ppm, node_id)
            SELECT 'bench-' || g, t.key_id, t.vendor, t.channel_id, t.upstream_id, t.action,
                   t.model, t.request, 'queued', 0, 0, 0, $1, $1,
                   $1 + (g * $2::bigint / $3), $4, t.user_id, false, t.ratio_ppm, t.node_id
            FROM tasks t, generate_series(1, $3) AS g
            WHERE t.id = (SELECT id FROM tasks ORDER BY created_ms LIMIT 1)
            """,
            now,
            spread_ms,
            count,
            attempts,
        )
    finally:
        await conn.close()


async def figures(since_ms: int, until_ms: int) -> dict[str, float]:
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{PG_PORT}/bench")
    try:
        row = await conn.fetchrow(
            "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY lag_ms), max(lag_ms)"
            " FROM bench_claims WHERE at_ms BETWEEN $1 AND $2",
            since_ms,
            until_ms,
        )
        open_tasks = await conn.fetchval(
            "SELECT count(*) FROM tasks WHERE status IN ('queued', 'running', 'submitting')"
        )
        plan = await conn.fetch(
            "EXPLAIN SELECT id FROM tasks WHERE status IN ('submitting','queued','running',"
            "'waiting') AND next_poll_ms <= $1 ORDER BY next_poll_ms LIMIT 100",
            until_ms,
        )
    finally:
        await conn.close()
    assert row is not None
    seconds = (until_ms - since_ms) / 1000
    return {
        "polls": int(row[0]),
        "polls_per_s": round(int(row[0]) / seconds, 1),
        "lag_p50_ms": round(float(row[1] or 0), 1),
        "lag_p99_ms": round(float(row[2] or 0), 1),
        "lag_max_ms": int(row[3] or 0),
        "open_tasks": int(open_tasks),
        "claim_plan": " | ".join(r[0].strip() for r in plan[:3]),  # type: ignore[dict-item]
    }


def main() -> None:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--attempts", type=int, default=10, help="polls already made (30 s apart)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    args.database = "postgres"
    SCRATCH.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="tasks-poller-", dir=SCRATCH))
    tmp.chmod(0o755)
    with started(args, tmp, poll_answer=PROCESSING) as (key, gateway_pgid, pg):
        subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-H", f"Authorization: Bearer {key}", "-H",
             "Content-Type: application/json", "--data-binary", f"@{tmp / 'body-kling.json'}",
             f"http://127.0.0.1:{OMNI_PORT}/kling/v1/videos/image2video"],
            check=True,
        )
        asyncio.run(seed(args.tasks, args.attempts, 30_000))
        log(f"{args.tasks} tasks in flight; measuring {args.seconds:g} s")
        time.sleep(2)  # the first claims: skipped
        since = int(time.time() * 1000)
        cpu = group_cpu_seconds(gateway_pgid)
        cpu_pg = pg.cpu_seconds() if pg else 0.0
        time.sleep(args.seconds)
        cpu = group_cpu_seconds(gateway_pgid) - cpu
        cpu_pg = (pg.cpu_seconds() - cpu_pg) if pg else 0.0
        until = int(time.time() * 1000)
        found = asyncio.run(figures(since, until))
        polls = max(int(found["polls"]), 1)
        found["gateway_cpu_us_per_poll"] = round(cpu / polls * 1e6)
        found["postgres_cpu_us_per_poll"] = round(cpu_pg / polls * 1e6)
        found["gateway_cpu_percent"] = round(cpu / args.seconds * 100, 1)
    summary = {"tasks": args.tasks, "workers": args.workers, "seconds": args.seconds, **found}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
