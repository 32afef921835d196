"""The task engine's state machine and money, against a real database and a scripted vendor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

import aiohttp
import pytest
from sqlalchemy import select

from omnirelay.billing import Ledger
from omnirelay.channels import Channel
from omnirelay.config import normalize_database_url
from omnirelay.errors import GatewayError, InvalidRequest, QuotaExceeded, UpstreamError
from omnirelay.keys import KeyRecord, create_key
from omnirelay.outbound import GuardedClient, OutboundPolicy
from omnirelay.routing import Router
from omnirelay.store import Database, api_keys, open_database, tasks, usage_records
from omnirelay.tasks.engine import Submission, TaskEngine, TaskTiming
from omnirelay.tasks.model import Task, TaskStatus, TaskUpdate
from omnirelay.tasks.store import Outcome, TaskStore
from omnirelay.tasks.webhooks import WebhookSender
from omnirelay.vendors.base import Operation, TaskRequest, UpstreamCall

PRICE = 250_000


@dataclass
class ScriptedVendor:
    """Answers polls from a script; submit fails for channels listed in ``refuse``."""

    name: str = "scripted"
    families: frozenset[str] = frozenset({"scripted"})
    wire_format: str = "none"
    operations: frozenset[Operation] = frozenset()
    task_actions: frozenset[str] = frozenset({"test.action"})
    polls: list[TaskUpdate | GatewayError] = field(default_factory=list)
    refuse: dict[int, GatewayError] = field(default_factory=dict)
    submitted: list[int] = field(default_factory=list)
    requests: list[TaskRequest] = field(default_factory=list)

    def prepare(self, channel: Channel, operation: Operation) -> UpstreamCall:
        raise NotImplementedError

    def map_error(self, status: int, body: bytes) -> GatewayError:
        return UpstreamError("mapped")

    async def submit_task(
        self, session: aiohttp.ClientSession, channel: Channel, task: TaskRequest
    ) -> str:
        self.submitted.append(channel.id)
        self.requests.append(task)
        if channel.id in self.refuse:
            raise self.refuse[channel.id]
        return f"up-{len(self.submitted)}"

    async def poll_task(
        self, session: aiohttp.ClientSession, channel: Channel, action: str, upstream_id: str
    ) -> TaskUpdate:
        answer = self.polls.pop(0)
        if isinstance(answer, GatewayError):
            raise answer
        return answer


@dataclass
class BatchScriptedVendor(ScriptedVendor):
    """Reports many tasks per call, like midjourney-proxy's list-by-condition."""

    poll_batch_size: int = 3
    batches: list[list[str]] = field(default_factory=list)
    states: dict[str, TaskUpdate] = field(default_factory=dict)

    async def poll_tasks(
        self, session: aiohttp.ClientSession, channel: Channel, upstream_ids: Sequence[str]
    ) -> Mapping[str, TaskUpdate]:
        self.batches.append(list(upstream_ids))
        return {i: self.states[i] for i in upstream_ids if i in self.states}


def _channel(channel_id: int, priority: int = 0) -> Channel:
    return Channel(
        id=channel_id,
        name=f"c{channel_id}",
        vendor="scripted",
        base_url="http://unused",
        secret="x",
        models=frozenset({"m"}),
        model_map={},
        priority=priority,
    )


@dataclass
class Rig:
    db: Database
    engine: TaskEngine
    vendor: ScriptedVendor
    key: KeyRecord

    async def balance(self) -> tuple[int, int]:
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(select(api_keys).where(api_keys.c.id == self.key.id))).one()
        return row.quota_remaining, row.spent

    async def usage_count(self, task_id: str) -> int:
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(
                select(usage_records).where(usage_records.c.request_id == task_id)
            )
            return len(rows.all())

    async def submit(self) -> Task:
        return await self.engine.submit(
            self.key,
            Submission(action="test.action", model="m", body=b"{}", request="{}", price=PRICE),
        )


@asynccontextmanager
async def rig(
    url: str, timing: TaskTiming | None = None, channels: int = 1, batching: bool = False
) -> AsyncIterator[Rig]:
    db = await open_database(url)
    session = aiohttp.ClientSession()
    outbound = GuardedClient(OutboundPolicy())
    vendor = BatchScriptedVendor() if batching else ScriptedVendor()
    try:
        _, key_id = await create_key(db, name="k", quota=1_000_000)
        key = KeyRecord(key_id, "k", None, None, False, True, True)
        engine = TaskEngine(
            store=TaskStore(db),
            ledger=Ledger(db),
            router=Router([_channel(i + 1, priority=-i) for i in range(channels)]),
            vendors={"scripted": vendor},
            session=session,
            webhooks=WebhookSender(outbound, db),
            renderers={},
            timing=timing or TaskTiming(first_poll=0, max_poll=0, lease=30, timeout=3600),
        )
        yield Rig(db, engine, vendor, key)
    finally:
        await session.close()
        await outbound.close()
        await db.close()


