"""What ``GET /admin/status`` and the scrape-time metrics read from the database and Redis:
their health, the task queue (open tasks by vendor and state, how late the poller is), and
the nodes alive (each serving process heartbeats in ``nodes``; ``omnirelay.nodes``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from sqlalchemy import func, select, text

from omnirelay.platform.redis_link import RedisLink
from omnirelay.store import Database, nodes, tasks
from omnirelay.tasks.model import POLLED, TaskStatus, now_ms

_OPEN = tuple(status.value for status in TaskStatus if not status.finished)
_POLLED = tuple(status.value for status in POLLED)


class Health(msgspec.Struct):
    status: str  # ok | down | off
    latency_ms: float | None = None
    error: str | None = None


class Node(msgspec.Struct):
    id: str
    host: str
    pid: int
    version: str | None
    started_at: datetime
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class TaskQueue:
    open: dict[tuple[str, str], int]  # (vendor, state) -> tasks
    poller_lag_seconds: float  # how long the most overdue open task has waited past its time


async def database_health(db: Database) -> Health:
    started = time.perf_counter()
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - a probe reports whatever failed
        return Health("down", error=type(exc).__name__)
    return Health("ok", latency_ms=round((time.perf_counter() - started) * 1000, 2))


async def redis_health(link: RedisLink | None) -> Health:
    if link is None:
        return Health("off")
    started = time.perf_counter()
    try:
        await link.client.ping()
    except Exception as exc:  # noqa: BLE001 - a probe reports whatever failed
        return Health("down", error=type(exc).__name__)
    return Health("ok", latency_ms=round((time.perf_counter() - started) * 1000, 2))


async def task_queue(db: Database) -> TaskQueue:
    """Open tasks only (the index on status serves it; finished ones are counters)."""
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(tasks.c.vendor, tasks.c.status, func.count())
            .where(tasks.c.status.in_(_OPEN))
            .group_by(tasks.c.vendor, tasks.c.status)
        )
        counts = {(str(r[0] or "none"), str(r[1])): int(r[2]) for r in rows}
        due = await conn.scalar(
            select(func.min(tasks.c.next_poll_ms)).where(tasks.c.status.in_(_POLLED))
        )
    lag = max(0.0, (now_ms() - int(due)) / 1000) if due is not None else 0.0
    return TaskQueue(counts, lag)


async def nodes_seen(db: Database, dead_after: float) -> list[Node]:
    """The nodes that heartbeat within ``dead_after`` seconds (a silent one is being reaped)."""
    cutoff = now_ms() - int(dead_after * 1000)
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(nodes).where(nodes.c.heartbeat_ms >= cutoff).order_by(nodes.c.started_ms)
        )
        return [
            Node(
                id=r.id,
                host=r.host,
                pid=r.pid,
                version=r.version,
                started_at=_utc(r.started_ms),
                seen_at=_utc(r.heartbeat_ms),
            )
            for r in rows
        ]


def _utc(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)
