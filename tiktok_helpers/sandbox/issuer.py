"""The tokens and codes the sandbox issues, and how it tells its own tokens from others.

TikTok knows which tokens it issued; the sandbox tells them by a tag inside them, so a token it
issued but no grant holds any more (revoked, rotated away, or forgotten by a reset) answers
``105001`` while garbage answers ``36009004`` (see :mod:`.tiktok`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Final

__all__ = ["issued_here", "new_code", "new_token"]

#: Keys the tag of an issued token (not a secret: it only tells the sandbox's tokens from others).
_ISSUER_KEY: Final = b"tiktok-helpers sandbox token issuer"


def _tag(body: str) -> str:
    digest = hmac.new(_ISSUER_KEY, body.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:6]).decode("ascii")


def new_token() -> str:
    """A fresh access or refresh token (52 characters), tagged as issued by this sandbox."""
    body = "TTP_" + secrets.token_urlsafe(30)
    return body + _tag(body)


def issued_here(token: str) -> bool:
    """Whether the sandbox ever issued ``token`` (it carries the issuer's tag), valid now or not."""
    if not token.isascii() or len(token) != 52 or not token.startswith("TTP_"):
        return False
    return hmac.compare_digest(_tag(token[:-8]), token[-8:])


def new_code() -> str:
    """A fresh authorization code (``TTP_`` and 32 URL-safe characters; opaque to the runbook)."""
    return "TTP_" + secrets.token_urlsafe(24)
