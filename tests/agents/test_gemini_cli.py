"""Gemini CLI (``gemini -p``, from npm) against a live gateway and the sandbox, on a Gemini, a
Claude and an OpenAI model: the sandbox's model calls the CLI's read_file tool, the CLI runs
it and sends the result back, and the turn ends with the model's answer."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.agents import agent_binary
from tests.support.servers import GatewayProcess

MODELS = {
    "gemini": "gemini-2.5-flash",  # thinks, signs its thinking on the function call
    "claude": "claude-sonnet-4-20250514",  # thinking translated, signatures round-trip
    "openai": "gpt-4o-mini",
}
SECRET = "HERON-3"


def run_gemini(
    gateway: GatewayProcess, key: str, model: str, prompt: str, home: Path
) -> dict[str, object]:
    (home / ".gemini").mkdir(parents=True)
    settings = {"security": {"auth": {"selectedType": "gemini-api-key"}}}
    (home / ".gemini" / "settings.json").write_text(json.dumps(settings))
    work = home / "project"
    work.mkdir()
    (work / "NOTES.md").write_text(f"secret word: {SECRET}\n")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GEMINI_API_KEY": key,
        "GOOGLE_GEMINI_BASE_URL": gateway.url,
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
    }
    command = [str(agent_binary("gemini")), "-m", model, "-p", prompt, "--output-format", "json"]
    done = subprocess.run(
        command, cwd=work, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, (
        f"gemini exited {done.returncode}: {done.stdout[-2000:]} {done.stderr[-2000:]}"
    )
    return dict(json.loads(done.stdout[done.stdout.index("{") :]))


@pytest.mark.parametrize("model", list(MODELS.values()), ids=list(MODELS))
def test_gemini_cli_reads_a_file_on_every_model_family(
    gateway: GatewayProcess, tmp_path: Path, model: str
) -> None:
    key, key_id = gateway.create_key(f"gemini-cli-{model}", quota_usd=5)
    result = run_gemini(gateway, key, model, "Please use read_file on NOTES.md", tmp_path)
    answer = str(result["response"])
    assert answer.startswith("Tool results received:") and SECRET in answer, answer
    stats = result["stats"]
    assert isinstance(stats, dict)
    tools = stats["tools"]
    assert tools["totalCalls"] == tools["totalSuccess"] == 1 and tools["totalFail"] == 0
    records = gateway.wait_for_usage(key_id=key_id, count=2, timeout=15)
    assert all(r["status"] == 200 and r["cost"] > 0 for r in records)
