"""The command line refuses what the admin API refuses, in the same words."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.platform.test_accounts import unique
from tests.support.servers import GatewayProcess


def omnirelay(gateway: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OMNIRELAY_DATABASE_URL": gateway.database_url,
        "OMNIRELAY_DATA_DIR": str(gateway.data_dir),
    }
    return run_cli(env, *args)


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnirelay", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "omnirelay", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith("omnirelay 0.")


def test_keys_create_shares_the_api_validation(gateway: GatewayProcess) -> None:
    negative = omnirelay(gateway, "keys", "create", "--name", unique("neg"), "--quota", "-1")
    assert negative.returncode == 2 and "'quota_usd' must not be negative" in negative.stderr
    typo = omnirelay(gateway, "keys", "create", "--name", unique("typo"), "--models", "gpt4o")
    assert typo.returncode == 2 and "unknown model 'gpt4o'; did you mean 'gpt-4o'" in typo.stderr
    name = unique("dup")
    assert omnirelay(gateway, "keys", "create", "--name", name).returncode == 0
    again = omnirelay(gateway, "keys", "create", "--name", name)
    assert again.returncode == 2 and "already exists" in again.stderr
    api = gateway.admin("POST", "/admin/keys", json={"name": name})
    assert api.status_code == 409 and api.json()["error"]["message"] in again.stderr


def test_users_from_the_command_line(gateway: GatewayProcess) -> None:
    name = unique("cli-user")
    assert omnirelay(gateway, "users", "create", "--name", name, "--balance", "3").returncode == 0
    topped = omnirelay(gateway, "users", "topup", "--user", name, "--amount", "1.5")
    assert topped.returncode == 0 and "balance $4.500000" in topped.stdout
    key = omnirelay(gateway, "keys", "create", "--name", "laptop", "--user", name)
    assert key.returncode == 0 and key.stdout.strip().startswith("sk-or-")
    listing = omnirelay(gateway, "users", "list")
    assert name in listing.stdout and "1 key(s)" in listing.stdout
    assert omnirelay(gateway, "users", "topup", "--user", name, "--amount", "-10").returncode == 2


def test_a_command_warns_before_creating_a_database_beside_the_demos(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIRELAY_")}
    env["OMNIRELAY_DATA_DIR"] = str(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(env, *args)

    demo = run("keys", "create", "--name", "for-the-demo", "--demo")
    assert demo.returncode == 0 and "note:" not in demo.stderr
    assert (tmp_path / "demo.db").exists() and not (tmp_path / "omnirelay.db").exists()
    elsewhere = run("keys", "create", "--name", "meant-for-the-demo")
    assert elsewhere.returncode == 0 and elsewhere.stdout.strip().startswith("sk-or-")
    assert f"{tmp_path / 'omnirelay.db'} does not exist and will be created" in elsewhere.stderr
    assert "add --demo to use it" in elsewhere.stderr
    # Once both exist, each is a deliberate choice: no more notes.
    assert "note:" not in run("keys", "list").stderr
    assert "note:" not in run("users", "list", "--demo").stderr
