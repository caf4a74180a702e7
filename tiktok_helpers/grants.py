"""Every seller's grant, in an embedded SQLite database beside ``.env``.

Integrators connect one client's shop after another with the same app, so the runbook holds one
*grant* per authorized seller: who (open_id, seller name, base region, user type), the access and
refresh tokens with their absolute expiries, the scopes granted, the shops with their ciphers, the
API2Cart store key, and when each was last refreshed and verified. A grant is the only place a
seller's tokens live. The app's own settings stay in ``.env``; the grants live in
``<env file>.grants.db`` (``.env.grants.db`` for ``.env``).

A grant belongs to one app in one mode: it records the mode (sandbox or live) and the App Key its
tokens were issued for, and a :class:`GrantStore` opened for a :class:`GrantScope` sees and writes
only that app's grants in that mode, so a sandbox token is never sent to a live host (or the
reverse) and two apps sharing a folder never see each other's sellers.

Nothing is lost:

* every write is one transaction that updates only the columns it owns, so a refresh in one
  process and a store key saved in another both survive;
* a new token pair is committed the moment it arrives (:meth:`GrantStore.save_tokens`);
* the database runs in WAL mode with ``synchronous=FULL``: a committed pair survives a crash;
* the file is created with mode 0600 and is git-ignored; its secrets print masked (:class:`Grant`);
* a grant imported from a single-seller ``.env`` (no open_id yet) is merged, not dropped, when its
  seller turns up again: its shops and API2Cart store key go with it.

The file says it is this project's (SQLite ``application_id``) and which schema it holds
(``user_version``); the schema is created and upgraded by the numbered steps in
:data:`MIGRATIONS`, and a file that is not this project's, or is newer, is refused, never written.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

from .errors import MissingSettingError, SettingsError
from .grant_schema import APPLICATION_ID, FILE_MODE, MIGRATIONS, migrate
from .openapi import Shop
from .regions import UserType
from .secret import Secret
from .tokens import TokenSet

__all__ = [
    "APPLICATION_ID",
    "FILE_MODE",
    "MIGRATIONS",
    "Grant",
    "GrantScope",
    "GrantStore",
    "expiring",
    "grants_path_for",
]


def grants_path_for(env_path: Path) -> Path:
    """The grant database of the project whose settings file is ``env_path``: beside the file itself
    (a symlinked ``.env`` is followed, so every link to one file shares one database)."""
    real = Path(os.path.realpath(env_path))
    return real.with_name(real.name + ".grants.db")


def _moment(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=timezone.utc) if value is not None else None


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def _optional_seconds(moment: datetime | None) -> int | None:
    return _seconds(moment) if moment is not None else None


@dataclass(frozen=True)
class GrantScope:
    """The app and mode whose grants a store works with: ``mode`` is ``sandbox`` or ``live``."""

    mode: str
    app_key: str

    def describe(self) -> str:
        return f"{self.mode} mode, App Key {self.app_key or '(not set)'}"


@dataclass(frozen=True)
class Grant:
    """One seller's authorization. Tokens and the store key are :class:`Secret`: they print masked."""

    id: int
    open_id: str
    seller_name: str
    base_region: str
    user_type: UserType
    access_token: Secret
    access_token_expires_at: datetime | None
    refresh_token: Secret
    refresh_token_expires_at: datetime | None
    granted_scopes: tuple[str, ...] = ()
    shops: tuple[Shop, ...] = ()
    api2cart_store_key: Secret = field(default_factory=lambda: Secret(""))
    authorized_at: datetime | None = None
    refreshed_at: datetime | None = None
    verified_at: datetime | None = None
    #: The app and mode the tokens were issued for (empty in an unscoped view of an old file).
    mode: str = ""
    app_key: str = ""
    #: Imported from a single-seller ``.env``: who the seller is is known after TikTok's next reply.
    imported: bool = False

    @property
    def label(self) -> str:
        """How a person names this seller: the seller name, else the open_id, else the row."""
        return self.seller_name or self.open_id or f"seller #{self.id}"

    @property
    def shop_cipher(self) -> str:
        """The first authorized shop's cipher (empty before Get Authorized Shops)."""
        return self.shops[0].cipher if self.shops else ""

    def matches(self, wanted: str) -> bool:
        """True when ``wanted`` is this grant's open_id, seller name (any case) or row id (``7`` or ``#7``)."""
        text = wanted.strip()
        return bool(text) and (
            text == self.open_id or text.casefold() == self.seller_name.casefold() or text.lstrip("#") == str(self.id)
        )

    def access_due(self, now: datetime, within: timedelta = timedelta(0)) -> bool:
        """The access token ends within ``within`` of ``now``, has ended, or its end is not known."""
        return self.access_token_expires_at is None or self.access_token_expires_at <= now + within

    def refresh_expired(self, now: datetime) -> bool:
        """The authorization has ended (False when its end is not known)."""
        return self.refresh_token_expires_at is not None and self.refresh_token_expires_at <= now


