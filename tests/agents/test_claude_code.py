"""Claude Code (``claude -p``, from npm) against a live gateway and the sandbox, on a Claude, an
OpenAI and a Gemini model: the sandbox's model calls Claude Code's Read tool, Claude Code
runs it, the file's contents go back as the tool result, and the turn ends with the model's
answer. Each run has its own HOME and nothing but the settings below."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.agents import agent_binary
from tests.support.servers import GatewayProcess

MODELS = {
    "claude": "claude-sonnet-4-6",  # adaptive thinking and effort, passed through
    "claude-budget": "claude-sonnet-4-20250514",  # thinking by budget, signed blocks back
    "openai": "gpt-4o-mini",
    "gemini": "gemini-2.5-flash",
}
SECRET = "PELICAN-7"


def run_claude(
    gateway: GatewayProcess, key: str, model: str, prompt: str, home: Path
) -> dict[str, object]:
    work = home / "project"
    work.mkdir(parents=True)
    (work / "NOTES.md").write_text(f"secret word: {SECRET}\n")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": gateway.url,
        "ANTHROPIC_AUTH_TOKEN": key,
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    command = [
        str(agent_binary("claude")),
        "-p",
        prompt,
        "--model",
        model,
        "--output-format",
        "json",
    ]
    done = subprocess.run(
        command, cwd=work, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, (
        f"claude exited {done.returncode}: {done.stdout[-2000:]} {done.stderr[-2000:]}"
    )
    return dict(json.loads(done.stdout[done.stdout.index("{") :]))


@pytest.mark.parametrize("model", list(MODELS.values()), ids=list(MODELS))
def test_claude_code_reads_a_file_on_every_model_family(
    gateway: GatewayProcess, tmp_path: Path, model: str
) -> None:
    key, key_id = gateway.create_key(f"claude-code-{model}", quota_usd=5)
    result = run_claude(gateway, key, model, "Please use Read on NOTES.md", tmp_path)
    assert result["is_error"] is False and result["subtype"] == "success", result
    # The sandbox's model acknowledges the tool result Claude Code sent back.
    answer = str(result["result"])
    assert answer.startswith("Tool results received:") and SECRET in answer, answer
    assert result["num_turns"] == 2
    records = gateway.wait_for_usage(key_id=key_id, count=2, timeout=15)
    assert all(
        r["status"] == 200 and r["endpoint"] == "messages" and r["cost"] > 0 for r in records
    )
    # Claude Code's long system prompt is cached on the second turn, by every vendor family.
    assert records[0]["cache_read_tokens"] > 0
