"""The audit log: who changed what, and when, through the admin API (every mutating call,
refused ones included). Secrets in request bodies are never written."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import select

from omnirelay.platform.paging import PageQuery, paginate, utc
from omnirelay.store import Database, audit_log

# Body fields that hold a secret (channel credentials, raw codes).
SECRET_FIELDS = frozenset({"api_key", "secret", "key", "code", "codes", "password"})


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "***" if k in SECRET_FIELDS else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class AuditEntry(msgspec.Struct):
    id: int
    actor_key_id: int | None
    actor: str | None
    method: str
    path: str
    status: int
    body: Any
    ip: str | None
    created_at: datetime


class AuditQuery(PageQuery):
    actor_key_id: int | None = None
    path: str | None = None  # a prefix, e.g. /admin/keys


async def record(
    db: Database,
    *,
    actor_key_id: int | None,
    actor: str | None,
    method: str,
    path: str,
    status: int,
    body: bytes,
    ip: str | None,
) -> None:
    try:
        parsed = redact(msgspec.json.decode(body)) if body else None
    except msgspec.DecodeError:
        parsed = {"unreadable_body_bytes": len(body)}
    async with db.engine.begin() as conn:
        await conn.execute(
            audit_log.insert().values(
                actor_key_id=actor_key_id,
                actor=actor,
                method=method,
                path=path[:500],
                status=status,
                body=parsed,
                ip=ip,
                created_at=datetime.now(UTC),
            )
        )


async def entries(db: Database, query: AuditQuery) -> tuple[list[AuditEntry], str | None]:
    statement = select(audit_log)
    if query.actor_key_id is not None:
        statement = statement.where(audit_log.c.actor_key_id == query.actor_key_id)
    if query.path:
        statement = statement.where(audit_log.c.path.startswith(query.path, autoescape=True))
    rows, cursor = await paginate(db, statement, audit_log.c.id, query)
    found = [
        AuditEntry(
            id=r.id,
            actor_key_id=r.actor_key_id,
            actor=r.actor,
            method=r.method,
            path=r.path,
            status=r.status,
            body=r.body,
            ip=r.ip,
            created_at=utc(r.created_at),
        )
        for r in rows
    ]
    return found, cursor
