"""The engine survives restarts and shares a database: tasks resume and settle exactly once."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.kling import IMAGES, TEXT2VIDEO, get, submit, wait_task
from tests.support.servers import GatewayProcess, start_gateway

# Slow sandbox steps so a task is surely mid-flight when its gateway stops.
SLOW = {"OMNIRELAY_SANDBOX_TASK_SECONDS": "2", "OMNIRELAY_TASK_LEASE_SECONDS": "3"}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_restart_mid_task_resumes_and_charges_once(
    backend: str, new_database_url: object, tmp_path: Path
) -> None:
    url = new_database_url(backend)  # type: ignore[operator]
    first = start_gateway(url, tmp_path / "data", extra_env=SLOW)
    try:
        key, key_id = first.create_key("restart", quota_usd=1.0)
        task_id = submit(first, TEXT2VIDEO, key, {"prompt": "a long take"})
        time.sleep(0.5)
        status = get(first, f"{TEXT2VIDEO}/{task_id}", key).json()["data"]["task_status"]
        assert status == "submitted"
    finally:
        first.stop()
    assert first.process.returncode is not None
    second = start_gateway(url, tmp_path / "data", extra_env=SLOW)
    try:
        done = wait_task(second, TEXT2VIDEO, key, task_id, seconds=30)
        assert done["task_status"] == "succeed"
        assert len(second.usage(request_id=task_id)) == 1
        info = second.key_info(key_id)
        assert info["quota_remaining_micro_usd"] == 1_000_000 - 140_000
        assert info["spent_micro_usd"] == 140_000
    finally:
        second.stop()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.postgres
def test_a_crashed_process_loses_nothing(new_database_url: object, tmp_path: Path) -> None:
    """SIGKILL mid-task, no graceful hand-back: a new process resumes the task and charges it
    once (a claim the dead process may have held lapses after its lease)."""
    url = new_database_url("postgres")  # type: ignore[operator]
    first = start_gateway(url, tmp_path / "data", extra_env=SLOW)
    sandbox_pids = _children(first.process.pid)
    try:
        key, key_id = first.create_key("crash", quota_usd=1.0)
        task_id = submit(first, TEXT2VIDEO, key, {"prompt": "a long take", "mode": "pro"})
        time.sleep(0.8)  # polled (and so claimed) at least once
    finally:
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        for pid in sandbox_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    second = start_gateway(url, tmp_path / "data", extra_env=SLOW)
    try:
        done = wait_task(second, TEXT2VIDEO, key, task_id, seconds=30)
        assert done["task_status"] == "succeed"
        assert len(second.usage(request_id=task_id)) == 1
        assert second.key_info(key_id)["quota_remaining_micro_usd"] == 1_000_000 - 490_000
    finally:
        second.stop()


@pytest.mark.postgres
def test_two_processes_on_one_postgres_settle_every_task_once(
    new_database_url: object, tmp_path: Path
) -> None:
    url = new_database_url("postgres")  # type: ignore[operator]
    fast = {"OMNIRELAY_TASK_POLL_SECONDS": "0.05", "OMNIRELAY_TASK_POLL_MAX_SECONDS": "0.1"}
    gateways: list[GatewayProcess] = [
        start_gateway(url, tmp_path / "a", extra_env=fast),
        start_gateway(url, tmp_path / "b", extra_env=fast),
    ]
    try:
        key, key_id = gateways[0].create_key("pair", quota_usd=10.0)
        submitted: list[tuple[str, str, bool]] = []
        for i in range(24):
            gateway = gateways[i % 2]
            fails = i % 3 == 0
            prompt = f"shot {i}" + (" [sandbox-fail]" if fails else "")
            if i % 4 == 1:
                submitted.append((IMAGES, submit(gateway, IMAGES, key, {"prompt": prompt}), fails))
            else:
                body = {"prompt": prompt}
                submitted.append((TEXT2VIDEO, submit(gateway, TEXT2VIDEO, key, body), fails))
        expected = 0
        for n, (path, task_id, fails) in enumerate(submitted):
            done = wait_task(gateways[n % 2 - 1], path, key, task_id, seconds=60)
            assert done["task_status"] == ("failed" if fails else "succeed"), done
            if not fails:
                expected += 3_500 if path == IMAGES else 140_000
        records = gateways[1].usage(key_id=key_id, limit=1000)
        per_task = Counter(r["request_id"] for r in records)
        assert set(per_task) == {task_id for _, task_id, _ in submitted}
        assert set(per_task.values()) == {1}, per_task
        assert sum(r["cost"] for r in records) == expected
        info = gateways[0].key_info(key_id)
        assert info["spent_micro_usd"] == expected
        assert info["quota_remaining_micro_usd"] == 10_000_000 - expected
    finally:
        for gateway in gateways:
            gateway.stop()
