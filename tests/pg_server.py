"""A real, throwaway PostgreSQL server for the tests: one per pytest process (tests/conftest.py).

``initdb`` makes a fresh cluster in a short folder under /tmp (``ttkpg-*``: a unix socket's path is
limited to about 107 bytes) and ``pg_ctl`` starts it listening only on a unix socket in that folder,
never on TCP, so two test runs on one machine never meet and no port is taken. By default it trades
crash safety for speed (no fsync): its data dies with it anyway. PostgreSQL refuses to run as root,
so as root (containers, CI) the server runs as Debian's ``postgres`` system user; root still
connects through the socket. Every test gets a schema of its own (:meth:`PostgresServer.new_schema_url`,
cheap) or, when it needs one, a database of its own (:meth:`PostgresServer.new_database`).

psycopg is imported only where a connection is made, so the suite still loads without it (the
tests that need PostgreSQL are then skipped or failed with :func:`unavailable_reason`).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

#: Where the servers' folders go: /tmp whatever TMPDIR says, so that the socket's path stays short.
TEMP_ROOT = Path("/tmp")  # noqa: S108 - mkdtemp makes a fresh 0700 folder in it
#: The servers' folders' names start with it (remove_stale_directories looks for them).
PREFIX = "ttkpg-"
#: The file in a server's folder naming the process that started it (a folder whose owner is gone is stale).
OWNER_FILE = "owner"
#: Debian's PostgreSQL packages put the server programs here, one folder per major version, off PATH.
DEBIAN_VERSIONS = Path("/usr/lib/postgresql")
#: The system user the server runs as when the tests run as root (Debian's postgresql package creates it).
SERVER_USER = "postgres"
#: How root runs a program as SERVER_USER, in order of preference.
SWITCH_USER_TOOLS = ("runuser", "setpriv", "su")
#: The superuser role the tests connect as (trust authentication: no password).
ROLE = "runbook"
#: Names the socket file (``.s.PGSQL.5432``) in the server's own folder; no TCP port is bound.
PORT = 5432
#: The database the per-test schemas live in, created on first use.
SHARED_DATABASE = "runbook_tests"
#: Always: no TCP at all, and room for the tests' connection pools.
SETTINGS = ("listen_addresses=''", "max_connections=200")
#: Unless durable: speed over crash safety.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
START_TIMEOUT = 30
LOG_LINES = 15


class PostgresStartError(RuntimeError):
    """initdb or ``pg_ctl start`` failed; the message carries their output and the server log's last lines."""


def unavailable_reason() -> str | None:
    """Why a PostgreSQL server cannot be started for the tests here, in one line; None when it can."""
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed in this Python: python3 runbook.py setup (installs requirements.txt)"
    if PostgresServer.find_binaries() is None:
        return "PostgreSQL's server (initdb, pg_ctl) is not installed: apt-get install postgresql"
    if not _is_root():
        return None
    if not _user_exists(SERVER_USER):
        return (
            f"running as root, which PostgreSQL refuses, and there is no {SERVER_USER!r} user to run it as: "
            "apt-get install postgresql (creates it), or run the tests as another user"
        )
    if not any(shutil.which(tool) for tool in SWITCH_USER_TOOLS):
        return (
            f"running as root, and none of {', '.join(SWITCH_USER_TOOLS)} is here to run PostgreSQL as "
            f"{SERVER_USER!r}: apt-get install util-linux"
        )
    return None


