"""The throwaway PostgreSQL server the PostgreSQL tests run against (tests/pg_server.py) and its fixtures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

from . import pg_server
from .conftest import PROJECT_ROOT, require_postgres
from .pg_server import PostgresServer, PostgresStartError

if TYPE_CHECKING:
    from psycopg import Connection

#: Starts a server in a process that then dies without stopping it, as a SIGKILLed pytest would.
ORPHAN = (
    "import os\n"
    "from tests.pg_server import PostgresServer\n"
    "server = PostgresServer()\n"
    "server.start()\n"
    "print(server.directory, flush=True)\n"
    "os._exit(0)\n"
)


def connect(url: str) -> Connection[tuple[Any, ...]]:
    import psycopg  # deferred: without it the fixtures skip or fail these tests, saying why

    return psycopg.connect(url)


def fetch_one(url: str, query: str) -> object:
    with connect(url) as connection:
        row = connection.execute(query).fetchone()
    assert row is not None
    return row[0]


def running(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, dead but not yet reaped by init, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_the_server_answers(postgres_url: str) -> None:
    assert fetch_one(postgres_url, "SELECT 1") == 1


def test_each_schema_url_connects_to_its_own_schema(postgres_server: PostgresServer) -> None:
    first, second = postgres_server.new_schema_url(), postgres_server.new_schema_url()
    with connect(first) as connection:
        connection.execute("CREATE TABLE grants (id int)")
    assert fetch_one(first, "SELECT count(*) FROM grants") == 0
    assert fetch_one(second, "SELECT to_regclass('grants')") is None
    assert parse_qs(urlsplit(second).query)["options"] == [f"-csearch_path={fetch_one(second, 'SHOW search_path')}"]


def test_a_new_database_is_empty_and_its_own(postgres_server: PostgresServer) -> None:
    url = postgres_server.new_database()
    assert fetch_one(url, "SELECT current_database()") == urlsplit(url).path.lstrip("/")
    assert fetch_one(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0


def test_no_tcp_port_is_bound(postgres_url: str) -> None:
    assert fetch_one(postgres_url, "SHOW listen_addresses") == ""


@pytest.mark.durability  # starts, kills or fails servers of its own: seconds each
def test_stop_removes_the_folder_and_is_harmless_twice() -> None:
    require_postgres()
    server = PostgresServer()
    server.start()
    directory = server.directory
    assert directory is not None and (directory / "data" / "postmaster.pid").exists()
    server.stop()
    server.stop()
    assert not directory.exists()
    with pytest.raises(RuntimeError, match="call start"):
        server.url()


@pytest.mark.durability  # starts, kills or fails servers of its own: seconds each
def test_a_start_failure_carries_the_server_log(monkeypatch: pytest.MonkeyPatch) -> None:
    require_postgres()
    monkeypatch.setattr(pg_server, "SETTINGS", (*pg_server.SETTINGS, "no_such_setting=on"))
    server = PostgresServer()
    with pytest.raises(PostgresStartError, match='unrecognized configuration parameter "no_such_setting"'):
        server.start()
    assert server.directory is None


@pytest.mark.durability  # starts, kills or fails servers of its own: seconds each
def test_servers_whose_owner_died_are_stopped_and_removed(postgres_server: PostgresServer) -> None:
    started = subprocess.run([sys.executable, "-c", ORPHAN], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    orphan = Path(started.stdout.strip())
    postmaster = int((orphan / "data" / "postmaster.pid").read_text().split()[0])
    binaries = PostgresServer.find_binaries()
    assert binaries is not None

    pg_server.remove_stale_directories(binaries)

    assert not orphan.exists()
    assert not running(postmaster)
    assert postgres_server.directory is not None and postgres_server.directory.exists()  # its owner runs
