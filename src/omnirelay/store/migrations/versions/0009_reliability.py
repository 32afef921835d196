"""Reliability: channel health settings and auto-disable, the serving nodes and what each holds,
the webhook outbox, and the usage writer's batch markers.

- ``channels``: why and when the gateway disabled a channel (or some of its models) by itself,
  its own circuit-breaker settings and its first-byte and total timeouts (NULL: the settings').
- ``nodes`` / ``node_holds``: every serving process heartbeats its row and keeps, per account,
  what it has taken from balances into memory (leases and in-flight reservations); a process
  whose heartbeat stops has that amount given back by another one.
- ``webhook_outbox``: task webhooks, written in the transaction that changes the task.
- ``usage_batches``: one row per usage batch written, so a batch retried after an ambiguous
  COMMIT is applied once.
- ``tasks.node_id``: the process that submitted a task (a submission it never finished is
  refunded as soon as that process is known to be gone).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("disabled_reason", sa.Text, nullable=True))
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("disabled_models", sa.JSON, nullable=True))
        batch.add_column(sa.Column("failure_threshold", sa.Integer, nullable=True))
        batch.add_column(sa.Column("failure_window", sa.Float, nullable=True))
        batch.add_column(sa.Column("cooldown", sa.Float, nullable=True))
        batch.add_column(sa.Column("first_byte_timeout", sa.Float, nullable=True))
        batch.add_column(sa.Column("total_timeout", sa.Float, nullable=True))
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("node_id", sa.String(64), nullable=True))
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_ms", sa.BigInteger, nullable=False),
        sa.Column("heartbeat_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "node_holds",
        sa.Column("node_id", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, primary_key=True),
        sa.Column("amount", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "webhook_outbox",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("delivery_id", sa.String(40), nullable=False, unique=True),
        sa.Column("task_id", sa.String(40), nullable=False),
        sa.Column("key_id", sa.Integer, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_ms", sa.BigInteger, nullable=False),
        sa.Column("give_up_ms", sa.BigInteger, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("delivered_ms", sa.BigInteger, nullable=True),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index("ix_webhook_outbox_due", "webhook_outbox", ["status", "next_attempt_ms"])
    op.create_index("ix_webhook_outbox_task", "webhook_outbox", ["task_id", "id"])
    op.create_table(
        "usage_batches",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_usage_batches_created", "usage_batches", ["created_ms"])


def downgrade() -> None:
    op.drop_index("ix_usage_batches_created", "usage_batches")
    op.drop_table("usage_batches")
    op.drop_index("ix_webhook_outbox_task", "webhook_outbox")
    op.drop_index("ix_webhook_outbox_due", "webhook_outbox")
    op.drop_table("webhook_outbox")
    op.drop_table("node_holds")
    op.drop_table("nodes")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("node_id")
    with op.batch_alter_table("channels") as batch:
        for name in (
            "total_timeout",
            "first_byte_timeout",
            "cooldown",
            "failure_window",
            "failure_threshold",
            "disabled_models",
            "disabled_at",
            "disabled_reason",
        ):
            batch.drop_column(name)
