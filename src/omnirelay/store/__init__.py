"""Persistence: SQLAlchemy Core tables, the async engine, and migrations applied at start."""

from omnirelay.store.db import Database, open_database
from omnirelay.store.tables import (
    api_keys,
    audit_log,
    balance_entries,
    channels,
    groups,
    metadata,
    models,
    nodes,
    redemption_codes,
    task_prices,
    tasks,
    usage_hourly,
    usage_records,
    users,
)

__all__ = [
    "Database",
    "api_keys",
    "audit_log",
    "balance_entries",
    "channels",
    "groups",
    "metadata",
    "models",
    "nodes",
    "open_database",
    "redemption_codes",
    "task_prices",
    "tasks",
    "usage_hourly",
    "usage_records",
    "users",
]
