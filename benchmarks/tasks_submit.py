"""Kling submits per second on omnirelay, and what each submit costs the database.

Self-contained (it does not need ``run.sh``): writes the fixtures, starts the nginx fake upstream,
a PostgreSQL cluster (server defaults: fsync and synchronous_commit on) or a SQLite file, and
``omnirelay serve`` with N workers, then drives the founding page's image2video body with wrk.
Besides submits/s and latency it reports CPU per submit (gateway processes and PostgreSQL
separately) and PostgreSQL's commits and rollbacks per submit from ``pg_stat_database``, which
counts every transaction of the run (submits, the poller settling what it polls, leases...).

The fake upstream accepts every submit at once and answers 404 to its polls, so each task is
failed and refunded by the poller about two seconds after it was submitted: the settling load
runs alongside, as in production.

    .venv/bin/python benchmarks/tasks_submit.py [--database postgres|sqlite] [--duration 10]
        [--connections 64] [--workers 2] [--repeat 3] [--json OUT]

Ports 38080 (upstream), 38100 (gateway) and 38432 (PostgreSQL), away from ``make bench``'s
(``BENCH_PORT_BASE=N`` moves them to N+80, N+100, N+432).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
VENV = ROOT / ".venv" / "bin"
# BENCH_PORT_BASE moves every port at once, as in run.sh (runs side by side must not collide).
PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "38000"))
UPSTREAM_PORT, OMNI_PORT, PG_PORT = PORT_BASE + 80, PORT_BASE + 100, PORT_BASE + 432
# Where a run's scratch directory goes (BENCH_RESULTS, as in run.sh).
SCRATCH = Path(os.environ.get("BENCH_RESULTS", str(ROOT / "benchmarks" / "results"))) / "tmp"
ADMIN_KEY = "sk-or-bench-admin-0123456789"
sys.path.insert(0, str(BENCH))

from cpu import group_cpu_seconds  # noqa: E402


def log(message: str) -> None:
    print(f"[tasks-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {url}") from None
            time.sleep(0.3)


class Postgres:
    def __init__(self, root: Path) -> None:
        found = shutil.which("initdb") or sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]
        self.bindir = Path(found).resolve().parent
        self.root = root
        self.data = root / "data"
        self.user = "postgres" if os.geteuid() == 0 else None

    def run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.user:
            shutil.chown(self.root, self.user, self.user)
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        options = f"-p {PG_PORT} -k {self.root} -c listen_addresses=127.0.0.1"
        options += " -c max_connections=300"
        log_file = str(self.root / "log")
        self.run("pg_ctl", "-D", str(self.data), "-l", log_file, "-w", "-o", options, "start")
        self.run("createdb", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "bench")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "stop")

    def cpu_seconds(self) -> float:
        """CPU used so far by the server: the postmaster, its live children (each in a process
        group of its own) and, through the postmaster's counters, those that have exited."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        ticks = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if int(entry) == postmaster:
                    ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
                elif int(fields[1]) == postmaster:
                    ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def stats(self, since_ms: int = 0) -> dict[str, int]:
        import asyncpg  # the gateway's own driver, from .venv

        async def read() -> dict[str, int]:
            conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{PG_PORT}/bench")
            try:
                row = await conn.fetchrow(
                    "SELECT xact_commit, xact_rollback, sessions FROM pg_stat_database "
                    "WHERE datname = 'bench'"
                )
                wal = await conn.fetchval("SELECT wal_sync FROM pg_stat_wal")
                tasks = await conn.fetchval("SELECT count(*) FROM tasks")
                settled = await conn.fetchval(
                    "SELECT count(*) FROM tasks WHERE settlement IS NOT NULL"
                )
                # A claim moves next_poll_ms a lease (60 s) ahead; a task is due 2 s after it
                # was accepted: claimed - created - 2 s is the lag between due and polled, plus
                # the submit's own latency (an upper bound).
                lag = await conn.fetchrow(
                    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY l),"
                    " percentile_cont(0.99) WITHIN GROUP (ORDER BY l), count(*) FROM"
                    " (SELECT next_poll_ms - 60000 - created_ms - 2000 AS l FROM tasks"
                    "  WHERE settlement IS NOT NULL AND created_ms > $1) AS s",
                    since_ms,
                )
            finally:
                await conn.close()
            assert row is not None
            return {
                "commits": int(row[0]),
                "rollbacks": int(row[1]),
                "sessions": int(row[2]),
                "wal_syncs": int(wal or 0),
                "tasks": int(tasks),
                "settled": int(settled),
                "lag_p50_ms": int(lag[0] or 0),
                "lag_p99_ms": int(lag[1] or 0),
            }

        # Statistics are flushed by backends at most once a second (pg_stat_force_next_flush
        # exists only for the calling session): wait for them to settle.
        time.sleep(1.2)
        return asyncio.run(read())


