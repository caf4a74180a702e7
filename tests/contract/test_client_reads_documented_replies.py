"""Contract, client side: each documented reply (tests/contract/documented.py, sources named
there), served as the service serves it, is read by the runbook's clients as it means."""

from __future__ import annotations

import httpx
import pytest
import respx

from tiktok_helpers.api2cart import Api2CartClient
from tiktok_helpers.errors import (
    AccessTokenExpired,
    AccessTokenInvalid,
    Api2CartError,
    AuthorizationDenied,
    InvalidAuthCode,
    InvalidCredentials,
    InvalidSignature,
    IpNotAllowed,
    OpenApiInternalError,
    RateLimited,
    RefreshTokenNotFound,
    ScopeMissing,
)
from tiktok_helpers.http import Transport
from tiktok_helpers.openapi import OpenApiClient
from tiktok_helpers.redirect import parse_redirect
from tiktok_helpers.tokens import TokenClient

from . import documented as doc

TOKEN_BASE = "https://token.contract.test"
OPEN_API_BASE = "https://open-api.contract.test"
API2CART_BASE = "https://api2cart.contract.test/v1.1"


def served(reply: doc.Reply) -> httpx.Response:
    return httpx.Response(reply.status, json=reply.body)


@respx.mock
def test_the_token_reply_is_read_with_absolute_expiries() -> None:
    respx.get(f"{TOKEN_BASE}/api/v2/token/get").mock(return_value=served(doc.TOKEN_SUCCESS))
    tokens = TokenClient("app_key_x", "app_secret_value_x", Transport(TOKEN_BASE)).exchange("TTP_code")
    data = doc.TOKEN_SUCCESS.body["data"]
    assert tokens.access_token.reveal() == data["access_token"]
    assert int(tokens.access_token_expires_at.timestamp()) == data["access_token_expire_in"]  # absolute
    assert int(tokens.refresh_token_expires_at.timestamp()) == data["refresh_token_expire_in"]
    assert (tokens.open_id, tokens.seller_name, tokens.seller_base_region) == (
        "7010736057180325637",
        "Jjj test shop",
        "ID",
    )
    assert tokens.granted_scopes == tuple(data["granted_scopes"])
    assert tokens.request_id == doc.TOKEN_SUCCESS.body["request_id"]


@pytest.mark.parametrize(
    ("reply", "error", "call"),
    [
        (doc.INVALID_AUTH_CODE, InvalidAuthCode, "exchange"),
        (doc.UNKNOWN_REFRESH_TOKEN, RefreshTokenNotFound, "refresh"),
    ],
)
@respx.mock
def test_token_errors_in_http_200_are_errors(reply: doc.Reply, error: type[Exception], call: str) -> None:
    path = "get" if call == "exchange" else "refresh"
    respx.get(f"{TOKEN_BASE}/api/v2/token/{path}").mock(return_value=served(reply))
    client = TokenClient("app_key_x", "app_secret_value_x", Transport(TOKEN_BASE))
    with pytest.raises(error) as info:
        getattr(client, call)("TTP_value_x")
    assert info.value.code == reply.body["code"]  # type: ignore[attr-defined]


@respx.mock
def test_the_shops_reply_is_read() -> None:
    respx.get(f"{OPEN_API_BASE}/authorization/202309/shops").mock(return_value=served(doc.SHOPS_SUCCESS))
    [shop] = OpenApiClient(
        "app_key_x", "app_secret_value_x", "TTP_token", Transport(OPEN_API_BASE)
    ).get_authorized_shops()
    assert shop.__dict__ == doc.SHOPS_SUCCESS.body["data"]["shops"][0]


#: The error each documented Open API reply becomes in the runbook.
OPEN_API_ERROR_CLASSES: dict[str, type[Exception]] = {
    doc.UNKNOWN_APP_KEY.name: InvalidCredentials,
    doc.TIMESTAMP_AHEAD.name: InvalidCredentials,
    doc.BAD_SIGN.name: InvalidSignature,
    doc.BAD_ACCESS_TOKEN.name: InvalidCredentials,
    doc.TOKEN_DEAUTHORIZED.name: AccessTokenInvalid,
    doc.TOKEN_EXPIRED.name: AccessTokenExpired,
    doc.SCOPE_MISSING.name: ScopeMissing,
    doc.RATE_LIMITED.name: RateLimited,
    doc.INTERNAL_ERROR.name: OpenApiInternalError,
    doc.IP_NOT_ALLOWED.name: IpNotAllowed,
}


