"""The background worker of every ``serve`` process: claims due tasks and advances them.

Several processes (or nodes) can run it on one database: a task is claimed by one at a time
(see ``store.claim_due``), and one that crashes mid-poll only delays its tasks by a lease.
Polls run concurrently, bounded, so one slow vendor does not hold the others up; the due tasks
of a batch-polling vendor's channel are asked about together, in one upstream call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from omnirelay.tasks.engine import TaskEngine
from omnirelay.tasks.model import Task

log = logging.getLogger(__name__)

# Opens a trace span around each poll (``observability.tracing``): name, attributes.
SpanFactory = Callable[[str, Mapping[str, Any]], AbstractContextManager[Any]]

# Tasks one process holds at once (claimed, being polled or recorded).
BATCH = 100
# How long the loop sleeps when nothing more is due: a task that becomes due meanwhile waits
# at most this long (plus its poll) - the lag between due and polled.
MAX_IDLE_SLEEP = 0.25
# While tasks keep becoming due, it looks again as soon as about CLAIM_TARGET of them should be
# waiting (a claim, and the shared write of its answers, cost a transaction each: a few tasks
# per claim would cost more than their polls), but never sooner than MIN_IDLE_SLEEP.
CLAIM_TARGET = 16
MIN_IDLE_SLEEP = 0.05


class Poller:
    def __init__(
        self, engine: TaskEngine, *, concurrency: int = 32, span: SpanFactory | None = None
    ) -> None:
        self._engine = engine
        self._span = span
        self._limit = asyncio.Semaphore(concurrency)
        self._stopping = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._claimed = 0  # tasks held by in-flight workers (a batch worker holds several)
        self._room = asyncio.Event()  # a worker finished: there is room to claim again

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

    def _idle_sleep(self, due_per_s: float = 0.0) -> float:
        wait = MAX_IDLE_SLEEP
        if due_per_s > 0:
            wait = min(max(CLAIM_TARGET / due_per_s, MIN_IDLE_SLEEP), MAX_IDLE_SLEEP)
        return min(self._engine.timing.first_poll, wait)

    async def _run(self) -> None:
        lease_ms = int(self._engine.timing.lease * 1000)
        last_claim = time.monotonic()
        while not self._stopping.is_set():
            claimed: list[Task] = []
            due_per_s = 0.0
            free = BATCH - self._claimed
            try:
                if free > 0:
                    claimed = await self._engine.store.claim_due(free, lease_ms)
                    # How fast tasks became due since the last claim (which took all then due).
                    now = time.monotonic()
                    due_per_s = len(claimed) / max(now - last_claim, 1e-3)
                    last_claim = now
            except Exception:
                log.exception("claiming due tasks failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 1.0)
                continue
            batches: dict[int, list[Task]] = {}
            for task in claimed:
                group = self._engine.batch_group(task)
                if group is not None:
                    batches.setdefault(group, []).append(task)
                else:
                    self._spawn(self._advance([task]), 1, f"poll-{task.id}")
            for channel_id, group_tasks in batches.items():
                self._spawn(
                    self._advance(group_tasks), len(group_tasks), f"poll-channel-{channel_id}"
                )
            if free > 0 and len(claimed) < free:
                # Nothing more is due: look again shortly.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._idle_sleep(due_per_s))
            elif not self._stopping.is_set():
                # Full (or all of it was due): claim more as soon as a worker is done, not a
                # whole idle sleep later.
                self._room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), self._idle_sleep())

    def _spawn(self, work: Coroutine[Any, Any, None], tasks: int, name: str) -> None:
        worker = asyncio.create_task(work, name=name)
        self._inflight.add(worker)
        self._claimed += tasks

        def done(finished: asyncio.Task[None]) -> None:
            self._inflight.discard(finished)
            self._claimed -= tasks
            self._room.set()

        worker.add_done_callback(done)

    async def _advance(self, claimed: list[Task]) -> None:
        async with self._limit:
            with self._poll_span(claimed):
                await self._advance_now(claimed)

    def _poll_span(self, claimed: list[Task]) -> AbstractContextManager[Any]:
        if self._span is None:
            return nullcontext()
        first = claimed[0]
        attributes = {
            "omnirelay.tasks": len(claimed),
            "omnirelay.task_id": first.id,
            "omnirelay.vendor": first.vendor,
        }
        return self._span("tasks.poll", attributes)

    async def _advance_now(self, claimed: list[Task]) -> None:
        try:
            if len(claimed) == 1 and self._engine.batch_group(claimed[0]) is None:
                await self._engine.advance(claimed[0])
            else:
                await self._engine.advance_batch(claimed)
        except asyncio.CancelledError:
            # Shutting down mid-poll: hand the tasks back so another process takes them now.
            for task in claimed:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._engine.store.release(task))
            raise
        except Exception:
            log.exception("advancing tasks %s failed; retried later", [t.id for t in claimed])