@contextlib.contextmanager
def started(
    args: argparse.Namespace, tmp: Path, poll_answer: str | None = None
) -> Iterator[tuple[str, int, Postgres | None]]:
    """The stack; with ``poll_answer`` the fake upstream answers every task query with it
    (instead of 404)."""
    env = dict(os.environ, BENCH_UPSTREAM_PORT=str(UPSTREAM_PORT))
    env["BENCH_PROXY_PORT"] = str(PORT_BASE + 81)
    env["BENCH_WORKERS"] = str(args.workers)
    subprocess.run([sys.executable, str(BENCH / "fixtures.py"), str(tmp)], check=True, env=env)
    if poll_answer is not None:
        conf = tmp / "nginx-upstream.conf"
        location = (
            "location ^~ /kling/v1/videos/image2video/ {\n"
            f"      default_type application/json; return 200 '{poll_answer}';\n    }}\n"
            "    location = /healthz"
        )
        conf.write_text(conf.read_text().replace("location = /healthz", location, 1))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    subprocess.run([nginx, "-c", str(tmp / "nginx-upstream.conf")], check=True)
    pg: Postgres | None = None
    gateway: subprocess.Popen[bytes] | None = None
    try:
        wait_http(f"http://127.0.0.1:{UPSTREAM_PORT}/healthz")
        if args.database == "postgres":
            pg = Postgres(tmp / "pg")
            pg.start()
            url = f"postgresql+asyncpg://postgres@127.0.0.1:{PG_PORT}/bench"
        else:
            url = f"sqlite+aiosqlite:///{tmp}/data/omnirelay.db"
        env = dict(
            os.environ,
            OMNIRELAY_DATA_DIR=str(tmp / "data"),
            OMNIRELAY_ADMIN_KEY=ADMIN_KEY,
            OMNIRELAY_DATABASE_URL=url,
        )
        config = str(tmp / "omnirelay.toml")
        made = subprocess.run(
            [str(VENV / "omnirelay"), "keys", "create", "--config", config, "--name", "bench",
             "--quota", "1000000"],
            check=True, env=env, capture_output=True, text=True,
        )
        key = made.stdout.strip().splitlines()[-1]
        with open(tmp / "gateway.log", "wb") as out:
            gateway = subprocess.Popen(
                [str(VENV / "omnirelay"), "serve", "--config", config, "--workers",
                 str(args.workers), "--port", str(OMNI_PORT)],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_http(f"http://127.0.0.1:{OMNI_PORT}/healthz")
        yield key, gateway.pid, pg
    finally:
        if gateway is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(gateway.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                gateway.wait(20)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(gateway.pid, signal.SIGKILL)
        if pg is not None:
            pg.stop()
        subprocess.run([nginx, "-c", str(tmp / "nginx-upstream.conf"), "-s", "stop"], check=False)


def wrk(tmp: Path, key: str, connections: int, seconds: float, out: Path) -> None:
    env = dict(
        os.environ, BENCH_BODY=str(tmp / "body-kling.json"), BENCH_AUTH=key, BENCH_OUT=str(out)
    )
    subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "30s",
         "-s", str(BENCH / "wrk" / "post.lua"),
         f"http://127.0.0.1:{OMNI_PORT}/kling/v1/videos/image2video"],
        check=True, env=env, capture_output=True,
    )


