"""TokenClient against mocked auth.tiktok-shops.com: requests, parsing, errors, secrets, client reuse."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import respx

from tiktok_helpers.catalog import CATALOG
from tiktok_helpers.errors import (
    HTTPStatusError,
    InvalidAuthCode,
    InvalidResponse,
    RefreshTokenExpired,
    RefreshTokenNotFound,
    ServiceError,
    TokenError,
)
from tiktok_helpers.http import Transport
from tiktok_helpers.regions import UserType
from tiktok_helpers.secret import Secret
from tiktok_helpers.tokens import RECOMMENDED_SCOPES, TokenClient, TokenSet

from .http_faults import NEVER_SENT, assert_no_secrets, html, transport_cases

BASE = "https://auth.tiktok-shops.com"
GET_PATH = "/api/v2/token/get"
REFRESH_PATH = "/api/v2/token/refresh"

APP_KEY = "6abc1234defgh"
APP_SECRET = "s3cr3tAppSecretValue9876"
AUTH_CODE = "TTP_authCodeValueXYZ12345678"
REFRESH_TOKEN = "TTP_refreshTokenValueQQQQ5555"
NEW_ACCESS = "TTP_newAccessTokenValueAAAA1111"
NEW_REFRESH = "TTP_newRefreshTokenValueBBBB2222"
NOW = 1_700_000_000.0
REQUEST_ID = "2022080809462301024509910319695C45"

SENT_SECRETS = (APP_SECRET, AUTH_CODE, REFRESH_TOKEN)


def _data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "access_token": NEW_ACCESS,
        "access_token_expire_in": 1660556783,
        "refresh_token": NEW_REFRESH,
        "refresh_token_expire_in": 1691487031,
        "open_id": "7010736057180325637",
        "seller_name": "Jjj test shop",
        "seller_base_region": "ID",
        "user_type": 0,
        "granted_scopes": ["seller.affiliate_collaboration.read", "seller.shop.info"],
    }
    data.update(overrides)
    return data


def _ok(data: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.Response(
        200, json={"code": 0, "message": "success", "request_id": REQUEST_ID, "data": data or _data()}
    )


def _error(code: int, message: str, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message, "request_id": REQUEST_ID})


def _client(clock: Callable[[], float] = lambda: NOW, **transport: Any) -> TokenClient:
    """A client of the mocked host; ``transport`` are :class:`Transport` fields besides the base URL."""
    transport.setdefault("sleep", lambda seconds: None)  # retries back off without waiting in tests
    return TokenClient(APP_KEY, APP_SECRET, Transport(BASE, **transport), clock=clock)


def _assert_no_secrets(exc: ServiceError) -> None:
    assert_no_secrets(exc, SENT_SECRETS)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


# --- requests -----------------------------------------------------------------------------------


def test_exchange_sends_exactly_the_documented_query(router: respx.MockRouter) -> None:
    route = router.get(GET_PATH).mock(return_value=_ok())
    refresh_route = router.get(REFRESH_PATH).mock(return_value=_ok())
    with _client() as client:
        client.exchange(AUTH_CODE)
    assert route.call_count == 1
    assert refresh_route.call_count == 0
    request = route.calls.last.request
    assert request.method == "GET"
    assert request.url.path == GET_PATH
    assert sorted(request.url.params.multi_items()) == sorted(
        [
            ("app_key", APP_KEY),
            ("app_secret", APP_SECRET),
            ("auth_code", AUTH_CODE),
            ("grant_type", "authorized_code"),
        ]
    )
    assert request.content == b""


def test_refresh_sends_refresh_token_and_grant_type(router: respx.MockRouter) -> None:
    get_route = router.get(GET_PATH).mock(return_value=_ok())
    route = router.get(REFRESH_PATH).mock(return_value=_ok())
    with _client() as client:
        client.refresh(Secret(REFRESH_TOKEN))
    assert get_route.call_count == 0
    request = route.calls.last.request
    assert request.method == "GET"
    assert sorted(request.url.params.multi_items()) == sorted(
        [
            ("app_key", APP_KEY),
            ("app_secret", APP_SECRET),
            ("refresh_token", REFRESH_TOKEN),
            ("grant_type", "refresh_token"),
        ]
    )


# --- parsing ------------------------------------------------------------------------------------


def test_the_guides_example_reply_becomes_token_set_with_absolute_expiries(router: respx.MockRouter) -> None:
    """The success example of GET /api/v2/token/get in TikTok Shop Partner Center's authorization
    guide (202309): both ``*_expire_in`` are absolute Unix timestamps."""
    router.get(GET_PATH).mock(return_value=_ok())
    with _client() as client:
        tokens = client.exchange(AUTH_CODE)
    assert isinstance(tokens, TokenSet)
    assert tokens.access_token.reveal() == NEW_ACCESS
    assert tokens.refresh_token.reveal() == NEW_REFRESH
    assert tokens.access_token_expires_at == datetime(2022, 8, 15, 9, 46, 23, tzinfo=timezone.utc)
    assert tokens.refresh_token_expires_at == datetime(2023, 8, 8, 9, 30, 31, tzinfo=timezone.utc)
    for moment in (tokens.access_token_expires_at, tokens.refresh_token_expires_at):
        assert moment.tzinfo is not None
        assert moment.utcoffset() == timedelta(0)
    assert tokens.open_id == "7010736057180325637"
    assert tokens.seller_name == "Jjj test shop"
    assert tokens.seller_base_region == "ID"
    assert tokens.user_type is UserType.SELLER
    assert tokens.granted_scopes == ("seller.affiliate_collaboration.read", "seller.shop.info")


def test_small_expire_in_is_a_duration_from_the_injected_clock(router: respx.MockRouter) -> None:
    router.get(REFRESH_PATH).mock(return_value=_ok(_data(access_token_expire_in=604800)))
    with _client(clock=lambda: NOW + 0.9) as client:
        tokens = client.refresh(REFRESH_TOKEN)
    assert tokens.access_token_expires_at == datetime.fromtimestamp(NOW + 604800, tz=timezone.utc)
    assert tokens.access_token_expires_at.utcoffset() == timedelta(0)
    # the absolute one beside it is untouched by the clock
    assert tokens.refresh_token_expires_at == datetime(2023, 8, 8, 9, 30, 31, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("code", "expected"),
    [(0, UserType.SELLER), (1, UserType.CREATOR), (3, UserType.PARTNER), (99, UserType.UNKNOWN)],
)
def test_user_type_codes(router: respx.MockRouter, code: int, expected: UserType) -> None:
    router.get(GET_PATH).mock(return_value=_ok(_data(user_type=code)))
    with _client() as client:
        assert client.exchange(AUTH_CODE).user_type is expected


def test_legacy_granted_permissions_used_when_granted_scopes_absent(router: respx.MockRouter) -> None:
    data = _data()
    del data["granted_scopes"]
    data["granted_permissions"] = ["seller.order.info", "seller.product.basic"]
    router.get(GET_PATH).mock(return_value=_ok(data))
    with _client() as client:
        tokens = client.exchange(AUTH_CODE)
    assert tokens.granted_scopes == ("seller.order.info", "seller.product.basic")


def test_missing_scopes(router: respx.MockRouter) -> None:
    granted = [*RECOMMENDED_SCOPES[:3], "seller.other"]
    router.get(GET_PATH).mock(return_value=_ok(_data(granted_scopes=granted)))
    with _client() as client:
        tokens = client.exchange(AUTH_CODE)
    assert tokens.missing_scopes() == RECOMMENDED_SCOPES[3:]
    assert tokens.missing_scopes(["seller.other", "seller.x", "seller.y"]) == ("seller.x", "seller.y")
    assert tokens.missing_scopes(granted) == ()


# --- secrets in repr/str ------------------------------------------------------------------------


def test_token_set_and_client_reprs_are_masked(router: respx.MockRouter) -> None:
    router.get(GET_PATH).mock(return_value=_ok())
    client = _client()
    with client:
        tokens = client.exchange(AUTH_CODE)
    for text in (repr(tokens), str(tokens)):
        assert NEW_ACCESS not in text
        assert NEW_REFRESH not in text
        assert "TTP_…1111" in text
        assert "TTP_…2222" in text
    for text in (repr(client), str(client)):
        assert APP_SECRET not in text
        assert "…9876" in text
        assert APP_KEY in text


# --- API errors (HTTP 200) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "code", "cls", "entry"),
    [
        ("exchange", 36004004, InvalidAuthCode, "36004004"),
        ("refresh", 36004005, RefreshTokenNotFound, "36004005"),
        ("refresh", 36004001, RefreshTokenExpired, "36004001"),
        ("exchange", 12345, TokenError, "tiktok.unknown"),
    ],
)
def test_error_codes_map_to_classes(
    router: respx.MockRouter, operation: str, code: int, cls: type[TokenError], entry: str
) -> None:
    message = "something went wrong"
    router.get(GET_PATH).mock(return_value=_error(code, message))
    router.get(REFRESH_PATH).mock(return_value=_error(code, message))
    with _client() as client, pytest.raises(TokenError) as info:
        if operation == "exchange":
            client.exchange(AUTH_CODE)
        else:
            client.refresh(REFRESH_TOKEN)
    exc = info.value
    assert type(exc) is cls
    assert exc.entry.code == entry
    assert exc.code == code
    assert exc.message == message
    assert exc.request_id == REQUEST_ID
    text = str(exc)
    assert CATALOG[entry].title in text
    assert CATALOG[entry].fix in text
    assert str(code) in text
    assert REQUEST_ID in text
    _assert_no_secrets(exc)


def test_server_message_echoing_secret_and_code_is_scrubbed(router: respx.MockRouter) -> None:
    echoed = f"invalid auth code {AUTH_CODE} for app_secret={APP_SECRET}"
    router.get(GET_PATH).mock(return_value=_error(36004004, echoed))
    with _client() as client, pytest.raises(InvalidAuthCode) as info:
        client.exchange(AUTH_CODE)
    exc = info.value
    assert AUTH_CODE not in exc.message
    assert APP_SECRET not in exc.message
    assert "invalid auth code" in exc.message
    assert "TTP_…5678" in str(exc)
    _assert_no_secrets(exc)


def test_refresh_token_echoed_in_message_is_scrubbed(router: respx.MockRouter) -> None:
    router.get(REFRESH_PATH).mock(return_value=_error(36004005, f"no record for {REFRESH_TOKEN}"))
    with _client() as client, pytest.raises(RefreshTokenNotFound) as info:
        client.refresh(REFRESH_TOKEN)
    assert REFRESH_TOKEN not in info.value.message
    _assert_no_secrets(info.value)


# --- transport and body errors ------------------------------------------------------------------

_TRANSPORT_CASES = transport_cases(
    code_field="code", truncated=b'{"code":0,"data":{"access_token":"TTP_', no_code_status=404
)


@pytest.mark.parametrize("operation", ["exchange", "refresh"])
@pytest.mark.parametrize(
    ("effect", "expected"), [(e, x) for _, e, x in _TRANSPORT_CASES], ids=[n for n, _, _ in _TRANSPORT_CASES]
)
def test_transport_and_body_failures(
    router: respx.MockRouter,
    operation: str,
    effect: Callable[[httpx.Request], httpx.Response],
    expected: type[ServiceError],
) -> None:
    path = GET_PATH if operation == "exchange" else REFRESH_PATH
    route = router.get(path).mock(side_effect=effect)
    with _client() as client, pytest.raises(ServiceError) as info:
        if operation == "exchange":
            client.exchange(AUTH_CODE)
        else:
            client.refresh(REFRESH_TOKEN)
    # Only a connection that was never made is retried (3 attempts): nothing was sent. A code is
    # never re-sent after it may have reached TikTok, nor is a refresh.
    connect_failed = effect in NEVER_SENT
    assert route.call_count == (3 if connect_failed else 1)
    exc = info.value
    assert type(exc) is expected
    assert exc.service == TokenClient.service
    assert exc.url == f"{BASE}{path}"
    if isinstance(exc, HTTPStatusError):
        assert exc.status_code in (404, 500)
        assert str(exc.status_code) in str(exc)
    _assert_no_secrets(exc)


def test_http_500_html_keeps_status_code(router: respx.MockRouter) -> None:
    router.get(GET_PATH).mock(side_effect=html(500))
    with _client() as client, pytest.raises(HTTPStatusError) as info:
        client.exchange(AUTH_CODE)
    assert info.value.status_code == 500
    _assert_no_secrets(info.value)


@pytest.mark.parametrize(
    "body",
    [
        {"code": 0, "message": "success", "request_id": REQUEST_ID},
        {"code": 0, "message": "success", "data": "not an object"},
        {"code": 0, "message": "success", "data": _data(access_token_expire_in="soon")},
        {"code": 0, "message": "success", "data": _data(access_token="")},
    ],
    ids=["no-data", "data-not-object", "non-numeric-expiry", "empty-access-token"],
)
def test_unusable_success_reply_is_invalid_response_naming_the_url(
    router: respx.MockRouter, body: dict[str, Any]
) -> None:
    router.get(GET_PATH).mock(return_value=httpx.Response(200, json=body))
    with _client() as client, pytest.raises(InvalidResponse) as info:
        client.exchange(AUTH_CODE)
    exc = info.value
    assert type(exc) is InvalidResponse
    assert exc.service == TokenClient.service
    assert exc.url == f"{BASE}{GET_PATH}"
    _assert_no_secrets(exc)


def test_token_set_keeps_request_id(router: respx.MockRouter) -> None:
    router.get(GET_PATH).mock(return_value=_ok())
    with _client() as client:
        assert client.exchange(AUTH_CODE).request_id == REQUEST_ID


def test_undecodable_body_becomes_package_error(router: respx.MockRouter) -> None:
    router.get(GET_PATH).mock(
        return_value=httpx.Response(
            200, stream=httpx.ByteStream(b"this is not gzip"), headers={"content-encoding": "gzip"}
        )
    )
    with _client() as client, pytest.raises(ServiceError) as info:
        client.exchange(AUTH_CODE)
    assert isinstance(info.value, InvalidResponse)
    _assert_no_secrets(info.value)


def test_http_400_with_json_error_code_maps_by_code(router: respx.MockRouter) -> None:
    router.get(GET_PATH).mock(return_value=_error(36004004, f"bad code {AUTH_CODE}", status=400))
    with _client() as client, pytest.raises(InvalidAuthCode) as info:
        client.exchange(AUTH_CODE)
    exc = info.value
    assert exc.code == 36004004
    assert exc.http_status == 400
    assert exc.request_id == REQUEST_ID
    _assert_no_secrets(exc)


# --- the HTTP client ----------------------------------------------------------------------------


def test_one_httpx_client_is_built_and_reused(router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    router.get(GET_PATH).mock(return_value=_ok())
    router.get(REFRESH_PATH).mock(return_value=_ok())
    built: list[httpx.Client] = []
    original = httpx.Client.__init__

    def counting_init(self: httpx.Client, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(httpx.Client, "__init__", counting_init)
    with _client() as client:
        client.exchange(AUTH_CODE)
        client.refresh(REFRESH_TOKEN)
        client.exchange(AUTH_CODE)
        assert built == [client.client]
    assert len(router.calls) == 3
    assert len(built) == 1


def test_injected_client_is_used_and_not_closed(router: respx.MockRouter) -> None:
    route = router.get(GET_PATH).mock(return_value=_ok())
    injected = httpx.Client(headers={"x-probe": "injected"})
    try:
        client = _client(client=injected)
        client.exchange(AUTH_CODE)
        assert route.calls.last.request.headers["x-probe"] == "injected"
        client.close()
        assert not injected.is_closed
    finally:
        injected.close()


def test_owned_client_is_closed() -> None:
    client = _client()
    assert not client.client.is_closed
    client.close()
    assert client.client.is_closed

    with _client() as managed:
        inner = managed.client
    assert inner.is_closed


def test_client_and_transport_together_are_refused() -> None:
    with httpx.Client() as injected, pytest.raises(ValueError, match="either client or httpx_transport"):
        Transport(BASE, client=injected, httpx_transport=httpx.HTTPTransport())


def test_the_transport_must_be_a_transport_value() -> None:
    with pytest.raises(TypeError, match=r"tiktok_helpers\.http\.Transport"):
        TokenClient(APP_KEY, APP_SECRET, httpx.HTTPTransport())  # type: ignore[arg-type]


def test_the_default_transport_is_the_global_token_host() -> None:
    with TokenClient(APP_KEY, APP_SECRET) as client:
        assert client.base_url == BASE


def test_timeout_is_passed_to_the_request(router: respx.MockRouter) -> None:
    seen: list[dict[str, Any]] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.extensions["timeout"]))
        return _ok()

    router.get(GET_PATH).mock(side_effect=capture)
    # an injected client with another default: the per-request timeout must still win
    with httpx.Client(timeout=60.0) as injected:
        _client(client=injected, timeout=2.5).exchange(AUTH_CODE)
    with _client(timeout=4.0) as owned:
        owned.exchange(AUTH_CODE)
    assert seen == [
        {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5},
        {"connect": 4.0, "read": 4.0, "write": 4.0, "pool": 4.0},
    ]


def test_httpx_log_line_is_redacted(router: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    router.get(GET_PATH).mock(return_value=_ok())
    router.get(REFRESH_PATH).mock(return_value=_ok())
    caplog.set_level(logging.INFO, logger="httpx")
    with _client() as client:
        client.exchange(AUTH_CODE)
        client.refresh(REFRESH_TOKEN)
    lines = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    assert any(GET_PATH in line for line in lines)
    assert any(REFRESH_PATH in line for line in lines)
    for line in lines:
        for value in SENT_SECRETS:
            assert value not in line
    assert all(value not in caplog.text for value in SENT_SECRETS)
