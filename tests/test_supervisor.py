"""The supervisor of ``serve --workers N`` (what a multi-worker gateway does end to end is in
tests/observability/test_metrics.py and tests/api/test_billing.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from omnirelay import supervisor


def test_a_dead_workers_live_gauges_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(supervisor.MULTIPROC_ENV, str(tmp_path))
    for name in ("gauge_livesum_4242.db", "gauge_livesum_4343.db", "counter_4242.db"):
        (tmp_path / name).write_bytes(b"")
    supervisor.mark_process_dead(4242)
    left = sorted(path.name for path in tmp_path.iterdir())
    assert left == ["counter_4242.db", "gauge_livesum_4343.db"]


def test_the_settings_reach_a_worker_through_its_stdin() -> None:
    # A stand-in worker that echoes what the supervisor's pipe carried, then ends.
    echo = [sys.executable, "-c", "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())"]
    real = subprocess.Popen

    def popen(args: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        assert args[1:] == ["-P", "-m", "omnirelay.worker"]  # -P: the cwd shadows nothing
        return real(echo, stdout=subprocess.PIPE, **kwargs)  # type: ignore[call-overload, no-any-return]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(supervisor.subprocess, "Popen", popen)
        worker = supervisor.start_worker(b"pickled settings")
    assert worker.stdout is not None
    with worker.stdout:
        assert worker.stdout.read() == b"pickled settings"
    assert worker.wait(30) == 0
