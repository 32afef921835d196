"""The supervisor of ``serve --workers N`` (what a multi-worker gateway does end to end is in
tests/observability/test_metrics.py and tests/api/test_billing.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from omnirelay import supervisor
from tests.support.servers import start_gateway


def test_a_dead_workers_live_gauges_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(supervisor.MULTIPROC_ENV, str(tmp_path))
    for name in ("gauge_livesum_4242.db", "gauge_livesum_4343.db", "counter_4242.db"):
        (tmp_path / name).write_bytes(b"")
    supervisor.mark_process_dead(4242)
    left = sorted(path.name for path in tmp_path.iterdir())
    assert left == ["counter_4242.db", "gauge_livesum_4343.db"]


def test_the_settings_reach_a_worker_through_its_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in interpreter that records its arguments and what its stdin carried.
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\necho "$@" > "$OUT.args"\ncat > "$OUT"\n')
    fake.chmod(0o755)
    monkeypatch.setattr(supervisor.sys, "executable", str(fake))
    monkeypatch.setenv("OUT", str(tmp_path / "got"))
    pid = supervisor.start_worker(b"pickled settings" * 10_000)  # more than a pipe holds
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (tmp_path / "got").read_bytes() == b"pickled settings" * 10_000
    # -P: the working directory shadows no module.
    assert (tmp_path / "got.args").read_text().split() == ["-P", "-m", "omnirelay.worker"]


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads /proc")
def test_the_command_as_typed_finds_and_stops_the_gateway(
    new_database_url: object, tmp_path: Path
) -> None:
    # ``serve --workers 2`` execs into the supervisor; an operator's ``pkill -f "omnirelay
    # serve"`` must still match it, and stopping it stops the workers.
    gateway = start_gateway(new_database_url("sqlite"), tmp_path, workers=2)  # type: ignore[operator]
    try:
        port = gateway.url.rsplit(":", 1)[1]
        pattern = f"omnirelay serve --demo --port {port} "
        found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
        assert [int(pid) for pid in found.stdout.split()] == [gateway.process.pid]
        children = [
            int(pid)
            for pid in subprocess.run(
                ["pgrep", "-P", str(gateway.process.pid)], capture_output=True, text=True
            ).stdout.split()
        ]
        workers = [p for p in children if b"omnirelay.worker" in _cmdline(p)]
        assert len(workers) == 2
        assert subprocess.run(["pkill", "-TERM", "-f", pattern]).returncode == 0
        assert gateway.process.wait(20) == 0
        assert not [p for p in children if Path(f"/proc/{p}").exists()]
    finally:
        gateway.stop()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""
