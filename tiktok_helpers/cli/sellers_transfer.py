"""``sellers export FILE`` and ``sellers import FILE``: every seller's grant moved between grant
stores (the SQLite file beside ``.env`` and a PostgreSQL database, either way) through a file.

The file holds every seller's tokens, so it is the only place they go: what is printed (text or
``--json``) names sellers, counts and places, never a token, even with ``--show-secrets``.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from ..errors import NoSellerYet
from ..grant_rows import Grant, GrantScope
from ..grant_transfer import FILE_MODE, GrantsFileError, export_grants, exportable, import_export, read_export
from ..store import RunbookStore, scope_of
from .common import env_path, environ
from .output import Output

__all__ = ["export_sellers", "import_sellers"]

#: Said after every export and import: the file is every seller's credentials.
HANDLE_WITH_CARE: Final = (
    "The file holds every seller's tokens: move it only over a safe channel and delete it after importing."
)
#: Said after an import into another store than the one the file came from.
ONE_STORE: Final = (
    "Point every machine at the same store (TIKTOK_GRANTS_URL) and stop using the old one: two stores "
    "holding the same grants would each refresh them (one owner per credential)."
)


def _opened(args: argparse.Namespace, out: Output) -> tuple[RunbookStore, GrantScope]:
    """The store the settings in use name (TIKTOK_GRANTS_URL, else the file beside .env), opened for
    their app and mode."""
    store = RunbookStore(env_path(args, out), environ(args, out))
    try:
        return store, scope_of(store.load())
    except BaseException:
        store.close()
        raise


def _sellers(grants: Sequence[Grant]) -> list[dict[str, Any]]:
    return [{"id": g.id, "seller": g.label, "problem": g.problem, "repair": list(g.repairs)} for g in grants]


def export_sellers(args: argparse.Namespace, out: Output) -> int:
    """``sellers export FILE``: every grant of the app and mode in use to a new file (0600)."""
    path = Path(args.file)
    store, scope = _opened(args, out)
    try:
        where = store.grants.location
        carried, left_out = exportable(store.grants.all())
        if not carried:
            raise NoSellerYet(_nothing_to_export(scope, where, left_out, sum(store.grants.elsewhere().values())))
        count = export_grants(carried, path, scope=scope, source=where)
    finally:
        store.close()
    damaged = [g for g in carried if g.damage]
    lines = [
        f"Exported {count} grant{'s' if count != 1 else ''} ({scope.describe()}) from {where}",
        f"to {path} (mode {FILE_MODE:04o}: readable by you only).",
        "",
        HANDLE_WITH_CARE,
        "Then, where .env names the new store (TIKTOK_GRANTS_URL; none: the file beside .env): "
        f"`{out.command(f'sellers import {shlex.quote(str(path))}')}`.",
    ]
    for grant in left_out:
        lines.append(f"Left out: #{grant.id} {grant.label}: {grant.problem}; authorize this seller again.")
    for grant in damaged:
        fixes = " then ".join(f"`{out.command(c)}`" for c in grant.repairs)
        lines.append(f"Exported as it reads: #{grant.id} {grant.label}: {grant.problem}; after importing: {fixes}.")
    data = {
        "ok": True,
        "file": str(path),
        "file_mode": f"{FILE_MODE:04o}",
        "exported": count,
        "store": where,
        "mode": scope.mode,
        "app_key": scope.app_key,
        "left_out": _sellers(left_out),
        "damaged": _sellers(damaged),
    }
    out.result(data, "\n".join(lines))
    return 0


def _nothing_to_export(scope: GrantScope, where: str, left_out: Sequence[Grant], others: int) -> str:
    unreadable = f" ({len(left_out)} without a readable refresh token)" if left_out else ""
    elsewhere = f"; {others} grant(s) of another app or mode are there (`sellers` says which)" if others else ""
    return f"no seller of {scope.describe()} to export from {where}{unreadable}{elsewhere}; no file was written"


def import_sellers(args: argparse.Namespace, out: Output) -> int:
    """``sellers import FILE``: the file's grants into the store the settings in use name."""
    path = Path(args.file)
    store, scope = _opened(args, out)
    try:
        where = store.grants.location
        export = read_export(path)  # checked whole: a problem imports nothing
        report = import_export(store.grants, export)
    finally:
        store.close()
    if report.other_scope:
        raise GrantsFileError(path, report.mismatch, report.advice)
    if export.exposed:
        out.note(
            f"warning: other users of this machine can read {path} (mode {export.permissions:04o}), and it holds "
            "every seller's tokens: delete it now that it is imported."
        )
    groups = (
        ("added", report.added),
        ("updated (the file's grant was newer)", report.updated),
        ("kept (this store's was as new or newer)", report.kept),
    )
    counts = ", ".join(f"{len(sellers)} {name.split(' ')[0]}" for name, sellers in groups)
    size = f"{len(export.grants)} grant{'s' if len(export.grants) != 1 else ''}"
    lines = [
        f"Imported {path} ({size} of {scope.describe()}, exported "
        f"{export.exported_at.isoformat()} from {export.source}) into {where}: {counts}."
    ]
    lines += [f"  {name}: {', '.join(f'#{n} {label}' for label, n in sellers)}" for name, sellers in groups if sellers]
    lines += ["", HANDLE_WITH_CARE]
    moved = export.source != where
    lines.append(ONE_STORE if moved else "The file came from this store itself.")
    data = {
        "ok": True,
        "file": str(path),
        "store": where,
        "mode": scope.mode,
        "app_key": scope.app_key,
        "source": export.source,
        "exported_at": export.exported_at.isoformat(),
        "file_readable_by_others": export.exposed,
        "added": _listed(report.added),
        "updated": _listed(report.updated),
        "kept": _listed(report.kept),
    }
    out.result(data, "\n".join(lines))
    return 0


def _listed(sellers: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"id": number, "seller": label} for label, number in sellers]
