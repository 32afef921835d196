"""What a user's key may ask about its own account: the balance endpoints that chat clients
(NextChat, Lobe, Cherry Studio…) call, as OpenAI used to answer them, and code redemption.

``GET /v1/dashboard/billing/subscription`` (and ``/dashboard/...``): ``hard_limit_usd`` is
what the key could spend in all (left + spent); ``GET .../usage`` gives ``total_usage`` in
cents, all time, or between ``start_date`` and ``end_date`` (``YYYY-MM-DD``, end excluded)
with ``daily_costs`` per model. A key with a quota of its own answers for itself, any other
key for its user. ``POST /api/redeem {"code"}`` credits a code to the key's user.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import msgspec
from aiohttp import web
from sqlalchemy import func, select

from omnirelay.api.common import bearer_token, decode_json, gateway_of, read_body
from omnirelay.api.openai import openai_errors
from omnirelay.errors import InvalidRequest
from omnirelay.keys import KeyRecord
from omnirelay.nodes import held_by_nodes
from omnirelay.platform import balances
from omnirelay.platform.balances import Redeem, Redeemed
from omnirelay.store import api_keys, usage_hourly, users

# What the old OpenAI answer said for "no limit" (clients show it as a large number).
UNLIMITED_USD = 100_000_000.0


class Subscription(msgspec.Struct):
    soft_limit_usd: float
    hard_limit_usd: float
    system_hard_limit_usd: float
    access_until: int  # the key's expiry (epoch seconds), 0: none
    object: str = "billing_subscription"
    has_payment_method: bool = True


class LineItem(msgspec.Struct):
    name: str  # the model
    cost: float  # cents


class DailyCost(msgspec.Struct):
    timestamp: float  # the day's start, epoch seconds
    line_items: list[LineItem]


class UsageTotal(msgspec.Struct):
    total_usage: float  # cents
    daily_costs: list[DailyCost]
    object: str = "list"


class UsageDates(msgspec.Struct, forbid_unknown_fields=True):
    start_date: date | None = None
    end_date: date | None = None


def _json(value: object) -> web.Response:
    return web.Response(body=msgspec.json.encode(value), content_type="application/json")


async def _key(request: web.Request) -> KeyRecord:
    return await gateway_of(request).keys.authenticate(bearer_token(request))


async def _left_and_spent(request: web.Request, key: KeyRecord) -> tuple[int | None, int]:
    """(what is left or None for unlimited, what was spent) of the key's account; what the
    processes hold of it and have not spent counts as left (``nodes.held_by_nodes``)."""
    gateway = gateway_of(request)
    by_key = key.limited or key.user_id is None
    async with gateway.db.engine.connect() as conn:
        if by_key:
            row = (
                await conn.execute(
                    select(api_keys.c.quota_remaining, api_keys.c.spent).where(
                        api_keys.c.id == key.id
                    )
                )
            ).one()
        else:
            row = (
                await conn.execute(
                    select(users.c.balance, users.c.spent).where(users.c.id == key.user_id)
                )
            ).one()
        if row[0] is None:
            return None, int(row[1])
        if by_key:
            held = await held_by_nodes(conn, key_id=key.id)
        else:
            held = await held_by_nodes(conn, user_id=key.user_id)
    return int(row[0]) + held, int(row[1])


@openai_errors
async def subscription(request: web.Request) -> web.StreamResponse:
    key = await _key(request)
    left, spent = await _left_and_spent(request, key)
    limit = UNLIMITED_USD if left is None else (left + spent) / 1_000_000
    expires = int(key.expires_at.timestamp()) if key.expires_at is not None else 0
    return _json(Subscription(limit, limit, limit, expires))


def _dates(request: web.Request) -> UsageDates:
    try:
        return msgspec.convert(dict(request.query), UsageDates, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"invalid query parameter: {exc} (dates are YYYY-MM-DD)") from exc


@openai_errors
async def usage(request: web.Request) -> web.StreamResponse:
    key = await _key(request)
    dates = _dates(request)
    if dates.start_date is None and dates.end_date is None:
        _, spent = await _left_and_spent(request, key)
        return _json(UsageTotal(total_usage=spent / 10_000, daily_costs=[]))
    start = dates.start_date or date(1970, 1, 1)
    end = dates.end_date or datetime.now(UTC).date() + timedelta(days=1)
    table = usage_hourly.c
    by_key = key.limited or key.user_id is None
    day = (table.hour - table.hour % 86400).label("day")
    statement = (
        select(day, table.model, func.sum(table.cost).label("cost"))
        .where(
            (table.key_id == key.id) if by_key else (table.user_id == key.user_id),
            table.hour >= int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()),
            table.hour < int(datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp()),
        )
        .group_by(day, table.model)
        .order_by(day, table.model)
    )
    async with gateway_of(request).db.engine.connect() as conn:
        rows = (await conn.execute(statement)).all()
    days: dict[int, list[LineItem]] = {}
    for row in rows:
        days.setdefault(int(row.day), []).append(LineItem(row.model, int(row.cost) / 10_000))
    total = sum(int(row.cost) for row in rows)
    daily = [DailyCost(float(ts), items) for ts, items in days.items()]
    return _json(UsageTotal(total_usage=total / 10_000, daily_costs=daily))


@openai_errors
async def redeem(request: web.Request) -> web.StreamResponse:
    key = await _key(request)
    if key.user_id is None:
        raise InvalidRequest("admin keys have no balance: redeem with the user's own key")
    spec = decode_json(await read_body(request), Redeem)
    if not spec.code.strip():
        raise InvalidRequest("'code' must not be empty", param="code")
    return _json(await balances.redeem(gateway_of(request).db, key.user_id, spec.code))


def add_routes(app: web.Application) -> None:
    # Before the OpenAI surface, whose /v1/ catch-all would otherwise answer these.
    for prefix in ("/v1", ""):
        app.router.add_get(prefix + "/dashboard/billing/subscription", subscription)
        app.router.add_get(prefix + "/dashboard/billing/usage", usage)
    app.router.add_post("/api/redeem", redeem)


__all__ = ["Redeem", "Redeemed", "Subscription", "UsageDates", "UsageTotal", "add_routes"]