def run(url: str, body: Callable[[Rig], Awaitable[None]], **options: object) -> None:
    async def main() -> None:
        async with rig(url, **options) as r:  # type: ignore[arg-type]
            await body(r)

    asyncio.run(main())


async def claim_one(r: Rig) -> Task:
    [task] = await r.engine.store.claim_due(10, 30_000)
    return task


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, new_database_url: object) -> str:
    return normalize_database_url(new_database_url(request.param))  # type: ignore[operator]


def test_success_charges_once(url: str) -> None:
    async def body(r: Rig) -> None:
        task = await r.submit()
        assert task.status is TaskStatus.QUEUED and task.upstream_id == "up-1"
        assert await r.balance() == (1_000_000 - PRICE, 0)
        r.vendor.polls = [
            TaskUpdate(TaskStatus.RUNNING, 50),
            TaskUpdate(TaskStatus.SUCCEEDED, 100, result={"videos": []}),
        ]
        await r.engine.advance(await claim_one(r))
        running = await r.engine.store.get(task.id)
        assert running is not None and running.status is TaskStatus.RUNNING
        assert running.progress == 50
        claimed = await claim_one(r)
        await r.engine.advance(claimed)
        done = await r.engine.store.get(task.id)
        assert done is not None and done.status is TaskStatus.SUCCEEDED
        assert done.charged == PRICE and done.settlement == "charged"
        assert await r.balance() == (1_000_000 - PRICE, PRICE)
        # A second settlement (a retry, another process) changes nothing.
        again = await r.engine.store.finish(claimed, _refund())
        assert again is None
        assert await r.balance() == (1_000_000 - PRICE, PRICE)
        assert await r.usage_count(task.id) == 1
        assert await r.engine.store.claim_due(10, 30_000) == []

    run(url, body)


def _refund() -> Outcome:
    return Outcome(TaskStatus.FAILED, charge=0, http_status=500, failure="late")


def test_failure_refunds_in_full(url: str) -> None:
    async def body(r: Rig) -> None:
        task = await r.submit()
        r.vendor.polls = [TaskUpdate(TaskStatus.FAILED, failure="the real reason")]
        await r.engine.advance(await claim_one(r))
        done = await r.engine.store.get(task.id)
        assert done is not None and done.status is TaskStatus.FAILED
        assert done.failure == "the real reason" and done.settlement == "refunded"
        assert await r.balance() == (1_000_000, 0)
        assert await r.usage_count(task.id) == 1

    run(url, body)


def test_poll_errors_are_retried_not_fatal(url: str) -> None:
    async def body(r: Rig) -> None:
        task = await r.submit()
        r.vendor.polls = [UpstreamError("vendor down"), TaskUpdate(TaskStatus.SUCCEEDED, 100)]
        await r.engine.advance(await claim_one(r))
        waiting = await r.engine.store.get(task.id)
        assert waiting is not None and waiting.status is TaskStatus.QUEUED
        assert waiting.last_error == "vendor down" and waiting.settlement is None
        await r.engine.advance(await claim_one(r))
        done = await r.engine.store.get(task.id)
        assert done is not None and done.status is TaskStatus.SUCCEEDED

    run(url, body)


def test_timeout_fails_and_refunds(url: str) -> None:
    async def body(r: Rig) -> None:
        task = await r.submit()
        await asyncio.sleep(0.05)
        await r.engine.advance(await claim_one(r))
        done = await r.engine.store.get(task.id)
        assert done is not None and done.status is TaskStatus.FAILED
        assert done.failure is not None and "timed out" in done.failure
        assert await r.balance() == (1_000_000, 0)
        assert r.vendor.polls == []  # never asked the vendor

    run(url, body, timing=TaskTiming(first_poll=0, max_poll=0, lease=30, timeout=0.01))


def test_submit_rejected_upstream_is_refunded(url: str) -> None:
    async def body(r: Rig) -> None:
        r.vendor.refuse = {1: InvalidRequest("bad prompt", code="1301")}
        with pytest.raises(InvalidRequest):
            await r.submit()
        assert await r.balance() == (1_000_000, 0)
        [task] = await r.engine.store.recent(5)
        assert task.status is TaskStatus.FAILED and task.failure == "bad prompt"

    run(url, body)


def test_submit_fails_over_to_the_next_channel(url: str) -> None:
    async def body(r: Rig) -> None:
        r.vendor.refuse = {1: UpstreamError("down")}
        task = await r.submit()
        assert r.vendor.submitted == [1, 2]
        assert task.channel_id == 2 and task.status is TaskStatus.QUEUED

    run(url, body, channels=2)


def test_quota_is_checked_before_anything_is_sent(url: str) -> None:
    async def body(r: Rig) -> None:
        poor = replace(r.key)
        async with r.db.engine.begin() as conn:
            await conn.execute(api_keys.update().values(quota_remaining=PRICE - 1))
        with pytest.raises(QuotaExceeded):
            await r.engine.submit(
                poor,
                Submission("test.action", "m", b"{}", "{}", price=PRICE),
            )
        assert r.vendor.submitted == []
        assert await r.engine.store.recent(5) == []

    run(url, body)


