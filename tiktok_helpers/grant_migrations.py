"""The grant store's schema, one numbered step per version, for both databases it can live in.

Each version is one :class:`Migration` with its SQLite text and its PostgreSQL text: the same tables,
columns and keys, written in each database's own SQL (the integer times are ``BIGINT`` in
PostgreSQL; its ids are identity columns; a unique key is altered in place where SQLite rebuilds the
table). A database records how many steps it holds (SQLite: ``PRAGMA user_version``; PostgreSQL:
the ``runbook_schema`` table) and gets the missing ones, in order, in one transaction
(:mod:`.grant_schema`, :mod:`.grant_pg`). Never edit a step that has shipped: add the next one, to
both lists. ``tests/test_grant_contract.py`` checks that both lists build the same columns.
"""

from __future__ import annotations

from typing import Final

__all__ = ["POSTGRESQL", "SQLITE", "VERSION"]

#: SQLite's steps (``user_version`` = steps applied).
SQLITE: Final[tuple[str, ...]] = (
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
    # 3: who refreshes each seller (the runbook, or API2Cart once it holds the store: a store already
    # added is API2Cart's from now on), what TikTok's webhooks said (the seller removed the app; the
    # authorization's end), and every webhook notice heard, once per notification id
    """
    ALTER TABLE grants ADD COLUMN refresher TEXT NOT NULL DEFAULT 'runbook';
    ALTER TABLE grants ADD COLUMN refresher_reason TEXT NOT NULL DEFAULT '';
    ALTER TABLE grants ADD COLUMN refresher_since INTEGER;
    ALTER TABLE grants ADD COLUMN removed_at INTEGER;
    ALTER TABLE grants ADD COLUMN authorization_ends_at INTEGER;
    ALTER TABLE grants ADD COLUMN expiry_notice_at INTEGER;
    UPDATE grants SET refresher = 'api2cart', refresher_reason = 'upgrade' WHERE api2cart_store_key != '';
    CREATE TABLE notices (
        mode            TEXT NOT NULL,
        app_key         TEXT NOT NULL,
        notification_id TEXT NOT NULL,
        type            INTEGER NOT NULL,
        shop_id         TEXT NOT NULL DEFAULT '',
        creator_open_id TEXT NOT NULL DEFAULT '',
        sent_at         INTEGER,
        received_at     INTEGER NOT NULL,
        grant_id        INTEGER,
        outcome         TEXT NOT NULL,
        PRIMARY KEY (mode, app_key, notification_id)
    );
    CREATE INDEX notices_by_time ON notices (received_at);
    CREATE TABLE grant_shops (
        shop_id  TEXT NOT NULL,
        grant_id INTEGER NOT NULL,
        PRIMARY KEY (shop_id, grant_id)
    ) WITHOUT ROWID;
    """,
    # 4: refreshing many sellers from several processes or machines at once: a seller claimed by one
    # run (until a lease ends), the round of `refresh --all` whose refresh it last got, and the runs
    """
    ALTER TABLE grants ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE grants ADD COLUMN claimed_until INTEGER;
    ALTER TABLE grants ADD COLUMN refresh_round TEXT NOT NULL DEFAULT '';
    CREATE TABLE refresh_runs (
        run_id       TEXT PRIMARY KEY,
        round_id     TEXT NOT NULL,
        mode         TEXT NOT NULL,
        app_key      TEXT NOT NULL,
        kind         TEXT NOT NULL,
        started_at   INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL,
        finished_at  INTEGER
    );
    CREATE INDEX refresh_runs_by_app ON refresh_runs (mode, app_key, kind);
    """,
)

