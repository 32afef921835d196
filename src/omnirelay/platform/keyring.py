"""API keys as an operator manages them: one validation for the admin API and the CLI.

A user key spends its user's balance and may carry its own limits: a quota (a cap of its own
spending), a model allow-list, an expiry, an IP allow-list (CIDR) and rate limits. A key made
without a user gets a user of its own, named after it. Admin keys belong to no user; the last
enabled one can be neither disabled, demoted nor deleted, so the operator is never locked out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from omnirelay.crypto import SecretBox
from omnirelay.errors import InvalidRequest, NotFound
from omnirelay.keys import create_key
from omnirelay.money import usd_to_micro
from omnirelay.nodes import held_per, plus_held
from omnirelay.platform.limits.base import Limits, limits_from_json
from omnirelay.platform.paging import PageQuery, paginate, utc
from omnirelay.platform.validation import Conflict, check, check_networks, known_models
from omnirelay.store import Database, api_keys, node_holds, users
from omnirelay.tasks.signing import new_secret


class KeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    user_id: int | None = None  # null: a new user of its own, named after the key
    quota_usd: float | None = None  # the key's own cap; null: only its user's balance limits it
    models: list[str] | None = None  # null: every model its group may see
    expires_at: datetime | None = None
    allowed_ips: list[str] | None = None  # CIDR blocks or addresses; null: from anywhere
    limits: Limits | None = None
    is_admin: bool = False  # an admin key: manages the gateway, belongs to no user


class KeyUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    add_quota_usd: float | msgspec.UnsetType = msgspec.UNSET  # added to the key's own quota
    quota_usd: float | msgspec.UnsetType | None = msgspec.UNSET  # set it (null: no cap)
    models: list[str] | msgspec.UnsetType | None = msgspec.UNSET
    expires_at: datetime | msgspec.UnsetType | None = msgspec.UNSET
    allowed_ips: list[str] | msgspec.UnsetType | None = msgspec.UNSET
    limits: Limits | msgspec.UnsetType | None = msgspec.UNSET
    is_admin: bool | msgspec.UnsetType = msgspec.UNSET  # demoting needs ``user_id`` too
    user_id: int | msgspec.UnsetType = msgspec.UNSET


class Key(msgspec.Struct):
    id: int
    name: str
    prefix: str
    user_id: int | None
    quota_remaining_micro_usd: int | None  # the key's own quota left; null: none
    spent_micro_usd: int
    balance_micro_usd: int | None  # its user's balance; null: unlimited (or an admin key)
    models: list[str] | None
    expires_at: datetime | None
    allowed_ips: list[str] | None
    limits: Limits | None
    is_admin: bool
    enabled: bool
    created_at: datetime


class CreatedKey(msgspec.Struct):
    id: int
    key: str  # shown once
    name: str
    user_id: int | None
    # Signs the key's webhooks (X-Omnirelay-Signature); shown once, rotatable.
    webhook_secret: str | None = None


class WebhookSecret(msgspec.Struct):
    id: int
    webhook_secret: str  # shown once


class KeyQuery(PageQuery):
    user_id: int | None = None
    limit: int = 1000  # oldest first: the whole list fits one page for most gateways


def _key(row: Any) -> Key:
    return Key(
        id=row.id,
        name=row.name,
        prefix=row.key_prefix,
        user_id=row.user_id,
        quota_remaining_micro_usd=plus_held(row.quota_remaining, row.key_held),
        spent_micro_usd=row.spent,
        balance_micro_usd=plus_held(row.user_balance, row.user_held),
        models=row.models,
        expires_at=utc(row.expires_at),
        allowed_ips=row.allowed_ips,
        limits=limits_from_json(row.limits),
        is_admin=bool(row.is_admin),
        enabled=bool(row.enabled),
        created_at=utc(row.created_at),
    )


_KEY_HELD, _USER_HELD = held_per(node_holds.c.key_id), held_per(node_holds.c.user_id)
# Balances as their owners see them: what the processes hold (leases, requests in flight) and
# have not spent counts as left. As stored, a quota read lower by a worker's idle lease.
_KEYS = select(
    api_keys,
    users.c.balance.label("user_balance"),
    _KEY_HELD.c.held.label("key_held"),
    _USER_HELD.c.held.label("user_held"),
).select_from(
    api_keys.outerjoin(users, users.c.id == api_keys.c.user_id)
    .outerjoin(_KEY_HELD, _KEY_HELD.c.account == api_keys.c.id)
    .outerjoin(_USER_HELD, _USER_HELD.c.account == api_keys.c.user_id)
)


async def get_key(db: Database, key_id: int) -> Key:
    async with db.engine.connect() as conn:
        row = (await conn.execute(_KEYS.where(api_keys.c.id == key_id))).first()
    if row is None:
        raise NotFound(f"no key with id {key_id}")
    return _key(row)


async def list_keys(db: Database, query: KeyQuery) -> tuple[list[Key], str | None]:
    statement = _KEYS
    if query.user_id is not None:
        statement = statement.where(api_keys.c.user_id == query.user_id)
    rows, cursor = await paginate(db, statement, api_keys.c.id, query, newest_first=False)
    return [_key(r) for r in rows], cursor


def _quota(usd: float | None, param: str) -> int | None:
    if usd is None:
        return None
    amount = usd_to_micro(usd)
    check(amount >= 0, f"'{param}' must not be negative", param)
    return amount


def _check_limits(limits: Limits | None) -> Limits | None:
    if limits is not None:
        check(not limits.problems(), "; ".join(limits.problems()), "limits")
    return limits


async def _name_free(
    conn: AsyncConnection, name: str, user_id: int | None, key_id: int = 0
) -> None:
    same = select(api_keys.c.id).where(api_keys.c.name == name, api_keys.c.id != key_id)
    same = same.where(api_keys.c.user_id == user_id if user_id is not None else api_keys.c.is_admin)
    if await conn.scalar(same) is not None:
        owner = f"user {user_id}" if user_id is not None else "the admin keys"
        raise Conflict(f"{owner} already has a key named '{name}'", param="name")


async def _validate_create(conn: AsyncConnection, spec: KeyCreate) -> str:
    name = spec.name.strip()
    check(0 < len(name) <= 200, "'name' must be 1-200 characters", "name")
    _quota(spec.quota_usd, "quota_usd")
    if spec.models is not None:
        check(bool(spec.models), "'models' must name at least one model (null: all)", "models")
        await known_models(conn, spec.models)
    if spec.allowed_ips is not None:
        check_networks(spec.allowed_ips)
    if spec.expires_at is not None:
        expires = spec.expires_at
        aware = expires.replace(tzinfo=UTC) if expires.tzinfo is None else expires
        check(aware > datetime.now(UTC), "'expires_at' is in the past", "expires_at")
    _check_limits(spec.limits)
    if spec.is_admin:
        check(spec.user_id is None, "admin keys belong to no user", "user_id")
    elif spec.user_id is not None:
        if await conn.scalar(select(users.c.id).where(users.c.id == spec.user_id)) is None:
            raise InvalidRequest(f"no user with id {spec.user_id}", param="user_id")
    else:
        taken = await conn.scalar(select(users.c.id).where(users.c.name == name))
        if taken is not None:
            raise Conflict(
                f"a user named '{name}' already exists: pass its user_id to give it a key",
                param="name",
            )
    await _name_free(conn, name, spec.user_id, 0)
    return name


async def create(db: Database, spec: KeyCreate, box: SecretBox) -> CreatedKey:
    """Validate and store a key (and, without ``user_id``, its user). The raw key and its
    webhook signing secret are shown once; the secret is stored encrypted with ``box``."""
    secret = new_secret()
    async with db.engine.connect() as conn:
        name = await _validate_create(conn, spec)
        models = await known_models(conn, spec.models) if spec.models is not None else None
    raw, key_id = await create_key(
        db,
        name=name,
        quota=_quota(spec.quota_usd, "quota_usd"),
        models=models,
        expires_at=spec.expires_at,
        is_admin=spec.is_admin,
        user_id=spec.user_id,
        allowed_ips=check_networks(spec.allowed_ips) if spec.allowed_ips is not None else None,
        limits=spec.limits,
        webhook_secret=box.encrypt(secret),
    )
    created = await get_key(db, key_id)
    return CreatedKey(id=key_id, key=raw, name=name, user_id=created.user_id, webhook_secret=secret)


async def rotate_webhook_secret(db: Database, key_id: int, box: SecretBox) -> WebhookSecret:
    """A new signing secret for the key's webhooks (shown once); the old one stops at once."""
    secret = new_secret()
    async with db.engine.begin() as conn:
        result = await conn.execute(
            api_keys.update()
            .where(api_keys.c.id == key_id)
            .values(webhook_secret=box.encrypt(secret))
        )
    if not result.rowcount:
        raise NotFound(f"no key with id {key_id}")
    return WebhookSecret(id=key_id, webhook_secret=secret)


