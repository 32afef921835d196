"""Midjourney tasks on the engine: refunds, refusals, signed notifyHook calls, batched polling,
and ``omnirelay tasks watch``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.midjourney import (
    PRICES,
    SANDBOX_SECRET,
    post,
    sandbox_stats,
    submit,
    wait_task,
)
from tests.support.receiver import Received, signed_with, webhook_receiver
from tests.support.servers import GatewayProcess


def test_a_failure_is_refunded_to_the_micro_dollar(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("mj-fail", quota_usd=0.123457)
    task_id = submit(gateway, "/mj/submit/imagine", key, {"prompt": "a storm [sandbox-fail]"})
    # While it runs, its price is held.
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 123_457 - PRICES["imagine"]
    task = wait_task(gateway, key, task_id)
    assert task["status"] == "FAILURE" and "[sandbox-fail]" in task["failReason"], task
    assert task["progress"] == "" and task["imageUrl"] is None and task["buttons"] == []
    info = gateway.key_info(key_id)
    assert info["quota_remaining_micro_usd"] == 123_457 and info["spent_micro_usd"] == 0
    [record] = gateway.wait_for_usage(key_id=key_id, count=1)
    assert record["cost"] == 0 and record["request_id"] == task_id
    assert "[sandbox-fail]" in record["error"]


def test_failure_reported_at_100_percent_is_still_a_failure(gateway: GatewayProcess) -> None:
    # The upstream really says FAILURE with progress "100%" (as some relays do)…
    sandbox = httpx.post(
        gateway.sandbox_url + "/mj/submit/imagine",
        json={"prompt": "odd relay [sandbox-fail-100]"},
        headers={"mj-api-secret": SANDBOX_SECRET},
        timeout=30,
    ).json()
    deadline = time.monotonic() + 20
    while True:
        upstream = httpx.get(
            f"{gateway.sandbox_url}/mj/task/{sandbox['result']}/fetch",
            headers={"mj-api-secret": SANDBOX_SECRET},
            timeout=30,
        ).json()
        if upstream["status"] in ("SUCCESS", "FAILURE") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (upstream["status"], upstream["progress"]) == ("FAILURE", "100%"), upstream
    # …and through the gateway that is a failure, refunded, never a charged success.
    key, key_id = gateway.create_key("mj-fail-100", quota_usd=1)
    task = wait_task(
        gateway,
        key,
        submit(gateway, "/mj/submit/imagine", key, {"prompt": "odd relay [sandbox-fail-100]"}),
    )
    assert task["status"] == "FAILURE" and task["progress"] == "", task
    info = gateway.key_info(key_id)
    assert info["quota_remaining_micro_usd"] == 1_000_000 and info["spent_micro_usd"] == 0
    [record] = gateway.wait_for_usage(key_id=key_id, count=1)
    assert record["cost"] == 0


def test_banned_and_refused_submissions_cost_nothing(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("mj-refused", quota_usd=1)
    banned = post(
        gateway, "/mj/submit/imagine", key, {"prompt": "forbidden [sandbox-banned] words"}
    )
    assert banned.status_code == 200
    reply = banned.json()
    assert reply["code"] == 24 and reply["result"] is None, reply
    assert reply["properties"]["bannedWord"] == "[sandbox-banned]"
    full = post(gateway, "/mj/submit/shorten", key, {"prompt": "please [sandbox-reject]"})
    assert full.status_code == 200 and full.json()["code"] == 23, full.text
    info = gateway.key_info(key_id)
    assert info["quota_remaining_micro_usd"] == 1_000_000 and info["spent_micro_usd"] == 0
    records = gateway.wait_for_usage(key_id=key_id, count=2)
    assert all(r["cost"] == 0 for r in records)


def test_notify_hook_gets_every_change_in_order_signed(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("mj-hooks", quota_usd=1)
    with webhook_receiver() as receiver:
        task_id = submit(
            gateway,
            "/mj/submit/imagine",
            key,
            {"prompt": "lanterns on water", "notifyHook": receiver.url, "state": "order-7"},
        )
        calls = receiver.wait_for(
            lambda cs: any(json.loads(c.body)["status"] == "SUCCESS" for c in cs)
        )
    final = wait_task(gateway, key, task_id)
    bodies = [json.loads(c.body) for c in calls]
    states = [(b["status"], b["progress"]) for b in bodies]
    assert states[0] == ("SUBMITTED", "0%") and states[-1] == ("SUCCESS", "100%"), states
    order = {"SUBMITTED": 0, "IN_PROGRESS": 1, "SUCCESS": 2}
    ranks = [(order[s], int(p.rstrip("%"))) for s, p in states]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks), states  # in order, once each
    assert any(s == "IN_PROGRESS" for s, _ in states), states
    assert all(b["id"] == task_id and b["state"] == "order-7" for b in bodies)
    assert bodies[-1]["imageUrl"] == final["imageUrl"] and bodies[-1]["buttons"] == final["buttons"]
    assert all(signed_with(gateway.webhook_secret(key), c) for c in calls)
    other, _ = gateway.create_key("mj-hooks-other")
    assert not signed_with(gateway.webhook_secret(other), calls[-1])
    assert not signed_with(
        gateway.webhook_secret(key), Received(calls[-1].body + b" ", calls[-1].headers)
    )


def test_polling_is_batched_with_50_tasks_in_flight(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("mj-batch", quota_usd=10)
    before = sandbox_stats(gateway)
    with ThreadPoolExecutor(8) as pool:
        ids = list(
            pool.map(
                lambda n: submit(gateway, "/mj/submit/imagine", key, {"prompt": f"batch {n}"}),
                range(50),
            )
        )
    for task_id in ids:
        assert wait_task(gateway, key, task_id, seconds=60)["status"] == "SUCCESS"
    after = sandbox_stats(gateway)
    calls = after.get("list-by-condition", 0) - before.get("list-by-condition", 0)
    polled = after.get("list-by-condition.ids", 0) - before.get("list-by-condition.ids", 0)
    single = after.get("fetch", 0) - before.get("fetch", 0)
    print(f"50 tasks: {calls} list-by-condition calls for {polled} task polls, {single} fetches")
    assert single == 0  # no task was ever asked about alone
    assert polled >= 100  # each task was polled a few times over its life…
    assert calls * 5 <= polled  # …but in batches: far fewer calls than polls
    assert calls < 50  # fewer calls in all than tasks in flight
    gateway.wait_for_balance(key_id, 10_000_000 - 50 * PRICES["imagine"])
    assert len(gateway.wait_for_usage(key_id=key_id, count=50)) == 50


def test_tasks_watch_follows_a_midjourney_task(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("mj-watch", quota_usd=1)
    env = {
        **os.environ,
        "OMNIRELAY_DATABASE_URL": gateway.database_url,
        "OMNIRELAY_DATA_DIR": str(gateway.data_dir),
    }
    # The watcher's interpreter has started and imported the CLI before the task exists: on
    # a busy machine a cold start can outlast the whole task, and the test must see it run.
    watcher = (
        "import sys\n"
        "from omnirelay.cli import main\n"
        "print('ready', flush=True)\n"
        "task = sys.stdin.readline().strip()\n"
        "sys.exit(main(['tasks', 'watch', task, '--interval', '0.1']))\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", watcher],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    ) as watch:
        assert watch.stdin is not None and watch.stdout is not None
        assert watch.stdout.readline().strip() == "ready"
        task_id = submit(gateway, "/mj/submit/imagine", key, {"prompt": "watched kettle"})
        text, errors = watch.communicate(task_id + "\n", timeout=60)
    assert watch.returncode == 0, text + errors
    assert f"task {task_id}: succeeded" in text and "image: http" in text
    assert "running" in text and "charged $0.050000" in text
