"""Read and update a ``.env`` file without losing anything in it.

* **One writer at a time.** :func:`update_env` is a read-modify-write under an exclusive
  ``flock`` on a lock file beside the file (``.<name>.lock``, mode 0600, created when missing and
  never deleted: deleting a lock file lets two processes lock two different files of one name).
  It reads the file *under the lock*, so two processes saving at once (a notebook and the command
  line, two sellers' commands) both land; :func:`locked` holds the same lock for a longer critical
  section. The kernel releases a ``flock`` when its process dies, so a killed save blocks nobody.
* **Old or new, never half.** The new file is written to a temporary file in the same folder with
  mode 0600, flushed to disk, and renamed over the old one. A save that was killed can leave only its
  temporary file, which the next save removes (saves are serialized, so any ``.<name>.*.tmp`` found
  under the lock belongs to no live save).
* **Every other line kept.** Only the lines of the keys being changed are rewritten; comments, blank
  lines, other keys, ``export`` and CRLF line ends are kept byte for byte.
* **An unreadable line stops everything.** python-dotenv skips a line it cannot parse with a warning
  (an unclosed quote can even swallow the lines below it); values written below such a line may never
  be read back. :func:`read_env` and :func:`update_env` refuse such a file with
  :class:`~tiktok_helpers.errors.EnvFileError` (line number, key name, never the value) before reading
  or writing anything.
* **A symbolic link stays a link.** Writes go to the file the link points to (created when the link
  dangles), in that file's folder; the lock is beside that file too, so two links to one file share
  one lock.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from dotenv.parser import parse_stream

from .errors import EnvFileError, SettingsError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    # No flock on Windows. The runbook supports Linux and macOS; on Windows it still imports and
    # saves (atomically), but two processes saving at the same moment are not serialized there.
    HAVE_FLOCK = False
else:
    HAVE_FLOCK = True

__all__ = [
    "FILE_MODE",
    "HAVE_FLOCK",
    "NO_LOCKING",
    "format_line",
    "fsync_dir",
    "lock_file_of",
    "locked",
    "open_lock_file",
    "read_env",
    "target_of",
    "update_env",
]

FILE_MODE: Final = 0o600
_BARE: Final = re.compile(r"[A-Za-z0-9_./:@+\-=?&%~,]*")
_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NEWLINE: Final = re.compile(r"\r\n|\n|\r")
_BOM: Final = "\ufeff"
#: A setting line's start as far as its ``=``: the key is the only part of a bad line ever shown.
_LINE_START: Final = re.compile(r"[^\S\r\n]*(?:export[^\S\r\n]+)?([^=#\s]+)[^\S\r\n]*=[^\S\r\n]*")
#: filesystems where locks are not supported: saving goes on unlocked rather than not at all.
NO_LOCKING: Final = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})


# --- reading -------------------------------------------------------------------------------------


def read_env(path: Path | str) -> dict[str, str]:
    """Return the key/value pairs of ``path`` ({} when it does not exist), as python-dotenv reads them.

    Raises :class:`EnvFileError` when a line cannot be parsed, :class:`SettingsError` when the file
    cannot be read.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"could not read {path.name}: {exc.strerror or exc.__class__.__name__}") from None
    text = _decode(raw, path).removeprefix(_BOM)  # python-dotenv skips it too
    # Universal newlines, as python-dotenv's own dotenv_values() opens the file (a multi-line quoted
    # value reads the same); line numbers are not changed by it.
    document = _parse(io.StringIO(text, newline=None).read())
    document.raise_for_problems(path)
    values: dict[str, str | None] = {}
    for key, value, _ in document.bindings:
        if key is not None:
            values[key] = value  # the last line wins, even a bare ``KEY`` (no value), as in python-dotenv
    return {key: value for key, value in values.items() if value is not None}


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"could not read {path.name}: it is not UTF-8 text") from None


@dataclass(frozen=True)
class _Problem:
    line: int
    key: str | None
    reason: str


@dataclass(frozen=True)
class _Document:
    """A parsed file: each binding's (key, value, original text) in order, and the unreadable lines.
    The original texts, joined, are the parsed text exactly."""

    bindings: list[tuple[str | None, str | None, str]]
    problems: list[_Problem]

    def raise_for_problems(self, path: Path) -> None:
        if self.problems:
            first, *more = self.problems
            raise EnvFileError(str(path), first.line, first.key, first.reason, [p.line for p in more])


