"""Waiting for a task of any vendor through the admin API (``GET /admin/tasks/{id}``)."""

from __future__ import annotations

import time
from typing import Any

from tests.support.servers import GatewayProcess


def wait_task(gateway: GatewayProcess, task_id: str, seconds: float = 30) -> dict[str, Any]:
    """The task once it succeeded or failed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        task = dict(gateway.admin("GET", f"/admin/tasks/{task_id}").json())
        if task["status"] in ("succeeded", "failed"):
            return task
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} did not finish in {seconds} s")
