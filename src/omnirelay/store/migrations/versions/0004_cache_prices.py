"""Prompt caching: cache prices per model, cache and reasoning counts per usage record; the
most output tokens a model writes.

The built-in models already in the catalogue get their cache prices and output limits from
``catalogue.toml`` (new models get them when seeded), so a database seeded before this
revision does not bill cached tokens as fresh input.

Revision ID: 0004
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_PRICES = {
    "cache_read": "cache_read_per_mtok",
    "cache_write": "cache_write_per_mtok",
    "cache_write_1h": "cache_write_1h_per_mtok",
}
_COUNTS = ("cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens")


def _backfill() -> None:
    from omnirelay.catalogue import builtin_models
    from omnirelay.money import usd_to_micro

    columns = [*_PRICES.values(), "max_output_tokens"]
    models = sa.table("models", sa.column("name"), *(sa.column(c) for c in columns))
    for spec in builtin_models():
        values: dict[str, int] = {
            column: usd_to_micro(spec.prices[name])
            for name, column in _PRICES.items()
            if name in spec.prices
        }
        if spec.max_output_tokens is not None:
            values["max_output_tokens"] = spec.max_output_tokens
        if values:
            op.execute(models.update().where(models.c.name == spec.name).values(**values))


def upgrade() -> None:
    for column in _PRICES.values():
        op.add_column(
            "models", sa.Column(column, sa.BigInteger, nullable=False, server_default="0")
        )
    op.add_column("models", sa.Column("max_output_tokens", sa.Integer, nullable=True))
    for name in _COUNTS:
        op.add_column(
            "usage_records", sa.Column(name, sa.Integer, nullable=False, server_default="0")
        )
    _backfill()


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        for name in _COUNTS:
            batch.drop_column(name)
    with op.batch_alter_table("models") as batch:
        for column in [*_PRICES.values(), "max_output_tokens"]:
            batch.drop_column(column)
