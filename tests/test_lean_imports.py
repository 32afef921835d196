"""What a serving process loads before its first request: heavy modules it does not need at
start (the ORM, cryptography, alembic) stay out, and still work when something asks for them.
Each check runs in a fresh interpreter (this one has imported everything already)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.servers import start_gateway

NEVER_AT_START = ("sqlalchemy.orm", "cryptography", "jwt", "alembic", "mako", "multiprocessing")


def _modules_after(code: str) -> list[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return list(json.loads(done.stdout.splitlines()[-1]))


def _loaded(modules: list[str], name: str) -> bool:
    return any(module == name or module.startswith(name + ".") for module in modules)


@pytest.mark.parametrize("name", NEVER_AT_START)
def test_a_worker_with_its_app_built_has_not_loaded(name: str) -> None:
    modules = _modules_after(
        "from omnirelay.config import Settings\n"
        "from omnirelay.app import build_app\n"
        "build_app(Settings())"
    )
    assert "omnirelay.api.openai" in modules  # the check would pass on a failed import too
    assert not _loaded(modules, name)


def test_the_supervisor_imports_almost_nothing() -> None:
    modules = _modules_after("import omnirelay.supervisor")
    for name in ("asyncio", "omnirelay.config", "multiprocessing", "ssl", "tempfile"):
        assert not _loaded(modules, name), name


def test_the_orm_half_of_sqlalchemy_asyncio_comes_when_asked_for() -> None:
    modules = _modules_after(
        "import omnirelay.store\n"
        "from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine\n"
        "import sqlalchemy.ext.asyncio as package\n"
        "assert package.AsyncEngine is AsyncEngine and package.AsyncResult\n"
        "assert 'sqlalchemy.orm' not in __import__('sys').modules\n"
        "from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker\n"
        "from sqlalchemy.ext.asyncio.session import AsyncSession as Same\n"
        "assert AsyncSession is Same and package.async_scoped_session\n"
    )
    assert _loaded(modules, "sqlalchemy.orm")


def test_a_star_import_of_sqlalchemy_asyncio_gets_every_name() -> None:
    modules = _modules_after(
        "import omnirelay.store\n"
        "from sqlalchemy.ext.asyncio import *\n"
        "assert AsyncSession and AsyncEngine and async_sessionmaker\n"
    )
    assert _loaded(modules, "sqlalchemy.orm")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc")
def test_running_workers_serve_without_the_cryptography_package(
    new_database_url: object, tmp_path: Path
) -> None:
    # Each worker decrypted its channels' secrets at start and relayed a chat since: the
    # package's extension must never have been mapped.
    gateway = start_gateway(new_database_url("sqlite"), tmp_path, workers=2)  # type: ignore[operator]
    try:
        key, _ = gateway.create_key("lean")
        for _ in range(4):  # reaches both workers, most likely
            answer = httpx.post(
                gateway.v1 + "/chat/completions",
                headers={"Authorization": f"Bearer {key}"},
                json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
        workers = [
            pid
            for pid in _children(gateway.process.pid)
            if b"omnirelay.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(workers) == 2
        for pid in workers:
            maps = Path(f"/proc/{pid}/maps").read_text()
            assert "libcrypto" in maps or "_ssl" in maps  # what the secrets go through instead
            assert "cryptography" not in maps
    finally:
        gateway.stop()
