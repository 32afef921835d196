"""``/admin/webhooks``: task webhook deliveries (the outbox), the dead ones re-sendable."""

from __future__ import annotations

import msgspec

from omnirelay.api.admin.base import AdminCall, Route
from omnirelay.errors import NotFound
from omnirelay.tasks.outbox import DeliveryView, OutboxQuery, view


class DeliveryList(msgspec.Struct):
    data: list[DeliveryView]
    next_cursor: str | None = None


async def list_deliveries(call: AdminCall) -> DeliveryList:
    rows, cursor = await call.gateway.outbox.rows(call.query(OutboxQuery))
    return DeliveryList([view(r) for r in rows], cursor)


async def get_delivery(call: AdminCall) -> DeliveryView:
    row = await call.gateway.outbox.get(call.path_int("delivery_id"))
    if row is None:
        raise NotFound(f"no webhook delivery with id {call.path_int('delivery_id')}")
    return view(row)


async def resend_delivery(call: AdminCall) -> DeliveryView:
    """Pending again at once, with a fresh give-up time (same delivery id: receivers that got
    it already can tell)."""
    gateway = call.gateway
    row = await gateway.outbox.resend(
        call.path_int("delivery_id"), gateway.settings.webhook_give_up_seconds
    )
    if row is None:
        raise NotFound(f"no webhook delivery with id {call.path_int('delivery_id')}")
    gateway.webhooks_wake()
    return view(row)


_ONE = "/admin/webhooks/{delivery_id:\\d+}"
ROUTES = (
    Route(
        "GET",
        "/admin/webhooks",
        list_deliveries,
        "Task webhook deliveries, newest first (status=dead: those given up)",
        "webhooks",
        query=OutboxQuery,
        response=DeliveryList,
    ),
    Route("GET", _ONE, get_delivery, "One webhook delivery", "webhooks", response=DeliveryView),
    Route(
        "POST",
        _ONE + "/resend",
        resend_delivery,
        "Send a delivery again (a dead one, or any)",
        "webhooks",
        response=DeliveryView,
    ),
)
