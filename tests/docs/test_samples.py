"""Every code sample of the documentation, run against ``serve --demo`` as a reader runs it.

The samples run all at once, a few at a time, in a session fixture; each then has its own test
(so a broken sample fails by name). A sample that prints the JSON a page shows as its answer
(``<name>.answer.json``) must print at least every field that answer has.
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.docs.checks import INPUTS, RUN_CHECKS, STATIC_CHECKS, Context
from tests.docs.conftest import Reader
from tests.docs.runner import (
    SAMPLES_DIR,
    Outcome,
    answer_of,
    reader_env,
    run_all,
    sample_files,
)
from tests.support.servers import GatewayProcess

# One backend is enough: the samples exercise the surfaces, not the store.
SQLITE = pytest.mark.parametrize("gateway", ["sqlite"], indirect=True)

RUNNABLE = [name for name in sample_files() if name not in STATIC_CHECKS]
STATIC = sorted(
    p.relative_to(SAMPLES_DIR).as_posix()
    for p in SAMPLES_DIR.rglob("*")
    if p.is_file() and ".answer." not in p.name and p.suffix not in (".py", ".sh")
) + sorted(name for name in sample_files() if name in STATIC_CHECKS)


@pytest.fixture(scope="session")
def outcomes(
    gateway: GatewayProcess,
    reader: Reader,
    sample_inputs: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Outcome]:
    env = reader_env(
        gateway.url,
        reader.key,
        {
            # The operator's samples: the admin key, and the settings `serve` was given.
            "OMNIRELAY_ADMIN_KEY": gateway.admin_key,
            "OMNIRELAY_DATABASE_URL": gateway.database_url,
            "OMNIRELAY_DATA_DIR": str(gateway.data_dir),
            # The help page's webhook receiver: the secret shown with the reader's key.
            "OMNIRELAY_WEBHOOK_SECRET": reader.webhook_secret,
        },
    )

    def workdirs() -> Any:
        for name in RUNNABLE:
            folder = tmp_path_factory.mktemp("sample")
            for needed in INPUTS.get(name, ()):
                shutil.copy(sample_inputs / needed, folder / needed)
            yield folder

    return run_all(RUNNABLE, env, iter(workdirs()))


def _shape(value: Any, prefix: str = "") -> set[str]:
    """The field paths of a JSON value (a list stands for its first element)."""
    if isinstance(value, dict):
        return set(
            itertools.chain.from_iterable(
                {f"{prefix}{k}"} | _shape(v, f"{prefix}{k}.") for k, v in value.items()
            )
        )
    if isinstance(value, list) and value:
        return _shape(value[0], f"{prefix}[].")
    return set()


@SQLITE
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", RUNNABLE)
def test_sample_runs(name: str, gateway: GatewayProcess, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[name]
    assert outcome.returncode == 0, outcome.describe()
    RUN_CHECKS[name](outcome)
    answer = answer_of(name)
    if answer is not None and name.endswith(".sh"):
        documented = _shape(json.loads(answer.read_text()))
        printed = set().union(*(_shape(d) for d in outcome.documents()))
        missing = documented - printed
        assert not missing, f"{answer.name} shows fields the gateway does not send: {missing}"


@SQLITE
@pytest.mark.parametrize("name", STATIC)
def test_sample_settings_hold(name: str, gateway: GatewayProcess, reader: Reader) -> None:
    context = Context(gateway.url, reader.key, gateway.admin_key)
    STATIC_CHECKS[name]((SAMPLES_DIR / name).read_text(), context)


def test_every_sample_is_checked_and_included() -> None:
    """No sample without a check, no check without a sample, no sample no page includes."""
    files = set(sample_files()) | set(STATIC)
    checked = set(RUN_CHECKS) | set(STATIC_CHECKS)
    assert files == checked, {"unchecked": files - checked, "gone": checked - files}
    pages = "".join(p.read_text() for p in (SAMPLES_DIR.parent).rglob("*.md"))
    included = {m for m in files if f'--8<-- "{m}"' in pages}
    answers = {p.relative_to(SAMPLES_DIR).as_posix() for p in SAMPLES_DIR.rglob("*.answer.*")}
    assert files - included == set(), files - included
    assert {a for a in answers if f'--8<-- "{a}"' not in pages} == set()


def test_python_samples_cannot_shadow_packages() -> None:
    """A reader runs `python langchain.py` in a folder: a sample named like a package would
    be imported instead of it (llama_index imports `langchain` if it can)."""
    for name in sample_files():
        if name.endswith(".py"):
            assert not Path(name).stem.isidentifier(), name
