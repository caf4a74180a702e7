"""The services' documented replies, each with its public source, as the contract tests use them.

Each example names its public source: TikTok Shop Partner Center's docs (authorization guide
202309, "Authorization overview" 202407, "Get Authorized Shops" 202309, "Common errors"), live
replies quoted in public client code, or API2Cart's "Response Status Codes". A test feeds each
example to the runbook's client (does it read what the service sends?) and drives the sandbox into
the same situation (does it send what the service sends?).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reply:
    """A documented HTTP reply: its status and JSON body, and where it is documented."""

    name: str
    source: str
    status: int
    body: dict[str, Any]
    #: Keys whose value the documentation gives exactly (others: only the type is documented).
    exact: tuple[str, ...] = field(default=())


TOKEN_SUCCESS = Reply(
    "token reply",
    "TikTok Shop Partner Center docs, authorization guide (202309): GET /api/v2/token/get, success",
    200,
    {
        "code": 0,
        "message": "success",
        "request_id": "2022080809462301024509910319695C45",
        "data": {
            "access_token": "TTP_example_access",
            "access_token_expire_in": 1660556783,
            "refresh_token": "TTP_example_refresh",
            "refresh_token_expire_in": 1691487031,
            "open_id": "7010736057180325637",
            "seller_name": "Jjj test shop",
            "seller_base_region": "ID",
            "user_type": 0,
            "granted_scopes": ["seller.affiliate_collaboration.read"],
        },
    },
    exact=("code", "message"),
)

# Token errors: HTTP 200, a non-zero code, a message, a request_id, no data (TikTok Shop Partner
# Center's authorization docs, and live replies quoted in public client code).
INVALID_AUTH_CODE = Reply(
    "invalid auth code",
    "TikTok Shop Partner Center docs, 'Common errors': 36004004 'Invalid auth code.' (a wrong, used or expired "
    "code; live replies say 'invalid auth code'), HTTP 200",
    200,
    {"code": 36004004, "message": "invalid auth code", "request_id": "202211250000000000000000000000000A"},
    exact=("code",),
)
UNKNOWN_REFRESH_TOKEN = Reply(
    "unknown refresh token",
    "TikTok token/refresh: 36004005 'can not find related auth record' (live replies quoted in public client "
    "code), HTTP 200",
    200,
    {
        "code": 36004005,
        "message": "can not find related auth record",
        "request_id": "202211250000000000000000000000000B",
    },
    exact=("code",),
)

SHOPS_SUCCESS = Reply(
    "Get Authorized Shops",
    "TikTok Shop Partner Center docs, 'Get Authorized Shops' (202309): data.shops[] with id, name, region, "
    "seller_type, cipher, code",
    200,
    {
        "code": 0,
        "message": "Success",
        "request_id": "202211250000000000000000000000000C",
        "data": {
            "shops": [
                {
                    "id": "7000714532876273420",
                    "name": "Maomao beauty shop",
                    "region": "GB",
                    "seller_type": "CROSS_BORDER",
                    "cipher": "GCP_XF90igAAAABh00qsWgtvOiGFNqyubMt3",
                    "code": "CNGBCBA4LLU8",
                }
            ]
        },
    },
    exact=("code",),
)
BAD_SIGN = Reply(
    "invalid sign",
    "public live traces: HTTP 401 with body code 106001 (bad sign)",
    401,
    {"code": 106001, "message": "Invalid credentials.", "request_id": "202211250000000000000000000000000D"},
    exact=("code",),
)
BAD_ACCESS_TOKEN = Reply(
    "invalid access token header",
    "live reply to a wrong access token quoted in public client code: 36009004 "
    "\"The 'x-tts-access-token' header is invalid\"; no public trace shows its HTTP status: 401 is the sandbox's "
    "choice",
    401,
    {
        "code": 36009004,
        "message": "The 'x-tts-access-token' header is invalid",
        "request_id": "202211250000000000000000000000000E",
    },
    exact=("code", "message"),
)

#: The redirect back after a refusal (TikTok Shop Partner Center docs, "Authorization overview" 202407:
#: code=null and error=auth_denied).
REFUSAL_QUERY = {"code": "null", "error": "auth_denied"}
#: The redirect back after approval: documented code and state, observed app_key, locale, shop_region.
APPROVAL_KEYS = {"code", "state"}
APPROVAL_OBSERVED_KEYS = {"app_key", "locale", "shop_region"}


def api2cart(name: str, return_code: int, result: Any, message: str = "") -> Reply:
    return Reply(
        name,
        "API2Cart 'Response Status Codes': every reply is HTTP 200 with return_code, return_message, result; "
        "an error's result is {} in API2Cart's own mock server (api2cart/api2cart-mock-api, e.g. "
        "TikTokShop/order/info/error-not-found.response.json)",
        200,
        {"return_code": return_code, "return_message": message, "result": result},
        exact=("return_code",),
    )


CART_ADD = api2cart("account.cart.add", 0, {"store_key": "ed58a22dfecb405a50ea3ea56979360d"})
# result.carts_count: API2Cart's OpenAPI model AccountCartList200ResponseResult (carts_count: int,
# carts[]), as published in api2cart/rust-sdk docs/AccountCartList200ResponseResult.md.
CART_LIST = api2cart(
    "account.cart.list",
    0,
    {
        "carts_count": 1,
        "carts": [
            {
                "id": "1",
                "url": "https://shop.example.com",
                "store_key": "ed58a22dfecb405a50ea3ea56979360d",
                "cart_id": "TikTokShop",
                "custom_label": "My shop",
            }
        ],
    },
)
# result.status: CartValidate200ResponseResult (status: string; no value is published), and
# result.updated_items: AccountConfigUpdate200ResponseResult (updated_items: int), as published in
# api2cart/php-sdk docs/Model/.
CART_VALIDATE = api2cart("cart.validate", 0, {"status": "example"})
CONFIG_UPDATE = api2cart("account.config.update", 0, {"updated_items": 1})
WRONG_API_KEY = api2cart("incorrect API key", 2, {}, "Incorrect API Key")
STORE_EXISTS = api2cart("store already exists", 8, {}, "Store already exists")
STORE_API_ACCESS_ERROR = api2cart("store API access error", 100, {}, "Store API access error")
STORE_NOT_FOUND = api2cart("store not found", 101, {}, "Store not found")
REQUIRED_PARAMETER = api2cart("required parameter is not specified", 114, {}, "Required parameter is not specified")


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys with the shape of their values, a list's first item's
    shape, and a scalar's type (int and float are both 'number'; bool is its own)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__
