"""Moving every seller's grant from one grant store to another (``sellers export`` / ``sellers import``).

A team moving its grants from the SQLite file beside ``.env`` to a PostgreSQL database (or back)
exports them to a file on one side and imports that file on the other. The file is JSON::

    {"format": "tiktok-runbook-grants", "version": 1, "exported_at": "2026-...+00:00",
     "source": "<where they were, password masked>", "mode": "sandbox", "app_key": "...",
     "grants": [{"id_in_source": 1, "open_id": ..., "refresh_token": ..., ...}, ...]}

each grant with every column :func:`~tiktok_helpers.grant_rows.grant_values` gives (tokens, shops,
store key, who refreshes it, expiries...), as the store writes them. It holds every seller's tokens:

* :func:`export_grants` creates it readable by its owner only (0600 from the first byte, whatever
  the umask), complete or not at all (a temporary file in the same folder, synced, then linked to
  its name), and never over an existing file;
* :func:`read_export` checks everything before anything is imported: one problem is one line naming
  the file and the entry, never a token; a file others can read is imported, and said
  (:attr:`Export.exposed`): refusing would not make the tokens secret again;
* :func:`import_export` takes each grant in with :meth:`~tiktok_helpers.grants.GrantStore.adopt`
  (a seller already there keeps the newer grant), so importing twice changes nothing, and an import
  stopped midway can be run again. A file of another app or mode imports nothing
  (:attr:`ImportReport.other_scope`).

Decisions: a grant whose refresh token cannot be read is left out (the seller must authorize again);
one with another damaged column is exported as it reads (that column empty); the caller names both.
An empty access token is allowed (a grant imported from an older ``.env`` may have none yet).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

from . import samples
from .envfile import fsync_dir
from .errors import FieldProblem, SettingsError, ValidationError
from .grant_rows import Grant, GrantScope, grant_values, row_to_grant
from .grants import GrantStore

__all__ = [
    "COLUMNS",
    "FILE_MODE",
    "FORMAT",
    "VERSION",
    "Export",
    "GrantsFileError",
    "ImportReport",
    "export_grants",
    "exportable",
    "import_export",
    "read_export",
]

FORMAT: Final = "tiktok-runbook-grants"
VERSION: Final = 1
#: The file holds every seller's tokens: its owner only.
FILE_MODE: Final = 0o600
_MODES: Final = ("sandbox", "live")

#: Every column of a grant in the file, with the JSON types it may hold.
_TEXT: Final = (str,)
_WHOLE: Final = (int,)
COLUMNS: Final[dict[str, tuple[type, ...]]] = {
    "open_id": (str, type(None)), "seller_name": _TEXT, "base_region": _TEXT, "user_type": _WHOLE,
    "access_token": _TEXT, "access_expires_at": (int, type(None)), "refresh_token": _TEXT,
    "refresh_expires_at": (int, type(None)), "granted_scopes": _TEXT, "shops": _TEXT, "api2cart_store_key": _TEXT,
    "authorized_at": _WHOLE, "refreshed_at": (int, type(None)), "verified_at": (int, type(None)), "mode": _TEXT,
    "app_key": _TEXT, "imported": _WHOLE, "refresher": _TEXT, "refresher_reason": _TEXT,
    "refresher_since": (int, type(None)), "removed_at": (int, type(None)),
    "authorization_ends_at": (int, type(None)), "expiry_notice_at": (int, type(None)), "id_in_source": _WHOLE,
}  # fmt: skip
_HEADER: Final = ("format", "version", "exported_at", "source", "mode", "app_key", "grants")


class GrantsFileError(ValidationError):
    """The grants file given cannot be used as it is (exit 2): nothing was written or imported.
    ``path`` is the file, ``reason`` what is wrong (never a token), :attr:`fix` what to do next.
    The catalog has no entry for this file, so the class carries its own title, cause and fix."""

    def __init__(self, path: Path | str, reason: str, fix: str) -> None:
        self.path, self.reason, self._fix = str(path), reason, fix
        super().__init__([FieldProblem(self.path, reason)])

    @property
    def title(self) -> str:
        return "Grants file not usable"

    @property
    def cause(self) -> str:
        return "The file is not a complete grants export of this runbook, or cannot be used there."

    @property
    def fix(self) -> str:
        return self._fix

    def _compose(self) -> str:
        return f"{self.title}: {self.path}: {self.reason.strip().rstrip('.')}. What to do: {self.fix}"


# ---------------------------------------------------------------------------- export
def exportable(grants: Sequence[Grant]) -> tuple[list[Grant], list[Grant]]:
    """The grants a file can carry, and those left out: a grant whose refresh token cannot be read
    moves nothing another store could use (its seller must authorize again)."""
    return [g for g in grants if g.refresh_token], [g for g in grants if not g.refresh_token]


def export_grants(
    grants: Sequence[Grant], path: Path, *, scope: GrantScope, source: str, now: datetime | None = None
) -> int:
    """Write ``grants`` (all of ``scope``'s app and mode; ``source`` is where they are, password
    masked) to a new file at ``path``: 0600, complete or absent, never over an existing file. The
    grants left out by :func:`exportable` are not written. The number of grants written."""
    carried, _ = exportable(grants)
    for grant in carried:
        if (grant.mode, grant.app_key) != (scope.mode, scope.app_key):
            raise ValueError(f"seller #{grant.id} belongs to {grant.mode} mode, App Key {grant.app_key}, not {scope}")
    document = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "source": source,
        "mode": scope.mode,
        "app_key": scope.app_key,
        "grants": [{"id_in_source": g.id, **grant_values(g)} for g in carried],
    }
    # ASCII only: any seller name survives, whatever the reader's encoding.
    _write_new(path, (json.dumps(document, indent=2, ensure_ascii=True) + "\n").encode("ascii"))
    return len(carried)


def _write_new(path: Path, data: bytes) -> None:
    """``data`` in a new file ``path`` (0600), written whole before it gets its name; never over an
    existing file (a hard link fails when the name is taken, where a rename would replace it)."""
    folder = path.parent
    if not folder.is_dir():
        raise GrantsFileError(path, f"the folder {folder} does not exist", "Create the folder, or give a file in one.")
    if path.is_dir():
        raise GrantsFileError(path, "is a folder", "Give the name of a new file (in that folder, for example).")
    if path.exists() or path.is_symlink():
        raise _exists(path)
    temporary = ""
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)  # 0600
        _write_all(fd, data)
        _link(temporary, path, data)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SettingsError(f"could not write {path}: {reason}; no file was left there") from None
    finally:
        if temporary:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    fsync_dir(folder)


def _exists(path: Path) -> GrantsFileError:
    return GrantsFileError(
        path,
        "a file of that name exists already (an export never replaces a file)",
        "Give a new file name, or delete the old export first if it is no longer needed.",
    )


def _link(temporary: str, path: Path, data: bytes) -> None:
    """Give the written temporary file its name, failing if the name is taken. On a file system
    without hard links (some USB sticks and network shares), create the name exclusively instead."""
    try:
        os.link(temporary, path)
        return
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
            raise
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        raise _exists(path) from None
    try:
        _write_all(fd, data)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)  # ours: created exclusively above
        raise


def _write_all(fd: int, data: bytes) -> None:
    """``data`` into the open file ``fd`` (then closed), 0600 whatever the umask, synced to the disk."""
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), FILE_MODE)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


# ---------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Export:
    """A grants file, checked: the app and mode its grants belong to, where they came from and when,
    and the grants (each :attr:`Grant.id` is its id in the source store). ``permissions`` are the
    file's permission bits as found."""

    mode: str
    app_key: str
    source: str
    exported_at: datetime
    grants: tuple[Grant, ...]
    path: Path
    permissions: int = FILE_MODE

    @property
    def scope(self) -> GrantScope:
        return GrantScope(self.mode, self.app_key)

    @property
    def exposed(self) -> bool:
        """Other users of this machine can read the file (and so every seller's tokens)."""
        return bool(self.permissions & 0o077)


