"""The services' documented replies, each with its public source, as the contract tests use them.

Each example names its public source: TikTok Shop Partner Center's docs (authorization guide
202309, "Authorization overview" 202407, "Get Authorized Shops" 202309, "Common errors", "Rate
limits", the creator authorization guide), live replies quoted in public client code and issues,
or API2Cart's "Response Status Codes", OpenAPI description and mock server. A test feeds each
example to the runbook's client (does it read what the service sends?) and drives the sandbox into
the same situation (does it send what the service sends?).

The values are written out here from those sources, never read from the sandbox or the catalog, so
either drifting fails a test. Where no public source gives a reply's HTTP status, ``status`` is the
sandbox's choice and ``status_documented`` is False (the source says so).
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
    #: False: no public source gives the HTTP status; ``status`` is the one the sandbox chose.
    status_documented: bool = True


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
    "code); the message as live replies quoted in public client code give it, 'invalid auth code'; HTTP 200",
    200,
    {"code": 36004004, "message": "invalid auth code", "request_id": "202211250000000000000000000000000A"},
    exact=("code", "message"),
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


def open_api_error(
    name: str, source: str, status: int, code: int, message: str, *, status_documented: bool = True
) -> Reply:
    """An Open API error reply: ``code``, ``message`` and ``request_id`` in the JSON body, whatever
    the HTTP status (TikTok Shop Partner Center docs, "Common errors"; live replies)."""
    body = {"code": code, "message": message, "request_id": f"20221125000000000000000000{code:08d}"}
    return Reply(name, source, status, body, exact=("code", "message"), status_documented=status_documented)


BAD_SIGN = open_api_error(
    "invalid sign",
    'live replies quoted in public client code, e.g. {"code":106001,"message":"Invalid credentials. The '
    "'sign' query parameter is invalid.\"}, and a public live trace of GET /authorization/202309/shops "
    "(tiktok-api.gemyno-lab.fr/scripts/get_shops.php): HTTP 401 (newer replies append ' For more details: "
    "https://m.tiktok.shop/s/AIu6dbFhs2XW')",
    401,
    106001,
    "Invalid credentials. The 'sign' query parameter is invalid.",
)
UNKNOWN_APP_KEY = open_api_error(
    "unknown app_key",
    'live replies quoted in public client code: HTTP 400 with {"code":36009004,"message":"Invalid '
    "credentials. Invalid 'app_key' query parameter.\"}",
    400,
    36009004,
    "Invalid credentials. Invalid 'app_key' query parameter.",
)
BAD_ACCESS_TOKEN = open_api_error(
    "invalid access token header",
    "live replies quoted in public client code (to a wrong or garbage token, and to a call without the header): "
    "36009004 \"Invalid credentials. The 'x-tts-access-token' header is invalid\"; no public trace shows its HTTP "
    "status: 401 is the sandbox's choice",
    401,
    36009004,
    "Invalid credentials. The 'x-tts-access-token' header is invalid",
    status_documented=False,
)
TIMESTAMP_AHEAD = open_api_error(
    "timestamp ahead of TikTok's clock",
    "TikTok Shop Partner Center docs, 'Common errors': 36009004 for a timestamp more than 30 seconds ahead; "
    "no public source gives its HTTP status: 401 is the sandbox's choice",
    401,
    36009004,
    "Invalid timestamp. The value of the `timestamp` query parameter must not exceed the current time by more "
    "than 30 seconds.",
    status_documented=False,
)
TOKEN_DEAUTHORIZED = open_api_error(
    "access token of a deauthorized user",
    "TikTok's creator authorization guide (TikTok Shop Partner Center): 105001 for a user who removed all "
    "access; no public source gives its HTTP status: 200 is the sandbox's choice",
    200,
    105001,
    "access token is invalid; detail:your token has been deauthorized",
    status_documented=False,
)
TOKEN_EXPIRED = open_api_error(
    "expired access token",
    "a live reply (GitHub issue phamkhanhminhman97/shopee-tiktok-lazada-api#2: code 105002 'access token is "
    "expired, please refresh it' with a TikTok request_id); 'Common errors': 'Expired credentials ... Refresh your "
    "token'; no public source gives its HTTP status: 200 is the sandbox's choice",
    200,
    105002,
    "access token is expired, please refresh it",
    status_documented=False,
)
SCOPE_MISSING = open_api_error(
    "API package (scope) missing",
    "a live reply to Get Authorized Shops (GitHub issue EcomPHP/tiktokshop-php#40) and TikTok's creator "
    "authorization guide: 105005 'you should apply auth pkg for this api'; Get Authorized Shops needs the 'Shop "
    "Authorized Information' package (seller.authorization.info); no public source gives its HTTP status: 200 is "
    "the sandbox's choice",
    200,
    105005,
    "you should apply auth pkg for this api",
    status_documented=False,
)
RATE_LIMITED = open_api_error(
    "rate limited",
    "TikTok Shop Partner Center docs, 'Rate limits' ('throttled and an HTTP 429 error is returned') and 'Common "
    "errors' ('HTTP 429 and 36009002 both indicate rate limiting'); the message: TikTok Shop's public API error "
    "tables (page 'Create Product', table 'Error Code')",
    429,
    36009002,
    "Too many requests. You've made too many requests in a short period of time.",
)
INTERNAL_ERROR = open_api_error(
    "TikTok internal error",
    "TikTok Shop Partner Center docs, 'Get Authorized Shops' (202309) lists 36009003; the message: TikTok Shop's "
    "public API error tables; no public source gives its HTTP status: 200 is the sandbox's choice",
    200,
    36009003,
    "Internal error. Please try again. If the issue persists after multiple attempts, please contact platform support.",
    status_documented=False,
)
IP_NOT_ALLOWED = open_api_error(
    "IP address not on the allow list",
    "TikTok Shop Partner Center docs, 'Common errors': 36009033; its HTTP status is not documented (served "
    "here with 403 to check the client reads the body whatever the status; the sandbox does not simulate it)",
    403,
    36009033,
    "Access denied. Your IP address is not in the IP allow list configured for this app.",
    status_documented=False,
)
#: Every Open API error reply above, in the order the sandbox checks a signed call.
OPEN_API_ERRORS = (
    UNKNOWN_APP_KEY,
    TIMESTAMP_AHEAD,
    BAD_SIGN,
    BAD_ACCESS_TOKEN,
    TOKEN_DEAUTHORIZED,
    TOKEN_EXPIRED,
    SCOPE_MISSING,
    RATE_LIMITED,
    INTERNAL_ERROR,
    IP_NOT_ALLOWED,
)
#: Every documented message of 36009004, with the word naming its cause (the catalog must find it),
#: and the live form newer replies take (" For more details: <link>" appended, as public live traces show).
INVALID_CREDENTIALS_MESSAGES = (
    (BAD_ACCESS_TOKEN.body["message"], "x-tts-access-token"),
    (UNKNOWN_APP_KEY.body["message"], "app_key"),
    (TIMESTAMP_AHEAD.body["message"], "timestamp"),
)
MORE_DETAILS = " For more details: https://m.tiktok.shop/s/AIu6dbFhs2XW"

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
# A TikTok Shop store added without store_url: url null, as API2Cart's mock server (api2cart/api2cart-mock-api)
# answers for TikTok Shop stores (TikTokShop/cart/info/basic.response.json: "url": null); url is an optional
# string in the OpenAPI model (api2cart/php-sdk docs/Model/AccountCartList200ResponseResultCartsInner.md).
CART_LIST_NO_URL = api2cart(
    "account.cart.list, a store without a URL",
    0,
    {
        "carts_count": 1,
        "carts": [
            {
                "id": "1",
                "url": None,
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
