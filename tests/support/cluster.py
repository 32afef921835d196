"""Gateways sharing one sandbox and one database, which a test may kill and restart.

The sandbox runs on its own (``start_sandbox``), so killing a gateway leaves the vendors up;
every node reads the same data directory (one secret key for the channels they share).
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.servers import GatewayProcess, SandboxProcess, start_gateway


@dataclass
class Cluster:
    database_url: str
    data_dir: Path
    sandbox: SandboxProcess
    env: dict[str, str]
    config: str | None = None
    nodes: list[GatewayProcess] = field(default_factory=list)

    def start(self, count: int = 1) -> Cluster:
        for _ in range(count):
            self.nodes.append(self._node())
        return self

    def _node(self) -> GatewayProcess:
        return start_gateway(
            self.database_url,
            self.data_dir,
            extra_env=self.env,
            sandbox_port=self.sandbox.port,
            sandbox_running=True,
            config=self.config,
        )

    def node(self, turn: int) -> GatewayProcess:
        return self.nodes[turn % len(self.nodes)]

    def kill(self, index: int) -> None:
        """SIGKILL: no drain, no flush, no lease returned."""
        gone = self.nodes[index]
        gone.process.send_signal(signal.SIGKILL)
        gone.process.wait(10)

    def restart(self, index: int) -> GatewayProcess:
        self.nodes[index].stop()
        self.nodes[index] = self._node()
        return self.nodes[index]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes.clear()


def until(check: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.05)
