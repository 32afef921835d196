"""Persistence: SQLAlchemy Core tables, the async engine, and migrations applied at start."""

from omnirelay.store.db import Database, open_database
from omnirelay.store.tables import api_keys, channels, metadata, models, tasks, usage_records

__all__ = [
    "Database",
    "api_keys",
    "channels",
    "metadata",
    "models",
    "open_database",
    "tasks",
    "usage_records",
]
