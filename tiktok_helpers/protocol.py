"""Lifetimes and windows of the TikTok Shop authorization protocol, in one place.

Each value is from TikTok Shop Partner Center's docs (the authorization guide 202309, the
"Authorization overview" 202407, and the "Common errors" page of the API docs), or is the
runbook's own rule; :data:`SOURCES` names the source of each, and ``tests/test_sources.py`` keeps
every constant in it. The runbook's rules (what to do next, doctor's checks, how long a caught
code is worth exchanging) and the sandbox's simulation both read them from here.

What is not here because TikTok does not document it: whether ``/api/v2/token/refresh`` returns a
new refresh token and whether the old one then stops working (the token docs' samples show the
same string before and after, which proves nothing). The runbook is right either way: it always
stores the refresh token a reply carries, and one party refreshes each seller.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Final

__all__ = [
    "ACCESS_TOKEN_LIFETIME",
    "AUTH_CODE_LIFETIME",
    "EXPIRY_MARGIN",
    "SIGNED_TIMESTAMP_MAX_AGE",
    "SIGNED_TIMESTAMP_MAX_AHEAD",
    "SOURCES",
]

_GUIDES = "TikTok Shop Partner Center docs, authorization guide (202309) and 'Authorization overview' (202407)"
_COMMON_ERRORS_WINDOW = (
    "TikTok Shop Partner Center docs, 'Common errors' (36009004): \"Timestamps must lie within the range of 5 "
    'minutes before to 30 seconds beyond the current time."'
)

#: An auth code expires 30 minutes after it is issued, and works once.
AUTH_CODE_LIFETIME: Final = timedelta(minutes=30)
#: An access token lives 7 days by default; refresh at least that often.
ACCESS_TOKEN_LIFETIME: Final = timedelta(days=7)
#: A signed request's ``timestamp`` is accepted from 5 minutes before the server's time ...
SIGNED_TIMESTAMP_MAX_AGE: Final = timedelta(minutes=5)
#: ... to 30 seconds after it; outside that window the answer is 36009004.
SIGNED_TIMESTAMP_MAX_AHEAD: Final = timedelta(seconds=30)

#: The runbook's own rule, not TikTok's: a token with less than this left needs attention now.
EXPIRY_MARGIN: Final = timedelta(days=1)

#: The public source of each constant above (or that it is the runbook's own rule).
SOURCES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "AUTH_CODE_LIFETIME": f"{_GUIDES}: the auth code is valid for 30 minutes and works once.",
        "ACCESS_TOKEN_LIFETIME": f"{_GUIDES}: an access token lives 7 days (access_token_expire_in).",
        "SIGNED_TIMESTAMP_MAX_AGE": f"{_COMMON_ERRORS_WINDOW} A timestamp earlier than 5 minutes before it is refused.",
        "SIGNED_TIMESTAMP_MAX_AHEAD": (
            f'{_COMMON_ERRORS_WINDOW} "Invalid timestamp. The value of the `timestamp` query parameter must not '
            'exceed the current time by more than 30 seconds."'
        ),
        "EXPIRY_MARGIN": "The runbook's own rule, not TikTok's: 1 day left is the moment to act.",
    }
)
