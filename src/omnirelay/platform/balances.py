"""Money coming in: top-ups by the admin, redemption codes, and the ledger that records both.

Every change of a balance made by a person or a code is one append-only ``balance_entries``
row, written in the same transaction as the change (requests are accounted in the usage log).
A code is redeemed by one conditional UPDATE (``redeemed_at IS NULL`` and not expired), so of
any number of attempts, from any number of processes, exactly one succeeds.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import select, update

from omnirelay.errors import InvalidRequest, NotFound
from omnirelay.money import micro_to_usd, usd_to_micro
from omnirelay.platform.paging import PageQuery, paginate, utc
from omnirelay.platform.validation import Conflict, check
from omnirelay.store import Database, balance_entries, redemption_codes, users

CODE_PREFIX = "or-"
MAX_CODES = 1000


class TopUp(msgspec.Struct, forbid_unknown_fields=True):
    amount_usd: float  # negative to correct a mistake (never below zero)
    note: str | None = None


class Entry(msgspec.Struct):
    id: int
    user_id: int
    delta_micro_usd: int
    balance_after_micro_usd: int | None
    kind: str  # topup | redeem | migration
    note: str | None
    actor: str | None
    code_id: int | None
    created_at: datetime


class EntryQuery(PageQuery):
    pass


def _entry(row: Any) -> Entry:
    return Entry(
        id=row.id,
        user_id=row.user_id,
        delta_micro_usd=row.delta,
        balance_after_micro_usd=row.balance_after,
        kind=row.kind,
        note=row.note,
        actor=row.actor,
        code_id=row.code_id,
        created_at=utc(row.created_at),
    )


async def top_up(db: Database, user_id: int, change: TopUp, actor: str | None) -> Entry:
    """Add to (or, negative, take from) a user's balance, with its ledger entry."""
    delta = usd_to_micro(change.amount_usd)
    check(delta != 0, "'amount_usd' must not be zero", "amount_usd")
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        row = (await conn.execute(select(users.c.balance).where(users.c.id == user_id))).first()
        if row is None:
            raise NotFound(f"no user with id {user_id}")
        if row.balance is None:
            raise InvalidRequest(
                "this user's balance is unlimited: make it limited first ('unlimited': false)"
            )
        result = await conn.execute(
            update(users)
            .where(users.c.id == user_id, users.c.balance + delta >= 0)
            .values(balance=users.c.balance + delta)
            .returning(users.c.balance)
        )
        after = result.scalar()
        if after is None:
            raise InvalidRequest(
                f"the balance is ${micro_to_usd(row.balance)}: taking "
                f"${micro_to_usd(-delta)} would make it negative",
                param="amount_usd",
            )
        inserted = await conn.execute(
            balance_entries.insert()
            .values(
                user_id=user_id,
                delta=delta,
                balance_after=after,
                kind="topup",
                note=change.note,
                actor=actor,
                created_at=now,
            )
            .returning(*balance_entries.c)
        )
        return _entry(inserted.one())


async def entries(db: Database, user_id: int, query: EntryQuery) -> tuple[list[Entry], str | None]:
    statement = select(balance_entries).where(balance_entries.c.user_id == user_id)
    rows, cursor = await paginate(db, statement, balance_entries.c.id, query)
    return [_entry(r) for r in rows], cursor


# --- redemption codes -------------------------------------------------------------------------


class CodeBatch(msgspec.Struct, forbid_unknown_fields=True):
    batch: str  # a name for the batch (e.g. "spring-promo")
    value_usd: float
    count: int = 1
    expires_at: datetime | None = None


class CreatedCodes(msgspec.Struct):
    batch: str
    value_micro_usd: int
    codes: list[str]  # shown once: only their hashes are kept


class Code(msgspec.Struct):
    id: int
    batch: str
    prefix: str
    value_micro_usd: int
    enabled: bool
    expires_at: datetime | None
    created_at: datetime
    redeemed_at: datetime | None
    redeemed_by: int | None  # user id


class CodeQuery(PageQuery):
    batch: str | None = None
    redeemed: bool | None = None


class Redeem(msgspec.Struct):
    code: str


