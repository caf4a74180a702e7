"""Shared fixtures: an isolated environment for every test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .cli_in_process import LOOPBACK_ANY_PORT, Cli
from .pg_server import PostgresServer, unavailable_reason

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TIKTOK_*/API2CART_* variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("TIKTOK_", "API2CART_")):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    """Path of a .env in a fresh folder (not created)."""
    return tmp_path / ".env"


@pytest.fixture
def instant_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTTP layer's pauses between attempts take no time (a client built afterwards picks it up):
    for tests that meet a retried failure on purpose (the rate-limited scenario answers every attempt
    of one call) and check what it says, not how long the backoff waits (tests/test_http_retry.py does)."""
    monkeypatch.setattr("tiktok_helpers.http._sleep", lambda seconds: None)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    """The command line, run in process on a fresh project (its ``.env`` lets the catcher take any free
    port); at the end, no secret may have been shown in full in anything it printed."""
    env = tmp_path / ".env"
    env.write_text(LOOPBACK_ANY_PORT)
    runner = Cli(env)
    yield runner
    runner.assert_no_secret_shown()


@pytest.fixture
def signs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every ``sign`` the Open API client computes in the test (secrets a leak check must look for:
    the sandbox checks them but keeps none)."""
    from tiktok_helpers import signing  # deferred: only the tests that ask for this fixture need it

    made: list[str] = []

    def recording(*args: Any, **kwargs: Any) -> str:
        made.append(signing.sign(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr("tiktok_helpers.openapi.sign", recording)
    return made


#: Set to 1 (.ci/run does) to make a missing PostgreSQL fail the tests that need it instead of skipping
#: them. Not TIKTOK_*: the root conftest.py clears those from the environment before any test runs.
REQUIRE_POSTGRES = "RUNBOOK_REQUIRE_POSTGRES"


def require_postgres() -> None:
    """Skip the calling test, saying why, when no PostgreSQL server can be started here; fail it
    instead when the run must test PostgreSQL (``RUNBOOK_REQUIRE_POSTGRES=1``)."""
    reason = unavailable_reason()
    if reason is None:
        return
    if os.environ.get(REQUIRE_POSTGRES) == "1":
        pytest.fail(f"{reason} ({REQUIRE_POSTGRES}=1: this run must test PostgreSQL)", pytrace=False)
    pytest.skip(f"PostgreSQL test skipped: {reason}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server (tests/pg_server.py), one per pytest process (each xdist worker
    has its own), on a unix socket only; stopped and removed at the end."""
    require_postgres()
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A libpq URL whose connections use a fresh, empty schema of their own (``search_path``)."""
    return postgres_server.new_schema_url()
