"""Runs the documentation's samples as a reader would: each file alone, in a fresh directory,
with only the variables the pages tell the reader to set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SAMPLES_DIR = ROOT / "docs" / "samples"
RUNNABLE = (".py", ".sh")
# What a sample is, besides code to run: the answer a page shows, and config files.
NOT_RUN = (".answer.json", ".answer.txt", ".toml")


@dataclass
class Outcome:
    """What one run of a sample printed and left behind."""

    name: str
    returncode: int
    stdout: str
    stderr: str
    cwd: Path
    seconds: float
    env: Mapping[str, str] = field(default_factory=dict)

    def documents(self) -> list[Any]:
        """Every JSON value printed, one after another (curl prints one per call)."""
        decoder, text, found, at = json.JSONDecoder(), self.stdout, [], 0
        while True:
            while at < len(text) and text[at].isspace():
                at += 1
            if at >= len(text):
                return found
            value, at = decoder.raw_decode(text, at)
            found.append(value)

    def json(self) -> Any:
        documents = self.documents()
        assert len(documents) == 1, f"{self.name}: expected one JSON document, got {self.stdout!r}"
        return documents[0]

    def describe(self) -> str:
        return (
            f"{self.name} exited {self.returncode} after {self.seconds:.1f}s\n"
            f"--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"
        )


def sample_files() -> list[str]:
    """Every sample, as its path under docs/samples (e.g. ``chat/basic.py``)."""
    return sorted(
        p.relative_to(SAMPLES_DIR).as_posix()
        for p in SAMPLES_DIR.rglob("*")
        if p.is_file() and p.suffix in RUNNABLE and not p.name.endswith(NOT_RUN)
    )


def answer_of(name: str) -> Path | None:
    path = SAMPLES_DIR / (name.rsplit(".", 1)[0] + ".answer.json")
    return path if path.is_file() else None


def run_one(name: str, env: Mapping[str, str], workdir: Path, timeout: float = 90) -> Outcome:
    path = SAMPLES_DIR / name
    command = [sys.executable, str(path)] if path.suffix == ".py" else ["bash", str(path)]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command,
            cwd=workdir,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        code, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = -9, str(exc.stdout or ""), f"timed out after {timeout}s"
    return Outcome(name, code, out, err, workdir, time.monotonic() - started, env)


def run_all(
    names: list[str], env: Mapping[str, str], workdirs: Iterator[Path], workers: int = 4
) -> dict[str, Outcome]:
    """Every sample at once, a few at a time (most of a sample's time is the interpreter
    starting and the gateway's sandbox clock)."""
    jobs = [(name, next(workdirs)) for name in names]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = pool.map(lambda job: run_one(job[0], env, job[1]), jobs)
        return {o.name: o for o in outcomes}


def reader_env(base_url: str, key: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A reader's environment: PATH (with this venv's tools: python, omnirelay), HOME, and the
    two variables the pages ask for. Nothing of the test process leaks in."""
    venv_bin = str(Path(sys.executable).parent)
    return {
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "OMNIRELAY_BASE_URL": base_url,
        "OMNIRELAY_KEY": key,
        **(extra or {}),
    }
