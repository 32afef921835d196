"""Security and operations: each key's own webhook signing secret, and the nodes seen.

``api_keys.webhook_secret`` holds the key's signing secret encrypted with the gateway's secret
key (the Fernet ``SecretBox`` that protects channel secrets), so the database alone cannot
forge a webhook signature. Keys that exist before this revision have none (NULL) until an
operator rotates it (``POST /admin/keys/{id}/webhook-secret``); docs/security.md tells how
their receivers move over. ``nodes`` is where each serving process says it is alive, for
``GET /admin/status``.

Revision ID: 0011
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0007"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("webhook_secret", sa.Text, nullable=True))
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("seen_at", _TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("nodes")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("webhook_secret")