#: PostgreSQL's steps, version for version (``runbook_schema.version`` = steps applied).
POSTGRESQL: Final[tuple[str, ...]] = (
    # 1: one row per seller
    """
    CREATE TABLE grants (
        id                 BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        open_id            TEXT UNIQUE,
        seller_name        TEXT NOT NULL DEFAULT '',
        base_region        TEXT NOT NULL DEFAULT '',
        user_type          INTEGER NOT NULL DEFAULT -1,
        access_token       TEXT NOT NULL,
        access_expires_at  BIGINT,
        refresh_token      TEXT NOT NULL,
        refresh_expires_at BIGINT,
        granted_scopes     TEXT NOT NULL DEFAULT '[]',
        shops              TEXT NOT NULL DEFAULT '[]',
        api2cart_store_key TEXT NOT NULL DEFAULT '',
        authorized_at      BIGINT NOT NULL,
        refreshed_at       BIGINT,
        verified_at        BIGINT
    );
    CREATE INDEX grants_by_access_expiry ON grants (access_expires_at);
    CREATE INDEX grants_by_refresh_expiry ON grants (refresh_expires_at);
    """,
    # 2: the app and mode a grant belongs to; whether it came from a single-seller .env; a seller is
    # unique per app and mode (SQLite rebuilds its table for this; PostgreSQL alters it in place)
    """
    ALTER TABLE grants ADD COLUMN mode TEXT NOT NULL DEFAULT '';
    ALTER TABLE grants ADD COLUMN app_key TEXT NOT NULL DEFAULT '';
    ALTER TABLE grants ADD COLUMN imported INTEGER NOT NULL DEFAULT 0;
    UPDATE grants SET imported = 1 WHERE open_id IS NULL;
    ALTER TABLE grants DROP CONSTRAINT grants_open_id_key;
    ALTER TABLE grants ADD CONSTRAINT grants_mode_app_key_open_id_key UNIQUE (mode, app_key, open_id);
    CREATE INDEX grants_by_app ON grants (mode, app_key);
    """,
    # 3: who refreshes each seller, what TikTok's webhooks said, every webhook notice heard
    """
    ALTER TABLE grants ADD COLUMN refresher TEXT NOT NULL DEFAULT 'runbook';
    ALTER TABLE grants ADD COLUMN refresher_reason TEXT NOT NULL DEFAULT '';
    ALTER TABLE grants ADD COLUMN refresher_since BIGINT;
    ALTER TABLE grants ADD COLUMN removed_at BIGINT;
    ALTER TABLE grants ADD COLUMN authorization_ends_at BIGINT;
    ALTER TABLE grants ADD COLUMN expiry_notice_at BIGINT;
    UPDATE grants SET refresher = 'api2cart', refresher_reason = 'upgrade' WHERE api2cart_store_key != '';
    CREATE TABLE notices (
        mode            TEXT NOT NULL,
        app_key         TEXT NOT NULL,
        notification_id TEXT NOT NULL,
        type            INTEGER NOT NULL,
        shop_id         TEXT NOT NULL DEFAULT '',
        creator_open_id TEXT NOT NULL DEFAULT '',
        sent_at         BIGINT,
        received_at     BIGINT NOT NULL,
        grant_id        BIGINT,
        outcome         TEXT NOT NULL,
        PRIMARY KEY (mode, app_key, notification_id)
    );
    CREATE INDEX notices_by_time ON notices (received_at);
    CREATE TABLE grant_shops (
        shop_id  TEXT NOT NULL,
        grant_id BIGINT NOT NULL,
        PRIMARY KEY (shop_id, grant_id)
    );
    """,
    # 4: refreshing many sellers from several processes or machines at once: a seller claimed by one
    # run (until a lease ends), the round of `refresh --all` whose refresh it last got, and the runs
    """
    ALTER TABLE grants ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE grants ADD COLUMN claimed_until BIGINT;
    ALTER TABLE grants ADD COLUMN refresh_round TEXT NOT NULL DEFAULT '';
    CREATE TABLE refresh_runs (
        run_id       TEXT PRIMARY KEY,
        round_id     TEXT NOT NULL,
        mode         TEXT NOT NULL,
        app_key      TEXT NOT NULL,
        kind         TEXT NOT NULL,
        started_at   BIGINT NOT NULL,
        heartbeat_at BIGINT NOT NULL,
        finished_at  BIGINT
    );
    CREATE INDEX refresh_runs_by_app ON refresh_runs (mode, app_key, kind);
    """,
)

VERSION: Final = len(SQLITE)
assert len(POSTGRESQL) == VERSION, "every schema version has a step for both databases"
