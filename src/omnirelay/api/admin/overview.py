"""``/admin/overview``: the dashboard an operator opens every morning, in one answer.

Requests, spend, errors and latency over the last hour, day or week (a series and totals),
the models and users that used the most, the channels in trouble as this node sees them
(cooling down, failing in a row, or failing their last test), and the tasks in flight.
"""

from __future__ import annotations

import msgspec

from omnirelay.api.admin.base import AdminCall, Route
from omnirelay.platform import channel_admin, overview
from omnirelay.platform.channel_admin import ChannelHealthView
from omnirelay.platform.overview import OverviewQuery, Top, Usage
from omnirelay.tasks import listing
from omnirelay.tasks.listing import InFlight


class ChannelTrouble(msgspec.Struct):
    channel: ChannelHealthView
    vendor: str
    reason: str


class Overview(msgspec.Struct):
    usage: Usage
    top_users: list[Top]
    channels_in_trouble: list[ChannelTrouble]
    tasks_in_flight: list[InFlight]


def _trouble(health: ChannelHealthView) -> str | None:
    """Why a channel needs a look, or None."""
    if not health.enabled:
        return None  # the operator turned it off
    if health.cooling_down_seconds > 0:
        return f"cooling down for {health.cooling_down_seconds:.0f} s after failures"
    if health.failures_in_a_row:
        return f"{health.failures_in_a_row} failure(s) in a row"
    test = health.last_test
    if test is not None and test.status == "error":
        return f"last test failed: {test.message or 'no answer'}"
    return None


async def get_overview(call: AdminCall) -> Overview:
    span = call.query(OverviewQuery).range
    troubles = []
    for row in await channel_admin.rows(call.db):
        health = channel_admin.health(row, call.gateway.router)
        reason = _trouble(health)
        if reason is not None:
            troubles.append(ChannelTrouble(health, row.vendor, reason))
    return Overview(
        usage=await overview.usage(call.db, span),
        top_users=await overview.top_users(call.db, span),
        channels_in_trouble=troubles,
        tasks_in_flight=await listing.in_flight(call.db),
    )


ROUTES = (
    Route(
        "GET",
        "/admin/overview",
        get_overview,
        "The dashboard: usage over the last hour, day or week; top models and users; "
        "channels in trouble; tasks in flight",
        "overview",
        query=OverviewQuery,
        response=Overview,
    ),
)
