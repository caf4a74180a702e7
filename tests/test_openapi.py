"""OpenApiClient against mocked open-api.tiktokglobalshop.com: signing, shops, error mapping."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
import respx

from tiktok_helpers.catalog import CATALOG
from tiktok_helpers.errors import (
    AccessTokenExpired,
    AccessTokenInvalid,
    InvalidCredentials,
    InvalidResponse,
    InvalidSignature,
    IpNotAllowed,
    OpenApiError,
    RateLimited,
    ScopeMissing,
    ServiceError,
    ServiceUnreachable,
)
from tiktok_helpers.openapi import AUTHORIZED_SHOPS_PATH, OpenApiClient, Shop

from .http_faults import assert_no_secrets

BASE = "https://open-api.tiktokglobalshop.com"
SHOPS_PATH = "/authorization/202309/shops"

APP_KEY = "6abc1234defgh"
APP_SECRET = "openApiSecretValue4321"
ACCESS_TOKEN = "TTP_accessTokenValueWWWW7777"
NOW = 1_700_000_123.75
REQUEST_ID = "202309150101010101"

SECRETS = (APP_SECRET, ACCESS_TOKEN)


def _expected_sign(path: str, params: Mapping[str, str], secret: str, body: bytes = b"") -> str:
    """The reference algorithm, written out independently of tiktok_helpers.signing."""
    pieces = "".join(f"{k}{v}" for k, v in sorted(params.items()) if k not in ("sign", "access_token"))
    wrapped = f"{secret}{path}{pieces}{body.decode('utf-8')}{secret}"
    return hmac.new(secret.encode(), wrapped.encode(), hashlib.sha256).hexdigest()


def _client(**kwargs: Any) -> OpenApiClient:
    kwargs.setdefault("clock", lambda: NOW)
    kwargs.setdefault("sleep", lambda seconds: None)
    return OpenApiClient(APP_KEY, APP_SECRET, ACCESS_TOKEN, **kwargs)


def _reply(data: object = None, code: int = 0, message: str = "Success") -> httpx.Response:
    body: dict[str, Any] = {"code": code, "message": message, "request_id": REQUEST_ID}
    if data is not None:
        body["data"] = data
    return httpx.Response(200, json=body)


def _assert_no_secrets(exc: ServiceError) -> None:
    assert_no_secrets(exc, SECRETS)


SHOP_A = {
    "id": "7000714532876273420",
    "name": "Maomao beauty shop",
    "region": "GB",
    "seller_type": "CROSS_BORDER",
    "cipher": "GCP_XF90igAAAABh00qsWgtvOiGFNqyubMt3",
    "code": "CNGBCBA4LLU8",
}
SHOP_B = {
    "id": "7000714532876273421",
    "name": "Local shop",
    "region": "US",
    "seller_type": "LOCAL",
    "cipher": "ROW_abcdef",
    "code": "USLCL0001",
}


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


# --- request shape and signature ----------------------------------------------------------------


def test_path_constant_matches_reference() -> None:
    assert AUTHORIZED_SHOPS_PATH == SHOPS_PATH


def test_get_authorized_shops_request_is_signed(router: respx.MockRouter) -> None:
    route = router.get(SHOPS_PATH).mock(return_value=_reply({"shops": [SHOP_A]}))
    with _client() as client:
        client.get_authorized_shops()
    request = route.calls.last.request
    assert request.method == "GET"
    assert request.url.path == SHOPS_PATH
    params = dict(request.url.params)
    assert set(params) == {"app_key", "timestamp", "sign"}
    assert len(request.url.params.multi_items()) == 3
    assert params["app_key"] == APP_KEY
    assert params["timestamp"] == str(int(NOW)) == "1700000123"
    assert params["sign"] == _expected_sign(SHOPS_PATH, params, APP_SECRET)
    assert params["sign"] == params["sign"].lower()
    assert request.headers["x-tts-access-token"] == ACCESS_TOKEN
    assert request.headers["content-type"] == "application/json"
    assert "access_token" not in params
    assert ACCESS_TOKEN not in str(request.url)
    assert APP_SECRET not in str(request.url)
    assert request.content == b""


def test_reference_signature_vector_through_the_client(router: respx.MockRouter) -> None:
    route = router.get(SHOPS_PATH).mock(return_value=_reply({"shops": []}))
    with OpenApiClient("29a39d", "e59af819cc", ACCESS_TOKEN, clock=lambda: 1623812664) as client:
        client.get_authorized_shops()
    params = dict(route.calls.last.request.url.params)
    assert params == {
        "app_key": "29a39d",
        "timestamp": "1623812664",
        "sign": "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8",
    }


def test_call_signs_the_exact_body_bytes_sent(router: respx.MockRouter) -> None:
    path = "/product/202309/products/search"
    route = router.post(path).mock(return_value=_reply({"products": []}))
    body = {"status": "ACTIVATE", "ids": [1, 2], "name": "crème"}
    with _client() as client:
        data = client.call("POST", path, query={"shop_cipher": "ROW_abcdef", "page_size": "20"}, body=body)
    assert data == {"products": []}
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.content
    assert json.loads(request.content) == body
    params = dict(request.url.params)
    assert params["shop_cipher"] == "ROW_abcdef"
    assert params["page_size"] == "20"
    assert params["sign"] == _expected_sign(path, params, APP_SECRET, request.content)
    # the body really takes part: signing without it gives something else
    assert params["sign"] != _expected_sign(path, params, APP_SECRET)
    assert request.headers["x-tts-access-token"] == ACCESS_TOKEN


def test_call_returns_empty_dict_when_data_absent(router: respx.MockRouter) -> None:
    router.get("/x").mock(return_value=_reply())
    with _client() as client:
        assert client.call("GET", "/x") == {}


def test_call_with_non_object_data_is_invalid_response(router: respx.MockRouter) -> None:
    router.get("/x").mock(return_value=_reply(["not", "an", "object"]))
    with _client() as client, pytest.raises(InvalidResponse) as info:
        client.call("GET", "/x")
    assert info.value.url == f"{BASE}/x"


# --- Get Authorized Shops reply -----------------------------------------------------------------


def test_shops_reply_becomes_shop_list(router: respx.MockRouter) -> None:
    router.get(SHOPS_PATH).mock(return_value=_reply({"shops": [SHOP_A, SHOP_B]}))
    with _client() as client:
        shops = client.get_authorized_shops()
    assert shops == [Shop(**SHOP_A), Shop(**SHOP_B)]
    assert shops[0].cipher == "GCP_XF90igAAAABh00qsWgtvOiGFNqyubMt3"
    assert shops[1].seller_type == "LOCAL"


@pytest.mark.parametrize("data", [{"shops": []}, {}], ids=["empty-list", "no-shops-key"])
def test_no_shops_gives_empty_list(router: respx.MockRouter, data: dict[str, Any]) -> None:
    router.get(SHOPS_PATH).mock(return_value=_reply(data))
    with _client() as client:
        assert client.get_authorized_shops() == []


def test_shop_without_id_is_invalid_response(router: respx.MockRouter) -> None:
    router.get(SHOPS_PATH).mock(
        return_value=_reply({"shops": [SHOP_A, {k: v for k, v in SHOP_B.items() if k != "id"}]})
    )
    with _client() as client, pytest.raises(InvalidResponse, match="no id") as info:
        client.get_authorized_shops()
    assert info.value.service == OpenApiClient.service
    assert info.value.url == f"{BASE}{SHOPS_PATH}"


def test_shops_not_a_list_is_invalid_response(router: respx.MockRouter) -> None:
    router.get(SHOPS_PATH).mock(return_value=_reply({"shops": {"id": "1"}}))
    with _client() as client, pytest.raises(InvalidResponse):
        client.get_authorized_shops()


# --- error mapping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls", "entry"),
    [
        (105001, AccessTokenInvalid, "105001"),
        (105002, AccessTokenExpired, "105002"),
        (105005, ScopeMissing, "105005"),
        (106001, InvalidSignature, "106001"),
        (36009004, InvalidCredentials, "36009004"),
        (36009002, RateLimited, "36009002"),
        (36009033, IpNotAllowed, "36009033"),
        (106013, OpenApiError, "106013"),
        (99999999, OpenApiError, "openapi.unknown"),
    ],
)
def test_error_codes_map_to_classes(router: respx.MockRouter, code: int, cls: type[OpenApiError], entry: str) -> None:
    message = f"request failed; token {ACCESS_TOKEN} secret {APP_SECRET}"
    router.get(SHOPS_PATH).mock(return_value=_reply(code=code, message=message))
    with _client() as client, pytest.raises(OpenApiError) as info:
        client.get_authorized_shops()
    exc = info.value
    assert type(exc) is cls
    assert exc.entry.code == entry
    assert exc.code == code
    assert exc.request_id == REQUEST_ID
    assert exc.service == OpenApiClient.service
    assert exc.url == f"{BASE}{SHOPS_PATH}"
    assert "request failed" in exc.message
    for value in SECRETS:
        assert value not in exc.message
    text = str(exc)
    assert CATALOG[entry].title in text
    assert CATALOG[entry].fix in text
    assert str(code) in text
    assert REQUEST_ID in text
    _assert_no_secrets(exc)


def test_connect_error_is_scrubbed(router: respx.MockRouter) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused; token {request.headers['x-tts-access-token']}", request=request)

    router.get(SHOPS_PATH).mock(side_effect=refuse)
    with _client() as client, pytest.raises(ServiceUnreachable) as info:
        client.get_authorized_shops()
    assert info.value.url == f"{BASE}{SHOPS_PATH}"
    _assert_no_secrets(info.value)


def test_client_repr_is_masked() -> None:
    with _client() as client:
        for text in (repr(client), str(client)):
            assert ACCESS_TOKEN not in text
            assert APP_SECRET not in text
            assert "TTP_…7777" in text
