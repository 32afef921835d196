"""``/api/me/...``: what a user's key may see of its own account — balance, usage, request log,
keys, tasks, ledger, and the models it may use at its group's prices.

Every route is declared like the admin API's (typed, validated, in the OpenAPI document,
audited when it changes something) but authenticates a user's key, and every query is bound
to that key's user by the server: a filter naming another user is refused, and anything else
of another user is simply not there (404). The console signs a user in with the same key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import msgspec
from aiohttp import web

from omnirelay.api.admin.base import AdminCall, Route, endpoint
from omnirelay.api.admin.tasks import TaskList, serve_file
from omnirelay.api.admin.usage import UsagePage
from omnirelay.api.admin.users import EntryList
from omnirelay.billing import apply_ratio
from omnirelay.errors import Conflict, NotFound, PermissionDenied
from omnirelay.platform import balances, keyring, overview, usage_log, users
from omnirelay.platform.balances import EntryQuery
from omnirelay.platform.keyring import CreatedKey, Key, KeyCreate, KeyQuery, KeyUpdate
from omnirelay.platform.model_admin import TaskPrice
from omnirelay.platform.overview import OverviewQuery, Usage
from omnirelay.platform.usage_log import UsageQuery
from omnirelay.tasks import listing
from omnirelay.tasks.listing import TaskQuery, TaskView
from omnirelay.tasks.model import Task

BASE = "/api/me"


class Account(msgspec.Struct):
    user_id: int
    user_name: str
    group: str
    ratio: float  # the group's price ratio
    balance_micro_usd: int | None  # what is left to spend; null: unlimited
    spent_micro_usd: int
    key: Key  # the key asking


class OwnKeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    quota_usd: float | None = None  # a cap of the key's own; null: the balance limits it
    models: list[str] | None = None
    expires_at: datetime | None = None


class OwnKeyUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class OwnKeyList(msgspec.Struct):
    data: list[Key]
    next_cursor: str | None = None


class OwnModel(msgspec.Struct):
    """A model this key may use, priced for its group (the ratio already applied)."""

    name: str
    kind: str
    family: str
    prices_micro_usd: dict[str, int]
    task_prices: list[TaskPrice]


class OwnModelList(msgspec.Struct):
    ratio: float
    data: list[OwnModel]


async def account(call: AdminCall) -> Account:
    user = await users.get_user(call.db, call.user_id)  # what the processes hold counts as left
    return Account(
        user_id=user.id,
        user_name=user.name,
        group=user.group,
        ratio=call.key.ratio_ppm / 1_000_000,
        balance_micro_usd=user.balance_micro_usd,
        spent_micro_usd=user.spent_micro_usd,
        key=await keyring.get_key(call.db, call.key.id),
    )


async def usage_overview(call: AdminCall) -> Usage:
    return await overview.usage(call.db, call.query(OverviewQuery).range, user_id=call.user_id)


def _own(call: AdminCall, asked: int | None) -> int:
    if asked is not None and asked != call.user_id:
        raise PermissionDenied("a key sees only its own user's data", param="user_id")
    return call.user_id


async def usage(call: AdminCall) -> UsagePage:
    query = call.query(UsageQuery)
    query = msgspec.structs.replace(query, user_id=_own(call, query.user_id))
    records, cursor = await usage_log.page(call.db, query)
    return UsagePage(records, cursor, datetime.now(UTC))


async def list_keys(call: AdminCall) -> OwnKeyList:
    query = call.query(KeyQuery)
    query = msgspec.structs.replace(query, user_id=_own(call, query.user_id))
    found, cursor = await keyring.list_keys(call.db, query)
    return OwnKeyList(found, cursor)


async def create_key(call: AdminCall) -> CreatedKey:
    spec = call.body(OwnKeyCreate)
    return await keyring.create(
        call.db,
        KeyCreate(
            name=spec.name,
            user_id=call.user_id,
            quota_usd=spec.quota_usd,
            models=spec.models,
            expires_at=spec.expires_at,
        ),
        call.gateway.box,
    )


async def update_key(call: AdminCall) -> Key:
    key_id = call.path_int("key_id")
    found = await keyring.get_key(call.db, key_id)
    if found.user_id != call.user_id:
        raise NotFound(f"no key with id {key_id}")
    change = call.body(OwnKeyUpdate)
    if change.enabled is False and key_id == call.key.id:
        raise Conflict("this is the key you are using: sign in with another one to disable it")
    return await keyring.update(
        call.db, key_id, KeyUpdate(name=change.name, enabled=change.enabled)
    )


async def ledger(call: AdminCall) -> EntryList:
    found, cursor = await balances.entries(call.db, call.user_id, call.query(EntryQuery))
    return EntryList(found, cursor)


async def _task(call: AdminCall) -> Task:
    task_id = call.path("task_id")
    task = await listing.get(call.db, task_id)
    if task is None or task.user_id != call.user_id:
        raise NotFound(f"no task {task_id}", code="task_not_found")
    return task


async def list_tasks(call: AdminCall) -> TaskList:
    query = call.query(TaskQuery)
    query = msgspec.structs.replace(query, user_id=_own(call, query.user_id))
    found, cursor = await listing.page(call.db, query)
    return TaskList([listing.view(t, BASE + "/tasks") for t in found], cursor)


async def get_task(call: AdminCall) -> TaskView:
    return listing.view(await _task(call), BASE + "/tasks")


async def task_file(call: AdminCall) -> web.StreamResponse:
    return await serve_file(call, await _task(call))


async def models(call: AdminCall) -> OwnModelList:
    gateway, key = call.gateway, call.key
    visible = gateway.router.models(key.group) & gateway.catalogue.keys()
    found = []
    for name in sorted(n for n in visible if key.may_use(n)):
        info = gateway.catalogue[name]
        prices = {k: apply_ratio(v, key.ratio_ppm) for k, v in info.prices_usd().items()}
        tasks = [
            TaskPrice(0, p.model, p.product, p.mode, p.duration, apply_ratio(price, key.ratio_ppm))
            for p, price in gateway.task_prices.for_model(name)
        ]
        found.append(OwnModel(name, info.kind, info.family, prices, tasks))
    return OwnModelList(key.ratio_ppm / 1_000_000, found)


_TASK = BASE + "/tasks/{task_id:[A-Za-z0-9_-]+}"
_USER: Final = "user"
ROUTES = (
    Route(
        "GET", BASE, account, "The key's account: user, group, balance", "me",
        response=Account, audience=_USER,
    ),
    Route(
        "GET", BASE + "/overview", usage_overview,
        "The user's usage over the last hour, day or week", "me",
        query=OverviewQuery, response=Usage, audience=_USER,
    ),
    Route(
        "GET", BASE + "/usage", usage, "The user's request log, newest first", "me",
        query=UsageQuery, response=UsagePage, audience=_USER,
    ),
    Route(
        "GET", BASE + "/keys", list_keys, "The user's keys", "me",
        query=KeyQuery, response=OwnKeyList, audience=_USER,
    ),
    Route(
        "POST", BASE + "/keys", create_key, "Make another key for the user (shown once)", "me",
        body=OwnKeyCreate, response=CreatedKey, status=201, invalidates="keys", audience=_USER,
    ),
    Route(
        "PATCH", BASE + "/keys/{key_id:\\d+}", update_key,
        "Rename, disable or enable one of the user's keys", "me",
        body=OwnKeyUpdate, response=Key, invalidates="keys", audience=_USER,
    ),
    Route(
        "GET", BASE + "/ledger", ledger, "The user's top-ups and redeemed codes", "me",
        query=EntryQuery, response=EntryList, audience=_USER,
    ),
    Route(
        "GET", BASE + "/models", models, "The models the key may use, at its group's prices",
        "me", response=OwnModelList, audience=_USER,
    ),
    Route(
        "GET", BASE + "/tasks", list_tasks, "The user's tasks, newest first", "me",
        query=TaskQuery, response=TaskList, audience=_USER,
    ),
    Route(
        "GET", _TASK, get_task, "Get one of the user's tasks", "me",
        response=TaskView, audience=_USER,
    ),
    Route(
        "GET", _TASK + "/files/{n:\\d+}", task_file,
        "A file of one of the user's tasks, streamed from the vendor", "me", audience=_USER,
    ),
)  # fmt: skip


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, endpoint(route))
