"""The model catalogue: what each model is (kind, vendor family) and what it costs.

The built-in entries live in ``catalogue.toml`` (data, not code); the database holds the
catalogue in force, and operators change prices there.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from sqlalchemy import select

from omnirelay.config import ModelSpec
from omnirelay.money import usd_to_micro
from omnirelay.store import Database, models

# Price names a person writes → the column holding it.
PRICE_COLUMNS: dict[str, str] = {
    "input": "input_per_mtok",
    "output": "output_per_mtok",
    "per_request": "per_request",
    "per_image": "per_image",
    "per_second": "per_second",
    "per_mchar": "per_mchar",
    # Prompt caching: reading a cached prefix, writing one kept ~5 minutes, or an hour.
    "cache_read": "cache_read_per_mtok",
    "cache_write": "cache_write_per_mtok",
    "cache_write_1h": "cache_write_1h_per_mtok",
}

KINDS = frozenset({"chat", "completion", "embedding", "speech", "transcription", "image", "task"})


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One catalogue entry; prices in micro-dollars per unit named by the field."""

    name: str
    kind: str
    family: str
    input_per_mtok: int = 0
    output_per_mtok: int = 0
    per_request: int = 0
    per_image: int = 0
    per_second: int = 0
    per_mchar: int = 0
    cache_read_per_mtok: int = 0  # zero: priced as input
    cache_write_per_mtok: int = 0
    cache_write_1h_per_mtok: int = 0
    max_output_tokens: int | None = None  # translated requests are held to it

    def prices_usd(self) -> dict[str, int]:
        return {name: getattr(self, column) for name, column in PRICE_COLUMNS.items()}


def builtin_models() -> list[ModelSpec]:
    text = resources.files("omnirelay").joinpath("catalogue.toml").read_text(encoding="utf-8")
    document = tomllib.loads(text)
    return [
        ModelSpec(
            name=str(m["name"]),
            kind=str(m["kind"]),
            family=str(m["family"]),
            prices={k: float(v) for k, v in dict(m.get("prices", {})).items()},
            max_output_tokens=int(m["max_output_tokens"]) if "max_output_tokens" in m else None,
        )
        for m in document["models"]
    ]


def _row_for(spec: ModelSpec) -> dict[str, Any]:
    if spec.kind not in KINDS:
        raise ValueError(f"model {spec.name}: unknown kind {spec.kind!r}")
    row: dict[str, Any] = {"name": spec.name, "kind": spec.kind, "family": spec.family}
    if spec.max_output_tokens is not None:
        row["max_output_tokens"] = spec.max_output_tokens
    for price, value in spec.prices.items():
        if price not in PRICE_COLUMNS:
            raise ValueError(f"model {spec.name}: unknown price {price!r}")
        row[PRICE_COLUMNS[price]] = usd_to_micro(value)
    return row


async def seed_models(
    db: Database, builtin: Iterable[ModelSpec], configured: Iterable[ModelSpec]
) -> None:
    """Insert built-in models the database lacks; configured models are written as given."""
    now = datetime.now(UTC)
    configured = list(configured)
    forced = {spec.name for spec in configured}
    async with db.engine.begin() as conn:
        known = set((await conn.execute(select(models.c.name))).scalars())
        for spec in builtin:
            if spec.name not in known and spec.name not in forced:
                await conn.execute(models.insert().values(**_row_for(spec), created_at=now))
        for spec in configured:
            row = _row_for(spec)
            if spec.name in known:
                for column in PRICE_COLUMNS.values():
                    row.setdefault(column, 0)
                await conn.execute(models.update().where(models.c.name == spec.name).values(row))
            else:
                await conn.execute(models.insert().values(**row, created_at=now))


async def load_catalogue(db: Database) -> dict[str, ModelInfo]:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(models))).mappings().all()
    return catalogue_of(rows)


def catalogue_of(rows: Iterable[Mapping[Any, Any]]) -> dict[str, ModelInfo]:
    """The catalogue from rows of the ``models`` table."""
    fields = set(ModelInfo.__dataclass_fields__)
    return {row["name"]: ModelInfo(**{k: row[k] for k in fields}) for row in rows}


def model_row_to_json(info: ModelInfo) -> Mapping[str, Any]:
    return {
        "name": info.name,
        "kind": info.kind,
        "family": info.family,
        "prices_micro_usd": info.prices_usd(),
    }