class Redeemed(msgspec.Struct):
    redeemed_micro_usd: int
    balance_micro_usd: int


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def _code(row: Any) -> Code:
    return Code(
        id=row.id,
        batch=row.batch,
        prefix=row.code_prefix,
        value_micro_usd=row.value,
        enabled=bool(row.enabled),
        expires_at=utc(row.expires_at),
        created_at=utc(row.created_at),
        redeemed_at=utc(row.redeemed_at),
        redeemed_by=row.redeemed_by,
    )


async def create_codes(db: Database, spec: CodeBatch) -> CreatedCodes:
    batch = spec.batch.strip()
    check(0 < len(batch) <= 100, "'batch' must be 1-100 characters", "batch")
    value = usd_to_micro(spec.value_usd)
    check(value > 0, "'value_usd' must be positive", "value_usd")
    check(1 <= spec.count <= MAX_CODES, f"'count' must be between 1 and {MAX_CODES}", "count")
    expires = utc(spec.expires_at)
    check(
        expires is None or expires > datetime.now(UTC), "'expires_at' is in the past", "expires_at"
    )
    now = datetime.now(UTC)
    codes = [CODE_PREFIX + secrets.token_urlsafe(18) for _ in range(spec.count)]
    async with db.engine.begin() as conn:
        await conn.execute(
            redemption_codes.insert(),
            [
                {
                    "batch": batch,
                    "code_hash": _hash(code),
                    "code_prefix": code[:9],
                    "value": value,
                    "enabled": True,
                    "expires_at": expires,
                    "created_at": now,
                }
                for code in codes
            ],
        )
    return CreatedCodes(batch=batch, value_micro_usd=value, codes=codes)


async def list_codes(db: Database, query: CodeQuery) -> tuple[list[Code], str | None]:
    statement = select(redemption_codes)
    if query.batch is not None:
        statement = statement.where(redemption_codes.c.batch == query.batch)
    if query.redeemed is not None:
        column = redemption_codes.c.redeemed_at
        statement = statement.where(column.is_not(None) if query.redeemed else column.is_(None))
    rows, cursor = await paginate(db, statement, redemption_codes.c.id, query)
    return [_code(r) for r in rows], cursor


async def disable_code(db: Database, code_id: int) -> Code:
    async with db.engine.begin() as conn:
        row = (
            await conn.execute(
                update(redemption_codes)
                .where(redemption_codes.c.id == code_id)
                .values(enabled=False)
                .returning(*redemption_codes.c)
            )
        ).first()
    if row is None:
        raise NotFound(f"no code with id {code_id}")
    return _code(row)


async def redeem(db: Database, user_id: int, code: str) -> Redeemed:
    """Credit a code's value to a user's balance; each code succeeds once, ever."""
    digest = _hash(code)
    now = datetime.now(UTC)
    table = redemption_codes.c
    async with db.engine.begin() as conn:
        balance = await conn.scalar(select(users.c.balance).where(users.c.id == user_id))
        if balance is None:
            raise InvalidRequest("this account's balance is unlimited: there is nothing to add")
        claimed = (
            await conn.execute(
                update(redemption_codes)
                .where(
                    table.code_hash == digest,
                    table.redeemed_at.is_(None),
                    table.enabled,
                    (table.expires_at.is_(None)) | (table.expires_at > now),
                )
                .values(redeemed_at=now, redeemed_by=user_id)
                .returning(table.id, table.value)
            )
        ).first()
        if claimed is None:
            await _why_not(conn, digest, now)
        assert claimed is not None
        after = (
            await conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(balance=users.c.balance + claimed.value)
                .returning(users.c.balance)
            )
        ).scalar_one()
        await conn.execute(
            balance_entries.insert().values(
                user_id=user_id,
                delta=claimed.value,
                balance_after=after,
                kind="redeem",
                note=None,
                actor=f"code {claimed.id}",
                code_id=claimed.id,
                created_at=now,
            )
        )
    return Redeemed(redeemed_micro_usd=int(claimed.value), balance_micro_usd=int(after))


async def _why_not(conn: Any, digest: str, now: datetime) -> None:
    row = (
        await conn.execute(select(redemption_codes).where(redemption_codes.c.code_hash == digest))
    ).first()
    if row is None:
        raise InvalidRequest("this code does not exist", code="invalid_code", param="code")
    if row.redeemed_at is not None:
        raise Conflict("this code was already redeemed", code="code_already_redeemed")
    if not row.enabled:
        raise InvalidRequest("this code was withdrawn", code="code_disabled", param="code")
    raise InvalidRequest("this code has expired", code="code_expired", param="code")
