"""The state database file: shared by every sandbox on the same path, one transaction per operation.

:class:`StateDatabase` owns one SQLite connection (standard library :mod:`sqlite3`) to the file
(or, without a path, to a private in-memory database) and the lock that serializes this
process's threads on it; :mod:`.schema` holds the tables, :mod:`.store` the queries.

* The file is created with mode 0600 (it holds sandbox tokens; SQLite gives its ``-wal`` and
  ``-shm`` files the same mode) in a folder created with mode 0700. A folder someone else created
  first (``session`` makes ``.sandbox/`` with the umask's 0755) loses its group and others' access
  when it is this user's and holds nothing but this state's files (never a shared folder such as
  the project's or ``/tmp``); nothing is ever granted. It runs in WAL mode
  (``synchronous=NORMAL``): readers never wait, writers take turns (``BEGIN IMMEDIATE``, waiting
  up to :data:`BUSY_TIMEOUT` seconds), and a commit appends the changed pages to the WAL, so its
  cost does not grow with the size of the database. A commit survives the process; a power cut
  may lose the last ones (a sandbox's data).
* Every sandbox process on the same path reads and writes the same file, so nothing is cached:
  each operation is one transaction that sees every earlier commit of every process.
* Before each operation a ``stat`` of the path checks that it is still the file that is open:
  a file deleted or replaced by another program is opened again (a deleted one is created empty),
  and a file overwritten in place (its size is no longer a whole number of database pages) is
  treated as not usable.
* A file of an older schema version is upgraded in place when opened (:func:`.schema.upgrade`:
  its data is kept). A file that is not usable (not an SQLite database, a database of another
  program, an unknown schema version, unexpected tables, or SQLite reports it corrupt) is moved
  aside as ``<name>.corrupt`` (with its ``-wal`` and ``-shm`` files, as ``<name>.corrupt-wal``
  and ``<name>.corrupt-shm``) with one warning on the ``tiktok_helpers.sandbox`` logger naming the
  problem, never a value, and the sandbox continues from an empty database. Opening and moving
  aside happen under an exclusive ``flock`` on ``<name>.lock`` (skipped on Windows), so two
  processes never both move a file aside. When even a fresh file cannot be used, the state is
  kept in memory in this process, with a warning.
* A folder or file this user cannot create or write at the start (a read-only project, a full
  disk) raises :class:`StateFileError`: which path, and what to do. Kept in memory, the state
  would silently not reach the next notebook or command.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import stat
import sys
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from . import schema

if sys.platform != "win32":
    import fcntl

__all__ = ["BUSY_TIMEOUT", "StateDatabase", "StateFileError"]

logger = logging.getLogger("tiktok_helpers.sandbox")

#: Seconds a writer waits for another one (in any process) before giving up.
BUSY_TIMEOUT: Final = 30.0
#: Every SQLite page size is a multiple of this: a database file's size always is too.
_PAGE_QUANTUM: Final = 512
_SQLITE_BUSY: Final = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED: someone else holds it, nothing is wrong
_SQLITE_BAD_FILE: Final = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
_SQLITE_NOT_WRITABLE: Final = (3, 8, 13, 14)  # SQLITE_PERM, SQLITE_READONLY, SQLITE_FULL, SQLITE_CANTOPEN
_NOT_WRITABLE: Final = frozenset(
    {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
)

_Identity = tuple[int, int]


class StateFileError(OSError):
    """The state file cannot be created or written: the message names the path and what to do."""

    def __init__(self, path: Path, problem: str, err: BaseException, folder: Path) -> None:
        super().__init__(
            f"cannot keep the sandbox's state in {path}: {problem} ({_why(err)}). Make {folder} a folder this user can "
            "write to, or set TIKTOK_SANDBOX_URL to the address of a sandbox already running "
            "(python -m tiktok_helpers.sandbox prints it)"
        )
        self.path = path


class StateDatabase:
    """The connection to the state database at ``path`` (None: a private in-memory database)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.lock = threading.RLock()
        self.path = Path(path).expanduser().absolute() if path is not None else None
        self._identity: _Identity | None = None  # the open file's (st_dev, st_ino); None: in memory
        self._depth = 0
        self._writing = False
        self._opening = True  # the first open: a folder that cannot be written raises StateFileError
        self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._finalizer = weakref.finalize(self, self._conn.close)
        with self.lock:
            if self.path is None:
                schema.create(self._conn)
                return
            folder = self.path.parent
            try:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as err:
                nearest = next((p for p in folder.parents if p.is_dir()), folder.anchor)
                raise StateFileError(self.path, f"cannot create the folder {folder}", err, Path(nearest)) from None
            _make_private(self.path)
            self._reopen()
            self._opening = False

    def sync(self) -> None:
        """Open the file again if it was deleted or replaced since the last operation."""
        with self.lock:
            if self._depth == 0:
                self._check_file()

    @contextlib.contextmanager
    def transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction (joined by nested ones); commits on success, rolls back on an exception.

        A write transaction starts with ``BEGIN IMMEDIATE``; a read one sees one snapshot.
        """
        with self.lock:
            if self._depth:
                if write and not self._writing:
                    raise RuntimeError("a write cannot start inside a read transaction")
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            self._check_file()
            conn = self._conn
            self._depth, self._writing = 1, write
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError) and _error_code(exc) in _SQLITE_BAD_FILE:
                    self._depth = 0
                    self._reopen(f"SQLite reports: {exc}")
                raise
            finally:
                self._depth, self._writing = 0, False

    # ------------------------------------------------------------------ the file
    def _check_file(self) -> None:
        """Reopen if the path no longer holds the open file; the caller holds ``self.lock``."""
        if self._identity is None or self.path is None:
            return
        try:
            st: os.stat_result | None = os.stat(self.path)
        except OSError:
            st = None
        if st is not None and _identity(st) == self._identity and _whole_pages(st):
            return
        self._reopen()

    def _reopen(self, problem: str | None = None) -> None:
        """(Re)open the file at the path, moving a bad one aside; the caller holds ``self.lock``.

        ``problem``: the open file was found unusable (by SQLite) and is moved aside first.
        """
        path = self.path
        assert path is not None
        with self._file_lock():
            suspect = self._identity
            try:
                st: os.stat_result | None = os.stat(path)
            except OSError:
                st = None
            if st is not None and suspect is not None and _identity(st) == suspect:
                if problem is None and not _whole_pages(st):
                    problem = "it was overwritten: its size is not a whole number of database pages"
                if problem is not None and not self._quarantine(problem):
                    self._use(None, None)  # it could not be moved aside: in memory from now on
                    return
            self._use(None, None)
            for attempt in range(2):
                try:
                    conn, identity = self._connect(path)
                except (OSError, sqlite3.Error, schema.BadStateDatabase) as err:
                    if isinstance(err, sqlite3.Error) and _error_code(err) in _SQLITE_BUSY:
                        raise
                    if self._opening and _not_writable(err):  # say so: do not move a good file aside
                        raise StateFileError(path, "it cannot be created or written", err, path.parent) from None
                    if attempt == 0 and os.path.lexists(path) and self._quarantine(_describe(err)):
                        continue
                    logger.warning(
                        "cannot use the sandbox state file %s (%s); the state is kept in this process only",
                        path,
                        _describe(err),
                    )
                    return
                self._use(conn, identity)
                return

    def _connect(self, path: Path) -> tuple[sqlite3.Connection, _Identity]:
        try:  # a new file is created private; an existing one is never opened here (see _use)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            os.close(fd)
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise schema.BadStateDatabase("not a regular file")
        if sys.platform != "win32" and stat.S_IMODE(st.st_mode) & 0o077:
            with contextlib.suppress(OSError):  # someone else's file: use it as it is
                os.chmod(path, 0o600)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        try:
            empty = schema.check(conn)  # reads only: a refused file stays byte for byte as it was
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            if empty:
                conn.execute("BEGIN IMMEDIATE")
                if schema.check(conn):  # still empty: no other process created it meanwhile
                    schema.create(conn)
                conn.execute("COMMIT")
            elif schema.outdated(conn):  # an older version: upgraded in place, its data kept
                conn.execute("BEGIN IMMEDIATE")
                schema.upgrade(conn)  # does nothing if another process upgraded it meanwhile
                conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        return conn, _identity(st)

    def _use(self, conn: sqlite3.Connection | None, identity: _Identity | None) -> None:
        """Switch to ``conn`` (None: a fresh in-memory database) and close the previous connection.

        Closing a connection is the only way this class lets go of the file: Python never opens
        and closes a descriptor of a database SQLite has open (on POSIX that would drop SQLite's
        locks for the whole process).
        """
        self._finalizer.detach()
        self._conn.close()
        if conn is None:
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            schema.create(conn)
        self._conn, self._identity = conn, identity
        self._finalizer = weakref.finalize(self, conn.close)

    def _quarantine(self, problem: str) -> bool:
        """Move the file (and its -wal/-shm) aside and warn; False if it could not be moved."""
        path = self.path
        assert path is not None
        corrupt = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, corrupt)
        except FileNotFoundError:
            return True
        except OSError:
            logger.warning(
                "sandbox state file %s is not usable (%s); starting from empty state in this process only, "
                "the file was left in place (it could not be moved)",
                path,
                problem,
            )
            return False
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.replace(f"{path}{suffix}", f"{corrupt}{suffix}")
        logger.warning(
            "sandbox state file %s is not usable (%s); starting from empty state, the file was moved to %s",
            path,
            problem,
            corrupt,
        )
        return True

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Exclusive cross-process lock for opening and moving aside (none on Windows)."""
        fd: int | None = None
        if sys.platform != "win32":
            assert self.path is not None
            lock_path = self.path.with_name(self.path.name + ".lock")
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as err:
                if self._opening and err.errno in _NOT_WRITABLE:
                    raise StateFileError(self.path, "cannot create its lock file", err, lock_path.parent) from None
                logger.warning(
                    "cannot open the sandbox lock file %s (%s); continuing without the cross-process lock",
                    lock_path,
                    err.strerror or type(err).__name__,
                )
            else:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
        try:
            yield
        finally:
            if fd is not None:
                os.close(fd)  # closing the descriptor releases the flock