def expiring(grants: Sequence[Grant], within: timedelta, now: datetime | None = None) -> list[Grant]:
    """The grants whose access token or refresh token ends within ``within`` of ``now`` (or has ended,
    or whose end is not known)."""
    now = now or datetime.now(timezone.utc)
    end = now + within
    return [
        g
        for g in grants
        if g.access_due(now, within) or (g.refresh_token_expires_at is not None and g.refresh_token_expires_at <= end)
    ]


def _shops_json(shops: Sequence[Shop]) -> str:
    return json.dumps(
        [{"id": s.id, "name": s.name, "region": s.region, "seller_type": s.seller_type, "cipher": s.cipher,
          "code": s.code} for s in shops],
        ensure_ascii=False,
    )  # fmt: skip


def _row_to_grant(row: sqlite3.Row) -> Grant:
    shops = tuple(Shop(**item) for item in json.loads(row["shops"]))
    return Grant(
        id=row["id"],
        open_id=row["open_id"] or "",
        seller_name=row["seller_name"],
        base_region=row["base_region"],
        user_type=UserType.from_code(row["user_type"]),
        access_token=Secret(row["access_token"]),
        access_token_expires_at=_moment(row["access_expires_at"]),
        refresh_token=Secret(row["refresh_token"]),
        refresh_token_expires_at=_moment(row["refresh_expires_at"]),
        granted_scopes=tuple(json.loads(row["granted_scopes"])),
        shops=shops,
        api2cart_store_key=Secret(row["api2cart_store_key"]),
        authorized_at=_moment(row["authorized_at"]),
        refreshed_at=_moment(row["refreshed_at"]),
        verified_at=_moment(row["verified_at"]),
        mode=row["mode"],
        app_key=row["app_key"],
        imported=bool(row["imported"]),
    )


