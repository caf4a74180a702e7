"""A grant store a team shares: every seller's grant in one PostgreSQL database (psycopg 3).

Chosen by ``TIKTOK_GRANTS_URL=postgresql://...`` (:mod:`.store_url`); the store's SQL is the same as
for the SQLite file (:mod:`.grant_sql`), and so are its rules: one writer for what must not race,
one refresh per seller at a time, nothing written to a database this project did not create.

* **The schema** is made and upgraded by the same numbered steps as the SQLite file
  (:data:`~tiktok_helpers.grant_migrations.POSTGRESQL`), recorded in the ``runbook_schema`` table
  (``application_id`` "TTKG", ``version``), in one transaction under an advisory lock, so two
  machines starting at once do it once. A schema (PostgreSQL's namespace: the first of the
  connection's ``search_path``) that holds other tables and not ``runbook_schema`` is another
  program's: refused, nothing created in it. A newer version is refused too.
* **Writes** are transactions; those that create or merge sellers, apply a webhook notice or claim
  a round take a transaction-level advisory lock, so they happen one at a time across machines as
  SQLite's do; a refresh's new pair and a claim of rows only lock the rows they touch (``FOR UPDATE
  SKIP LOCKED`` for claims: several machines take different sellers at once).
* **A seller's refresh lock** is a session-level advisory lock, ``pg_try_advisory_lock`` polled
  (a stop request ends the wait), held on a connection of its own for the length of the refresh:
  PostgreSQL releases it when that connection ends, so a machine that dies blocks nobody. The
  keep-alive's lock is one more (who holds it: ``pg_stat_activity``'s ``application_name``, which
  names the machine and process).
* **Connections** come from psycopg's pools (``psycopg_pool``), opened on demand: up to
  :data:`POOL_SIZE` per store for reads and writes, and a pool of their own for held locks (up to
  :data:`LOCK_POOL_SIZE`): a bulk refresh's threads each hold a lock's connection while they borrow
  another to commit, so locks held can never take every connection a commit needs.
* **Failures** become one line (:class:`~tiktok_helpers.errors.GrantDatabaseError`) naming the store
  by its URL with the password masked; a serialization failure, a deadlock or a dropped connection
  is tried again after :data:`RETRY_DELAYS` (every write here may be applied twice safely: a pair is
  found by its seller, a notice by its id, a claim names its run).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .errors import GrantDatabaseBusy, GrantDatabaseError
from .grant_migrations import POSTGRESQL as MIGRATIONS
from .grant_migrations import VERSION
from .grant_sql import POSTGRESQL, Row, Tx, insertion
from .seller_lock import WAIT_LIMIT, Wait
from .store_url import StoreUrl

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["APPLICATION", "LOCK_POOL_SIZE", "POOL_SIZE", "RETRY_DELAYS", "PostgresDatabase", "lock_key"]

#: What ``runbook_schema.application_id`` says: this project's grant store ("TTKG", as SQLite's
#: ``PRAGMA application_id``).
APPLICATION: Final = "TTKG"
#: The most connections one store opens for reads and writes, and for held locks (a bulk refresh of
#: 8 holds 8 locks and commits beside them).
POOL_SIZE: Final = 20
LOCK_POOL_SIZE: Final = 64
#: How long connecting may take, and how long a step waits for a free connection (seconds).
CONNECT_TIMEOUT: Final = 10
POOL_TIMEOUT: Final = 30.0
#: How long a statement waits for a lock another session holds (a row, the table, the writers'
#: advisory lock) before the step says the store is busy (seconds), as SQLite's busy timeout.
LOCK_TIMEOUT: Final = 5.0
#: The pauses between tries of a write PostgreSQL rolled back (serialization failure, deadlock) or
#: whose connection dropped.
RETRY_DELAYS: Final = (0.05, 0.25, 1.0)

#: The advisory lock families (the high 32 bits of the lock's key; "TTKG" and the next numbers).
_SELLER: Final = 0x54544B47
_NAMED: Final = _SELLER + 1
_WRITE: Final = _SELLER + 2
_SCHEMA: Final = _SELLER + 3
_T = TypeVar("_T")


def lock_key(family: int, number: int) -> int:
    """The 64-bit advisory lock key of ``number`` (a grant id, a lock's name) in ``family``."""
    return (family << 32) | (number & 0xFFFFFFFF)


def _marks(sql: str) -> str:
    """The store's ``?`` placeholders as psycopg's ``%s`` (the store's SQL has no other ``?`` or ``%``)."""
    return sql.replace("?", "%s")


class PgTx:
    """A transaction on a psycopg connection, as the grant store's SQL uses it (:class:`~.grant_sql.Tx`)."""

    dialect = POSTGRESQL

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[object] = ()) -> psycopg.Cursor[Any]:
        return self.conn.execute(_marks(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        batch = [tuple(r) for r in rows]
        if batch:
            with self.conn.cursor() as cursor:
                cursor.executemany(_marks(sql), batch)

    def insert(self, table: str, values: Mapping[str, object]) -> int:
        sql = _marks(insertion(table, values)) + " RETURNING id"
        return int(_first(self.conn.execute(sql, tuple(values.values())))["id"])


class PostgresDatabase:
    """The grants in a PostgreSQL database (see the module's description)."""

    dialect = POSTGRESQL
    path: Path | None = None

    def __init__(self, url: StoreUrl, *, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.location = url.masked
        self._sizes = {"work": pool_size, "locks": LOCK_POOL_SIZE}
        self._lock = threading.Lock()
        self._pools: dict[str, ConnectionPool[Any]] = {}

    # --- connections ------------------------------------------------------------------------------

    def _kwargs(self) -> dict[str, Any]:
        from psycopg.rows import dict_row  # deferred: psycopg is loaded only for a PostgreSQL store

        name = f"tiktok-runbook {socket.gethostname()} pid {os.getpid()}"[:63]
        return {
            "autocommit": True,
            "row_factory": dict_row,
            "connect_timeout": CONNECT_TIMEOUT,
            "application_name": name,
        }

    @staticmethod
    def _configure(conn: psycopg.Connection[Any]) -> None:
        """Every connection: wait at most :data:`LOCK_TIMEOUT` for a lock, never forever."""
        conn.execute(f"SET lock_timeout = {int(LOCK_TIMEOUT * 1000)}")

    def _ready(self, kind: str) -> ConnectionPool[Any]:
        """The ``kind`` of pool ("work", "locks"), after the schema was checked (and made or
        upgraded) on a first connection."""
        with self._lock:
            if kind in self._pools:
                return self._pools[kind]
            try:
                import psycopg  # deferred: only a PostgreSQL store needs the driver
                from psycopg_pool import ConnectionPool  # deferred: as above
            except ImportError:
                raise GrantDatabaseError(
                    self.location,
                    "TIKTOK_GRANTS_URL names a PostgreSQL database, but the PostgreSQL driver is not installed",
                    "Install it (`pip install 'psycopg[binary]' psycopg-pool`; `python3 runbook.py` does), or "
                    "remove TIKTOK_GRANTS_URL to keep the grants in the SQLite file beside .env.",
                ) from None
            if not self._pools:
                try:
                    with psycopg.connect(self.url.reveal(), **self._kwargs()) as first:
                        self._configure(first)
                        prepare(first, self.location)
                except psycopg.Error as exc:
                    raise self._error(exc, "connecting to the grant store") from None
            pool = self._pools[kind] = ConnectionPool(
                self.url.reveal(), kwargs=self._kwargs(), min_size=int(kind == "work"), max_size=self._sizes[kind],
                timeout=POOL_TIMEOUT, name=f"grants-{kind}", configure=self._configure, open=True,
            )  # fmt: skip
            return pool

    @contextlib.contextmanager
    def _connection(self, doing: str, kind: str = "work") -> Iterator[psycopg.Connection[Any]]:
        from psycopg_pool import PoolTimeout  # deferred: as above

        pool = self._ready(kind)
        try:
            with pool.connection() as conn:
                yield conn
        except PoolTimeout:
            raise GrantDatabaseBusy(
                self.location,
                f"all {self._sizes[kind]} connections to the grant store {self.location} stayed busy for "
                f"{POOL_TIMEOUT:g} s; nothing was written ({doing})",
                reason="the grant store is busy: every connection of this process is in use; try again",
            ) from None

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    # --- reading and writing ----------------------------------------------------------------------

    def read(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        import psycopg  # deferred: as above

        try:
            with self._connection("reading the grants") as conn:
                rows: list[Row] = conn.execute(_marks(sql), tuple(params)).fetchall()
                return rows
        except psycopg.Error as exc:
            raise self._error(exc, "reading the grants") from None

    def write(self, work: Callable[[Tx], _T], doing: str, *, serialize: bool = True) -> _T:
        import psycopg  # deferred: as above

        for attempt in range(len(RETRY_DELAYS) + 1):
            try:
                with self._connection(doing) as conn, conn.transaction():
                    if serialize:
                        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(_WRITE, 0),))
                    return work(PgTx(conn))
            except psycopg.Error as exc:
                if _transient(exc) and attempt < len(RETRY_DELAYS):
                    time.sleep(RETRY_DELAYS[attempt])
                    continue
                raise self._error(exc, doing) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # --- locks ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def seller_locked(
        self, grant_id: int, *, stop: threading.Event | None = None, wait: float = WAIT_LIMIT, what: str = ""
    ) -> Iterator[None]:
        """Hold grant ``grant_id``'s refresh lock on every machine using this database: polled (a
        stop request or ``wait`` seconds end the wait: nothing was sent), released when done or when
        this connection ends."""
        import psycopg  # deferred: as above

        waiting = Wait(what or f"seller #{grant_id}", wait, stop)
        key = lock_key(_SELLER, grant_id)
        try:
            with self._connection("taking the seller's refresh lock", "locks") as conn:
                while not _first(conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (key,)))["got"]:
                    waiting.pause()
                try:
                    yield
                finally:
                    _unlock(conn, key)
        except psycopg.Error as exc:
            raise self._error(exc, "taking the seller's refresh lock") from None

    @contextlib.contextmanager
    def exclusive(self, name: str) -> Iterator[str]:
        """Try to hold the lock ``name`` for every machine using this database: yields "" when held,
        else who holds it (the machine and process, from ``pg_stat_activity``)."""
        import psycopg  # deferred: as above

        key = lock_key(_NAMED, zlib.crc32(name.encode()))
        try:
            with self._connection(f"taking the {name} lock", "locks") as conn:
                if not _first(conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (key,)))["got"]:
                    yield _holder(conn, key)
                    return
                try:
                    yield ""
                finally:
                    _unlock(conn, key)
        except psycopg.Error as exc:
            raise self._error(exc, f"taking the {name} lock") from None

    # --- failures in words ------------------------------------------------------------------------

    def _error(self, exc: Exception, doing: str) -> GrantDatabaseError:
        """One line for a psycopg failure while ``doing`` something; the password never in it."""
        words = self.url.scrub(" ".join(str(exc).split())) or exc.__class__.__name__
        sqlstate = getattr(exc, "sqlstate", None) or ""
        if sqlstate == "55P03":  # lock_not_available: another session held a lock past lock_timeout
            return GrantDatabaseBusy(
                self.location,
                f"the grant store {self.location} is busy: another session held a lock for {LOCK_TIMEOUT:g} s "
                f"(another runbook writing, or a person's open transaction); nothing was written ({doing})",
                reason="the grant store is busy: another session holds a lock; try again",
            )
        if sqlstate == "42501":  # insufficient_privilege
            fix = ("Give this role the privileges SECURITY.md lists; creating or upgrading the schema is done once "
                   "as the role that owns the tables (SECURITY.md), then run the step again.")  # fmt: skip
        elif sqlstate.startswith("08") or not sqlstate:  # connection exceptions, or none reached
            fix = ("Check that the PostgreSQL server is running and reachable from this computer, and that "
                   "TIKTOK_GRANTS_URL names the right host, database and user (`python -m tiktok_helpers doctor`); "
                   "then run the step again.")  # fmt: skip
        else:
            fix = "Run the step again; if it fails the same way, ask the database's administrator about the message."
        return GrantDatabaseError(self.location, f"{doing} failed at {self.location}: {words}", fix, reason=words)


