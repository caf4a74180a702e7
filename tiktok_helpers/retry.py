"""When a request is tried again: one decision, one attempt budget per call (policies as values).

:class:`RetryPolicy` is a value a client is given (through :class:`tiktok_helpers.http.Transport`);
its :meth:`~RetryPolicy.should_retry` alone decides, after each attempt, whether there is another
(after stripe-python's ``_should_retry``), and :meth:`~RetryPolicy.delay` how long to wait first
(exponential backoff with jitter, or the reply's ``Retry-After``). The budget is per call, whatever
the causes: 3 attempts in all by default, never 3 per kind of fault.

* A connection that could not be made (``ConnectError``, ``ConnectTimeout``): nothing was sent,
  so any request may be tried again, even a token exchange.
* After the request may have reached the service, only a request that is safe to repeat (a read:
  Get Authorized Shops, API2Cart list/validate/platforms): a read timeout or a dropped
  connection, HTTP 429 or 5xx (:data:`RETRY_STATUSES`), or an API2Cart return code the catalog
  marks transient (1, 7, 9, 10, 110: API2Cart's "Response Status Codes" say to try again later).
  TikTok's 36009002 and 36009003 in a reply body are shown to the person, not repeated here (the
  catalog says to wait and retry; the training drills show them as they arrive); an HTTP 429 is
  retried by its status whatever the body says.
* Never the token exchange (a code works once: if the first attempt reached TikTok, a second can
  only fail), never a refresh (TikTok does not document whether a refresh retires the refresh token
  it spent), never adding an API2Cart store or replacing its credentials.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

from .errors import Api2CartError, RequestTimeout, ServiceUnreachable, TikTokHelperError

__all__ = ["DEFAULT_RETRY", "NO_RETRY", "RETRY_STATUSES", "Outcome", "RetryPolicy"]

#: HTTP statuses that say "try again later": too many requests, or the server failed (5xx that can
#: pass by themselves; 501 Not Implemented and 505 do not).
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})

#: What a connection that failed, or a reply that never came, becomes.
_NETWORK_FAULTS: Final = (ServiceUnreachable, RequestTimeout)


@dataclass(frozen=True)
class Outcome:
    """What one attempt met, as :meth:`RetryPolicy.should_retry` sees it.

    ``attempt`` is its number (1 for the first). ``sent`` is False when the request cannot have
    reached the service (the connection was never made, or the request could not even be built).
    ``status`` is the reply's HTTP status, if a reply came; ``error`` the package error the attempt
    ends in, if it failed; ``retry_after`` the reply's ``Retry-After`` header, if any.
    """

    attempt: int
    sent: bool
    status: int | None = None
    error: TikTokHelperError | None = None
    retry_after: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts in all, and the backoff between them: ``backoff * 2**n``, capped, ±20 %."""

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 4.0

    def should_retry(self, outcome: Outcome, *, safe: bool) -> bool:
        """The one decision whether a request is tried again after an attempt ended in ``outcome``.

        ``safe``: the request is a read, so repeating it after it reached the service changes
        nothing. The budget comes first: never more than :attr:`attempts` in all, whatever the
        causes. Then:

        * nothing sent (the connection was never made): any request, whatever its method;
        * sent, and safe: a timeout or a dropped connection, HTTP 429 or 5xx
          (:data:`RETRY_STATUSES`), or an API2Cart return code the catalog marks transient
          (:attr:`CatalogEntry.transient <tiktok_helpers.catalog.CatalogEntry.transient>`);
        * anything else, and every request that is not safe once it may have been sent: never.
          A request that could not be built, or a reply that cannot be read, would fail the same.
        """
        if outcome.attempt >= max(1, self.attempts):
            return False
        error = outcome.error
        if not outcome.sent:
            return isinstance(error, _NETWORK_FAULTS)
        if not safe:
            return False
        if outcome.status in RETRY_STATUSES or isinstance(error, _NETWORK_FAULTS):
            return True
        return isinstance(error, Api2CartError) and error.entry.transient

    def delay(self, retry_number: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.strip().isdigit():
            return min(float(retry_after.strip()), self.max_backoff)
        base = min(self.backoff * 2.0**retry_number, self.max_backoff)
        return base * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography


DEFAULT_RETRY: Final = RetryPolicy()
NO_RETRY: Final = RetryPolicy(attempts=1)
