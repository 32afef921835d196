"""Fixtures that start real servers: PostgreSQL, the sandbox, and omnirelay itself.

Tests that take ``gateway`` run once per database backend (SQLite and PostgreSQL).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support.netfence import sitecustomize as netfence
from tests.support.postgres import PostgresServer, create_database, start_postgres
from tests.support.redis import RedisServer, start_redis
from tests.support.servers import GatewayProcess, start_gateway

BACKENDS = ["sqlite", "postgres"]

# No test may reach another machine, whatever the code under test does (netfence's docstring).
netfence.install()

# Property-based tests: a bounded run in `make test`, a long one in `make fuzz`
# (HYPOTHESIS_PROFILE=fuzz). No deadline: the machine is shared, timings say nothing here.
settings.register_profile(
    "default", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    given = os.environ.get("OMNIRELAY_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    server: PostgresServer = start_postgres()
    try:
        yield server.admin_url
    finally:
        server.stop()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A Redis of the test's own (it may stop and start it)."""
    server = start_redis()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def new_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> object:
    """A factory: backend name → URL of a fresh, empty database."""

    def make(backend: str) -> str:
        if backend == "sqlite":
            path = tmp_path_factory.mktemp("sqlite") / "omnirelay.db"
            return f"sqlite+aiosqlite:///{path}"
        admin_url = request.getfixturevalue("postgres_admin_url")
        return create_database(admin_url, "t_" + uuid.uuid4().hex[:12])

    return make


@pytest.fixture(scope="session", params=BACKENDS)
def gateway(
    request: pytest.FixtureRequest,
    new_database_url: object,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    """One live gateway per backend, shared by the session (tests create their own keys)."""
    url = new_database_url(request.param)  # type: ignore[operator]
    process = start_gateway(url, tmp_path_factory.mktemp(f"gw-{request.param}"))
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
