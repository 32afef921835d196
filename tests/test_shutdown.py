"""SIGTERM drains: new requests get 503 with Retry-After, /healthz says draining, streams in
flight finish within the grace period (or are cut at its end and billed for what they
delivered), every lease goes back and the node leaves; nothing is held."""

from __future__ import annotations

import signal
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import surfaces
from tests.support.cluster import until
from tests.support.servers import GatewayProcess, SandboxProcess, start_gateway, start_sandbox
from tests.support.surfaces import Seen

QUOTA = 5_000_000


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    process = start_sandbox(tmp_path / "sandbox")
    try:
        yield process
    finally:
        process.stop()


def _gateway(tmp_path: Path, sandbox: SandboxProcess, grace: float) -> GatewayProcess:
    return start_gateway(
        f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        tmp_path / "data",
        extra_env={"OMNIRELAY_SHUTDOWN_GRACE_SECONDS": str(grace)},
        sandbox_port=sandbox.port,
        sandbox_running=True,
    )


def _stream_then_term(gateway: GatewayProcess, key: str, delay_ms: int) -> tuple[Seen, list[str]]:
    """A slow stream; SIGTERM after its second event. Returns what the stream saw and what the
    gateway answered meanwhile (a new request, /healthz)."""
    answers: list[str] = []
    signalled = threading.Event()

    def on_event(events: int) -> None:
        if events == 2:
            gateway.process.send_signal(signal.SIGTERM)
            signalled.set()

    seen: list[Seen] = []
    text = f"a b c d e f g h i j k l m n o p [sandbox-fault chunk_delay_ms={delay_ms}]"
    worker = threading.Thread(
        target=lambda: seen.append(surfaces.stream(gateway, key, text, on_event=on_event))
    )
    worker.start()
    assert signalled.wait(20)
    # The signal reaches the node's loop in a moment: once /healthz says so, it drains.
    until(
        lambda: httpx.get(gateway.url + "/healthz", timeout=5).status_code == 503, 5, "draining"
    )
    health = httpx.get(gateway.url + "/healthz", timeout=5)
    refused = surfaces.chat(gateway, key, "hello")
    answers.append(f"{refused.status} {refused.error} {refused.retry_after}")
    answers.append(f"{health.status_code} {health.json()['status']}")
    worker.join(30)
    gateway.process.wait(30)
    return seen[0], answers


def _held(tmp_path: Path) -> tuple[int, int]:
    """(nodes registered, micro-dollars held by nodes) once every gateway has stopped."""
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        nodes = db.execute("SELECT count(*) FROM nodes").fetchone()[0]
        held = db.execute("SELECT coalesce(sum(amount), 0) FROM node_holds").fetchone()[0]
    return int(nodes), int(held)


def test_sigterm_drains_and_lets_a_stream_finish(tmp_path: Path, sandbox: SandboxProcess) -> None:
    gateway = _gateway(tmp_path, sandbox, grace=15)
    key, key_id = gateway.create_key("drain", quota_usd=QUOTA / 1_000_000)
    seen, answers = _stream_then_term(gateway, key, delay_ms=150)
    assert answers == ["503 service_unavailable/draining 2", "503 draining"]
    assert seen.done and seen.error_event is None and seen.events > 10
    assert gateway.process.returncode == 0
    assert _held(tmp_path) == (0, 0)  # the node left, every lease went back
    again = _gateway(tmp_path, sandbox, grace=15)
    try:
        (record,) = again.usage(key_id=key_id)
        assert record["status"] == 200 and record["cost"] > 0
        info = again.key_info(key_id)
        assert info["quota_remaining_micro_usd"] == QUOTA - record["cost"]
    finally:
        again.stop()


def test_a_stream_outliving_the_grace_is_cut_and_billed_for_what_it_delivered(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    gateway = _gateway(tmp_path, sandbox, grace=1)
    key, key_id = gateway.create_key("cut", quota_usd=QUOTA / 1_000_000)
    seen, answers = _stream_then_term(gateway, key, delay_ms=600)
    assert answers[0].startswith("503 service_unavailable/draining")
    assert not seen.done and 2 <= seen.events < 10
    assert _held(tmp_path) == (0, 0)
    again = _gateway(tmp_path, sandbox, grace=1)
    try:
        (record,) = again.usage(key_id=key_id)
        assert record["status"] == 499 and "stopped" in record["error"]
        assert record["cost"] > 0
        assert again.key_info(key_id)["quota_remaining_micro_usd"] == QUOTA - record["cost"]
    finally:
        again.stop()
