"""Codex CLI (``@openai/codex``, installed by ``scripts/install-clients.sh``) as an acceptance
client: ``codex exec`` with a custom provider (``wire_api = "responses"``) against a live
gateway, on an OpenAI, a Claude and a Gemini model.

Codex offers its tools on every turn (function tools, a namespaced tool group, web search), so
the sandbox's model calls one: the prompt names ``get_goal``, a tool Codex runs locally. The
turn ends only after Codex ran it and the vendor answered its output, which the answer quotes:
the tool result went Codex → gateway → vendor and back.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.agents import agent_binary
from tests.support.servers import GatewayProcess

MODELS = ["gpt-4o-mini", "claude-3-5-sonnet-20241022", "gemini-2.0-flash"]
RUN_SECONDS = 120


def codex_config(base_url: str, model: str) -> str:
    """The ``config.toml`` that points Codex at omnirelay (as docs/clients/codex-cli.md shows it)."""
    return f"""model = "{model}"
model_provider = "omnirelay"

[model_providers.omnirelay]
name = "omnirelay"
base_url = "{base_url}"
env_key = "OMNIRELAY_API_KEY"
wire_api = "responses"
"""


def run_codex(
    gateway: GatewayProcess, key: str, model: str, prompt: str, home: Path
) -> subprocess.CompletedProcess[str]:
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True)
    (codex_home / "config.toml").write_text(codex_config(gateway.v1, model))
    work = home / "work"
    work.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CODEX_HOME": str(codex_home),
        "OMNIRELAY_API_KEY": key,
    }
    return subprocess.run(
        [str(agent_binary("codex")), "exec", "--skip-git-repo-check", prompt],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
        check=False,
    )


@pytest.mark.parametrize("model", MODELS)
def test_codex_exec_ends_its_turn_with_the_models_answer(
    gateway: GatewayProcess, tmp_path: Path, model: str
) -> None:
    key, key_id = gateway.create_key(f"codex-{model}", quota_usd=5.0)
    done = run_codex(gateway, key, model, "Please call get_goal now", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = done.stdout.strip().splitlines()[-1]
    # The sandbox model's answer to the tool output Codex produced by running get_goal.
    assert answer.startswith("Tool results received: "), done.stdout[-2000:]
    assert '"goal"' in answer and "remainingTokens" in answer
    records = gateway.wait_for_usage(key_id=key_id, count=2)
    assert all(r["endpoint"] == "responses" and r["status"] == 200 for r in records)
    assert all(r["model"] == model and r["stream"] and r["cost"] > 0 for r in records)
