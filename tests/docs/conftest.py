"""Fixtures of the documentation tests: the built site, and a reader of it (a user with a
balance and a rate-limited key) on the session's SQLite gateway."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.docs.runner import ROOT
from tests.support.browser import browser, page  # noqa: F401
from tests.support.servers import GatewayProcess

SITE = ROOT / "src" / "omnirelay" / "docs_site"


@dataclass
class BuiltSite:
    path: Path
    output: str


@pytest.fixture(scope="session")
def built_site() -> BuiltSite:
    """``mkdocs build --strict`` once per session, into the directory the gateway serves."""
    mkdocs = Path(sys.executable).parent / "mkdocs"
    done = subprocess.run(
        [str(mkdocs), "build", "--strict"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return BuiltSite(SITE, output)


@dataclass
class Reader:
    key: str
    user_id: int
    webhook_secret: str


@pytest.fixture(scope="session")
def reader(gateway: GatewayProcess) -> Reader:
    """A user with $100 and a key with a (generous) rate limit, as an operator would give."""
    user = gateway.admin(
        "POST", "/admin/users", json={"name": f"docs-reader-{os.getpid()}", "balance_usd": 100}
    )
    user.raise_for_status()
    key = gateway.admin(
        "POST",
        "/admin/keys",
        json={"name": "docs", "user_id": user.json()["id"], "limits": {"rpm": 100_000}},
    )
    key.raise_for_status()
    return Reader(key.json()["key"], user.json()["id"], key.json()["webhook_secret"])


@pytest.fixture(scope="session")
def sample_inputs(
    gateway: GatewayProcess, reader: Reader, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The files a reader brings: a picture, and a recording (made by the gateway's TTS)."""
    folder = tmp_path_factory.mktemp("sample-inputs")
    Image.new("RGB", (400, 300), (30, 120, 200)).save(folder / "picture.png")
    speech = httpx.post(
        gateway.v1 + "/audio/speech",
        headers={"Authorization": f"Bearer {reader.key}"},
        json={"model": "tts-1", "voice": "alloy", "input": "The quick brown fox."},
        timeout=30,
    )
    speech.raise_for_status()
    (folder / "speech.mp3").write_bytes(speech.content)
    return folder
