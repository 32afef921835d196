"""The task table: create, claim due tasks, record progress, and settle exactly once.

Claiming is one ``UPDATE … WHERE id IN (SELECT … LIMIT n [FOR UPDATE SKIP LOCKED]) RETURNING``:
on PostgreSQL the row locks let several processes claim side by side without waiting on each
other; on SQLite the single writer makes the statement atomic by itself. A claim pushes
``next_poll_ms`` a lease ahead and bumps ``attempts``, which is the lease token: a process that
lost its lease (it stalled past it and another process claimed the task) cannot overwrite the
newer state. Settlement is guarded by ``settlement IS NULL`` in the same transaction that moves
the money, so a task is charged or refunded once, whichever process gets there first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from omnirelay.store import Database, tasks, usage_hourly, usage_records
from omnirelay.tasks.model import POLLED, Task, TaskStatus, now_ms
from omnirelay.usage import Settlement, UsageEvent, apply_settlement, insert_records


class DuplicateExternalId(Exception):
    """The key already has a task with this ``external_task_id``."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a task ends: its final status and what it costs (0 for a refund)."""

    status: TaskStatus
    charge: int
    http_status: int  # for the usage record: 200 success, 4xx/5xx the kind of failure
    result: dict[str, Any] | None = None
    failure: str | None = None
    units: int = 0
    failure_code: str | None = None


class TaskStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, values: dict[str, Any]) -> Task:
        try:
            async with self._db.engine.begin() as conn:
                row = (
                    await conn.execute(tasks.insert().values(**values).returning(*tasks.c))
                ).one()
        except IntegrityError as exc:
            raise DuplicateExternalId(str(values.get("external_task_id"))) from exc
        return Task.from_row(row)

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
        self, task_id: str, vendor: str, channel_id: int, upstream_id: str, next_poll_ms: int
    ) -> Task | None:
        """SUBMITTING → QUEUED once the vendor accepted; None if the task was settled meanwhile."""
        statement = (
            update(tasks)
            .where(tasks.c.id == task_id, tasks.c.status == TaskStatus.SUBMITTING.value)
            .values(
                status=TaskStatus.QUEUED.value,
                vendor=vendor,
                channel_id=channel_id,
                upstream_id=upstream_id,
                updated_ms=now_ms(),
                next_poll_ms=next_poll_ms,
            )
            .returning(*tasks.c)
        )
        async with self._db.engine.begin() as conn:
            row = (await conn.execute(statement)).first()
        return Task.from_row(row) if row is not None else None

    async def claim_due(self, limit: int, lease_ms: int) -> list[Task]:
        """Take up to ``limit`` due tasks for this process for ``lease_ms``."""
        now = now_ms()
        due = (
            select(tasks.c.id)
            .where(
                tasks.c.status.in_([s.value for s in (*POLLED, TaskStatus.SUBMITTING)]),
                tasks.c.next_poll_ms <= now,
            )
            .order_by(tasks.c.next_poll_ms)
            .limit(limit)
        )
        if self._db.is_postgres:
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(tasks)
            .where(tasks.c.id.in_(due.scalar_subquery()))
            .values(next_poll_ms=now + lease_ms, attempts=tasks.c.attempts + 1)
            .returning(*tasks.c)
        )
        async with self._db.engine.begin() as conn:
            rows = (await conn.execute(statement)).all()
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
    ) -> Task | None:
        """Write a poll's non-final answer, if this process still holds the task's lease.

        ``result`` is a partial result a vendor shows while it works (Suno's streaming clips);
        None keeps what is stored."""
        changed = status != task.status or progress != task.progress
        values: dict[str, Any] = {
            "status": status.value,
            "progress": progress,
            "next_poll_ms": next_poll_ms,
            "last_error": last_error,
        }
        if result is not None and result != task.result:
            values["result"] = result
            changed = True
        if changed:
            values["updated_ms"] = now_ms()
        statement = (
            update(tasks)
            .where(
                tasks.c.id == task.id,
                tasks.c.attempts == task.attempts,
                tasks.c.settlement.is_(None),
            )
            .values(values)
            .returning(*tasks.c)
        )
        async with self._db.engine.begin() as conn:
            row = (await conn.execute(statement)).first()
        return Task.from_row(row) if row is not None else None

    async def poll_soon(self, task_id: str) -> Task | None:
        """A waiting task was given its input: queued again, and due for a poll now."""
        statement = (
            update(tasks)
            .where(tasks.c.id == task_id, tasks.c.settlement.is_(None))
            .values(
                status=TaskStatus.QUEUED.value,
                next_poll_ms=now_ms(),
                updated_ms=now_ms(),
            )
            .returning(*tasks.c)
        )
        async with self._db.engine.begin() as conn:
            row = (await conn.execute(statement)).first()
        return Task.from_row(row) if row is not None else None

    async def release(self, task: Task) -> None:
        """Hand a claimed task back at once (graceful shutdown): another process may take it."""
        async with self._db.engine.begin() as conn:
            await conn.execute(
                update(tasks)
                .where(tasks.c.id == task.id, tasks.c.attempts == task.attempts)
                .values(next_poll_ms=now_ms())
            )

    async def finish(self, task: Task, outcome: Outcome) -> Task | None:
        """Settle ``task``: final state, money and usage record in one transaction, once.

        Returns the settled task, or None when it had already been settled (by this process or
        another), in which case nothing changes.
        """
        now = now_ms()
        charge = max(0, outcome.charge)
        statement = (
            update(tasks)
            .where(tasks.c.id == task.id, tasks.c.settlement.is_(None))
            .values(
                status=outcome.status.value,
                progress=100 if outcome.status is TaskStatus.SUCCEEDED else task.progress,
                result=outcome.result,
                failure=outcome.failure,
                failure_code=outcome.failure_code,
                charged=charge,
                settlement="charged" if charge else "refunded",
                updated_ms=now,
                finished_ms=now,
            )
            .returning(*tasks.c)
        )
        async with self._db.engine.begin() as conn:
            row = (await conn.execute(statement)).first()
            if row is None:
                return None
            refund = task.reserved - charge
            settlement = Settlement()
            settlement.key_refunds[task.key_id] += refund
            settlement.key_spent[task.key_id] += charge
            if task.user_id is not None:
                settlement.user_spent[task.user_id] += charge
                if task.user_held:
                    settlement.user_refunds[task.user_id] += refund
            await apply_settlement(conn, settlement)
            await insert_records(
                conn,
                [
                    UsageEvent(
                        request_id=task.id,
                        key_id=task.key_id,
                        model=task.model,
                        channel_id=task.channel_id,
                        endpoint=task.action,
                        units=outcome.units,
                        cost=charge,
                        latency_ms=min(now - task.created_ms, 2**31 - 1),
                        status=outcome.http_status,
                        stream=False,
                        error=outcome.failure[:500] if outcome.failure else None,
                        user_id=task.user_id,
                        ratio_ppm=task.ratio_ppm,
                    )
                ],
            )
        return Task.from_row(row)

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

    async def release_hold(self, key_id: int, amount: int, user_id: int | None = None) -> None:
        """Give back a reservation that never became a task (to the user too if it held)."""
        if amount:
            settlement = Settlement()
            settlement.key_refunds[key_id] += amount
            if user_id is not None:
                settlement.user_refunds[user_id] += amount
            async with self._db.engine.begin() as conn:
                await apply_settlement(conn, settlement)

    async def count_open(self) -> int:
        query = select(func.count()).where(
            tasks.c.status.in_([s.value for s in (*POLLED, TaskStatus.SUBMITTING)])
        )
        async with self._db.engine.connect() as conn:
            return int(await conn.scalar(query) or 0)
