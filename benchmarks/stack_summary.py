"""Summarises benchmarks/stack_choice.sh's rounds into OUT/stacks.json (and prints it).

    python3 stack_summary.py OUT ROUNDS STACK...

Per stack and kind (json, sse): the median round's wrk figures, the CPU per request (median of
the rounds), and every round's figures. Each ratio to the ceiling (the aiohttp pass-through,
``aiohttp-aiohttp``) is taken within its round, by requests/s and by CPU per request, so a
round the whole machine was slower in moves both sides alike.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

CEILING = "aiohttp-aiohttp"
KINDS = ("json", "sse")


def _round(out: Path, stack: str, kind: str, index: int) -> dict[str, Any] | None:
    try:
        name = f"{stack}-{kind}-r{index}"
        found: dict[str, Any] = json.loads((out / f"{name}.json").read_text())
        before, after = (float(x) for x in (out / f"{name}.cpu").read_text().split())
    except (OSError, ValueError):
        return None
    requests = found.get("requests") or 0
    found["cpu_us_per_request"] = round((after - before) * 1e6 / requests, 1) if requests else None
    return found


def summarise(out: Path, rounds: int, stacks: list[str]) -> dict[str, Any]:
    measured = {
        (stack, kind, i): _round(out, stack, kind, i)
        for stack in stacks
        for kind in KINDS
        for i in range(1, rounds + 1)
    }
    rows: dict[str, Any] = {}
    for stack in stacks:
        skipped = out / f"{stack}.skipped"
        if skipped.exists():
            rows[stack] = {"skipped": skipped.read_text().strip()}
            continue
        row: dict[str, Any] = {}
        for kind in KINDS:
            done = [(i, r) for i in range(1, rounds + 1) if (r := measured[stack, kind, i])]
            if not done:
                continue
            by_rps = sorted(done, key=lambda item: item[1]["rps"])
            median = dict(by_rps[len(by_rps) // 2][1])
            cpus = [r["cpu_us_per_request"] for _, r in done if r["cpu_us_per_request"]]
            median["cpu_us_per_request"] = round(statistics.median(cpus), 1) if cpus else None
            median["rounds"] = [
                {"round": i, "rps": r["rps"], "cpu_us_per_request": r["cpu_us_per_request"]}
                for i, r in done
            ]
            vs_rps, vs_cpu = [], []
            for i, r in done:
                base = measured[CEILING, kind, i]
                if base and base["rps"] and r["rps"]:
                    vs_rps.append(round(r["rps"] / base["rps"], 3))
                if base and base["cpu_us_per_request"] and r["cpu_us_per_request"]:
                    vs_cpu.append(round(base["cpu_us_per_request"] / r["cpu_us_per_request"], 3))
            median["vs_ceiling_rps"] = vs_rps
            median["vs_ceiling_cpu"] = vs_cpu
            row[kind] = median
        rows[stack] = row
    return rows


def main() -> None:
    out, rounds, stacks = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    rows = summarise(out, rounds, stacks)
    (out / "stacks.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
