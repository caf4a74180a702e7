"""The grant database's file: this project's mark on it, and its schema as numbered migrations.

A grant database says it is this project's (SQLite ``application_id``) and which schema it holds
(``user_version`` = the number of :data:`MIGRATIONS` applied). :func:`migrate` checks both when the
file is opened: a file that is not this project's, or was written by a newer runbook, is refused and
left as it is; an older one is upgraded in one transaction; an up-to-date one is not written at all.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

from . import samples
from .errors import SettingsError

__all__ = ["APPLICATION_ID", "FILE_MODE", "MIGRATIONS", "migrate"]

FILE_MODE: Final = 0o600
#: Written into the file's header (``PRAGMA application_id``): "TTKG", this project's grant store.
APPLICATION_ID: Final = 0x54544B47

#: The schema, one step per version (``user_version`` = steps applied). Never edit a step that has
#: shipped: add the next one.
MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: one row per seller
    """
    CREATE TABLE grants (
        id                 INTEGER PRIMARY KEY,
        open_id            TEXT UNIQUE,
        seller_name        TEXT NOT NULL DEFAULT '',
        base_region        TEXT NOT NULL DEFAULT '',
        user_type          INTEGER NOT NULL DEFAULT -1,
        access_token       TEXT NOT NULL,
        access_expires_at  INTEGER,
        refresh_token      TEXT NOT NULL,
        refresh_expires_at INTEGER,
        granted_scopes     TEXT NOT NULL DEFAULT '[]',
        shops              TEXT NOT NULL DEFAULT '[]',
        api2cart_store_key TEXT NOT NULL DEFAULT '',
        authorized_at      INTEGER NOT NULL,
        refreshed_at       INTEGER,
        verified_at        INTEGER
    );
    CREATE INDEX grants_by_access_expiry ON grants (access_expires_at);
    CREATE INDEX grants_by_refresh_expiry ON grants (refresh_expires_at);
    """,
    # 2: the app and mode a grant belongs to; whether it came from a single-seller .env; a seller is
    # unique per app and mode (the same seller may authorize a sandbox and a live app)
    """
    CREATE TABLE grants_v2 (
        id                 INTEGER PRIMARY KEY,
        open_id            TEXT,
        seller_name        TEXT NOT NULL DEFAULT '',
        base_region        TEXT NOT NULL DEFAULT '',
        user_type          INTEGER NOT NULL DEFAULT -1,
        access_token       TEXT NOT NULL,
        access_expires_at  INTEGER,
        refresh_token      TEXT NOT NULL,
        refresh_expires_at INTEGER,
        granted_scopes     TEXT NOT NULL DEFAULT '[]',
        shops              TEXT NOT NULL DEFAULT '[]',
        api2cart_store_key TEXT NOT NULL DEFAULT '',
        authorized_at      INTEGER NOT NULL,
        refreshed_at       INTEGER,
        verified_at        INTEGER,
        mode               TEXT NOT NULL DEFAULT '',
        app_key            TEXT NOT NULL DEFAULT '',
        imported           INTEGER NOT NULL DEFAULT 0,
        UNIQUE (mode, app_key, open_id)
    );
    INSERT INTO grants_v2 (id, open_id, seller_name, base_region, user_type, access_token, access_expires_at,
        refresh_token, refresh_expires_at, granted_scopes, shops, api2cart_store_key, authorized_at, refreshed_at,
        verified_at, imported)
    SELECT id, open_id, seller_name, base_region, user_type, access_token, access_expires_at, refresh_token,
        refresh_expires_at, granted_scopes, shops, api2cart_store_key, authorized_at, refreshed_at, verified_at,
        open_id IS NULL
    FROM grants;
    DROP TABLE grants;
    ALTER TABLE grants_v2 RENAME TO grants;
    CREATE INDEX grants_by_access_expiry ON grants (access_expires_at);
    CREATE INDEX grants_by_refresh_expiry ON grants (refresh_expires_at);
    CREATE INDEX grants_by_app ON grants (mode, app_key);
    """,
)
_VERSION: Final = len(MIGRATIONS)


def _adopt_version_one_rows(db: sqlite3.Connection) -> None:
    """Rows from before grants recorded their app: a token the embedded sandbox issued is the
    sandbox's sample app's; any other is live, its App Key claimed by the first live app that opens
    the file (:meth:`GrantStore._claim_unowned`)."""
    rows = db.execute("SELECT id, refresh_token FROM grants WHERE mode = ''").fetchall()
    for row in rows:
        if samples.is_sandbox_token(row["refresh_token"]):
            db.execute(
                "UPDATE grants SET mode = 'sandbox', app_key = ? WHERE id = ?", (samples.SANDBOX_APP_KEY, row["id"])
            )
        else:
            db.execute("UPDATE grants SET mode = 'live' WHERE id = ?", (row["id"],))


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Check the file is this project's; create or upgrade its schema (only when needed)."""
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    # Version 1 files did not set application_id: recognised by their version and table.
    ours = app_id == APPLICATION_ID or (app_id == 0 and version == 0 and not tables)
    ours = ours or (app_id == 0 and version == 1 and tables == {"grants"})
    if not ours:
        db.close()
        raise SettingsError(
            f"{path} is not this runbook's grant database (another program's file, or damaged): "
            "it was left as it is. Move it elsewhere, or point TIKTOK_ENV_FILE at another folder"
        )
    if version > _VERSION:
        db.close()
        raise SettingsError(
            f"{path} was written by a newer version of this runbook (schema {version}, this one "
            f"knows {_VERSION}); update the runbook before using it"
        )
    if version == _VERSION and app_id == APPLICATION_ID:
        return  # nothing to write
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]  # another process may have been first
        for number in range(version, _VERSION):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    db.execute(statement)
            if number + 1 == 2:
                _adopt_version_one_rows(db)
        db.execute(f"PRAGMA application_id={APPLICATION_ID}")
        db.execute(f"PRAGMA user_version={_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