def _first(cursor: psycopg.Cursor[Any]) -> Any:
    """The one row a statement that always returns one returned."""
    row = cursor.fetchone()
    if row is None:  # pragma: no cover - PostgreSQL always answers these
        raise RuntimeError("PostgreSQL returned no row")
    return row


def _transient(exc: Exception) -> bool:
    """Rolled back by PostgreSQL (serialization failure, deadlock) or the connection dropped: the
    same write may work in a moment."""
    sqlstate = getattr(exc, "sqlstate", None) or ""
    return sqlstate in ("40001", "40P01") or sqlstate.startswith("08") or _connection_lost(exc)


def _connection_lost(exc: Exception) -> bool:
    import psycopg  # deferred: as above

    return isinstance(exc, psycopg.OperationalError) and not getattr(exc, "sqlstate", None)


def _unlock(conn: psycopg.Connection[Any], key: int) -> None:
    """Release a session advisory lock; if that fails, end the session (PostgreSQL then releases
    every lock it held), so a pooled connection never keeps a lock nobody holds."""
    import psycopg  # deferred: as above

    try:
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
    except psycopg.Error:
        conn.close()  # the pool discards a closed connection


def _holder(conn: psycopg.Connection[Any], key: int) -> str:
    row = conn.execute(
        "SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = %s AND l.objid::bigint = %s LIMIT 1",
        (key >> 32, key & 0xFFFFFFFF),
    ).fetchone()
    if row is None:
        return "another process"
    return f"{row['application_name'] or 'another client'} (server pid {row['pid']})"


