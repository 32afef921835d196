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

TARGETS = ["direct", "nginx", "aiohttp", "omnirelay-sqlite", "omnirelay-postgres", "litellm"]
LABELS = {
    "direct": "direct (fake upstream)",
    "nginx": "nginx proxy hop",
    "aiohttp": "bare aiohttp pass-through (Python ceiling)",
    "omnirelay-sqlite": "omnirelay, SQLite",
    "omnirelay-postgres": "omnirelay, PostgreSQL",
    "litellm": "litellm proxy",
}
OMNI = ["omnirelay-sqlite", "omnirelay-postgres"]


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
            for ref in ("direct", "nginx", "aiohttp", "litellm"):
                other = _s(results, ref, f"chat-c{c}")
                r[f"rps_c{c}_vs_{ref}"] = _ratio(mine["rps"], other["rps"] if other else None)
        mine64, ceiling64 = _s(results, omni, "chat-c64"), _s(results, "aiohttp", "chat-c64")
        if mine64 and ceiling64 and "cpu_us_per_request" in mine64 | ceiling64:
            r["cpu_c64_vs_aiohttp"] = _ratio(
                ceiling64.get("cpu_us_per_request"), mine64.get("cpu_us_per_request")
            )
        mine1, direct1 = _s(results, omni, "chat-c1"), _s(results, "direct", "chat-c1")
        if mine1 and direct1:
            r["added_p99_ms_c1"] = mine1["p99_ms"] - direct1["p99_ms"]
            r["added_p50_ms_c1"] = mine1["p50_ms"] - direct1["p50_ms"]
        for probe in ("probe-sse-idle", "probe-sse-load"):
            mine_p = results[omni].get(probe)
            direct_p = results.get("direct", {}).get(probe)
            if mine_p and direct_p:
                r[f"added_ttfb_p99_ms_{probe.removeprefix('probe-sse-')}"] = (
                    mine_p["ttfb_p99_ms"] - direct_p["ttfb_p99_ms"]
                )
        r["rss_1000_streams_mb"] = results[omni].get("rss_slow_peak_mb")
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
        "RSS = all processes of the target (master and workers). The probe is one more slow",
        "stream: its first byte must come at once (no chunk held back), its end after ~8 s.",
        "",
        "| target | streams done/s | errors | RSS idle MB | peak RSS MB | probe TTFB ms | "
        "probe total s |",
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
            f"{_f(idle, 0)} | {_f(peak, 0)} | {_f(probe and probe['ttfb_p50_ms'])} | "
            f"{_f(probe and probe['total_p50_ms'] / 1000)} |"
        )
    return lines


def _ratio_section(results: dict[str, Any], rat: dict[str, Any]) -> list[str]:
    conns = conns_of(results)
    lines = [
        "## Ratios (throughput, non-streaming chat)",
        "",
        "| omnirelay on | vs | " + " | ".join(f"c={c}" for c in conns) + " |",
        "|---|---|" + "---:|" * len(conns),
    ]
    for omni, r in rat.items():
        for ref in ("direct", "nginx", "aiohttp", "litellm"):
            cells = [r.get(f"rps_c{c}_vs_{ref}") for c in conns]
            if any(x is not None for x in cells):
                label = {"aiohttp": "aiohttp ceiling"}.get(ref, ref)
                lines.append(
                    f"| {omni.split('-')[1]} | / {label} | "
                    + " | ".join("—" if x is None else f"{x:.3g}" for x in cells)
                    + " |"
                )
    return lines


GOALS: list[tuple[str, str, str]] = [
    ("added p99 at 1 connection <= 1 ms", "added_p99_ms_c1", "ms"),
    ("64 conns >= 10x litellm", "rps_c64_vs_litellm", "x"),
    ("64 conns >= 70% of the aiohttp ceiling", "rps_c64_vs_aiohttp", "%"),
    ("same, by CPU per request (ceiling's / ours)", "cpu_c64_vs_aiohttp", "%"),
    ("64 conns vs the nginx hop (the limit)", "rps_c64_vs_nginx", "%"),
    ("stream TTFB p99 within 1 ms of direct (idle)", "added_ttfb_p99_ms_idle", "ms"),
    ("stream TTFB p99 within 1 ms of direct (under load)", "added_ttfb_p99_ms_load", "ms"),
    ("1,000 streams < 300 MB RSS", "rss_1000_streams_mb", "MB"),
]


def _goal_cell(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "%":
        return f"{value * 100:.0f}%"
    if unit == "x":
        return f"{value:.1f}x"
    return f"{value:.3f} ms" if unit == "ms" else f"{value:.0f} MB"


def _goal_section(rat: dict[str, Any]) -> list[str]:
    lines = ["## Goals", "", "| goal | " + " | ".join(rat) + " |", "|---|" + "---|" * len(rat)]
    for label, name, unit in GOALS:
        cells = [_goal_cell(r.get(name), unit) for r in rat.values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
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


def markdown(
    results: dict[str, Any],
    rat: dict[str, Any],
    stamp: str,
    notes: str,
    platform: dict[str, Any] | None = None,
) -> str:
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
    if rat:
        sections += [_ratio_section(results, rat), _goal_section(rat)]
    sections.append(_platform_section(platform))
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


def main() -> None:
    run, out, stamp, notes = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    results = collect(run)
    rat = ratios(results)
    platform = _load(run / "platform" / "figures.json")
    document = {
        "stamp": stamp, "notes": notes, "targets": results, "ratios": rat, "platform": platform
    }
    md = markdown(results, rat, stamp, notes, platform if isinstance(platform, dict) else None)
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
