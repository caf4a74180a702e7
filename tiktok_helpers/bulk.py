"""Refreshing sellers: one at a time per seller, many at once, and nothing lost on the way.

:meth:`Refresher.one` is the refresh of one seller, behind ``Session.refresh`` and every seller of
:func:`refresh_all` (``Session.refresh_all``, ``refresh --all``, notebook 05's progress bar, the
benchmarks):

1. take the seller's lock (:mod:`.seller_lock`: one refresh per seller at a time, across processes
   and threads), and read the grant as stored now;
2. if it got a new pair while this refresh waited (another refresh landed), send nothing: the
   outcome is "already refreshed at ...";
3. else spend the refresh token stored now, and commit the reply the moment it arrives;
4. refused with 36004005 (refresh token not found) or 36004001 (expired)? Before that refusal
   reaches anyone as "authorize again", the grant is read again: a token that changed meanwhile
   (a writer that did not take the lock) is no lost authorization, and is reported as already
   refreshed;
5. a reply that cannot be committed is never dropped: the outcome keeps the pair
   (:class:`~tiktok_helpers.results.TokensNotSaved`).

Whether a refresh replaces the refresh token is not documented by TikTok: under either reading
this spends the token stored now, once per seller at a time, and keeps every pair received.

A stop (Ctrl-C; the command line turns SIGTERM and SIGHUP into the same) never drops a reply in
flight: :func:`refresh_all` stops submitting, waits for the refreshes in flight (each saved as it
arrives) and raises :class:`~tiktok_helpers.results.RefreshInterrupted`; :func:`shielded` does the
same for one step run on the main thread.

It takes what it needs as values (the grants, a function that refreshes one refresh token, a
function that commits a reply to a grant, the store to read and lock) so it knows nothing of
sessions or settings.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol, TypeVar

from .errors import (
    FieldProblem,
    GrantDatabaseError,
    GrantNotSaved,
    RefreshTokenExpired,
    RefreshTokenNotFound,
    TikTokHelperError,
    ValidationError,
)
from .grant_rounds import Round
from .grants import Grant, GrantStore
from .results import (
    HandOver,
    RefreshInterrupted,
    RefreshOutcome,
    RefreshResult,
    RefreshStatus,
    RefreshSummary,
    TokensNotSaved,
    already_refreshed,
)
from .secret import Secret
from .seller_lock import StopRequested
from .text import local_time
from .tokens import TokenSet

__all__ = [
    "ENDED",
    "KEPT_IN_OUTCOME",
    "KEPT_IN_SESSION",
    "NOT_DUE",
    "Refresher",
    "Rounds",
    "left_alone",
    "not_saved",
    "refresh_all",
    "refresher",
    "renewed",
    "settled",
    "shielded",
]

#: Why a seller was skipped.
ENDED = "the authorization has ended: the seller must authorize again"
NOT_DUE = "not due yet"


def left_alone(grant: Grant) -> str:
    """Why a bulk refresh leaves a seller alone ("" when it refreshes them): API2Cart refreshes
    them (one refresher per seller), or TikTok said they removed the app."""
    if grant.removed_at is not None:
        removed = local_time(grant.removed_at)
        return f"the seller removed the app at {removed} (TikTok's webhook): they must authorize again"
    if grant.held_by_api2cart:
        since = f", {local_time(grant.refresher_since)}" if grant.refresher_since is not None else ""
        return (
            f"API2Cart refreshes this seller ({grant.refresher_why}{since}); refreshing this seller alone here "
            "hands the new refresh token to API2Cart"
        )
    return ""


T = TypeVar("T")


def renewed(before: Grant, now: Grant) -> datetime | None:
    """When the grant as stored ``now`` got a pair ``before`` did not hold (another refresh, or a new
    authorization, landed in between: the later of the two moments); None when it holds the same."""
    if (now.refresh_token, now.access_token, now.refreshed_at) == (
        before.refresh_token,
        before.access_token,
        before.refreshed_at,
    ):
        return None
    moments = [m for m in (now.refreshed_at, now.authorized_at) if m is not None]
    return max(moments) if moments else datetime.now(timezone.utc)


def not_saved(tokens: TokenSet, grant: Grant | None, path: object, exc: BaseException, how: str = "") -> TokensNotSaved:
    """A pair that arrived and could not be committed, kept with why (never a bare database error)."""
    if isinstance(exc, TokensNotSaved):
        return exc
    if isinstance(exc, GrantNotSaved):
        reason = exc.reason
    elif isinstance(exc, TikTokHelperError) and exc.detail:
        reason = exc.detail
    else:
        reason = str(exc) or type(exc).__name__
    return TokensNotSaved(tokens, grant=grant, path=str(path), reason=reason, how=how)


#: What to do with a pair that arrived and could not be saved, in a session (one seller; a bulk
#: refresh's seller). Each front end says it in its own terms (the command line: cli/tokens.py).
KEPT_IN_SESSION = "it is kept in session.last_tokens: fix the cause, then call session.save_tokens()"
KEPT_IN_OUTCOME = (
    "it is kept in this seller's outcome: fix the cause, then call "
    "session.save_tokens(outcome.tokens, seller=outcome.seller)"
)

#: Errors committing a reply may raise: the store's own, and whatever SQLite or the disk says.
COMMIT_ERRORS = (TikTokHelperError, sqlite3.Error, OSError)

Locker = Callable[[Grant, "threading.Event | None"], AbstractContextManager[object]]


class Rounds(Protocol):
    """Where runs of a bulk refresh divide the sellers (:mod:`.grant_rounds`; the grant store)."""

    def begin_round(self, kind: str) -> Round: ...

    def claim(self, run: Round, limit: int, due_before: datetime | None = None, after: int = 0) -> list[int]: ...

    def attempted(self, grant_id: int, run: Round) -> None: ...

    def end_round(self, run: Round) -> None: ...

    def all(self) -> list[Grant]: ...


@dataclass(frozen=True)
class Refresher:
    """What refreshing one seller takes: ``refresh(refresh_token)`` asks the service for a new pair;
    ``commit(tokens, grant, round_id)`` saves it (in the bulk refresh round ``round_id``, "" for none)
    and returns the saved grant; ``current(id)`` reads a grant as stored now; ``locked(grant, stop)``
    holds the seller's lock. ``path`` names the grant store (for messages); ``how`` says what to do
    with a pair that could not be saved; ``rounds`` lets runs on several machines divide the sellers."""

    refresh: Callable[[Secret], TokenSet]
    commit: Callable[[TokenSet, Grant, str], Grant]
    current: Callable[[int], Grant]
    locked: Locker
    path: object
    how: str = ""
    #: Asked of the grant as stored now, under the lock: a reason to send nothing ("" to refresh).
    skip: Callable[[Grant], str] | None = None
    #: After a new pair is saved for a seller with an API2Cart store, under the same lock: give the
    #: store the new refresh token. Never raises: a failure is in the :class:`HandOver`.
    hand_over: Callable[[Grant], HandOver] | None = None
    rounds: Rounds | None = None

    def one(self, snapshot: Grant, stop: threading.Event | None = None, run: Round | None = None) -> RefreshOutcome:
        """Refresh the seller ``snapshot`` is the grant of (as read before waiting for its lock);
        failures are in the outcome. Raises :class:`StopRequested` if ``stop`` is set before
        anything is sent. In a bulk refresh ``run``, a seller its round took care of is left alone,
        and a failure marks the seller as taken care of (the round's other runs do not try again)."""
        if any(entry.startswith("refresh_token:") for entry in snapshot.damage):
            return RefreshOutcome(snapshot, RefreshStatus.FAILED, error=self._unreadable(snapshot))
        try:
            with self.locked(snapshot, stop):
                outcome = self._locked(snapshot, stop, run)
                failed = outcome.status is RefreshStatus.FAILED and outcome.tokens is None  # nothing arrived
                if failed and run is not None and self.rounds is not None:
                    self.rounds.attempted(snapshot.id, run)  # the round has tried this seller
                return outcome
        except TikTokHelperError as exc:  # the lock, or reading the grant: this seller only
            return RefreshOutcome(snapshot, RefreshStatus.FAILED, error=exc)

    def _locked(self, snapshot: Grant, stop: threading.Event | None, run: Round | None) -> RefreshOutcome:
        grant = self.current(snapshot.id)
        if run is not None and grant.refresh_round == run.round_id:
            return RefreshOutcome(snapshot, RefreshStatus.SKIPPED, reason=taken_care(grant, run))
        if renewed(snapshot, grant) is not None:
            return RefreshOutcome(snapshot, RefreshStatus.SKIPPED, reason=_already(snapshot, grant))
        why = self.skip(grant) if self.skip is not None else ""
        if why:
            return RefreshOutcome(snapshot, RefreshStatus.SKIPPED, reason=why)
        if stop is not None and stop.is_set():
            raise StopRequested(f"stopped before refreshing {grant.label}")
        try:
            tokens = self.refresh(grant.refresh_token)
        except (RefreshTokenNotFound, RefreshTokenExpired) as exc:
            return self._refused(grant, exc)
        except TikTokHelperError as exc:
            return RefreshOutcome(snapshot, RefreshStatus.FAILED, error=exc)
        try:
            saved = self.commit(tokens, grant, run.round_id if run is not None else "")  # committed on arrival
        except COMMIT_ERRORS as exc:
            error = not_saved(tokens, grant, self.path, exc, self.how)
            return RefreshOutcome(snapshot, RefreshStatus.FAILED, error=error, tokens=tokens)
        handover = None
        if self.hand_over is not None and saved.api2cart_store_key:
            handover = self.hand_over(saved)  # under the lock: no other refresh of this seller meanwhile
        return RefreshOutcome(snapshot, RefreshStatus.REFRESHED, grant=saved, tokens=tokens, handover=handover)

    def _refused(self, spent: Grant, exc: TikTokHelperError) -> RefreshOutcome:
        """The service refused the refresh token spent: lost only if it is still the one stored."""
        try:
            now = self.current(spent.id)
        except TikTokHelperError:
            return RefreshOutcome(spent, RefreshStatus.FAILED, error=exc)
        if renewed(spent, now) is None:
            return RefreshOutcome(spent, RefreshStatus.FAILED, error=exc)
        return RefreshOutcome(spent, RefreshStatus.SKIPPED, reason=_already(spent, now))

    def _unreadable(self, grant: Grant) -> GrantDatabaseError:
        return GrantDatabaseError(
            self.path,
            f"{grant.label}: {grant.problem}, so there is no refresh token to send; nothing was sent",
            fix="Authorize this seller again: the new authorization's tokens replace the unreadable ones.",
        )


def taken_care(grant: Grant, run: Round) -> str:
    """Why a run leaves a seller alone that another run of its round took care of."""
    if grant.refreshed_at is not None and grant.refreshed_at >= run.started:
        return f"{already_refreshed(grant.refreshed_at)} by another run of this refresh"
    return "another run of this refresh tried this seller and it failed there (that run's report says why)"


def _already(before: Grant, now: Grant) -> str:
    """Why nothing was sent: the pair another refresh (or a new authorization) saved meanwhile."""
    moment = renewed(before, now)
    if now.refreshed_at is not None and now.refreshed_at == moment:  # refreshed since it was authorized
        return already_refreshed(moment)
    return f"authorized again at {local_time(moment)}: the new authorization's pair is saved"


def refresher(
    grants: GrantStore,
    refresh: Callable[[Secret], TokenSet],
    commit: Callable[[TokenSet, Grant, str], Grant],
    how: str = "",
    *,
    skip: Callable[[Grant], str] | None = None,
    hand_over: Callable[[Grant], HandOver] | None = None,
) -> Refresher:
    """A :class:`Refresher` over the grants of ``grants``: their locks, their rounds."""

    def locked(grant: Grant, stop: threading.Event | None) -> AbstractContextManager[object]:
        return grants.seller_locked(grant.id, stop=stop, what=grant.label)

    return Refresher(refresh, commit, grants.get, locked, grants.location, how, skip, hand_over, grants)


def settled(outcome: RefreshOutcome, current: Callable[[int], Grant]) -> tuple[RefreshResult, Grant]:
    """One seller's outcome as ``Session.refresh`` gives it: the result and the grant as saved now;
    a failure is raised (a pair not saved: :class:`TokensNotSaved`, which holds it)."""
    if outcome.error is not None:
        raise outcome.error
    if outcome.status is RefreshStatus.REFRESHED and outcome.grant is not None and outcome.tokens is not None:
        return RefreshResult.received(outcome.tokens, outcome.handover), outcome.grant
    grant = current(outcome.seller.id)
    return RefreshResult.stored(grant, renewed(outcome.seller, grant) or grant.refreshed_at), grant


def _still_ended(grant: Grant, refresher: Refresher, moment: datetime) -> bool:
    """An authorization that ended when the list was read: still ended as stored now (the seller may
    have authorized again meanwhile, in another process)?"""
    try:
        return refresher.current(grant.id).refresh_expired(moment)
    except TikTokHelperError:
        return True


def _wait_for_all(running: set[Future[T]]) -> None:
    """Wait until every future is done, whatever interrupts the wait: replies in flight are saved."""
    while running:
        try:
            _, running = wait(running)
        except KeyboardInterrupt:
            continue


def shielded(work: Callable[[threading.Event], T]) -> T:
    """Run ``work(stop)`` to its end even when the wait is interrupted (Ctrl-C, SIGTERM): on the main
    thread it runs in a thread of its own, and an interrupt sets ``stop`` (so nothing new is sent),
    waits for the request in flight to be answered and saved, then is raised again. A pair that could
    not be saved wins over the interrupt: it is raised, with the pair."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        return work(stop)  # signals interrupt only the main thread
    done: Future[T] = Future()

    def run() -> None:
        try:
            done.set_result(work(stop))
        except BaseException as exc:  # handed to the waiting thread
            done.set_exception(exc)

    threading.Thread(target=run, name="shielded-step").start()
    interrupted: KeyboardInterrupt | None = None
    while not done.done():
        try:
            wait([done])
        except KeyboardInterrupt as exc:
            interrupted = interrupted or exc
            stop.set()
    if interrupted is not None:
        if isinstance(done.exception(), TokensNotSaved):
            return done.result()  # raises it: the pair is in it
        raise interrupted
    return done.result()


def _kind(due_within: timedelta | None) -> str:
    """The kind of a run: runs of the same kind share rounds (``refresh --all``; the keep-alive's)."""
    return "all" if due_within is None else f"due:{int(due_within.total_seconds())}"


def _claimed(
    rounds: Rounds,
    run: Round,
    todo: dict[int, int],
    submit: Callable[[int], None],
    workers: int,
    due_within: timedelta | None,
    moment: datetime,
) -> None:
    """Refresh the sellers this run claims, a few at a time, until no seller is left to claim (the
    other runs of the round claim theirs meanwhile). A claim the store cannot make ends the claiming:
    the sellers left are then looked at one by one, under their locks."""
    due_before = moment + due_within if due_within is not None else None
    after = 0  # the sellers below are claimed, or left to the stragglers' pass
    while True:
        try:
            ids = rounds.claim(run, workers, due_before, after)
        except TikTokHelperError:
            return
        if not ids:
            return
        after = max(ids)
        for grant_id in ids:
            if grant_id in todo:  # a seller this run's list does not hold is left to its lease
                submit(grant_id)


def _stragglers(
    rounds: Rounds, run: Round, grants: Sequence[Grant], todo: dict[int, int],
    record: Callable[[int, RefreshOutcome], None],
) -> None:  # fmt: skip
    """The sellers of this run's list it did not claim: those another run of the round took care of
    are reported so (one read of the store, no lock); the others stay to do, each under its lock
    (claimed by a run still at work, or by one that died)."""
    try:
        now = {g.id: g for g in rounds.all()}
    except TikTokHelperError:
        return
    for grant_id, index in list(todo.items()):
        grant = now.get(grant_id)
        if grant is not None and grant.refresh_round == run.round_id:
            del todo[grant_id]
            record(index, RefreshOutcome(grants[index], RefreshStatus.SKIPPED, reason=taken_care(grant, run)))


def _end(rounds: Rounds, run: Round) -> None:
    with contextlib.suppress(TikTokHelperError):  # its heartbeat stops anyway: after the lease nobody joins
        rounds.end_round(run)


def refresh_all(
    grants: Sequence[Grant],
    refresher: Refresher,
    *,
    concurrency: int = 8,
    due_within: timedelta | None = None,
    on_progress: Callable[[RefreshOutcome, int, int], None] | None = None,
    now: datetime | None = None,
) -> RefreshSummary:
    """Refresh every grant's access token, ``concurrency`` at a time (:meth:`Refresher.one` each).

    A seller whose authorization has ended is skipped (only the seller can authorize again), so is
    one the refresher's ``skip`` names a reason for (API2Cart refreshes them: :func:`left_alone`), and
    with ``due_within`` a seller whose access token lasts longer than that (nothing is sent).
    ``on_progress(outcome, done, total)`` is called as each one lands, from the worker threads (from
    the calling thread for a seller skipped without a request).
    Interrupted (Ctrl-C, or SIGTERM and SIGHUP at the command line), nothing new is submitted, the
    refreshes in flight are waited for, and :class:`RefreshInterrupted` carries what was done.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError([FieldProblem("concurrency", "must be a whole number, 1 or more")])
    moment = now or datetime.now(timezone.utc)
    total = len(grants)
    outcomes: list[RefreshOutcome | None] = [None] * total
    done = 0
    lock = threading.Lock()
    stop = threading.Event()

    def left(grant: Grant) -> RefreshOutcome | None:
        """A seller skipped without a request (asked again under the seller's lock if not)."""
        why = refresher.skip(grant) if refresher.skip is not None else ""
        if grant.refresh_expired(moment) and _still_ended(grant, refresher, moment):
            return RefreshOutcome(grant, RefreshStatus.SKIPPED, reason=ENDED)
        if why:
            return RefreshOutcome(grant, RefreshStatus.SKIPPED, reason=why)
        if due_within is not None and not grant.access_due(moment, due_within):
            return RefreshOutcome(grant, RefreshStatus.SKIPPED, reason=NOT_DUE)
        return None

    def record(index: int, outcome: RefreshOutcome) -> None:
        nonlocal done
        with lock:
            outcomes[index] = outcome
            done += 1
            count = done
        if on_progress is not None:
            on_progress(outcome, count, total)

    def one(index: int, grant: Grant, run: Round | None = None) -> None:
        record(index, refresher.one(grant, stop, run))

    if total == 0:
        return RefreshSummary(())
    rounds = refresher.rounds
    run = rounds.begin_round(_kind(due_within)) if rounds is not None else None
    todo: dict[int, int] = {}  # grant id -> index, for the sellers that may need a request
    for index, grant in enumerate(grants):
        skipped = left(grant)  # here, not in the pool: a pass with nothing due sends nothing
        if skipped is None and run is not None and grant.refresh_round == run.round_id:
            skipped = RefreshOutcome(grant, RefreshStatus.SKIPPED, reason=taken_care(grant, run))
        if skipped is not None:
            record(index, skipped)
        else:
            todo[grant.id] = index
    workers = min(concurrency, total)
    submitted: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refresh") as pool:
        running: set[Future[None]] = set()

        def submit(grant_id: int) -> None:
            nonlocal running
            while len(running) >= workers:
                _, running = wait(running, return_when=FIRST_COMPLETED)
            index = todo.pop(grant_id)
            future = pool.submit(one, index, grants[index], run)
            submitted.append(future)
            running.add(future)

        try:
            if run is not None and rounds is not None:
                _claimed(rounds, run, todo, submit, workers, due_within, moment)
                _stragglers(rounds, run, grants, todo, record)
            for grant_id in list(todo):  # without rounds: all; with rounds: those no run took care of yet
                submit(grant_id)
            wait(running)
        except KeyboardInterrupt:
            stop.set()  # sellers waiting for a lock give up; nothing new is sent
            _wait_for_all(set(submitted))
            finished = tuple(o for o in outcomes if o is not None)
            raise RefreshInterrupted(RefreshSummary(finished), total) from None
        finally:
            if run is not None and rounds is not None:
                _end(rounds, run)
    for future in submitted:
        future.result()  # a bug in a worker (or in on_progress) is raised, not swallowed
    return RefreshSummary(tuple(o for o in outcomes if o is not None))
