"""Real servers for tests: the gateway (``omnirelay serve``) and the sandbox, as subprocesses."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.postgres import free_port

ADMIN_KEY = "sk-or-test-admin-0123456789"
_SERIAL = itertools.count(1)
# Every Python process a test starts loads the network fence (loopback only; netfence/).
NETFENCE = str(Path(__file__).parent / "netfence")


def fenced_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the network fence on the Python path of the processes it starts."""
    path = env.get("PYTHONPATH")
    return {**env, "PYTHONPATH": NETFENCE + (os.pathsep + path if path else "")}


def wait_healthy(
    url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 30
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    process.wait(10)
    raise RuntimeError(f"server did not become healthy:\n{log.read_text()[-4000:]}")


@dataclass
class GatewayProcess:
    """A running ``omnirelay serve --demo``; ``url`` is its base, ``admin_key`` its admin key."""

    url: str
    database_url: str
    data_dir: Path
    sandbox_url: str
    process: subprocess.Popen[bytes]
    log: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    admin_key: str = ADMIN_KEY
    # raw key -> its webhook signing secret, as the creation answered it (shown once)
    webhook_secrets: dict[str, str] = field(default_factory=dict)

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def create_key(
        self,
        name: str = "test",
        quota_usd: float | None = None,
        models: list[str] | None = None,
        **fields: Any,
    ) -> tuple[str, int]:
        """A key of a user of its own (unlimited balance); ``quota_usd`` is the key's own cap.
        Names get a unique suffix: a session's gateway is shared by many tests."""
        body: dict[str, Any] = {"name": f"{name}-{next(_SERIAL)}", **fields}
        if quota_usd is not None:
            body["quota_usd"] = quota_usd
        if models is not None:
            body["models"] = models
        response = self.admin("POST", "/admin/keys", json=body)
        response.raise_for_status()
        data = response.json()
        self.webhook_secrets[data["key"]] = data["webhook_secret"]
        return data["key"], data["id"]

    def webhook_secret(self, key: str) -> str:
        """The signing secret of a key this process created."""
        return self.webhook_secrets[key]

    def key_info(self, key_id: int) -> dict[str, Any]:
        response = self.admin("GET", f"/admin/keys/{key_id}")
        response.raise_for_status()
        return dict(response.json())

    def usage(self, **query: Any) -> list[dict[str, Any]]:
        response = self.admin("GET", "/admin/usage", params=query)
        response.raise_for_status()
        return list(response.json()["data"])

    def wait_for_usage(
        self, *, key_id: int, count: int, timeout: float = 10
    ) -> list[dict[str, Any]]:
        """Usage records are written in batches: wait until ``count`` exist for the key."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.usage(key_id=key_id)
            if len(records) >= count or time.monotonic() > deadline:
                assert len(records) == count, records
                return records
            time.sleep(0.05)

    def spendable_usd(self, key: str) -> float:
        """What the key can spend, as its user sees it (the dashboard's hard limit). Like the
        admin views, it counts the leases every process holds (a worker keeps its lease for
        10 s after the key's last request) as left, which the stored quota does not."""
        response = httpx.get(
            self.v1 + "/dashboard/billing/subscription",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        response.raise_for_status()
        return float(response.json()["hard_limit_usd"])

    def wait_for_balance(self, key_id: int, remaining: int, timeout: float = 10) -> dict[str, Any]:
        """The key's quota in the admin's view (leases counted as left), once it reads
        ``remaining``: usage is settled in batches."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.key_info(key_id)
            if info["quota_remaining_micro_usd"] == remaining or time.monotonic() > deadline:
                assert info["quota_remaining_micro_usd"] == remaining, info
                return info
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_gateway(
    database_url: str,
    data_dir: Path,
    *,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
    sandbox_port: int | None = None,
    config: str | None = None,
    sandbox_running: bool = False,
) -> GatewayProcess:
    """Start ``omnirelay serve --demo``; ``config`` is TOML text, in which ``{sandbox}`` stands
    for the sandbox's base URL. With ``sandbox_running`` the sandbox on ``sandbox_port`` is one
    of the test's own (``start_sandbox``), shared by several gateways."""
    port, sandbox_port = free_port(), sandbox_port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "OMNIRELAY_DATABASE_URL": database_url,
        "OMNIRELAY_ADMIN_KEY": ADMIN_KEY,
        "OMNIRELAY_DATA_DIR": str(data_dir),
        # Asynchronous tasks on a test clock: sandbox steps of half a second, fast polling.
        "OMNIRELAY_SANDBOX_TASK_SECONDS": "0.5",
        "OMNIRELAY_TASK_POLL_SECONDS": "0.2",
        "OMNIRELAY_TASK_POLL_MAX_SECONDS": "0.5",
        # Image models on task vendors (Flux) are waited for inside the request this long.
        "OMNIRELAY_IMAGE_WAIT_SECONDS": "8",
        # Tests share a gateway and inject upstream faults into its one channel per vendor: no
        # circuit opens here (circuits are tested on gateways of their own, which set this).
        "OMNIRELAY_CHANNEL_FAILURES": "1000000",
        # Webhook receivers of the tests listen on loopback: the one exception the outbound
        # guard makes for them (the demo admits the sandbox's own port by itself).
        "OMNIRELAY_OUTBOUND_ALLOW": "127.0.0.1",
        # Every test client is 127.0.0.1: many tests send wrong keys on purpose.
        "OMNIRELAY_AUTH_FAILURES_PER_MINUTE": "100000",
        **(extra_env or {}),
    }
    env = fenced_env(env)
    env.pop("OPENAI_API_KEY", None)
    env.pop("KLING_ACCESS_KEY", None)
    log = data_dir / f"gateway-{port}.log"
    extra_args = list(extra_args or [])
    if config is not None:
        path = data_dir / f"config-{port}.toml"
        path.write_text(config.replace("{sandbox}", f"http://127.0.0.1:{sandbox_port}"))
        extra_args += ["--config", str(path)]
    command = [
        sys.executable,
        "-m",
        "omnirelay",
        "serve",
        "--demo",
        "--port",
        str(port),
        "--sandbox-port",
        str(sandbox_port),
        "--workers",
        str(workers),
        *(["--sandbox-running"] if sandbox_running else []),
        *(extra_args or []),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url + "/healthz", process, log)
    return GatewayProcess(
        url=url,
        database_url=database_url,
        data_dir=data_dir,
        sandbox_url=f"http://127.0.0.1:{sandbox_port}",
        process=process,
        log=log,
        extra_env=extra_env or {},
    )


@dataclass
class SandboxProcess:
    """A running ``omnirelay sandbox`` of a test's own (gateways started with
    ``sandbox_running`` share it, and survive each other's crashes)."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_sandbox(data_dir: Path, task_seconds: float = 0.5) -> SandboxProcess:
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / f"sandbox-{port}.log"
    command = [
        sys.executable,
        "-m",
        "omnirelay",
        "sandbox",
        "--port",
        str(port),
        "--task-seconds",
        str(task_seconds),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    wait_healthy(f"http://127.0.0.1:{port}/healthz", process, log)
    return SandboxProcess(port, process, log)
