"""Models and their prices as an operator manages them, task prices included.

Price names are those of ``catalogue.PRICE_COLUMNS`` (``input``, ``output``, ``per_request``,
…, and whatever the catalogue adds, such as cache prices): the API takes and shows exactly
what the catalogue prices. Task prices keep the shape of catalogue.toml's ``[[task_prices]]``
entries (model, product, mode, duration, usd).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from omnirelay.catalogue import KINDS, PRICE_COLUMNS, ModelInfo
from omnirelay.errors import InvalidRequest, NotFound
from omnirelay.money import usd_to_micro
from omnirelay.platform.validation import Conflict, check
from omnirelay.store import Database, models, task_prices
from omnirelay.tasks.pricing import PriceKey, TaskPrices


class TaskPrice(msgspec.Struct):
    id: int
    model: str
    product: str
    mode: str
    duration: str
    price_micro_usd: int


class ModelView(msgspec.Struct):
    name: str
    kind: str
    family: str
    prices_micro_usd: dict[str, int]  # per the unit each price name says
    task_prices: list[TaskPrice]  # a task model's prices (per task)
    routable: bool  # some enabled channel serves it


class ModelCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    kind: str
    family: str
    prices: dict[str, float] = {}  # dollars, by price name


class ModelUpdate(msgspec.Struct, forbid_unknown_fields=True):
    kind: str | msgspec.UnsetType = msgspec.UNSET
    family: str | msgspec.UnsetType = msgspec.UNSET
    prices: dict[str, float] | msgspec.UnsetType = msgspec.UNSET  # the names given are set


class ModelPrices(msgspec.Struct, forbid_unknown_fields=True):
    prices: dict[str, float]


class TaskPriceCreate(msgspec.Struct, forbid_unknown_fields=True):
    model: str
    product: str
    usd: float
    mode: str = ""  # empty: every mode
    duration: str = ""  # empty: every duration


class TaskPriceUpdate(msgspec.Struct, forbid_unknown_fields=True):
    usd: float


def _price_values(prices: Mapping[str, float]) -> dict[str, int]:
    unknown = set(prices) - set(PRICE_COLUMNS)
    if unknown:
        raise InvalidRequest(
            f"unknown price names: {', '.join(sorted(unknown))}; known: {', '.join(PRICE_COLUMNS)}",
            param="prices",
        )
    values = {PRICE_COLUMNS[k]: usd_to_micro(v) for k, v in prices.items()}
    check(all(v >= 0 for v in values.values()), "prices must not be negative", "prices")
    return values


def _kind(kind: str) -> str:
    check(kind in KINDS, f"unknown kind '{kind}'; known: {', '.join(sorted(KINDS))}", "kind")
    return kind


def view(
    info: ModelInfo, prices: TaskPrices, ids: Mapping[PriceKey, int], routable: bool
) -> ModelView:
    return ModelView(
        name=info.name,
        kind=info.kind,
        family=info.family,
        prices_micro_usd=dict(info.prices_usd()),
        task_prices=[
            TaskPrice(ids.get(key, 0), key.model, key.product, key.mode, key.duration, price)
            for key, price in prices.for_model(info.name)
        ],
        routable=routable,
    )


async def create_model(db: Database, spec: ModelCreate) -> None:
    name = spec.name.strip()
    check(0 < len(name) <= 200, "'name' must be 1-200 characters", "name")
    family = spec.family.strip()
    check(bool(family), "'family' must not be empty", "family")
    values = {column: 0 for column in PRICE_COLUMNS.values()}
    values.update(_price_values(spec.prices))
    async with db.engine.begin() as conn:
        try:
            await conn.execute(
                models.insert().values(
                    name=name,
                    kind=_kind(spec.kind),
                    family=family,
                    created_at=datetime.now(UTC),
                    **values,
                )
            )
        except IntegrityError as exc:
            raise Conflict(f"a model named '{name}' already exists", param="name") from exc


async def update_model(db: Database, name: str, spec: ModelUpdate | ModelPrices) -> None:
    values: dict[str, Any] = {}
    if isinstance(spec, ModelUpdate):
        if not isinstance(spec.kind, msgspec.UnsetType):
            values["kind"] = _kind(spec.kind)
        if not isinstance(spec.family, msgspec.UnsetType):
            check(bool(spec.family.strip()), "'family' must not be empty", "family")
            values["family"] = spec.family.strip()
    prices = spec.prices
    if not isinstance(prices, msgspec.UnsetType):
        values.update(_price_values(prices))
    check(bool(values), "nothing to change")
    async with db.engine.begin() as conn:
        result = await conn.execute(models.update().where(models.c.name == name).values(values))
    if result.rowcount != 1:
        raise NotFound(f"no model named '{name}'", code="model_not_found")


async def delete_model(db: Database, name: str) -> None:
    async with db.engine.begin() as conn:
        result = await conn.execute(models.delete().where(models.c.name == name))
    if result.rowcount != 1:
        raise NotFound(f"no model named '{name}'", code="model_not_found")


async def task_price_ids(db: Database) -> dict[PriceKey, int]:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(task_prices))).all()
    return {PriceKey(r.model, r.product, r.mode, r.duration): int(r.id) for r in rows}


def _task_price(row: Any) -> TaskPrice:
    return TaskPrice(row.id, row.model, row.product, row.mode, row.duration, int(row.price))


async def list_task_prices(db: Database) -> list[TaskPrice]:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(task_prices).order_by(task_prices.c.id))).all()
    return [_task_price(r) for r in rows]


async def create_task_price(db: Database, spec: TaskPriceCreate) -> TaskPrice:
    price = usd_to_micro(spec.usd)
    check(price >= 0, "'usd' must not be negative", "usd")
    async with db.engine.begin() as conn:
        known = await conn.scalar(select(models.c.kind).where(models.c.name == spec.model))
        check(known is not None, f"unknown model '{spec.model}'", "model")
        check(bool(spec.product.strip()), "'product' must not be empty", "product")
        try:
            row = (
                await conn.execute(
                    task_prices.insert()
                    .values(
                        model=spec.model,
                        product=spec.product.strip(),
                        mode=spec.mode.strip(),
                        duration=spec.duration.strip(),
                        price=price,
                        created_at=datetime.now(UTC),
                    )
                    .returning(*task_prices.c)
                )
            ).one()
        except IntegrityError as exc:
            raise Conflict("that model, product, mode and duration already have a price") from exc
    return _task_price(row)


async def update_task_price(db: Database, price_id: int, spec: TaskPriceUpdate) -> TaskPrice:
    price = usd_to_micro(spec.usd)
    check(price >= 0, "'usd' must not be negative", "usd")
    async with db.engine.begin() as conn:
        row = (
            await conn.execute(
                task_prices.update()
                .where(task_prices.c.id == price_id)
                .values(price=price)
                .returning(*task_prices.c)
            )
        ).first()
    if row is None:
        raise NotFound(f"no task price with id {price_id}")
    return _task_price(row)


async def delete_task_price(db: Database, price_id: int) -> None:
    async with db.engine.begin() as conn:
        result = await conn.execute(task_prices.delete().where(task_prices.c.id == price_id))
    if result.rowcount != 1:
        raise NotFound(f"no task price with id {price_id}")