def _parse(text: str) -> _Document:
    """Parse ``text`` (no BOM) with python-dotenv's own parser, noting every line it cannot read."""
    bindings: list[tuple[str | None, str | None, str]] = []
    problems: list[_Problem] = []
    offset = 0
    for binding in parse_stream(io.StringIO(text, newline="")):
        original = binding.original.string
        if binding.error:
            # python-dotenv counts the blank lines before a line as part of it: skip them.
            start = offset + len(original) - len(original.lstrip())
            problems.append(_problem_at(text, start))
        bindings.append((binding.key, binding.value, original))
        offset += len(original)
    return _Document(bindings, problems)


def _problem_at(text: str, start: int) -> _Problem:
    """Describe the unreadable line that starts at ``start``: its number, its key, what is wrong."""
    line = 1 + len(_NEWLINE.findall(text, 0, start))
    match = _LINE_START.match(text, start)
    if match is None:
        return _Problem(line, None, "python-dotenv cannot read this line (a setting is written NAME=value)")
    name = match.group(1)
    key = name if _KEY.fullmatch(name) and len(name) <= 64 else None
    quote = text[match.end() : match.end() + 1]
    if quote in ("'", '"'):
        body = r"(?:\\.|[^'\\])*" if quote == "'" else r'(?:\\.|[^"\\])*'
        closed = re.compile(quote + body + quote, re.DOTALL).match(text, match.end())
        end_of_line = _NEWLINE.search(text, match.end())
        if closed is None or (end_of_line is not None and closed.end() > end_of_line.start()):
            return _Problem(line, key, f"an opening quote ({quote}) is never closed on this line")
        return _Problem(line, key, "there is text after the closing quote (put the whole value in the quotes)")
    return _Problem(line, key, "python-dotenv cannot read this line")


# --- writing -------------------------------------------------------------------------------------


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


def update_env(path: Path | str, updates: Mapping[str, str | None]) -> None:
    """Set (or, for ``None``, remove) keys in ``path``; keep every other line as it was.

    A key that appears several times keeps only its first line, which takes the new value (an
    inline comment on a replaced line goes with it). New keys are appended at the end. The whole
    read-modify-write holds :func:`locked`; a file with a line python-dotenv cannot read raises
    :class:`EnvFileError` and is left byte for byte as it was.
    """
    path = Path(path)
    lines = {key: (format_line(key, value) if value is not None else "") for key, value in updates.items()}
    with locked(path) as target:
        _remove_leftover_temporaries(target)
        try:
            # Bytes, not read_text(): universal newlines would turn a CRLF file into LF throughout.
            original = _decode(target.read_bytes(), path) if target.exists() else ""
        except OSError as exc:
            raise SettingsError(f"could not read {path.name}: {exc.strerror or exc.__class__.__name__}") from None
        _atomic_write(target, _updated(original, lines, path), shown=path)


def _updated(original: str, lines: Mapping[str, str], path: Path) -> str:
    """``original`` with ``lines`` applied (``""`` removes a key); raises on an unreadable line."""
    bom = _BOM if original.startswith(_BOM) else ""
    document = _parse(original[len(bom) :])
    document.raise_for_problems(path)
    newline = "\r\n" if "\r\n" in original else "\n"
    new_lines = {key: line.replace("\n", newline) for key, line in lines.items()}
    out: list[str] = [bom]
    done: set[str] = set()
    for key, _, text in document.bindings:
        if key is not None and key in new_lines:
            # python-dotenv counts the blank lines before a key as part of its binding: keep them.
            lead = text[: len(text) - len(text.lstrip())]
            out.append(lead + (new_lines[key] if key not in done else ""))
            done.add(key)
            continue
        out.append(text)
    missing = [k for k in new_lines if k not in done and new_lines[k]]
    if missing:
        if len(out) > 1 and not out[-1].endswith(("\n", "\r")):
            out.append(newline)
        out.extend(new_lines[k] for k in missing)
    return "".join(out)


# --- where the bytes go: links, the lock, temporary files ---------------------------------------


