"""What a task is, independent of any vendor or client format.

A task moves ``submitting → queued → running → succeeded | failed``; a vendor reports where
its copy is (``TaskUpdate``) and the engine records it. A task may also be ``waiting`` for the
client's input on the way (midjourney-proxy's MODAL: a custom zoom waits for its prompt).
Client formats render these states in their own words (Kling says ``submitted``,
``processing``, ``succeed``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class TaskStatus(StrEnum):
    SUBMITTING = "submitting"  # held quota, not yet accepted upstream
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"  # the vendor waits for the client's input (engine.continue_task)
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (TaskStatus.SUCCEEDED, TaskStatus.FAILED)


# The statuses the poller looks after.
POLLED = (TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.WAITING)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class TaskUpdate:
    """A vendor's answer to a poll: where the task is, and its result or failure reason."""

    status: TaskStatus
    progress: int = 0
    result: dict[str, Any] | None = None
    failure: str | None = None
    # Why it failed, as a word client formats can map (``content_policy_violation``,
    # ``upstream_timeout``…), and the HTTP status its usage record gets.
    failure_code: str | None = None
    failure_status: int = 500


# Failure codes the engine itself gives.
FAILED_UPSTREAM = "upstream_error"
TIMED_OUT = "upstream_timeout"
CONTENT_POLICY = "content_policy_violation"


@dataclass(frozen=True, slots=True)
class Task:
    """One row of the task table."""

    id: str
    key_id: int
    vendor: str
    channel_id: int | None
    upstream_id: str | None
    action: str
    model: str
    request: str
    status: TaskStatus
    progress: int
    result: dict[str, Any] | None
    failure: str | None
    last_error: str | None
    callback_url: str | None
    external_task_id: str | None
    price: int
    reserved: int
    charged: int | None
    settlement: str | None
    created_ms: int
    updated_ms: int
    finished_ms: int | None
    next_poll_ms: int
    attempts: int
    failure_code: str | None = None
    user_id: int | None = None  # the user charged (platform)
    user_held: bool = False  # the hold came out of that user's balance
    ratio_ppm: int = 1_000_000  # the group ratio already in ``price``
    node_id: str | None = None  # the serving process that submitted it

    @classmethod
    def from_row(cls, row: Any) -> Task:
        named = dict(row._mapping)
        named["status"] = TaskStatus(named["status"])
        return cls(**named)

    @classmethod
    def from_rows(cls, rows: Sequence[Any]) -> list[Task]:
        """``from_row`` of each row of one result."""
        if not rows or rows[0]._fields != _FIELDS:
            return [cls.from_row(row) for row in rows]
        # Every column of the table, in its order (the fields' order): no dict per row.
        found = []
        for row in rows:
            values = list(row)
            values[_STATUS] = TaskStatus(values[_STATUS])
            found.append(cls(*values))
        return found


# The fields in order; a row of every column of the table (store/tables.py) has them so.
_FIELDS = tuple(Task.__dataclass_fields__)
_STATUS = _FIELDS.index("status")
