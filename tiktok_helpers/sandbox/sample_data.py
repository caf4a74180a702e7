"""The sandbox's sample world: the sample app, its scopes, the sample sellers and their shops, and
the platforms API2Cart's ``account.supported_platforms.json`` lists.

Everything here comes from code and is never persisted (sellers minted for an agency's account,
:mod:`.agency`, live in the state database). The sample credentials (App Key, App Secret,
service_id, API2Cart key) are in :mod:`tiktok_helpers.samples`, shared with the runbook.

The sample sellers, by key (:data:`SAMPLE_SELLERS`; the consent page's "Log in as" lists them in
this order, and :func:`sample_seller_key` turns a key or a seller name into a key):

* ``global``: "Sandbox UK Store", a GB store with a cross-border DE shop;
* ``us``: "Sandbox US Store", a US store;
* ``sg``: "Sandbox SG Store", a Singapore store with a cross-border MY shop.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from tiktok_helpers.samples import (
    SANDBOX_APP_KEY,
    SANDBOX_APP_NAME,
    SANDBOX_APP_SECRET,
    SANDBOX_REDIRECT_URL,
    SANDBOX_SERVICE_ID,
)

from .model import App, SampleShop, Seller

__all__ = [
    "SAMPLE_SCOPES",
    "SAMPLE_SELLERS",
    "SCOPE_DESCRIPTIONS",
    "SUPPORTED_PLATFORMS",
    "sample_app",
    "sample_seller_key",
    "sample_sellers",
]

SCOPE_DESCRIPTIONS: Final[Mapping[str, str]] = {
    "seller.authorization.info": "See which shops authorized the app",
    "seller.shop.info": "Read shop information",
    "seller.product.basic": "Read and manage products",
    "seller.order.info": "Read orders",
    "seller.fulfillment.basic": "Manage fulfillment and shipping",
    "seller.logistics": "Read warehouses and shipping providers",
    "seller.finance.info": "Read statements and payments",
    "seller.returns.info": "Read returns, refunds and cancellations",
}
SAMPLE_SCOPES: Final = tuple(SCOPE_DESCRIPTIONS)


def sample_app(redirect_url: str | None = None) -> App:
    """The sample app, registered with ``redirect_url`` (default :data:`SANDBOX_REDIRECT_URL`)."""
    return App(
        name=SANDBOX_APP_NAME,
        app_key=SANDBOX_APP_KEY,
        app_secret=SANDBOX_APP_SECRET,
        service_id=SANDBOX_SERVICE_ID,
        redirect_url=redirect_url or SANDBOX_REDIRECT_URL,
        scopes=SAMPLE_SCOPES,
    )


def sample_sellers() -> dict[str, Seller]:
    """The sample sellers by key: ``global`` (GB, with a cross-border DE shop), ``us`` and ``sg``
    (SG, with a cross-border MY shop); a fresh dict of the same frozen :class:`Seller` objects."""
    return dict(SAMPLE_SELLERS)


def _sample_sellers() -> dict[str, Seller]:
    global_seller = Seller(
        key="global",
        name="Sandbox UK Store",
        base_region="GB",
        open_id="7010736057180320000",
        shops=(
            SampleShop(
                id="7494000000000000101",
                name="Sandbox UK Store",
                region="GB",
                seller_type="LOCAL",
                cipher="ROW_sbxGBcipher0000000000000101",
                code="GBLCSBX101",
            ),
            SampleShop(
                id="7494000000000000102",
                name="Sandbox UK Store DE",
                region="DE",
                seller_type="CROSS_BORDER",
                cipher="ROW_sbxDEcipher0000000000000102",
                code="DECBSBX102",
            ),
        ),
    )
    us_seller = Seller(
        key="us",
        name="Sandbox US Store",
        base_region="US",
        open_id="7010736057180330000",
        shops=(
            SampleShop(
                id="7494000000000000201",
                name="Sandbox US Store",
                region="US",
                seller_type="LOCAL",
                cipher="TTP_sbxUScipher0000000000000201",
                code="USLCSBX201",
            ),
        ),
    )
    sg_seller = Seller(
        key="sg",
        name="Sandbox SG Store",
        base_region="SG",
        open_id="7010736057180340000",
        shops=(
            SampleShop(
                id="7494000000000000301",
                name="Sandbox SG Store",
                region="SG",
                seller_type="LOCAL",
                cipher="ROW_sbxSGcipher0000000000000301",
                code="SGLCSBX301",
            ),
            SampleShop(
                id="7494000000000000302",
                name="Sandbox SG Store MY",
                region="MY",
                seller_type="CROSS_BORDER",
                cipher="ROW_sbxMYcipher0000000000000302",
                code="MYCBSBX302",
            ),
        ),
    )
    return {s.key: s for s in (global_seller, us_seller, sg_seller)}


#: The sample sellers by key, in the order the consent page lists them (read-only).
SAMPLE_SELLERS: Final[Mapping[str, Seller]] = MappingProxyType(_sample_sellers())


def sample_seller_key(name: str) -> str:
    """The key of the sample seller called ``name``: its key or its seller name (any case).

    Raises ValueError naming the choices, e.g. for a ``--sandbox-seller`` option.
    """
    wanted = name.strip().casefold()
    for seller in SAMPLE_SELLERS.values():
        if wanted in (seller.key.casefold(), seller.name.casefold()):
            return seller.key
    choices = ", ".join(f"{s.key} ({s.name}, {s.base_region})" for s in SAMPLE_SELLERS.values())
    raise ValueError(f"no sample seller {name!r}; choose one of: {choices}")


#: What ``account.supported_platforms.json`` answers (the sandbox can add only TikTok Shop stores).
SUPPORTED_PLATFORMS: Final[tuple[dict[str, Any], ...]] = (
    {
        "cart_id": "TikTokShop",
        "cart_name": "TikTok Shop",
        "cart_versions": "202309",
        "params": {
            "required": [
                [
                    {"name": "tiktokshop_app_key", "description": "App Key from TikTok Shop Partner Center"},
                    {
                        "name": "tiktokshop_app_secret",
                        "description": "App Secret from TikTok Shop Partner Center",
                    },
                    {
                        "name": "tiktokshop_refresh_token",
                        "description": "Refresh token from the token/get reply",
                    },
                ]
            ],
            "additional": [
                {"name": "tiktokshop_access_token", "description": "Current access token (optional)"},
                {"name": "store_url", "description": "Store URL (optional for TikTok Shop)"},
                {"name": "custom_label", "description": "Your label for the store"},
                {"name": "verify", "description": "Verify the credentials when adding (default true)"},
            ],
        },
    },
    {
        "cart_id": "Shopify",
        "cart_name": "Shopify",
        "cart_versions": "2024-01",
        "params": {
            "required": [
                [
                    {"name": "store_url", "description": "Store URL"},
                    {"name": "shopify_access_token", "description": "Admin API access token"},
                ],
                [
                    {"name": "store_url", "description": "Store URL"},
                    {"name": "shopify_api_key", "description": "API key"},
                    {"name": "shopify_api_password", "description": "API password"},
                ],
            ],
            "additional": [{"name": "custom_label", "description": "Your label for the store"}],
        },
    },
    {
        "cart_id": "WooCommerceApi",
        "cart_name": "WooCommerce",
        "cart_versions": "3.x-9.x",
        "params": {
            "required": [
                [
                    {"name": "store_url", "description": "Store URL"},
                    {"name": "wc_consumer_key", "description": "REST API consumer key"},
                    {"name": "wc_consumer_secret", "description": "REST API consumer secret"},
                ]
            ],
            "additional": [{"name": "custom_label", "description": "Your label for the store"}],
        },
    },
)
