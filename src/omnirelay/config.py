"""Settings: environment variables, optionally overlaid by a TOML file. One place, read once.

The TOML file may hold a ``[server]`` table (same names as the settings below), ``[[channels]]``
to declare upstream channels and ``[[models]]`` to add or re-price catalogue models. The
database stays the source of truth at run time: the file only seeds it at start.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8000
DEFAULT_SANDBOX_PORT = 8100


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """A channel declared in configuration (TOML or vendor keys in the environment)."""

    name: str
    vendor: str
    base_url: str
    secret: str
    models: tuple[str, ...]
    model_map: Mapping[str, str] = field(default_factory=dict)
    priority: int = 0
    weight: int = 1
    # Health and timeouts of this channel (None: the settings'); ``read_timeout`` is the idle
    # time allowed between two reads.
    failure_threshold: int | None = None
    failure_window: float | None = None
    cooldown: float | None = None
    connect_timeout: float | None = None
    first_byte_timeout: float | None = None
    read_timeout: float | None = None
    total_timeout: float | None = None


# The ChannelSpec fields a TOML channel may set to override the settings.
CHANNEL_OVERRIDES = {
    "failure_threshold": int,
    "failure_window": float,
    "cooldown": float,
    "connect_timeout": float,
    "first_byte_timeout": float,
    "read_timeout": float,
    "total_timeout": float,
}


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A catalogue entry declared in configuration; prices in dollars as a person writes them."""

    name: str
    kind: str
    family: str
    prices: Mapping[str, float]
    max_output_tokens: int | None = None  # the most a chat model writes in one answer


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = 1
    data_dir: Path = Path("data")
    database_url: str = ""
    admin_key: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    demo: bool = False
    sandbox_port: int = DEFAULT_SANDBOX_PORT
    sandbox_key: str = "sk-sandbox-demo"
    # The Kling access/secret key pair the sandbox accepts (its JWTs are signed with these).
    sandbox_kling_access_key: str = "ak-sandbox-kling"
    sandbox_kling_secret_key: str = "sk-sandbox-kling-secret-0123456789abcdef"  # noqa: S105 - sandbox only
    max_body_bytes: int = 64 * 1024 * 1024
    upstream_connect_timeout: float = 10.0
    upstream_read_timeout: float = 300.0
    usage_flush_seconds: float = 0.25
    cache_ttl_seconds: float = 5.0
    # Asynchronous tasks: first poll delay (it grows towards the max for long jobs), how long
    # a claimed task is held by one process, and when an unfinished task is failed and refunded.
    task_poll_seconds: float = 2.0
    task_poll_max_seconds: float = 30.0
    task_lease_seconds: float = 60.0
    task_timeout_seconds: float = 7200.0
    # How long POST /v1/images/generations waits for an asynchronous vendor (Flux, Kling).
    image_wait_seconds: float = 180.0
    # The gateway's address as its clients reach it (behind a proxy: "https://ai.example.com");
    # result URLs it serves itself (Midjourney's imageUrl) start with it. Empty: the address a
    # request came to, or host:port in webhooks.
    public_url: str = ""
    # The platform: usage detail older than this many days is deleted (0: kept forever; the
    # hourly aggregates are always kept).
    usage_retention_days: int = 0
    # How long a console sign-in lasts (the session cookie's lifetime), in hours.
    console_session_hours: float = 12.0
    # Reliability. Timeouts in seconds (0: the read timeout for the first byte and the idle
    # time between reads; 0 total: none); per channel overridable.
    upstream_first_byte_timeout: float = 0.0
    upstream_idle_timeout: float = 0.0
    upstream_total_timeout: float = 0.0
    # Attempts per request over all channels; the backoff before trying a channel again.
    relay_attempts: int = 3
    relay_backoff_seconds: float = 0.2
    # A channel's circuit opens after this many failures within the window, for the cool-down;
    # a half-open channel no request probes gets a synthetic probe after probe seconds (0: off).
    channel_failures: int = 5
    channel_failure_window_seconds: float = 60.0
    channel_cooldown_seconds: float = 30.0
    channel_probe_seconds: float = 5.0
    # SIGTERM: how long in-flight requests and streams may go on before they are cancelled.
    shutdown_grace_seconds: float = 25.0
    # Serving processes heartbeat; one silent this long is taken for dead, and what it held of
    # balances is given back.
    node_heartbeat_seconds: float = 5.0
    node_dead_seconds: float = 30.0
    # Webhooks: the first retry's delay (it doubles, jittered, up to an hour) and when an
    # undelivered one is given up (dead, re-sendable from the admin API).
    webhook_retry_seconds: float = 1.0
    webhook_give_up_seconds: float = 86400.0
    channels: tuple[ChannelSpec, ...] = ()
    models: tuple[ModelSpec, ...] = ()
    # Fetches made on a user's behalf (webhooks, result downloads, the image proxy) never reach
    # private, loopback, link-local, CGNAT, multicast, reserved or metadata addresses; these
    # entries (an address or CIDR block, optionally ":port") are the operator's exceptions.
    # The demo adds the sandbox's own address (docs/operators/security.md).
    outbound_allow: tuple[str, ...] = ()
    # Webhooks of keys made before per-key signing secrets are signed the old way (keyed with
    # the key's stored hash) only while this is on; without it they go out unsigned.
    webhook_legacy_signing: bool = False
    # Request limits (413 or 400 in the client's own format): JSON bodies of the model
    # endpoints, admin bodies (uploads and multipart forms may use max_body_bytes), JSON
    # nesting, one header's size and all headers', an image inlined as base64 or data URL.
    max_json_body_bytes: int = 32 * 1024 * 1024
    max_admin_body_bytes: int = 1024 * 1024
    max_json_depth: int = 64
    max_header_bytes: int = 8 * 1024
    max_headers_bytes: int = 32 * 1024
    max_inline_image_bytes: int = 20 * 1024 * 1024
    # Failed authentications one client address may make per minute before it is refused.
    auth_failures_per_minute: int = 30
    # Logs: level, and "json" (one object a line), "text", or "auto" (text on a terminal).
    log_level: str = "INFO"
    log_format: str = "auto"
    # Prometheus metrics: on the main port at /metrics behind an admin key, or (metrics_port)
    # on a port of their own without authentication, bound to metrics_host.
    metrics: bool = True
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"

    @property
    def outbound_allow_rules(self) -> tuple[str, ...]:
        """The allow-list in force: the operator's, and in the demo the sandbox's address."""
        sandbox = (f"127.0.0.1:{self.sandbox_port}",) if self.demo else ()
        return self.outbound_allow + sandbox

    @property
    def resolved_database_url(self) -> str:
        # The demo keeps its own database, so its sandbox channels never leak into real use.
        name = "demo.db" if self.demo else "omnirelay.db"
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / name}"