# --- the schema ---------------------------------------------------------------------------------------


def _foreign(location: str, what: str) -> GrantDatabaseError:
    return GrantDatabaseError(
        location,
        f"{location} is not this runbook's grant store ({what}); nothing was created in it",
        reason=f"it is not this runbook's grant store ({what})",
        fix="Give the runbook a database (or a schema) of its own: `createdb tiktok_grants`, then name it in "
        "TIKTOK_GRANTS_URL; or remove TIKTOK_GRANTS_URL to keep the grants in the SQLite file beside .env.",
    )


def _version(conn: psycopg.Connection[Any], location: str) -> int | None:
    """The schema version this project's marker records; None when the schema is empty. Refuses a
    schema that holds another program's tables, another marker, or a newer version."""
    schema = _first(conn.execute("SELECT current_schema() AS name"))["name"]
    if schema is None:
        raise GrantDatabaseError(
            location,
            f"{location}: no schema of its search_path exists, so there is nowhere to keep the grants",
            "Create the schema the URL's search_path names (or remove the options= part of TIKTOK_GRANTS_URL).",
        )
    tables = sorted(
        r["tablename"] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    )
    if "runbook_schema" not in tables:
        if tables:
            raise _foreign(location, f"schema {schema} holds other tables: {', '.join(tables[:5])}")
        return None
    row = conn.execute("SELECT application_id, version FROM runbook_schema").fetchone()
    if row is None or row["application_id"] != APPLICATION:
        raise _foreign(location, f"schema {schema} has a runbook_schema table that is not this runbook's")
    version = int(row["version"])
    if version > VERSION:
        raise GrantDatabaseError(
            location,
            f"{location} was written by a newer version of this runbook (schema {version}; this one knows up to "
            f"{VERSION}); it was left as it is",
            reason=f"it was written by a newer version of this runbook (schema {version})",
            fix="Update the runbook on this computer (for example `git pull`, then `python3 runbook.py`).",
        )
    if "grants" not in tables:
        raise GrantDatabaseError(
            location, f"{location}: this runbook's schema marker is there, but its grants table is missing",
            "Restore the database from a backup, or point TIKTOK_GRANTS_URL at an empty database and import "
            "the grants (`sellers import FILE`).",
        )  # fmt: skip
    return version


def prepare(conn: psycopg.Connection[Any], location: str) -> bool:
    """Check the schema is this project's and not newer; create or upgrade it only when needed, in
    one transaction under the schema lock (another machine may be doing it too). True when it wrote."""
    if _version(conn, location) == VERSION:
        return False  # nothing to write: a role without CREATE works from here on
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(_SCHEMA, 0),))
        version = _version(conn, location)  # another machine may have been first
        if version == VERSION:
            return False
        if version is None:
            conn.execute("CREATE TABLE runbook_schema (application_id TEXT NOT NULL, version INTEGER NOT NULL)")
            conn.execute("INSERT INTO runbook_schema VALUES (%s, 0)", (APPLICATION,))
            version = 0
        # A PostgreSQL store starts empty at step 1 (none existed before schema 4), so SQLite's data
        # steps after 2 and 3 (placing version-1 rows, indexing their shops) have nothing to do here.
        for number in range(version, VERSION):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    conn.execute(statement)  # the steps are grant_migrations' constants
        conn.execute("UPDATE runbook_schema SET version = %s", (VERSION,))
    return True
