"""Channels: upstream credential sets, stored with their secret encrypted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from omnirelay.catalogue import ModelInfo
from omnirelay.config import CHANNEL_OVERRIDES, ChannelSpec
from omnirelay.crypto import SecretBox
from omnirelay.store import Database, channels


@dataclass(frozen=True, slots=True)
class Channel:
    """A channel as the router and the vendor adapters see it (secret decrypted)."""

    id: int
    name: str
    vendor: str
    base_url: str
    secret: str = field(repr=False)
    models: frozenset[str]
    model_map: Mapping[str, str]
    priority: int = 0
    weight: int = 1
    groups: frozenset[str] | None = None  # the user groups it serves; None: every group
    connect_timeout: float | None = None  # None: the gateway's settings
    read_timeout: float | None = None  # the idle time allowed between two reads
    first_byte_timeout: float | None = None
    total_timeout: float | None = None
    # The circuit breaker's settings for this channel (None: the gateway's).
    failure_threshold: int | None = None
    failure_window: float | None = None
    cooldown: float | None = None

    def upstream_model(self, model: str) -> str:
        return self.model_map.get(model, model)

    def serves(self, group: str) -> bool:
        return self.groups is None or group in self.groups


def _row_values(spec: ChannelSpec, box: SecretBox) -> dict[str, Any]:
    return {
        "vendor": spec.vendor,
        "base_url": spec.base_url.rstrip("/"),
        "secret_enc": box.encrypt(spec.secret),
        "models": list(spec.models),
        "model_map": dict(spec.model_map),
        "priority": spec.priority,
        "weight": spec.weight,
        **{
            name: getattr(spec, name)
            for name in CHANNEL_OVERRIDES
            if getattr(spec, name) is not None
        },
    }


async def upsert_channels(db: Database, box: SecretBox, specs: Iterable[ChannelSpec]) -> None:
    """Write configured channels by name: configuration seeds, the database then rules."""
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        for spec in specs:
            values = _row_values(spec, box)
            existing = await conn.scalar(select(channels.c.id).where(channels.c.name == spec.name))
            if existing is None:
                await conn.execute(
                    channels.insert().values(name=spec.name, enabled=True, created_at=now, **values)
                )
            else:
                await conn.execute(
                    channels.update().where(channels.c.id == existing).values(**values)
                )


def channel_of(
    row: Any,
    box: SecretBox,
    catalogue: Mapping[str, ModelInfo],
    families: Mapping[str, frozenset[str]],
) -> Channel:
    """A channel row as the router sees it; listing no models, it serves every model of its
    vendor's families. Models the gateway disabled on it (the upstream lacks them) are left
    out."""
    served = frozenset(row.models or ())
    if not served:
        vendor_families = families.get(row.vendor, frozenset())
        served = frozenset(m.name for m in catalogue.values() if m.family in vendor_families)
    if row.disabled_models:
        served -= frozenset(row.disabled_models)
    return Channel(
        id=row.id,
        name=row.name,
        vendor=row.vendor,
        base_url=row.base_url,
        secret=box.decrypt(row.secret_enc),
        models=served,
        model_map=dict(row.model_map or {}),
        priority=row.priority,
        weight=max(1, row.weight),
        groups=frozenset(row.groups) if row.groups is not None else None,
        connect_timeout=row.connect_timeout,
        read_timeout=row.read_timeout,
        first_byte_timeout=row.first_byte_timeout,
        total_timeout=row.total_timeout,
        failure_threshold=row.failure_threshold,
        failure_window=row.failure_window,
        cooldown=row.cooldown,
    )


async def load_channels(
    db: Database,
    box: SecretBox,
    catalogue: Mapping[str, ModelInfo],
    families: Mapping[str, frozenset[str]],
) -> list[Channel]:
    """The enabled channels."""
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(channels).where(channels.c.enabled))).all()
    return [channel_of(row, box, catalogue, families) for row in rows]


async def disable_channel(db: Database, channel_id: int, reason: str, model: str | None) -> None:
    """Record that the gateway disabled a channel (``model`` None) or one model on it, and why;
    an operator's re-enabling clears both."""
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        if model is None:
            await conn.execute(
                channels.update()
                .where(channels.c.id == channel_id, channels.c.enabled)
                .values(enabled=False, disabled_reason=reason, disabled_at=now)
            )
            return
        query = select(channels.c.disabled_models).where(channels.c.id == channel_id)
        if db.is_postgres:
            query = query.with_for_update()
        found = dict(await conn.scalar(query) or {})
        found[model] = reason
        await conn.execute(
            channels.update()
            .where(channels.c.id == channel_id)
            .values(disabled_models=found, disabled_at=now)
        )
