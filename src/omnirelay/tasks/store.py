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
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import BigInteger, Integer, Update, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnirelay.billing import Account, credit_statements, debit_statements, quota_exceeded
from omnirelay.errors import QuotaExceeded
from omnirelay.store import Database, tasks, usage_hourly, usage_records
from omnirelay.store.db import claiming
from omnirelay.tasks.commits import GroupCommit
from omnirelay.tasks.model import POLLED, Task, TaskStatus, now_ms
from omnirelay.tasks.outbox import WebhookHook, enqueue
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


async def _take(
    conn: AsyncConnection, account: Account, amount: int, minimum: int | None = None
) -> None:
    """Debit every side of ``account`` or none (``QuotaExceeded``): a side that refused after
    another paid gets the other's money back in this transaction, which others share."""
    taken = 0
    for statement in debit_statements(account, amount, minimum):
        if (await conn.execute(statement)).rowcount != 1:
            for undo in list(credit_statements(account, amount))[:taken]:
                await conn.execute(undo)
            raise quota_exceeded(account, amount)
        taken += 1


async def _take_all(conn: AsyncConnection, account: Account, amounts: list[int]) -> bool:
    """Debit ``amounts`` from ``account`` in one statement per side, if each would have been
    taken one after the other (every one needs at least itself, and at least 1, left)."""
    minimum = paid = 0
    for amount in amounts:
        minimum = max(minimum, paid + max(amount, 1))
        paid += amount
    try:
        await _take(conn, account, paid, minimum)
    except QuotaExceeded:
        return False
    return True


@dataclass(frozen=True, slots=True)
class _NewTask:
    values: dict[str, Any]
    account: Account | None
    amount: int


async def _insert_many(conn: AsyncConnection, items: list[_NewTask]) -> list[tuple[bool, Any]]:
    """New tasks and their reservations: one debit per account (each task's own when the
    account cannot pay for them all), one multi-row INSERT."""
    refused: dict[int, QuotaExceeded] = {}
    paying: dict[Account, list[int]] = {}
    for i, item in enumerate(items):
        if item.account is not None:
            paying.setdefault(item.account, []).append(i)
    for account in sorted(paying, key=lambda a: (a.key_id or 0, a.user_id or 0)):
        members = paying[account]
        if len(members) > 1 and await _take_all(conn, account, [items[i].amount for i in members]):
            continue
        for i in members:
            try:
                await _take(conn, account, items[i].amount)
            except QuotaExceeded as short:
                refused[i] = short
    created: dict[int, Task] = {}
    shapes: dict[tuple[str, ...], list[int]] = {}  # one statement per set of columns given
    for i, item in enumerate(items):
        if i not in refused:
            shapes.setdefault(tuple(item.values), []).append(i)
    for members in shapes.values():
        statement = tasks.insert().returning(*tasks.c, sort_by_parameter_order=True)
        rows = (await conn.execute(statement, [items[i].values for i in members])).all()
        created.update(zip(members, map(Task.from_row, rows), strict=True))
    return [(False, refused[i]) if i in refused else (True, created[i]) for i in range(len(items))]


@dataclass(frozen=True, slots=True)
class _Change:
    task_id: str
    statement: Any  # an UPDATE … RETURNING of the task
    webhook: WebhookHook | None


async def _change_many(conn: AsyncConnection, items: list[_Change]) -> list[tuple[bool, Any]]:
    """UPDATEs of single tasks (in task id order) with the webhooks they announce."""
    changed: list[tuple[bool, Any]] = [(True, None)] * len(items)
    for i in sorted(range(len(items)), key=lambda i: items[i].task_id):
        row = (await conn.execute(items[i].statement)).first()
        if row is not None:
            task = Task.from_row(row)
            await enqueue(conn, task, items[i].webhook)
            changed[i] = (True, task)
    return changed


@dataclass(frozen=True, slots=True)
class _Finish:
    task: Task
    outcome: Outcome
    webhook: WebhookHook | None


async def _finish_many(conn: AsyncConnection, items: list[_Finish]) -> list[tuple[bool, Any]]:
    """Settle tasks (in task id order): their final states, then the money of them all in
    one UPDATE per account, their usage records in one INSERT, their webhooks."""
    now = now_ms()
    settled: list[tuple[bool, Any]] = [(True, None)] * len(items)
    settlement = Settlement()
    events: list[UsageEvent] = []
    for i in sorted(range(len(items)), key=lambda i: items[i].task.id):
        task, outcome = items[i].task, items[i].outcome
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
        row = (await conn.execute(statement)).first()
        if row is None:
            continue
        refund = task.reserved - charge
        settlement.key_refunds[task.key_id] += refund
        settlement.key_spent[task.key_id] += charge
        if task.user_id is not None:
            settlement.user_spent[task.user_id] += charge
            if task.user_held:
                settlement.user_refunds[task.user_id] += refund
        events.append(
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
        )
        finished = Task.from_row(row)
        await enqueue(conn, finished, items[i].webhook)
        settled[i] = (True, finished)
    if events:
        await apply_settlement(conn, settlement)  # accounts in id order
        # The rollups in one order too, whoever writes them.
        events.sort(key=lambda e: (e.key_id, e.model, e.channel_id or 0))
        await insert_records(conn, events)
    return settled


class TaskStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._claim: Update | None = None
        # Each kind of write shares its transactions with concurrent ones (``commits.py``).
        self._inserts: GroupCommit[_NewTask] = GroupCommit(db, _insert_many)
        self._changes: GroupCommit[_Change] = GroupCommit(db, _change_many)
        self._finishes: GroupCommit[_Finish] = GroupCommit(db, _finish_many)

    async def insert(
        self, values: dict[str, Any], account: Account | None = None, amount: int = 0
    ) -> Task:
        """Create a task, taking ``amount`` (its price) from ``account`` in the same
        transaction (``QuotaExceeded`` if it lacks it): a crash can never keep a reservation
        that no task row records."""
        try:
            created: Task = await self._inserts.add(_NewTask(values, account, amount))
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
        return await self._changed(task_id, statement, webhook)

    async def _changed(
        self, task_id: str, statement: Any, webhook: WebhookHook | None
    ) -> Task | None:
        """Run an UPDATE … RETURNING of one task and write its webhook in one transaction."""
        changed: Task | None = await self._changes.add(_Change(task_id, statement, webhook))
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
        return await self._changed(task.id, statement, webhook)

    async def poll_soon(self, task_id: str, webhook: WebhookHook | None = None) -> Task | None:
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
        return await self._changed(task_id, statement, webhook)

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
        finished: Task | None = await self._finishes.add(_Finish(task, outcome, webhook))
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
