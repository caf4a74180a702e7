"""Contract, sandbox side: driven into each documented situation, the sandbox answers as the real
service is documented to (tests/contract/documented.py, sources named there): the same fields with
the same types, the same codes and the same HTTP status. So the sandbox cannot drift from the
services it teaches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tiktok_helpers.autopilot import walk_consent
from tiktok_helpers.regions import sandbox_endpoints
from tiktok_helpers.samples import SANDBOX_API2CART_KEY, SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from tiktok_helpers.sandbox import FakeClock, Sandbox
from tiktok_helpers.signing import sign

from ..sandbox_calls import consent_link, token_get, token_refresh
from . import documented as doc


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox[Any]]:
    with Sandbox() as running:
        yield running


def assert_like(reply: doc.Reply, status: int, body: dict[str, Any]) -> None:
    """The sandbox's reply has the documented status, fields, types and exact values."""
    assert status == reply.status, f"{reply.name}: HTTP {status}, documented {reply.status} ({reply.source})"
    assert doc.shape(body) == doc.shape(reply.body), f"{reply.name}: fields or types differ ({reply.source})"
    for key in reply.exact:
        assert body[key] == reply.body[key], f"{reply.name}: {key} differs ({reply.source})"


def approve(sandbox: Sandbox[Any], decision: str = "authorize") -> dict[str, str]:
    location = walk_consent(consent_link(sandbox.base_url), decision=decision)  # type: ignore[arg-type]
    return dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))


def tokens(sandbox: Sandbox[Any]) -> dict[str, Any]:
    return token_get(sandbox.base_url, approve(sandbox)["code"])


def test_token_reply(sandbox: Sandbox[Any]) -> None:
    assert_like(doc.TOKEN_SUCCESS, 200, tokens(sandbox))


def test_token_errors(sandbox: Sandbox[Any]) -> None:
    assert_like(doc.INVALID_AUTH_CODE, 200, token_get(sandbox.base_url, "TTP_never_issued_code"))
    assert_like(doc.UNKNOWN_REFRESH_TOKEN, 200, token_refresh(sandbox.base_url, "TTP_never_issued_refresh"))


def test_redirects(sandbox: Sandbox[Any]) -> None:
    approved = approve(sandbox)
    assert set(approved) >= doc.APPROVAL_KEYS
    assert set(approved) <= doc.APPROVAL_KEYS | doc.APPROVAL_OBSERVED_KEYS
    refused = approve(sandbox, "cancel")
    assert {k: refused.get(k) for k in doc.REFUSAL_QUERY} == doc.REFUSAL_QUERY


def signed_shops(
    sandbox: Sandbox[Any],
    access_token: str | None,
    *,
    secret: str = SANDBOX_APP_SECRET,
    app_key: str = SANDBOX_APP_KEY,
    ahead: int = 0,
) -> httpx.Response:
    path = "/authorization/202309/shops"
    params = {"app_key": app_key, "timestamp": str(int(sandbox.clock.now()) + ahead)}
    params["sign"] = sign(path, params, secret)
    base = sandbox_endpoints(sandbox.base_url).open_api_base
    headers = {"x-tts-access-token": access_token} if access_token is not None else {}
    return httpx.get(f"{base}{path}", params=params, headers=headers)


def test_open_api_replies(sandbox: Sandbox[Any]) -> None:
    access = tokens(sandbox)["data"]["access_token"]
    good = signed_shops(sandbox, access)
    assert_like(doc.SHOPS_SUCCESS, good.status_code, good.json())
    bad_sign = signed_shops(sandbox, access, secret="not_the_app_secret_00000")
    assert_like(doc.BAD_SIGN, bad_sign.status_code, bad_sign.json())
    garbage = signed_shops(sandbox, "TTP_garbage_access_token_000000")
    assert_like(doc.BAD_ACCESS_TOKEN, garbage.status_code, garbage.json())
    missing = signed_shops(sandbox, None)  # live replies give the same message without the header
    assert_like(doc.BAD_ACCESS_TOKEN, missing.status_code, missing.json())
    unknown_app = signed_shops(sandbox, access, app_key="not_an_app_key_0")
    assert_like(doc.UNKNOWN_APP_KEY, unknown_app.status_code, unknown_app.json())
    ahead = signed_shops(sandbox, access, ahead=120)
    assert_like(doc.TIMESTAMP_AHEAD, ahead.status_code, ahead.json())


@pytest.fixture
def clocked() -> Iterator[Sandbox[FakeClock]]:
    """A sandbox of its own on a clock the test moves (an access token's 7 days pass at once)."""
    with Sandbox(clock=FakeClock()) as running:
        yield running


