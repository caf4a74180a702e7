"""Raw HTTP calls to the sandbox's token endpoints, as curl would make them (shared by the
sandbox tests). Each returns the decoded JSON body and checks the HTTP status is 200: TikTok
answers errors in the body."""

from __future__ import annotations

from typing import Any

import httpx

from tiktok_helpers.samples import SANDBOX_APP_KEY, SANDBOX_APP_SECRET


def _get(base_url: str, path: str, params: dict[str, str | None], client: httpx.Client | None) -> dict[str, Any]:
    sent = {k: v for k, v in params.items() if v is not None}
    reply = (client or httpx).get(f"{base_url}{path}", params=sent)
    assert reply.status_code == 200
    body: dict[str, Any] = reply.json()
    return body


def token_get(base_url: str, code: str, client: httpx.Client | None = None, **overrides: str | None) -> dict[str, Any]:
    """GET /api/v2/token/get with the sample app; ``overrides`` replace (or, as None, drop) a parameter."""
    params: dict[str, str | None] = {
        "app_key": SANDBOX_APP_KEY,
        "app_secret": SANDBOX_APP_SECRET,
        "auth_code": code,
        "grant_type": "authorized_code",
        **overrides,
    }
    return _get(base_url, "/api/v2/token/get", params, client)


def token_refresh(
    base_url: str, refresh_token: str, client: httpx.Client | None = None, **overrides: str | None
) -> dict[str, Any]:
    """GET /api/v2/token/refresh with the sample app."""
    params: dict[str, str | None] = {
        "app_key": SANDBOX_APP_KEY,
        "app_secret": SANDBOX_APP_SECRET,
        "refresh_token": refresh_token,
        "grant_type": "refresh_token",
        **overrides,
    }
    return _get(base_url, "/api/v2/token/refresh", params, client)
