"""Table definitions. Money columns are integer micro-dollars; JSON columns hold lists/maps."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
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
    # The platform (migration 0007): the user whose balance the key spends (NULL: admin keys,
    # which manage the gateway and make no requests), its IP allow-list (CIDR strings) and
    # its own rate limits (``platform.limits.Limits`` as JSON).
    Column("user_id", Integer, nullable=True),
    Column("allowed_ips", JSON, nullable=True),
    Column("limits", JSON, nullable=True),
    Index("ix_api_keys_user", "user_id"),
    # Migration 0011: the key's webhook signing secret, encrypted (``crypto.SecretBox``);
    # NULL for keys made before it, until the secret is rotated.
    Column("webhook_secret", Text, nullable=True),
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
    # The groups it serves (NULL: every group), its own timeouts (NULL: the settings'), and
    # the last answer of the admin's test action.
    Column("groups", JSON, nullable=True),
    Column("connect_timeout", Float, nullable=True),
    Column("read_timeout", Float, nullable=True),
    Column("test_status", String(20), nullable=True),
    Column("test_latency_ms", Integer, nullable=True),
    Column("test_message", Text, nullable=True),
    Column("tested_at", DateTime(timezone=True), nullable=True),
    # Reliability (migration 0009): why and when the gateway disabled it, or some of its models
    # ({model: reason}), by itself; its own circuit-breaker settings and first-byte and total
    # timeouts (NULL: the settings'; ``read_timeout`` is the idle time between stream chunks).
    Column("disabled_reason", Text, nullable=True),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
    Column("disabled_models", JSON, nullable=True),
    Column("failure_threshold", Integer, nullable=True),
    Column("failure_window", Float, nullable=True),
    Column("cooldown", Float, nullable=True),
    Column("first_byte_timeout", Float, nullable=True),
    Column("total_timeout", Float, nullable=True),
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
    # The platform: whose balance paid, the group's price ratio in force (parts per million,
    # frozen here so history stays right after a ratio changes), time to the first byte.
    Column("user_id", Integer, nullable=True),
    Column("ratio_ppm", BigInteger, nullable=False, default=1_000_000),
    Column("first_byte_ms", Integer, nullable=True),
    Index("ix_usage_key_created", "key_id", "created_at"),
    Index("ix_usage_request_id", "request_id"),
    Index("ix_usage_created", "created_at"),
    Index("ix_usage_user_id", "user_id", "id"),
    Index("ix_usage_model_id", "model", "id"),
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
    # The user charged, whether the hold came out of that user's balance, the group ratio.
    Column("user_id", Integer, nullable=True),
    Column("user_held", Boolean, nullable=False, default=False),
    Column("ratio_ppm", BigInteger, nullable=False, default=1_000_000),
    # The serving process that submitted it (migration 0009).
    Column("node_id", String(64), nullable=True),
    Index("ix_tasks_due", "status", "next_poll_ms"),
    Index("ix_tasks_key_action", "key_id", "action", "created_ms"),
    Index("ix_tasks_external", "key_id", "external_task_id", unique=True),
    # The task gallery: every task newest first, or one user's.
    Index("ix_tasks_created", "created_ms"),
    Index("ix_tasks_user_created", "user_id", "created_ms"),
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

# --- The operator's platform (migration 0007) ------------------------------------------------

groups = Table(
    "groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    # Prices are multiplied by ratio_ppm / 1,000,000 at settlement (0.8x is 800,000).
    Column("ratio_ppm", BigInteger, nullable=False, default=1_000_000),
    Column("models", JSON, nullable=True),  # the models its users may see; NULL: all
    Column("limits", JSON, nullable=True),  # defaults for its users' rate limits
    Column("created_at", DateTime(timezone=True), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("group_id", Integer, nullable=False),
    # NULL means unlimited; otherwise what the user may still spend, holds deducted.
    Column("balance", BigInteger, nullable=True),
    Column("spent", BigInteger, nullable=False, default=0),
    Column("limits", JSON, nullable=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("note", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# One row per change of a user's balance made by a person or a code (requests are in
# usage_records): append-only.
balance_entries = Table(
    "balance_entries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("user_id", Integer, nullable=False),
    Column("delta", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=True),
    Column("kind", String(20), nullable=False),  # topup | redeem | migration
    Column("note", Text, nullable=True),
    Column("actor", String(200), nullable=True),
    Column("code_id", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_balance_entries_user", "user_id", "id"),
)

redemption_codes = Table(
    "redemption_codes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch", String(100), nullable=False),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("code_prefix", String(16), nullable=False),
    Column("value", BigInteger, nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("redeemed_at", DateTime(timezone=True), nullable=True),
    Column("redeemed_by", Integer, nullable=True),  # user id
    Index("ix_redemption_codes_batch", "batch"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("actor_key_id", Integer, nullable=True),
    Column("actor", String(200), nullable=True),
    Column("method", String(10), nullable=False),
    Column("path", String(500), nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", JSON, nullable=True),  # secrets redacted
    Column("ip", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_audit_created", "created_at"),
)

# Task prices in force, seeded from catalogue.toml's [[task_prices]] like models are.
task_prices = Table(
    "task_prices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), nullable=False),
    Column("product", String(50), nullable=False),
    Column("mode", String(50), nullable=False, default=""),
    Column("duration", String(20), nullable=False, default=""),
    Column("price", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("model", "product", "mode", "duration", name="uq_task_prices_entry"),
)

# Usage rolled up by hour, key, model and channel (0: none) as the records are written: the
# aggregates read this, and it outlives the detail that retention deletes. Latencies are
# counted in the buckets of ``usage.LATENCY_BUCKETS_MS`` (lat_00 … lat_15) for percentiles.
usage_hourly = Table(
    "usage_hourly",
    metadata,
    Column("hour", BigInteger, primary_key=True),  # epoch seconds at the start of the hour
    Column("key_id", Integer, primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("channel_id", Integer, primary_key=True),
    Column("user_id", Integer, nullable=False, default=0),
    Column("requests", BigInteger, nullable=False, default=0),
    Column("errors", BigInteger, nullable=False, default=0),
    Column("prompt_tokens", BigInteger, nullable=False, default=0),
    Column("completion_tokens", BigInteger, nullable=False, default=0),
    Column("cost", BigInteger, nullable=False, default=0),
    Column("latency_ms", BigInteger, nullable=False, default=0),
    *(Column(f"lat_{i:02d}", BigInteger, nullable=False, default=0) for i in range(16)),
    Index("ix_usage_hourly_user", "user_id", "hour"),
)

# Signed-in console browsers (``platform.sessions``): the cookie is kept only as its hash; the
# key it signed in with is kept encrypted (the secret box of channel secrets), so each request
# is checked as that key (revoked, expired, address) and no credential is held by the browser.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("key_id", Integer, nullable=False),
    Column("key_enc", Text, nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(300), nullable=True),
    Index("ix_console_sessions_expires", "expires_at"),
    Index("ix_console_sessions_key", "key_id"),
)

# --- Reliability (migration 0009) ------------------------------------------------------------

# Every serving process: its heartbeat (epoch ms) says it is alive.
nodes = Table(
    "nodes",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("version", String(64), nullable=True),  # migration 0011: for /admin/status
    Column("started_ms", BigInteger, nullable=False),
    Column("heartbeat_ms", BigInteger, nullable=False),
)

# What a node has taken from an account into memory and not yet settled or given back (quota
# leases and in-flight reservations); 0 stands for an account side that is not involved.
node_holds = Table(
    "node_holds",
    metadata,
    Column("node_id", String(64), primary_key=True),
    Column("key_id", Integer, primary_key=True),
    Column("user_id", Integer, primary_key=True),
    Column("amount", BigInteger, nullable=False, default=0),
)

# Task webhooks to deliver (at least once), written with the task change they announce.
webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("delivery_id", String(40), nullable=False, unique=True),
    Column("task_id", String(40), nullable=False),
    Column("key_id", Integer, nullable=False),
    Column("url", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(12), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_ms", BigInteger, nullable=False),
    Column("give_up_ms", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("delivered_ms", BigInteger, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_webhook_outbox_due", "status", "next_attempt_ms"),
    Index("ix_webhook_outbox_task", "task_id", "id"),
)

# One row per usage batch applied: a batch retried after an ambiguous COMMIT applies once.
usage_batches = Table(
    "usage_batches",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_usage_batches_created", "created_ms"),
)