class PostgresServer:
    """One throwaway PostgreSQL server: :meth:`start`, hand out URLs, :meth:`stop` (also at exit).

    ``durable=True`` keeps PostgreSQL's crash-safe defaults (fsync and the rest), for benchmarks
    that should measure what production pays.
    """

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable
        #: The server's folder (data, log, socket) while it runs; None before start() and after stop().
        self.directory: Path | None = None
        self._binaries: Path | None = None
        self._owner = 0  # the process that started it (start() sets it)
        self._shared_database_made = False

    @staticmethod
    def find_binaries() -> Path | None:
        """The folder holding PostgreSQL's ``initdb`` and ``pg_ctl``: ``pg_config --bindir``, else
        ``initdb`` on PATH, else Debian's newest ``/usr/lib/postgresql/*/bin``; None when none has both."""
        for folder in _binary_folders():
            if all(os.access(folder / name, os.X_OK) for name in ("initdb", "pg_ctl")):
                return folder
        return None

    def start(self) -> None:
        """Create a fresh cluster and start it on a unix socket in a new folder (about a second).

        Stops and removes first what killed runs left behind (:func:`remove_stale_directories`).
        Raises PostgresStartError, with the server log's last lines, when the server does not start.
        """
        if self.directory is not None:
            raise RuntimeError(f"this PostgreSQL server already runs in {self.directory}")
        self._owner = os.getpid()
        binaries = self.find_binaries()
        if binaries is None:
            raise PostgresStartError(unavailable_reason() or "PostgreSQL's initdb and pg_ctl were not found")
        remove_stale_directories(binaries)
        self._binaries = binaries
        self.directory = _new_directory()
        atexit.register(self.stop)
        data = self.directory / "data"
        try:
            self._run("initdb", "-D", str(data), "-A", "trust", "-U", ROLE, "-E", "UTF8", "--locale=C", "--no-sync")
            self._run("pg_ctl", "-D", str(data), "-l", str(self.directory / "log"), "-w", "-t", str(START_TIMEOUT),
                      "start", "-o", self._server_options())  # fmt: skip
        except PostgresStartError:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server at once (``pg_ctl stop -m immediate``) and remove its folder; harmless twice,
        and a no-op in a forked child (its exit must not stop the parent's server)."""
        if self.directory is None or self._binaries is None or os.getpid() != self._owner:
            return
        atexit.unregister(self.stop)
        _stop_and_remove(self._binaries, self.directory)
        self.directory = None

    def url(self, dbname: str = "postgres") -> str:
        """A libpq URL (psycopg 3 takes it as is) for database ``dbname``, through the unix socket."""
        return f"postgresql://{ROLE}@/{quote(dbname)}?host={quote(str(self._running()))}&port={PORT}"

    def new_database(self, prefix: str = "t") -> str:
        """Create a database with a new name (``<prefix>_<uuid>``) and return its URL."""
        name = _new_name(prefix)
        self._create_database(name)
        return self.url(name)

    def new_schema_url(self, prefix: str = "t") -> str:
        """Create a schema with a new name in the shared database and return a URL whose connections
        use it (``search_path``): a test's tables are its own, without the cost of a database."""
        if not self._shared_database_made:
            self._create_database(SHARED_DATABASE)
            self._shared_database_made = True
        name = _new_name(prefix)
        self._execute(SHARED_DATABASE, "CREATE SCHEMA {}", name)
        return f"{self.url(SHARED_DATABASE)}&options=-csearch_path%3D{name}"

    def _create_database(self, name: str) -> None:
        self._execute("postgres", "CREATE DATABASE {}", name)

    def _execute(self, dbname: str, statement: str, name: str) -> None:
        """Run a statement naming one object, outside a transaction (CREATE DATABASE cannot run in one)."""
        import psycopg  # deferred: the suite loads without psycopg (see unavailable_reason)
        from psycopg import sql

        with psycopg.connect(self.url(dbname), autocommit=True) as connection:
            connection.execute(sql.SQL(statement).format(sql.Identifier(name)))

    def _server_options(self) -> str:
        """The postgres command line pg_ctl passes on (through a shell, hence the quoting)."""
        settings = SETTINGS if self.durable else (*SETTINGS, *FAST_SETTINGS)
        flags = [f"-c {setting}" for setting in settings]
        return " ".join([*flags, "-k", shlex.quote(str(self._running())), "-p", str(PORT)])

    def _run(self, program: str, *arguments: str) -> None:
        """Run one of PostgreSQL's programs as the server's user; PostgresStartError when it fails."""
        directory, binaries = self._running(), self._binaries
        assert binaries is not None
        try:
            done = subprocess.run(
                _as_server_user([str(binaries / program), *arguments]),
                cwd=directory, capture_output=True, text=True, timeout=START_TIMEOUT * 2, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise PostgresStartError(_failure(program, f"no answer in {exc.timeout:.0f} s", "", directory)) from exc
        if done.returncode != 0:
            raise PostgresStartError(_failure(program, f"exit {done.returncode}", done.stdout + done.stderr, directory))

    def _running(self) -> Path:
        if self.directory is None:
            raise RuntimeError("the PostgreSQL server is not running: call start() first")
        return self.directory


def remove_stale_directories(binaries: Path) -> None:
    """Stop the servers of earlier runs killed before they could (SIGKILL, SIGTERM, a crashed
    pytest-xdist worker) and remove their folders: every ``ttkpg-*`` folder whose owner process is
    gone. Folders whose owner still runs, or that this user cannot read, are left alone."""
    for directory in TEMP_ROOT.glob(f"{PREFIX}*"):
        owner = _read_pid(directory / OWNER_FILE)
        if owner is not None and not _alive(owner):
            _stop_and_remove(binaries, directory)


def _binary_folders() -> Iterator[Path]:
    """Where PostgreSQL's server programs may be, most telling first."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip():
            yield Path(done.stdout.strip())
    initdb = shutil.which("initdb")
    if initdb:
        yield Path(initdb).resolve().parent  # a symlink on PATH: pg_ctl is next to the real initdb
    yield from sorted(DEBIAN_VERSIONS.glob("*/bin"), key=lambda folder: _version(folder.parent.name), reverse=True)


def _version(name: str) -> tuple[int, ...]:
    """``"9.6"`` -> (9, 6), so that 15 sorts above 9.6."""
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _new_directory() -> Path:
    """A fresh 0700 folder for a server, naming this process as its owner, handed to the server's user."""
    directory = Path(tempfile.mkdtemp(prefix=PREFIX, dir=TEMP_ROOT))
    (directory / OWNER_FILE).write_text(f"{os.getpid()}\n")
    if _is_root():
        account = pwd.getpwnam(SERVER_USER)
        os.chown(directory, account.pw_uid, account.pw_gid)
    return directory


def _stop_and_remove(binaries: Path, directory: Path) -> None:
    """Stop the server in ``directory`` if one runs there, then remove the folder."""
    if (directory / "data" / "postmaster.pid").exists():
        subprocess.run(
            _as_server_user([str(binaries / "pg_ctl"), "-D", str(directory / "data"), "-m", "immediate", "stop"]),
            cwd=TEMP_ROOT, capture_output=True, timeout=START_TIMEOUT * 2, check=False,
        )  # fmt: skip
    shutil.rmtree(directory, ignore_errors=True)


def _as_server_user(command: list[str]) -> list[str]:
    """``command`` as PostgreSQL will run it: as the server's user when this process is root."""
    if not _is_root():
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", SERVER_USER, "--", *command]
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={SERVER_USER}", f"--regid={SERVER_USER}", "--init-groups", "--", *command]
    return ["su", SERVER_USER, "-s", "/bin/sh", "-c", shlex.join(command)]


def _failure(program: str, how: str, output: str, directory: Path) -> str:
    """The message of a failed start: what failed, its own output, the server log's last lines."""
    log = directory / "log"
    lines = log.read_text(errors="replace").splitlines()[-LOG_LINES:] if log.exists() else ["(no server log)"]
    return (
        f"the PostgreSQL test server did not start: {program} failed ({how})\n{output.strip()}\n"
        "the server log's last lines:\n" + "\n".join(lines)
    )


def _new_name(prefix: str) -> str:
    """``<prefix>_<uuid>``: a PostgreSQL name needing no quotes (a search_path option takes it as is)."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,29}", prefix):
        raise ValueError(f"prefix {prefix!r}: use up to 30 lowercase letters, digits and _, not starting with a digit")
    return f"{prefix}_{uuid.uuid4().hex}"


def _read_pid(path: Path) -> int | None:
    """The process id ``path`` holds; None when it cannot be read (another user's folder, half written)."""
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        pass
    return True


def _is_root() -> bool:
    return os.geteuid() == 0


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
