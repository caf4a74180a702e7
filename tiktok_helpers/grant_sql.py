"""What the grant store's SQL needs from a database, whichever holds the grants.

The grant store (:mod:`.grants`) writes its SQL once, with ``?`` placeholders, for both databases it
can live in: the SQLite file beside ``.env`` (:mod:`.grant_sqlite`) and a PostgreSQL database a team
shares (:mod:`.grant_pg`). Each gives the store a :class:`Database` (read, write in one
transaction, hold a seller's refresh lock, hold a named lock such as the keep-alive's) and, inside a
write, a :class:`Tx` whose rows read by column name. Where the two dialects differ, the difference is
a value of :class:`Dialect`, not a second copy of the query.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

__all__ = ["Cursor", "Database", "Dialect", "Row", "Tx", "assignments", "index_shops", "insertion"]

#: A row read by column name (``sqlite3.Row`` or a dict).
Row = Mapping[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class Dialect:
    """The few places where SQLite's and PostgreSQL's SQL differ."""

    name: str
    #: A join whose left table is read first: SQLite's ``CROSS JOIN`` fixes the order (its planner
    #: otherwise picked a full scan); PostgreSQL's planner needs no hint and refuses ``CROSS JOIN ... ON``.
    ordered_join: str
    #: Appended to a SELECT that claims rows: PostgreSQL's row locks let several machines claim
    #: different rows at once; SQLite has one writer at a time, so nothing is needed there.
    skip_locked: str


SQLITE = Dialect("sqlite", "CROSS JOIN", "")
POSTGRESQL = Dialect("postgresql", "JOIN", " FOR UPDATE SKIP LOCKED")


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Tx(Protocol):
    """One transaction of a write (or a read): SQL with ``?`` placeholders."""

    dialect: Dialect

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None: ...

    def insert(self, table: str, values: Mapping[str, object]) -> int:
        """Insert one row; its new ``id``."""
        ...


class Database(Protocol):
    """Where the grants live. ``location`` names it for people (a file path, or a URL with its
    password masked); ``path`` is the SQLite file (None for a server)."""

    location: str
    path: Path | None
    dialect: Dialect

    def read(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...

    def write(self, work: Callable[[Tx], T], doing: str, *, serialize: bool = True) -> T:
        """``work`` in one committed transaction. ``serialize``: one such write at a time across
        every process and machine (creating a seller, merging, notices); False for a write that
        changes only rows it names or locks (a refresh's new pair, claims)."""
        ...

    def seller_locked(
        self, grant_id: int, *, stop: Any = None, wait: float = ..., what: str = ""
    ) -> AbstractContextManager[None]:
        """Hold grant ``grant_id``'s refresh lock across threads, processes and machines."""
        ...

    def exclusive(self, name: str) -> AbstractContextManager[str]:
        """Try to hold the lock ``name`` (the keep-alive's): yields "" when held, else who holds it."""
        ...

    def close(self) -> None: ...


def index_shops(db: Tx, grant_id: int, shops: object) -> None:
    """Keep ``grant_shops`` (shop id -> grant: how a webhook notice, keyed by shop id, finds its
    seller without reading every grant) in step with a grant's ``shops`` column (JSON text; a column
    that is not a JSON list of shops indexes nothing)."""
    db.execute("DELETE FROM grant_shops WHERE grant_id = ?", (grant_id,))
    try:
        items = json.loads(shops) if isinstance(shops, str) else None
    except ValueError:
        items = None
    ids = sorted({str(item["id"]) for item in items or () if isinstance(item, dict) and item.get("id")})
    db.executemany("INSERT INTO grant_shops (shop_id, grant_id) VALUES (?, ?)", [(i, grant_id) for i in ids])


def assignments(columns: Iterable[str]) -> str:
    """The ``SET`` list of an UPDATE of ``columns`` (names this module's callers write, never input):
    ``a = ?, b = ?``."""
    return ", ".join(f"{name} = ?" for name in columns)


def insertion(table: str, columns: Iterable[str]) -> str:
    """An INSERT of one row of ``columns`` into ``table`` (names this module's callers write, never
    input), with ``?`` placeholders."""
    names = list(columns)
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"  # noqa: S608