def _make_private(path: Path) -> None:
    """Take group and others' access to the state file's folder away if the folder is this user's
    and holds only this state's files (``state.db``, its -wal, -shm, .lock, .corrupt...): a folder
    of its own. Never adds a permission, never touches a shared folder (sticky, or holding others)."""
    if sys.platform == "win32":
        return
    folder = path.parent
    try:
        st = os.stat(folder)
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid != os.geteuid() or not mode & 0o077 or mode & stat.S_ISVTX:
            return
        if all(name.startswith(path.name) for name in os.listdir(folder)):
            os.chmod(folder, mode & ~0o077)
    except OSError as err:
        logger.debug("cannot check the mode of %s: %s", folder, _why(err))


def _not_writable(err: BaseException) -> bool:
    if isinstance(err, sqlite3.Error):
        return _error_code(err) in _SQLITE_NOT_WRITABLE
    return isinstance(err, OSError) and err.errno in _NOT_WRITABLE


def _why(err: BaseException) -> str:
    if isinstance(err, OSError):
        return err.strerror or type(err).__name__
    return f"SQLite: {err}"


def _identity(st: os.stat_result) -> _Identity:
    return (st.st_dev, st.st_ino)


def _whole_pages(st: os.stat_result) -> bool:
    return st.st_size > 0 and st.st_size % _PAGE_QUANTUM == 0


def _error_code(err: sqlite3.Error) -> int | None:
    code = getattr(err, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return int(code) & 0xFF
    text = str(err).lower()  # Python 3.10: the message is all there is
    if "locked" in text or "busy" in text:
        return 5
    if "readonly" in text or "unable to open" in text:
        return 8 if "readonly" in text else 14
    if "not a database" in text or "malformed" in text:
        return 26
    return None


def _describe(err: BaseException) -> str:
    if isinstance(err, OSError):
        return f"unreadable: {err.strerror or type(err).__name__}"
    if isinstance(err, schema.BadStateDatabase):
        return str(err)
    return f"SQLite: {err}"