_NOT_EXPORT: Final = "Give the file `sellers export` wrote (or export again on the machine that holds the grants)."


def read_export(path: Path) -> Export:
    """The grants file at ``path``, checked whole before anything is imported: a
    :class:`GrantsFileError` names the first problem (the file, the entry, the field; never a value)."""
    document, permissions = _load(path)
    problem = _header_problem(document)
    if problem:
        newer = isinstance(document, dict) and _is_whole(document.get("version")) and document["version"] > VERSION
        fix = "Update the runbook here to the version that exported it, then import again." if newer else _NOT_EXPORT
        raise GrantsFileError(path, problem, fix)
    scope = GrantScope(document["mode"], document["app_key"])
    grants = tuple(_grant(path, n, entry, scope) for n, entry in enumerate(document["grants"], start=1))
    _refuse_twins(path, grants)
    return Export(
        mode=scope.mode,
        app_key=scope.app_key,
        source=document["source"],
        exported_at=datetime.fromisoformat(document["exported_at"]),
        grants=tuple(sorted(grants, key=lambda g: g.id)),  # the source's order: a fresh store keeps each #
        path=path,
        permissions=permissions,
    )


def _constant(name: str) -> object:
    raise ValueError(f"{name} is not a number JSON allows")


def _load(path: Path) -> tuple[Any, int]:
    """The file's JSON and permission bits, or a one-line refusal (the parser's position and kind of
    error, never the content)."""
    try:
        with path.open("rb") as handle:
            permissions, raw = stat.S_IMODE(os.fstat(handle.fileno()).st_mode), handle.read()
    except FileNotFoundError:
        raise GrantsFileError(path, "no such file", "Give the path of the file `sellers export` wrote.") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise GrantsFileError(path, f"cannot be read: {reason}", "Give a file this user can read.") from None
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_constant), permissions
    except UnicodeDecodeError:
        raise GrantsFileError(path, "not UTF-8 text, so not a grants export", _NOT_EXPORT) from None
    except json.JSONDecodeError as exc:
        kind = exc.msg.split(":", 1)[0]  # "Invalid \\escape: 'x'" would quote the file
        where = f"line {exc.lineno} column {exc.colno}"
        raise GrantsFileError(
            path, f"not valid JSON ({kind} at {where}): the file is cut short or was edited", _NOT_EXPORT
        ) from None
    except (ValueError, RecursionError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) else "nested too deep"
        raise GrantsFileError(path, f"not a grants export ({reason})", _NOT_EXPORT) from None


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _header_problem(document: Any) -> str:
    """What makes ``document`` no grants export this runbook reads ("" when nothing does)."""
    if not isinstance(document, dict):
        return f'JSON {_kind(document)}, not a grants export (an object with "format": {FORMAT!r})'
    if document.get("format") != FORMAT:
        return f'not a grants export of this runbook (its "format" is not {FORMAT!r})'
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return 'its "version" is not a format version'
    if version > VERSION:
        return f"written by a newer runbook (format version {version}; this one reads version {VERSION})"
    for key in _HEADER:
        if key not in document:
            return f'the "{key}" field is missing'
    if document["mode"] not in _MODES:
        return 'its "mode" is neither sandbox nor live'
    for key in ("app_key", "source", "exported_at"):
        if not isinstance(document[key], str):
            return f'its "{key}" is {_kind(document[key])}, not text'
    try:
        datetime.fromisoformat(document["exported_at"])
    except ValueError:
        return 'its "exported_at" is not a date and time'
    if not isinstance(document["grants"], list):
        return f'its "grants" is {_kind(document["grants"])}, not a list'
    return ""


