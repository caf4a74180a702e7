"""The sandbox's sample values.

These are fake credentials that only the embedded sandbox accepts. They are safe to print,
commit and teach with; the runbook uses them by default in sandbox mode. No real TikTok or
API2Cart service knows them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
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


#: Keys the tag inside every token the embedded sandbox issues (not a secret: it only tells the
#: sandbox's tokens from others, so a grant saved before grants recorded their mode can be placed).
_ISSUER_KEY: Final = b"tiktok-helpers sandbox token issuer"


def sandbox_token_tag(body: str) -> str:
    """The tag the embedded sandbox appends to a token it issues (8 URL-safe characters)."""
    digest = hmac.new(_ISSUER_KEY, body.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:6]).decode("ascii")


def is_sandbox_token(token: str) -> bool:
    """Whether the embedded sandbox issued ``token`` (it carries the issuer's tag), valid now or not."""
    if not token.isascii() or len(token) != 52 or not token.startswith("TTP_"):
        return False
    return hmac.compare_digest(sandbox_token_tag(token[:-8]), token[-8:])
