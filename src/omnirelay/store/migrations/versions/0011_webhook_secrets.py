"""Security and operations: each key's own webhook signing secret, and each node's version.

``api_keys.webhook_secret`` holds the key's signing secret encrypted with the gateway's secret
key (the Fernet ``SecretBox`` that protects channel secrets), so the database alone cannot
forge a webhook signature. Keys that exist before this revision have none (NULL) until an
operator rotates it (``POST /admin/keys/{id}/webhook-secret``); docs/operators/security.md tells how
their receivers move over. ``nodes.version`` is the version each serving process runs, for
``GET /admin/status``.

Revision ID: 0011
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("webhook_secret", sa.Text, nullable=True))
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("version", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("version")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("webhook_secret")
