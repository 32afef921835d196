"""API keys: created once and shown once, stored as SHA-256 hashes, looked up through a cache.

Keys are 256-bit random tokens, so a fast hash is enough (no password stretching needed).
The cache holds what a key *may* do (models, expiry, enabled); the balance is never cached:
billing reads and writes it in the database.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from omnirelay.errors import AuthenticationFailed, PermissionDenied
from omnirelay.store import Database, api_keys

KEY_PREFIX = "sk-or-"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: int
    name: str
    models: frozenset[str] | None
    expires_at: datetime | None
    is_admin: bool
    enabled: bool
    limited: bool  # has a quota (False: unlimited)

    def check_model(self, model: str) -> None:
        if self.models is not None and model not in self.models:
            raise PermissionDenied(f"this API key may not use the model '{model}'")


def _record(row: Any) -> KeyRecord:
    expires = row.expires_at
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)  # SQLite returns naive datetimes
    return KeyRecord(
        id=row.id,
        name=row.name,
        models=frozenset(row.models) if row.models is not None else None,
        expires_at=expires,
        is_admin=bool(row.is_admin),
        enabled=bool(row.enabled),
        limited=row.quota_remaining is not None,
    )


async def create_key(
    db: Database,
    *,
    name: str,
    quota: int | None = None,
    models: Iterable[str] | None = None,
    expires_at: datetime | None = None,
    is_admin: bool = False,
    raw: str | None = None,
) -> tuple[str, int]:
    """Store a new key and return (the raw key, its id). The raw key is not kept."""
    raw = raw or new_key()
    async with db.engine.begin() as conn:
        result = await conn.execute(
            api_keys.insert().values(
                name=name,
                key_hash=hash_key(raw),
                key_prefix=raw[:10],
                quota_remaining=quota,
                spent=0,
                models=sorted(models) if models is not None else None,
                expires_at=expires_at,
                is_admin=is_admin,
                enabled=True,
                created_at=datetime.now(UTC),
            )
        )
        key_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return raw, key_id


async def ensure_admin_key(db: Database, raw: str | None) -> str | None:
    """Make sure an admin key exists. Returns a newly generated raw key, or None."""
    async with db.engine.connect() as conn:
        if raw is not None:
            found = await conn.scalar(
                select(api_keys.c.id).where(api_keys.c.key_hash == hash_key(raw))
            )
            if found is not None:
                return None
        else:
            found = await conn.scalar(select(api_keys.c.id).where(api_keys.c.is_admin))
            if found is not None:
                return None
    created, _ = await create_key(db, name="admin", is_admin=True, raw=raw)
    return None if raw is not None else created


class KeyCache:
    """Maps raw keys to records, re-reading a key from the database after ``ttl`` seconds."""

    def __init__(self, db: Database, ttl: float) -> None:
        self._db = db
        self._ttl = ttl
        self._entries: dict[str, tuple[float, KeyRecord]] = {}

    def invalidate(self) -> None:
        self._entries.clear()

    async def authenticate(self, raw: str | None) -> KeyRecord:
        if not raw:
            raise AuthenticationFailed(
                "missing API key: send it as 'Authorization: Bearer <key>'",
                code="missing_api_key",
            )
        digest = hash_key(raw)
        now = time.monotonic()
        entry = self._entries.get(digest)
        if entry is None or now - entry[0] > self._ttl:
            async with self._db.engine.connect() as conn:
                row = (
                    await conn.execute(select(api_keys).where(api_keys.c.key_hash == digest))
                ).first()
            if row is None:
                raise AuthenticationFailed("invalid API key")
            if len(self._entries) > 100_000:
                self._entries.clear()
            entry = (now, _record(row))
            self._entries[digest] = entry
        record = entry[1]
        if not record.enabled:
            raise AuthenticationFailed("this API key is disabled", code="api_key_disabled")
        if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
            raise AuthenticationFailed("this API key has expired", code="api_key_expired")
        return record