def test_open_api_replies_about_the_grant(clocked: Sandbox[FakeClock]) -> None:
    """The seller removed the app (105001), the token is older than 7 days (105002), the app lacks the
    package Get Authorized Shops needs (105005): each as documented, whatever drove the sandbox there."""
    access = tokens(clocked)["data"]["access_token"]
    clocked.state.deauthorize("global")
    revoked = signed_shops(clocked, access)
    assert_like(doc.TOKEN_DEAUTHORIZED, revoked.status_code, revoked.json())
    access = tokens(clocked)["data"]["access_token"]
    clocked.clock.advance(7 * 24 * 3600 + 1)
    expired = signed_shops(clocked, access)
    assert_like(doc.TOKEN_EXPIRED, expired.status_code, expired.json())
    access = tokens(clocked)["data"]["access_token"]
    clocked.scenario = "scope-not-granted"  # the only way to a grant without the package here
    missing_scope = signed_shops(clocked, access)
    assert_like(doc.SCOPE_MISSING, missing_scope.status_code, missing_scope.json())


def test_open_api_replies_of_tiktok_itself(clocked: Sandbox[FakeClock]) -> None:
    """Rate limited (36009002, HTTP 429) and TikTok's internal error (36009003), as the training
    scenarios make TikTok send them."""
    access = tokens(clocked)["data"]["access_token"]
    clocked.scenario = "rate-limited"
    limited = signed_shops(clocked, access)
    assert_like(doc.RATE_LIMITED, limited.status_code, limited.json())
    clocked.scenario = "tiktok-internal-error"
    failed = signed_shops(clocked, access)
    assert_like(doc.INTERNAL_ERROR, failed.status_code, failed.json())


def api2cart(
    sandbox: Sandbox[Any],
    method: str,
    path: str,
    *,
    key: str = SANDBOX_API2CART_KEY,
    store_key: str | None = None,
    **kw: Any,
) -> httpx.Response:
    headers = {"x-api-key": key, **({"x-store-key": store_key} if store_key is not None else {})}
    return httpx.request(method, f"{sandbox.api2cart_base_url}/{path}", headers=headers, **kw)


def test_api2cart_replies(sandbox: Sandbox[Any]) -> None:
    refresh = tokens(sandbox)["data"]["refresh_token"]
    store = {
        "cart_id": "TikTokShop",
        "tiktokshop_app_key": SANDBOX_APP_KEY,
        "tiktokshop_app_secret": SANDBOX_APP_SECRET,
        "tiktokshop_refresh_token": refresh,
    }
    added = api2cart(sandbox, "POST", "account.cart.add.json", json=store)
    assert_like(doc.CART_ADD, added.status_code, added.json())
    listed = api2cart(sandbox, "GET", "account.cart.list.json")
    assert_like(doc.CART_LIST_NO_URL, listed.status_code, listed.json())  # added without store_url
    with_url = {
        **store,
        "tiktokshop_refresh_token": tokens(sandbox)["data"]["refresh_token"],
        "store_url": "https://s.example",
    }
    assert api2cart(sandbox, "POST", "account.cart.add.json", json=with_url).json()["return_code"] == 0
    listed_again = api2cart(sandbox, "GET", "account.cart.list.json")
    body = listed_again.json()
    body["result"]["carts"] = [cart for cart in body["result"]["carts"] if cart["url"] is not None]
    assert_like(doc.CART_LIST, listed_again.status_code, body)
    again = api2cart(sandbox, "POST", "account.cart.add.json", json=store)
    assert_like(doc.STORE_EXISTS, again.status_code, again.json())
    refused = api2cart(
        sandbox, "POST", "account.cart.add.json", json={**store, "tiktokshop_refresh_token": "TTP_unknown_refresh_0"}
    )
    assert_like(doc.STORE_API_ACCESS_ERROR, refused.status_code, refused.json())
    missing = api2cart(sandbox, "POST", "account.cart.add.json", json={"cart_id": "TikTokShop"})
    assert_like(doc.REQUIRED_PARAMETER, missing.status_code, missing.json())
    wrong_key = api2cart(sandbox, "GET", "account.cart.list.json", key="not_the_api_key_0000000000")
    assert_like(doc.WRONG_API_KEY, wrong_key.status_code, wrong_key.json())
    unknown = httpx.get(
        f"{sandbox.api2cart_base_url}/cart.validate.json",
        headers={"x-api-key": SANDBOX_API2CART_KEY, "x-store-key": "00000000000000000000000000000000"},
    )
    assert_like(doc.STORE_NOT_FOUND, unknown.status_code, unknown.json())
    store_key = added.json()["result"]["store_key"]
    valid = api2cart(sandbox, "GET", "cart.validate.json", store_key=store_key)
    assert_like(doc.CART_VALIDATE, valid.status_code, valid.json())
    fields = {k: v for k, v in store.items() if k != "cart_id"}  # every parameter in the query, no body
    updated = api2cart(sandbox, "PUT", "account.config.update.json", store_key=store_key, params=fields)
    assert_like(doc.CONFIG_UPDATE, updated.status_code, updated.json())
