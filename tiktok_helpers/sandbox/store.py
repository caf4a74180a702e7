"""The sandbox's mutable data: codes, grants, minted sellers, API2Cart stores and redirect URLs
(the webhook outbox's rows are :mod:`.outbox`'s).

:class:`StateStore` reads and writes them as rows of the state database (:mod:`.schema`), one
indexed row per object, through :class:`~.database.StateDatabase`. The rules (:mod:`.tiktok`,
:mod:`.api2cart`, :mod:`.agency`) wrap each request-level operation in :meth:`StateStore.reading`
or :meth:`StateStore.mutation`: one transaction, which the store's methods join.

Persistence (``state_path``)
----------------------------
With a ``state_path`` the data lives in an SQLite database shared by every sandbox (in any
process) that uses the same path, so a runbook whose notebooks each start their own sandbox, and
consecutive commands of the command line, keep their codes, tokens and stores; without one it
lives in a private in-memory database.

* Every operation reads the database as it is now, so each sandbox sees the others' changes at
  once, without a restart; a change writes only the rows it touches (its cost does not grow with
  the number of grants) and commits once. The file itself (mode 0600, WAL, locking, a file
  deleted or replaced by another program) is described in :mod:`.database`.
* A file that is not a usable sandbox database (not SQLite, another program's database, another
  schema version, unexpected tables, corrupt) is moved aside as ``<name>.corrupt`` with a warning
  on the ``tiktok_helpers.sandbox`` logger (naming the problem, never a value), and the sandbox
  continues from empty state.
* :meth:`StateStore.reset` (``SandboxState.reset``) empties every table in one transaction (the
  file stays: other sandboxes keep it open), so every sandbox on the file sees empty state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .database import StateDatabase
from .model import Api2CartAccount, App, AuthCode, Grant, SampleShop, Seller, StoredCart
from .schema import TABLES

__all__ = ["StateStore"]

_GRANT_COLUMNS = ", ".join(TABLES["grants"][1:])
_CART_COLUMNS = ", ".join(TABLES["carts"])
_INSERT_GRANT = f"INSERT INTO grants ({_GRANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_CODE_COLUMNS = "code, app_key, seller_key, user_type, issued_at, used"


class StateStore:
    """The rows of the state database, as the sandbox's objects.

    ``apps``, ``sellers`` and ``accounts`` are the sandbox's fixed objects from code (the apps
    with their default redirect URLs, the sample sellers); the database adds redirect URLs,
    minted sellers and everything issued.
    """

    def __init__(
        self,
        apps: Mapping[str, App],
        sellers: Mapping[str, Seller],
        accounts: Mapping[str, Api2CartAccount],
        state_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.apps = apps
        self.sellers = sellers
        self.accounts = accounts
        self.db = StateDatabase(state_path)

    @property
    def path(self) -> Path | None:
        """The state database file (None: in memory only)."""
        return self.db.path

    def sync(self) -> None:
        """Open the file again if another program deleted or replaced it (a ``stat`` otherwise)."""
        self.db.sync()

    def reset(self) -> None:
        """Forget codes, grants, minted sellers, stores, redirect URLs and webhooks (for every sandbox)."""
        with self.db.transaction(write=True) as c:
            for table in TABLES:
                c.execute(f"DELETE FROM {table}")  # noqa: S608 (table names from code)

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: a consistent snapshot for a request-level operation."""
        with self.db.transaction(write=False) as c:
            yield c

    @contextlib.contextmanager
    def mutation(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of a request-level operation's changes, or none."""
        with self.db.transaction(write=True) as c:
            yield c

    # ------------------------------------------------------------------ apps and sellers
    def app(self, app_key: str) -> App | None:
        """The app with its current redirect URL (the registered one, else its default)."""
        app = self.apps.get(app_key)
        if app is None:
            return None
        with self.reading() as c:
            row = c.execute("SELECT redirect_url FROM redirect_urls WHERE app_key = ?", (app_key,)).fetchone()
        return dataclasses.replace(app, redirect_url=row[0]) if row is not None else app

    def set_redirect_url(self, app_key: str, url: str) -> None:
        with self.mutation() as c:
            c.execute("INSERT OR REPLACE INTO redirect_urls (app_key, redirect_url) VALUES (?, ?)", (app_key, url))

    def seller(self, key: str) -> Seller | None:
        """A sample seller, or one minted for an agency's account (with its shops)."""
        seller = self.sellers.get(key)
        if seller is not None:
            return seller
        with self.reading() as c:
            row = c.execute("SELECT name, base_region, open_id FROM sellers WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            shops = c.execute(
                "SELECT id, name, region, seller_type, cipher, code FROM shops WHERE seller_key = ? ORDER BY position",
                (key,),
            ).fetchall()
        return Seller(key, row[0], row[1], row[2], tuple(SampleShop(*shop) for shop in shops))

    def minted_seller_count(self) -> int:
        with self.reading() as c:
            count: int = c.execute("SELECT COUNT(*) FROM sellers").fetchone()[0]
        return count

    def add_minted(self, sellers: Iterable[Seller], grants: Iterable[Grant]) -> None:
        """Store minted sellers, their shops and their grants (many rows, one statement per table)."""
        sellers = list(sellers)
        with self.mutation() as c:
            c.executemany(
                "INSERT INTO sellers (key, name, base_region, open_id) VALUES (?, ?, ?, ?)",
                [(s.key, s.name, s.base_region, s.open_id) for s in sellers],
            )
            c.executemany(
                "INSERT INTO shops (id, seller_key, position, name, region, seller_type, cipher, code) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (shop.id, s.key, i, shop.name, shop.region, shop.seller_type, shop.cipher, shop.code)
                    for s in sellers
                    for i, shop in enumerate(s.shops)
                ],
            )
            c.executemany(_INSERT_GRANT, map(_grant_row, grants))

    # ------------------------------------------------------------------ authorization codes
    def add_code(self, code: AuthCode) -> None:
        with self.mutation() as c:
            c.execute(
                f"INSERT INTO auth_codes ({_CODE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",  # noqa: S608
                (code.code, code.app_key, code.seller_key, code.user_type, code.issued_at, int(code.used)),
            )

    def code(self, code: str) -> AuthCode | None:
        with self.reading() as c:
            row = c.execute(f"SELECT {_CODE_COLUMNS} FROM auth_codes WHERE code = ?", (code,)).fetchone()  # noqa: S608
        return _code(row) if row is not None else None

    def use_code(self, code: str) -> None:
        with self.mutation() as c:
            c.execute("UPDATE auth_codes SET used = 1 WHERE code = ?", (code,))

    def backdate_code(self, code: str, issued_at: float) -> None:
        """Change when ``code`` was issued (a training scenario: a code left waiting too long)."""
        with self.mutation() as c:
            c.execute("UPDATE auth_codes SET issued_at = ? WHERE code = ?", (issued_at, code))

    def codes(self) -> dict[str, AuthCode]:
        """Every issued code (a snapshot; reads the whole table)."""
        with self.reading() as c:
            rows = c.execute(f"SELECT {_CODE_COLUMNS} FROM auth_codes").fetchall()  # noqa: S608
        return {row[0]: _code(row) for row in rows}

    # ------------------------------------------------------------------ grants
    def add_grant(self, grant: Grant) -> None:
        with self.mutation() as c:
            c.execute(_INSERT_GRANT, _grant_row(grant))

    def grant_by_refresh(self, refresh_token: str) -> Grant | None:
        return self._grant("refresh_token", refresh_token)

    def grant_by_access(self, access_token: str) -> Grant | None:
        return self._grant("access_token", access_token)

    def _grant(self, column: str, token: str) -> Grant | None:
        with self.reading() as c:
            query = f"SELECT {_GRANT_COLUMNS} FROM grants WHERE {column} = ?"  # noqa: S608
            row = c.execute(query, (token,)).fetchone()
        return _grant(row) if row is not None else None

    def rotate(self, old_refresh_token: str, grant: Grant) -> None:
        """Save ``grant``'s new tokens and access expiry over the grant holding ``old_refresh_token``."""
        with self.mutation() as c:
            c.execute(
                "UPDATE grants SET refresh_token = ?, access_token = ?, access_expires_at = ? WHERE refresh_token = ?",
                (grant.refresh_token, grant.access_token, grant.access_expires_at, old_refresh_token),
            )

    def replace_grant(self, grant: Grant) -> None:
        """Save every field of ``grant`` over the grant with the same refresh token (its scopes, expiries)."""
        with self.mutation() as c:
            c.execute(
                "UPDATE grants SET scopes = ?, access_token = ?, access_expires_at = ?, refresh_expires_at = ? "
                "WHERE refresh_token = ?",
                (" ".join(grant.scopes), grant.access_token, grant.access_expires_at, grant.refresh_expires_at,
                 grant.refresh_token),
            )  # fmt: skip

    def delete_grants(self, seller_key: str) -> int:
        with self.mutation() as c:
            return c.execute("DELETE FROM grants WHERE seller_key = ?", (seller_key,)).rowcount

    def grants_of(self, seller_key: str) -> list[Grant]:
        """Every grant of one seller, oldest first."""
        with self.reading() as c:
            query = f"SELECT {_GRANT_COLUMNS} FROM grants WHERE seller_key = ? ORDER BY id"  # noqa: S608
            rows = c.execute(query, (seller_key,)).fetchall()
        return [_grant(row) for row in rows]

    def latest_ends(self, after: float, until: float, user_type: int) -> list[tuple[str, str, int]]:
        """``(app_key, seller_key, end)`` for each app and seller whose LATEST authorization end among
        its grants of other user types than ``user_type`` is in ``(after, until]``."""
        with self.reading() as c:
            rows = c.execute(
                "SELECT app_key, seller_key, MAX(refresh_expires_at) AS ends FROM grants WHERE user_type != ? "
                "GROUP BY app_key, seller_key HAVING ends > ? AND ends <= ? ORDER BY app_key, seller_key",
                (user_type, after, until),
            ).fetchall()
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    def grants(self) -> list[Grant]:
        """Every grant, oldest first (a snapshot; reads the whole table)."""
        with self.reading() as c:
            rows = c.execute(f"SELECT {_GRANT_COLUMNS} FROM grants ORDER BY id").fetchall()  # noqa: S608
        return [_grant(row) for row in rows]

    # ------------------------------------------------------------------ API2Cart stores
    def carts(self, api_key: str) -> list[StoredCart]:
        with self.reading() as c:
            query = f"SELECT {_CART_COLUMNS} FROM carts WHERE api_key = ? ORDER BY id"  # noqa: S608
            rows = c.execute(query, (api_key,)).fetchall()
        return [_cart(row) for row in rows]

    def cart_by_store_key(self, api_key: str, store_key: str) -> StoredCart | None:
        return self._cart("store_key", api_key, store_key)

    def cart_by_credentials(self, api_key: str, app_key: str, refresh_token: str) -> StoredCart | None:
        """A store of the account that holds this TikTok App Key and refresh token, if any."""
        with self.reading() as c:
            row = c.execute(
                f"SELECT {_CART_COLUMNS} FROM carts WHERE refresh_token = ? AND app_key = ? AND api_key = ?",  # noqa: S608
                (refresh_token, app_key, api_key),
            ).fetchone()
        return _cart(row) if row is not None else None

    def _cart(self, column: str, api_key: str, value: str) -> StoredCart | None:
        with self.reading() as c:
            row = c.execute(
                f"SELECT {_CART_COLUMNS} FROM carts WHERE {column} = ? AND api_key = ?",  # noqa: S608
                (value, api_key),
            ).fetchone()
        return _cart(row) if row is not None else None

    def add_cart(self, api_key: str, cart: StoredCart) -> StoredCart:
        """Store a new cart; its ``id`` is assigned here (the next one in API2Cart's list)."""
        with self.mutation() as c:
            cursor = c.execute(
                f"INSERT INTO carts ({_CART_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                (api_key, *_cart_values(cart)),
            )
        return dataclasses.replace(cart, id=str(cursor.lastrowid))

    def delete_cart(self, api_key: str, store_key: str) -> int:
        """Remove a store from an account (as deleting it in API2Cart's admin panel does)."""
        with self.mutation() as c:
            return c.execute("DELETE FROM carts WHERE api_key = ? AND store_key = ?", (api_key, store_key)).rowcount

    def update_cart(self, cart: StoredCart) -> None:
        with self.mutation() as c:
            c.execute(
                "UPDATE carts SET custom_label = ?, app_key = ?, app_secret = ?, refresh_token = ?, "
                "access_token = ? WHERE id = ?",
                (*_cart_values(cart)[3:], int(cart.id)),
            )


def _code(row: Any) -> AuthCode:
    return AuthCode(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


def _grant_row(grant: Grant) -> tuple[Any, ...]:
    return (
        grant.app_key,
        grant.seller_key,
        grant.user_type,
        grant.open_id,
        " ".join(grant.scopes),
        grant.access_token,
        grant.access_expires_at,
        grant.refresh_token,
        grant.refresh_expires_at,
    )


def _grant(row: Any) -> Grant:
    return Grant(row[0], row[1], row[2], row[3], tuple(row[4].split()), row[5], row[6], row[7], row[8])


def _cart_values(cart: StoredCart) -> tuple[Any, ...]:
    return (
        cart.store_key,
        cart.cart_id,
        cart.url,
        cart.custom_label,
        cart.app_key,
        cart.app_secret,
        cart.refresh_token,
        cart.access_token,
    )


def _cart(row: Any) -> StoredCart:
    return StoredCart(str(row[0]), *row[2:])
