"""The admin API under ``/admin``: keys, channels, models and usage. Admin keys only.

Errors use the OpenAI envelope, like the relay endpoints, so one client library reads both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import web
from sqlalchemy import func, select

from omnirelay.api.common import bearer_token, decode_json, gateway_of, read_body
from omnirelay.api.openai import openai_errors
from omnirelay.catalogue import PRICE_COLUMNS, model_row_to_json
from omnirelay.channels import upsert_channels
from omnirelay.config import ChannelSpec
from omnirelay.errors import InvalidRequest, NotFound, PermissionDenied
from omnirelay.gateway import Gateway
from omnirelay.keys import create_key
from omnirelay.money import usd_to_micro
from omnirelay.store import api_keys, channels, models, usage_records


class KeyCreate(msgspec.Struct):
    name: str
    quota_usd: float | None = None
    models: list[str] | None = None
    expires_at: datetime | None = None
    is_admin: bool = False


class KeyUpdate(msgspec.Struct):
    enabled: bool | None = None
    add_quota_usd: float | None = None
    models: list[str] | None = None


class ChannelCreate(msgspec.Struct):
    name: str
    base_url: str
    api_key: str
    vendor: str = "openai"
    models: list[str] = []
    model_map: dict[str, str] = {}
    priority: int = 0
    weight: int = 1


class ModelPrices(msgspec.Struct):
    prices: dict[str, float]


async def _admin(request: web.Request) -> Gateway:
    gateway = gateway_of(request)
    key = await gateway.keys.authenticate(bearer_token(request))
    if not key.is_admin:
        raise PermissionDenied("this endpoint needs an admin key", code="admin_only")
    return gateway


def _utc(value: Any) -> Any:
    # SQLite hands back naive datetimes; everything stored is UTC, so say so on the wire.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _json(value: Any, status: int = 200) -> web.Response:
    body = msgspec.json.encode(value)
    return web.Response(body=body, status=status, content_type="application/json")


def _key_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.key_prefix,
        "quota_remaining_micro_usd": row.quota_remaining,
        "spent_micro_usd": row.spent,
        "models": row.models,
        "expires_at": _utc(row.expires_at),
        "is_admin": row.is_admin,
        "enabled": row.enabled,
    }


@openai_errors
async def list_keys(request: web.Request) -> web.StreamResponse:
    gateway = await _admin(request)
    async with gateway.db.engine.connect() as conn:
        rows = (await conn.execute(select(api_keys).order_by(api_keys.c.id))).all()
    return _json({"data": [_key_json(r) for r in rows]})


@openai_errors
async def get_key(request: web.Request) -> web.StreamResponse:
    gateway = await _admin(request)
    key_id = int(request.match_info["key_id"])
    async with gateway.db.engine.connect() as conn:
        row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
    if row is None:
        raise NotFound(f"no key with id {key_id}")
    return _json(_key_json(row))


@openai_errors
async def create_key_handler(request: web.Request) -> web.StreamResponse:
    gateway = await _admin(request)
    spec = decode_json(await read_body(request), KeyCreate)
    quota = usd_to_micro(spec.quota_usd) if spec.quota_usd is not None else None
    if quota is not None and quota < 0:
        raise InvalidRequest("'quota_usd' must not be negative", param="quota_usd")
    raw, key_id = await create_key(
        gateway.db,
        name=spec.name,
        quota=quota,
        models=spec.models,
        expires_at=spec.expires_at,
        is_admin=spec.is_admin,
    )
    return _json({"id": key_id, "key": raw, "name": spec.name}, status=201)


@openai_errors
async def update_key(request: web.Request) -> web.StreamResponse:
    gateway = await _admin(request)
    key_id = int(request.match_info["key_id"])
    change = decode_json(await read_body(request), KeyUpdate)
    values: dict[str, Any] = {}
    if change.enabled is not None:
        values["enabled"] = change.enabled
    if change.models is not None:
        values["models"] = sorted(change.models)
    if change.add_quota_usd is not None:
        values["quota_remaining"] = func.coalesce(api_keys.c.quota_remaining, 0) + usd_to_micro(
            change.add_quota_usd
        )
    if not values:
        raise InvalidRequest("nothing to change")
    async with gateway.db.engine.begin() as conn:
        result = await conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(values))
    if result.rowcount != 1:
        raise NotFound(f"no key with id {key_id}")
    gateway.keys.invalidate()
    return await get_key(request)


@openai_errors
async def list_channels(request: web.Request) -> web.StreamResponse:
    gateway = await _admin(request)
    async with gateway.db.engine.connect() as conn:
        rows = (await conn.execute(select(channels).order_by(channels.c.id))).all()
    data = [
        {
            "id": r.id,
            "name": r.name,
            "vendor": r.vendor,
            "base_url": r.base_url,
            "models": r.models,
            "model_map": r.model_map,
            "priority": r.priority,
            "weight": r.weight,
            "enabled": r.enabled,
            "cooling_down": gateway.router.is_cooling(r.id),
        }
        for r in rows
    ]
    return _json({"data": data})


@openai_errors
async def create_channel(request: web.Request) -> web.StreamResponse:
    gateway = await _admin(request)
    spec = decode_json(await read_body(request), ChannelCreate)
    if spec.vendor not in gateway.vendors:
        raise InvalidRequest(
            f"unknown vendor '{spec.vendor}'; known: {', '.join(sorted(gateway.vendors))}",
            param="vendor",
        )
    if not spec.base_url.startswith(("http://", "https://")):
        raise InvalidRequest("'base_url' must be an http(s) URL", param="base_url")
    await upsert_channels(
        gateway.db,
        gateway.box,
        [
            ChannelSpec(
                name=spec.name,
                vendor=spec.vendor,
                base_url=spec.base_url,
                secret=spec.api_key,
                models=tuple(spec.models),
                model_map=spec.model_map,
                priority=spec.priority,
                weight=spec.weight,
            )
        ],
    )
    await gateway.reload()
    return _json({"name": spec.name}, status=201)


@openai_errors
async def set_channel_enabled(request: web.Request) -> web.StreamResponse:
    gateway = await _admin(request)
    name = request.match_info["name"]
    enabled = request.match_info["action"] == "enable"
    async with gateway.db.engine.begin() as conn:
        result = await conn.execute(
            channels.update().where(channels.c.name == name).values(enabled=enabled)
        )
    if result.rowcount != 1:
        raise NotFound(f"no channel named '{name}'")
    await gateway.reload()
    return _json({"name": name, "enabled": enabled})


@openai_errors
async def list_models_admin(request: web.Request) -> web.StreamResponse:
    gateway = await _admin(request)
    return _json({"data": [model_row_to_json(m) for m in gateway.catalogue.values()]})


@openai_errors
async def set_model_prices(request: web.Request) -> web.StreamResponse:
    gateway = await _admin(request)
    name = request.match_info["model"]
    change = decode_json(await read_body(request), ModelPrices)
    unknown = set(change.prices) - set(PRICE_COLUMNS)
    if unknown:
        raise InvalidRequest(f"unknown price names: {', '.join(sorted(unknown))}", param="prices")
    values = {PRICE_COLUMNS[k]: usd_to_micro(v) for k, v in change.prices.items()}
    async with gateway.db.engine.begin() as conn:
        result = await conn.execute(models.update().where(models.c.name == name).values(values))
    if result.rowcount != 1:
        raise NotFound(f"no model named '{name}'", code="model_not_found")
    await gateway.reload()
    return _json(model_row_to_json(gateway.catalogue[name]))


@openai_errors
async def list_usage(request: web.Request) -> web.StreamResponse:
    gateway = await _admin(request)
    query = select(usage_records).order_by(usage_records.c.id.desc())
    if "key_id" in request.query:
        query = query.where(usage_records.c.key_id == int(request.query["key_id"]))
    if "request_id" in request.query:
        query = query.where(usage_records.c.request_id == request.query["request_id"])
    limit = min(int(request.query.get("limit", "100")), 1000)
    async with gateway.db.engine.connect() as conn:
        rows = (await conn.execute(query.limit(limit))).mappings().all()
    data = [{k: _utc(v) for k, v in r.items()} for r in rows]
    return _json({"data": data, "now": datetime.now(UTC)})


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/admin/keys", list_keys)
    router.add_post("/admin/keys", create_key_handler)
    router.add_get("/admin/keys/{key_id:\\d+}", get_key)
    router.add_patch("/admin/keys/{key_id:\\d+}", update_key)
    router.add_get("/admin/channels", list_channels)
    router.add_post("/admin/channels", create_channel)
    router.add_post("/admin/channels/{name}/{action:enable|disable}", set_channel_enabled)
    router.add_get("/admin/models", list_models_admin)
    router.add_put("/admin/models/{model}/prices", set_model_prices)
    router.add_get("/admin/usage", list_usage)
