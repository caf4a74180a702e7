"""The grant database's file: this project's mark on it, its schema as numbered migrations, the
checks made before it is used, and SQLite's failures in words.

A grant database says it is this project's (SQLite ``application_id``, set in the transaction that
creates its tables) and which schema it holds (``user_version`` = the number of :data:`MIGRATIONS`
applied). :func:`open_checked` checks the file before anything reads a grant from it:

* another program's file (an SQLite database without this project's mark, or not SQLite at all),
  a damaged one (``PRAGMA quick_check``), one written by a newer runbook, or one of this project's
  whose ``grants`` table is missing is refused with :class:`GrantDatabaseError` naming the file and
  what to do, and is left byte for byte as it is: no table is created in a file this project did
  not create (an empty file, 0 bytes, is the only one it adopts);
* an older file is upgraded in one transaction; an up-to-date one is not written at all, so
  opening for reading takes no lock a writer holds and works on a read-only file.

:func:`database_error` turns an ``sqlite3`` failure into one line for the person: busy (another
process writing: :class:`GrantDatabaseBusy`, with that process's id when the system tells it), disk
full, I/O error, read-only, damaged. Only a damaged file's message speaks of moving it aside.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from . import samples
from .errors import GrantDatabaseBusy, GrantDatabaseError
from .grant_migrations import SQLITE as MIGRATIONS
from .grant_sql import SQLITE, Dialect, index_shops, insertion

__all__ = [
    "APPLICATION_ID",
    "BUSY_TIMEOUT",
    "FILE_MODE",
    "MIGRATIONS",
    "Failure",
    "SqliteTx",
    "database_error",
    "ensure_wal",
    "failure_of",
    "is_empty",
    "open_checked",
    "rollback",
    "writer_pid",
]

FILE_MODE: Final = 0o600
#: Written into the file's header (``PRAGMA application_id``): "TTKG", this project's grant store.
APPLICATION_ID: Final = 0x54544B47
#: How long a write waits for another process's write transaction before saying the file is busy
#: (seconds). Reads never wait: the file is in WAL mode.
BUSY_TIMEOUT: Final = 5.0

_VERSION: Final = len(MIGRATIONS)


class SqliteTx:
    """A transaction on an ``sqlite3`` connection, as the grant store's SQL uses it (:class:`~.grant_sql.Tx`)."""

    dialect: Dialect = SQLITE

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        return self.db.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self.db.executemany(sql, rows)

    def insert(self, table: str, values: Mapping[str, object]) -> int:
        cursor = self.db.execute(insertion(table, values), tuple(values.values()))
        return int(cursor.lastrowid or 0)


@functools.cache
def _columns_of_version(version: int) -> frozenset[str]:
    """The columns of ``grants`` after the first ``version`` migrations (built in memory once)."""
    db = sqlite3.connect(":memory:")
    try:
        for step in MIGRATIONS[:version]:
            db.executescript(step)
        return frozenset(r[1] for r in db.execute("PRAGMA table_info(grants)"))
    finally:
        db.close()


