"""The background worker of every ``serve`` process: claims due tasks and advances them.

Several processes (or nodes) can run it on one database: a task is claimed by one at a time
(see ``store.claim_due``), and one that crashes mid-poll only delays its tasks by a lease.
Polls run concurrently, bounded, so one slow vendor does not hold the others up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from omnirelay.tasks.engine import TaskEngine
from omnirelay.tasks.model import Task

log = logging.getLogger(__name__)

BATCH = 50
MAX_IDLE_SLEEP = 1.0


class Poller:
    def __init__(self, engine: TaskEngine, *, concurrency: int = 16) -> None:
        self._engine = engine
        self._limit = asyncio.Semaphore(concurrency)
        self._stopping = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="task-poller")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming, let in-flight polls finish for ``grace`` s, then cancel them."""
        self._stopping.set()
        if self._runner is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=grace)
        for task in list(self._inflight):
            task.cancel()

    def _idle_sleep(self) -> float:
        return min(self._engine.timing.first_poll, MAX_IDLE_SLEEP)

    async def _run(self) -> None:
        lease_ms = int(self._engine.timing.lease * 1000)
        while not self._stopping.is_set():
            claimed: list[Task] = []
            try:
                free = BATCH - len(self._inflight)
                if free > 0:
                    claimed = await self._engine.store.claim_due(free, lease_ms)
            except Exception:
                log.exception("claiming due tasks failed; retrying")
            for task in claimed:
                worker = asyncio.create_task(self._advance(task), name=f"poll-{task.id}")
                self._inflight.add(worker)
                worker.add_done_callback(self._inflight.discard)
            if len(claimed) < BATCH:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._idle_sleep())

    async def _advance(self, task: Task) -> None:
        async with self._limit:
            try:
                await self._engine.advance(task)
            except asyncio.CancelledError:
                # Shutting down mid-poll: hand the task back so another process takes it now.
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._engine.store.release(task))
                raise
            except Exception:
                log.exception("advancing task %s failed; it will be retried", task.id)
