"""The keep-alive: one pass a scheduler runs (cron, a systemd timer) to keep every seller connected.

One pass, under a lock so two passes never overlap, on one machine or (a PostgreSQL grant store)
on several (a second one says who holds the lock and does nothing):

1. refresh the sellers the runbook refreshes whose access token ends within ``due_within``
   (:meth:`~tiktok_helpers.session.Session.refresh_all`; TikTok's access tokens must be refreshed at
   least every 7 days, so a daily pass with the default two days keeps them alive); a refreshed seller
   with a store in API2Cart hands it the new refresh token;
2. ask API2Cart to check the store of every seller API2Cart refreshes (``cart.validate``, as many
   at a time as the refreshes: API2Cart holds and refreshes their tokens, so its answer is the only
   view of them);
3. report what only a person can fix: a seller who removed the app (TikTok's webhook 6 or 20), an
   authorization that ends within ``ending_within`` or has ended (the seller must authorize again;
   TikTok's webhook 7 starts 30 days before the end), a refresh or a check that failed, a hand-over
   that failed, a damaged row.

:attr:`KeepAliveReport.needs_person` is what a scheduler acts on (the command's exit status 1).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Final

from .errors import TikTokHelperError
from .grants import Grant
from .results import RefreshSummary
from .secret import Secret
from .session import Session
from .status import ENDING_SOON, attention

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no overlap protection between processes
    fcntl = None  # type: ignore[assignment]

__all__ = ["DEFAULT_DUE_WITHIN", "KeepAliveReport", "StoreCheck", "keep_alive"]

#: Refresh a seller whose access token ends within this (a daily run keeps every token alive).
DEFAULT_DUE_WITHIN: Final = timedelta(days=2)


@dataclass(frozen=True)
class StoreCheck:
    """API2Cart's answer for one seller's store: ``error`` None when ``cart.validate`` accepted it."""

    seller: Grant
    store_key: Secret
    status: str = ""
    error: TikTokHelperError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class KeepAliveReport:
    """What one keep-alive pass did and found. ``busy`` is set (and nothing was done) when another
    pass held the lock."""

    summary: RefreshSummary = field(default_factory=lambda: RefreshSummary(()))
    stores: tuple[StoreCheck, ...] = ()
    #: Every seller that needs a person, with why (removed the app, authorization ending or ended,
    #: damaged row), as ``(grant, sentence)``.
    attention: tuple[tuple[Grant, str], ...] = ()
    busy: str = ""

    @property
    def failed_stores(self) -> tuple[StoreCheck, ...]:
        return tuple(c for c in self.stores if not c.ok)

    @property
    def needs_person(self) -> bool:
        """A refresh, a hand-over or a store check failed, or a seller needs to authorize again."""
        s = self.summary
        return bool(s.failed or s.handover_failed or self.failed_stores or self.attention)


def _check_stores(session: Session, grants: list[Grant], concurrency: int) -> tuple[StoreCheck, ...]:
    """``cart.validate`` for every seller API2Cart refreshes, ``concurrency`` at a time on the session's
    shared HTTP client (one round trip each: sequential would take a network round trip per seller)."""
    held = [g for g in grants if g.held_by_api2cart and g.api2cart_store_key and g.removed_at is None]
    if not held:
        return ()
    try:
        client = session.api2cart()
    except TikTokHelperError as exc:  # no API2Cart key: every store is unchecked, and says why
        return tuple(StoreCheck(g, g.api2cart_store_key, error=exc) for g in held)

    def check(grant: Grant) -> StoreCheck:
        try:
            return StoreCheck(grant, grant.api2cart_store_key, client.validate_store(grant.api2cart_store_key))
        except TikTokHelperError as exc:
            return StoreCheck(grant, grant.api2cart_store_key, error=exc)

    with ThreadPoolExecutor(max_workers=min(concurrency, len(held)), thread_name_prefix="validate") as pool:
        return tuple(pool.map(check, held))


def keep_alive(
    session: Session,
    *,
    due_within: timedelta = DEFAULT_DUE_WITHIN,
    ending_within: timedelta = ENDING_SOON,
    concurrency: int = 8,
    now: datetime | None = None,
) -> KeepAliveReport:
    """One keep-alive pass over the session's app and mode (see the module's description)."""
    with session.store.grants.exclusive("keepalive") as holder:
        if holder:
            return KeepAliveReport(busy=f"another keep-alive is running ({holder})")
        summary = session.refresh_all(concurrency=concurrency, due_within=due_within)
        grants = session.sellers()  # as stored after the refreshes
        stores = _check_stores(session, grants, concurrency)
        moment = now or datetime.now(timezone.utc)
        needs = tuple((g, why) for g in grants if (why := attention(g, moment, ending_within)))
        return KeepAliveReport(summary, stores, needs)