# --- what SQLite said, in words ---------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """An ``sqlite3`` failure, sorted: ``kind`` is busy, full, io, readonly, damaged, cantopen or
    other; ``words`` say it for a person; ``retry`` is True when the same write may work in a moment
    (disk full, I/O error)."""

    kind: str
    words: str

    @property
    def retry(self) -> bool:
        return self.kind in ("full", "io")


#: SQLite's result code names (Python 3.11+) and, for 3.10, its fixed messages: the kind of each.
_KINDS: Final = (
    ("SQLITE_BUSY", "database is locked", "busy"),
    ("SQLITE_LOCKED", "database table is locked", "busy"),
    ("SQLITE_FULL", "database or disk is full", "full"),
    ("SQLITE_IOERR", "disk I/O error", "io"),
    ("SQLITE_READONLY", "readonly database", "readonly"),
    ("SQLITE_CORRUPT", "malformed", "damaged"),
    ("SQLITE_NOTADB", "file is not a database", "damaged"),
    ("SQLITE_CANTOPEN", "unable to open database file", "cantopen"),
)
_WORDS: Final = {
    "busy": "another process is writing",
    "full": "the disk is full",
    "io": "a disk I/O error",
    "readonly": "the file or its folder is read-only",
    "damaged": "the file is damaged",
    "cantopen": "the file cannot be opened",
}


def failure_of(exc: sqlite3.Error) -> Failure:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    for code, message, kind in _KINDS:
        if name.startswith(code) or message in text:
            return Failure(kind, f"{_WORDS[kind]} ({text})")
    return Failure("other", text)


def writer_pid(path: Path) -> int | None:
    """The process holding the write lock of the SQLite database ``path``, when the system says
    (Linux's /proc/locks: WAL's write lock is byte 120 of the ``-shm`` file, a rollback journal's
    RESERVED lock byte 1073741825 of the file itself); None when unknown."""
    wanted = set()
    for name, byte in ((path.name + "-shm", 120), (path.name, 0x40000001)):
        try:
            st = os.stat(path.with_name(name))
        except OSError:
            continue
        wanted.add((os.major(st.st_dev), os.minor(st.st_dev), st.st_ino, byte))
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if len(parts) < 8 or parts[1] != "POSIX" or parts[3] != "WRITE":
            continue
        try:
            major, minor, inode = parts[5].split(":")
            key = (int(major, 16), int(minor, 16), int(inode), int(parts[6]))
            pid = int(parts[4])
        except ValueError:
            continue
        if key in wanted and pid > 0:
            return pid
    return None


def _damaged(path: Path, what: str) -> GrantDatabaseError:
    return GrantDatabaseError(
        path,
        f"{path} is damaged ({what}); it was left as it is",
        reason=f"the grant database is damaged ({what})",
        fix="Restore it from a backup if there is one. Otherwise keep a copy of it (it holds the sellers' refresh "
        f"tokens; `sqlite3 {path.name} .recover` may rescue rows from it), move it out of the folder, and "
        "authorize the sellers again.",
    )


def database_error(exc: sqlite3.Error, path: Path, doing: str) -> GrantDatabaseError:
    """One line for an ``sqlite3`` failure while ``doing`` something (``"saving the shops"``)."""
    failure = failure_of(exc)
    folder = path.parent
    if failure.kind == "busy":
        pid = writer_pid(path)
        who = (
            "another connection of this same process is writing"
            if pid == os.getpid()
            else f"another runbook process is writing ({'pid unknown' if pid is None else f'pid {pid}'})"
        )
        reason = f"the grant database is busy: {who}; try again"
        return GrantDatabaseBusy(
            path,
            f"the grant database {path} is busy: {who}; waited {BUSY_TIMEOUT:g} s, nothing was written ({doing})",
            reason=reason,
        )
    if failure.kind == "damaged":
        return _damaged(path, str(exc))
    fixes = {
        "full": f"Free disk space on the drive that holds {folder}, then run the step again.",
        "io": f"Check the drive that holds {folder} (still mounted, not failing), then run the step again.",
        "readonly": f"Make {path} and its folder writable by you, then run the step again.",
        "cantopen": f"Check that {path} and its folder exist and that you may read and write them.",
    }
    return GrantDatabaseError(
        path, f"{doing} in {path} failed: {failure.words}", fixes.get(failure.kind, ""), reason=failure.words
    )


# --- the checks before use, and the upgrade ---------------------------------------------------------


def _foreign(path: Path, what: str) -> GrantDatabaseError:
    return GrantDatabaseError(
        path,
        f"{path} is not this runbook's grant database ({what}); it was left as it is",
        reason=f"it is not this runbook's grant database ({what})",
        fix="Move that file out of this folder, or use a settings file in another folder (--env-file or "
        "TIKTOK_ENV_FILE): the runbook keeps its sellers' grants in <settings file>.grants.db.",
    )


def _check(db: sqlite3.Connection, path: Path) -> tuple[int, int]:
    """Refuse a file this project did not create, a newer, a damaged or an emptied one: its
    ``(application_id, user_version)`` otherwise. Reads only."""
    try:
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if failure_of(exc).kind != "damaged":
            raise
        raise _foreign(path, f"not an SQLite database: {exc}; if it was the grant database, its first page "
                       "is damaged: restore it from a backup") from None  # fmt: skip
    version = db.execute("PRAGMA user_version").fetchone()[0]
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    # Version 1 files did not set application_id: recognised by their version and table.
    ours = app_id == APPLICATION_ID or (app_id == 0 and version == 1 and tables == {"grants"})
    if pages == 0:
        return app_id, version  # an empty file: nothing in it to lose, nobody's data
    if not ours:
        mark = f"application_id {app_id:#x}" if app_id else "no application_id"
        listed = ", ".join(sorted(tables)[:5]) or "none"
        raise _foreign(path, f"an SQLite database with {mark}, tables: {listed}")
    if version > _VERSION:
        raise GrantDatabaseError(
            path,
            f"{path} was written by a newer version of this runbook (schema {version}; this one knows up to "
            f"{_VERSION}); it was left as it is",
            reason=f"it was written by a newer version of this runbook (schema {version})",
            fix="Update the runbook (for example `git pull`, then `python3 runbook.py`) and run the command again.",
        )
    problem = db.execute("PRAGMA quick_check(1)").fetchone()[0]
    if problem != "ok":
        raise _damaged(path, f"SQLite's quick_check: {' '.join(str(problem).split())}")
    missing = _columns_of_version(version) - {r[1] for r in db.execute("PRAGMA table_info(grants)")}
    if "grants" not in tables or missing or version == 0:
        what = "its grants table is missing" if "grants" not in tables else "its grants table lacks columns"
        raise _damaged(path, f"this runbook's file, but {what}")
    return app_id, version


def open_checked(db: sqlite3.Connection, path: Path) -> bool:
    """Check the file is this project's, whole and not newer (:func:`_check`); create or upgrade its
    schema only when needed. True when it wrote."""
    app_id, version = _check(db, path)
    if version == _VERSION and app_id == APPLICATION_ID:
        return False  # nothing to write
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]  # another process may have been first
        for number in range(version, _VERSION):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    db.execute(statement)
            if number + 1 == 2:
                _adopt_version_one_rows(db)
            if number + 1 == 3:
                for row in db.execute("SELECT id, shops FROM grants").fetchall():
                    index_shops(SqliteTx(db), row["id"], row["shops"])
        db.execute(f"PRAGMA application_id={APPLICATION_ID}")
        db.execute(f"PRAGMA user_version={_VERSION}")
    except BaseException:
        rollback(db)
        raise
    db.execute("COMMIT")
    ensure_wal(db)  # after the commit: a file is never left half made in WAL mode without its tables
    return True


def is_empty(path: Path) -> bool:
    """No file, or an empty one (0 bytes: a write makes its tables)."""
    try:
        return os.stat(path).st_size == 0
    except FileNotFoundError:
        return True
    except OSError:
        return False  # opening it says what is wrong


def rollback(db: sqlite3.Connection) -> None:
    """End a failed transaction, if SQLite has not already (it does after some disk errors)."""
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")


def ensure_wal(db: sqlite3.Connection) -> None:
    """Put the file in WAL mode (readers beside a writer) if it is not; a busy file is left for the
    next writer to try."""
    with contextlib.suppress(sqlite3.Error):
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode=WAL")


def _adopt_version_one_rows(db: sqlite3.Connection) -> None:
    """Rows from before grants recorded their app: a token the embedded sandbox issued is the
    sandbox's sample app's; any other is live, its App Key claimed by the first live app that opens
    the file (:meth:`GrantStore._claim_unowned`)."""
    rows = db.execute("SELECT id, refresh_token FROM grants WHERE mode = ''").fetchall()
    for row in rows:
        if samples.is_sandbox_token(row["refresh_token"]):
            db.execute(
                "UPDATE grants SET mode = 'sandbox', app_key = ? WHERE id = ?", (samples.SANDBOX_APP_KEY, row["id"])
            )
        else:
            db.execute("UPDATE grants SET mode = 'live' WHERE id = ?", (row["id"],))
