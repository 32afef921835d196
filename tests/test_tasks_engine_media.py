"""The task engine's parts the media vendors need: failure codes, partial results, waiting
inside a request, giving up (refunded), reversing an undeliverable charge, pinned channels."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from omnirelay.store import usage_records
from omnirelay.tasks.engine import Submission
from omnirelay.tasks.model import CONTENT_POLICY, TIMED_OUT, TaskStatus, TaskUpdate
from tests.test_tasks_engine import PRICE, Rig, claim_one, run
from tests.test_tasks_engine import url as url  # the fixture


async def _usage(r: Rig, task_id: str) -> list[tuple[int, int]]:
    async with r.db.engine.connect() as conn:
        rows = await conn.execute(
            select(usage_records.c.cost, usage_records.c.status).where(
                usage_records.c.request_id == task_id
            )
        )
        return [(row.cost, row.status) for row in rows]


def test_a_moderated_failure_keeps_its_code_and_status(url: str) -> None:
    async def body(r: Rig) -> None:
        task = await r.submit()
        r.vendor.polls.append(
            TaskUpdate(
                TaskStatus.FAILED,
                failure="moderated",
                failure_code=CONTENT_POLICY,
                failure_status=400,
            )
        )
        await r.engine.advance(await claim_one(r))
        done = await r.engine.store.get(task.id)
        assert done is not None and done.failure_code == CONTENT_POLICY
        assert await _usage(r, task.id) == [(0, 400)]
        assert await r.balance() == (1_000_000, 0)

    run(url, body)


def test_partial_results_are_kept_while_running(url: str) -> None:
    async def body(r: Rig) -> None:
        task = await r.submit()
        partial = {"clips": [{"id": "c1", "status": "streaming"}]}
        r.vendor.polls.append(TaskUpdate(TaskStatus.RUNNING, 40, result=partial))
        await r.engine.advance(await claim_one(r))
        running = await r.engine.store.get(task.id)
        assert running is not None and running.result == partial and running.progress == 40
        r.vendor.polls.append(TaskUpdate(TaskStatus.RUNNING, 60))  # no result: kept as it was
        await r.engine.advance(await claim_one(r))
        later = await r.engine.store.get(task.id)
        assert later is not None and later.result == partial and later.progress == 60

    run(url, body)


def test_wait_abandon_and_reverse_charge(url: str) -> None:
    async def body(r: Rig) -> None:
        slow, fast = await r.submit(), await r.submit()
        r.vendor.polls.append(TaskUpdate(TaskStatus.SUCCEEDED, 100, result={"images": []}))
        claimed = await r.engine.store.claim_due(10, 30_000)
        await r.engine.advance(next(t for t in claimed if t.id == fast.id))
        ended = await r.engine.wait([slow.id, fast.id], 0.3, interval=0.05)
        assert [t.id for t in ended] == [slow.id, fast.id]
        assert ended[0].status is TaskStatus.QUEUED and ended[1].status is TaskStatus.SUCCEEDED
        abandoned = await r.engine.abandon(ended[0], "gave up")
        assert abandoned is not None and abandoned.failure_code == TIMED_OUT
        assert await r.engine.abandon(ended[0], "again") is None  # settled once
        assert await r.balance() == (1_000_000 - PRICE, PRICE)
        # The success could not be delivered: its charge is reversed, once.
        reversed_ = await r.engine.refund_undelivered(ended[1], "download failed")
        assert reversed_ is not None and reversed_.status is TaskStatus.FAILED
        assert await r.engine.refund_undelivered(ended[1], "again") is None
        assert await r.balance() == (1_000_000, 0)
        assert await _usage(r, fast.id) == [(0, 502)]
        assert await _usage(r, slow.id) == [(0, 504)]

    run(url, body)


def test_a_pinned_submission_runs_on_its_channel_only(url: str) -> None:
    async def body(r: Rig) -> None:
        pinned = Submission(
            action="test.action", model="m", body=b"{}", request="{}", price=PRICE, channel_id=2
        )
        task = await r.engine.submit(r.key, pinned)
        assert task.channel_id == 2 and r.vendor.submitted == [2]

    run(url, body, channels=3)


def test_wait_returns_as_soon_as_everything_ended(url: str) -> None:
    async def body(r: Rig) -> None:
        task = await r.submit()
        r.vendor.polls.append(TaskUpdate(TaskStatus.FAILED, failure="nope"))
        await r.engine.advance(await claim_one(r))
        started = asyncio.get_running_loop().time()
        [ended] = await r.engine.wait([task.id], 30)
        assert ended.status is TaskStatus.FAILED
        assert asyncio.get_running_loop().time() - started < 5

    run(url, body)
