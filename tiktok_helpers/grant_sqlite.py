"""The grant store's default home: one SQLite file beside ``.env``, shared by the processes of one
machine.

:class:`SqliteDatabase` is the :class:`~tiktok_helpers.grant_sql.Database` of a file: one connection
per store, used under a lock (the threads of one process, e.g. a bulk refresh, share it); SQLite's
own locking serializes writers across processes (a write waits
:data:`~tiktok_helpers.grant_schema.BUSY_TIMEOUT` for another's). The file is checked before use
(:func:`~tiktok_helpers.grant_schema.open_checked`), created empty at 0600 only by a write, and it
and its ``-wal``/``-shm`` side files are set to 0600 on every write. A file in a folder this process
may not write is read as it stands (SQLite's ``immutable``). A write the disk refuses (full, I/O
error) is tried again after :data:`RETRY_DELAYS`. A seller's refresh lock is a byte of the lock file
beside the database (:mod:`.seller_lock`); the keep-alive's is a second lock file, holding the pid.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import ClassVar, Final, TypeVar

from . import grant_schema
from .envfile import open_lock_file
from .errors import GrantDatabaseError, SettingsError
from .grant_schema import FILE_MODE, SqliteTx, database_error, ensure_wal, failure_of, is_empty, open_checked, rollback
from .grant_sql import SQLITE, Row, Tx
from .seller_lock import WAIT_LIMIT, seller_locked

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no keep-alive lock across processes
    fcntl = None  # type: ignore[assignment]

__all__ = ["RETRY_DELAYS", "SqliteDatabase", "exclusive_lock_path"]

#: The pauses between tries of a write the disk refused (full, I/O error): four tries in about 1.3 s.
RETRY_DELAYS: Final = (0.05, 0.25, 1.0)
_SIDE_FILES: Final = ("", "-wal", "-shm", "-journal")
_T = TypeVar("_T")


def exclusive_lock_path(path: Path, name: str) -> Path:
    """The lock file of the named lock (``keepalive``) beside the database: never deleted."""
    return path.with_name(f"{path.name}.{name}.lock")


class SqliteDatabase:
    """The grants in one SQLite file (see the module's description)."""

    #: The class of the SQLite connection (tests put a subclass here to make the disk refuse writes).
    connection_class: ClassVar[type[sqlite3.Connection]] = sqlite3.Connection
    dialect = SQLITE

    def __init__(self, path: Path | str) -> None:
        self.path: Path | None = Path(path)
        self.file = Path(path)
        self.location = str(path)
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._wal_checked = False
        self._immutable = False

    # --- the connection ---------------------------------------------------------------------------

    def connect(self) -> sqlite3.Connection:
        """The connection, opened and checked on first use; the file is created (empty, 0600) only by
        a write. A file in a folder this process may not write (no ``-wal`` pending) is read as it
        stands (SQLite's ``immutable``), one read at a time."""
        if self._db is not None:
            return self._db
        try:
            db, wrote = self._open(str(self.file), uri=False)
            self._immutable = False
        except sqlite3.Error as exc:
            if failure_of(exc).kind != "readonly" or not is_empty(self.file.with_name(self.file.name + "-wal")):
                raise database_error(exc, self.file, "opening it") from None
            try:
                db, wrote = self._open(self.file.absolute().as_uri() + "?mode=ro&immutable=1", uri=True)
            except sqlite3.Error as again:
                raise database_error(again, self.file, "opening it") from None
            self._immutable = True
        if wrote:
            self._secure()
        self._db = db
        return db

    def _open(self, target: str, *, uri: bool) -> tuple[sqlite3.Connection, bool]:
        """A connection to ``target``, checked; and whether opening it wrote (created, upgraded)."""
        db = sqlite3.connect(
            target, timeout=grant_schema.BUSY_TIMEOUT, isolation_level=None, check_same_thread=False,
            factory=self.connection_class, uri=uri,
        )  # fmt: skip
        try:
            db.row_factory = sqlite3.Row
            wrote = open_checked(db, self.file)
            db.execute("PRAGMA synchronous=FULL")
            return db, wrote
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
                self._wal_checked = False

    def _secure(self) -> None:
        """No access for group and others to the file and its side files, whatever mode they had (a
        copy restored 0644 ends 0600); the owner's bits are never widened (a 0400 file stays so)."""
        for suffix in _SIDE_FILES:
            name = self.file.with_name(self.file.name + suffix)
            try:
                mode = stat.S_IMODE(os.stat(name).st_mode)
                if mode & ~FILE_MODE:
                    os.chmod(name, mode & FILE_MODE)
            except OSError:
                continue  # absent, or not ours to change

    def _create(self) -> None:
        """An empty file, 0600, for the first write (SQLite would use the umask, often 0644); its
        schema is written by :func:`~tiktok_helpers.grant_schema.open_checked` in one transaction."""
        try:
            os.close(os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        except FileExistsError:
            pass  # another process was first
        except OSError as exc:
            raise GrantDatabaseError(
                self.file,
                f"could not create the grant database {self.file}: {exc.strerror or exc}",
                f"Check that you may write in {self.file.parent}, then run the step again.",
            ) from None

    # --- reading and writing ----------------------------------------------------------------------

    def write(self, work: Callable[[Tx], _T], doing: str, *, serialize: bool = True) -> _T:
        """``work`` in one write transaction (``BEGIN IMMEDIATE``: the write lock taken up front, so
        every write is serialized whatever ``serialize`` says), committed; tried again after
        :data:`RETRY_DELAYS` when the disk refuses it. Any other failure, or the last, is a
        :class:`GrantDatabaseError` saying what ``doing`` met."""
        with self._lock:
            if self._db is None and not self.file.exists():
                self._create()
            db = self.connect()
            try:
                if not self._wal_checked:
                    ensure_wal(db)  # a file put back in another journal mode would make readers wait
                    self._wal_checked = True
                return self._commit(db, work, doing)
            finally:
                if self._immutable:
                    self.close()  # a read-only folder: the next step looks again

    def _commit(self, db: sqlite3.Connection, work: Callable[[Tx], _T], doing: str) -> _T:
        for attempt in range(len(RETRY_DELAYS) + 1):
            self._secure()  # before SQLite writes the side files, and again after
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    result = work(SqliteTx(db))
                    db.execute("COMMIT")
                except BaseException:
                    rollback(db)
                    raise
            except sqlite3.Error as exc:
                if failure_of(exc).retry and attempt < len(RETRY_DELAYS):
                    time.sleep(RETRY_DELAYS[attempt])
                    continue
                raise database_error(exc, self.file, doing) from None
            finally:
                self._secure()
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def read(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        with self._lock:
            if self._db is None and is_empty(self.file):
                return []  # nothing authorized yet: do not create the file, or its tables, just to read it
            db = self.connect()
            try:
                rows: list[Row] = db.execute(sql, tuple(params)).fetchall()
                return rows
            except sqlite3.Error as exc:
                raise database_error(exc, self.file, "reading it") from None
            finally:
                if self._immutable:
                    self.close()  # read as it stood: the next read looks again

    # --- locks ------------------------------------------------------------------------------------

    def seller_locked(
        self, grant_id: int, *, stop: threading.Event | None = None, wait: float = WAIT_LIMIT, what: str = ""
    ) -> contextlib.AbstractContextManager[None]:
        return seller_locked(self.file, grant_id, stop=stop, wait=wait, what=what)

    @contextlib.contextmanager
    def exclusive(self, name: str) -> Iterator[str]:
        """Hold the named lock (a ``flock`` on its file beside the database, released when the
        process ends however it ends); yields "" when held, else who holds it."""
        lock = exclusive_lock_path(self.file, name)
        try:
            fd = open_lock_file(lock)
        except OSError as exc:
            raise SettingsError(f"cannot open the {name} lock {lock}: {exc.strerror or exc}") from None
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                    yield f"process {holder}" if holder.isdigit() else "another process"
                    return
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield ""
        finally:
            os.close(fd)  # releases the lock
