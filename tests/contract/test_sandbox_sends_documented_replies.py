"""Contract, sandbox side: driven into each documented situation, the sandbox answers as the real
service is documented to (tests/contract/documented.py, sources named there): the same fields with
the same types, the same codes and the same HTTP status. So the sandbox cannot drift from the
services it teaches."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tiktok_helpers.autopilot import walk_consent
from tiktok_helpers.regions import sandbox_endpoints
from tiktok_helpers.samples import SANDBOX_API2CART_KEY, SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from tiktok_helpers.sandbox import Sandbox
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


def signed_shops(sandbox: Sandbox[Any], access_token: str, *, secret: str = SANDBOX_APP_SECRET) -> httpx.Response:
    path = "/authorization/202309/shops"
    params = {"app_key": SANDBOX_APP_KEY, "timestamp": str(int(time.time()))}
    params["sign"] = sign(path, params, secret)
    base = sandbox_endpoints(sandbox.base_url).open_api_base
    return httpx.get(f"{base}{path}", params=params, headers={"x-tts-access-token": access_token})


def test_open_api_replies(sandbox: Sandbox[Any]) -> None:
    access = tokens(sandbox)["data"]["access_token"]
    good = signed_shops(sandbox, access)
    assert_like(doc.SHOPS_SUCCESS, good.status_code, good.json())
    bad_sign = signed_shops(sandbox, access, secret="not_the_app_secret_00000")
    assert_like(doc.BAD_SIGN, bad_sign.status_code, bad_sign.json())
    garbage = signed_shops(sandbox, "TTP_garbage_access_token_000000")
    assert_like(doc.BAD_ACCESS_TOKEN, garbage.status_code, garbage.json())


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
    assert_like(doc.CART_LIST, listed.status_code, listed.json())
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
