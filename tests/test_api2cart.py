"""Api2CartClient against mocked api.api2cart.com/v1.1: add store, update its credentials, list,
validate, platforms, errors and which calls are repeated."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

from tiktok_helpers.api2cart import Api2CartClient, Api2CartStore, PlatformFields
from tiktok_helpers.catalog import CATALOG
from tiktok_helpers.errors import (
    Api2CartError,
    HTTPStatusError,
    InvalidResponse,
    ServiceError,
)
from tiktok_helpers.http import RetryPolicy, Transport
from tiktok_helpers.secret import Secret

from .http_faults import NEVER_SENT, assert_no_secrets, html, transport_cases

BASE = "https://api.api2cart.com/v1.1"
ADD_PATH = "/account.cart.add.json"
LIST_PATH = "/account.cart.list.json"
VALIDATE_PATH = "/cart.validate.json"
UPDATE_PATH = "/account.config.update.json"
PLATFORMS_PATH = "/account.supported_platforms.json"

API_KEY = "a2cApiKeyValue0000111122223333"
APP_KEY = "6abc1234defgh"
APP_SECRET = "s3cr3tAppSecretValue9876"
REFRESH_TOKEN = "TTP_refreshTokenValueQQQQ5555"
ACCESS_TOKEN = "TTP_accessTokenValueWWWW7777"
STORE_KEY = "storeKeyValueABCDEF0123456789"

SECRETS = (API_KEY, APP_SECRET, REFRESH_TOKEN, ACCESS_TOKEN, STORE_KEY)


def _ok(result: object = None) -> httpx.Response:
    body: dict[str, Any] = {"return_code": 0, "return_message": ""}
    if result is not None:
        body["result"] = result
    return httpx.Response(200, json=body)


def _fail(code: int | str, message: str, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"return_code": code, "return_message": message})


def _add(client: Api2CartClient, **kwargs: Any) -> Secret:
    return client.add_tiktok_store(app_key=APP_KEY, app_secret=APP_SECRET, refresh_token=REFRESH_TOKEN, **kwargs)


def _assert_no_secrets(exc: ServiceError) -> None:
    assert_no_secrets(exc, SECRETS)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


@pytest.fixture
def client() -> Iterator[Api2CartClient]:
    with Api2CartClient(API_KEY, Transport(BASE, sleep=lambda seconds: None)) as c:
        yield c


# --- account.cart.add ---------------------------------------------------------------------------


def test_add_tiktok_store_sends_required_fields_only(router: respx.MockRouter, client: Api2CartClient) -> None:
    route = router.post(ADD_PATH).mock(return_value=_ok({"store_key": STORE_KEY}))
    store_key = _add(client)
    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}{ADD_PATH}"
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["content-type"] == "application/json"
    assert "x-store-key" not in request.headers
    assert json.loads(request.content) == {
        "cart_id": "TikTokShop",
        "tiktokshop_app_key": APP_KEY,
        "tiktokshop_app_secret": APP_SECRET,
        "tiktokshop_refresh_token": REFRESH_TOKEN,
    }
    assert isinstance(store_key, Secret)
    assert store_key.reveal() == STORE_KEY
    assert STORE_KEY not in str(store_key)
    assert STORE_KEY not in repr(store_key)
    assert str(store_key) == "…6789"


def test_add_tiktok_store_sends_optional_fields_when_given(router: respx.MockRouter, client: Api2CartClient) -> None:
    route = router.post(ADD_PATH).mock(return_value=_ok({"store_key": STORE_KEY}))
    _add(
        client,
        access_token=Secret(ACCESS_TOKEN),
        store_url="https://shop.example.com",
        custom_label="My TikTok Shop",
        verify=False,
    )
    assert json.loads(route.calls.last.request.content) == {
        "cart_id": "TikTokShop",
        "tiktokshop_app_key": APP_KEY,
        "tiktokshop_app_secret": APP_SECRET,
        "tiktokshop_refresh_token": REFRESH_TOKEN,
        "tiktokshop_access_token": ACCESS_TOKEN,
        "store_url": "https://shop.example.com",
        "custom_label": "My TikTok Shop",
        "verify": False,
    }


def test_add_tiktok_store_verify_true_only(router: respx.MockRouter, client: Api2CartClient) -> None:
    route = router.post(ADD_PATH).mock(return_value=_ok({"store_key": STORE_KEY}))
    _add(client, verify=True)
    sent = json.loads(route.calls.last.request.content)
    assert sent["verify"] is True
    assert not {"tiktokshop_access_token", "store_url", "custom_label"} & set(sent)


def test_add_tiktok_store_without_store_key_is_invalid_response(
    router: respx.MockRouter, client: Api2CartClient
) -> None:
    router.post(ADD_PATH).mock(return_value=_ok({}))
    with pytest.raises(InvalidResponse, match="store_key") as info:
        _add(client)
    assert info.value.service == Api2CartClient.service
    assert info.value.url == f"{BASE}{ADD_PATH}"


# --- account.config.update ------------------------------------------------------------------------


def test_update_tiktok_store_puts_the_new_credentials_in_the_query(
    router: respx.MockRouter, client: Api2CartClient
) -> None:
    """API2Cart's OpenAPI description (api2cart/php-sdk, docs/Api/AccountApi.md, accountConfigUpdate)
    declares every parameter of account.config.update in the query string and no request body."""
    route = router.put(UPDATE_PATH).mock(return_value=_ok({"updated_items": 3}))
    result = client.update_tiktok_store(
        Secret(STORE_KEY), app_key=APP_KEY, app_secret=Secret(APP_SECRET), refresh_token=Secret(REFRESH_TOKEN)
    )
    assert result == 3  # the documented result: {"updated_items": <integer>}
    request = route.calls.last.request
    assert request.method == "PUT"
    assert request.url.path == "/v1.1/account.config.update.json"
    assert dict(request.url.params) == {
        "tiktokshop_app_key": APP_KEY,
        "tiktokshop_app_secret": APP_SECRET,
        "tiktokshop_refresh_token": REFRESH_TOKEN,
        "replace_parameters": "true",
    }
    assert request.content == b""  # no body
    assert "content-type" not in request.headers
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["x-store-key"] == STORE_KEY


def test_update_tiktok_store_sends_the_access_token_when_given(
    router: respx.MockRouter, client: Api2CartClient
) -> None:
    route = router.put(UPDATE_PATH).mock(return_value=_ok({}))
    updated = client.update_tiktok_store(
        STORE_KEY, app_key=APP_KEY, app_secret=APP_SECRET, refresh_token=REFRESH_TOKEN, access_token=ACCESS_TOKEN
    )
    assert updated is None  # API2Cart did not say how many
    assert route.calls.last.request.url.params["tiktokshop_access_token"] == ACCESS_TOKEN


@pytest.mark.parametrize("updated", ["3", True, 1.5, [1]])
def test_update_tiktok_store_refuses_an_updated_items_that_is_not_a_whole_number(
    router: respx.MockRouter, client: Api2CartClient, updated: object
) -> None:
    router.put(UPDATE_PATH).mock(return_value=_ok({"updated_items": updated}))
    with pytest.raises(InvalidResponse, match="updated_items"):
        client.update_tiktok_store(STORE_KEY, app_key=APP_KEY, app_secret=APP_SECRET, refresh_token=REFRESH_TOKEN)


def test_validate_store_returns_the_documented_status(router: respx.MockRouter, client: Api2CartClient) -> None:
    route = router.get(VALIDATE_PATH).mock(return_value=_ok({"status": "some status"}))
    assert client.validate_store(STORE_KEY) == "some status"
    assert route.calls.last.request.headers["x-store-key"] == STORE_KEY
    route.mock(return_value=_ok({}))
    assert client.validate_store(STORE_KEY) == ""


def test_update_refused_is_scrubbed(router: respx.MockRouter, client: Api2CartClient) -> None:
    message = f"TikTok Shop: can not find related auth record (36004005) {REFRESH_TOKEN} {STORE_KEY}"
    router.put(UPDATE_PATH).mock(return_value=_fail(100, message))
    with pytest.raises(Api2CartError) as info:
        client.update_tiktok_store(STORE_KEY, app_key=APP_KEY, app_secret=APP_SECRET, refresh_token=REFRESH_TOKEN)
    assert info.value.entry.code == "api2cart.100"
    assert not info.value.transient
    assert "36004005" in info.value.message
    _assert_no_secrets(info.value)


# --- which calls are repeated on a transient return_code -----------------------------------------


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def patient(sleeps: list[float]) -> Iterator[Api2CartClient]:
    with Api2CartClient(API_KEY, Transport(BASE, retry=RetryPolicy(attempts=3, backoff=0.5), sleep=sleeps.append)) as c:
        yield c


@pytest.mark.parametrize("code", [1, 7, 9, 10, 110])
def test_a_read_is_repeated_on_a_transient_code(
    router: respx.MockRouter, patient: Api2CartClient, sleeps: list[float], code: int
) -> None:
    route = router.get(LIST_PATH).mock(side_effect=[_fail(code, "later"), _fail(code, "later"), _ok({"carts": []})])
    assert patient.list_stores() == []
    assert route.call_count == 3
    assert len(sleeps) == 2 and 0.4 <= sleeps[0] <= 0.6 and 0.8 <= sleeps[1] <= 1.2  # backoff


def test_a_read_gives_up_after_the_attempts(
    router: respx.MockRouter, patient: Api2CartClient, sleeps: list[float]
) -> None:
    route = router.get(VALIDATE_PATH).mock(return_value=_fail(10, "Account request limit exceeded"))
    with pytest.raises(Api2CartError) as info:
        patient.validate_store(STORE_KEY)
    assert route.call_count == 3 and len(sleeps) == 2
    assert info.value.code == 10 and info.value.transient


@pytest.mark.parametrize("code", [2, 100, 101, 114])
def test_a_read_is_not_repeated_on_a_lasting_code(
    router: respx.MockRouter, patient: Api2CartClient, sleeps: list[float], code: int
) -> None:
    route = router.get(VALIDATE_PATH).mock(return_value=_fail(code, "no"))
    with pytest.raises(Api2CartError):
        patient.validate_store(STORE_KEY)
    assert route.call_count == 1 and sleeps == []


@pytest.mark.parametrize("code", [1, 7, 9, 10, 110])
def test_add_and_update_are_never_repeated(
    router: respx.MockRouter, patient: Api2CartClient, sleeps: list[float], code: int
) -> None:
    add = router.post(ADD_PATH).mock(return_value=_fail(code, "later"))
    update = router.put(UPDATE_PATH).mock(return_value=_fail(code, "later"))
    with pytest.raises(Api2CartError) as added:
        _add(patient)
    with pytest.raises(Api2CartError) as updated:
        patient.update_tiktok_store(STORE_KEY, app_key=APP_KEY, app_secret=APP_SECRET, refresh_token=REFRESH_TOKEN)
    assert add.call_count == 1 and update.call_count == 1 and sleeps == []
    assert added.value.transient and updated.value.transient


# --- list, validate, platforms ------------------------------------------------------------------


def test_list_stores_parses_carts(router: respx.MockRouter, client: Api2CartClient) -> None:
    carts = [
        {
            "id": "1001",
            "url": "https://shop.example.com",
            "store_key": STORE_KEY,
            "cart_id": "TikTokShop",
            "custom_label": "Main",
        },
        {
            "id": "1002",
            "url": "https://other.example.com",
            "store_key": "otherStoreKeyValue00009999",
            "cart_id": "Shopify",
        },
    ]
    route = router.get(LIST_PATH).mock(return_value=_ok({"carts": carts}))
    stores = client.list_stores()
    assert route.calls.last.request.headers["x-api-key"] == API_KEY
    assert stores == [
        Api2CartStore("1001", "https://shop.example.com", Secret(STORE_KEY), "TikTokShop", "Main"),
        Api2CartStore("1002", "https://other.example.com", Secret("otherStoreKeyValue00009999"), "Shopify", ""),
    ]
    assert stores[0].store_key.reveal() == STORE_KEY
    assert STORE_KEY not in repr(stores[0])


def test_list_stores_empty(router: respx.MockRouter, client: Api2CartClient) -> None:
    router.get(LIST_PATH).mock(return_value=_ok({"carts": []}))
    assert client.list_stores() == []


def test_validate_store_sends_store_key(router: respx.MockRouter, client: Api2CartClient) -> None:
    route = router.get(VALIDATE_PATH).mock(return_value=_ok({"status": "x"}))
    result = client.validate_store(STORE_KEY)
    headers = route.calls.last.request.headers
    assert headers["x-store-key"] == STORE_KEY
    assert headers["x-api-key"] == API_KEY
    assert result == "x"


_PLATFORMS = {
    "supported_platforms": [
        {
            "cart_id": "Shopify",
            "cart_name": "Shopify",
            "params": {
                "required": [[{"name": "store_url", "description": "URL"}, {"name": "shopify_api_key"}]],
                "additional": [],
            },
        },
        {
            "cart_id": "TikTokShop",
            "cart_name": "TikTok Shop",
            "params": {
                "required": [
                    [
                        {"name": "tiktokshop_app_key", "description": "App Key"},
                        {"name": "tiktokshop_app_secret", "description": "App Secret"},
                        {"name": "tiktokshop_refresh_token", "description": "Refresh Token"},
                    ]
                ],
                "additional": [
                    {"name": "tiktokshop_access_token", "description": "Access Token"},
                    {"name": "store_url", "description": "Store URL"},
                ],
            },
        },
    ]
}

_TIKTOK_FIELDS = PlatformFields(
    cart_id="TikTokShop",
    name="TikTok Shop",
    required=(("tiktokshop_app_key", "tiktokshop_app_secret", "tiktokshop_refresh_token"),),
    additional=("tiktokshop_access_token", "store_url"),
)


def test_supported_platforms_parses_required_and_additional(router: respx.MockRouter, client: Api2CartClient) -> None:
    route = router.get(PLATFORMS_PATH).mock(return_value=_ok(_PLATFORMS))
    platforms = client.supported_platforms()
    assert route.calls.last.request.headers["x-api-key"] == API_KEY
    assert platforms == [
        PlatformFields("Shopify", "Shopify", (("store_url", "shopify_api_key"),), ()),
        _TIKTOK_FIELDS,
    ]


def test_required_fields_finds_tiktok_shop(router: respx.MockRouter, client: Api2CartClient) -> None:
    router.get(PLATFORMS_PATH).mock(return_value=_ok(_PLATFORMS))
    assert client.required_fields("TikTokShop") == _TIKTOK_FIELDS
    assert client.required_fields() == _TIKTOK_FIELDS


def test_required_fields_absent_raises(router: respx.MockRouter, client: Api2CartClient) -> None:
    router.get(PLATFORMS_PATH).mock(return_value=_ok({"supported_platforms": _PLATFORMS["supported_platforms"][:1]}))
    with pytest.raises(ServiceError) as info:
        client.required_fields("TikTokShop")
    # The runbook's own check, not an API2Cart return_code: no invented code.
    assert not isinstance(info.value, Api2CartError)
    assert info.value.entry.code == "api2cart.platform_missing"
    assert "TikTokShop" in str(info.value)
    assert info.value.url == f"{BASE}{PLATFORMS_PATH}"


# --- API errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "entry"),
    [
        (2, "api2cart.2"),
        (8, "api2cart.8"),
        (100, "api2cart.100"),
        (101, "api2cart.101"),
        (103, "api2cart.102-105"),
        (114, "api2cart.114"),
        (9, "api2cart.9"),
        (10, "api2cart.10"),
        (108, "api2cart.unknown"),
        (999, "api2cart.unknown"),
    ],
)
def test_return_codes_map_to_catalog(router: respx.MockRouter, client: Api2CartClient, code: int, entry: str) -> None:
    message = f"Rejected: key {API_KEY}, secret {APP_SECRET}, refresh {REFRESH_TOKEN}, access {ACCESS_TOKEN}"
    router.post(ADD_PATH).mock(return_value=_fail(code, message))
    with pytest.raises(Api2CartError) as info:
        _add(client, access_token=ACCESS_TOKEN)
    exc = info.value
    assert type(exc) is Api2CartError
    assert exc.code == code
    assert exc.entry.code == entry
    assert exc.message.startswith("Rejected: key ")
    for value in SECRETS:
        assert value not in exc.message
    text = str(exc)
    assert CATALOG[entry].title in text
    assert CATALOG[entry].fix in text
    assert str(code) in text
    assert exc.url == f"{BASE}{ADD_PATH}"
    assert exc.transient is (code in (9, 10))
    _assert_no_secrets(exc)


def test_error_message_is_return_message(router: respx.MockRouter, client: Api2CartClient) -> None:
    router.get(LIST_PATH).mock(return_value=_fail("2", "Incorrect API Key"))
    with pytest.raises(Api2CartError) as info:
        client.list_stores()
    assert info.value.code == 2
    assert info.value.message == "Incorrect API Key"
    assert info.value.entry.code == "api2cart.2"


def test_store_key_echoed_by_validate_is_scrubbed(router: respx.MockRouter, client: Api2CartClient) -> None:
    router.get(VALIDATE_PATH).mock(return_value=_fail(101, f"Store not found {STORE_KEY}"))
    with pytest.raises(Api2CartError) as info:
        client.validate_store(Secret(STORE_KEY))
    assert info.value.entry.code == "api2cart.101"
    _assert_no_secrets(info.value)


def test_http_400_with_return_code_maps_by_code(router: respx.MockRouter, client: Api2CartClient) -> None:
    router.post(ADD_PATH).mock(return_value=_fail(114, "Required parameter is not specified", status=400))
    with pytest.raises(Api2CartError) as info:
        _add(client)
    assert info.value.code == 114
    assert info.value.http_status == 400
    assert info.value.entry.code == "api2cart.114"


# --- transport and body errors ------------------------------------------------------------------

_TRANSPORT_CASES = transport_cases(
    code_field="return_code", truncated=b'{"return_code":0,"result":{"store_', no_code_status=401
)


@pytest.mark.parametrize(
    ("effect", "expected"), [(e, x) for _, e, x in _TRANSPORT_CASES], ids=[n for n, _, _ in _TRANSPORT_CASES]
)
def test_transport_and_body_failures(
    router: respx.MockRouter,
    client: Api2CartClient,
    effect: Callable[[httpx.Request], httpx.Response],
    expected: type[ServiceError],
) -> None:
    route = router.post(ADD_PATH).mock(side_effect=effect)
    with pytest.raises(ServiceError) as info:
        _add(client, access_token=ACCESS_TOKEN)
    # Adding a store is not idempotent: only a connection that was never made is tried again.
    connect_failed = effect in NEVER_SENT
    assert route.call_count == (3 if connect_failed else 1)
    exc = info.value
    assert type(exc) is expected
    assert exc.service == Api2CartClient.service
    assert exc.url == f"{BASE}{ADD_PATH}"
    if isinstance(exc, HTTPStatusError):
        assert exc.status_code in (401, 500)
        assert str(exc.status_code) in str(exc)
    _assert_no_secrets(exc)


def test_http_500_html_keeps_status_code(router: respx.MockRouter, client: Api2CartClient) -> None:
    router.get(LIST_PATH).mock(side_effect=html(500))
    with pytest.raises(HTTPStatusError) as info:
        client.list_stores()
    assert info.value.status_code == 500
    _assert_no_secrets(info.value)


def test_client_repr_is_masked(client: Api2CartClient) -> None:
    for text in (repr(client), str(client)):
        assert API_KEY not in text
        assert "…3333" in text
