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
* the file is git-ignored and kept at mode 0600; its secrets print masked (:class:`Grant`);
* a grant imported from a single-seller ``.env`` (no open_id yet) is merged, not dropped, when its
  seller turns up again: its shops and API2Cart store key go with it.

The file is checked before use (:mod:`.grant_schema`): another program's file, a damaged one, a
newer one or one whose ``grants`` table is gone stops every command with one line naming the file
and what to do, and is never written. Opening for reading writes nothing (readers never wait for a
writer: WAL); a write waits a few seconds for another process's write, then says the file is busy.
A write the disk refuses (full, I/O error) is tried again a few times; a token pair that still
cannot be committed raises :class:`~tiktok_helpers.errors.GrantNotSaved` (the pair rides on it), never
a traceback. The file and its ``-wal``/``-shm`` side files are set to mode 0600 on every write.
A row that cannot be read is a grant with :attr:`Grant.damage`, reported for its seller only.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import ClassVar, Final, Literal, TypeVar

from .errors import GrantDatabaseError, GrantNotSaved, MissingSettingError
from .grant_merge import imported_seller, merge_into
from .grant_notices import NoticeResult, apply_notice
from .grant_rows import Grant, GrantScope, Refresher, expiring, optional_seconds, row_to_grant, seconds, shops_json
from .grant_schema import (
    APPLICATION_ID,
    BUSY_TIMEOUT,
    FILE_MODE,
    MIGRATIONS,
    database_error,
    ensure_wal,
    failure_of,
    index_shops,
    is_empty,
    open_checked,
    rollback,
)
from .openapi import Shop
from .regions import UserType
from .secret import Secret
from .tokens import TokenSet
from .webhooks import Notice

__all__ = [
    "APPLICATION_ID",
    "FILE_MODE",
    "MIGRATIONS",
    "RETRY_DELAYS",
    "Grant",
    "GrantScope",
    "GrantStore",
    "NoticeResult",
    "Refresher",
    "expiring",
    "grants_path_for",
]

#: The pauses between tries of a write the disk refused (full, I/O error): four tries in about 1.3 s.
RETRY_DELAYS: Final = (0.05, 0.25, 1.0)
_SIDE_FILES: Final = ("", "-wal", "-shm", "-journal")
_T = TypeVar("_T")


def grants_path_for(env_path: Path) -> Path:
    """The grant database of the project whose settings file is ``env_path``: beside the file itself
    (a symlinked ``.env`` is followed, so every link to one file shares one database)."""
    real = Path(os.path.realpath(env_path))
    return real.with_name(real.name + ".grants.db")


