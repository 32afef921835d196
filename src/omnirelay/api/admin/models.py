"""``/admin/models`` and ``/admin/task-prices``: the catalogue and its prices."""

from __future__ import annotations

import msgspec

from omnirelay.api.admin.base import AdminCall, Route
from omnirelay.errors import NotFound
from omnirelay.platform import model_admin
from omnirelay.platform.model_admin import (
    ModelCreate,
    ModelPrices,
    ModelUpdate,
    ModelView,
    TaskPrice,
    TaskPriceCreate,
    TaskPriceUpdate,
)


class ModelList(msgspec.Struct):
    data: list[ModelView]


class TaskPriceList(msgspec.Struct):
    data: list[TaskPrice]


async def _views(call: AdminCall) -> list[ModelView]:
    gateway = call.gateway
    ids = await model_admin.task_price_ids(call.db)
    routable = gateway.router.models()
    return [
        model_admin.view(info, gateway.task_prices, ids, info.name in routable)
        for info in sorted(gateway.catalogue.values(), key=lambda m: m.name)
    ]


async def _view(call: AdminCall, name: str) -> ModelView:
    await call.gateway.reload()  # this node answers with what it just wrote
    for found in await _views(call):
        if found.name == name:
            return found
    raise NotFound(f"no model named '{name}'", code="model_not_found")


async def list_models(call: AdminCall) -> ModelList:
    return ModelList(await _views(call))


async def get_model(call: AdminCall) -> ModelView:
    name = call.path("model")
    for found in await _views(call):
        if found.name == name:
            return found
    raise NotFound(f"no model named '{name}'", code="model_not_found")


async def create_model(call: AdminCall) -> ModelView:
    spec = call.body(ModelCreate)
    await model_admin.create_model(call.db, spec)
    return await _view(call, spec.name.strip())


async def update_model(call: AdminCall) -> ModelView:
    await model_admin.update_model(call.db, call.path("model"), call.body(ModelUpdate))
    return await _view(call, call.path("model"))


async def set_prices(call: AdminCall) -> ModelView:
    await model_admin.update_model(call.db, call.path("model"), call.body(ModelPrices))
    return await _view(call, call.path("model"))


async def delete_model(call: AdminCall) -> None:
    await model_admin.delete_model(call.db, call.path("model"))


async def list_task_prices(call: AdminCall) -> TaskPriceList:
    return TaskPriceList(await model_admin.list_task_prices(call.db))


async def create_task_price(call: AdminCall) -> TaskPrice:
    return await model_admin.create_task_price(call.db, call.body(TaskPriceCreate))


async def update_task_price(call: AdminCall) -> TaskPrice:
    return await model_admin.update_task_price(
        call.db, call.path_int("price_id"), call.body(TaskPriceUpdate)
    )


async def delete_task_price(call: AdminCall) -> None:
    await model_admin.delete_task_price(call.db, call.path_int("price_id"))


_ONE = "/admin/models/{model:[^/]+}"
_PRICE = "/admin/task-prices/{price_id:\\d+}"
ROUTES = (
    Route(
        "GET",
        "/admin/models",
        list_models,
        "List models with their prices (task prices too)",
        "models",
        response=ModelList,
    ),
    Route(
        "POST",
        "/admin/models",
        create_model,
        "Add a model to the catalogue",
        "models",
        body=ModelCreate,
        response=ModelView,
        status=201,
        invalidates="catalogue",
    ),
    Route("GET", _ONE, get_model, "Get a model", "models", response=ModelView),
    Route(
        "PATCH",
        _ONE,
        update_model,
        "Change a model (the prices named are set)",
        "models",
        body=ModelUpdate,
        response=ModelView,
        invalidates="catalogue",
    ),
    Route(
        "PUT",
        _ONE + "/prices",
        set_prices,
        "Set some of a model's prices",
        "models",
        body=ModelPrices,
        response=ModelView,
        invalidates="catalogue",
    ),
    Route(
        "DELETE",
        _ONE,
        delete_model,
        "Remove a model from the catalogue",
        "models",
        status=204,
        invalidates="catalogue",
    ),
    Route(
        "GET",
        "/admin/task-prices",
        list_task_prices,
        "List task prices",
        "models",
        response=TaskPriceList,
    ),
    Route(
        "POST",
        "/admin/task-prices",
        create_task_price,
        "Price a task product",
        "models",
        body=TaskPriceCreate,
        response=TaskPrice,
        status=201,
        invalidates="catalogue",
    ),
    Route(
        "PATCH",
        _PRICE,
        update_task_price,
        "Change a task price",
        "models",
        body=TaskPriceUpdate,
        response=TaskPrice,
        invalidates="catalogue",
    ),
    Route(
        "DELETE",
        _PRICE,
        delete_task_price,
        "Delete a task price",
        "models",
        status=204,
        invalidates="catalogue",
    ),
)