async def _enabled_admins(conn: AsyncConnection) -> int:
    count = await conn.scalar(select(func.count()).where(api_keys.c.is_admin, api_keys.c.enabled))
    return int(count or 0)


async def _guard_last_admin(conn: AsyncConnection, row: Any, losing: bool) -> None:
    """Refuse to take away the last enabled admin key (disable, demote or delete)."""
    if losing and row.is_admin and row.enabled and await _enabled_admins(conn) <= 1:
        raise Conflict(
            "this is the last enabled admin key: create another admin key first, or the "
            "gateway could no longer be managed",
            code="last_admin_key",
        )


async def _update_values(conn: AsyncConnection, row: Any, change: KeyUpdate) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if not isinstance(change.name, msgspec.UnsetType):
        name = change.name.strip()
        check(0 < len(name) <= 200, "'name' must be 1-200 characters", "name")
        await _name_free(conn, name, row.user_id, row.id)
        values["name"] = name
    if not isinstance(change.enabled, msgspec.UnsetType):
        values["enabled"] = change.enabled
    if not isinstance(change.quota_usd, msgspec.UnsetType):
        values["quota_remaining"] = _quota(change.quota_usd, "quota_usd")
    if not isinstance(change.add_quota_usd, msgspec.UnsetType):
        added = usd_to_micro(change.add_quota_usd)
        check(added >= 0, "'add_quota_usd' must not be negative", "add_quota_usd")
        values["quota_remaining"] = func.coalesce(api_keys.c.quota_remaining, 0) + added
    if not isinstance(change.models, msgspec.UnsetType):
        if change.models is not None:
            check(
                bool(change.models), "'models' must name at least one model (null: all)", "models"
            )
        values["models"] = (
            sorted(await known_models(conn, change.models)) if change.models is not None else None
        )
    if not isinstance(change.expires_at, msgspec.UnsetType):
        values["expires_at"] = change.expires_at
    if not isinstance(change.allowed_ips, msgspec.UnsetType):
        values["allowed_ips"] = (
            check_networks(change.allowed_ips) if change.allowed_ips is not None else None
        )
    if not isinstance(change.limits, msgspec.UnsetType):
        limits = _check_limits(change.limits)
        values["limits"] = msgspec.to_builtins(limits) if limits is not None else None
    await _admin_change(conn, row, change, values)
    return values


