"""Refreshing many sellers at once: a bounded thread pool, one failure never stopping the others.

:func:`refresh_all` is the bulk step behind ``Session.refresh_all``, ``refresh --all``, notebook 05's
progress bar and the benchmarks. It takes what it needs as values (the grants, a function that
refreshes one refresh token, a function that commits a reply to a grant) so it knows nothing of
sessions, settings or files.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from .errors import FieldProblem, TikTokHelperError, ValidationError
from .grants import Grant
from .results import RefreshOutcome, RefreshStatus, RefreshSummary
from .secret import Secret
from .tokens import TokenSet

__all__ = ["ENDED", "NOT_DUE", "refresh_all"]

#: Why a seller was skipped.
ENDED = "the authorization has ended: the seller must authorize again"
NOT_DUE = "not due yet"


def refresh_all(
    grants: Sequence[Grant],
    refresh: Callable[[Secret], TokenSet],
    commit: Callable[[TokenSet, Grant], Grant],
    *,
    concurrency: int = 8,
    due_within: timedelta | None = None,
    on_progress: Callable[[RefreshOutcome, int, int], None] | None = None,
    now: datetime | None = None,
) -> RefreshSummary:
    """Refresh every grant's access token, ``concurrency`` at a time.

    ``refresh(refresh_token)`` asks the service for a new pair; ``commit(tokens, grant)`` saves it the
    moment it arrives and returns the saved grant. A seller whose authorization has ended is skipped
    (only the seller can authorize again), and with ``due_within`` a seller whose access token lasts
    longer than that (nothing is sent). ``on_progress(outcome, done, total)`` is called as each one
    lands, from the worker threads.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError([FieldProblem("concurrency", "must be a whole number, 1 or more")])
    moment = now or datetime.now(timezone.utc)
    total = len(grants)
    done = 0
    lock = threading.Lock()

    def finish(outcome: RefreshOutcome) -> RefreshOutcome:
        nonlocal done
        with lock:
            done += 1
            count = done
        if on_progress is not None:
            on_progress(outcome, count, total)
        return outcome

    def one(grant: Grant) -> RefreshOutcome:
        if grant.refresh_expired(moment):
            return finish(RefreshOutcome(grant, RefreshStatus.SKIPPED, reason=ENDED))
        if due_within is not None and not grant.access_due(moment, due_within):
            return finish(RefreshOutcome(grant, RefreshStatus.SKIPPED, reason=NOT_DUE))
        try:
            saved = commit(refresh(grant.refresh_token), grant)  # committed the moment it arrives
        except TikTokHelperError as exc:
            return finish(RefreshOutcome(grant, RefreshStatus.FAILED, error=exc))
        return finish(RefreshOutcome(grant, RefreshStatus.REFRESHED, grant=saved))

    if concurrency == 1 or total <= 1:
        return RefreshSummary(tuple(one(g) for g in grants))
    with ThreadPoolExecutor(max_workers=min(concurrency, total), thread_name_prefix="refresh") as pool:
        return RefreshSummary(tuple(pool.map(one, grants)))