_ENV_NAMES: dict[str, str] = {
    "host": "OMNIRELAY_HOST",
    "port": "OMNIRELAY_PORT",
    "workers": "OMNIRELAY_WORKERS",
    "data_dir": "OMNIRELAY_DATA_DIR",
    "database_url": "OMNIRELAY_DATABASE_URL",
    "admin_key": "OMNIRELAY_ADMIN_KEY",
    "redis_url": "OMNIRELAY_REDIS_URL",
    "secret_key": "OMNIRELAY_SECRET_KEY",
    "sandbox_port": "OMNIRELAY_SANDBOX_PORT",
    "sandbox_key": "OMNIRELAY_SANDBOX_KEY",
    "max_body_bytes": "OMNIRELAY_MAX_BODY_BYTES",
    "upstream_read_timeout": "OMNIRELAY_UPSTREAM_TIMEOUT",
    "sandbox_kling_access_key": "OMNIRELAY_SANDBOX_KLING_ACCESS_KEY",
    "sandbox_kling_secret_key": "OMNIRELAY_SANDBOX_KLING_SECRET_KEY",
    "task_poll_seconds": "OMNIRELAY_TASK_POLL_SECONDS",
    "task_poll_max_seconds": "OMNIRELAY_TASK_POLL_MAX_SECONDS",
    "task_lease_seconds": "OMNIRELAY_TASK_LEASE_SECONDS",
    "task_timeout_seconds": "OMNIRELAY_TASK_TIMEOUT_SECONDS",
    "image_wait_seconds": "OMNIRELAY_IMAGE_WAIT_SECONDS",
    "public_url": "OMNIRELAY_PUBLIC_URL",
    "usage_retention_days": "OMNIRELAY_USAGE_RETENTION_DAYS",
    "cache_ttl_seconds": "OMNIRELAY_CACHE_TTL_SECONDS",
    "console_session_hours": "OMNIRELAY_CONSOLE_SESSION_HOURS",
    "upstream_connect_timeout": "OMNIRELAY_UPSTREAM_CONNECT_TIMEOUT",
    "upstream_first_byte_timeout": "OMNIRELAY_UPSTREAM_FIRST_BYTE_TIMEOUT",
    "upstream_idle_timeout": "OMNIRELAY_UPSTREAM_IDLE_TIMEOUT",
    "upstream_total_timeout": "OMNIRELAY_UPSTREAM_TOTAL_TIMEOUT",
    "relay_attempts": "OMNIRELAY_RELAY_ATTEMPTS",
    "relay_backoff_seconds": "OMNIRELAY_RELAY_BACKOFF_SECONDS",
    "channel_failures": "OMNIRELAY_CHANNEL_FAILURES",
    "channel_failure_window_seconds": "OMNIRELAY_CHANNEL_FAILURE_WINDOW_SECONDS",
    "channel_cooldown_seconds": "OMNIRELAY_CHANNEL_COOLDOWN_SECONDS",
    "channel_probe_seconds": "OMNIRELAY_CHANNEL_PROBE_SECONDS",
    "shutdown_grace_seconds": "OMNIRELAY_SHUTDOWN_GRACE_SECONDS",
    "node_heartbeat_seconds": "OMNIRELAY_NODE_HEARTBEAT_SECONDS",
    "node_dead_seconds": "OMNIRELAY_NODE_DEAD_SECONDS",
    "webhook_retry_seconds": "OMNIRELAY_WEBHOOK_RETRY_SECONDS",
    "webhook_give_up_seconds": "OMNIRELAY_WEBHOOK_GIVE_UP_SECONDS",
    "outbound_allow": "OMNIRELAY_OUTBOUND_ALLOW",
    "webhook_legacy_signing": "OMNIRELAY_WEBHOOK_LEGACY_SIGNING",
    "max_json_body_bytes": "OMNIRELAY_MAX_JSON_BODY_BYTES",
    "max_admin_body_bytes": "OMNIRELAY_MAX_ADMIN_BODY_BYTES",
    "max_json_depth": "OMNIRELAY_MAX_JSON_DEPTH",
    "max_header_bytes": "OMNIRELAY_MAX_HEADER_BYTES",
    "max_headers_bytes": "OMNIRELAY_MAX_HEADERS_BYTES",
    "max_inline_image_bytes": "OMNIRELAY_MAX_INLINE_IMAGE_BYTES",
    "auth_failures_per_minute": "OMNIRELAY_AUTH_FAILURES_PER_MINUTE",
    "log_level": "OMNIRELAY_LOG_LEVEL",
    "log_format": "OMNIRELAY_LOG_FORMAT",
    "metrics": "OMNIRELAY_METRICS",
    "metrics_port": "OMNIRELAY_METRICS_PORT",
    "metrics_host": "OMNIRELAY_METRICS_HOST",
}


