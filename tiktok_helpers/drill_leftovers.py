"""The training runbooks killed kernels leave behind, found and removed the next time training starts.

:func:`~tiktok_helpers.drills.open_training_session` marks each training runbook it makes (a marker
file naming this purpose, the process and the host); a running one touches it on use. A folder is a
leftover only when it is named ``runbook-drills-*``, is not a link, belongs to this user, carries
that marker, and its process is gone (same host) or it was not used for two days. Nothing else is
ever removed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Final

from .drills import MARKER, MARKER_WHAT, PREFIX

__all__ = ["STALE_AFTER", "remove_leftovers"]

#: A marked training runbook unused this long (seconds) is a leftover, whatever its recorded process.
STALE_AFTER: Final = 2 * 24 * 3600.0


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would end the process there: the age rule decides instead
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (PermissionError): alive
        pass
    return True


def _leftover(path: Path, now: float) -> bool:
    """Whether ``path`` is a training runbook :mod:`.drills` made whose process is gone (or that is stale)."""
    try:
        marker = path / MARKER
        if path.is_symlink() or not path.is_dir() or marker.is_symlink() or not marker.is_file():
            return False
        if hasattr(os, "getuid") and path.stat().st_uid != os.getuid():
            return False
        info = json.loads(marker.read_text(encoding="utf-8"))
        age = now - marker.stat().st_mtime
    except (OSError, ValueError):
        return False
    if not isinstance(info, dict) or info.get("what") != MARKER_WHAT:
        return False
    pid, here = info.get("pid"), info.get("host") == socket.gethostname()
    return (here and isinstance(pid, int) and not _alive(pid)) or age > STALE_AFTER


def remove_leftovers(parent: Path | str | None = None, *, now: float | None = None) -> list[Path]:
    """Remove the training runbooks killed kernels left in ``parent`` (default: the temporary folder):
    only folders named ``runbook-drills-*``, not links, owned by this user and carrying the marker
    :func:`~tiktok_helpers.drills.open_training_session` writes, whose process is gone or which were
    not used for two days. Returns what was removed."""
    base, removed = Path(parent) if parent is not None else Path(tempfile.gettempdir()), []
    for path in sorted(base.glob(f"{PREFIX}*")):
        if _leftover(path, time.time() if now is None else now):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