class GrantStore:
    """The grants of one project, shared safely by every process and thread that opens the file.

    ``scope`` limits what is seen and written to one app in one mode (None: every grant, for tools
    and tests that look at the whole file). One connection per store, used under a lock (threads of
    one process, e.g. a bulk refresh, share it); SQLite's own locking serializes writers across
    processes (``busy_timeout`` waits for them).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        scope: GrantScope | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.path = Path(path)
        self.scope = scope
        self._now = clock or (lambda: datetime.now(timezone.utc))
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None

    # --- the connection ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        try:
            if not self.path.exists():
                # Create it 0600 before SQLite does (SQLite would use the umask, often 0644).
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout=30000")
            migrate(db, self.path)
            db.execute("PRAGMA synchronous=FULL")
            self._claim_unowned(db)
        except sqlite3.DatabaseError as exc:
            raise SettingsError(
                f"could not open the grant database {self.path} ({exc}); if it is damaged and no other "
                "program uses it, move it aside (keep the copy: it holds the sellers' refresh tokens) and "
                "authorize the sellers again"
            ) from None
        except OSError as exc:
            raise SettingsError(f"could not create {self.path.name}: {exc.strerror or exc}") from None
        self._db = db
        return db

    def _claim_unowned(self, db: sqlite3.Connection) -> None:
        """Live grants from before grants recorded their app belong to the first live app opening them."""
        scope = self.scope
        if scope is None or scope.mode != "live" or not scope.app_key:
            return
        if db.execute("SELECT 1 FROM grants WHERE mode = 'live' AND app_key = '' LIMIT 1").fetchone() is None:
            return
        with self._lock:
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE grants SET app_key = ? WHERE mode = 'live' AND app_key = ''", (scope.app_key,))
            db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``: the write lock is taken up front)."""
        with self._lock:
            db = self._connect()
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise SettingsError(f"the grant database {self.path.name} is busy ({exc}); try again") from None
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _where(self) -> tuple[str, tuple[object, ...]]:
        if self.scope is None:
            return "1 = 1", ()
        return "mode = ? AND app_key = ?", (self.scope.mode, self.scope.app_key)

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        """``sql`` with ``{scope}`` standing for this store's app and mode condition."""
        where, scope_params = self._where()
        with self._lock:
            if not self.path.exists():
                return []  # nothing authorized yet: do not create the file just to read it
            return self._connect().execute(sql.format(scope=where), (*scope_params, *params)).fetchall()

    # --- reading ----------------------------------------------------------------------------------

    def all(self) -> list[Grant]:
        """Every grant of this app and mode, the most recently authorized first."""
        rows = self._read("SELECT * FROM grants WHERE {scope} ORDER BY authorized_at DESC, id DESC")
        return [_row_to_grant(r) for r in rows]

    def newest(self) -> Grant | None:
        rows = self._read("SELECT * FROM grants WHERE {scope} ORDER BY authorized_at DESC, id DESC LIMIT 1")
        return _row_to_grant(rows[0]) if rows else None

    def get(self, grant_id: int) -> Grant:
        rows = self._read("SELECT * FROM grants WHERE {scope} AND id = ?", (grant_id,))
        if not rows:
            raise MissingSettingError(f"seller #{grant_id} is no longer in {self.path.name}")
        return _row_to_grant(rows[0])

    def find(self, wanted: str) -> Grant:
        """The grant for an open_id, a seller name (any case) or a row id; a clear error otherwise."""
        grants = self.all()
        found = [g for g in grants if g.matches(wanted)]
        if len(found) == 1:
            return found[0]
        names = ", ".join(g.label for g in grants) or "none yet"
        if not found:
            raise MissingSettingError(f"no seller {wanted.strip()!r} among the authorized sellers ({names})")
        raise MissingSettingError(
            f"{len(found)} sellers match {wanted.strip()!r}: give the open_id or the #number instead "
            f"({', '.join(f'#{g.id}' + (f' {g.open_id}' if g.open_id else '') for g in found)})"
        )

    def count(self) -> int:
        rows = self._read("SELECT COUNT(*) AS n FROM grants WHERE {scope}")
        return int(rows[0]["n"]) if rows else 0

    def elsewhere(self) -> dict[GrantScope, int]:
        """How many grants belong to other apps or modes than this store's (none for an unscoped store)."""
        if self.scope is None:
            return {}
        rows = self._read(
            "SELECT mode, app_key, COUNT(*) AS n FROM grants WHERE NOT ({scope}) GROUP BY mode, app_key "
            "ORDER BY mode, app_key"
        )
        return {GrantScope(r["mode"], r["app_key"]): int(r["n"]) for r in rows}

    # --- writing ----------------------------------------------------------------------------------

    def _owner(self) -> tuple[str, str]:
        return (self.scope.mode, self.scope.app_key) if self.scope else ("", "")

    def save_tokens(
        self,
        tokens: TokenSet,
        *,
        grant_id: int | None = None,
        kind: Literal["authorized", "refreshed"] = "authorized",
    ) -> Grant:
        """Commit a token reply at once. The grant is found by the reply's open_id (so authorizing a
        seller again updates their grant), else by ``grant_id``; a new seller gets a new grant.

        A grant imported from a single-seller ``.env`` learns its open_id here. When that seller
        already has a grant of their own (they authorized again meanwhile), the two become one: the
        imported grant's shops and API2Cart store key move to it where it has none, and the new pair
        is kept."""
        now = _seconds(self._now())
        mode, app_key = self._owner()
        with self._transaction() as db:
            row = None
            if tokens.open_id:
                row = db.execute(
                    "SELECT * FROM grants WHERE open_id = ? AND mode = ? AND app_key = ?",
                    (tokens.open_id, mode, app_key),
                ).fetchone()
            if grant_id is not None:
                own = db.execute(
                    "SELECT * FROM grants WHERE id = ? AND mode = ? AND app_key = ?", (grant_id, mode, app_key)
                ).fetchone()
                if row is not None and own is not None and row["id"] != grant_id:
                    self._merge_into(db, row, own)
                elif row is None:
                    row = own
            if row is None and kind == "authorized" and tokens.open_id:
                row = self._imported_seller(db, tokens, mode, app_key)
            values: dict[str, object] = {
                "access_token": tokens.access_token.reveal(),
                "access_expires_at": _seconds(tokens.access_token_expires_at),
                "refresh_token": tokens.refresh_token.reveal(),
                "refresh_expires_at": _seconds(tokens.refresh_token_expires_at),
                "imported": 0 if tokens.open_id else (row["imported"] if row is not None else 0),
            }
            # Who the seller is: only what the reply says (a refresh reply may leave fields out).
            if tokens.open_id:
                values["open_id"] = tokens.open_id
            if tokens.seller_name:
                values["seller_name"] = tokens.seller_name
            if tokens.seller_base_region:
                values["base_region"] = tokens.seller_base_region
            if tokens.user_type is not UserType.UNKNOWN:
                values["user_type"] = tokens.user_type.value
            if tokens.granted_scopes:
                values["granted_scopes"] = json.dumps(list(tokens.granted_scopes))
            values["refreshed_at" if kind == "refreshed" else "authorized_at"] = now
            if row is None:
                values.setdefault("authorized_at", now)
                values.update(mode=mode, app_key=app_key)
                columns = ", ".join(values)
                marks = ", ".join("?" for _ in values)
                cursor = db.execute(f"INSERT INTO grants ({columns}) VALUES ({marks})", tuple(values.values()))  # noqa: S608
                new_id = int(cursor.lastrowid or 0)
            else:
                new_id = int(row["id"])
                assignments = ", ".join(f"{name} = ?" for name in values)
                db.execute(f"UPDATE grants SET {assignments} WHERE id = ?", (*values.values(), new_id))  # noqa: S608
            saved = db.execute("SELECT * FROM grants WHERE id = ?", (new_id,)).fetchone()
        return _row_to_grant(saved)

    @staticmethod
    def _imported_seller(db: sqlite3.Connection, tokens: TokenSet, mode: str, app_key: str) -> sqlite3.Row | None:
        """The imported grant (no open_id yet) that this authorization's seller is, by seller name:
        only when exactly one such grant carries that name."""
        if not tokens.seller_name:
            return None
        rows = db.execute(
            "SELECT * FROM grants WHERE open_id IS NULL AND imported = 1 AND mode = ? AND app_key = ? "
            "AND seller_name = ? COLLATE NOCASE",
            (mode, app_key, tokens.seller_name),
        ).fetchall()
        return rows[0] if len(rows) == 1 else None

    @staticmethod
    def _merge_into(db: sqlite3.Connection, target: sqlite3.Row, imported: sqlite3.Row) -> None:
        """One seller, two rows (an imported grant and the grant of a later authorization): keep
        ``target``, taking over what only ``imported`` has, then drop ``imported``."""
        carried: dict[str, object] = {}
        if not target["api2cart_store_key"] and imported["api2cart_store_key"]:
            carried["api2cart_store_key"] = imported["api2cart_store_key"]
        if json.loads(target["shops"]) == [] and json.loads(imported["shops"]) != []:
            carried["shops"] = imported["shops"]
            carried["verified_at"] = imported["verified_at"]
        if target["authorized_at"] > imported["authorized_at"]:
            carried["authorized_at"] = imported["authorized_at"]
        db.execute("DELETE FROM grants WHERE id = ?", (imported["id"],))
        if carried:
            assignments = ", ".join(f"{name} = ?" for name in carried)
            db.execute(f"UPDATE grants SET {assignments} WHERE id = ?", (*carried.values(), target["id"]))  # noqa: S608

    def save_shops(self, grant_id: int, shops: Sequence[Shop]) -> Grant:
        """The shops Get Authorized Shops answered: the token works, so the grant is verified now."""
        return self._update(grant_id, shops=_shops_json(shops), verified_at=_seconds(self._now()))

    def save_store_key(self, grant_id: int, store_key: Secret) -> Grant:
        return self._update(grant_id, api2cart_store_key=store_key.reveal())

    def _update(self, grant_id: int, **values: object) -> Grant:
        assignments = ", ".join(f"{name} = ?" for name in values)
        mode, app_key = self._owner()
        with self._transaction() as db:
            db.execute(
                f"UPDATE grants SET {assignments} WHERE id = ? AND mode = ? AND app_key = ?",  # noqa: S608
                (*values.values(), grant_id, mode, app_key),
            )
            row = db.execute(
                "SELECT * FROM grants WHERE id = ? AND mode = ? AND app_key = ?", (grant_id, mode, app_key)
            ).fetchone()
        if row is None:
            raise MissingSettingError(f"seller #{grant_id} is no longer in {self.path.name}")
        return _row_to_grant(row)

    def import_grant(self, grant: Grant) -> tuple[Grant, bool]:
        """Add a grant known from elsewhere (a single-seller ``.env``) to this app and mode, unless
        its refresh token is already here: the grant, and whether it was added."""
        mode, app_key = self._owner()
        with self._transaction() as db:
            row = db.execute(
                "SELECT * FROM grants WHERE refresh_token = ? AND mode = ? AND app_key = ?",
                (grant.refresh_token.reveal(), mode, app_key),
            ).fetchone()
            added = row is None
            if row is None:
                cursor = db.execute(
                    "INSERT INTO grants (open_id, seller_name, base_region, user_type, access_token, "
                    "access_expires_at, refresh_token, refresh_expires_at, shops, api2cart_store_key, "
                    "authorized_at, mode, app_key, imported) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    (
                        grant.open_id or None,
                        grant.seller_name,
                        grant.base_region,
                        grant.user_type.value,
                        grant.access_token.reveal(),
                        _optional_seconds(grant.access_token_expires_at),
                        grant.refresh_token.reveal(),
                        _optional_seconds(grant.refresh_token_expires_at),
                        _shops_json(grant.shops),
                        grant.api2cart_store_key.reveal(),
                        _seconds(grant.authorized_at or self._now()),
                        mode,
                        app_key,
                    ),
                )
                row = db.execute("SELECT * FROM grants WHERE id = ?", (cursor.lastrowid,)).fetchone()
        return _row_to_grant(row), added
