"""Asynchronous tasks: one table, indexed for the poller's due-task query.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("key_id", sa.Integer, nullable=False),
        sa.Column("vendor", sa.String(50), nullable=False),
        sa.Column("channel_id", sa.Integer, nullable=True),
        sa.Column("upstream_id", sa.String(512), nullable=True),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("progress", sa.Integer, nullable=False, server_default="0"),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("failure", sa.Text, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("callback_url", sa.Text, nullable=True),
        sa.Column("external_task_id", sa.String(200), nullable=True),
        sa.Column("price", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("charged", sa.BigInteger, nullable=True),
        sa.Column("settlement", sa.String(10), nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("finished_ms", sa.BigInteger, nullable=True),
        sa.Column("next_poll_ms", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_tasks_due", "tasks", ["status", "next_poll_ms"])
    op.create_index("ix_tasks_key_action", "tasks", ["key_id", "action", "created_ms"])
    op.create_index("ix_tasks_external", "tasks", ["key_id", "external_task_id"], unique=True)


def downgrade() -> None:
    op.drop_table("tasks")
