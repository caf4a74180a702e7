"""One refresh per seller at a time, across processes and threads.

A refresh spends the seller's refresh token. Two refreshes of one seller at once would spend the same
token twice; if a refresh replaces the refresh token (TikTok does not document whether it does), the
second is refused (36004005) although the authorization is fine. So a refresh holds its seller's
lock from reading the grant as stored now until the new pair is committed (:mod:`.bulk`).

The lock, per seller:

* across processes, a POSIX byte-range lock (``fcntl.lockf``) on ONE lock file beside the grant
  database (``<grants db>.lock``: ``.env.grants.db.lock``), one byte per grant, at offset = the
  grant's id. The file is created 0600, holds no data and is never deleted (deleting a lock file
  lets two processes lock two different files of one name). The kernel releases a process's record
  locks when it dies, so a killed refresh blocks nobody.
* within a process, a :class:`threading.Lock` per grant: POSIX record locks belong to the process,
  so they do not exclude its threads (two sessions in one notebook kernel, a bulk refresh).

Two traps of record locks are avoided: closing ANY descriptor of the file drops every lock the
process holds on it, so each process opens the file once per path and closes it only when no thread
holds or awaits a lock on it; and the kernel's deadlock detection counts processes, not threads, so
it can refuse a wait between two multi-threaded bulk refreshes that is no deadlock. Waiting is
therefore polled (a few milliseconds, then up to :data:`POLL_MAX`): a stop request ends the wait at
once, before anything is sent.

On a filesystem without record locks (some network mounts) the refresh warns and goes on with the
in-process lock only, as saving ``.env`` does (:mod:`.envfile`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from .envfile import FILE_MODE, NO_LOCKING, open_lock_file
from .errors import SettingsError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the in-process lock only
    HAVE_LOCKF = False
else:
    HAVE_LOCKF = True

__all__ = ["FILE_MODE", "HAVE_LOCKF", "WAIT_LIMIT", "StopRequested", "Wait", "lock_path_of", "seller_locked"]

#: How long a refresh waits for another refresh of the same seller (a refresh takes one request).
WAIT_LIMIT: Final = 120.0
#: The longest pause between two tries of a lock that is held.
POLL_MAX: Final = 0.05
#: The lock is held by another process.
_BUSY: Final = frozenset({errno.EACCES, errno.EAGAIN})


class StopRequested(Exception):
    """A stop was requested (Ctrl-C, SIGTERM) while waiting for a seller's lock: nothing was sent."""


def lock_path_of(grants_path: Path | str) -> Path:
    """The lock file of a grant database: ``<grants db>.lock`` beside it."""
    path = Path(grants_path)
    return path.with_name(path.name + ".lock")


class _LockFile:
    """One process's descriptor of one lock file, and its threads' locks per grant."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.users = 0  #: threads holding or awaiting a lock on this file
        self.grants: dict[int, threading.Lock] = {}
        self.locking = HAVE_LOCKF


_registry = threading.Lock()
_files: dict[str, _LockFile] = {}


def _forget_after_fork() -> None:
    # A forked child holds none of its parent's record locks: it starts afresh (its copies of the
    # descriptors are closed; that drops nothing of the parent's).
    global _registry
    _registry = threading.Lock()
    for entry in _files.values():
        with contextlib.suppress(OSError):
            os.close(entry.fd)
    _files.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def _open(lock: Path) -> int:
    try:
        return open_lock_file(lock)
    except OSError as exc:
        raise SettingsError(
            f"could not open the lock file {lock.name} in {lock.parent} "
            f"({exc.strerror or exc.__class__.__name__}): nothing was sent"
        ) from None


def _enter(lock: Path, grant_id: int) -> tuple[_LockFile, threading.Lock]:
    with _registry:
        entry = _files.get(str(lock))
        if entry is None:
            entry = _files[str(lock)] = _LockFile(_open(lock))
        entry.users += 1
        return entry, entry.grants.setdefault(grant_id, threading.Lock())


def _leave(lock: Path, entry: _LockFile) -> None:
    with _registry:
        entry.users -= 1
        if entry.users == 0 and _files.get(str(lock)) is entry:
            del _files[str(lock)]
            os.close(entry.fd)  # no lock of this process is held on it any more


def _try_record_lock(entry: _LockFile, lock: Path, grant_id: int) -> bool:
    """Take the process-wide byte lock of ``grant_id``; False while another process holds it."""
    if not entry.locking:
        return True
    try:
        fcntl.lockf(entry.fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, grant_id, os.SEEK_SET)
    except OSError as exc:
        if exc.errno in _BUSY:
            return False
        if exc.errno not in NO_LOCKING:
            raise SettingsError(f"could not lock {lock.name}: {exc.strerror or exc}; nothing was sent") from None
        entry.locking = False
        warnings.warn(
            f"the filesystem of {lock.parent} does not support file locks: two programs refreshing one "
            "seller at the same moment are not kept apart",
            RuntimeWarning,
            stacklevel=4,
        )
    return True


class Wait:
    """A wait for a held lock: polled, ended by a stop request or the time limit."""

    def __init__(self, what: str, limit: float, stop: threading.Event | None) -> None:
        self.what, self.limit, self.stop = what, limit, stop
        self.deadline = time.monotonic() + limit
        self.tries = 0

    def pause(self) -> None:
        """Sleep a little (longer the longer the wait), or end the wait: nothing has been sent."""
        if self.stop is not None and self.stop.is_set():
            raise StopRequested(f"stopped while waiting for another refresh of {self.what}")
        if time.monotonic() >= self.deadline:
            raise SettingsError(
                f"another refresh of {self.what} has been running for {self.limit:.0f} s (another program, or a "
                "request that hangs): nothing was sent; try again when it is done"
            )
        self.tries += 1
        pause = min(POLL_MAX, 0.001 * 2 ** min(self.tries, 8))
        if self.stop is not None:
            self.stop.wait(pause)
        else:
            time.sleep(pause)


@contextlib.contextmanager
def seller_locked(
    grants_path: Path | str,
    grant_id: int,
    *,
    stop: threading.Event | None = None,
    wait: float = WAIT_LIMIT,
    what: str = "",
) -> Iterator[None]:
    """Hold the refresh lock of grant ``grant_id`` of the database at ``grants_path`` (across
    processes and threads). Waits while another refresh of that seller holds it: up to ``wait``
    seconds (then :class:`SettingsError`), or until ``stop`` is set (then :class:`StopRequested`);
    either way nothing was sent. ``what`` names the seller in those messages."""
    lock = lock_path_of(grants_path)
    waiting = Wait(what or f"seller #{grant_id}", wait, stop)
    entry, mine = _enter(lock, grant_id)
    try:
        while not mine.acquire(timeout=POLL_MAX):
            waiting.pause()
        try:
            while not _try_record_lock(entry, lock, grant_id):
                waiting.pause()
            try:
                yield
            finally:
                if entry.locking:
                    with contextlib.suppress(OSError):
                        fcntl.lockf(entry.fd, fcntl.LOCK_UN, 1, grant_id, os.SEEK_SET)
        finally:
            mine.release()
    finally:
        _leave(lock, entry)
