"""A gateway of its own for each fuzzed document: the fuzzer changes what it finds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import GatewayProcess, start_gateway


@pytest.fixture(scope="module")
def target(
    request: pytest.FixtureRequest,
    new_database_url: object,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    url = new_database_url("sqlite")  # type: ignore[operator]
    name = request.module.__name__.rsplit(".", 1)[-1]
    process = start_gateway(url, tmp_path_factory.mktemp(f"fuzz-{name}"))
    try:
        yield process
    finally:
        process.stop()
