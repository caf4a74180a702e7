"""Lifetimes and windows of the TikTok Shop authorization protocol, in one place.

Each value is from TikTok Shop Partner Center's docs (the authorization guide 202309, the
"Authorization overview" 202407, and the API docs on signed requests with their "Common errors"
page), as each line says. The runbook's rules (what to do next, doctor's checks, how long a caught
code is worth exchanging) and the sandbox's simulation both read them from here.
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

#: An auth code expires 30 minutes after it is issued, and works once (authorization guide 202309,
#: "Authorization overview" 202407).
AUTH_CODE_LIFETIME: Final = timedelta(minutes=30)
#: An access token lives 7 days by default; refresh at least that often (authorization guide
#: 202309, "Authorization overview" 202407).
ACCESS_TOKEN_LIFETIME: Final = timedelta(days=7)
#: A signed request's ``timestamp`` is accepted from 5 minutes before the server's time ...
SIGNED_TIMESTAMP_MAX_AGE: Final = timedelta(minutes=5)
#: ... to 30 seconds after it; outside that window the answer is 36009004 (Partner Center's API docs;
#: "Common errors": "must not exceed the current time by more than 30 seconds").
SIGNED_TIMESTAMP_MAX_AHEAD: Final = timedelta(seconds=30)

#: The runbook's own rule, not TikTok's: a token with less than this left needs attention now.
EXPIRY_MARGIN: Final = timedelta(days=1)
