"""The sandbox's sample values.

These are fake credentials that only the embedded sandbox accepts. They are safe to print,
commit and teach with; the runbook uses them by default in sandbox mode. No real TikTok or
API2Cart service knows them.
"""

from __future__ import annotations

from typing import Final

SANDBOX_APP_NAME: Final = "Runbook Sandbox App"
SANDBOX_APP_KEY: Final = "sbxappkey0001"
SANDBOX_APP_SECRET: Final = "sandboxsecret000000000000000000000000001"
SANDBOX_SERVICE_ID: Final = "7000000000000000001"
SANDBOX_REDIRECT_URL: Final = "http://127.0.0.1:8765/callback"
SANDBOX_API2CART_KEY: Final = "sandbox-api2cart-key-0001"

#: Every value above, for leak checks: these may appear unmasked, nothing else may.
SANDBOX_PUBLIC_VALUES: Final = frozenset(
    {SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SERVICE_ID, SANDBOX_API2CART_KEY}
)
