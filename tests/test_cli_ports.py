"""``omnirelay serve`` on a port another gateway already listens on stops with a clear error:
with several workers (``SO_REUSEPORT``) it would otherwise share that gateway's traffic."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import GatewayProcess, fenced_env


def _serve(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = fenced_env(
        {
            **os.environ,
            "OMNIRELAY_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'second.db'}",
            "OMNIRELAY_DATA_DIR": str(data_dir),
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "omnirelay", "serve", "--host", "127.0.0.1", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_second_gateway_on_a_taken_port_refuses_to_start(
    gateway: GatewayProcess, data_dir: Path, workers: str
) -> None:
    port = gateway.url.rsplit(":", 1)[1]
    second = _serve(["--port", port, "--workers", workers], data_dir)
    assert second.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port} for the gateway" in second.stderr
    assert not (data_dir / "second.db").exists()  # refused before touching anything


def test_the_demos_sandbox_port_is_checked_too(gateway: GatewayProcess, data_dir: Path) -> None:
    taken = gateway.sandbox_url.rsplit(":", 1)[1]
    second = _serve(["--demo", "--port", "0", "--sandbox-port", taken], data_dir)
    assert second.returncode != 0
    assert f"cannot listen on 127.0.0.1:{taken} for the demo's sandbox" in second.stderr