def target_of(path: Path | str) -> Path:
    """The file a save of ``path`` writes: ``path`` itself, or the file a symbolic link points to
    (which need not exist yet). A link that loops is a :class:`SettingsError`."""
    path = Path(path)
    target = Path(os.path.realpath(path))
    if target.is_symlink():  # realpath gives up on a loop and returns a link
        raise SettingsError(f"could not write {path.name}: it is a symbolic link that loops back on itself")
    return target


def lock_file_of(path: Path | str) -> Path:
    """The lock file of ``path``: ``.<name>.lock`` beside the file a save writes (the link's target).

    Beside the target, not the link: two links to one file must share one lock, and the lock file
    lives where the temporary files of the save do.
    """
    target = target_of(path)
    return target.with_name(f".{target.name}.lock")


_held = threading.local()


def open_lock_file(lock: Path) -> int:
    """Open (or create, 0600) a lock file, never through a symlink; a lock file restored with a wider
    mode is made 0600 again. Raises OSError."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    with contextlib.suppress(OSError):
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, FILE_MODE)
    return fd


def _held_locks() -> set[str]:
    """The lock files this thread holds (so :func:`update_env` inside :func:`locked` does not wait
    for itself)."""
    held: set[str] | None = getattr(_held, "locks", None)
    if held is None:
        held = _held.locks = set()
    return held


def _forget_held_locks() -> None:
    # A forked child shares the parent's lock but must not count on it: the parent may release it.
    global _held
    _held = threading.local()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_held_locks)


@contextlib.contextmanager
def locked(path: Path | str) -> Iterator[Path]:
    """Hold the exclusive lock of ``path`` (an inter-process ``flock``); yield the file to write
    (``path``, or the target of a link). Re-entrant within a thread: :func:`update_env` inside the
    block uses the lock already held. Blocks until other processes' saves are done (milliseconds)."""
    path = Path(path)
    target = target_of(path)
    lock = target.with_name(f".{target.name}.lock")
    held = _held_locks()
    if str(lock) in held or not HAVE_FLOCK:
        yield target
        return
    try:
        fd = open_lock_file(lock)
    except OSError as exc:
        raise SettingsError(
            f"could not write {path.name}: could not open its lock file {lock.name} in {lock.parent}: "
            f"{exc.strerror or exc.__class__.__name__}"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            locking = True
        except OSError as exc:
            if exc.errno not in NO_LOCKING:
                raise SettingsError(f"could not lock {path.name}: {exc.strerror or exc}") from None
            locking = False
            warnings.warn(
                f"the filesystem of {lock.parent} does not support file locks: saves of {path.name} by "
                "two programs at the same moment are not serialized",
                RuntimeWarning,
                stacklevel=3,
            )
        if not locking:
            yield target
            return
        held.add(str(lock))
        try:
            yield target
        finally:
            held.discard(str(lock))
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _temporary_pattern(target: Path) -> re.Pattern[str]:
    # mkstemp(prefix=".<name>.", suffix=".tmp") adds letters, digits and "_" only: another file's
    # temporaries (".env.local" -> "..env.local.XXXXXXXX.tmp") have one more dot and never match.
    return re.compile(re.escape(f".{target.name}.") + r"[A-Za-z0-9_]+\.tmp")


def _remove_leftover_temporaries(target: Path) -> None:
    """Delete the ``.<name>.*.tmp`` files of saves that were killed mid-write. Called under the lock:
    saves are serialized, so no live save owns one."""
    pattern = _temporary_pattern(target)
    try:
        names = os.listdir(target.parent)
    except OSError:
        return
    for name in names:
        if pattern.fullmatch(name):
            with contextlib.suppress(OSError):
                os.unlink(target.parent / name)


def _atomic_write(path: Path, text: str, *, shown: Path | None = None) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename; ``shown`` is the name used in
    messages (the one the user gave, when ``path`` is a link's target)."""
    name = (shown or path).name
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
        fsync_dir(folder)
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__
        raise SettingsError(f"could not write {name}: {reason}") from None
    finally:
        if tmp_name:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def fsync_dir(folder: Path) -> None:
    """Make a new or renamed name in ``folder`` survive a crash (best effort: not every system can)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
