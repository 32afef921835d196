"""Channels as an operator manages them: create, change, delete, test, watch.

The secret is write-only: it is stored encrypted and never returned (a change replaces it).
The test action sends the smallest real request the channel's vendor takes (a one-token chat
in the vendor's own format; for a task-only vendor, a query for a task that does not exist,
which proves address and credentials without costing anything) and records the latency and
the answer on the channel.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import aiohttp
import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnirelay.catalogue import ModelInfo
from omnirelay.channels import Channel, channel_of
from omnirelay.crypto import SecretBox
from omnirelay.errors import GatewayError, InvalidRequest, NotFound
from omnirelay.formats.codec import codec
from omnirelay.platform.paging import utc
from omnirelay.platform.validation import Conflict, check, known_models
from omnirelay.relay import channel_timeout
from omnirelay.routing import Router
from omnirelay.store import Database, channels, groups
from omnirelay.vendors import Operation, RelayVendor, TaskVendor, Vendor

TEST_TIMEOUT = 30.0
# A task id no vendor has: asking for it proves the address and the credentials.
_ABSENT_TASK = "omnirelay-channel-test-0000"


class ChannelCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    base_url: str
    api_key: str  # write-only
    vendor: str = "openai"
    models: list[str] = []  # empty: every model of the vendor's families
    model_map: dict[str, str] = {}  # our model name → the vendor's
    priority: int = 0
    weight: int = 1
    groups: list[str] | None = None  # the user groups it serves; null: all
    connect_timeout: float | None = None  # seconds; null: the gateway's setting
    read_timeout: float | None = None  # idle time allowed between two reads
    first_byte_timeout: float | None = None
    total_timeout: float | None = None
    # The circuit breaker: open after failure_threshold failures within failure_window
    # seconds, for cooldown seconds (null: the gateway's settings).
    failure_threshold: int | None = None
    failure_window: float | None = None
    cooldown: float | None = None
    enabled: bool = True


class ChannelUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    base_url: str | msgspec.UnsetType = msgspec.UNSET
    api_key: str | msgspec.UnsetType = msgspec.UNSET
    vendor: str | msgspec.UnsetType = msgspec.UNSET
    models: list[str] | msgspec.UnsetType = msgspec.UNSET
    model_map: dict[str, str] | msgspec.UnsetType = msgspec.UNSET
    priority: int | msgspec.UnsetType = msgspec.UNSET
    weight: int | msgspec.UnsetType = msgspec.UNSET
    groups: list[str] | msgspec.UnsetType | None = msgspec.UNSET
    connect_timeout: float | msgspec.UnsetType | None = msgspec.UNSET
    read_timeout: float | msgspec.UnsetType | None = msgspec.UNSET
    first_byte_timeout: float | msgspec.UnsetType | None = msgspec.UNSET
    total_timeout: float | msgspec.UnsetType | None = msgspec.UNSET
    failure_threshold: int | msgspec.UnsetType | None = msgspec.UNSET
    failure_window: float | msgspec.UnsetType | None = msgspec.UNSET
    cooldown: float | msgspec.UnsetType | None = msgspec.UNSET
    # true also clears what the gateway disabled by itself (the channel, or models on it)
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class LastTest(msgspec.Struct):
    status: str  # ok | error
    latency_ms: int | None
    message: str | None
    tested_at: datetime


class ChannelView(msgspec.Struct):
    id: int
    name: str
    vendor: str
    base_url: str
    models: list[str]
    model_map: dict[str, str]
    priority: int
    weight: int
    groups: list[str] | None
    connect_timeout: float | None
    read_timeout: float | None
    enabled: bool
    cooling_down: bool
    last_test: LastTest | None
    created_at: datetime
    first_byte_timeout: float | None = None
    total_timeout: float | None = None
    failure_threshold: int | None = None
    failure_window: float | None = None
    cooldown: float | None = None
    state: str = "closed"  # closed | open | half_open | cooling | disabled (this node's view)
    # Why the gateway disabled the channel by itself (a broken credential, an account out of
    # balance), and models it disabled on it (the upstream lacks them): model → reason.
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    disabled_models: dict[str, str] = {}


class ChannelTest(msgspec.Struct, forbid_unknown_fields=True):
    model: str | None = None  # default: the channel's first chat model


class TestResult(msgspec.Struct):
    channel_id: int
    model: str | None
    ok: bool
    http_status: int | None
    latency_ms: int
    answer: str | None
    error: str | None
    tested_at: datetime


class RecentError(msgspec.Struct):
    at: datetime
    reason: str


class ChannelHealthView(msgspec.Struct):
    id: int
    name: str
    enabled: bool
    failures_in_a_row: int
    cooling_down_seconds: float  # 0: healthy
    successes: int  # since this node started
    errors: int
    recent_errors: list[RecentError]  # this node's, newest last
    last_test: LastTest | None
    state: str = "closed"  # closed | open | half_open | cooling | disabled
    failures_in_window: int = 0
    circuit_opened: int = 0  # times since this node started
    disabled_reason: str | None = None
    disabled_models: dict[str, str] = {}


def _last_test(row: Any) -> LastTest | None:
    if row.tested_at is None:
        return None
    return LastTest(row.test_status, row.test_latency_ms, row.test_message, utc(row.tested_at))


def _state(row: Any, router: Router) -> str:
    if not row.enabled:
        return "disabled"
    return str(router.health(row.id).state)


def view(row: Any, router: Router) -> ChannelView:
    return ChannelView(
        id=row.id,
        name=row.name,
        vendor=row.vendor,
        base_url=row.base_url,
        models=list(row.models or []),
        model_map=dict(row.model_map or {}),
        priority=row.priority,
        weight=row.weight,
        groups=row.groups,
        connect_timeout=row.connect_timeout,
        read_timeout=row.read_timeout,
        enabled=bool(row.enabled),
        cooling_down=router.is_cooling(row.id),
        last_test=_last_test(row),
        created_at=utc(row.created_at),
        first_byte_timeout=row.first_byte_timeout,
        total_timeout=row.total_timeout,
        failure_threshold=row.failure_threshold,
        failure_window=row.failure_window,
        cooldown=row.cooldown,
        state=_state(row, router),
        disabled_reason=row.disabled_reason,
        disabled_at=utc(row.disabled_at) if row.disabled_at is not None else None,
        disabled_models=dict(row.disabled_models or {}),
    )


async def _known_groups(conn: AsyncConnection, names: list[str]) -> list[str]:
    known = set((await conn.execute(select(groups.c.name))).scalars())
    for name in names:
        check(name in known, f"no group named '{name}'", "groups")
    return sorted(set(names))


async def _values(
    conn: AsyncConnection,
    spec: ChannelCreate | ChannelUpdate,
    vendors: Mapping[str, Vendor],
    box: SecretBox,
) -> dict[str, Any]:
    given = {
        name: getattr(spec, name)
        for name in spec.__struct_fields__
        if not isinstance(getattr(spec, name), msgspec.UnsetType)
    }
    values: dict[str, Any] = {}
    if "name" in given:
        name = given["name"].strip()
        check(0 < len(name) <= 200, "'name' must be 1-200 characters", "name")
        values["name"] = name
    if "vendor" in given:
        check(
            given["vendor"] in vendors,
            f"unknown vendor '{given['vendor']}'; known: {', '.join(sorted(vendors))}",
            "vendor",
        )
        values["vendor"] = given["vendor"]
    if "base_url" in given:
        url = given["base_url"].strip()
        check(
            url.startswith(("http://", "https://")), "'base_url' must be an http(s) URL", "base_url"
        )
        values["base_url"] = url.rstrip("/")
    if "api_key" in given:
        check(bool(given["api_key"]), "'api_key' must not be empty", "api_key")
        values["secret_enc"] = box.encrypt(given["api_key"])
    if "models" in given:
        values["models"] = await known_models(conn, given["models"]) if given["models"] else []
    if "model_map" in given:
        values["model_map"] = dict(given["model_map"])
    if "groups" in given:
        chosen = given["groups"]
        values["groups"] = await _known_groups(conn, chosen) if chosen is not None else None
    values.update(_plain_values(given))
    return values


def _plain_values(given: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "weight" in given:
        check(1 <= given["weight"] <= 1000, "'weight' must be between 1 and 1000", "weight")
    for name in _POSITIVE:
        if name in given:
            check(given[name] is None or given[name] > 0, f"'{name}' must be positive", name)
    for name in ("priority", "weight", "enabled", *_POSITIVE):
        if name in given:
            values[name] = given[name]
    if given.get("enabled") is True:
        values.update(ENABLED_AGAIN)
    return values


_POSITIVE = (
    "connect_timeout",
    "read_timeout",
    "first_byte_timeout",
    "total_timeout",
    "failure_threshold",
    "failure_window",
    "cooldown",
)
# An operator enabling a channel clears what the gateway disabled by itself.
ENABLED_AGAIN: dict[str, Any] = {
    "disabled_reason": None,
    "disabled_at": None,
    "disabled_models": None,
}


async def create(
    db: Database, spec: ChannelCreate, vendors: Mapping[str, Vendor], box: SecretBox
) -> int:
    async with db.engine.begin() as conn:
        values = await _values(conn, spec, vendors, box)
        try:
            result = await conn.execute(
                channels.insert().values(**values, created_at=datetime.now(UTC))
            )
        except IntegrityError as exc:
            raise Conflict(
                f"a channel named '{values['name']}' already exists", param="name"
            ) from exc
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def update(
    db: Database,
    channel_id: int,
    spec: ChannelUpdate,
    vendors: Mapping[str, Vendor],
    box: SecretBox,
) -> None:
    async with db.engine.begin() as conn:
        values = await _values(conn, spec, vendors, box)
        check(bool(values), "nothing to change")
        try:
            result = await conn.execute(
                channels.update().where(channels.c.id == channel_id).values(values)
            )
        except IntegrityError as exc:
            raise Conflict("a channel with that name already exists", param="name") from exc
    if result.rowcount != 1:
        raise NotFound(f"no channel with id {channel_id}")


async def delete(db: Database, channel_id: int) -> None:
    async with db.engine.begin() as conn:
        result = await conn.execute(channels.delete().where(channels.c.id == channel_id))
    if result.rowcount != 1:
        raise NotFound(f"no channel with id {channel_id}")


async def row_of(db: Database, channel_id: int) -> Any:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(channels).where(channels.c.id == channel_id))).first()
    if row is None:
        raise NotFound(f"no channel with id {channel_id}")
    return row


async def rows(db: Database) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(select(channels).order_by(channels.c.id))).all())


def health(row: Any, router: Router) -> ChannelHealthView:
    seen = router.health(row.id)
    return ChannelHealthView(
        id=row.id,
        name=row.name,
        enabled=bool(row.enabled),
        failures_in_a_row=seen.failures,
        cooling_down_seconds=round(seen.cooling_for, 1),
        successes=seen.successes,
        errors=seen.errors,
        recent_errors=[
            RecentError(datetime.fromtimestamp(at, UTC), reason)
            for at, reason in seen.recent_errors
        ],
        last_test=_last_test(row),
        state=_state(row, router),
        failures_in_window=seen.failures_in_window,
        circuit_opened=seen.opened,
        disabled_reason=row.disabled_reason or seen.disabled,
        disabled_models=dict(row.disabled_models or {}),
    )


def model_to_test(channel: Channel, catalogue: Mapping[str, ModelInfo], wanted: str | None) -> str:
    if wanted is not None:
        if wanted not in channel.models:
            raise InvalidRequest(f"the channel does not serve the model '{wanted}'", param="model")
        return wanted
    served = sorted(channel.models)
    chats = [m for m in served if m in catalogue and catalogue[m].kind == "chat"]
    if chats:
        return chats[0]
    if served:
        return served[0]
    raise InvalidRequest("the channel serves no model to test", param="model")


def _chat_body(vendor: RelayVendor, model: str, upstream: str) -> bytes:
    messages = [{"role": "user", "content": "ping"}]
    if vendor.wire_format == "openai":
        return msgspec.json.encode({"model": upstream, "messages": messages, "max_tokens": 1})
    ping = msgspec.json.encode({"model": model, "messages": messages, "max_tokens": 1})
    request = codec("openai").decode_request(ping, model=model, stream=False)
    return codec(vendor.wire_format).encode_request(request, upstream)


def _answer_text(vendor: RelayVendor, data: bytes) -> str:
    try:
        response = codec(vendor.wire_format).decode_response(data)
        text = "".join(getattr(part, "text", "") for part in response.parts)
    except Exception:  # noqa: BLE001 - a test shows whatever came back
        text = ""
    return (text or data.decode("utf-8", "replace"))[:300]


async def ping(
    session: aiohttp.ClientSession, vendor: Vendor, channel: Channel, model: str
) -> tuple[int | None, str]:
    """(HTTP status or None, what came back) of the smallest request the vendor takes."""
    if Operation.CHAT in vendor.operations:
        # Declaring a synchronous operation is what makes an adapter a RelayVendor.
        relay = cast(RelayVendor, vendor)
        upstream = channel.upstream_model(model)
        call = relay.prepare(channel, Operation.CHAT, model=upstream, stream=False)
        body = _chat_body(relay, model, upstream)
        headers = {**call.headers, "Content-Type": "application/json"}
        async with session.post(
            call.url, data=body, headers=headers, timeout=channel_timeout(session, channel)
        ) as response:
            data = await response.read()
            if response.status >= 400:
                raise vendor.map_error(response.status, data)
            return response.status, _answer_text(relay, data)
    if isinstance(vendor, TaskVendor) and vendor.task_actions:
        action = sorted(vendor.task_actions)[0]
        try:
            await vendor.poll_task(session, channel, action, _ABSENT_TASK)
        except NotFound:
            return 404, "reachable, credentials accepted (asked for a task that does not exist)"
        return 200, "reachable, credentials accepted"
    raise InvalidRequest(f"the vendor '{vendor.name}' has no operation a test can use")


async def run_test(
    db: Database,
    session: aiohttp.ClientSession,
    vendors: Mapping[str, Vendor],
    channel: Channel,
    catalogue: Mapping[str, ModelInfo],
    wanted: str | None,
) -> TestResult:
    vendor = vendors.get(channel.vendor)
    if vendor is None:
        raise InvalidRequest(f"unknown vendor '{channel.vendor}'")
    model = model_to_test(channel, catalogue, wanted)
    started = time.perf_counter()
    status: int | None = None
    answer: str | None = None
    error: str | None = None
    try:
        status, answer = await asyncio.wait_for(ping(session, vendor, channel, model), TEST_TIMEOUT)
    except InvalidRequest:
        raise
    except GatewayError as exc:
        status, error = exc.status, exc.message
    except (aiohttp.ClientError, TimeoutError) as exc:
        error = f"unreachable: {type(exc).__name__}"
    latency = int((time.perf_counter() - started) * 1000)
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        await conn.execute(
            channels.update()
            .where(channels.c.id == channel.id)
            .values(
                test_status="ok" if error is None else "error",
                test_latency_ms=latency,
                test_message=(error if error is not None else answer or "")[:500],
                tested_at=now,
            )
        )
    return TestResult(
        channel_id=channel.id,
        model=model,
        ok=error is None,
        http_status=status,
        latency_ms=latency,
        answer=answer,
        error=error,
        tested_at=now,
    )


def loaded(
    row: Any,
    box: SecretBox,
    catalogue: Mapping[str, ModelInfo],
    families: Mapping[str, frozenset[str]],
) -> Channel:
    """The channel (enabled or not) as a test uses it."""
    return channel_of(row, box, catalogue, families)
