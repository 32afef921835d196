"""The task table: create, claim due tasks, record progress, and settle exactly once.

Claiming is one ``UPDATE … WHERE id IN (SELECT … LIMIT n [FOR UPDATE SKIP LOCKED]) RETURNING``:
on PostgreSQL the row locks let several processes claim side by side without waiting on each
other; on SQLite the single writer makes the statement atomic by itself. A claim pushes
``next_poll_ms`` a lease ahead and bumps ``attempts``, which is the lease token: a process that
lost its lease (it stalled past it and another process claimed the task) cannot overwrite the
newer state. Settlement is guarded by ``settlement IS NULL`` in the same transaction that moves
the money, so a task is charged or refunded once, whichever process gets there first. A change
a webhook announces writes that webhook to the outbox in its own transaction (``outbox.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import BigInteger, Integer, Update, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from omnirelay.billing import Account
from omnirelay.store import Database, tasks, usage_hourly, usage_records
from omnirelay.store.db import claiming
from omnirelay.tasks.commits import GroupCommit
from omnirelay.tasks.model import POLLED, Task, TaskStatus, now_ms
from omnirelay.tasks.outbox import WebhookHook
from omnirelay.tasks.writes import (
    ACCEPT,
    POLL_SOON,
    RECORD,
    Change,
    Finish,
    NewTask,
    Outcome,
    change_many,
    finish_many,
    insert_many,
)
from omnirelay.usage import Settlement, apply_settlement

__all__ = ["DuplicateExternalId", "Outcome", "TaskStore"]


class DuplicateExternalId(Exception):
    """The key already has a task with this ``external_task_id``."""


class TaskStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._claim: Update | None = None
        # Each kind of write shares its transactions with concurrent ones (``commits.py``).
        self._inserts: GroupCommit[NewTask] = GroupCommit(db, insert_many)
        self._changes: GroupCommit[Change] = GroupCommit(db, change_many)
        self._finishes: GroupCommit[Finish] = GroupCommit(db, finish_many)

    async def insert(
        self, values: dict[str, Any], account: Account | None = None, amount: int = 0
    ) -> Task:
        """Create a task, taking ``amount`` (its price) from ``account`` in the same
        transaction (``QuotaExceeded`` if it lacks it): a crash can never keep a reservation
        that no task row records."""
        try:
            created: Task = await self._inserts.add(NewTask(values, account, amount))
        except IntegrityError as exc:
            raise DuplicateExternalId(str(values.get("external_task_id"))) from exc
        return created

    async def get(self, task_id: str) -> Task | None:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(select(tasks).where(tasks.c.id == task_id))).first()
        return Task.from_row(row) if row is not None else None

    async def get_many(
        self, task_ids: Sequence[str], *, key_id: int | None = None, accepted_only: bool = False
    ) -> list[Task]:
        """The tasks among ``task_ids``, in the order asked (unknown ids left out); only
        ``key_id``'s if given, and only those a vendor accepted if ``accepted_only``."""
        if not task_ids:
            return []
        query = select(tasks).where(tasks.c.id.in_(list(task_ids)))
        if key_id is not None:
            query = query.where(tasks.c.key_id == key_id)
        if accepted_only:
            query = query.where(tasks.c.upstream_id.is_not(None))
        async with self._db.engine.connect() as conn:
            found = {r.id: Task.from_row(r) for r in (await conn.execute(query)).all()}
        return [found[i] for i in dict.fromkeys(task_ids) if i in found]

    async def external_id_taken(self, key_id: int, external_id: str) -> bool:
        query = select(tasks.c.id).where(
            tasks.c.key_id == key_id, tasks.c.external_task_id == external_id
        )
        async with self._db.engine.connect() as conn:
            return (await conn.scalar(query)) is not None

    async def list_for_key(
        self, key_id: int, actions: Sequence[str], page: int, size: int
    ) -> list[Task]:
        query = (
            select(tasks)
            # A submission the vendor refused never got an id to the client: not listed.
            .where(
                tasks.c.key_id == key_id,
                tasks.c.action.in_(actions),
                tasks.c.upstream_id.is_not(None),
            )
            .order_by(tasks.c.created_ms.desc(), tasks.c.id)
            .offset((page - 1) * size)
            .limit(size)
        )
        async with self._db.engine.connect() as conn:
            return [Task.from_row(r) for r in (await conn.execute(query)).all()]

    async def recent(self, limit: int) -> list[Task]:
        query = select(tasks).order_by(tasks.c.created_ms.desc()).limit(limit)
        async with self._db.engine.connect() as conn:
            return [Task.from_row(r) for r in (await conn.execute(query)).all()]

    async def mark_submitted(
        self,
        task_id: str,
        vendor: str,
        channel_id: int,
        upstream_id: str,
        next_poll_ms: int,
        webhook: WebhookHook | None = None,
    ) -> Task | None:
        """SUBMITTING → QUEUED once the vendor accepted; None if the task was settled meanwhile.

        Here and below, ``webhook`` is asked, in the same transaction, which webhook the change
        announces (written to the outbox with it)."""
        row = (task_id, vendor, channel_id, upstream_id, now_ms(), next_poll_ms)
        return await self._changed(Change(ACCEPT, row, webhook))

    async def _changed(self, change: Change) -> Task | None:
        """Write one task's change and its webhook in one transaction (shared with others)."""
        changed: Task | None = await self._changes.add(change)
        return changed

    async def claim_due(self, limit: int, lease_ms: int) -> list[Task]:
        """Take up to ``limit`` due tasks for this process for ``lease_ms``."""
        now = now_ms()
        if self._claim is None:
            # Built once: building the statement and its cache key on every tick of the
            # poller (4 a second in every process) was ~0.3 ms of the event loop in one slice.
            due = (
                select(tasks.c.id)
                .where(
                    tasks.c.status.in_([s.value for s in (*POLLED, TaskStatus.SUBMITTING)]),
                    tasks.c.next_poll_ms <= bindparam("claim_now", type_=BigInteger),
                )
                .order_by(tasks.c.next_poll_ms)
                .limit(bindparam("claim_limit", type_=Integer))
            )
            self._claim = claiming(
                self._db,
                tasks,
                due,
                next_poll_ms=bindparam("claim_until", type_=BigInteger),
                attempts=tasks.c.attempts + 1,
            )
        values = {"claim_now": now, "claim_limit": limit, "claim_until": now + lease_ms}
        async with self._db.engine.begin() as conn:
            rows = (await conn.execute(self._claim, values)).all()
        return [Task.from_row(r) for r in rows]

    async def record(
        self,
        task: Task,
        *,
        status: TaskStatus,
        progress: int,
        next_poll_ms: int,
        last_error: str | None,
        result: dict[str, Any] | None = None,
        webhook: WebhookHook | None = None,
    ) -> Task | None:
        """Write a poll's non-final answer, if this process still holds the task's lease.

        ``result`` is a partial result a vendor shows while it works (Suno's streaming clips);
        None keeps what is stored."""
        changed = status != task.status or progress != task.progress
        if result is not None and result != task.result:
            changed = True
        else:
            result = None  # keeps what is stored
        row = (
            task.id,
            task.attempts,
            status.value,
            progress,
            next_poll_ms,
            last_error,
            now_ms() if changed else None,  # None keeps what is stored
            result,
        )
        return await self._changed(Change(RECORD, row, webhook))

    async def poll_soon(self, task_id: str, webhook: WebhookHook | None = None) -> Task | None:
        """A waiting task was given its input: queued again, and due for a poll now."""
        return await self._changed(Change(POLL_SOON, (task_id, now_ms()), webhook))

    async def release(self, task: Task) -> None:
        """Hand a claimed task back at once (graceful shutdown): another process may take it."""
        async with self._db.engine.begin() as conn:
            await conn.execute(
                update(tasks)
                .where(tasks.c.id == task.id, tasks.c.attempts == task.attempts)
                .values(next_poll_ms=now_ms())
            )

    async def finish(
        self, task: Task, outcome: Outcome, webhook: WebhookHook | None = None
    ) -> Task | None:
        """Settle ``task``: final state, money, usage record and webhook in one transaction,
        once.

        Returns the settled task, or None when it had already been settled (by this process or
        another), in which case nothing changes.
        """
        finished: Task | None = await self._finishes.add(Finish(task, outcome, webhook))
        return finished

    async def reverse_charge(self, task: Task, reason: str, failure_code: str) -> Task | None:
        """Refund a charged task whose result could not be delivered (its files could not be
        fetched for the client): once, in one transaction with its usage record."""
        statement = (
            update(tasks)
            .where(tasks.c.id == task.id, tasks.c.settlement == "charged")
            .values(
                status=TaskStatus.FAILED.value,
                failure=reason,
                failure_code=failure_code,
                charged=0,
                settlement="refunded",
                updated_ms=now_ms(),
            )
            .returning(*tasks.c)
        )
        async with self._db.engine.begin() as conn:
            row = (await conn.execute(statement)).first()
            if row is None:
                return None
            charged = int(task.charged or 0)
            settlement = Settlement()
            settlement.key_refunds[task.key_id] += charged
            settlement.key_spent[task.key_id] -= charged
            if task.user_id is not None:
                settlement.user_spent[task.user_id] -= charged
                if task.user_held:
                    settlement.user_refunds[task.user_id] += charged
            await apply_settlement(conn, settlement)
            record = (
                await conn.execute(
                    select(usage_records).where(usage_records.c.request_id == task.id)
                )
            ).first()
            await conn.execute(
                update(usage_records)
                .where(usage_records.c.request_id == task.id)
                .values(cost=0, units=0, status=502, error=reason[:500])
            )
            if record is not None:  # the hourly rollup follows its record
                created = record.created_at
                if created.tzinfo is None:  # SQLite gives back naive UTC
                    created = created.replace(tzinfo=UTC)
                hour = int(created.timestamp()) // 3600 * 3600
                await conn.execute(
                    update(usage_hourly)
                    .where(
                        usage_hourly.c.hour == hour,
                        usage_hourly.c.key_id == record.key_id,
                        usage_hourly.c.model == record.model,
                        usage_hourly.c.channel_id == (record.channel_id or 0),
                    )
                    .values(
                        cost=usage_hourly.c.cost - record.cost,
                        errors=usage_hourly.c.errors + int(record.status < 400),
                    )
                )
        return Task.from_row(row)

    async def count_open(self) -> int:
        query = select(func.count()).where(
            tasks.c.status.in_([s.value for s in (*POLLED, TaskStatus.SUBMITTING)])
        )
        async with self._db.engine.connect() as conn:
            return int(await conn.scalar(query) or 0)
