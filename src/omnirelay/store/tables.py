"""Table definitions. Money columns are integer micro-dollars; JSON columns hold lists/maps."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(16), nullable=False),
    # NULL means unlimited; otherwise what the key may still spend, reservations deducted.
    Column("quota_remaining", BigInteger, nullable=True),
    Column("spent", BigInteger, nullable=False, default=0),
    Column("models", JSON, nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

channels = Table(
    "channels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("vendor", String(50), nullable=False),
    Column("base_url", Text, nullable=False),
    Column("secret_enc", Text, nullable=False),
    Column("models", JSON, nullable=False),
    Column("model_map", JSON, nullable=False),
    Column("priority", Integer, nullable=False, default=0),
    Column("weight", Integer, nullable=False, default=1),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

models = Table(
    "models",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("kind", String(30), nullable=False),
    Column("family", String(50), nullable=False),
    # Prices in micro-dollars: per 1M input/output tokens, per request, per image,
    # per audio second, per 1M characters. Zero means "not priced by this unit".
    Column("input_per_mtok", BigInteger, nullable=False, default=0),
    Column("output_per_mtok", BigInteger, nullable=False, default=0),
    Column("per_request", BigInteger, nullable=False, default=0),
    Column("per_image", BigInteger, nullable=False, default=0),
    Column("per_second", BigInteger, nullable=False, default=0),
    Column("per_mchar", BigInteger, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Prompt caching, per 1M tokens: a cache read, a 5-minute and a 1-hour cache write.
    # Zero means "priced as input".
    Column("cache_read_per_mtok", BigInteger, nullable=False, default=0),
    Column("cache_write_per_mtok", BigInteger, nullable=False, default=0),
    Column("cache_write_1h_per_mtok", BigInteger, nullable=False, default=0),
    # The most output tokens one answer may have (NULL: not known).
    Column("max_output_tokens", Integer, nullable=True),
)

usage_records = Table(
    "usage_records",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("request_id", String(64), nullable=False),
    Column("key_id", Integer, nullable=False),
    Column("model", String(200), nullable=False),
    Column("channel_id", Integer, nullable=True),
    Column("endpoint", String(100), nullable=False),
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("units", BigInteger, nullable=False, default=0),
    Column("cost", BigInteger, nullable=False, default=0),
    Column("latency_ms", Integer, nullable=False, default=0),
    Column("status", Integer, nullable=False),
    Column("stream", Boolean, nullable=False, default=False),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Parts of prompt_tokens (cache read, 5-minute and 1-hour cache writes) and of
    # completion_tokens (reasoning).
    Column("cache_read_tokens", Integer, nullable=False, default=0),
    Column("cache_write_tokens", Integer, nullable=False, default=0),
    Column("cache_write_1h_tokens", Integer, nullable=False, default=0),
    Column("reasoning_tokens", Integer, nullable=False, default=0),
    Index("ix_usage_key_created", "key_id", "created_at"),
    Index("ix_usage_request_id", "request_id"),
)

# Asynchronous tasks (Kling, later Suno, Midjourney, Flux). Times are epoch milliseconds in
# BIGINTs: the client-facing formats speak milliseconds, and integers compare the same on
# every backend (SQLite has no timezone-aware timestamps).
tasks = Table(
    "tasks",
    metadata,
    Column("id", String(40), primary_key=True),  # ours, public; never the vendor's
    Column("key_id", Integer, nullable=False),
    Column("vendor", String(50), nullable=False),
    Column("channel_id", Integer, nullable=True),
    Column("upstream_id", String(512), nullable=True),  # the vendor's, private
    Column("action", String(50), nullable=False),
    Column("model", String(200), nullable=False),
    Column("request", Text, nullable=False),  # the JSON body as accepted
    Column("status", String(20), nullable=False),
    Column("progress", Integer, nullable=False, default=0),
    Column("result", JSON, nullable=True),
    Column("failure", Text, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("callback_url", Text, nullable=True),
    Column("external_task_id", String(200), nullable=True),
    # What success costs, what was held at submit, and what was finally charged.
    Column("price", BigInteger, nullable=False, default=0),
    Column("reserved", BigInteger, nullable=False, default=0),
    Column("charged", BigInteger, nullable=True),
    Column("settlement", String(10), nullable=True),  # NULL until charged or refunded, once
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("finished_ms", BigInteger, nullable=True),
    Column("next_poll_ms", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),  # claims so far; also the lease token
    # Why a failed task failed, as a word (content_policy_violation, upstream_timeout…).
    Column("failure_code", String(64), nullable=True),
    Index("ix_tasks_due", "status", "next_poll_ms"),
    Index("ix_tasks_key_action", "key_id", "action", "created_ms"),
    Index("ix_tasks_external", "key_id", "external_task_id", unique=True),
)

# Responses API answers kept for ``GET /v1/responses/{id}`` and ``previous_response_id``,
# private to the key that made them. ``context`` is the JSON list of input items the response
# was made from (earlier turns included); ``body`` the Response object as answered.
responses = Table(
    "responses",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("key_id", Integer, nullable=False),
    Column("model", String(200), nullable=False),
    Column("context", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_responses_key_created", "key_id", "created_ms"),
)
