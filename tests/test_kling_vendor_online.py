"""The Kling adapter against the sandbox's Kling over HTTP, and the ``tasks watch`` command."""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
import sys
import time

import aiohttp
import pytest

from omnirelay.channels import Channel
from omnirelay.errors import InvalidRequest, NotFound, UpstreamError
from omnirelay.formats import kling
from omnirelay.tasks.model import TaskStatus
from omnirelay.vendors.base import TaskRequest
from omnirelay.vendors.kling import KlingVendor
from tests.support.kling import TEXT2VIDEO, submit
from tests.support.servers import GatewayProcess

GOOD = "ak-sandbox-kling:sk-sandbox-kling-secret-0123456789abcdef"


def _channel(gateway: GatewayProcess, secret: str = GOOD) -> Channel:
    return Channel(
        id=7,
        name="direct",
        vendor="kling",
        base_url=gateway.sandbox_url + "/kling",
        secret=secret,
        models=frozenset({"kling-v1"}),
        model_map={"kling-v1": "kling-v1-6"},
    )


def _request(prompt: str) -> TaskRequest:
    return TaskRequest(kling.TEXT2VIDEO, "kling-v1", f'{{"prompt": "{prompt}"}}'.encode())


def test_adapter_submits_and_polls_to_the_end(gateway: GatewayProcess) -> None:
    async def main() -> None:
        vendor = KlingVendor()
        async with aiohttp.ClientSession() as session:
            channel = _channel(gateway)
            upstream_id = await vendor.submit_task(session, channel, _request("waves"))
            statuses = []
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                update = await vendor.poll_task(session, channel, kling.TEXT2VIDEO, upstream_id)
                statuses.append(update.status)
                if update.status.finished:
                    break
                await asyncio.sleep(0.1)
            assert statuses[0] is TaskStatus.QUEUED
            assert TaskStatus.RUNNING in statuses
            assert statuses[-1] is TaskStatus.SUCCEEDED
            assert update.result is not None
            [video] = update.result["videos"]
            assert video["url"].endswith(".mp4")
            with pytest.raises(NotFound):
                await vendor.poll_task(session, channel, kling.TEXT2VIDEO, "nope")
            with pytest.raises(InvalidRequest) as rejected:
                await vendor.submit_task(session, channel, _request("x [sandbox-reject]"))
            assert rejected.value.code == "1301"

    asyncio.run(main())


def test_adapter_reports_a_rejected_credential(gateway: GatewayProcess) -> None:
    async def main() -> None:
        vendor = KlingVendor()
        bad = _channel(gateway, "ak-sandbox-kling:not-the-secret-0123456789abcdefghij")
        async with aiohttp.ClientSession() as session:
            with pytest.raises(UpstreamError) as failed:
                await vendor.submit_task(session, bad, _request("waves"))
        assert failed.value.code == "upstream_auth_failed"
        assert "not-the-secret" not in failed.value.message

    asyncio.run(main())


def _watch_env(gateway: GatewayProcess) -> dict[str, str]:
    return {
        **os.environ,
        "OMNIRELAY_DATABASE_URL": gateway.database_url,
        "OMNIRELAY_DATA_DIR": str(gateway.data_dir),
    }


def test_tasks_watch_draws_a_live_bar_until_the_end(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("watch")
    task_id = submit(gateway, TEXT2VIDEO, key, {"prompt": "a slow pan"})
    leader, follower = pty.openpty()  # a terminal, so the bar redraws in place
    command = [sys.executable, "-m", "omnirelay", "tasks", "watch", task_id, "--interval", "0.1"]
    process = subprocess.Popen(command, stdout=follower, stderr=follower, env=_watch_env(gateway))
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(30) == 0
    text = output.decode()
    assert "\r[" in text and "100%" in text
    assert f"task {task_id}: succeeded" in text
    assert ".mp4" in text and "charged $0.140000" in text


def test_tasks_watch_without_a_terminal_prints_changes(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("watch-pipe")
    task_id = submit(gateway, TEXT2VIDEO, key, {"prompt": "rain [sandbox-fail]"})
    command = [sys.executable, "-m", "omnirelay", "tasks", "watch", task_id, "--interval", "0.1"]
    done = subprocess.run(
        command, capture_output=True, env=_watch_env(gateway), timeout=30, check=False
    )
    assert done.returncode == 1
    lines = done.stdout.decode().splitlines()
    assert "\r" not in done.stdout.decode()
    assert any("failed" in line and "100%" in line for line in lines)
    assert any("[sandbox-fail]" in line for line in lines)
    listed = subprocess.run(
        [sys.executable, "-m", "omnirelay", "tasks", "list"],
        capture_output=True,
        env=_watch_env(gateway),
        timeout=30,
        check=True,
    )
    assert task_id in listed.stdout.decode()
