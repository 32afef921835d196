"""Users and groups as an operator manages them: typed requests, one validation, storage.

A user belongs to one group, owns a balance (micro-dollars; NULL: unlimited) and keys. A group
has a price ratio (applied at settlement), the models its users may see, and default rate
limits. Balances change only through ``balances`` (top-ups, codes) and requests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnirelay.errors import InvalidRequest, NotFound
from omnirelay.money import MICRO, usd_to_micro
from omnirelay.nodes import held_per, plus_held
from omnirelay.platform.limits.base import Limits, limits_from_json
from omnirelay.platform.paging import PageQuery, paginate, utc
from omnirelay.platform.validation import Conflict, check, known_models
from omnirelay.store import Database, api_keys, balance_entries, groups, node_holds, users

# --- groups ---------------------------------------------------------------------------------


class GroupCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    ratio: float = 1.0  # prices are multiplied by it (0.8: 20% off)
    models: list[str] | None = None  # the models its users may see; null: all
    limits: Limits | None = None  # defaults for its users


class GroupUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    ratio: float | msgspec.UnsetType = msgspec.UNSET
    models: list[str] | msgspec.UnsetType | None = msgspec.UNSET
    limits: Limits | msgspec.UnsetType | None = msgspec.UNSET


class Group(msgspec.Struct):
    id: int
    name: str
    ratio: float
    models: list[str] | None
    limits: Limits | None
    users: int
    created_at: datetime


def _ratio_ppm(ratio: float) -> int:
    ppm = usd_to_micro(ratio)  # the same exact decimal rounding as money
    if not 0 < ppm <= 100 * MICRO:
        raise InvalidRequest("'ratio' must be above 0 and at most 100", param="ratio")
    return ppm


async def _group_values(conn: AsyncConnection, spec: GroupCreate | GroupUpdate) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if not isinstance(spec.name, msgspec.UnsetType):
        check(
            bool(spec.name.strip()) and len(spec.name) <= 100,
            "'name' must be 1-100 characters",
            "name",
        )
        values["name"] = spec.name.strip()
    if not isinstance(spec.ratio, msgspec.UnsetType):
        values["ratio_ppm"] = _ratio_ppm(spec.ratio)
    if not isinstance(spec.models, msgspec.UnsetType):
        if spec.models is not None:
            await known_models(conn, spec.models)
        values["models"] = sorted(set(spec.models)) if spec.models is not None else None
    if not isinstance(spec.limits, msgspec.UnsetType):
        if spec.limits is not None:
            check(not spec.limits.problems(), "; ".join(spec.limits.problems()), "limits")
        values["limits"] = msgspec.to_builtins(spec.limits) if spec.limits else None
    return values


async def create_group(db: Database, spec: GroupCreate) -> Group:
    async with db.engine.begin() as conn:
        values = await _group_values(conn, spec)
        try:
            result = await conn.execute(
                groups.insert().values(**values, created_at=datetime.now(UTC))
            )
        except IntegrityError as exc:
            raise Conflict(f"a group named '{spec.name}' already exists") from exc
        group_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return await get_group(db, group_id)


async def update_group(db: Database, group_id: int, spec: GroupUpdate) -> Group:
    async with db.engine.begin() as conn:
        values = await _group_values(conn, spec)
        check(bool(values), "nothing to change")
        try:
            result = await conn.execute(
                groups.update().where(groups.c.id == group_id).values(values)
            )
        except IntegrityError as exc:
            raise Conflict("a group with that name already exists") from exc
    if result.rowcount != 1:
        raise NotFound(f"no group with id {group_id}")
    return await get_group(db, group_id)


async def delete_group(db: Database, group_id: int) -> None:
    async with db.engine.begin() as conn:
        row = (await conn.execute(select(groups).where(groups.c.id == group_id))).first()
        if row is None:
            raise NotFound(f"no group with id {group_id}")
        if row.name == "default":
            raise Conflict("the 'default' group cannot be deleted")
        members = await conn.scalar(select(func.count()).where(users.c.group_id == group_id))
        if members:
            raise Conflict(f"the group '{row.name}' has {members} user(s); move them first")
        await conn.execute(groups.delete().where(groups.c.id == group_id))


def _group(row: Any, members: int) -> Group:
    return Group(
        id=row.id,
        name=row.name,
        ratio=row.ratio_ppm / MICRO,
        models=row.models,
        limits=limits_from_json(row.limits),
        users=members,
        created_at=utc(row.created_at),
    )


async def list_groups(db: Database) -> list[Group]:
    counts = select(users.c.group_id, func.count().label("n")).group_by(users.c.group_id).subquery()
    statement = (
        select(groups, func.coalesce(counts.c.n, 0).label("members"))
        .select_from(groups.outerjoin(counts, counts.c.group_id == groups.c.id))
        .order_by(groups.c.id)
    )
    async with db.engine.connect() as conn:
        rows = (await conn.execute(statement)).all()
    return [_group(r, int(r.members)) for r in rows]


async def get_group(db: Database, group_id: int) -> Group:
    found = [g for g in await list_groups(db) if g.id == group_id]
    if not found:
        raise NotFound(f"no group with id {group_id}")
    return found[0]


async def group_id_named(conn: AsyncConnection, name: str) -> int:
    found = await conn.scalar(select(groups.c.id).where(groups.c.name == name))
    if found is None:
        raise InvalidRequest(f"no group named '{name}'", param="group")
    return int(found)


# --- users ----------------------------------------------------------------------------------


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    group: str = "default"
    # The opening balance in dollars (a ``topup`` entry in the ledger); null: unlimited.
    balance_usd: float | None = 0.0
    limits: Limits | None = None  # over the group's defaults, field by field
    note: str | None = None


class UserUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    group: str | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    limits: Limits | msgspec.UnsetType | None = msgspec.UNSET
    note: str | msgspec.UnsetType | None = msgspec.UNSET
    # true: no balance at all (spends without limit); false: a balance starting at 0.
    unlimited: bool | msgspec.UnsetType = msgspec.UNSET


class User(msgspec.Struct):
    id: int
    name: str
    group: str
    balance_micro_usd: int | None  # null: unlimited
    spent_micro_usd: int
    limits: Limits | None
    enabled: bool
    note: str | None
    keys: int
    created_at: datetime


class UserQuery(PageQuery):
    group: str | None = None
    name: str | None = None  # a part of the name


def _check_name(name: str) -> str:
    name = name.strip()
    check(0 < len(name) <= 200, "'name' must be 1-200 characters", "name")
    return name


def _check_limits(limits: Limits | None) -> Any:
    if limits is None:
        return None
    check(not limits.problems(), "; ".join(limits.problems()), "limits")
    return msgspec.to_builtins(limits)


async def create_user(db: Database, spec: UserCreate, actor: str | None = None) -> User:
    name = _check_name(spec.name)
    balance = usd_to_micro(spec.balance_usd) if spec.balance_usd is not None else None
    check(balance is None or balance >= 0, "'balance_usd' must not be negative", "balance_usd")
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        group_id = await group_id_named(conn, spec.group)
        try:
            result = await conn.execute(
                users.insert().values(
                    name=name,
                    group_id=group_id,
                    balance=balance,
                    spent=0,
                    limits=_check_limits(spec.limits),
                    enabled=True,
                    note=spec.note,
                    created_at=now,
                )
            )
        except IntegrityError as exc:
            raise Conflict(f"a user named '{name}' already exists", param="name") from exc
        user_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        if balance:
            await conn.execute(
                balance_entries.insert().values(
                    user_id=user_id,
                    delta=balance,
                    balance_after=balance,
                    kind="topup",
                    note="opening balance",
                    actor=actor,
                    created_at=now,
                )
            )
    return await get_user(db, user_id)


async def update_user(db: Database, user_id: int, spec: UserUpdate) -> User:
    values: dict[str, Any] = {}
    async with db.engine.begin() as conn:
        if not isinstance(spec.name, msgspec.UnsetType):
            values["name"] = _check_name(spec.name)
        if not isinstance(spec.group, msgspec.UnsetType):
            values["group_id"] = await group_id_named(conn, spec.group)
        if not isinstance(spec.enabled, msgspec.UnsetType):
            values["enabled"] = spec.enabled
        if not isinstance(spec.limits, msgspec.UnsetType):
            values["limits"] = _check_limits(spec.limits)
        if not isinstance(spec.note, msgspec.UnsetType):
            values["note"] = spec.note
        statement = users.update().where(users.c.id == user_id)
        if not isinstance(spec.unlimited, msgspec.UnsetType):
            # Only a change of kind: a balance stays a balance (top-ups move money).
            if spec.unlimited:
                values["balance"] = None
            else:
                values["balance"] = func.coalesce(users.c.balance, 0)
        check(bool(values), "nothing to change")
        try:
            result = await conn.execute(statement.values(values))
        except IntegrityError as exc:
            raise Conflict("a user with that name already exists", param="name") from exc
    if result.rowcount != 1:
        raise NotFound(f"no user with id {user_id}")
    return await get_user(db, user_id)


def _users_statement() -> Any:
    counts = (
        select(api_keys.c.user_id, func.count().label("n")).group_by(api_keys.c.user_id).subquery()
    )
    # What the processes hold of a balance and have not spent counts as left (leases).
    held = held_per(node_holds.c.user_id)
    return select(
        users,
        groups.c.name.label("group_name"),
        func.coalesce(counts.c.n, 0).label("n_keys"),
        held.c.held.label("held"),
    ).select_from(
        users.join(groups, groups.c.id == users.c.group_id)
        .outerjoin(counts, counts.c.user_id == users.c.id)
        .outerjoin(held, held.c.account == users.c.id)
    )


def _user(row: Any) -> User:
    return User(
        id=row.id,
        name=row.name,
        group=row.group_name,
        balance_micro_usd=plus_held(row.balance, row.held),
        spent_micro_usd=row.spent,
        limits=limits_from_json(row.limits),
        enabled=bool(row.enabled),
        note=row.note,
        keys=int(row.n_keys),
        created_at=utc(row.created_at),
    )


async def get_user(db: Database, user_id: int) -> User:
    async with db.engine.connect() as conn:
        row = (await conn.execute(_users_statement().where(users.c.id == user_id))).first()
    if row is None:
        raise NotFound(f"no user with id {user_id}")
    return _user(row)


async def list_users(db: Database, query: UserQuery) -> tuple[list[User], str | None]:
    statement = _users_statement()
    if query.group is not None:
        statement = statement.where(groups.c.name == query.group)
    if query.name:
        statement = statement.where(users.c.name.contains(query.name, autoescape=True))
    rows, cursor = await paginate(db, statement, users.c.id, query)
    return [_user(r) for r in rows], cursor
