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
    new_lines = {key: (format_line(key, value) if value is not None else "") for key, value in updates.items()}
    try:
        original = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"could not read {path.name}: {exc.__class__.__name__}") from None
    out: list[str] = []
    done: set[str] = set()
    for binding in parse_stream(io.StringIO(original)):
        key = binding.key
        if key is not None and key in new_lines:
            if key not in done:
                out.append(new_lines[key])
                done.add(key)
            continue
        out.append(binding.original.string)
    missing = [k for k in updates if k not in done and new_lines[k]]
    if missing:
        if out and not out[-1].endswith("\n"):
            out.append("\n")
        out.extend(new_lines[k] for k in missing)
    _atomic_write(path, "".join(out))


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
    except OSError as exc:
        raise SettingsError(f"could not write {path.name}: {exc.strerror or exc.__class__.__name__}") from None
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