def profile(tmp: Path, pgid: int, seconds: float) -> list[subprocess.Popen[bytes]]:
    """py-spy (from the bench extra) on every worker of the gateway: collapsed stacks."""
    workers = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and int(entry) != pgid:
                    workers.append(int(entry))
    return [
        subprocess.Popen(
            # --gil: samples only while Python runs (CPU), not while it waits.
            [str(VENV / "py-spy"), "record", "--gil", "-p", str(pid), "-d", str(int(seconds)),
             "-r", "200", "-f", "raw", "-o", str(tmp / f"profile-{pid}.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for pid in workers
    ]


def stop_on_sigterm() -> None:
    """``timeout`` and friends send SIGTERM: stop as on Ctrl-C, tearing the stack down."""

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def main() -> None:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--hold", type=float, default=0, help="only start the stack, print the key, wait this long"
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's directory and logs")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy each worker during the first run"
    )
    args = parser.parse_args()
    SCRATCH.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="tasks-bench-", dir=SCRATCH))
    tmp.chmod(0o755)  # PostgreSQL runs as its own user (when we are root)
    runs: list[dict[str, object]] = []
    with started(args, tmp) as (key, gateway_pgid, pg):
        probe = subprocess.run(
            ["curl", "-s", "-H", f"Authorization: Bearer {key}", "-H",
             "Content-Type: application/json", "--data-binary", f"@{tmp / 'body-kling.json'}",
             f"http://127.0.0.1:{OMNI_PORT}/kling/v1/videos/image2video"],
            capture_output=True, text=True, check=True,
        )
        log(f"probe: {probe.stdout[:200]}")
        if args.hold:
            log(f"holding {args.hold:g} s: key {key}, gateway group {gateway_pgid}, dir {tmp}")
            time.sleep(args.hold)
            return
        wrk(tmp, key, args.connections, args.warmup, tmp / "warmup.json")
        for i in range(args.repeat):
            before = pg.stats() if pg else {}
            started_ms = int(time.time() * 1000)
            cpu_gw = group_cpu_seconds(gateway_pgid)
            cpu_pg = pg.cpu_seconds() if pg else 0.0
            out = tmp / f"run{i}.json"
            spies = profile(tmp, gateway_pgid, args.duration) if args.profile and i == 0 else []
            wrk(tmp, key, args.connections, args.duration, out)
            for spy in spies:
                spy.wait()
            cpu_gw = group_cpu_seconds(gateway_pgid) - cpu_gw
            cpu_pg = (pg.cpu_seconds() - cpu_pg) if pg else 0.0
            after = pg.stats(started_ms) if pg else {}
            result = json.loads(out.read_text())
            n = max(int(result["requests"]), 1)
            errors = sum(result["errors"].values())
            figures: dict[str, object] = {
                "submits_per_s": round(result["rps"], 1),
                "p50_ms": result["p50_ms"],
                "p99_ms": result["p99_ms"],
                "errors": errors,
                "gateway_cpu_us_per_submit": round(cpu_gw / n * 1e6),
                "postgres_cpu_us_per_submit": round(cpu_pg / n * 1e6),
            }
            if pg:
                figures["connections_opened"] = after["sessions"] - before["sessions"]
                for name in ("commits", "rollbacks", "wal_syncs"):
                    figures[f"{name}_per_submit"] = round((after[name] - before[name]) / n, 2)
                figures["tasks_created"] = after["tasks"] - before["tasks"]
                figures["tasks_settled"] = after["settled"] - before["settled"]
                figures["poll_lag_p50_ms"] = after["lag_p50_ms"]
                figures["poll_lag_p99_ms"] = after["lag_p99_ms"]
            runs.append(figures)
            log(f"run {i + 1}: {json.dumps(figures)}")
    summary = {"database": args.database, "workers": args.workers,
               "connections": args.connections, "duration": args.duration, "runs": runs}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    if args.keep or args.profile:
        log(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
