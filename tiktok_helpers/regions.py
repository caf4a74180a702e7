"""Regions, authorization types and the hosts of every service.

Defaults follow the source document the runbook follows, TikTok Shop Partner Center's docs
(authorization guide 202309, "Authorization overview" 202407, "Sign your API request") and
API2Cart's documentation (its TikTok Shop connection guide and OpenAPI description). Every URL can
be overridden from settings, because TikTok's own pages disagree (the US seller link host is
written both as ``services.us.tiktokshop.com`` and ``services.tiktokshops.us``); the best value is
always the link Partner Center's "Copy authorization link" button gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Final

__all__ = [
    "DEFAULT_ENDPOINTS",
    "DEFAULT_TIMEOUT",
    "ENDPOINT_SETTINGS",
    "AuthType",
    "Endpoints",
    "Region",
    "UserType",
    "endpoints_for",
    "sandbox_endpoints",
]


class Region(str, Enum):
    """Which Partner Center the app lives in. Apps are per market."""

    GLOBAL = "global"
    US = "us"

    @property
    def label(self) -> str:
        return "United States" if self is Region.US else "Global (all markets except the US)"


class AuthType(str, Enum):
    """Who authorizes the app; decides the link's host and the token's ``user_type``."""

    SELLER = "seller"
    PARTNER = "partner"
    CREATOR = "creator"


class UserType(Enum):
    """``user_type`` in the token reply, as a named kind."""

    SELLER = 0
    CREATOR = 1
    PARTNER = 3
    UNKNOWN = -1

    @classmethod
    def from_code(cls, code: object) -> UserType:
        try:
            return cls(int(code))  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return cls.UNKNOWN

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Endpoints:
    """Where each service is. Authorization entries are full URLs; the others are base URLs."""

    partner_center: str
    seller_authorize: str
    partner_authorize: str
    creator_authorize: str
    token_base: str
    open_api_base: str
    api2cart_base: str

    def authorize_url(self, auth_type: AuthType) -> str:
        return {
            AuthType.SELLER: self.seller_authorize,
            AuthType.PARTNER: self.partner_authorize,
            AuthType.CREATOR: self.creator_authorize,
        }[AuthType(auth_type)]


#: Seconds before a request gives up, unless TIKTOK_HTTP_TIMEOUT says otherwise. Kept here, with
#: the hosts, so that settings (no httpx) and the HTTP clients share one value.
DEFAULT_TIMEOUT: Final = 15.0

_TOKEN: Final = "https://auth.tiktok-shops.com"
_OPEN_API: Final = "https://open-api.tiktokglobalshop.com"
_API2CART: Final = "https://api.api2cart.com/v1.1"
_CREATOR: Final = "https://shop.tiktok.com/alliance/creator/auth"

DEFAULT_ENDPOINTS: Final[Mapping[Region, Endpoints]] = {
    Region.GLOBAL: Endpoints(
        partner_center="https://partner.tiktokshop.com/",
        seller_authorize="https://services.tiktokshop.com/open/authorize",
        partner_authorize="https://partner.tiktokshop.com/open/authorize",
        creator_authorize=_CREATOR,
        token_base=_TOKEN,
        open_api_base=_OPEN_API,
        api2cart_base=_API2CART,
    ),
    Region.US: Endpoints(
        partner_center="https://partner.us.tiktokshop.com/",
        seller_authorize="https://services.us.tiktokshop.com/open/authorize",
        partner_authorize="https://partner.us.tiktokshop.com/open/authorize",
        creator_authorize=_CREATOR,
        token_base=_TOKEN,
        open_api_base=_OPEN_API,
        api2cart_base=_API2CART,
    ),
}

#: Setting name -> Endpoints field it overrides.
ENDPOINT_SETTINGS: Final[Mapping[str, str]] = {
    "TIKTOK_PARTNER_CENTER_URL": "partner_center",
    "TIKTOK_SELLER_AUTHORIZE_URL": "seller_authorize",
    "TIKTOK_PARTNER_AUTHORIZE_URL": "partner_authorize",
    "TIKTOK_CREATOR_AUTHORIZE_URL": "creator_authorize",
    "TIKTOK_AUTH_BASE_URL": "token_base",
    "TIKTOK_OPEN_API_BASE_URL": "open_api_base",
    "API2CART_BASE_URL": "api2cart_base",
}


def _clean(url: str) -> str:
    return url.strip().rstrip("/")


def endpoints_for(region: Region | str, overrides: Mapping[str, str] | None = None) -> Endpoints:
    """Return the live endpoints for ``region`` with any non-empty overrides applied."""
    base = DEFAULT_ENDPOINTS[Region(region)]
    changes = {
        field: _clean(value)
        for name, field in ENDPOINT_SETTINGS.items()
        if (value := (overrides or {}).get(name, "")) and value.strip()
    }
    return replace(base, **changes)


def sandbox_endpoints(base_url: str) -> Endpoints:
    """Endpoints of the embedded sandbox at ``base_url``: the real paths on one loopback host.

    The partner link lives under ``/partner`` because in live mode it has a host of its own with
    the same ``/open/authorize`` path as the seller link.
    """
    base = base_url.rstrip("/")
    return Endpoints(
        partner_center=DEFAULT_ENDPOINTS[Region.GLOBAL].partner_center,
        seller_authorize=f"{base}/open/authorize",
        partner_authorize=f"{base}/partner/open/authorize",
        creator_authorize=f"{base}/alliance/creator/auth",
        token_base=base,
        open_api_base=base,
        api2cart_base=f"{base}/v1.1",
    )
