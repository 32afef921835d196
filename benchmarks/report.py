"""Turns one run's raw files into the results: a markdown table, JSON and a PNG plot.

    python report.py RUN_DIR RESULTS_DIR STAMP "run notes"

Writes RESULTS_DIR/bench-STAMP.{md,json} and RESULTS_DIR/latest.{md,json,png}.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

from report_stacks import client_checks_section, stacks_section

TARGETS = [
    "direct",
    "nginx",
    "aiohttp",
    "omnirelay-sqlite",
    "omnirelay-postgres",
    "litellm",
    "portkey",
    "bifrost",
]
LABELS = {
    "direct": "direct (fake upstream)",
    "nginx": "nginx proxy hop",
    "aiohttp": "bare aiohttp pass-through (Python ceiling)",
    "omnirelay-sqlite": "omnirelay, SQLite",
    "omnirelay-postgres": "omnirelay, PostgreSQL",
    "litellm": "litellm proxy",
    "portkey": "Portkey gateway (Node, one process per worker via node:cluster)",
    "bifrost": "Bifrost (Go)",
}
OMNI = ["omnirelay-sqlite", "omnirelay-postgres"]
PEERS = ["litellm", "portkey", "bifrost"]
REFS = ["direct", "nginx", "aiohttp", *PEERS]


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _probe(path: Path) -> dict[str, float] | None:
    """p50/p99 of server time to first byte (start - pretransfer), in ms, and the total."""
    try:
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return None
    ttfb = sorted((float(r[1]) - float(r[0])) * 1000 for r in rows if len(r) == 3)
    total = sorted(float(r[2]) * 1000 for r in rows if len(r) == 3)
    if not ttfb:
        return None
    pick = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))]  # noqa: E731
    return {
        "n": len(ttfb),
        "ttfb_p50_ms": round(statistics.median(ttfb), 3),
        "ttfb_p99_ms": round(pick(ttfb, 0.99), 3),
        "ttfb_max_ms": round(ttfb[-1], 3),
        "total_p50_ms": round(statistics.median(total), 3),
        "total_p99_ms": round(pick(total, 0.99), 3),
    }


def _cpu_us_per_request(path: Path, requests: int) -> float | None:
    """CPU time the target used during the run, per request served (µs)."""
    try:
        before, after = (float(x) for x in path.read_text().split())
    except (OSError, ValueError):
        return None
    return round((after - before) * 1e6 / requests, 1) if requests else None


def _number(path: Path) -> float | None:
    try:
        return float(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _text(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def collect(run: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for target in TARGETS:
        d = run / target
        if not d.is_dir():
            continue
        entry: dict[str, Any] = {"scenarios": {}}
        for f in sorted(d.glob("*.json")):
            if f.name == "keys-after.json":
                continue
            data = _load(f)
            if isinstance(data, dict) and "rps" in data:
                data["errors_total"] = sum(data["errors"].values())
                cpu = _cpu_us_per_request(f.with_suffix(".cpu"), data["requests"])
                if cpu is not None:
                    data["cpu_us_per_request"] = cpu
                entry["scenarios"][f.stem] = data
        for name in ("probe-json-idle", "probe-sse-idle", "probe-sse-load", "probe-slow"):
            probe = _probe(d / f"{name}.txt")
            if probe:
                entry[name] = probe
        entry["rss_idle_mb"] = _number(d / "rss-idle.txt")
        entry["rss_idle_per_process_mb"] = _load(d / "rss-idle.txt.procs.json") or []
        entry["rss_slow_peak_mb"] = _number(d / "rss-slow.txt")
        for skipped in ("skipped.txt", "kling-skipped.txt"):
            if (d / skipped).exists():
                entry[skipped.removesuffix(".txt")] = (d / skipped).read_text().strip()
        keys = _load(d / "keys-after.json")
        if isinstance(keys, dict):
            entry["keys_after"] = [
                {k: row.get(k) for k in ("name", "quota_remaining_micro_usd", "spent_micro_usd")}
                for row in keys.get("data", [])
                if row.get("name") == "bench"
            ]
        results[target] = entry
    return results


def _s(results: dict[str, Any], target: str, scenario: str) -> dict[str, Any] | None:
    return results.get(target, {}).get("scenarios", {}).get(scenario)


def _f(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def conns_of(results: dict[str, Any]) -> list[int]:
    found = {
        int(name.removeprefix("chat-c"))
        for entry in results.values()
        for name in entry["scenarios"]
        if name.startswith("chat-c")
    }
    return sorted(found)


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for omni in OMNI:
        if omni not in results:
            continue
        r: dict[str, Any] = {}
        for c in conns_of(results):
            mine = _s(results, omni, f"chat-c{c}")
            if not mine:
                continue
            for ref in REFS:
                other = _s(results, ref, f"chat-c{c}")
                r[f"rps_c{c}_vs_{ref}"] = _ratio(mine["rps"], other["rps"] if other else None)
        mine64 = _s(results, omni, "chat-c64")
        for ref in ("aiohttp", *PEERS):
            other64 = _s(results, ref, "chat-c64")
            if mine64 and other64:
                # Above 1: omnirelay spends less CPU per request than the other.
                r[f"cpu_c64_vs_{ref}"] = _ratio(
                    other64.get("cpu_us_per_request"), mine64.get("cpu_us_per_request")
                )
        peer_ratios = [r[f"rps_c64_vs_{p}"] for p in PEERS if r.get(f"rps_c64_vs_{p}")]
        r["rps_c64_vs_best_peer"] = min(peer_ratios) if peer_ratios else None
        stream, ceiling = _s(results, omni, "stream-c64"), _s(results, "aiohttp", "stream-c64")
        if stream and ceiling:
            r["streams_c64_vs_aiohttp"] = _ratio(stream["rps"], ceiling["rps"])
        mine1, direct1 = _s(results, omni, "chat-c1"), _s(results, "direct", "chat-c1")
        if mine1 and direct1:
            r["added_p99_ms_c1"] = mine1["p99_ms"] - direct1["p99_ms"]
            r["added_p50_ms_c1"] = mine1["p50_ms"] - direct1["p50_ms"]
        for probe in ("probe-sse-idle", "probe-sse-load"):
            mine_p = results[omni].get(probe)
            direct_p = results.get("direct", {}).get(probe)
            if mine_p and direct_p:
                kind = probe.removeprefix("probe-sse-")
                r[f"added_ttfb_p99_ms_{kind}"] = mine_p["ttfb_p99_ms"] - direct_p["ttfb_p99_ms"]
                r[f"added_ttfb_p50_ms_{kind}"] = mine_p["ttfb_p50_ms"] - direct_p["ttfb_p50_ms"]
        r["rss_1000_streams_mb"] = results[omni].get("rss_slow_peak_mb")
        workers = [
            p["rss_mb"] for p in results[omni].get("rss_idle_per_process_mb", []) if p.get("worker")
        ]
        r["rss_idle_per_worker_mb"] = max(workers) if workers else None
        kling = _s(results, omni, "kling-c64")
        r["kling_submits_c64"] = kling["rps"] if kling else None
        out[omni] = r
    return out


def _chat_section(results: dict[str, Any], present: list[str]) -> list[str]:
    lines = [
        "## Non-streaming chat completions",
        "",
        "CPU/req = CPU time all of the target's processes used during the run, per request: it",
        "does not depend on what else the machine was doing.",
        "",
        "| target | conns | req/s | p50 | p99 | errors | CPU/req µs |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for t in present:
        if "skipped" in results[t]:
            lines.append(f"| {LABELS[t]} | — | skipped: {results[t]['skipped']} | | | |")
            continue
        for c in conns_of(results):
            s = _s(results, t, f"chat-c{c}")
            if s:
                lines.append(
                    f"| {LABELS[t]} | {c} | {_f(s['rps'], 0)} | {_f(s['p50_ms'])} | "
                    f"{_f(s['p99_ms'])} | {s['errors_total']} | "
                    f"{_f(s.get('cpu_us_per_request'), 0)} |"
                )
    return lines


def _stream_section(results: dict[str, Any], present: list[str]) -> list[str]:
    lines = [
        "## Streaming chat (~50 events) at 64 connections",
        "",
        "TTFB = server time to first byte, measured by a keep-alive curl probe: idle, and while",
        "wrk runs the 64 streams (its own connection on top of them).",
        "",
        "| target | streams/s | p50 (whole stream) | p99 | errors | CPU/stream µs | "
        "TTFB idle p50 / p99 | TTFB under load p50 / p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in present:
        s = _s(results, t, "stream-c64")
        if not s:
            continue
        idle, load = results[t].get("probe-sse-idle"), results[t].get("probe-sse-load")
        lines.append(
            f"| {LABELS[t]} | {_f(s['rps'], 0)} | {_f(s['p50_ms'])} | {_f(s['p99_ms'])} | "
            f"{s['errors_total']} | {_f(s.get('cpu_us_per_request'), 0)} | "
            f"{_f(idle and idle['ttfb_p50_ms'])} / {_f(idle and idle['ttfb_p99_ms'])} | "
            f"{_f(load and load['ttfb_p50_ms'])} / {_f(load and load['ttfb_p99_ms'])} |"
        )
    return lines


def _kling_section(results: dict[str, Any], present: list[str]) -> list[str]:
    lines = [
        "## Kling task submissions (image2video, the founding page's body) at 64 connections",
        "",
        "| target | submits/s | p50 | p99 | errors |",
        "|---|---:|---:|---:|---:|",
    ]
    for t in present:
        s = _s(results, t, "kling-c64")
        if s:
            lines.append(
                f"| {LABELS[t]} | {_f(s['rps'], 0)} | {_f(s['p50_ms'])} | {_f(s['p99_ms'])} | "
                f"{s['errors_total']} |"
            )
        elif "kling-skipped" in results[t]:
            lines.append(f"| {LABELS[t]} | skipped: {results[t]['kling-skipped']} | | | |")
    return lines


def _slow_section(results: dict[str, Any], present: list[str]) -> list[str]:
    lines = [
        "## 1,000 concurrent slow streams (~8 s each)",
        "",
        "RSS = all processes of the target (master and workers). The probes are five more slow",
        "streams, half a second apart, 3 s in: each first byte must come at once (no chunk held",
        "back), each end after ~8 s.",
        "",
        "| target | streams done/s | errors | RSS idle MB | peak RSS MB | "
        "probe TTFB p50 / max ms | probe total s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for t in present:
        slow = [v for k, v in results[t]["scenarios"].items() if k.startswith("slow-c")]
        if not slow:
            continue
        probe = results[t].get("probe-slow")
        idle, peak = results[t].get("rss_idle_mb"), results[t].get("rss_slow_peak_mb")
        lines.append(
            f"| {LABELS[t]} | {_f(slow[0]['rps'], 1)} | {slow[0]['errors_total']} | "
            f"{_f(idle, 0)} | {_f(peak, 0)} | {_f(probe and probe['ttfb_p50_ms'])} / "
            f"{_f(probe and probe['ttfb_max_ms'])} | {_f(probe and probe['total_p50_ms'] / 1000)} |"
        )
    return lines


def _ratio_section(results: dict[str, Any], rat: dict[str, Any]) -> list[str]:
    conns = conns_of(results)
    if not conns:
        return []
    lines = [
        "## Ratios (throughput, non-streaming chat)",
        "",
        "| omnirelay on | vs | " + " | ".join(f"c={c}" for c in conns) + " |",
        "|---|---|" + "---:|" * len(conns),
    ]
    for omni, r in rat.items():
        for ref in REFS:
            cells = [r.get(f"rps_c{c}_vs_{ref}") for c in conns]
            if any(x is not None for x in cells):
                label = {"aiohttp": "aiohttp ceiling", "nginx": "nginx hop"}.get(ref, ref)
                lines.append(
                    f"| {omni.split('-')[1]} | / {label} | "
                    + " | ".join("—" if x is None else f"{x:.3g}" for x in cells)
                    + " |"
                )
    return lines


# (goal, figure in ratios(), unit, how it passes: ">=" or "<=" the threshold, or None: shown).
Goal = tuple[str, str, str, str | None, float | None]
GOALS: list[Goal] = [
    ("64 conns >= 80% of the aiohttp ceiling (req/s)", "rps_c64_vs_aiohttp", "%", ">=", 0.8),
    ("same, by CPU per request (ceiling's / ours)", "cpu_c64_vs_aiohttp", "%", ">=", 0.8),
    ("64 conns ahead of every peer (slowest ratio)", "rps_c64_vs_best_peer", "x", ">=", 1.0),
    ("64 conns vs litellm", "rps_c64_vs_litellm", "x", ">=", 1.0),
    ("64 conns vs Portkey", "rps_c64_vs_portkey", "x", ">=", 1.0),
    ("64 conns vs Bifrost", "rps_c64_vs_bifrost", "x", ">=", 1.0),
    ("CPU/req vs litellm (theirs / ours)", "cpu_c64_vs_litellm", "x", None, None),
    ("CPU/req vs Portkey (theirs / ours)", "cpu_c64_vs_portkey", "x", None, None),
    ("CPU/req vs Bifrost (theirs / ours)", "cpu_c64_vs_bifrost", "x", None, None),
    ("64 conns vs the nginx hop (the limit)", "rps_c64_vs_nginx", "%", None, None),
    ("added p50 at 1 connection <= 0.25 ms", "added_p50_ms_c1", "ms", "<=", 0.25),
    ("added p99 at 1 connection <= 0.5 ms", "added_p99_ms_c1", "ms", "<=", 0.5),
    ("stream TTFB p50 within 0.5 ms of direct (idle)", "added_ttfb_p50_ms_idle", "ms", "<=", 0.5),
    ("stream TTFB p99 within 0.5 ms of direct (idle)", "added_ttfb_p99_ms_idle", "ms", "<=", 0.5),
    ("stream TTFB p99 over direct (under load)", "added_ttfb_p99_ms_load", "ms", None, None),
    ("streams/s at 64 >= 90% of the ceiling", "streams_c64_vs_aiohttp", "%", ">=", 0.9),
    ("1,000 slow streams < 200 MB RSS (all processes)", "rss_1000_streams_mb", "MB", "<=", 200.0),
    ("idle RSS per worker", "rss_idle_per_worker_mb", "MB", None, None),
    ("Kling submits/s at 64 connections", "kling_submits_c64", "/s", None, None),
]
# Goals of the run as a whole (not per omnirelay target): figure paths in the JSON document.
RUN_GOALS: list[Goal] = [
    ("tasks: >= 1,000 Kling submits/s on PostgreSQL at 64", "kling_pg_c64", "/s", ">=", 1000.0),
    ("poller: p99 lag < 1 s at 10,000 in flight", "poller_lag_p99_ms", "ms", "<=", 1000.0),
    ("poller: p50 lag at 10,000 in flight", "poller_lag_p50_ms", "ms", None, None),
    ("poller: CPU per poll beyond idle, a tenth in flight / all (1 = follows due)",
     "poller_cpu_ratio", "x",
     "<=", 1.5),
    ("poller: most upstream polls at once (bounded)", "poller_max_concurrent", "", None, None),
    ("usage + limits hot path, CPU µs per request", "hot_path_cpu_us", "µs", None, None),
    ("rate limiter (memory, all five limits), CPU µs per request", "limiter_memory_cpu_us", "µs",
     None, None),
    ("rate limiter (Redis, 64 in flight), CPU µs per request", "limiter_redis_cpu_us", "µs",
     None, None),
]


def _goal_cell(
    value: float | None, unit: str, op: str | None = None, target: float | None = None
) -> str:
    if value is None:
        return "—"
    if unit == "%":
        text = f"{value * 100:.0f}%"
    elif unit == "x":
        text = f"{value:.2f}x" if value < 10 else f"{value:.1f}x"
    elif unit == "ms":
        text = f"{value:.3f} ms" if abs(value) < 100 else f"{value:,.0f} ms"
    elif unit == "MB":
        text = f"{value:.0f} MB"
    elif unit in ("/s", "µs"):
        text = f"{value:,.1f} {unit}" if unit == "µs" else f"{value:,.0f}{unit}"
    else:
        text = f"{value:,.0f}"
    if op is None or target is None:
        return text
    met = value >= target if op == ">=" else value <= target
    return f"{text} {'met' if met else 'MISSED'}"


def _goal_section(rat: dict[str, Any], run_figures: dict[str, float | None]) -> list[str]:
    lines = ["## Goals", "", "| goal | " + " | ".join(rat) + " |", "|---|" + "---|" * len(rat)]
    for label, name, unit, op, target in GOALS:
        cells = [_goal_cell(r.get(name), unit, op, target) for r in rat.values()]
        if any(c != "—" for c in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "| goal (whole run) | figure |", "|---|---|"]
    in_flight = run_figures.get("poller_in_flight")
    for label, name, unit, op, target in RUN_GOALS:
        cell = _goal_cell(run_figures.get(name), unit, op, target)
        if name.startswith("poller_lag") and in_flight and in_flight != 10_000:
            cell += f" (at {in_flight:,.0f} in flight)"
        lines.append(f"| {label} | {cell} |")
    return lines


def run_figures(
    results: dict[str, Any], platform: dict[str, Any] | None, poller: dict[str, Any] | None
) -> dict[str, float | None]:
    """The run-wide goal figures, from the targets, the platform and the poller figures."""
    kling = _s(results, "omnirelay-postgres", "kling-c64")
    full = (poller or {}).get("all_in_flight", {})
    limiter = (platform or {}).get("limiter", {})
    return {
        "kling_pg_c64": kling["rps"] if kling else None,
        "poller_lag_p99_ms": full.get("lag_ms", {}).get("p99"),
        "poller_lag_p50_ms": full.get("lag_ms", {}).get("p50"),
        "poller_cpu_ratio": (poller or {}).get("cpu_per_poll_tenth_vs_all"),
        "poller_max_concurrent": full.get("max_concurrent_upstream_polls"),
        "poller_in_flight": full.get("in_flight"),
        "hot_path_cpu_us": (platform or {}).get("hot_path", {}).get("cpu_us"),
        "limiter_memory_cpu_us": limiter.get("memory", {}).get("cpu_us"),
        "limiter_redis_cpu_us": limiter.get("redis_64_in_flight", {}).get("cpu_us"),
    }


def _poller_section(poller: dict[str, Any] | None, skipped: str | None) -> list[str]:
    if skipped:
        return ["## The task poller", "", f"Skipped: {skipped}"]
    if not poller:
        return []
    submit = poller["submit"]
    lines = [
        f"## The task poller: {poller['tasks']:,} Kling tasks in flight on PostgreSQL",
        "",
        f"Submitted through the Kling API at {submit['concurrency']} concurrent requests: "
        f"{submit['rps']:,} submits/s (p50 {submit['p50_ms']} ms, p99 {submit['p99_ms']} ms, "
        f"errors {submit['errors'] or 0}). A fake vendor answers at once; every task is due "
        f"every {poller['poll_seconds']:g} s ({poller['due_per_s_expected']:,} due/s with all "
        "in flight). Lag = the poll's arrival at the vendor minus the due time the gateway "
        "wrote in the tasks table."
        + (
            f" **Submitting was capped after {submit['seconds']} s: {poller['tasks']:,} of "
            f"{submit.get('asked', poller['tasks']):,} tasks in flight.**"
            if submit.get("capped")
            else ""
        ),
        "",
        "| in flight | polls/s | lag p50 ms | lag p99 ms | lag max ms | gateway CPU s/s | "
        "CPU ms/poll | beyond idle, ms/poll | most polls at once |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key in ("all_in_flight", "tenth_in_flight"):
        w = poller.get(key)
        if not w:
            continue
        lag = w.get("lag_ms", {})
        lines.append(
            f"| {w['in_flight']:,} | {_f(w['polls_per_s'], 0)} | {_f(lag.get('p50'), 0)} | "
            f"{_f(lag.get('p99'), 0)} | {_f(lag.get('max'), 0)} | "
            f"{_f(w.get('gateway_cpu_s_per_s'))} | {_f(w.get('gateway_cpu_ms_per_poll'), 3)} | "
            f"{_f(w.get('gateway_cpu_ms_per_poll_net'), 3)} | "
            f"{w['max_concurrent_upstream_polls']} |"
        )
    idle = poller.get("idle_gateway_cpu_s_per_s")
    if idle is not None:
        lines += [
            "",
            f"With nothing in flight the gateway used {idle:.3f} CPU s/s (heartbeats, reloads, key "
            "refreshes, the poller's idle claims): \"beyond idle\" is the CPU per poll above that, "
            "the part that must follow the due tasks.",
        ]
    drained = poller.get("tenth_in_flight", {}).get("drained_after_s")
    if drained is not None:
        lines += [
            "",
            f"The second row was measured {drained} s after the vendor began failing nine "
            "tasks in ten (the wait ends when they are gone, or after a minute)"
            + (
                "."
                if poller["tenth_in_flight"].get("drained", True)
                else ": they were not all gone (the poller was behind), so the two rows do not "
                "compare and the CPU-per-poll ratio is not given."
            ),
        ]
    return lines


def _profile_section(profile: dict[str, Any] | None, skipped: str | None) -> list[str]:
    if skipped:
        return ["## Where the time goes", "", f"Skipped: {skipped}"]
    if not profile:
        return []
    lines = [
        "## Where the time goes (one omnirelay worker, 64 connections)",
        "",
        f"py-spy, {profile['samples']:,} samples of one worker ({profile['what']}); "
        "self time by package, by module, then the top functions. The event loop itself is "
        "compiled (uvloop), so its own time shows as the frame that runs it (`_run_worker`).",
        "",
        "| package | self % | module | self % |",
        "|---|---:|---|---:|",
    ]
    packages, modules = profile.get("packages", []), profile["modules"]
    for i in range(min(15, max(len(packages), len(modules)))):
        p = packages[i] if i < len(packages) else ("", None)
        m = modules[i] if i < len(modules) else ("", None)
        lines.append(f"| {p[0]} | {_f(p[1], 1)} | {m[0]} | {_f(m[1], 1)} |")
    lines += ["", "| function (self) | self % |", "|---|---:|"]
    lines += [f"| `{fn}` | {pct:.1f} |" for fn, pct in profile["functions"][:15]]
    return lines


def _platform_section(platform: dict[str, Any] | None) -> list[str]:
    if not platform:
        return []
    limiter = platform.get("limiter", {})
    labels = {
        "no_limits": "a key without limits (the check that skips it)",
        "memory_rpm_only": "memory: requests per minute on the key",
        "memory": "memory: key and user, all five kinds of limit",
        "redis_sequential": "Redis: key and user, all five, one request at a time",
        "redis_64_in_flight": "Redis: key and user, all five, 64 requests in flight",
        "redis_rpm_only_64_in_flight": "Redis: requests per minute, 64 in flight",
    }
    lines = [
        "## Platform: the rate limiter on the hot path, the usage log at scale",
        "",
        "Admission and settlement of one request (CPU of the gateway's process; wall includes",
        "the loopback round trip to Redis, shared by the requests of one pipeline).",
        "",
        "| limiter | CPU µs/request | wall µs/request |",
        "|---|---:|---:|",
    ]
    for name, label in labels.items():
        row = limiter.get(name)
        if row:
            lines.append(f"| {label} | {_f(row['cpu_us'])} | {_f(row['wall_us'])} |")
    hot = platform.get("hot_path")
    if hot:
        lines += ["", f"Auth (cached key) + limits + a hold on the user's quota lease, settled: "
                  f"{_f(hot['cpu_us'])} µs CPU per request."]
    hold = platform.get("flush_hold")
    if hold:
        one, many = hold.get("keys_1", {}), hold.get("keys_50", {})
        lines += [
            "",
            f"A usage flush of {hold['records']:,} records on SQLite, written by its thread while "
            "another thread runs Python: the write lock (shared by every worker) is held "
            f"{_f(one.get('median_ms'))} ms (max {_f(one.get('max_ms'))}) for one key, "
            f"{_f(many.get('median_ms'))} ms (max {_f(many.get('max_ms'))}) for 50 keys, "
            f"25 users and {many.get('rollup_rows')} rollup rows.",
        ]
    wake = platform.get("flush_wake")
    if wake:
        quiet, busy = wake.get("quiet", {}), wake.get("busy", {})
        lines += [
            "",
            f"The same thread writing a flush of {wake['records']:,} records while the main "
            f"thread sleeps {_f(wake['idle_sleep_ms'])} ms at a time, as an idle event loop does: "
            "it wakes late by at most "
            f"{_f(quiet.get('worst_late_ms_median'))} ms (max {_f(quiet.get('worst_late_ms_max'))})"
            f" with a quiet node's statements of {quiet.get('rows_per_statement')} rows, "
            f"{_f(busy.get('worst_late_ms_median'))} ms (max {_f(busy.get('worst_late_ms_max'))}) "
            f"with a busy node's {busy.get('rows_per_statement')} (binding a statement's values "
            "holds the GIL).",
        ]
    usage = platform.get("usage", {})
    for backend in ("sqlite", "postgres"):
        figures = usage.get(backend)
        if not figures:
            continue
        lines += [
            "",
            f"Usage queries on {usage['rows']:,} records, {backend} ({usage['keys']} keys, "
            f"{usage['models']} models, {usage['days']} days; {usage['rollup_rows']:,} hourly "
            f"rollup rows; loaded in {usage.get(backend + '_load_s')} s):",
            "",
            "| query | median ms | max ms |",
            "|---|---:|---:|",
        ]
        for name, row in figures.items():
            if "median_ms" in row:
                lines.append(f"| {name} | {_f(row['median_ms'])} | {_f(row['max_ms'])} |")
            else:
                lines.append(f"| {name} ({row['rows']:,} rows) | {row['rows_per_s']:,} rows/s | |")
    return lines


def _skipped_peers(results: dict[str, Any]) -> list[str]:
    lines = [f"- {LABELS[p]}: skipped: {results[p]['skipped']}" for p in PEERS
             if "skipped" in results.get(p, {})]
    return ["## Peers skipped", "", *lines] if lines else []


def markdown(
    results: dict[str, Any],
    rat: dict[str, Any],
    stamp: str,
    notes: str,
    extras: dict[str, Any] | None = None,
) -> str:
    extras = extras or {}
    platform = extras.get("platform")
    present = [t for t in TARGETS if t in results]
    lines = [
        f"# Benchmark results — {stamp}",
        "",
        f"Run: {notes}. Latencies in ms; errors = connect+read+write+timeout+non-2xx.",
        "Every target runs with the same number of workers. omnirelay has auth (a key with a",
        "quota), routing, billing and usage records on.",
        "",
    ]
    sections = [
        _chat_section(results, present),
        _stream_section(results, present),
        _kling_section(results, present),
        _slow_section(results, present),
    ]
    sections.append(_skipped_peers(results))
    if rat:
        sections += [_ratio_section(results, rat), _goal_section(rat, extras.get("figures", {}))]
    sections.append(
        stacks_section(extras.get("stacks")) + client_checks_section(extras.get("client_checks"))
    )
    sections.append(_poller_section(extras.get("poller"), extras.get("poller_skipped")))
    sections.append(_platform_section(platform))
    sections.append(_profile_section(extras.get("profile"), extras.get("profile_skipped")))
    for section in sections:
        lines += [*section, ""]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for t in TARGETS:
        if t not in results:
            continue
        xs, rps, p99 = [], [], []
        for c in conns_of(results):
            s = _s(results, t, f"chat-c{c}")
            if s:
                xs.append(c)
                rps.append(s["rps"])
                p99.append(s["p99_ms"])
        if xs:
            ax1.plot(xs, rps, marker="o", label=LABELS[t])
            ax2.plot(xs, p99, marker="o", label=LABELS[t])
    for ax, title, unit in ((ax1, "throughput", "requests/s"), (ax2, "p99 latency", "ms")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("connections")
        ax.set_ylabel(unit)
        ax.set_title(f"Non-streaming chat: {title}")
        ax.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


README_START, README_END = "<!-- bench:latest -->", "<!-- /bench:latest -->"


def update_readme(
    readme: Path,
    results: dict[str, Any],
    rat: dict[str, Any],
    figures: dict[str, float | None],
    stamp: str,
) -> None:
    """Puts the run's throughput table and goals between the README's bench markers."""
    try:
        text = readme.read_text()
    except OSError:
        return
    if README_START not in text or README_END not in text:
        return
    present = [t for t in TARGETS if t in results]
    block = [README_START, "", f"Run {stamp}, 64 connections, non-streaming chat:", ""]
    block += ["| target | req/s | p99 ms | CPU/req µs |", "|---|---:|---:|---:|"]
    for t in present:
        s = _s(results, t, "chat-c64")
        if s:
            block.append(
                f"| {LABELS[t]} | {_f(s['rps'], 0)} | {_f(s['p99_ms'])} | "
                f"{_f(s.get('cpu_us_per_request'), 0)} |"
            )
        elif "skipped" in results[t]:
            block.append(f"| {LABELS[t]} | skipped (see latest.md) | | |")
    block += ["", *_goal_section(rat, figures)[2:], "", README_END]
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    readme.write_text(head + "\n".join(block) + tail)


def main() -> None:
    run, out, stamp, notes = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    results = collect(run)
    rat = ratios(results)
    platform = _load(run / "platform" / "figures.json")
    platform = platform if isinstance(platform, dict) else None
    poller = _load(run / "poller" / "figures.json")
    poller = poller if isinstance(poller, dict) else None
    profile = _load(run / "profile" / "summary.json")
    profile = profile if isinstance(profile, dict) else None
    stacks = _load(run / "stacks" / "stacks.json")
    stacks = stacks if isinstance(stacks, dict) else None
    checks = _load(run / "stacks" / "client_checks.json")
    checks = checks if isinstance(checks, dict) else None
    figures = run_figures(results, platform, poller)
    extras = {
        "stacks": stacks,
        "client_checks": checks,
        "platform": platform,
        "poller": poller,
        "poller_skipped": _text(run / "poller" / "skipped.txt"),
        "profile": profile,
        "profile_skipped": _text(run / "profile" / "skipped.txt"),
        "figures": figures,
    }
    document = {
        "stamp": stamp,
        "notes": notes,
        "targets": results,
        "ratios": rat,
        "goals": figures,
        "platform": platform,
        "poller": poller,
        "stacks": stacks,
        "client_checks": checks,
        "profile": profile,
    }
    md = markdown(results, rat, stamp, notes, extras)
    if len(sys.argv) > 5:
        update_readme(Path(sys.argv[5]), results, rat, figures, stamp)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"bench-{stamp}.json").write_text(json.dumps(document, indent=1) + "\n")
    (out / f"bench-{stamp}.md").write_text(md)
    shutil.copyfile(out / f"bench-{stamp}.json", out / "latest.json")
    shutil.copyfile(out / f"bench-{stamp}.md", out / "latest.md")
    try:
        plot(results, out / "latest.png")
    except ImportError:
        print("matplotlib is missing: no plot (pip install -e '.[bench]')", file=sys.stderr)
    print(md)


if __name__ == "__main__":
    main()
