"""Every seller's grant, in the SQLite file beside ``.env`` or in a PostgreSQL database a team shares.

Integrators connect one client's shop after another with the same app, so the runbook holds one
*grant* per authorized seller: who (open_id, seller name, base region, user type), the access and
refresh tokens with their absolute expiries, the scopes granted, the shops with their ciphers, the
API2Cart store key, and when each was last refreshed and verified. A grant is the only place a
seller's tokens live. The app's own settings stay in ``.env``; the grants live in
``<env file>.grants.db`` (``.env.grants.db`` for ``.env``), or, when ``TIKTOK_GRANTS_URL`` names one,
in a PostgreSQL database (:mod:`.grant_pg`) that several folders and machines share. The SQL below is
written once for both (:mod:`.grant_sql`); each database keeps its own rules of storage
(:mod:`.grant_sqlite`, :mod:`.grant_pg`).

A grant belongs to one app in one mode: it records the mode (sandbox or live) and the App Key its
tokens were issued for, and a :class:`GrantStore` opened for a :class:`GrantScope` sees and writes
only that app's grants in that mode, so a sandbox token is never sent to a live host (or the
reverse) and two apps sharing a store never see each other's sellers.

Nothing is lost:

* every write is one transaction that updates only the columns it owns, so a refresh in one
  process and a store key saved in another both survive; writes that create or merge sellers, or
  apply a webhook notice, happen one at a time (on PostgreSQL too, across machines);
* a new token pair is committed the moment it arrives (:meth:`GrantStore.save_tokens`);
* a committed pair survives a crash (SQLite: WAL with ``synchronous=FULL``; PostgreSQL: its commit);
* the SQLite file is git-ignored and kept at mode 0600; secrets print masked (:class:`Grant`);
* a grant imported from a single-seller ``.env`` (no open_id yet) is merged, not dropped, when its
  seller turns up again: its shops and API2Cart store key go with it.

The store is checked before use: another program's file or schema, a damaged one, a newer one or
one whose ``grants`` table is gone stops every command with one line naming it and what to do, and
is never written. A pair that cannot be committed raises
:class:`~tiktok_helpers.errors.GrantNotSaved` (the pair rides on it), never a traceback. A row that
cannot be read is a grant with :attr:`Grant.damage`, reported for its seller only.

One refresh per seller at a time (:meth:`GrantStore.seller_locked`) and one keep-alive at a time
(:meth:`GrantStore.exclusive`) hold across processes, and on PostgreSQL across machines; runs of
``refresh --all`` on several machines divide the sellers (:mod:`.grant_rounds`).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, TypeVar

from . import grant_rounds
from .errors import GrantDatabaseError, GrantNotSaved, MissingSettingError
from .grant_merge import imported_seller, merge_into
from .grant_notices import NoticeResult, apply_notice
from .grant_rounds import Round
from .grant_rows import (
    Grant,
    GrantScope,
    Refresher,
    expiring,
    grant_values,
    optional_seconds,
    row_to_grant,
    seconds,
    shops_json,
)
from .grant_schema import APPLICATION_ID, FILE_MODE, MIGRATIONS
from .grant_sql import Database, Row, Tx, assignments, index_shops
from .grant_sqlite import SqliteDatabase
from .openapi import Shop
from .regions import UserType
from .secret import Secret
from .seller_lock import WAIT_LIMIT
from .store_url import StoreUrl
from .tokens import TokenSet
from .webhooks import Notice

__all__ = [
    "APPLICATION_ID",
    "FILE_MODE",
    "MIGRATIONS",
    "Grant",
    "GrantScope",
    "GrantStore",
    "NoticeResult",
    "Refresher",
    "expiring",
    "grants_path_for",
    "open_database",
]

_T = TypeVar("_T")


def open_database(location: Path | str | StoreUrl) -> Database:
    """The database at ``location``: a :class:`StoreUrl` is a PostgreSQL database (the driver is
    loaded on first use), anything else the path of an SQLite file."""
    if isinstance(location, StoreUrl):
        from .grant_pg import PostgresDatabase  # deferred: psycopg is loaded only for a PostgreSQL store

        return PostgresDatabase(location)
    return SqliteDatabase(location)


def grants_path_for(env_path: Path) -> Path:
    """The grant database of the project whose settings file is ``env_path``: beside the file itself
    (a symlinked ``.env`` is followed, so every link to one file shares one database)."""
    real = Path(os.path.realpath(env_path))
    return real.with_name(real.name + ".grants.db")


class GrantStore:
    """The grants of one project, shared safely by every process and thread (and, on PostgreSQL,
    every machine) that opens the store.

    ``location`` is the SQLite file (a path) or a :class:`~tiktok_helpers.store_url.StoreUrl` of a
    PostgreSQL database; ``scope`` limits what is seen and written to one app in one mode (None:
    every grant, for tools and tests that look at the whole store). The database does the storing
    (:class:`~tiktok_helpers.grant_sql.Database`: :mod:`.grant_sqlite` or :mod:`.grant_pg`); this
    class says what is stored.
    """

    def __init__(
        self,
        location: Path | str | StoreUrl,
        *,
        scope: GrantScope | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db: Database = open_database(location)
        self.scope = scope
        self._now = clock or (lambda: datetime.now(timezone.utc))
        self._claimed: GrantScope | None = None

    @property
    def path(self) -> Path | None:
        """The SQLite file holding the grants (None when they are in PostgreSQL)."""
        return self.db.path

    @property
    def location(self) -> str:
        """Where the grants are, for people: the file's path, or the URL with its password masked."""
        return self.db.location

    def close(self) -> None:
        self.db.close()
        self._claimed = None

    def _ready(self) -> None:
        """Live grants from before grants recorded their app belong to the first live app opening
        the store (a write only when there are such grants)."""
        scope = self.scope
        if scope == self._claimed:
            return
        self._claimed = scope
        if scope is None or scope.mode != "live" or not scope.app_key:
            return
        if not self.db.read("SELECT 1 AS found FROM grants WHERE mode = 'live' AND app_key = '' LIMIT 1"):
            return
        self.db.write(
            lambda db: db.execute(
                "UPDATE grants SET app_key = ? WHERE mode = 'live' AND app_key = ''", (scope.app_key,)
            ),
            "giving older live grants their App Key",
        )

    def _write(self, work: Callable[[Tx], _T], doing: str, *, serialize: bool = True) -> _T:
        self._ready()
        return self.db.write(work, doing, serialize=serialize)

    def _where(self) -> tuple[str, tuple[object, ...]]:
        if self.scope is None:
            return "1 = 1", ()
        return "mode = ? AND app_key = ?", (self.scope.mode, self.scope.app_key)

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """``sql`` with ``{scope}`` standing for this store's app and mode condition."""
        self._ready()
        where, scope_params = self._where()
        return self.db.read(sql.format(scope=where), (*scope_params, *params))

    def analyze(self) -> None:
        """After many rows arrive at once (``sellers import``): PostgreSQL's planner gets their
        statistics now, not when autovacuum comes (until then it read every row to find one seller:
        2.5 ms instead of 0.03, benchmarks/shared_store.py). Best effort: a role that does not own
        the tables may not ANALYZE them, and autovacuum does it soon anyway; SQLite needs nothing."""
        if self.db.path is not None:
            return
        with contextlib.suppress(GrantDatabaseError):
            self._write(lambda db: db.execute("ANALYZE grants"), "analyzing the grants", serialize=False)

    # --- locks: one refresh per seller, one keep-alive ---------------------------------------------

    def seller_locked(
        self, grant_id: int, *, stop: threading.Event | None = None, wait: float = WAIT_LIMIT, what: str = ""
    ) -> AbstractContextManager[None]:
        """Hold the seller's refresh lock across threads, processes and (PostgreSQL) machines:
        waits up to ``wait`` seconds, or until ``stop`` is set; either way nothing was sent."""
        return self.db.seller_locked(grant_id, stop=stop, wait=wait, what=what)

    def exclusive(self, name: str) -> AbstractContextManager[str]:
        """Try to hold the lock ``name`` for everyone using this store: "" when held, else who holds it."""
        return self.db.exclusive(name)

    # --- rounds: refresh --all from several processes or machines ----------------------------------

    def begin_round(self, kind: str) -> Round:
        """Register a run of ``refresh --all`` (:mod:`.grant_rounds`): in a live run's round, or a new one."""
        mode, app_key = self._owner()
        now = seconds(self._now())
        return self._write(lambda db: grant_rounds.begin(db, mode, app_key, kind, now), "starting a refresh run")

    def claim(self, run: Round, limit: int, due_before: datetime | None = None, after: int = 0) -> list[int]:
        """Claim up to ``limit`` sellers for this run, ids above ``after`` (none left: an empty list)."""
        where, params = self._where()
        now = seconds(self._now())
        due = optional_seconds(due_before)

        def work(db: Tx) -> list[int]:
            return grant_rounds.claim(db, where, params, run, limit, now, due, after)

        return self._write(work, "claiming sellers to refresh", serialize=False)

    def attempted(self, grant_id: int, run: Round) -> None:
        """This round tried the seller and the service refused: the round's other runs leave it alone."""
        self._write(
            lambda db: grant_rounds.attempted(db, grant_id, run), "recording a refused refresh", serialize=False
        )

    def end_round(self, run: Round) -> None:
        now = seconds(self._now())
        self._write(lambda db: grant_rounds.end(db, run, now), "ending a refresh run", serialize=False)

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
            raise MissingSettingError(f"seller #{grant_id} is no longer in {self.name}")
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

    @property
    def name(self) -> str:
        """The store in a few words: the file's name, or the URL with its password masked."""
        return self.db.path.name if self.db.path is not None else self.db.location

    def _owner(self) -> tuple[str, str]:
        return (self.scope.mode, self.scope.app_key) if self.scope else ("", "")

    def save_tokens(
        self,
        tokens: TokenSet,
        *,
        grant_id: int | None = None,
        kind: Literal["authorized", "refreshed"] = "authorized",
        round_id: str = "",
    ) -> Grant:
        """Commit a token reply at once. The grant is found by the reply's open_id (so authorizing a
        seller again updates their grant), else by ``grant_id``; a new seller gets a new grant.
        ``round_id``: the round of ``refresh --all`` the pair belongs to (:mod:`.grant_rounds`).

        A grant imported from a single-seller ``.env`` learns its open_id here. When that seller
        already has a grant of their own (they authorized again meanwhile), the two become one: the
        imported grant's shops and API2Cart store key move to it where it has none, and the new pair
        is kept."""
        now = seconds(self._now())
        mode, app_key = self._owner()

        def work(db: Tx) -> Row:
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
            if round_id:  # this round has taken care of the seller; the claim is done
                values.update(refresh_round=round_id, claimed_by="", claimed_until=None)
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
                new_id = db.insert("grants", values)
            else:
                new_id = int(row["id"])
                db.execute(f"UPDATE grants SET {assignments(values)} WHERE id = ?", (*values.values(), new_id))  # noqa: S608
            saved: Row = db.execute("SELECT * FROM grants WHERE id = ?", (new_id,)).fetchone()
            return saved

        # A refresh's pair changes only its own row (row locks suffice); a new authorization may
        # create a seller or merge two, which happens one at a time.
        plain = kind == "refreshed" and grant_id is not None
        try:
            saved = self._write(work, "saving a new token pair", serialize=not plain)
        except GrantDatabaseError as exc:
            seller = tokens.seller_name or tokens.open_id or (f"seller #{grant_id}" if grant_id else "a new seller")
            raise GrantNotSaved(
                self.location, reason=exc.reason, seller=seller, tokens=tokens, grant_id=grant_id
            ) from exc
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
        set_list = assignments(values)
        mode, app_key = self._owner()

        def work(db: Tx) -> Row | None:
            changed = db.execute(
                f"UPDATE grants SET {set_list} WHERE id = ? AND mode = ? AND app_key = ?",  # noqa: S608
                (*values.values(), grant_id, mode, app_key),
            ).rowcount
            if changed and "shops" in values:
                index_shops(db, grant_id, values["shops"])
            row: Row | None = db.execute(
                "SELECT * FROM grants WHERE id = ? AND mode = ? AND app_key = ?", (grant_id, mode, app_key)
            ).fetchone()
            return row

        row = self._write(work, doing, serialize=False)
        if row is None:
            raise MissingSettingError(f"seller #{grant_id} is no longer in {self.name}")
        return row_to_grant(row)

    def import_grant(self, grant: Grant) -> tuple[Grant, bool]:
        """Add a grant known from elsewhere (a single-seller ``.env``) to this app and mode, unless
        its refresh token is already here: the grant, and whether it was added."""
        mode, app_key = self._owner()

        def work(db: Tx) -> tuple[Row, bool]:
            row = db.execute(
                "SELECT * FROM grants WHERE refresh_token = ? AND mode = ? AND app_key = ?",
                (grant.refresh_token.reveal(), mode, app_key),
            ).fetchone()
            if row is not None:
                return row, False
            new_id = db.insert("grants", {
                "open_id": grant.open_id or None,
                "seller_name": grant.seller_name,
                "base_region": grant.base_region,
                "user_type": grant.user_type.value,
                "access_token": grant.access_token.reveal(),
                "access_expires_at": optional_seconds(grant.access_token_expires_at),
                "refresh_token": grant.refresh_token.reveal(),
                "refresh_expires_at": optional_seconds(grant.refresh_token_expires_at),
                "shops": shops_json(grant.shops),
                "api2cart_store_key": grant.api2cart_store_key.reveal(),
                "authorized_at": seconds(grant.authorized_at or self._now()),
                "mode": mode,
                "app_key": app_key,
                "imported": 1,
            })  # fmt: skip
            index_shops(db, new_id, shops_json(grant.shops))
            return db.execute("SELECT * FROM grants WHERE id = ?", (new_id,)).fetchone(), True

        row, added = self._write(work, "importing the seller's grant")
        return row_to_grant(row), added

    def adopt(self, grant: Grant) -> tuple[Grant, Literal["added", "updated", "kept"]]:
        """Take in a grant from another store (``sellers import``), into this store's app and mode:
        added when the seller is not here (by open_id; a grant without one by its refresh token);
        when the seller is here, the newer of the two (by its last authorization or refresh) is kept
        whole. The grant as stored now, and which it was."""
        mode, app_key = self._owner()
        values = {**grant_values(grant), "mode": mode, "app_key": app_key}

        def newest(row: Row | Grant) -> int:
            if isinstance(row, Grant):
                return max(optional_seconds(row.authorized_at) or 0, optional_seconds(row.refreshed_at) or 0)
            return max(row["authorized_at"] or 0, row["refreshed_at"] or 0)

        def work(db: Tx) -> tuple[Row, Literal["added", "updated", "kept"]]:
            done: Literal["added", "updated", "kept"]
            key, value = ("open_id", grant.open_id) if grant.open_id else ("refresh_token", values["refresh_token"])
            row = db.execute(
                f"SELECT * FROM grants WHERE {key} = ? AND mode = ? AND app_key = ?",  # noqa: S608
                (value, mode, app_key),
            ).fetchone()
            if row is None:
                grant_id, done = db.insert("grants", values), "added"
            elif newest(grant) > newest(row):
                grant_id, done = int(row["id"]), "updated"
                db.execute(f"UPDATE grants SET {assignments(values)} WHERE id = ?", (*values.values(), grant_id))  # noqa: S608
            else:
                return row, "kept"
            index_shops(db, grant_id, values["shops"])
            saved: Row = db.execute("SELECT * FROM grants WHERE id = ?", (grant_id,)).fetchone()
            return saved, done

        row, done = self._write(work, f"importing {grant.label}'s grant")
        return row_to_grant(row), done
