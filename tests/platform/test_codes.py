"""Redemption codes: created in batches, each redeemed once, even when 50 attempts race from
two gateway processes on one database."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.platform.test_accounts import make_key, make_user, unique, user
from tests.support.servers import GatewayProcess, start_gateway


@pytest.fixture(params=["sqlite", "postgres"])
def two_nodes(
    request: pytest.FixtureRequest, new_database_url: Callable[[str], str], tmp_path: Path
) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    """Two ``omnirelay serve`` processes on one fresh database (and one data directory, so
    one secret key)."""
    url = new_database_url(request.param)
    first = start_gateway(url, tmp_path / "data")
    try:
        second = start_gateway(url, tmp_path / "data")
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


def redeem(url: str, key: str, code: str) -> httpx.Response:
    return httpx.post(
        url + "/api/redeem",
        json={"code": code},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_fifty_racing_redeems_from_two_processes_credit_once(
    two_nodes: tuple[GatewayProcess, GatewayProcess],
) -> None:
    gateway, second_node = two_nodes
    batch = gateway.admin(
        "POST", "/admin/codes", json={"batch": unique("race"), "value_usd": 2.5, "count": 1}
    )
    assert batch.status_code == 201
    (code,) = batch.json()["codes"]
    user_id = make_user(gateway, balance_usd=0.5)
    key, _ = make_key(gateway, user_id)
    start = threading.Barrier(50)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def attempt(index: int) -> None:
        node = (gateway, second_node)[index % 2]
        start.wait()
        answer = redeem(node.url, key, code)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: 1, 409: 49}, statuses
    (won,) = [a.json() for a in answers if a.status_code == 200]
    assert won == {"redeemed_micro_usd": 2_500_000, "balance_micro_usd": 3_000_000}
    losers = {a.json()["error"]["code"] for a in answers if a.status_code == 409}
    assert losers == {"code_already_redeemed"}
    assert user(gateway, user_id)["balance_micro_usd"] == 3_000_000
    ledger = gateway.admin("GET", f"/admin/users/{user_id}/ledger").json()["data"]
    assert [e["kind"] for e in ledger] == ["redeem", "topup"]
    listed = gateway.admin("GET", "/admin/codes", params={"batch": batch.json()["batch"]})
    (entry,) = listed.json()["data"]
    assert entry["redeemed_by"] == user_id and "codes" not in entry and code not in listed.text


def test_codes_that_cannot_be_redeemed(gateway: GatewayProcess) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    name = unique("odd")
    batch = gateway.admin(
        "POST", "/admin/codes", json={"batch": name, "value_usd": 1, "count": 3, "expires_at": soon}
    ).json()
    user_id = make_user(gateway, balance_usd=0)
    key, _ = make_key(gateway, user_id)
    unknown = redeem(gateway.url, key, "or-not-a-code")
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "invalid_code"
    listed = gateway.admin("GET", "/admin/codes", params={"batch": name}).json()["data"]
    withdrawn = gateway.admin("DELETE", f"/admin/codes/{listed[0]['id']}")
    assert withdrawn.json()["enabled"] is False
    # Codes are listed newest first; the withdrawn one is the last created.
    assert redeem(gateway.url, key, batch["codes"][2]).json()["error"]["code"] == "code_disabled"
    import time

    time.sleep(1.2)
    expired = redeem(gateway.url, key, batch["codes"][0])
    assert expired.status_code == 400 and expired.json()["error"]["code"] == "code_expired"
    assert user(gateway, user_id)["balance_micro_usd"] == 0
    admin_try = redeem(gateway.url, gateway.admin_key, batch["codes"][1])
    assert admin_try.status_code == 400
    for bad in ({"batch": "x", "value_usd": 0}, {"batch": "x", "value_usd": 1, "count": 5000}):
        assert gateway.admin("POST", "/admin/codes", json=bad).status_code == 400
