"""Lifetimes and windows of the TikTok Shop authorization protocol, in one place.

Each value is from ``../shared/reference/tiktok-shop-authorization.md`` (compiled from TikTok Shop
Partner Center's authorization guide 202309, the authorization overview 202407 and the
sign-your-api-request page). The runbook's rules (what to do next, doctor's checks, how long a
caught code is worth exchanging) and the sandbox's simulation both read them from here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

__all__ = [
    "ACCESS_TOKEN_LIFETIME",
    "AUTH_CODE_LIFETIME",
    "EXPIRY_MARGIN",
    "SIGNED_TIMESTAMP_MAX_AGE",
    "SIGNED_TIMESTAMP_MAX_AHEAD",
]

#: An auth code expires 30 minutes after it is issued, and works once (reference section 2).
AUTH_CODE_LIFETIME: Final = timedelta(minutes=30)
#: An access token lives 7 days by default; refresh at least that often (reference sections 3-4).
ACCESS_TOKEN_LIFETIME: Final = timedelta(days=7)
#: A signed request's ``timestamp`` is accepted from 5 minutes before the server's time ...
SIGNED_TIMESTAMP_MAX_AGE: Final = timedelta(minutes=5)
#: ... to 30 seconds after it; outside that window the answer is 36009004 (reference section 5).
SIGNED_TIMESTAMP_MAX_AHEAD: Final = timedelta(seconds=30)

#: The runbook's own rule, not TikTok's: a token with less than this left needs attention now.
EXPIRY_MARGIN: Final = timedelta(days=1)