async def _admin_change(
    conn: AsyncConnection, row: Any, change: KeyUpdate, values: dict[str, Any]
) -> None:
    demote = change.is_admin is False and row.is_admin
    await _guard_last_admin(conn, row, values.get("enabled") is False or demote)
    if change.is_admin is True and not row.is_admin:
        values.update(is_admin=True, user_id=None)
    elif demote:
        if isinstance(change.user_id, msgspec.UnsetType):
            raise InvalidRequest(
                "a user key needs a user: pass 'user_id' to demote", param="user_id"
            )
        values.update(is_admin=False)
    if not isinstance(change.user_id, msgspec.UnsetType):
        check(demote, "a key's user is fixed once it has one", "user_id")
        if await conn.scalar(select(users.c.id).where(users.c.id == change.user_id)) is None:
            raise InvalidRequest(f"no user with id {change.user_id}", param="user_id")
        values["user_id"] = change.user_id


async def update(db: Database, key_id: int, change: KeyUpdate) -> Key:
    async with db.engine.begin() as conn:
        row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
        if row is None:
            raise NotFound(f"no key with id {key_id}")
        values = await _update_values(conn, row, change)
        check(bool(values), "nothing to change")
        await conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(values))
    return await get_key(db, key_id)


async def delete(db: Database, key_id: int) -> None:
    async with db.engine.begin() as conn:
        row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
        if row is None:
            raise NotFound(f"no key with id {key_id}")
        await _guard_last_admin(conn, row, True)
        await conn.execute(api_keys.delete().where(api_keys.c.id == key_id))
