"""Read and update a ``.env`` file without losing anything else in it.

Updating rewrites only the lines of the keys being changed: every other line (comments, blank
lines, other keys, even lines python-dotenv cannot parse) is kept byte for byte. The new file is
written to a temporary file in the same folder with mode 0600, flushed to disk, and renamed over
the old one, so a crash leaves either the old file or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from .errors import SettingsError

__all__ = ["FILE_MODE", "format_line", "read_env", "update_env"]

FILE_MODE: Final = 0o600
_BARE: Final = re.compile(r"[A-Za-z0-9_./:@+\-=?&%~,]*")
_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def read_env(path: Path) -> dict[str, str]:
    """Return the key/value pairs of ``path`` ({} when it does not exist)."""
    if not path.exists():
        return {}
    try:
        values = dotenv_values(path, interpolate=False)
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"could not read {path.name}: {exc.__class__.__name__}") from None
    return {k: v for k, v in values.items() if v is not None}


def _quote(value: str) -> str:
    if _BARE.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def format_line(key: str, value: str) -> str:
    """Return ``KEY=value`` as python-dotenv reads it back unchanged."""
    if not _KEY.fullmatch(key):
        raise ValueError(f"not a valid setting name: {key!r}")
    if "\n" in value or "\r" in value or "\x00" in value:
        raise ValueError(f"the value of {key} contains a line break or NUL")
    return f"{key}={_quote(value)}\n"


def update_env(path: Path, updates: Mapping[str, str | None]) -> None:
    """Set (or, for ``None``, remove) keys in ``path``; keep every other line as it was.

    A key that appears several times keeps only its first line, which takes the new value (an
    inline comment on a replaced line goes with it). New keys are appended at the end.
    """
    try:
        # Bytes, not read_text(): universal newlines would turn a CRLF file into LF throughout.
        original = path.read_bytes().decode("utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"could not read {path.name}: {exc.__class__.__name__}") from None
    newline = "\r\n" if "\r\n" in original else "\n"
    new_lines = {
        key: (format_line(key, value).replace("\n", newline) if value is not None else "")
        for key, value in updates.items()
    }
    out: list[str] = []
    done: set[str] = set()
    for binding in parse_stream(io.StringIO(original, newline="")):
        key = binding.key
        text = binding.original.string
        if key is not None and key in new_lines:
            # python-dotenv counts the blank lines before a key as part of its binding: keep them.
            lead = text[: len(text) - len(text.lstrip())]
            out.append(lead + (new_lines[key] if key not in done else ""))
            done.add(key)
            continue
        out.append(text)
    missing = [k for k in updates if k not in done and new_lines[k]]
    if missing:
        if out and not out[-1].endswith("\n"):
            out.append(newline)
        out.extend(new_lines[k] for k in missing)
    _atomic_write(path, "".join(out))
    _remove_stale_temporaries(path)


#: A temporary file older than this was left by a save that was killed; a live save takes ms.
STALE_AFTER_SECONDS = 300.0


def _remove_stale_temporaries(path: Path) -> None:
    """Delete ``.<name>.*.tmp`` files left behind by saves that were killed mid-write."""
    now = time.time()
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if now - leftover.stat().st_mtime > STALE_AFTER_SECONDS:
                leftover.unlink()


def _atomic_write(path: Path, text: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    tmp_name = ""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
        tmp_name = ""
        _fsync_dir(folder)
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__
        raise SettingsError(f"could not write {path.name}: {reason}") from None
    finally:
        if tmp_name:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
