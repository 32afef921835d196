"""The task store's bulk writes: what one shared transaction (``commits.py``) does for a batch.

New tasks go in with one multi-row INSERT and one debit per account. Changes of single tasks
(an acceptance, a poll's answer, a settlement) of one kind go out as one UPDATE for the whole
batch (``store/batch.py``), each row guarded as it was alone (the lease token, ``settlement IS
NULL``); the rows it returns are the ones that matched. A task twice in one batch is written
in a second round, after the first, as it would have been one transaction after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import JSON, BigInteger, Integer, String, func, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnirelay.billing import Account, credit_statements, debit_statements, quota_exceeded
from omnirelay.errors import QuotaExceeded
from omnirelay.store import tasks
from omnirelay.store.batch import BatchUpdate
from omnirelay.tasks.model import Task, TaskStatus, now_ms
from omnirelay.tasks.outbox import WebhookHook, enqueue
from omnirelay.usage import Settlement, UsageEvent, apply_settlement, insert_records

# In the VALUES lists: None is SQL NULL ("keep what is stored"), not the JSON text 'null'.
_JSON = JSON(none_as_null=True)

# SUBMITTING -> QUEUED once the vendor accepted.
ACCEPT = BatchUpdate(
    [
        ("id", String()),
        ("vendor", String()),
        ("channel_id", Integer()),
        ("upstream_id", String()),
        ("updated_ms", BigInteger()),
        ("next_poll_ms", BigInteger()),
    ],
    lambda v: update(tasks)
    .where(tasks.c.id == v.c.id, tasks.c.status == TaskStatus.SUBMITTING.value)
    .values(
        status=TaskStatus.QUEUED.value,
        vendor=v.c.vendor,
        channel_id=v.c.channel_id,
        upstream_id=v.c.upstream_id,
        updated_ms=v.c.updated_ms,
        next_poll_ms=v.c.next_poll_ms,
    )
    .returning(*tasks.c),
)

# A poll's non-final answer, by the lease holder (``attempts``) of an unsettled task;
# ``updated_ms`` and ``result`` NULL keep what is stored.
RECORD = BatchUpdate(
    [
        ("id", String()),
        ("attempts", Integer()),
        ("status", String()),
        ("progress", Integer()),
        ("next_poll_ms", BigInteger()),
        ("last_error", String()),
        ("updated_ms", BigInteger()),
        ("result", _JSON),
    ],
    lambda v: update(tasks)
    .where(tasks.c.id == v.c.id, tasks.c.attempts == v.c.attempts, tasks.c.settlement.is_(None))
    .values(
        status=v.c.status,
        progress=v.c.progress,
        next_poll_ms=v.c.next_poll_ms,
        last_error=v.c.last_error,
        updated_ms=func.coalesce(v.c.updated_ms, tasks.c.updated_ms),
        result=func.coalesce(v.c.result, tasks.c.result),
    )
    .returning(*tasks.c),
)

# A waiting task was given its input: queued again, due now.
POLL_SOON = BatchUpdate(
    [("id", String()), ("now_ms", BigInteger())],
    lambda v: update(tasks)
    .where(tasks.c.id == v.c.id, tasks.c.settlement.is_(None))
    .values(status=TaskStatus.QUEUED.value, next_poll_ms=v.c.now_ms, updated_ms=v.c.now_ms)
    .returning(*tasks.c),
)

# The final state of a task not settled yet.
_SETTLE = BatchUpdate(
    [
        ("id", String()),
        ("status", String()),
        ("progress", Integer()),
        ("result", _JSON),
        ("failure", String()),
        ("failure_code", String()),
        ("charged", BigInteger()),
        ("settlement", String()),
        ("now_ms", BigInteger()),
    ],
    lambda v: update(tasks)
    .where(tasks.c.id == v.c.id, tasks.c.settlement.is_(None))
    .values(
        status=v.c.status,
        progress=v.c.progress,
        result=v.c.result,
        failure=v.c.failure,
        failure_code=v.c.failure_code,
        charged=v.c.charged,
        settlement=v.c.settlement,
        updated_ms=v.c.now_ms,
        finished_ms=v.c.now_ms,
    )
    .returning(*tasks.c),
)


async def take(
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
        await take(conn, account, paid, minimum)
    except QuotaExceeded:
        return False
    return True


@dataclass(frozen=True, slots=True)
class NewTask:
    values: dict[str, Any]
    account: Account | None
    amount: int


async def insert_many(conn: AsyncConnection, items: list[NewTask]) -> list[tuple[bool, Any]]:
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
                await take(conn, account, items[i].amount)
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
        created.update(zip(members, Task.from_rows(rows), strict=True))
    return [(False, refused[i]) if i in refused else (True, created[i]) for i in range(len(items))]


Item = TypeVar("Item")


def _rounds(
    items: Sequence[Item], key: Callable[[Item], tuple[object, str]]
) -> list[dict[object, list[int]]]:
    """``items`` by kind, in task id order, in rounds where a task appears at most once per
    kind (the first round holds each task's first item, the next its second...)."""
    rounds: list[dict[object, list[int]]] = []
    seen: dict[tuple[object, str], int] = {}
    for i in sorted(range(len(items)), key=lambda i: key(items[i])[1]):
        kind_and_id = key(items[i])
        n = seen.get(kind_and_id, 0)
        seen[kind_and_id] = n + 1
        if n == len(rounds):
            rounds.append({})
        rounds[n].setdefault(kind_and_id[0], []).append(i)
    return rounds


async def _updated(
    conn: AsyncConnection, kind: BatchUpdate, rows: Sequence[Sequence[Any]]
) -> dict[str, Task]:
    """Run ``kind`` for ``rows`` (each starting with a task id): the tasks it changed."""
    statement, params = kind(rows)
    changed = Task.from_rows((await conn.execute(statement, params)).all())
    return {task.id: task for task in changed}


@dataclass(frozen=True, slots=True)
class Change:
    kind: BatchUpdate
    row: tuple[Any, ...]  # the kind's columns, the task id first
    webhook: WebhookHook | None

    @property
    def task_id(self) -> str:
        return str(self.row[0])


async def change_many(conn: AsyncConnection, items: list[Change]) -> list[tuple[bool, Any]]:
    """Changes of single tasks with the webhooks they announce: one UPDATE per kind."""
    changed: list[tuple[bool, Any]] = [(True, None)] * len(items)
    for kinds in _rounds(items, lambda item: (item.kind, item.task_id)):
        for kind, members in kinds.items():
            assert isinstance(kind, BatchUpdate)
            found = await _updated(conn, kind, [items[i].row for i in members])
            for i in members:
                task = found.get(items[i].task_id)
                if task is not None:
                    await enqueue(conn, task, items[i].webhook)
                    changed[i] = (True, task)
    return changed


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


@dataclass(frozen=True, slots=True)
class Finish:
    task: Task
    outcome: Outcome
    webhook: WebhookHook | None


def _settle_row(task: Task, outcome: Outcome, now: int) -> tuple[Any, ...]:
    charge = max(0, outcome.charge)
    progress = 100 if outcome.status is TaskStatus.SUCCEEDED else task.progress
    return (
        task.id,
        outcome.status.value,
        progress,
        outcome.result,
        outcome.failure,
        outcome.failure_code,
        charge,
        "charged" if charge else "refunded",
        now,
    )


def _usage(task: Task, outcome: Outcome, now: int) -> UsageEvent:
    return UsageEvent(
        request_id=task.id,
        key_id=task.key_id,
        model=task.model,
        channel_id=task.channel_id,
        endpoint=task.action,
        units=outcome.units,
        cost=max(0, outcome.charge),
        latency_ms=min(now - task.created_ms, 2**31 - 1),
        status=outcome.http_status,
        stream=False,
        error=outcome.failure[:500] if outcome.failure else None,
        user_id=task.user_id,
        ratio_ppm=task.ratio_ppm,
    )


async def finish_many(conn: AsyncConnection, items: list[Finish]) -> list[tuple[bool, Any]]:
    """Settle tasks: their final states in one UPDATE, then the money of them all in one
    UPDATE per account, their usage records in one INSERT, their webhooks."""
    now = now_ms()
    settled: list[tuple[bool, Any]] = [(True, None)] * len(items)
    settlement = Settlement()
    events: list[UsageEvent] = []
    for kinds in _rounds(items, lambda item: (_SETTLE, item.task.id)):
        members = kinds[_SETTLE]
        rows = [_settle_row(items[i].task, items[i].outcome, now) for i in members]
        found = await _updated(conn, _SETTLE, rows)
        for i in members:
            task, outcome = items[i].task, items[i].outcome
            finished = found.get(task.id)
            if finished is None:
                continue
            charge = max(0, outcome.charge)
            refund = task.reserved - charge
            settlement.key_refunds[task.key_id] += refund
            settlement.key_spent[task.key_id] += charge
            if task.user_id is not None:
                settlement.user_spent[task.user_id] += charge
                if task.user_held:
                    settlement.user_refunds[task.user_id] += refund
            events.append(_usage(task, outcome, now))
            await enqueue(conn, finished, items[i].webhook)
            settled[i] = (True, finished)
    if events:
        await apply_settlement(conn, settlement)  # accounts in id order
        # The rollups in one order too, whoever writes them.
        events.sort(key=lambda e: (e.key_id, e.model, e.channel_id or 0))
        await insert_records(conn, events)
    return settled