def _coerce(name: str, raw: Any) -> Any:
    kinds = {f.name: f.type for f in fields(Settings)}
    kind = str(kinds[name])
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "bool":
        return raw if isinstance(raw, bool) else str(raw).lower() in {"1", "true", "yes", "on"}
    if kind == "Path":
        return Path(raw)
    if kind.startswith("tuple[str"):
        items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
        return tuple(str(item).strip() for item in items if str(item).strip())
    return str(raw)


def normalize_database_url(url: str) -> str:
    """Accept the URLs people write (``postgresql://``, ``sqlite:///``) and pick async drivers."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def _channels_from_env(env: Mapping[str, str]) -> list[ChannelSpec]:
    """Vendor keys in the environment become channels, so a real key just works."""
    specs: list[ChannelSpec] = []
    if env.get("OPENAI_API_KEY"):
        specs.append(
            ChannelSpec(
                name="openai-env",
                vendor="openai",
                base_url=env.get("OMNIRELAY_OPENAI_BASE_URL", "https://api.openai.com/v1"),
                secret=env["OPENAI_API_KEY"],
                models=(),  # empty: every catalogue model of the vendor's family
            )
        )
    if env.get("KLING_ACCESS_KEY") and env.get("KLING_SECRET_KEY"):
        specs.append(
            ChannelSpec(
                name="kling-env",
                vendor="kling",
                base_url=env.get("OMNIRELAY_KLING_BASE_URL", "https://api-singapore.klingai.com"),
                # Kling's credential is a pair; a channel secret holds it as ACCESS:SECRET.
                secret=f"{env['KLING_ACCESS_KEY']}:{env['KLING_SECRET_KEY']}",
                models=(),
            )
        )
    if env.get("ANTHROPIC_API_KEY"):
        specs.append(
            ChannelSpec(
                name="anthropic-env",
                vendor="anthropic",
                base_url=env.get("OMNIRELAY_ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
                secret=env["ANTHROPIC_API_KEY"],
                models=(),
            )
        )
    if env.get("GEMINI_API_KEY"):
        specs.append(
            ChannelSpec(
                name="gemini-env",
                vendor="gemini",
                base_url=env.get(
                    "OMNIRELAY_GEMINI_BASE_URL", "https://generativelanguage.googleapis.com"
                ),
                secret=env["GEMINI_API_KEY"],
                models=(),
            )
        )
    return specs


def _channel_from_toml(raw: Mapping[str, Any], env: Mapping[str, str]) -> ChannelSpec:
    secret = raw.get("api_key") or env.get(str(raw.get("api_key_env", "")), "")
    return ChannelSpec(
        name=str(raw["name"]),
        vendor=str(raw.get("vendor", "openai")),
        base_url=str(raw["base_url"]),
        secret=str(secret),
        models=tuple(str(m) for m in raw.get("models", ())),
        model_map={str(k): str(v) for k, v in dict(raw.get("model_map", {})).items()},
        priority=int(raw.get("priority", 0)),
        weight=int(raw.get("weight", 1)),
        **{name: kind(raw[name]) for name, kind in CHANNEL_OVERRIDES.items() if name in raw},
    )


def _model_from_toml(raw: Mapping[str, Any]) -> ModelSpec:
    prices = {k: float(v) for k, v in dict(raw.get("prices", {})).items()}
    return ModelSpec(
        name=str(raw["name"]),
        kind=str(raw.get("kind", "chat")),
        family=str(raw.get("family", "openai")),
        prices=prices,
        max_output_tokens=int(raw["max_output_tokens"]) if "max_output_tokens" in raw else None,
    )


def load_settings(
    env: Mapping[str, str] | None = None, config_file: Path | None = None, **overrides: Any
) -> Settings:
    """Build settings: defaults < TOML ``[server]`` < environment < explicit overrides (CLI)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    channels: list[ChannelSpec] = []
    models: list[ModelSpec] = []
    if config_file is not None:
        document = tomllib.loads(config_file.read_text(encoding="utf-8"))
        for name, raw in dict(document.get("server", {})).items():
            values[name] = _coerce(name, raw)
        channels += [_channel_from_toml(c, env) for c in document.get("channels", [])]
        models += [_model_from_toml(m) for m in document.get("models", [])]
    for name, var in _ENV_NAMES.items():
        if env.get(var):
            values[name] = _coerce(name, env[var])
    values.update({k: v for k, v in overrides.items() if v is not None})
    channels += _channels_from_env(env)
    settings = replace(Settings(), **values, channels=tuple(channels), models=tuple(models))
    if settings.database_url:
        settings = replace(settings, database_url=normalize_database_url(settings.database_url))
    return settings