@pytest.mark.parametrize("reply", doc.OPEN_API_ERRORS, ids=lambda reply: reply.name)
@respx.mock
def test_open_api_errors_are_read_from_the_body_whatever_the_status(reply: doc.Reply) -> None:
    """Every documented Open API error, with its status (400, 401, 429 or 200), is the error its code
    names, with TikTok's message and the status kept. Only HTTP 429 is tried again (a read, within
    the client's budget of attempts); every other one is read from the first reply."""
    route = respx.get(f"{OPEN_API_BASE}/authorization/202309/shops").mock(return_value=served(reply))
    transport = Transport(OPEN_API_BASE, sleep=lambda _seconds: None)
    client = OpenApiClient("app_key_x", "app_secret_value_x", "TTP_token", transport)
    with pytest.raises(OPEN_API_ERROR_CLASSES[reply.name]) as info:
        client.get_authorized_shops()
    error = info.value
    assert (error.code, error.message, error.http_status) == (  # type: ignore[attr-defined]
        reply.body["code"], reply.body["message"], reply.status
    )  # fmt: skip
    assert reply.body["message"] in str(error)  # the service's own words say which cause
    assert route.call_count == (transport.retry.attempts if reply.status == 429 else 1), reply.source


def test_the_redirects_are_read() -> None:
    with pytest.raises(AuthorizationDenied):
        parse_redirect("https://example.com/callback?" + "&".join(f"{k}={v}" for k, v in doc.REFUSAL_QUERY.items()))
    result = parse_redirect(
        "https://example.com/callback?code=TTP_abcdef&state=s1&app_key=k&locale=en&shop_region=US", "s1"
    )
    assert (result.code.reveal(), result.shop_region, result.locale) == ("TTP_abcdef", "US", "en")


@respx.mock
def test_api2cart_replies_are_read() -> None:
    respx.post(f"{API2CART_BASE}/account.cart.add.json").mock(return_value=served(doc.CART_ADD))
    respx.get(f"{API2CART_BASE}/account.cart.list.json").mock(return_value=served(doc.CART_LIST))
    client = Api2CartClient("api_key_value_x", Transport(API2CART_BASE))
    key = client.add_tiktok_store(app_key="k", app_secret="app_secret_value_x", refresh_token="TTP_refresh")
    assert key.reveal() == doc.CART_ADD.body["result"]["store_key"]
    [store] = client.list_stores()
    cart = doc.CART_LIST.body["result"]["carts"][0]
    assert (store.id, store.url, store.store_key.reveal(), store.cart_id, store.custom_label) == (
        cart["id"], cart["url"], cart["store_key"], cart["cart_id"], cart["custom_label"]
    )  # fmt: skip


@respx.mock
def test_a_store_without_a_url_is_read() -> None:
    respx.get(f"{API2CART_BASE}/account.cart.list.json").mock(return_value=served(doc.CART_LIST_NO_URL))
    [store] = Api2CartClient("api_key_value_x", Transport(API2CART_BASE)).list_stores()
    assert store.url == ""  # "url": null (API2Cart's mock server for TikTok Shop stores) reads as no URL
    assert store.store_key.reveal() == doc.CART_LIST_NO_URL.body["result"]["carts"][0]["store_key"]


@pytest.mark.parametrize(
    "reply", [doc.WRONG_API_KEY, doc.STORE_EXISTS, doc.STORE_API_ACCESS_ERROR, doc.REQUIRED_PARAMETER]
)
@respx.mock
def test_api2cart_errors_in_http_200_are_errors_with_their_code(reply: doc.Reply) -> None:
    respx.post(f"{API2CART_BASE}/account.cart.add.json").mock(return_value=served(reply))
    client = Api2CartClient("api_key_value_x", Transport(API2CART_BASE))
    with pytest.raises(Api2CartError) as info:
        client.add_tiktok_store(app_key="k", app_secret="app_secret_value_x", refresh_token="TTP_refresh")
    assert info.value.code == reply.body["return_code"]
