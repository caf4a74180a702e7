"""The webhook outbox: deliveries waiting in the state database, claimed one at a time.

The SQL of the ``webhook_outbox`` and ``expiry_notices`` tables (:mod:`.schema`); what goes in
and when it is sent is :mod:`.webhooks`'. Every sandbox on the same state file (in any process)
shares the outbox, so a delivery queued by ``sandbox --deauthorize`` is retried by a running
sandbox, and a notice is queued once however many sandboxes look at the grants.

* A delivery is :meth:`Outbox.claim_next`-ed before it is sent: the claim names this outbox and
  lasts :data:`CLAIM_SECONDS` of REAL time (``time.time()``, the same in every process, whatever
  sandbox clock each one runs on). No other sandbox, and no other thread of this one, takes a
  claimed delivery until the claim ends, so one delivery is never sent twice at once; a claim left
  by a process that died ends by itself.
* The outcome is written by the claimant only: delivered (the row is removed), or failed (the
  attempt is counted and the next one set, or the row is removed when there is no next one).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from .store import StateStore

__all__ = ["CLAIM_SECONDS", "Delivery", "Outbox"]

#: How long (real seconds) a claim keeps other senders off a delivery: well over one attempt (3 s).
CLAIM_SECONDS: Final = 30.0
_COLUMNS: Final = "id, app_key, body, attempts, next_at"


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery: the App Key it is signed for, the exact body bytes, the attempts that
    failed so far and when the next one is due (sandbox clock, Unix seconds)."""

    id: int
    app_key: str
    body: bytes
    attempts: int
    next_at: float


class Outbox:
    """The ``webhook_outbox`` rows of ``store``'s database, as :class:`Delivery` objects."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        #: Names this outbox's claims (one per sandbox state object).
        self.owner = secrets.token_hex(8)

    def add(self, app_key: str, body: bytes, due: float) -> int:
        """Queue a delivery, due at ``due`` (joins the caller's transaction); returns its id."""
        with self.store.mutation() as c:
            cursor = c.execute(
                "INSERT INTO webhook_outbox (app_key, body, attempts, next_at) VALUES (?, ?, 0, ?)",
                (app_key, body, due),
            )
        assert cursor.lastrowid is not None
        return int(cursor.lastrowid)

    def claim_next(self, now: float) -> Delivery | None:
        """The oldest delivery due at ``now`` that nobody holds, claimed for this outbox (or None)."""
        with self.store.mutation() as c:
            wall = time.time()
            row = c.execute(
                f"SELECT {_COLUMNS} FROM webhook_outbox WHERE next_at <= ? "  # noqa: S608 (columns from code)
                "AND (claimed_by IS NULL OR claimed_until < ?) ORDER BY next_at, id LIMIT 1",
                (now, wall),
            ).fetchone()
            if row is None:
                return None
            c.execute(
                "UPDATE webhook_outbox SET claimed_by = ?, claimed_until = ? WHERE id = ?",
                (self.owner, wall + CLAIM_SECONDS, row[0]),
            )
        return Delivery(int(row[0]), str(row[1]), bytes(row[2]), int(row[3]), float(row[4]))

    def delivered(self, delivery: Delivery) -> None:
        """The receiver took it: it leaves the outbox."""
        with self.store.mutation() as c:
            c.execute("DELETE FROM webhook_outbox WHERE id = ? AND claimed_by = ?", (delivery.id, self.owner))

    def failed(self, delivery: Delivery, next_at: float | None) -> None:
        """An attempt failed: try again at ``next_at``, or (None) give it up."""
        with self.store.mutation() as c:
            if next_at is None:
                c.execute("DELETE FROM webhook_outbox WHERE id = ? AND claimed_by = ?", (delivery.id, self.owner))
                return
            c.execute(
                "UPDATE webhook_outbox SET attempts = attempts + 1, next_at = ?, claimed_by = NULL, "
                "claimed_until = NULL WHERE id = ? AND claimed_by = ?",
                (next_at, delivery.id, self.owner),
            )

    def pending(self) -> list[Delivery]:
        """Every delivery still waiting, oldest first (a snapshot)."""
        with self.store.reading() as c:
            rows = c.execute(f"SELECT {_COLUMNS} FROM webhook_outbox ORDER BY id").fetchall()  # noqa: S608
        return [Delivery(int(r[0]), str(r[1]), bytes(r[2]), int(r[3]), float(r[4])) for r in rows]

    def waiting(self, ids: Iterable[int]) -> int:
        """How many of the deliveries ``ids`` are still in the outbox."""
        wanted = set(ids)
        return sum(1 for delivery in self.pending() if delivery.id in wanted)

    def claim_expiry_day(self, app_key: str, seller_key: str, shop_id: str, day: int) -> bool:
        """True (once) for the first caller to claim the expiry notice of this shop and UTC day."""
        with self.store.mutation() as c:
            cursor = c.execute(
                "INSERT OR IGNORE INTO expiry_notices (app_key, seller_key, shop_id, day) VALUES (?, ?, ?, ?)",
                (app_key, seller_key, shop_id, day),
            )
        return cursor.rowcount == 1
