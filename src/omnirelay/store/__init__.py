"""Persistence: SQLAlchemy Core tables, the async engine, and migrations applied at start."""

from omnirelay.store import lean_asyncio

lean_asyncio.install()  # before anything imports sqlalchemy.ext.asyncio: Core without the ORM

from omnirelay.store.db import Database, open_database  # noqa: E402
from omnirelay.store.tables import (  # noqa: E402
    api_keys,
    audit_log,
    balance_entries,
    channels,
    console_sessions,
    groups,
    metadata,
    models,
    node_holds,
    nodes,
    redemption_codes,
    task_prices,
    tasks,
    usage_batches,
    usage_hourly,
    usage_records,
    users,
    webhook_outbox,
)

__all__ = [
    "Database",
    "api_keys",
    "audit_log",
    "balance_entries",
    "channels",
    "console_sessions",
    "groups",
    "metadata",
    "models",
    "node_holds",
    "nodes",
    "open_database",
    "redemption_codes",
    "task_prices",
    "tasks",
    "usage_batches",
    "usage_hourly",
    "usage_records",
    "users",
    "webhook_outbox",
]
