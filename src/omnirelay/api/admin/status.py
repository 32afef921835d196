"""``GET /admin/status``: the gateway at a glance for its operator — version, uptime, the
nodes seen, database and Redis health, the task poller's lag and the queues."""

from __future__ import annotations

import time
from datetime import datetime

import msgspec

from omnirelay import __version__
from omnirelay.api.admin.base import AdminCall, Route
from omnirelay.observability import status


class Queues(msgspec.Struct):
    tasks_open: int  # tasks not finished, in every node
    tasks_by_state: dict[str, int]  # "vendor/state" -> tasks
    poller_lag_seconds: float  # how late the most overdue task is
    usage_pending: int  # in this process: usage records not yet written
    usage_lag_seconds: float
    webhooks_pending: int  # in this process: deliveries queued or retrying


class Status(msgspec.Struct):
    version: str
    node: str  # the node that answered
    started_at: datetime
    uptime_seconds: float
    nodes: list[status.Node]  # alive (heartbeating within node_dead_seconds)
    database: status.Health
    redis: status.Health
    tracing: bool
    metrics: bool
    queues: Queues


async def get_status(call: AdminCall) -> Status:
    gateway = call.gateway
    observer = gateway.observer
    queue = await status.task_queue(gateway.db)
    pending, lag = gateway.usage.backlog()
    sample = gateway.sample()
    return Status(
        version=__version__,
        node=gateway.nodes.id if gateway.nodes is not None else "",
        started_at=observer.started,
        uptime_seconds=round(time.monotonic() - observer.started_monotonic, 1),
        nodes=await status.nodes_seen(gateway.db, gateway.settings.node_dead_seconds),
        database=await status.database_health(gateway.db),
        redis=await status.redis_health(gateway.redis),
        tracing=observer.tracing is not None,
        metrics=observer.metrics is not None,
        queues=Queues(
            tasks_open=sum(queue.open.values()),
            tasks_by_state={f"{v}/{s}": n for (v, s), n in sorted(queue.open.items())},
            poller_lag_seconds=round(queue.poller_lag_seconds, 3),
            usage_pending=pending,
            usage_lag_seconds=round(lag, 3),
            webhooks_pending=sample.webhooks_pending,
        ),
    )


ROUTES = (
    Route(
        "GET",
        "/admin/status",
        get_status,
        "The gateway's health: version, uptime, nodes, database, Redis, queues",
        "status",
        response=Status,
    ),
)
