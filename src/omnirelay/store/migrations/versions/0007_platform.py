"""The operator's platform: users and groups own balances, codes, audit, task prices, rollups.

Every existing key that is not an admin key becomes the only key of a user of its own (same
name, made unique), in the ``default`` group; the key's balance and what it spent move to that
user (one ``migration`` entry in the balance ledger), and the key keeps no quota of its own,
so nothing is lost and nothing is counted twice. Open tasks whose price was held on such a key
are marked as held on the user, so their refund goes where the money now is. Existing usage
records get their user and are rolled up by hour into ``usage_hourly``.

Revision ID: 0007
Revises: 0002
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
# Frozen copy of usage.LATENCY_BUCKETS_MS as of this revision (a migration must not change).
_BUCKETS_MS = (10, 25, 50, 100, 200, 350, 500, 750, 1000, 1500, 2500, 4000, 7000, 12000, 30000)
_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _new_tables() -> None:
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("ratio_ppm", sa.BigInteger, nullable=False, server_default="1000000"),
        sa.Column("models", sa.JSON, nullable=True),
        sa.Column("limits", sa.JSON, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("group_id", sa.Integer, nullable=False),
        sa.Column("balance", sa.BigInteger, nullable=True),
        sa.Column("spent", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("limits", sa.JSON, nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "balance_entries",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("delta", sa.BigInteger, nullable=False),
        sa.Column("balance_after", sa.BigInteger, nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("code_id", sa.Integer, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_balance_entries_user", "balance_entries", ["user_id", "id"])
    op.create_table(
        "redemption_codes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch", sa.String(100), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("code_prefix", sa.String(16), nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("redeemed_at", _TS, nullable=True),
        sa.Column("redeemed_by", sa.Integer, nullable=True),
    )
    op.create_index("ix_redemption_codes_batch", "redemption_codes", ["batch"])
    op.create_table(
        "audit_log",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("actor_key_id", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("body", sa.JSON, nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_audit_created", "audit_log", ["created_at"])
    op.create_table(
        "task_prices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("product", sa.String(50), nullable=False),
        sa.Column("mode", sa.String(50), nullable=False, server_default=""),
        sa.Column("duration", sa.String(20), nullable=False, server_default=""),
        sa.Column("price", sa.BigInteger, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("model", "product", "mode", "duration", name="uq_task_prices_entry"),
    )
    op.create_table(
        "usage_hourly",
        sa.Column("hour", sa.BigInteger, primary_key=True),
        sa.Column("key_id", sa.Integer, primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("channel_id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False, server_default="0"),
        sa.Column("requests", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("errors", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cost", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("latency_ms", sa.BigInteger, nullable=False, server_default="0"),
        *(
            sa.Column(f"lat_{i:02d}", sa.BigInteger, nullable=False, server_default="0")
            for i in range(len(_BUCKETS_MS) + 1)
        ),
    )
    op.create_index("ix_usage_hourly_user", "usage_hourly", ["user_id", "hour"])


def _new_columns() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("user_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("allowed_ips", sa.JSON, nullable=True))
        batch.add_column(sa.Column("limits", sa.JSON, nullable=True))
        batch.create_index("ix_api_keys_user", ["user_id"])
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("groups", sa.JSON, nullable=True))
        batch.add_column(sa.Column("connect_timeout", sa.Float, nullable=True))
        batch.add_column(sa.Column("read_timeout", sa.Float, nullable=True))
        batch.add_column(sa.Column("test_status", sa.String(20), nullable=True))
        batch.add_column(sa.Column("test_latency_ms", sa.Integer, nullable=True))
        batch.add_column(sa.Column("test_message", sa.Text, nullable=True))
        batch.add_column(sa.Column("tested_at", _TS, nullable=True))
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("user_id", sa.Integer, nullable=True))
        batch.add_column(
            sa.Column("ratio_ppm", sa.BigInteger, nullable=False, server_default="1000000")
        )
        batch.add_column(sa.Column("first_byte_ms", sa.Integer, nullable=True))
        batch.create_index("ix_usage_created", ["created_at"])
        batch.create_index("ix_usage_user_id", ["user_id", "id"])
        batch.create_index("ix_usage_model_id", ["model", "id"])
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("user_id", sa.Integer, nullable=True))
        batch.add_column(
            sa.Column("user_held", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("ratio_ppm", sa.BigInteger, nullable=False, server_default="1000000")
        )


def _keys_become_users(conn: sa.Connection) -> None:
    now = datetime.now(UTC)
    meta = sa.MetaData()
    keys = sa.Table("api_keys", meta, autoload_with=conn)
    users = sa.Table("users", meta, autoload_with=conn)
    entries = sa.Table("balance_entries", meta, autoload_with=conn)
    groups = sa.Table("groups", meta, autoload_with=conn)
    tasks = sa.Table("tasks", meta, autoload_with=conn)
    inserted = conn.execute(
        groups.insert().values(name="default", ratio_ppm=1_000_000, created_at=now)
    ).inserted_primary_key
    assert inserted is not None
    group_id = inserted[0]
    taken: set[str] = set()
    rows = conn.execute(sa.select(keys).where(sa.not_(keys.c.is_admin)).order_by(keys.c.id))
    for key in rows.all():
        name, n = key.name, 1
        while name in taken:
            n += 1
            name = f"{key.name}-{n}"
        taken.add(name)
        inserted = conn.execute(
            users.insert().values(
                name=name,
                group_id=group_id,
                balance=key.quota_remaining,
                spent=key.spent,
                enabled=True,
                note=f"migrated from key {key.id}",
                created_at=now,
            )
        ).inserted_primary_key
        assert inserted is not None
        user_id = inserted[0]
        conn.execute(
            keys.update().where(keys.c.id == key.id).values(user_id=user_id, quota_remaining=None)
        )
        if key.quota_remaining is not None:
            conn.execute(
                entries.insert().values(
                    user_id=user_id,
                    delta=key.quota_remaining,
                    balance_after=key.quota_remaining,
                    kind="migration",
                    note=f"balance of key {key.id} before users existed",
                    actor="migration 0007",
                    created_at=now,
                )
            )
        # Prices held on the key for tasks not settled yet now come back to the user.
        conn.execute(
            tasks.update()
            .where(tasks.c.key_id == key.id)
            .values(
                user_id=user_id,
                user_held=tasks.c.settlement.is_(None) & (tasks.c.reserved > 0),
            )
        )


def _hour_expression(dialect: str) -> str:
    if dialect == "postgresql":
        return "CAST(floor(extract(epoch FROM created_at) / 3600) * 3600 AS BIGINT)"
    return "CAST(strftime('%s', created_at) AS INTEGER) / 3600 * 3600"


def _roll_up_history(conn: sa.Connection) -> None:
    conn.execute(
        sa.text(
            "UPDATE usage_records SET user_id = "
            "(SELECT api_keys.user_id FROM api_keys WHERE api_keys.id = usage_records.key_id)"
        )
    )
    edges = [0, *_BUCKETS_MS]
    buckets = []
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else None
        test = f"latency_ms >= {low}" + (f" AND latency_ms < {high}" if high else "")
        buckets.append(f"SUM(CASE WHEN {test} THEN 1 ELSE 0 END)")
    columns = ", ".join(f"lat_{i:02d}" for i in range(len(buckets)))
    hour = _hour_expression(conn.dialect.name)
    # Static SQL built from our own constants; no value comes from outside.
    conn.execute(
        sa.text(
            "INSERT INTO usage_hourly (hour, key_id, model, channel_id, user_id, requests, "  # noqa: S608
            f"errors, prompt_tokens, completion_tokens, cost, latency_ms, {columns}) "
            f"SELECT {hour}, key_id, model, COALESCE(channel_id, 0), MAX(COALESCE(user_id, 0)), "
            "COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), SUM(prompt_tokens), "
            f"SUM(completion_tokens), SUM(cost), SUM(latency_ms), {', '.join(buckets)} "
            f"FROM usage_records GROUP BY {hour}, key_id, model, COALESCE(channel_id, 0)"
        )
    )


def upgrade() -> None:
    _new_tables()
    _new_columns()
    conn = op.get_bind()
    _keys_become_users(conn)
    _roll_up_history(conn)


def downgrade() -> None:
    for table in ("usage_hourly", "task_prices", "audit_log", "redemption_codes"):
        op.drop_table(table)
    for table in ("balance_entries", "users", "groups"):
        op.drop_table(table)
    with op.batch_alter_table("tasks") as batch:
        for column in ("ratio_ppm", "user_held", "user_id"):
            batch.drop_column(column)
    with op.batch_alter_table("usage_records") as batch:
        for index in ("ix_usage_model_id", "ix_usage_user_id", "ix_usage_created"):
            batch.drop_index(index)
        for column in ("first_byte_ms", "ratio_ppm", "user_id"):
            batch.drop_column(column)
    with op.batch_alter_table("channels") as batch:
        for column in ("tested_at", "test_message", "test_latency_ms", "test_status"):
            batch.drop_column(column)
        for column in ("read_timeout", "connect_timeout", "groups"):
            batch.drop_column(column)
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("ix_api_keys_user")
        for column in ("limits", "allowed_ips", "user_id"):
            batch.drop_column(column)