def _kind(value: object) -> str:
    if value is None:
        return "null"
    kinds = {
        bool: "true or false",
        int: "a number",
        float: "a fraction",
        str: "text",
        list: "a list",
        dict: "an object",
    }
    return kinds.get(type(value), type(value).__name__)


def _grant(path: Path, number: int, entry: object, scope: GrantScope) -> Grant:
    """Entry ``number`` of the file as a grant of ``scope``, or a refusal naming it."""
    where = f"entry {number}"
    if not isinstance(entry, dict):
        raise GrantsFileError(path, f"{where} is {_kind(entry)}, not a seller's grant", _NOT_EXPORT)
    name = entry.get("seller_name")
    if isinstance(name, str) and name:
        where += f" ({name[:60]!r})"

    def refuse(what: str) -> GrantsFileError:
        return GrantsFileError(path, f"{where}: {what}", _NOT_EXPORT)

    missing = [column for column in COLUMNS if column not in entry]
    unknown = sorted(key for key in entry if key not in COLUMNS)
    if missing:
        raise refuse(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing")
    if unknown:
        raise refuse(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(k[:40] for k in unknown[:5])}")
    for column, kinds in COLUMNS.items():
        value = entry[column]
        if isinstance(value, bool) or not isinstance(value, kinds):
            wanted = "text" if str in kinds else "a whole number"
            raise refuse(f"{column} is {_kind(value)}, not {wanted}{' or null' if type(None) in kinds else ''}")
    if not entry["refresh_token"]:
        raise refuse("refresh_token is empty (a grant without one cannot be used)")
    if (entry["mode"], entry["app_key"]) != (scope.mode, scope.app_key):
        raise refuse(f"it belongs to {entry['mode'] or '(no)'} mode, App Key {entry['app_key'] or '(none)'}, not the "
                     f"file's {scope.describe()}")  # fmt: skip
    grant = row_to_grant({**entry, "id": entry["id_in_source"]})
    if grant.damage:
        raise refuse("; ".join(grant.damage))
    return grant


def _refuse_twins(path: Path, grants: Sequence[Grant]) -> None:
    """Two entries of one seller (open_id) or one refresh token: the file was put together by hand."""
    for label, values in (
        ("open_id", [g.open_id for g in grants]),
        ("refresh token", [g.refresh_token.reveal() for g in grants]),
    ):
        seen: dict[str, int] = {}
        for number, value in enumerate(values, start=1):
            if value and value in seen:
                raise GrantsFileError(path, f"entries {seen[value]} and {number} have the same {label}", _NOT_EXPORT)
            seen.setdefault(value, number)


# ---------------------------------------------------------------------------- import
Sellers = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ImportReport:
    """What ``sellers import`` did: the sellers (label, id in this store) added, updated (the file's
    grant was newer) and kept (this store's was as new or newer). With :attr:`other_scope`, the file
    belongs to another app or mode and nothing was imported: :attr:`advice` says how to switch."""

    store_scope: GrantScope
    file_scope: GrantScope
    added: Sellers = ()
    updated: Sellers = ()
    kept: Sellers = ()

    @property
    def other_scope(self) -> bool:
        return self.store_scope != self.file_scope

    @property
    def mismatch(self) -> str:
        """Whose grants the file holds, when not this store's app and mode ("" when they are)."""
        if not self.other_scope:
            return ""
        return (
            f"the file holds the grants of {self.file_scope.describe()}, and this project uses "
            f"{self.store_scope.describe()}: nothing was imported"
        )

    @property
    def advice(self) -> str:
        """How to import a file of another app or mode ("" when it is this one's)."""
        wanted = self.file_scope
        if not self.other_scope:
            return ""
        if wanted.mode == "sandbox" and wanted.app_key == samples.SANDBOX_APP_KEY:
            app = "and leave TIKTOK_APP_KEY empty (the sandbox's sample app)"
        else:
            app = f"and TIKTOK_APP_KEY={wanted.app_key} (with that app's App Secret)"
        return f"To import them, set TIKTOK_MODE={wanted.mode} {app} in .env, then import again."


def import_export(store: GrantStore, export: Export) -> ImportReport:
    """Take ``export``'s grants into ``store`` (opened for an app and mode) with
    :meth:`~tiktok_helpers.grants.GrantStore.adopt`, each in its own transaction: a seller already
    there keeps the newer of the two grants. A file of another app or mode imports nothing."""
    if store.scope is None:
        raise ValueError("import into a store opened for an app and mode")
    report = ImportReport(store.scope, export.scope)
    if report.other_scope:
        return report
    done: dict[str, list[tuple[str, int]]] = {"added": [], "updated": [], "kept": []}
    for grant in export.grants:
        stored, how = store.adopt(grant)
        done[how].append((stored.label, stored.id))
    if done["added"]:
        store.analyze()  # many rows at once: the database's planner learns of them now
    return ImportReport(store.scope, export.scope, tuple(done["added"]), tuple(done["updated"]), tuple(done["kept"]))