class GrantStore:
    """The grants of one project, shared safely by every process and thread that opens the file.

    ``scope`` limits what is seen and written to one app in one mode (None: every grant, for tools
    and tests that look at the whole file). One connection per store, used under a lock (threads of
    one process, e.g. a bulk refresh, share it); SQLite's own locking serializes writers across
    processes (a write waits :data:`~tiktok_helpers.grant_schema.BUSY_TIMEOUT` for another's).
    """

    #: The class of the SQLite connection (tests put a subclass here to make the disk refuse writes).
    connection_class: ClassVar[type[sqlite3.Connection]] = sqlite3.Connection

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
        self._wal_checked = False
        self._immutable = False

    # --- the connection ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        """The connection, opened and checked (:func:`~tiktok_helpers.grant_schema.open_checked`) on
        first use; the file is created (empty, 0600) only by a write. A file in a folder this process
        may not write (no ``-wal`` pending) is read as it stands (SQLite's ``immutable``), one read
        at a time."""
        if self._db is not None:
            return self._db
        try:
            db, wrote = self._open(str(self.path), uri=False)
            self._immutable = False
        except sqlite3.Error as exc:
            if failure_of(exc).kind != "readonly" or not is_empty(self.path.with_name(self.path.name + "-wal")):
                raise database_error(exc, self.path, "opening it") from None
            try:
                db, wrote = self._open(self.path.absolute().as_uri() + "?mode=ro&immutable=1", uri=True)
            except sqlite3.Error as again:
                raise database_error(again, self.path, "opening it") from None
            self._immutable = True
        if wrote:
            self._secure()
        self._db = db
        return db

    def _open(self, target: str, *, uri: bool) -> tuple[sqlite3.Connection, bool]:
        """A connection to ``target``, checked; and whether opening it wrote (created, upgraded)."""
        db = sqlite3.connect(
            target, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False,
            factory=self.connection_class, uri=uri,
        )  # fmt: skip
        try:
            db.row_factory = sqlite3.Row
            wrote = open_checked(db, self.path)
            db.execute("PRAGMA synchronous=FULL")
            return db, self._claim_unowned(db) or wrote
        except BaseException:
            db.close()
            raise

    def _claim_unowned(self, db: sqlite3.Connection) -> bool:
        """Live grants from before grants recorded their app belong to the first live app opening
        them (a write only when there are such grants). True when it wrote."""
        scope = self.scope
        if scope is None or scope.mode != "live" or not scope.app_key:
            return False
        if db.execute("SELECT 1 FROM grants WHERE mode = 'live' AND app_key = '' LIMIT 1").fetchone() is None:
            return False
        with self._lock:
            self._secure()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("UPDATE grants SET app_key = ? WHERE mode = 'live' AND app_key = ''", (scope.app_key,))
            except BaseException:
                rollback(db)
                raise
            db.execute("COMMIT")
        return True

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
                self._wal_checked = False

    def _secure(self) -> None:
        """No access for group and others to the file and its side files, whatever mode they had (a
        copy restored 0644 ends 0600); the owner's bits are never widened (a 0400 file stays so)."""
        for suffix in _SIDE_FILES:
            name = self.path.with_name(self.path.name + suffix)
            try:
                mode = stat.S_IMODE(os.stat(name).st_mode)
                if mode & ~FILE_MODE:
                    os.chmod(name, mode & FILE_MODE)
            except OSError:
                continue  # absent, or not ours to change

    def _create(self) -> None:
        """An empty file, 0600, for the first write (SQLite would use the umask, often 0644); its
        schema is written by :func:`~tiktok_helpers.grant_schema.open_checked` in one transaction."""
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        except FileExistsError:
            pass  # another process was first
        except OSError as exc:
            raise GrantDatabaseError(
                self.path,
                f"could not create the grant database {self.path}: {exc.strerror or exc}",
                f"Check that you may write in {self.path.parent}, then run the step again.",
            ) from None

    def _write(self, work: Callable[[sqlite3.Connection], _T], doing: str) -> _T:
        """``work`` in one write transaction (``BEGIN IMMEDIATE``: the write lock taken up front),
        committed; tried again after :data:`RETRY_DELAYS` when the disk refuses it (full, I/O error).
        Any other failure, or the last, is a :class:`GrantDatabaseError` saying what ``doing`` met."""
        with self._lock:
            if self._db is None and not self.path.exists():
                self._create()
            db = self._connect()
            try:
                if not self._wal_checked:
                    ensure_wal(db)  # a file put back in another journal mode would make readers wait
                    self._wal_checked = True
                return self._commit(db, work, doing)
            finally:
                if self._immutable:
                    self.close()  # a read-only folder: the next step looks again

    def _commit(self, db: sqlite3.Connection, work: Callable[[sqlite3.Connection], _T], doing: str) -> _T:
        for attempt in range(len(RETRY_DELAYS) + 1):
            self._secure()  # before SQLite writes the side files, and again after
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    result = work(db)
                    db.execute("COMMIT")
                except BaseException:
                    rollback(db)
                    raise
            except sqlite3.Error as exc:
                if failure_of(exc).retry and attempt < len(RETRY_DELAYS):
                    time.sleep(RETRY_DELAYS[attempt])
                    continue
                raise database_error(exc, self.path, doing) from None
            finally:
                self._secure()
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _where(self) -> tuple[str, tuple[object, ...]]:
        if self.scope is None:
            return "1 = 1", ()
        return "mode = ? AND app_key = ?", (self.scope.mode, self.scope.app_key)

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        """``sql`` with ``{scope}`` standing for this store's app and mode condition."""
        where, scope_params = self._where()
        with self._lock:
            if self._db is None and is_empty(self.path):
                return []  # nothing authorized yet: do not create the file, or its tables, just to read it
            db = self._connect()
            try:
                return db.execute(sql.format(scope=where), (*scope_params, *params)).fetchall()
            except sqlite3.Error as exc:
                raise database_error(exc, self.path, "reading it") from None
            finally:
                if self._immutable:
                    self.close()  # read as it stood: the next read looks again

    # --- reading ----------------------------------------------------------------------------------

    def all(self) -> list[Grant]:
        """Every grant of this app and mode, the most recently authorized first."""
        rows = self._read("SELECT * FROM grants WHERE {scope} ORDER BY authorized_at DESC, id DESC")
        return [row_to_grant(r) for r in rows]

    def newest(self) -> Grant | None:
        rows = self._read("SELECT * FROM grants WHERE {scope} ORDER BY authorized_at DESC, id DESC LIMIT 1")
        return row_to_grant(rows[0]) if rows else None

    def get(self, grant_id: int) -> Grant:
        rows = self._read("SELECT * FROM grants WHERE {scope} AND id = ?", (grant_id,))
        if not rows:
            raise MissingSettingError(f"seller #{grant_id} is no longer in {self.path.name}")
        return row_to_grant(rows[0])

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
        now = seconds(self._now())
        mode, app_key = self._owner()

        def work(db: sqlite3.Connection) -> sqlite3.Row:
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
                    merge_into(db, row, own)
                elif row is None:
                    row = own
            if row is None and kind == "authorized" and tokens.open_id:
                row = imported_seller(db, tokens, mode, app_key)
            values: dict[str, object] = {
                "access_token": tokens.access_token.reveal(),
                "access_expires_at": seconds(tokens.access_token_expires_at),
                "refresh_token": tokens.refresh_token.reveal(),
                "refresh_expires_at": seconds(tokens.refresh_token_expires_at),
                "imported": 0 if tokens.open_id else (row["imported"] if row is not None else 0),
                "removed_at": None,  # TikTok just answered with a new pair: the seller has not removed the app
            }
            if kind == "authorized":  # a new authorization, with its own end
                values.update(authorization_ends_at=None, expiry_notice_at=None)
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
            saved: sqlite3.Row = db.execute("SELECT * FROM grants WHERE id = ?", (new_id,)).fetchone()
            return saved

        try:
            saved = self._write(work, "saving a new token pair")
        except GrantDatabaseError as exc:
            seller = tokens.seller_name or tokens.open_id or (f"seller #{grant_id}" if grant_id else "a new seller")
            raise GrantNotSaved(self.path, reason=exc.reason, seller=seller, tokens=tokens, grant_id=grant_id) from exc
        return row_to_grant(saved)

    def save_shops(self, grant_id: int, shops: Sequence[Shop]) -> Grant:
        """The shops Get Authorized Shops answered: the token works, so the grant is verified now."""
        return self._update(grant_id, "saving the shops", shops=shops_json(shops), verified_at=seconds(self._now()))

    def save_store_key(self, grant_id: int, store_key: Secret) -> Grant:
        """The store API2Cart added: it holds the seller's refresh token now, so API2Cart refreshes
        this seller from now on (:class:`Refresher`)."""
        return self._update(
            grant_id,
            "saving the API2Cart store key",
            api2cart_store_key=store_key.reveal(),
            refresher=Refresher.API2CART.value,
            refresher_reason="store-added",
            refresher_since=seconds(self._now()),
        )

    def set_refresher(self, grant_id: int, refresher: Refresher, reason: str = "switched") -> Grant:
        """Make ``refresher`` the one party that refreshes this seller."""
        return self._update(
            grant_id,
            "saving who refreshes the seller",
            refresher=Refresher(refresher).value,
            refresher_reason=reason,
            refresher_since=seconds(self._now()),
        )

    def record_notice(self, notice: Notice) -> NoticeResult:
        """Apply a verified webhook notice to the grants it names, once per notification id, in one
        transaction (:mod:`.grant_notices`); a duplicate changes nothing."""
        mode, app_key = self._owner()
        now = self._now()
        return self._write(lambda db: apply_notice(db, notice, mode, app_key, now), "recording a webhook notice")

    def _update(self, grant_id: int, doing: str, **values: object) -> Grant:
        assignments = ", ".join(f"{name} = ?" for name in values)
        mode, app_key = self._owner()

        def work(db: sqlite3.Connection) -> sqlite3.Row | None:
            changed = db.execute(
                f"UPDATE grants SET {assignments} WHERE id = ? AND mode = ? AND app_key = ?",  # noqa: S608
                (*values.values(), grant_id, mode, app_key),
            ).rowcount
            if changed and "shops" in values:
                index_shops(db, grant_id, values["shops"])
            row: sqlite3.Row | None = db.execute(
                "SELECT * FROM grants WHERE id = ? AND mode = ? AND app_key = ?", (grant_id, mode, app_key)
            ).fetchone()
            return row

        row = self._write(work, doing)
        if row is None:
            raise MissingSettingError(f"seller #{grant_id} is no longer in {self.path.name}")
        return row_to_grant(row)

    def import_grant(self, grant: Grant) -> tuple[Grant, bool]:
        """Add a grant known from elsewhere (a single-seller ``.env``) to this app and mode, unless
        its refresh token is already here: the grant, and whether it was added."""
        mode, app_key = self._owner()

        def work(db: sqlite3.Connection) -> tuple[sqlite3.Row, bool]:
            row = db.execute(
                "SELECT * FROM grants WHERE refresh_token = ? AND mode = ? AND app_key = ?",
                (grant.refresh_token.reveal(), mode, app_key),
            ).fetchone()
            if row is not None:
                return row, False
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
                    optional_seconds(grant.access_token_expires_at),
                    grant.refresh_token.reveal(),
                    optional_seconds(grant.refresh_token_expires_at),
                    shops_json(grant.shops),
                    grant.api2cart_store_key.reveal(),
                    seconds(grant.authorized_at or self._now()),
                    mode,
                    app_key,
                ),
            )
            index_shops(db, int(cursor.lastrowid or 0), shops_json(grant.shops))
            return db.execute("SELECT * FROM grants WHERE id = ?", (cursor.lastrowid,)).fetchone(), True

        row, added = self._write(work, "importing the seller's grant")
        return row_to_grant(row), added
