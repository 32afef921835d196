"""Prompt caching: cache prices per model, cache and reasoning counts per usage record.

The built-in models already in the catalogue get their cache prices from ``catalogue.toml``
(new models get them when seeded), so a database seeded before this revision does not bill
cached tokens as fresh input.

Revision ID: 0004
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
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

    models = sa.table("models", sa.column("name"), *(sa.column(c) for c in _PRICES.values()))
    for spec in builtin_models():
        values = {
            column: usd_to_micro(spec.prices[name])
            for name, column in _PRICES.items()
            if name in spec.prices
        }
        if values:
            op.execute(models.update().where(models.c.name == spec.name).values(**values))


def upgrade() -> None:
    for column in _PRICES.values():
        op.add_column(
            "models", sa.Column(column, sa.BigInteger, nullable=False, server_default="0")
        )
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
        for column in _PRICES.values():
            batch.drop_column(column)
