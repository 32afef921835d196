"""Every block of the README is a sample: each runs on its own, as pasted, in a fresh shell or
interpreter that has only what the README tells the reader to set up."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from omnirelay import config
from tests.docs.conftest import Reader
from tests.docs.runner import ROOT, reader_env
from tests.support.servers import GatewayProcess

README = ROOT / "README.md"
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
DEMO_URL = "http://127.0.0.1:8000"  # what the README says `make demo` listens on


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _BLOCK.finditer(README.read_text())]


def _is_make_only(code: str) -> bool:
    lines = [ln.split("#")[0].strip() for ln in code.splitlines()]
    return all(not ln or ln.startswith(("make ", "BENCH_QUICK=1 make ")) for ln in lines)


def _is_env_make(code: str) -> bool:
    words = shlex.split(code.split("#")[0])
    return bool(words) and words[-2:] == ["make", "run"] and all("=" in w for w in words[:-2])


def _make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))


def _kind(language: str, code: str) -> str:
    if language == "python":
        return "python"
    if language == "sh" and _is_make_only(code):
        return "make"
    if language == "sh" and _is_env_make(code):
        return "env-make"
    if language == "sh" and "curl" in code:
        return "shell"
    raise AssertionError(f"a README block nobody checks ({language}):\n{code}")


BLOCKS = blocks()
RUN = [
    (i, lang, code)
    for i, (lang, code) in enumerate(BLOCKS)
    if _kind(lang, code) in ("python", "shell")
]


def test_every_block_is_checked() -> None:
    kinds = [_kind(lang, code) for lang, code in BLOCKS]
    assert kinds.count("python") >= 1 and kinds.count("shell") >= 2


def test_make_blocks_name_real_targets() -> None:
    targets = _make_targets()
    for lang, code in BLOCKS:
        kind = _kind(lang, code)
        if kind == "make":
            for line in code.splitlines():
                words = line.split("#")[0].split()
                if "make" in words:
                    assert words[words.index("make") + 1] in targets, line
        elif kind == "env-make":
            names = [w.split("=")[0] for w in shlex.split(code.split("#")[0]) if "=" in w]
            read = Path(config.__file__).read_text()
            assert all(f'"{n}"' in read for n in names), names


@pytest.mark.parametrize("gateway", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("index", "language", "code"), RUN, ids=[f"block{i}" for i, _, _ in RUN])
def test_block_runs_alone(
    index: int,
    language: str,
    code: str,
    gateway: GatewayProcess,
    reader: Reader,
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    # The demo's admin key file, where the README says the demo keeps it; and the demo's
    # address is this test gateway's.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "demo-admin.key").write_text(reader.key + "\n")
    code = code.replace(DEMO_URL, gateway.url)
    env = reader_env(gateway.url, reader.key)
    if "export OMNIRELAY_BASE_URL" in code:  # the block that sets them up starts without them
        del env["OMNIRELAY_BASE_URL"], env["OMNIRELAY_KEY"]
    command = [sys.executable, "-c", code] if language == "python" else ["bash", "-c", code]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    if language == "python":
        assert "You said: What can you do?" in out and "Count to five" in out, out
    elif "kling" in code:
        assert '"code":0' in out and '"task_id"' in out, out
    else:
        assert '"chat.completion"' in out and "Hello, relay!" in out, out
