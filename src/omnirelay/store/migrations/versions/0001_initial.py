"""Initial schema: keys, channels, model catalogue, usage records.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("quota_remaining", sa.BigInteger, nullable=True),
        sa.Column("spent", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("models", sa.JSON, nullable=True),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("vendor", sa.String(50), nullable=False),
        sa.Column("base_url", sa.Text, nullable=False),
        sa.Column("secret_enc", sa.Text, nullable=False),
        sa.Column("models", sa.JSON, nullable=False),
        sa.Column("model_map", sa.JSON, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("weight", sa.Integer, nullable=False, server_default="1"),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "models",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("family", sa.String(50), nullable=False),
        sa.Column("input_per_mtok", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("output_per_mtok", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("per_request", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("per_image", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("per_second", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("per_mchar", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "usage_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.Integer, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("channel_id", sa.Integer, nullable=True),
        sa.Column("endpoint", sa.String(100), nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("units", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cost", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("latency_ms", sa.Integer, nullable=False, server_default="0"),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("stream", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_usage_key_created", "usage_records", ["key_id", "created_at"])
    op.create_index("ix_usage_request_id", "usage_records", ["request_id"])


def downgrade() -> None:
    op.drop_table("usage_records")
    op.drop_table("models")
    op.drop_table("channels")
    op.drop_table("api_keys")
