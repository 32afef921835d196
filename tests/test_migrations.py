"""Migrations on a database that already has data: 0004 adds cache prices and counts, and
gives the built-in models already in the catalogue their cache prices."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, select, text

from omnirelay.store.db import _alembic_config
from omnirelay.store.tables import models


def test_0004_backfills_cache_prices_of_seeded_models(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0002")
        conn.execute(
            text(
                "INSERT INTO models (name, kind, family, input_per_mtok, output_per_mtok, per_request,"
                " per_image, per_second, per_mchar, created_at) VALUES"
                " ('claude-sonnet-4-20250514', 'chat', 'anthropic', 3000000, 15000000, 0, 0, 0, 0, :now),"
                " ('my-own-model', 'chat', 'openai', 1000000, 2000000, 0, 0, 0, 0, :now)"
            ),
            {"now": datetime.now(UTC)},
        )
        conn.execute(
            text(
                "INSERT INTO usage_records (request_id, key_id, model, endpoint, prompt_tokens, completion_tokens, units, cost, latency_ms, status, stream, created_at) VALUES ('r', 1, 'm', 'e', 1, 1, 0, 0, 0, 200, 0, :now)"
            ),
            {"now": datetime.now(UTC)},
        )
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")
        rows = {r.name: r for r in conn.execute(select(models))}
        record = conn.execute(
            text("SELECT cache_read_tokens, reasoning_tokens FROM usage_records")
        ).one()
    sonnet = rows["claude-sonnet-4-20250514"]
    assert (
        sonnet.cache_read_per_mtok,
        sonnet.cache_write_per_mtok,
        sonnet.cache_write_1h_per_mtok,
    ) == (300_000, 3_750_000, 6_000_000)
    own = rows["my-own-model"]
    assert (own.cache_read_per_mtok, own.cache_write_per_mtok) == (0, 0)
    assert tuple(record) == (0, 0)
    engine.dispose()
