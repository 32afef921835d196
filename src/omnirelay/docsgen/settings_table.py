"""The configuration reference, generated from ``config.Settings``: every setting, its
environment variable, its default, and one sentence (a setting added without its sentence
fails ``tests/docs/test_tables.py``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

from omnirelay import config

# Settings that are not scalars of the [server] table, documented on their own pages.
NOT_SCALARS = frozenset({"channels", "models"})

DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "host": "the address to listen on (`0.0.0.0` for every interface)",
        "port": "the port to listen on",
        "workers": "server processes sharing the port (one event loop each)",
        "data_dir": "where SQLite, the generated admin key and the generated secret key live",
        "database_url": "`postgresql://user:pass@host/db` for PostgreSQL; empty: SQLite in "
        "`data_dir` (`omnirelay.db`, or `demo.db` with `--demo`)",
        "admin_key": "the bootstrap admin key; empty: one is generated and printed once",
        "redis_url": "`redis://host:6379/0`: rate limits shared by every node, and changes "
        "seen by every node within a second",
        "secret_key": "the Fernet key that encrypts channel secrets at rest; empty: "
        "`data_dir/secret.key` is generated. Every node needs the same one",
        "demo": "the built-in vendor sandbox and its channels (`serve --demo`)",
        "sandbox_port": "the sandbox's port in `--demo`",
        "sandbox_key": "the key the sandbox's OpenAI-style vendors accept",
        "sandbox_kling_access_key": "the Kling access key the sandbox accepts",
        "sandbox_kling_secret_key": "the Kling secret key the sandbox accepts",
        "max_body_bytes": "the largest request body accepted (base64 images are large)",
        "upstream_connect_timeout": "seconds to connect to a vendor",
        "upstream_read_timeout": "seconds to wait for a vendor's next bytes",
        "usage_flush_seconds": "how often usage records and settlements are written",
        "cache_ttl_seconds": "how long a node trusts its key cache and catalogue without a "
        "reload (without Redis, the delay before another node sees a change)",
        "task_poll_seconds": "the first delay before polling a task's vendor (it grows x1.5 "
        "per poll)",
        "task_poll_max_seconds": "the longest delay between two polls of a task",
        "task_lease_seconds": "how long one process holds a task it polls",
        "task_timeout_seconds": "when an unfinished task is failed and refunded",
        "image_wait_seconds": "how long `POST /v1/images/generations` waits for an "
        "asynchronous image vendor (Flux, Kling)",
        "public_url": "the gateway's address as its clients reach it (`https://ai.example.com` "
        "behind a proxy): result URLs, webhooks and the base URL shown in `/docs/` use it. "
        "Empty: the address a request came to",
        "usage_retention_days": "usage detail older than this is deleted hourly (0: kept; the "
        "hourly aggregates are always kept)",
        "upstream_first_byte_timeout": "seconds to a vendor's first byte (0: the read "
        "timeout); each channel may override it",
        "upstream_idle_timeout": "seconds allowed between two reads of a vendor's answer (0: "
        "the read timeout)",
        "upstream_total_timeout": "seconds for a whole upstream exchange (0: no limit)",
        "relay_attempts": "attempts per request over all channels (failover included)",
        "relay_backoff_seconds": "the backoff before trying a channel again (jittered)",
        "channel_failures": "failures within the window that open a channel's circuit",
        "channel_failure_window_seconds": "the window in which a channel's failures are "
        "counted (since its last success)",
        "channel_cooldown_seconds": "how long an open circuit keeps a channel out",
        "channel_probe_seconds": "after this, a half-open channel no request tries gets a "
        "synthetic probe (0: none)",
        "shutdown_grace_seconds": "on SIGTERM, how long requests and streams in flight may go "
        "on before they are cut (and billed for what they delivered)",
        "node_heartbeat_seconds": "how often each serving process says it is alive",
        "node_dead_seconds": "a process silent this long is taken for dead; what it held of "
        "balances is given back",
        "webhook_retry_seconds": "a webhook's first retry delay (doubling, jittered, up to an "
        "hour)",
        "webhook_give_up_seconds": "when an undelivered webhook is given up (dead, re-sendable "
        "from `/admin/webhooks`)",
        "outbound_allow": "addresses or CIDR blocks (optionally `:port`), comma-separated, "
        "that fetches made on a user's behalf (webhooks, downloads, the image proxy) may reach "
        "although private or loopback; empty: none (the demo adds its sandbox)",
        "webhook_legacy_signing": "sign webhooks of keys made before per-key secrets with the "
        "key's stored hash (the old way) rather than sending them unsigned",
        "max_json_body_bytes": "the largest JSON body of the model endpoints",
        "max_admin_body_bytes": "the largest body of the admin API",
        "max_json_depth": "how deeply a JSON body may nest",
        "max_header_bytes": "the largest single request header",
        "max_headers_bytes": "the largest request headers, all together",
        "max_inline_image_bytes": "the largest inlined (base64 or data: URL) image or file",
        "auth_failures_per_minute": "wrong keys one client address may send a minute before "
        "it is refused (429) for a while",
        "log_level": "`DEBUG`, `INFO`, `WARNING` or `ERROR`",
        "log_format": "`json` (one object a line), `text`, or `auto` (text on a terminal)",
        "metrics": "Prometheus metrics at `/metrics` (admin key) and on `metrics_port`",
        "metrics_port": "a port of its own serving `/metrics` without a key (0: none)",
        "metrics_host": "the address `metrics_port` listens on",
        "console_session_hours": "how long a sign-in to the web console lasts (the session "
        "cookie's lifetime), in hours",
    }
)


def _default(field: dataclasses.Field[object]) -> str:
    value = field.default
    if value is None or value == "" or value == ():
        return "—"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1024 * 1024:
        return f"`{value}` ({value / 2**20:g} MiB)"
    return f"`{value}`"


def settings_fields() -> list[dataclasses.Field[object]]:
    return [f for f in dataclasses.fields(config.Settings) if f.name not in NOT_SCALARS]


def settings_table() -> str:
    """Every scalar setting: TOML name, environment variable, default, meaning."""
    env = config._ENV_NAMES
    rows = [
        "| `[server]` key | Environment variable | Default | Meaning |",
        "|---|---|---|---|",
    ]
    for field in settings_fields():
        variable = f"`{env[field.name]}`" if field.name in env else "— (TOML or CLI only)"
        rows.append(
            f"| `{field.name}` | {variable} | {_default(field)} | {DESCRIPTIONS[field.name]} |"
        )
    return "\n".join(rows)
