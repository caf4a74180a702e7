"""The tokens and codes the sandbox issues, and how it tells its own tokens from others.

TikTok knows which tokens it issued; the sandbox tells them by a tag inside them, so a token it
issued but no grant holds any more (revoked, rotated away, or forgotten by a reset) answers
``105001`` while garbage answers ``36009004`` (see :mod:`.tiktok`).
"""

from __future__ import annotations

import secrets

from tiktok_helpers.samples import is_sandbox_token, sandbox_token_tag

__all__ = ["issued_here", "new_code", "new_token"]


def new_token() -> str:
    """A fresh access or refresh token (52 characters), tagged as issued by this sandbox."""
    body = "TTP_" + secrets.token_urlsafe(30)
    return body + sandbox_token_tag(body)


def issued_here(token: str) -> bool:
    """Whether the sandbox ever issued ``token`` (it carries the issuer's tag), valid now or not."""
    return is_sandbox_token(token)


def new_code() -> str:
    """A fresh authorization code (``TTP_`` and 32 URL-safe characters; opaque to the runbook)."""
    return "TTP_" + secrets.token_urlsafe(24)