def test_a_stale_lease_cannot_overwrite_newer_state(url: str) -> None:
    async def body(r: Rig) -> None:
        await r.submit()
        stale = await claim_one(r)
        fresh = stale  # what the old holder kept
        async with r.db.engine.begin() as conn:  # its lease expired; another process claims
            await conn.execute(tasks.update().values(next_poll_ms=0))
        newer = await claim_one(r)
        assert newer.attempts == fresh.attempts + 1
        written = await r.engine.store.record(
            fresh, status=TaskStatus.RUNNING, progress=10, next_poll_ms=0, last_error=None
        )
        assert written is None
        assert (
            await r.engine.store.record(
                newer, status=TaskStatus.RUNNING, progress=10, next_poll_ms=0, last_error=None
            )
            is not None
        )

    run(url, body)


def test_concurrent_claims_never_share_a_task(url: str) -> None:
    async def body(r: Rig) -> None:
        async with r.db.engine.begin() as conn:
            await conn.execute(api_keys.update().values(quota_remaining=100 * PRICE))
        for _ in range(30):
            await r.submit()
        other_db = await open_database(r.db.url, migrate=False)
        try:
            stores = [r.engine.store, TaskStore(other_db), TaskStore(other_db)]
            batches = await asyncio.gather(*(s.claim_due(12, 30_000) for s in stores))
        finally:
            await other_db.close()
        ids = [t.id for batch in batches for t in batch]
        assert len(ids) == len(set(ids)) == 30

    run(url, body)


def test_interrupted_submission_is_refunded(url: str) -> None:
    async def body(r: Rig) -> None:
        task = await r.submit()
        async with r.db.engine.begin() as conn:  # as if the process died mid-submit
            await conn.execute(
                tasks.update().values(status=TaskStatus.SUBMITTING.value, next_poll_ms=0)
            )
        await r.engine.advance(await claim_one(r))
        done = await r.engine.store.get(task.id)
        assert done is not None and done.status is TaskStatus.FAILED
        assert await r.balance() == (1_000_000, 0)

    run(url, body)


def test_a_batch_polling_vendor_is_asked_once_per_batch_for_all_due_tasks(url: str) -> None:
    async def body(r: Rig) -> None:
        assert isinstance(r.vendor, BatchScriptedVendor)
        submitted = [await r.submit() for _ in range(4)]
        claimed = await r.engine.store.claim_due(10, 30_000)
        assert {r.engine.batch_group(t) for t in claimed} == {1}
        ids = [t.upstream_id for t in submitted]
        r.vendor.states = {
            ids[0]: TaskUpdate(TaskStatus.SUCCEEDED, 100, result={"images": []}),
            ids[1]: TaskUpdate(TaskStatus.FAILED, failure="upstream said no"),
            ids[2]: TaskUpdate(TaskStatus.RUNNING, 40),
            # ids[3] is missing from the answer: asked again later, nothing settled
        }
        await r.engine.advance_batch(claimed)
        assert [len(b) for b in r.vendor.batches] == [3, 1]
        assert sorted(i for b in r.vendor.batches for i in b) == sorted(ids)
        after = {t.upstream_id: await r.engine.store.get(t.id) for t in submitted}
        states = {i: (a.status, a.progress) for i, a in after.items() if a is not None}
        assert states[ids[0]] == (TaskStatus.SUCCEEDED, 100)
        assert states[ids[1]][0] is TaskStatus.FAILED
        assert states[ids[2]] == (TaskStatus.RUNNING, 40)
        assert states[ids[3]] == (TaskStatus.QUEUED, 0)
        silent = after[ids[3]]
        assert silent is not None and silent.last_error == "the vendor did not report this task"
        # one success charged, one failure refunded, two still held
        assert await r.balance() == (1_000_000 - 3 * PRICE, PRICE)

    run(url, body, batching=True)


def test_a_child_task_runs_on_its_parents_channel_with_its_upstream_id(url: str) -> None:
    async def body(r: Rig) -> None:
        # The parent lands on channel 2 (channel 1 refuses it), then channel 1 recovers.
        r.vendor.refuse = {1: UpstreamError("down")}
        parent = await r.submit()
        assert parent.channel_id == 2
        r.vendor.refuse = {}
        child = await r.engine.submit(
            r.key,
            Submission(
                action="test.action",
                model="m",
                body=b"{}",
                request="{}",
                price=PRICE,
                parent=parent,
            ),
        )
        assert child.channel_id == 2 and r.vendor.submitted[-1] == 2
        assert r.vendor.requests[-1].parent_upstream_id == parent.upstream_id
        # A parent whose channel is gone leaves no channel for the child: refunded at once.
        orphan = replace(parent, channel_id=99)
        with pytest.raises(GatewayError, match="on the channel of task"):
            await r.engine.submit(
                r.key,
                Submission(
                    action="test.action",
                    model="m",
                    body=b"{}",
                    request="{}",
                    price=PRICE,
                    parent=orphan,
                ),
            )
        assert await r.balance() == (1_000_000 - 2 * PRICE, 0)

    run(url, body, channels=2)
