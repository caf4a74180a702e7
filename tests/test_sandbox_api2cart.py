"""Sandbox API2Cart endpoints over real HTTP, checked against the simulated TikTok."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tiktok_helpers.autopilot import walk_consent
from tiktok_helpers.samples import SANDBOX_API2CART_KEY, SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from tiktok_helpers.sandbox import FakeClock, Sandbox

from .sandbox_calls import consent_link, token_get

DAY = 24 * 3600


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_750_000_000)


@pytest.fixture
def sb(clock: FakeClock) -> Iterator[Sandbox[FakeClock]]:
    with Sandbox(port=0, clock=clock) as sandbox:
        yield sandbox


@pytest.fixture
def client(sb: Sandbox[FakeClock]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sb.api2cart_base_url, headers={"x-api-key": SANDBOX_API2CART_KEY}, timeout=5) as c:
        yield c


def tokens(sb: Sandbox[FakeClock], seller: str = "global") -> dict[str, Any]:
    location = walk_consent(consent_link(sb.base_url, state="a2c"), seller=seller)
    code = parse_qs(urlsplit(location).query)["code"][0]
    reply = token_get(sb.base_url, code)
    assert reply["code"] == 0
    data: dict[str, Any] = reply["data"]
    return data


def add_body(refresh_token: str, **extra: Any) -> dict[str, Any]:
    return {
        "cart_id": "TikTokShop",
        "tiktokshop_app_key": SANDBOX_APP_KEY,
        "tiktokshop_app_secret": SANDBOX_APP_SECRET,
        "tiktokshop_refresh_token": refresh_token,
        **extra,
    }


def ok(reply: httpx.Response) -> dict[str, Any]:
    assert reply.status_code == 200
    body = reply.json()
    assert body["return_code"] == 0, body
    assert body["return_message"] == ""
    result: dict[str, Any] = body["result"]
    return result


def error(reply: httpx.Response, return_code: int) -> str:
    assert reply.status_code == 200
    body = reply.json()
    assert body["return_code"] == return_code, body
    assert "result" not in body
    message: str = body["return_message"]
    assert message
    assert SANDBOX_APP_SECRET not in message
    return message


def carts(client: httpx.Client) -> list[dict[str, Any]]:
    result = ok(client.get("/account.cart.list.json"))
    assert result["carts_count"] == len(result["carts"])
    found: list[dict[str, Any]] = result["carts"]
    return found


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}])
def test_wrong_or_missing_api_key(sb: Sandbox[FakeClock], headers: dict[str, str]) -> None:
    with httpx.Client(base_url=sb.api2cart_base_url, headers=headers, timeout=5) as anon:
        assert error(anon.get("/account.cart.list.json"), 2) == "Incorrect API Key"
        error(anon.get("/account.supported_platforms.json"), 2)
        error(anon.get("/cart.validate.json", headers={"x-store-key": "x"}), 2)
        error(anon.post("/account.cart.add.json", json=add_body("x")), 2)


def test_api_key_in_query_is_accepted(sb: Sandbox[FakeClock]) -> None:
    reply = httpx.get(f"{sb.api2cart_base_url}/account.cart.list.json", params={"api_key": SANDBOX_API2CART_KEY})
    assert ok(reply)["carts"] == []


def test_add_then_list(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    data = tokens(sb)
    result = ok(client.post("/account.cart.add.json", json=add_body(data["refresh_token"], custom_label="My shop")))
    store_key = result["store_key"]
    assert len(store_key) == 32 and int(store_key, 16) >= 0
    listed = carts(client)
    assert len(listed) == 1
    cart = listed[0]
    assert set(cart) == {"id", "url", "store_key", "cart_id", "custom_label"}
    assert cart["store_key"] == store_key
    assert cart["cart_id"] == "TikTokShop"
    assert cart["custom_label"] == "My shop"
    assert cart["url"] == "https://shop.tiktok.example/GBLCSBX101"
    # no credential leaks into the listing
    assert data["refresh_token"] not in str(listed)


def test_add_does_not_rotate_the_refresh_token(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    data = tokens(sb)
    ok(client.post("/account.cart.add.json", json=add_body(data["refresh_token"])))
    refreshed = httpx.get(
        f"{sb.base_url}/api/v2/token/refresh",
        params={
            "app_key": SANDBOX_APP_KEY,
            "app_secret": SANDBOX_APP_SECRET,
            "refresh_token": data["refresh_token"],
            "grant_type": "refresh_token",
        },
    ).json()
    assert refreshed["code"] == 0


def test_add_with_store_url_and_access_token(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    data = tokens(sb, "us")
    body = add_body(
        data["refresh_token"], store_url="https://my.example/shop", tiktokshop_access_token=data["access_token"]
    )
    ok(client.post("/account.cart.add.json", json=body))
    assert [c["url"] for c in carts(client)] == ["https://my.example/shop"]
    bad = add_body(data["refresh_token"], store_url="https://x.example", tiktokshop_access_token="TTP_nope")
    assert "105001" in error(client.post("/account.cart.add.json", json=bad), 10)


def test_readding_a_store_updates_it(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    first = ok(client.post("/account.cart.add.json", json=add_body(tokens(sb)["refresh_token"])))
    again = ok(client.post("/account.cart.add.json", json=add_body(tokens(sb)["refresh_token"], custom_label="v2")))
    assert again["store_key"] == first["store_key"]
    listed = carts(client)
    assert len(listed) == 1 and listed[0]["custom_label"] == "v2"
    other = ok(client.post("/account.cart.add.json", json=add_body(tokens(sb, "us")["refresh_token"])))
    assert other["store_key"] != first["store_key"]
    assert len(carts(client)) == 2


def test_add_with_bad_refresh_token_changes_nothing(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    ok(client.post("/account.cart.add.json", json=add_body(tokens(sb, "us")["refresh_token"])))
    before = carts(client)
    message = error(client.post("/account.cart.add.json", json=add_body("TTP_unknown")), 10)
    assert message == "TikTok Shop: can not find related auth record (36004005)"
    assert carts(client) == before


def test_add_with_wrong_secret(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    body = add_body(tokens(sb)["refresh_token"], tiktokshop_app_secret="wrong-secret")
    message = error(client.post("/account.cart.add.json", json=body), 10)
    assert "36004003" in message and "wrong-secret" not in message
    assert carts(client) == []


def test_add_with_expired_refresh_token(sb: Sandbox[FakeClock], client: httpx.Client, clock: FakeClock) -> None:
    data = tokens(sb)
    clock.advance(366 * DAY)
    assert "36004001" in error(client.post("/account.cart.add.json", json=add_body(data["refresh_token"])), 10)
    assert carts(client) == []


@pytest.mark.parametrize(
    "field", ["cart_id", "tiktokshop_app_key", "tiktokshop_app_secret", "tiktokshop_refresh_token"]
)
def test_add_missing_required_field(sb: Sandbox[FakeClock], client: httpx.Client, field: str) -> None:
    body = add_body("TTP_x")
    del body[field]
    assert error(client.post("/account.cart.add.json", json=body), 5) == f"Required parameter {field} is missing"


def test_add_unsupported_cart_and_bad_body(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    error(client.post("/account.cart.add.json", json=add_body("TTP_x", cart_id="Magento")), 3)
    error(client.post("/account.cart.add.json", content=b"not json", headers={"content-type": "application/json"}), 4)
    error(client.post("/account.cart.add.json", json=["a"]), 4)
    error(client.post("/account.cart.add.json", json=add_body("TTP_x", tiktokshop_app_key=5)), 4)


def test_wrong_methods(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    reply = client.get("/account.cart.add.json")
    assert reply.status_code == 405 and reply.headers["allow"] == "POST"
    assert reply.json()["return_code"] != 0
    assert client.post("/account.cart.list.json").status_code == 405


def test_validate(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    data = tokens(sb)
    store_key = ok(client.post("/account.cart.add.json", json=add_body(data["refresh_token"])))["store_key"]
    result = ok(client.get("/cart.validate.json", headers={"x-store-key": store_key}))
    assert result["store_key"] == store_key
    assert error(client.get("/cart.validate.json", headers={"x-store-key": "0" * 32}), 9) == "Incorrect store key"
    error(client.get("/cart.validate.json"), 5)


def test_validate_fails_after_someone_rotates_the_token(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    data = tokens(sb)
    store_key = ok(client.post("/account.cart.add.json", json=add_body(data["refresh_token"])))["store_key"]
    httpx.get(
        f"{sb.base_url}/api/v2/token/refresh",
        params={
            "app_key": SANDBOX_APP_KEY,
            "app_secret": SANDBOX_APP_SECRET,
            "refresh_token": data["refresh_token"],
            "grant_type": "refresh_token",
        },
    )
    assert "36004005" in error(client.get("/cart.validate.json", headers={"x-store-key": store_key}), 10)


def test_supported_platforms(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    platforms = ok(client.get("/account.supported_platforms.json"))["supported_platforms"]
    assert len(platforms) >= 2
    by_id = {p["cart_id"]: p for p in platforms}
    tiktok = by_id["TikTokShop"]
    assert tiktok["cart_name"] and tiktok["cart_versions"]
    required = {f["name"] for group in tiktok["params"]["required"] for f in group}
    assert required == {"tiktokshop_app_key", "tiktokshop_app_secret", "tiktokshop_refresh_token"}
    additional = {f["name"] for f in tiktok["params"]["additional"]}
    assert "tiktokshop_access_token" in additional
    assert all(f["description"] for group in tiktok["params"]["required"] for f in group)
