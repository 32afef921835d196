"""Durable webhooks: written with the task change, delivered at least once under one delivery id,
retried with backoff, given up (dead) and re-sent from the admin API, and never lost to a crash."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.cluster import until
from tests.support.kling import IMAGES, submit, wait_task
from tests.support.postgres import free_port
from tests.support.receiver import Received, webhook_receiver
from tests.support.servers import GatewayProcess, start_gateway

ENV = {"OMNIRELAY_WEBHOOK_RETRY_SECONDS": "0.2", "OMNIRELAY_WEBHOOK_GIVE_UP_SECONDS": "2"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hooked(
    request: pytest.FixtureRequest,
    new_database_url: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    data = tmp_path_factory.mktemp(f"outbox-{request.param}")
    gateway = start_gateway(new_database_url(request.param), data, extra_env=ENV)
    try:
        yield gateway
    finally:
        gateway.stop()


def _statuses(calls: list[Received]) -> list[str]:
    return [json.loads(c.body)["data"]["task_status"] for c in calls]


def _deliveries(gateway: GatewayProcess, **query: str) -> list[dict[str, object]]:
    response = gateway.admin("GET", "/admin/webhooks", params=query)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_a_refused_delivery_is_retried_under_the_same_id(hooked: GatewayProcess) -> None:
    key, _ = hooked.create_key("outbox-retry", quota_usd=1)
    with webhook_receiver(fail_first=2) as receiver:
        task_id = submit(hooked, IMAGES, key, {"prompt": "gulls", "callback_url": receiver.url})
        wait_task(hooked, IMAGES, key, task_id)
        calls = receiver.wait_for(lambda c: "succeed" in _statuses(c))
    ids = [c.headers["X-Omnirelay-Delivery"] for c in receiver.attempts]
    first = receiver.attempts[0].headers["X-Omnirelay-Delivery"]
    assert ids[:3] == [first] * 3  # two refusals, then accepted: one delivery
    assert _statuses(calls)[0] == "submitted" and _statuses(calls)[-1] == "succeed"
    rows = _deliveries(hooked, task_id=task_id)
    assert {r["status"] for r in rows} == {"delivered"}
    assert next(r for r in rows if r["delivery_id"] == first)["attempts"] == 3


def test_a_dead_delivery_is_listed_and_resent(hooked: GatewayProcess) -> None:
    key, _ = hooked.create_key("outbox-dead", quota_usd=1)
    port = free_port()  # nobody listens: every attempt fails until it is given up
    url = f"http://127.0.0.1:{port}/hook"
    task_id = submit(hooked, IMAGES, key, {"prompt": "gulls", "callback_url": url})
    wait_task(hooked, IMAGES, key, task_id)

    def all_dead() -> bool:
        rows = _deliveries(hooked, task_id=task_id)
        return len(rows) >= 2 and all(r["status"] == "dead" for r in rows)

    until(all_dead, 15, "every delivery given up")
    found = _deliveries(hooked, task_id=task_id, status="dead")
    # Retried with backoff until given up (a later one waits behind the earlier: in order).
    oldest = min(found, key=lambda r: int(str(r["id"])))
    assert int(str(oldest["attempts"])) >= 3 and all(int(str(r["attempts"])) >= 1 for r in found)
    assert all("unreachable" in str(r["last_error"]) for r in found)
    with webhook_receiver(port=port) as receiver:
        for row in sorted(found, key=lambda r: int(str(r["id"]))):
            resent = hooked.admin("POST", f"/admin/webhooks/{row['id']}/resend")
            assert resent.status_code == 200 and resent.json()["status"] == "pending"
        calls = receiver.wait_for(lambda c: len(c) == len(found))
    got = sorted(c.headers["X-Omnirelay-Delivery"] for c in calls)
    assert got == sorted(str(r["delivery_id"]) for r in found), (calls, found)
    assert {r["status"] for r in _deliveries(hooked, task_id=task_id)} == {"delivered"}


def test_deliveries_survive_a_crash(
    new_database_url: Callable[[str], str], tmp_path: Path
) -> None:
    url = new_database_url("postgres")
    slow = {**ENV, "OMNIRELAY_WEBHOOK_GIVE_UP_SECONDS": "600"}
    first = start_gateway(url, tmp_path / "data", extra_env=slow)
    port = free_port()
    try:
        key, _ = first.create_key("outbox-crash", quota_usd=1)
        hook = f"http://127.0.0.1:{port}/hook"
        task_id = submit(first, IMAGES, key, {"prompt": "gulls", "callback_url": hook})
        wait_task(first, IMAGES, key, task_id)
        pending = _deliveries(first, task_id=task_id, status="pending")
        assert len(pending) >= 2
    finally:
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
    with webhook_receiver(port=port) as receiver:
        second = start_gateway(url, tmp_path / "data", extra_env=slow)
        try:
            calls = receiver.wait_for(lambda c: len(c) == len(pending), seconds=90)
        finally:
            second.stop()
    statuses = _statuses(calls)
    assert statuses[0] == "submitted" and statuses[-1] == "succeed"  # all of them, in order
