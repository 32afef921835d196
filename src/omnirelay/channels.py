"""Channels: upstream credential sets, stored with their secret encrypted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from omnirelay.catalogue import ModelInfo
from omnirelay.config import ChannelSpec
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
    read_timeout: float | None = None

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
    vendor's families."""
    served = frozenset(row.models or ())
    if not served:
        vendor_families = families.get(row.vendor, frozenset())
        served = frozenset(m.name for m in catalogue.values() if m.family in vendor_families)
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
