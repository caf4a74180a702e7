"""``refresh --all`` from several processes or machines at once: each seller refreshed once.

A run of ``refresh --all`` (or of the keep-alive's refresh) is a row of ``refresh_runs``. A run
starting while another run of the same app, mode and kind is alive (its heartbeat newer than
:data:`LEASE`) joins that run's *round*; otherwise it begins a round of its own. Within a round:

* the runs divide the sellers by **claiming** a few at a time (:func:`claim`): the sellers nobody in
  this round has taken care of and nobody holds a claim on, in id order, locked with ``FOR UPDATE
  SKIP LOCKED`` on PostgreSQL (two machines claiming at once take different sellers; SQLite has one
  writer at a time). A claim is a lease: a run that dies leaves its claims to end after
  :data:`LEASE`;
* a seller's refresh, under the seller's refresh lock, is committed with the round's id
  (``grants.refresh_round``); a refresh the service refused marks the seller too
  (:func:`attempted`): the round has taken care of that seller, and the other runs leave it alone;
* a run with nothing left to claim looks at the sellers of its list that no run of the round has
  taken care of yet (claimed by a run that is still working, or that died): it waits for each
  seller's lock and refreshes it only if the round still has not (:mod:`.bulk`).

So no seller is refreshed twice in a round, and none is left out while any run of the round lives.
Runs that start after a round ended begin a new one (``refresh --all`` again refreshes everyone).
The functions here run inside the store's write transactions (:class:`~tiktok_helpers.grants.GrantStore`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final

from .grant_sql import Tx

__all__ = ["LEASE", "Round", "attempted", "begin", "claim", "end"]

#: How long a claim holds, and how recent a run's heartbeat must be for a new run to join its round
#: (seconds). A refresh takes one request (three tries at most), far less.
LEASE: Final = 120
#: Finished or abandoned runs are deleted this long after they last beat (seconds).
KEPT: Final = 7 * 24 * 3600


@dataclass(frozen=True)
class Round:
    """One run of a round: ``run_id`` is this run's, ``round_id`` the round's (the first run's id),
    ``kind`` what is refreshed ("all", or "due:<seconds>" for the keep-alive), ``started`` when the
    round began (to the second)."""

    run_id: str
    round_id: str
    kind: str
    started: datetime

    @property
    def joined(self) -> bool:
        """This run joined a round another run began."""
        return self.run_id != self.round_id


def begin(db: Tx, mode: str, app_key: str, kind: str, now: int) -> Round:
    """Register a run: in the round of a live run of the same kind, else in a new round."""
    db.execute("DELETE FROM refresh_runs WHERE heartbeat_at < ?", (now - KEPT,))
    live = db.execute(
        "SELECT round_id, started_at FROM refresh_runs WHERE mode = ? AND app_key = ? AND kind = ? "
        "AND finished_at IS NULL AND heartbeat_at >= ? ORDER BY started_at, run_id LIMIT 1",
        (mode, app_key, kind, now - LEASE),
    ).fetchone()
    run_id = uuid.uuid4().hex
    round_id = str(live["round_id"]) if live is not None else run_id
    started = int(live["started_at"]) if live is not None else now
    db.execute(
        "INSERT INTO refresh_runs (run_id, round_id, mode, app_key, kind, started_at, heartbeat_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (run_id, round_id, mode, app_key, kind, now, now),
    )
    return Round(run_id, round_id, kind, datetime.fromtimestamp(started, tz=timezone.utc))


def claim(
    db: Tx,
    scope: str,
    scope_params: tuple[object, ...],
    run: Round,
    limit: int,
    now: int,
    due_before: int | None,
    after: int = 0,
) -> list[int]:
    """Claim up to ``limit`` sellers this round has not taken care of and no live claim holds (the
    runbook refreshes them, they have not removed the app, their authorization has not ended, and
    with ``due_before`` their access token ends by then), with an id above ``after`` (the highest
    this run claimed so far: a claim reads a few rows, not every row done before it); their ids,
    in id order."""
    due = " AND (access_expires_at IS NULL OR access_expires_at <= ?)" if due_before is not None else ""
    rows = db.execute(
        f"SELECT id FROM grants WHERE {scope} AND id > ? AND refresher = 'runbook' AND removed_at IS NULL "  # noqa: S608
        "AND refresh_round != ? AND (refresh_expires_at IS NULL OR refresh_expires_at > ?) "
        f"AND (claimed_until IS NULL OR claimed_until < ?){due} ORDER BY id LIMIT ?{db.dialect.skip_locked}",
        (*scope_params, after, run.round_id, now, now, *((due_before,) if due_before is not None else ()), limit),
    ).fetchall()
    ids = [int(r["id"]) for r in rows]
    if ids:
        marks = ", ".join("?" for _ in ids)
        db.execute(
            f"UPDATE grants SET claimed_by = ?, claimed_until = ? WHERE id IN ({marks})",  # noqa: S608
            (run.run_id, now + LEASE, *ids),
        )
    db.execute("UPDATE refresh_runs SET heartbeat_at = ? WHERE run_id = ?", (now, run.run_id))
    return ids


def attempted(db: Tx, grant_id: int, run: Round) -> None:
    """The round tried this seller and the service refused: the other runs leave it alone."""
    db.execute(
        "UPDATE grants SET refresh_round = ?, claimed_by = '', claimed_until = NULL WHERE id = ?",
        (run.round_id, grant_id),
    )


def end(db: Tx, run: Round, now: int) -> None:
    """The run is over (done, interrupted or failed): it no longer keeps its round alive."""
    db.execute("UPDATE refresh_runs SET finished_at = ?, heartbeat_at = ? WHERE run_id = ?", (now, now, run.run_id))
