"""What ``GET /admin/status`` and the scrape-time metrics read from the database and Redis:
their health, the task queue (open tasks by vendor and state, how late the poller is), and
the nodes that said they are alive (each serving process, every ``HEARTBEAT`` seconds)."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
from sqlalchemy import func, select, text

from omnirelay.platform.redis_link import RedisLink
from omnirelay.store import Database, nodes, tasks
from omnirelay.tasks.model import POLLED, TaskStatus, now_ms

HEARTBEAT = 15.0
# A node not seen for this long is left out (it stopped, or lost the database).
NODE_TIMEOUT = 60.0
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
    version: str
    started_at: datetime
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class TaskQueue:
    open: dict[tuple[str, str], int]  # (vendor, state) -> tasks
    poller_lag_seconds: float  # how long the most overdue open task has waited past its time


def new_node_id() -> str:
    return f"{socket.gethostname()[:200]}:{os.getpid()}:{int(time.time())}"


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


async def heartbeat(db: Database, node_id: str, version: str, started: datetime) -> None:
    """Say this node is alive (an upsert by id, the same on SQLite and PostgreSQL)."""
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        updated = await conn.execute(
            nodes.update().where(nodes.c.id == node_id).values(seen_at=now)
        )
        if not updated.rowcount:
            await conn.execute(
                nodes.insert().values(
                    id=node_id,
                    host=socket.gethostname()[:255],
                    pid=os.getpid(),
                    version=version,
                    started_at=started,
                    seen_at=now,
                )
            )
        # Nodes gone for a day are forgotten.
        await conn.execute(nodes.delete().where(nodes.c.seen_at < now - timedelta(days=1)))


async def nodes_seen(db: Database) -> list[Node]:
    cutoff = datetime.now(UTC) - timedelta(seconds=NODE_TIMEOUT)
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(nodes).where(nodes.c.seen_at >= cutoff).order_by(nodes.c.started_at)
        )
        return [
            Node(
                id=r.id,
                host=r.host,
                pid=r.pid,
                version=r.version,
                started_at=_utc(r.started_at),
                seen_at=_utc(r.seen_at),
            )
            for r in rows
        ]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
