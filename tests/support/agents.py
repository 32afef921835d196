"""The coding agents installed from npm by ``scripts/install-clients.sh`` (into ``.clients/``)."""

from __future__ import annotations

from pathlib import Path

import pytest

CLIENTS_BIN = Path(__file__).resolve().parents[2] / ".clients" / "node_modules" / ".bin"


def agent_binary(name: str) -> Path:
    """The path of the ``claude``, ``codex`` or ``gemini`` command, or skip the test saying why."""
    path = CLIENTS_BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed: scripts/install-clients.sh needs npm")
    return path
