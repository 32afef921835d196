"""The observability resources of one serving process, owned by the app's lifespan: the
metrics, the tracer (if configured), and a loop that samples this process's figures (its
heartbeat is ``omnirelay.nodes``'s)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from omnirelay.observability import logs, status
from omnirelay.observability.metrics import Metrics, Sample, gauge_family
from omnirelay.observability.tracing import Tracing
from omnirelay.platform.context import RequestContext
from omnirelay.store import Database
from omnirelay.tasks.model import Task

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 5.0


class Observer:
    def __init__(self, version: str, *, metrics: bool = True) -> None:
        self.version = version
        self.metrics = Metrics(version) if metrics else None
        self.tracing = Tracing.from_env(version)
        self.started = datetime.now(UTC)
        self.started_monotonic = time.monotonic()
        self._loop: asyncio.Task[None] | None = None

    def start(self, sample: Callable[[], Sample]) -> None:
        self._loop = asyncio.create_task(self._run(sample), name="observer")

    async def _run(self, sample: Callable[[], Sample]) -> None:
        while True:
            try:
                if self.metrics is not None:
                    self.metrics.sample(sample())
            except Exception:
                log.exception("sampling this process's figures failed; will retry")
            await asyncio.sleep(SAMPLE_SECONDS)

    async def stop(self) -> None:
        if self.metrics is not None:
            self.metrics.flush()
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)

    def task_finished(self, task: Task) -> None:
        if self.metrics is not None:
            charged = task.charged or 0
            self.metrics.task_finished(task.vendor, task.model, task.status.value, charged)

    def request_done(
        self,
        found: RequestContext,
        *,
        method: str,
        path: str,
        status_code: int,
        started: float,
        prepared: float | None,
        channel: str | None,
        quiet: bool = False,
    ) -> None:
        """A request ended: its metrics and (unless ``quiet``) its access line."""
        now = time.perf_counter()
        # Streams send their headers (or first event) inside the handler; a plain answer goes
        # out whole when the handler returns, so its first byte is its last.
        first = found.first_byte or prepared or now
        ttfb = first - started
        model = found.model or ""
        if self.metrics is not None:
            self.metrics.request(
                found.surface,
                model,
                status_code,
                now - started,
                ttfb,
                found.prompt_tokens,
                found.completion_tokens,
                found.cost,
            )
        if quiet:
            return
        key = found.key
        logs.access(
            f"{method} {path} {status_code}",
            {
                "request_id": found.request_id,
                "method": method,
                "path": path,
                "surface": found.surface,
                "status": status_code,
                "latency_ms": round((now - started) * 1000, 1),
                "ttfb_ms": round(ttfb * 1000, 1),
                "ip": found.ip,
                "key_id": key.id if key is not None else None,
                "user_id": key.user_id if key is not None else None,
                "model": found.model,
                "channel": channel,
                "prompt_tokens": found.prompt_tokens,
                "completion_tokens": found.completion_tokens,
                "cost_micro_usd": found.cost,
            },
        )

    async def scrape(self, db: Database, sample: Sample) -> bytes:
        """The /metrics text: every process's figures, and the database's task queue."""
        assert self.metrics is not None
        self.metrics.flush()
        self.metrics.sample(sample)
        queue = await status.task_queue(db)
        extra: list[Any] = [
            gauge_family(
                "omnirelay_tasks_open",
                "Tasks not yet finished, by vendor and state",
                ["vendor", "state"],
                queue.open.items(),
            ),
            gauge_family(
                "omnirelay_task_poller_lag_seconds",
                "How long the most overdue task has waited past its poll time",
                [],
                [((), queue.poller_lag_seconds)],
            ),
            gauge_family(
                "omnirelay_uptime_seconds",
                "Seconds since this process started",
                [],
                [((), time.monotonic() - self.started_monotonic)],
            ),
        ]
        return await asyncio.to_thread(self.metrics.render, extra)
