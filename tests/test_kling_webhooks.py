"""Webhooks: the query envelope POSTed at each status change, signed with HMAC-SHA256."""

from __future__ import annotations

import json
import time

from tests.support.kling import TEXT2VIDEO, post, submit, wait_task
from tests.support.receiver import Received, signed_with, webhook_receiver
from tests.support.servers import GatewayProcess


def _finished(calls: list[Received]) -> bool:
    return any(json.loads(c.body)["data"]["task_status"] in ("succeed", "failed") for c in calls)


def test_webhooks_are_delivered_in_order_and_signed(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("hooks")
    with webhook_receiver() as receiver:
        task_id = submit(
            gateway,
            TEXT2VIDEO,
            key,
            {"prompt": "a harbour at dawn", "callback_url": receiver.url, "external_task_id": "e1"},
        )
        calls = receiver.wait_for(_finished)
    done = wait_task(gateway, TEXT2VIDEO, key, task_id)
    envelopes = [json.loads(c.body) for c in calls]
    statuses = [e["data"]["task_status"] for e in envelopes]
    # Each change is delivered once, in order ("processing" may be too short to be seen).
    assert statuses in (["submitted", "processing", "succeed"], ["submitted", "succeed"]), statuses
    assert all(e["code"] == 0 and e["data"]["task_id"] == task_id for e in envelopes)
    assert all(e["data"]["task_info"] == {"external_task_id": "e1"} for e in envelopes)
    assert envelopes[-1]["data"]["task_result"] == done["task_result"]
    assert all(signed_with(gateway.webhook_secret(key), c) for c in calls)
    # A receiver holding another key (or a tampered body) rejects the call.
    other, _ = gateway.create_key("someone-else")
    assert not signed_with(gateway.webhook_secret(other), calls[0])
    assert not signed_with(
        gateway.webhook_secret(key), Received(calls[0].body + b" ", calls[0].headers)
    )


def test_webhooks_are_retried_until_accepted(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("hooks-retry")
    with webhook_receiver(fail_first=2) as receiver:
        submit(
            gateway,
            TEXT2VIDEO,
            key,
            {"prompt": "a failing storm [sandbox-fail]", "callback_url": receiver.url},
        )
        calls = receiver.wait_for(_finished)
    statuses = [json.loads(c.body)["data"]["task_status"] for c in calls]
    assert statuses in (["submitted", "processing", "failed"], ["submitted", "failed"]), statuses
    failed = json.loads(calls[-1].body)["data"]
    assert "[sandbox-fail]" in failed["task_status_msg"]
    assert all(signed_with(gateway.webhook_secret(key), c) for c in calls)


def test_a_refused_submission_calls_nobody_back(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("hooks-refused")
    with webhook_receiver() as receiver:
        response = post(
            gateway,
            TEXT2VIDEO,
            key,
            {"prompt": "no [sandbox-reject]", "callback_url": receiver.url},
        )
        assert response.status_code == 400 and response.json()["code"] == 1301
        time.sleep(1.0)
        assert receiver.calls == []
