"""The state database's tables: what the sandbox keeps between requests, processes and restarts.

One SQLite database (:mod:`.database` opens it) holds the sandbox's mutable data, one row per
object, so a change writes the rows it touches and nothing else:

==================  ====================================================================
table               rows
==================  ====================================================================
``redirect_urls``   an app's registered callback URL, when it differs from the default
``auth_codes``      issued authorization codes: issue time (Unix seconds), used flag
``sellers``         sellers minted for an agency's account (:mod:`.agency`); the sample
                    sellers come from code (:mod:`.sample_data`) and are never stored
``shops``           the shops of the minted sellers
``grants``          authorizations: tokens with absolute expiry timestamps (so they mean
                    the same with any clock, including a FakeClock set to the same time)
``carts``           API2Cart stores with the TikTok credentials they were added with; the
                    ``id`` is the store's id in API2Cart's list
``webhook_outbox``  webhook deliveries not yet made (:mod:`.webhooks`): the App Key, the
                    body's exact bytes, failed attempts so far, the next attempt (sandbox
                    clock) and the claim of the sandbox delivering it now (real time)
``expiry_notices``  one row per app, seller, shop and UTC day for which an "upcoming
                    authorization expiration" notice was queued (so each is queued once)
==================  ====================================================================

Indexed, because they are looked up: a code, an access token, a refresh token, a grant's app and
seller, a minted seller's key and open_id, a shop's seller, an API2Cart store key, an account's
stores (and their refresh tokens) and a webhook delivery's next attempt. The file is stamped ``PRAGMA application_id`` =
:data:`APPLICATION_ID` and ``PRAGMA user_version`` = :data:`SCHEMA_VERSION`; :func:`check`
refuses anything else but a file of an older version, which :func:`upgrade` brings up.
NOT stored: the sample app, sellers, shops and scopes (always from code) and each sandbox's own
settings (``auto_approve``, latency, the webhook URL, the refresh reading).

Versions: 1 had no webhook tables; 2 had a store's ``url`` required and unique per account (the
sandbox's old rule of one store per URL, which API2Cart does not document); 3 lets it be NULL (a
store added without ``store_url``) and shared. An older file is upgraded in place when it is
opened (:func:`upgrade`, in one write transaction: the webhook tables are added, the ``carts``
table is rebuilt with every row kept), so a runbook's saved state survives the upgrade. Any other
version is refused (:func:`check`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Final

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "TABLES", "BadStateDatabase", "check", "create", "outdated", "upgrade"]

#: ``PRAGMA application_id`` of a sandbox state database: "TTSB" (TikTok Shop sandbox).
APPLICATION_ID: Final = 0x54545342
SCHEMA_VERSION: Final = 3
#: The versions :func:`check` accepts (an older one is brought up by :func:`upgrade`).
_READABLE: Final = (1, 2, SCHEMA_VERSION)
#: The tables version 2 added to version 1 (what :func:`upgrade` creates).
_ADDED_IN_2: Final = ("webhook_outbox", "expiry_notices")

#: Every table and its columns, in order (what :func:`check` expects to find).
TABLES: Final[Mapping[str, tuple[str, ...]]] = {
    "redirect_urls": ("app_key", "redirect_url"),
    "auth_codes": ("code", "app_key", "seller_key", "user_type", "issued_at", "used"),
    "sellers": ("key", "name", "base_region", "open_id"),
    "shops": ("id", "seller_key", "position", "name", "region", "seller_type", "cipher", "code"),
    "grants": (
        "id",
        "app_key",
        "seller_key",
        "user_type",
        "open_id",
        "scopes",
        "access_token",
        "access_expires_at",
        "refresh_token",
        "refresh_expires_at",
    ),
    "carts": (
        "id",
        "api_key",
        "store_key",
        "cart_id",
        "url",
        "custom_label",
        "app_key",
        "app_secret",
        "refresh_token",
        "access_token",
    ),
    "webhook_outbox": ("id", "app_key", "body", "attempts", "next_at", "claimed_by", "claimed_until"),
    "expiry_notices": ("app_key", "seller_key", "shop_id", "day"),
}

#: What version 2 added to version 1: the webhook tables (:func:`upgrade` runs these).
_V2_DDL: Final = (
    """CREATE TABLE webhook_outbox (
        id INTEGER PRIMARY KEY, app_key TEXT NOT NULL, body BLOB NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL, claimed_by TEXT, claimed_until REAL)""",
    "CREATE INDEX webhook_outbox_by_due ON webhook_outbox (next_at)",
    """CREATE TABLE expiry_notices (
        app_key TEXT NOT NULL, seller_key TEXT NOT NULL, shop_id TEXT NOT NULL, day INTEGER NOT NULL,
        PRIMARY KEY (app_key, seller_key, shop_id, day)) WITHOUT ROWID""",
)


def _carts(name: str) -> str:
    """The ``carts`` table of version 3 (``url`` may be NULL and is not unique), called ``name``."""
    return f"""CREATE TABLE {name} (
        id INTEGER PRIMARY KEY, api_key TEXT NOT NULL, store_key TEXT NOT NULL UNIQUE,
        cart_id TEXT NOT NULL, url TEXT, custom_label TEXT NOT NULL, app_key TEXT NOT NULL,
        app_secret TEXT NOT NULL, refresh_token TEXT NOT NULL, access_token TEXT)"""


_CARTS_INDEX: Final = "CREATE INDEX carts_by_account ON carts (api_key, refresh_token)"
#: What version 3 changed: the ``carts`` table rebuilt, every row kept (:func:`upgrade` runs these).
_V3_DDL: Final = (
    _carts("carts_v3"),
    f"INSERT INTO carts_v3 ({', '.join(TABLES['carts'])}) SELECT {', '.join(TABLES['carts'])} FROM carts",  # noqa: S608
    "DROP TABLE carts",
    "ALTER TABLE carts_v3 RENAME TO carts",
    _CARTS_INDEX,
)

_DDL: Final = (
    "CREATE TABLE redirect_urls (app_key TEXT PRIMARY KEY, redirect_url TEXT NOT NULL) WITHOUT ROWID",
    """CREATE TABLE auth_codes (
        code TEXT PRIMARY KEY, app_key TEXT NOT NULL, seller_key TEXT NOT NULL,
        user_type INTEGER NOT NULL CHECK (user_type IN (0, 1, 3)), issued_at REAL NOT NULL,
        used INTEGER NOT NULL DEFAULT 0 CHECK (used IN (0, 1))) WITHOUT ROWID""",
    """CREATE TABLE sellers (
        key TEXT PRIMARY KEY, name TEXT NOT NULL, base_region TEXT NOT NULL,
        open_id TEXT NOT NULL UNIQUE) WITHOUT ROWID""",
    """CREATE TABLE shops (
        id TEXT PRIMARY KEY, seller_key TEXT NOT NULL, position INTEGER NOT NULL, name TEXT NOT NULL,
        region TEXT NOT NULL, seller_type TEXT NOT NULL CHECK (seller_type IN ('LOCAL', 'CROSS_BORDER')),
        cipher TEXT NOT NULL, code TEXT NOT NULL) WITHOUT ROWID""",
    "CREATE INDEX shops_by_seller ON shops (seller_key, position)",
    """CREATE TABLE grants (
        id INTEGER PRIMARY KEY, app_key TEXT NOT NULL, seller_key TEXT NOT NULL,
        user_type INTEGER NOT NULL CHECK (user_type IN (0, 1, 3)), open_id TEXT NOT NULL,
        scopes TEXT NOT NULL, access_token TEXT NOT NULL UNIQUE, access_expires_at INTEGER NOT NULL,
        refresh_token TEXT NOT NULL UNIQUE, refresh_expires_at INTEGER NOT NULL)""",
    "CREATE INDEX grants_by_app ON grants (app_key)",
    "CREATE INDEX grants_by_seller ON grants (seller_key)",
    _carts("carts"),
    _CARTS_INDEX,
    *_V2_DDL,
)


class BadStateDatabase(Exception):
    """The file is not a sandbox state database this sandbox can use (the message shows no value)."""


def create(conn: sqlite3.Connection) -> None:
    """Create the tables in an empty database; the caller holds a write transaction."""
    for statement in _DDL:
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def check(conn: sqlite3.Connection) -> bool:
    """True for an empty database (to be created); False for a usable sandbox state database.

    Raises :class:`BadStateDatabase` for anything else, and :class:`sqlite3.DatabaseError` for a
    file SQLite cannot read. Only reads: a refused file is kept exactly as it was.
    """
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if application_id == 0 and version == 0:
        if conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None:
            raise BadStateDatabase("an SQLite database of another program")
        return True
    if application_id != APPLICATION_ID:
        raise BadStateDatabase("an SQLite database of another program")
    if version not in _READABLE:
        raise BadStateDatabase(f"unknown version (this sandbox reads versions 1 to {SCHEMA_VERSION})")
    for table, columns in TABLES.items():
        if version == 1 and table in _ADDED_IN_2:
            continue
        try:
            conn.execute(f"SELECT {', '.join(columns)} FROM {table} LIMIT 0")  # noqa: S608 (names from code)
        except sqlite3.OperationalError:
            raise BadStateDatabase(f"the {table} table does not have the expected columns") from None
    return False


def outdated(conn: sqlite3.Connection) -> bool:
    """True for a usable older database (:func:`check` accepted it) that :func:`upgrade` brings up."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0]) < SCHEMA_VERSION


def upgrade(conn: sqlite3.Connection) -> None:
    """Bring an older database to :data:`SCHEMA_VERSION`; the caller holds a write transaction.

    Adds the tables version 2 added and rebuilds ``carts`` as version 3 has it, nothing else:
    every code, grant and store is kept."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version >= SCHEMA_VERSION:
        return  # another process upgraded it meanwhile
    for statement in (*(_V2_DDL if version < 2 else ()), *_V3_DDL):
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
