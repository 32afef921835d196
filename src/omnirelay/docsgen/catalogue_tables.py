"""Model and price lists from the built-in catalogue (``catalogue.toml``).

These are the prices a fresh gateway starts with; an operator re-prices in the database, so
the pages say that ``GET /v1/models`` and the operator's price list are what count.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

_PRICE_WORDS: Mapping[str, str] = {
    "input": "input {} / 1M tokens",
    "output": "output {} / 1M tokens",
    "cache_read": "cached input {} / 1M",
    "cache_write": "cache write {} / 1M",
    "cache_write_1h": "1-hour cache write {} / 1M",
    "per_request": "{} / request",
    "per_image": "{} / image",
    "per_second": "{} / second of audio",
    "per_mchar": "{} / 1M characters",
}
_TASK_COLUMNS = ("product", "mode", "duration")


def catalogue() -> dict[str, Any]:
    text = resources.files("omnirelay").joinpath("catalogue.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _money(usd: float) -> str:
    """Dollars with as many decimals as the price has (at least two): $0.075, $2.50."""
    whole, _, cents = f"{usd:,.6f}".partition(".")
    return f"${whole}.{cents.rstrip('0').ljust(2, '0')}"


def _prices(prices: Mapping[str, float]) -> str:
    parts = [_PRICE_WORDS[name].format(_money(value)) for name, value in prices.items()]
    return ", ".join(parts) or "see task prices"


def models_table(argument: str) -> str:
    """Models matching ``kind=… family=…`` (either may be left out), with their prices."""
    wanted = dict(part.split("=", 1) for part in argument.split())
    unknown = set(wanted) - {"kind", "family"}
    if unknown:
        raise ValueError(f"models: unknown filter {sorted(unknown)}")
    rows = ["| Model | Kind | Default price |", "|---|---|---|"]
    for model in catalogue()["models"]:
        if all(model.get(k) == v for k, v in wanted.items()):
            rows.append(
                f"| `{model['name']}` | {model['kind']} | {_prices(model.get('prices', {}))} |"
            )
    if len(rows) == 2:
        raise ValueError(f"models: nothing matches {argument!r}")
    return "\n".join(rows)


def task_prices_table(argument: str) -> str:
    """Task prices of the models whose name starts with ``argument``."""
    chosen = [p for p in catalogue()["task_prices"] if p["model"].startswith(argument)]
    if not chosen:
        raise ValueError(f"task-prices: no model starts with {argument!r}")
    columns = [c for c in _TASK_COLUMNS if any(c in p for p in chosen)]
    header = " | ".join(c.capitalize() for c in columns)
    rows = [f"| Model | {header} | Price |", "|---|" + "---|" * len(columns) + "---|"]
    for price in chosen:
        cells = " | ".join(f"`{price[c]}`" if c in price else "any" for c in columns)
        rows.append(f"| `{price['model']}` | {cells} | {_money(price['usd'])} |")
    return "\n".join(rows)
