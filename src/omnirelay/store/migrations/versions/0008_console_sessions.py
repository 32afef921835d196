"""Console sessions (a signed-in browser's cookie, by its hash, for the key it signed in with),
and the task gallery's indexes (every task newest first, or one user's).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("key_id", sa.Integer, nullable=False),
        sa.Column("key_enc", sa.Text, nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(300), nullable=True),
    )
    op.create_index("ix_console_sessions_expires", "console_sessions", ["expires_at"])
    op.create_index("ix_console_sessions_key", "console_sessions", ["key_id"])
    op.create_index("ix_tasks_created", "tasks", ["created_ms"])
    op.create_index("ix_tasks_user_created", "tasks", ["user_id", "created_ms"])


def downgrade() -> None:
    op.drop_index("ix_tasks_user_created", "tasks")
    op.drop_index("ix_tasks_created", "tasks")
    op.drop_table("console_sessions")
