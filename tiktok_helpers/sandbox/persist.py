"""The sandbox's state file: atomic writes, cross-process locking and cheap change detection.

This module knows bytes and the JSON envelope (``{"version": 1, ...}``), not the sandbox's
objects: :mod:`.codec` encodes and decodes the payload, :mod:`.store` decides when to read and write.

* Writes go to a temporary file in the same folder (mode 0600: the file holds sandbox tokens),
  are fsynced and then ``os.replace``-d over the state file, so a reader sees the old or the new
  file, never half of one.
* Writers (and loaders, which may move a bad file aside) hold an exclusive ``flock`` on
  ``<name>.lock`` next to the state file, so two processes never lose each other's updates.
  Windows has no ``flock``; there the lock is skipped.
* :meth:`StateFile.changed` is a ``stat`` (inode, size, mtime_ns). A file modified less than
  :data:`RACY_NS` before it was last seen is "racy" (another write within the same timestamp
  tick could keep size and mtime): until it ages, its bytes are compared on every check.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

if sys.platform != "win32":
    import fcntl

__all__ = ["RACY_NS", "STATE_VERSION", "BadStateFile", "StateFile"]

STATE_VERSION: Final = 1
RACY_NS: Final = 3_000_000_000

logger = logging.getLogger("tiktok_helpers.sandbox")

_Signature = tuple[int, int, int, int]
#: Remembered when the file exists but cannot be stat-ed or read, so it is not retried until it changes.
_UNREADABLE: Final[_Signature] = (-1, -1, -1, -1)


class BadStateFile(Exception):
    """The state file is not valid; the message names the problem but never shows a value."""


def _signature(st: os.stat_result) -> _Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class StateFile:
    """One JSON state file. Not thread-safe: the caller serializes access with its own lock."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser().absolute()
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.corrupt_path = self.path.with_name(self.path.name + ".corrupt")
        #: Bytes last loaded or written by this instance (None: no file).
        self.content: bytes | None = None
        self._signature: _Signature | None = None
        self._racy = False
        self._lock_depth = 0
        self._lock_fd: int | None = None
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

    # ------------------------------------------------------------------ change detection
    def changed(self) -> bool:
        """True when the file may differ from :attr:`content` (a ``stat``; no read)."""
        try:
            signature: _Signature | None = _signature(os.stat(self.path))
        except FileNotFoundError:
            signature = None
        except OSError:
            signature = _UNREADABLE
        return signature != self._signature or self._racy

    def read(self) -> bytes | None:
        """The file's bytes (None when it does not exist); remembers what was seen.

        Raises OSError when the file exists but cannot be read; it then counts as unchanged
        until its ``stat`` changes.
        """
        try:
            with open(self.path, "rb") as handle:
                st = os.fstat(handle.fileno())
                data = handle.read()
        except FileNotFoundError:
            self._remember(None)
            return None
        except OSError:
            try:
                self._signature, self._racy = _signature(os.stat(self.path)), False
            except OSError:
                self._signature, self._racy = _UNREADABLE, False
            raise
        self._remember(st)
        return data

    def _remember(self, st: os.stat_result | None) -> None:
        if st is None:
            self._signature, self._racy = None, False
        else:
            self._signature = _signature(st)
            self._racy = time.time_ns() - st.st_mtime_ns < RACY_NS

    # ------------------------------------------------------------------ JSON envelope
    @staticmethod
    def decode(data: bytes) -> dict[str, Any]:
        """Parse the envelope; raise :class:`BadStateFile` for bad JSON or an unknown version."""
        try:
            payload = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise BadStateFile("not UTF-8 text") from None
        except json.JSONDecodeError as err:
            raise BadStateFile(f"not JSON (line {err.lineno}, column {err.colno})") from None
        if not isinstance(payload, dict):
            raise BadStateFile("not a JSON object")
        version = payload.get("version")
        if type(version) is not int or version != STATE_VERSION:
            raise BadStateFile(f"unknown version (this sandbox reads version {STATE_VERSION})")
        return payload

    @staticmethod
    def encode(payload: dict[str, Any]) -> bytes:
        return (json.dumps({"version": STATE_VERSION, **payload}, indent=1, sort_keys=True) + "\n").encode()

    # ------------------------------------------------------------------ writing
    def write(self, data: bytes) -> None:
        """Atomically replace the file with ``data`` (temporary file, fsync, os.replace, 0600)."""
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                if sys.platform != "win32":
                    os.fchmod(handle.fileno(), 0o600)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._fsync_folder()
        self.content = data
        self._remember(os.stat(self.path))

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)
        self._fsync_folder()
        self.content = None
        self._remember(None)

    def quarantine(self) -> Path | None:
        """Move the file aside as ``<name>.corrupt``; returns that path (None if it failed)."""
        try:
            os.replace(self.path, self.corrupt_path)
        except OSError:
            return None
        self._remember(None)
        return self.corrupt_path

    def _fsync_folder(self) -> None:
        if sys.platform == "win32":
            return
        with contextlib.suppress(OSError):
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    # ------------------------------------------------------------------ locking
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive cross-process lock (re-entrant within the caller's thread lock)."""
        if self._lock_depth == 0:
            self._lock_fd = self._acquire()
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0:
                fd, self._lock_fd = self._lock_fd, None
                if fd is not None:
                    os.close(fd)  # closing the descriptor releases the flock

    def _acquire(self) -> int | None:
        if sys.platform == "win32":
            return None
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            logger.warning(
                "cannot open the sandbox lock file %s (%s); continuing without the cross-process lock",
                self.lock_path,
                err.strerror or type(err).__name__,
            )
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        return fd
