"""The stacks section of the benchmark report (benchmarks/report.py): the bare pass-throughs on
other stacks beside today's ceiling (benchmarks/stack_choice.sh), and what each upstream client
does that the relay relies on (benchmarks/client_checks.py)."""

from __future__ import annotations

from typing import Any


def _f(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


STACK_LABELS = {
    "aiohttp-aiohttp": "aiohttp server + aiohttp client (today's ceiling, bare_proxy.py)",
    "aiohttp-pyreqwest": "aiohttp server + pyreqwest client (Rust)",
    "rsgi-aiohttp": "granian RSGI + aiohttp client",
    "rsgi-pyreqwest": "granian RSGI + pyreqwest client (Rust)",
    "granian-asgi-aiohttp": "granian ASGI + aiohttp client",
    "uvicorn-aiohttp": "uvicorn (uvloop, httptools) ASGI + aiohttp client",
    "uvicorn-httpx": "uvicorn ASGI + httpx client",
}


def _spread(values: list[float] | None) -> str:
    """A ratio over the rounds: the median, and the lowest and highest when there are several."""
    if not values:
        return "—"
    median = sorted(values)[len(values) // 2]
    if len(values) == 1:
        return f"{median:.2f}x"
    return f"{median:.2f}x ({min(values):.2f}-{max(values):.2f})"


def stacks_section(stacks: dict[str, Any] | None) -> list[str]:
    if not stacks:
        return []
    base = stacks.get("aiohttp-aiohttp", {})
    rounds = max(
        (len(kind.get("rounds", [])) for row in stacks.values() for kind in row.values()
         if isinstance(kind, dict)),
        default=1,
    ) or 1
    lines = [
        "## Raising the ceiling: bare pass-throughs on other stacks (64 connections)",
        "",
        "Same fake upstream, same workers; no gateway logic. vs ceiling = over the aiohttp",
        "pass-through in the same round, by req/s and by CPU per request (the ceiling's CPU over",
        f"the stack's); {rounds} round(s), each stack once a round in turn: the median, and the",
        "lowest and highest round in brackets. A move needs 1.30x or more in every round.",
        "",
        "| stack | JSON req/s | vs ceiling | by CPU | CPU/req µs | p99 ms | streams/s "
        "| vs ceiling | by CPU | CPU/stream µs | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in stacks.items():
        label = STACK_LABELS.get(name, name)
        if "skipped" in row:
            lines.append(f"| {label} | skipped: {row['skipped']} | | | | | | | | | |")
            continue
        j, e = row.get("json", {}), row.get("sse", {})
        # Before rounds existed: one pass, the ratio of the two figures.
        rj = j.get("vs_ceiling_rps") or [_ratio(j.get("rps"), base.get("json", {}).get("rps"))]
        re_ = e.get("vs_ceiling_rps") or [_ratio(e.get("rps"), base.get("sse", {}).get("rps"))]
        cj = j.get("vs_ceiling_cpu") or [
            _ratio(base.get("json", {}).get("cpu_us_per_request"), j.get("cpu_us_per_request"))
        ]
        ce = e.get("vs_ceiling_cpu") or [
            _ratio(base.get("sse", {}).get("cpu_us_per_request"), e.get("cpu_us_per_request"))
        ]
        errors = sum(sum(x.get("errors", {}).values()) for x in (j, e))
        lines.append(
            f"| {label} | {_f(j.get('rps'), 0)} | {_spread([x for x in rj if x])} | "
            f"{_spread([x for x in cj if x])} | {_f(j.get('cpu_us_per_request'), 0)}"
            f" | {_f(j.get('p99_ms'))} | {_f(e.get('rps'), 0)} | "
            f"{_spread([x for x in re_ if x])} | "
            f"{_spread([x for x in ce if x])} | {_f(e.get('cpu_us_per_request'), 0)} | {errors} |"
        )
    return lines


def client_checks_section(checks: dict[str, Any] | None) -> list[str]:
    """benchmarks/client_checks.py: what each upstream client does that the relay relies on."""
    if not checks:
        return []
    names = [name for name, rows in checks.items() if "skipped" not in rows]
    if not names:
        return []
    probes = list(checks[names[0]])
    lines = [
        "",
        "What each client does that the relay relies on (benchmarks/client_checks.py, against a",
        "socket server that sees every connection). A stack is moved to only if its client",
        "passes every check.",
        "",
        "| check | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for probe in probes:
        cells = []
        for name in names:
            row = checks[name].get(probe, {})
            cells.append(("pass" if row.get("ok") else "**FAIL**") + f": {row.get('detail', '')}")
        lines.append(f"| {probe} | " + " | ".join(cells) + " |")
    return lines
