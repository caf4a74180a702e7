"""Sandbox API2Cart endpoints over real HTTP, checked against the simulated TikTok, with API2Cart's
published return codes (API2Cart "Response Status Codes"); and the refresh-token hand-over through the
Session and the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tiktok_helpers.attempt import AuthorizationAttempt
from tiktok_helpers.autopilot import walk_consent
from tiktok_helpers.cli import main
from tiktok_helpers.errors import Api2CartError, MissingSettingError
from tiktok_helpers.samples import SANDBOX_API2CART_KEY, SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from tiktok_helpers.sandbox import FakeClock, Sandbox
from tiktok_helpers.sandbox.api2cart import VALID_STATUS
from tiktok_helpers.session import Session, open_session

from .sandbox_calls import consent_link, token_get, token_refresh

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
    # every reply carries result (API2Cart "Response Status Codes"); an error's is {}, as API2Cart's
    # own mock server answers errors (api2cart/api2cart-mock-api)
    assert body["result"] == {}
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
        error(anon.put("/account.config.update.json", json=add_body("x"), headers={"x-store-key": "x"}), 2)


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
    # no store_url sent: no URL, as API2Cart's mock server shows TikTok Shop stores (api2cart/api2cart-mock-api,
    # TikTokShop/cart/info/basic.response.json: "url": null)
    assert cart["url"] is None
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
    bad = add_body(data["refresh_token"], store_url="https://x.example", tiktokshop_access_token="TTP_nope")
    assert "105001" in error(client.post("/account.cart.add.json", json=bad), 100)
    ok(client.post("/account.cart.add.json", json=body))
    assert [c["url"] for c in carts(client)] == ["https://my.example/shop"]


def test_adding_a_store_twice_answers_8(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    data = tokens(sb)
    first = ok(client.post("/account.cart.add.json", json=add_body(data["refresh_token"], custom_label="v1")))
    # the same credentials again (API2Cart's "Response Status Codes" and guide: 8), even at another URL
    again = add_body(data["refresh_token"], custom_label="v2", store_url="https://other.example")
    assert error(client.post("/account.cart.add.json", json=again), 8) == "Store already exists"
    listed = carts(client)
    assert [(c["store_key"], c["custom_label"]) for c in listed] == [(first["store_key"], "v1")]  # never updated
    other = ok(client.post("/account.cart.add.json", json=add_body(tokens(sb, "us")["refresh_token"])))
    assert other["store_key"] != first["store_key"]
    assert len(carts(client)) == 2


def test_no_duplicate_rule_by_url(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    """Nothing documents a rule by URL (API2Cart's mock server has TikTok Shop stores whose url is null),
    so only the same credentials give 8: the same seller authorized again, with a new refresh token, is
    another store, with or without the same store_url."""
    first = ok(client.post("/account.cart.add.json", json=add_body(tokens(sb)["refresh_token"])))
    fresh = ok(client.post("/account.cart.add.json", json=add_body(tokens(sb)["refresh_token"])))
    same_url = {"store_url": "https://my.example/shop"}
    third = ok(client.post("/account.cart.add.json", json=add_body(tokens(sb)["refresh_token"], **same_url)))
    fourth = ok(client.post("/account.cart.add.json", json=add_body(tokens(sb)["refresh_token"], **same_url)))
    listed = carts(client)
    assert [c["store_key"] for c in listed] == [r["store_key"] for r in (first, fresh, third, fourth)]
    assert [c["url"] for c in listed] == [None, None, "https://my.example/shop", "https://my.example/shop"]


def test_add_with_bad_refresh_token_changes_nothing(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    ok(client.post("/account.cart.add.json", json=add_body(tokens(sb, "us")["refresh_token"])))
    before = carts(client)
    message = error(client.post("/account.cart.add.json", json=add_body("TTP_unknown")), 100)
    assert message == "TikTok Shop: can not find related auth record (36004005)"
    assert carts(client) == before


def test_add_with_wrong_secret(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    body = add_body(tokens(sb)["refresh_token"], tiktokshop_app_secret="wrong-secret")
    message = error(client.post("/account.cart.add.json", json=body), 100)
    assert "36004003" in message and "wrong-secret" not in message
    assert carts(client) == []


def test_add_with_expired_refresh_token(sb: Sandbox[FakeClock], client: httpx.Client, clock: FakeClock) -> None:
    data = tokens(sb)
    clock.advance(366 * DAY)
    assert "36004001" in error(client.post("/account.cart.add.json", json=add_body(data["refresh_token"])), 100)
    assert carts(client) == []


@pytest.mark.parametrize(
    "field", ["cart_id", "tiktokshop_app_key", "tiktokshop_app_secret", "tiktokshop_refresh_token"]
)
def test_add_missing_required_field(sb: Sandbox[FakeClock], client: httpx.Client, field: str) -> None:
    body = add_body("TTP_x")
    del body[field]
    message = error(client.post("/account.cart.add.json", json=body), 114)
    assert message == f"Required parameter {field} is not specified"


def test_add_unsupported_cart_and_bad_body(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    assert "Magento" in error(client.post("/account.cart.add.json", json=add_body("TTP_x", cart_id="Magento")), 109)
    not_json = client.post("/account.cart.add.json", content=b"not json", headers={"content-type": "application/json"})
    error(not_json, 109)
    error(client.post("/account.cart.add.json", json=["a"]), 109)
    assert "tiktokshop_app_key" in error(
        client.post("/account.cart.add.json", json=add_body("TTP_x", tiktokshop_app_key=5)), 109
    )


def test_no_invented_code_is_answered(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    # The codes the old sandbox made up (3, 4, 5, 9, 10 with other meanings) are never answered.
    replies = [
        client.post("/account.cart.add.json", json=add_body("TTP_x", cart_id="Magento")),
        client.post("/account.cart.add.json", content=b"{", headers={"content-type": "application/json"}),
        client.post("/account.cart.add.json", json={}),
        client.post("/account.cart.add.json", json=add_body("TTP_unknown")),
        client.get("/cart.validate.json"),
        client.get("/cart.validate.json", headers={"x-store-key": "0" * 32}),
        client.put("/account.config.update.json", json={}, headers={"x-store-key": "0" * 32}),
        client.put("/account.config.update.json", params={"replace_parameters": "maybe"}),
    ]
    assert {r.json()["return_code"] for r in replies} <= {2, 8, 100, 101, 109, 114}


def test_wrong_methods(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    reply = client.get("/account.cart.add.json")
    assert reply.status_code == 405 and reply.headers["allow"] == "POST"
    assert reply.json()["return_code"] != 0
    assert client.post("/account.cart.list.json").status_code == 405


def test_validate(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    data = tokens(sb)
    store_key = ok(client.post("/account.cart.add.json", json=add_body(data["refresh_token"])))["store_key"]
    result = ok(client.get("/cart.validate.json", headers={"x-store-key": store_key}))
    # CartValidate200ResponseResult has one field, status; its value is the sandbox's choice
    assert result == {"status": VALID_STATUS}
    assert error(client.get("/cart.validate.json", headers={"x-store-key": "0" * 32}), 101) == "Store not found"
    assert "store_key" in error(client.get("/cart.validate.json"), 114)


def test_validate_fails_after_someone_rotates_the_token(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    data = tokens(sb)
    store_key = ok(client.post("/account.cart.add.json", json=add_body(data["refresh_token"])))["store_key"]
    assert token_refresh(sb.base_url, data["refresh_token"])["code"] == 0
    message = error(client.get("/cart.validate.json", headers={"x-store-key": store_key}), 100)
    assert message == "TikTok Shop: can not find related auth record (36004005)"


# --- account.config.update --------------------------------------------------------------------------


def update(client: httpx.Client, store_key: str | None, params: dict[str, str]) -> httpx.Response:
    """``account.config.update`` as API2Cart's OpenAPI description declares it: every parameter in
    the query string, no body (api2cart/php-sdk docs/Api/AccountApi.md, accountConfigUpdate)."""
    headers = {"x-store-key": store_key} if store_key is not None else {}
    return client.put("/account.config.update.json", params=params, headers=headers)


def fields(refresh_token: str, **extra: str) -> dict[str, str]:
    body = add_body(refresh_token, **extra)
    del body["cart_id"]
    return body


def test_update_hands_over_the_rotated_refresh_token(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    data = tokens(sb)
    store_key = ok(client.post("/account.cart.add.json", json=add_body(data["refresh_token"], custom_label="UK")))[
        "store_key"
    ]
    new = token_refresh(sb.base_url, data["refresh_token"])["data"]
    error(client.get("/cart.validate.json", headers={"x-store-key": store_key}), 100)  # the one it holds is gone
    # AccountConfigUpdate200ResponseResult: updated_items; here the values that changed (the refresh token)
    assert ok(update(client, store_key, fields(new["refresh_token"], replace_parameters="true"))) == {
        "updated_items": 1
    }
    assert ok(client.get("/cart.validate.json", headers={"x-store-key": store_key})) == {"status": VALID_STATUS}
    assert [(c["store_key"], c["custom_label"]) for c in carts(client)] == [(store_key, "UK")]  # same store
    # only the refresh token sent: the App Key and App Secret it holds are kept
    newer = token_refresh(sb.base_url, new["refresh_token"])["data"]
    assert ok(update(client, store_key, {"tiktokshop_refresh_token": newer["refresh_token"]})) == {"updated_items": 1}
    ok(client.get("/cart.validate.json", headers={"x-store-key": store_key}))
    # the same values again: nothing differs; an access token given for the first time: one value
    assert ok(update(client, store_key, fields(newer["refresh_token"]))) == {"updated_items": 0}
    with_access = fields(newer["refresh_token"], tiktokshop_access_token=newer["access_token"])
    assert ok(update(client, store_key, with_access)) == {"updated_items": 1}


@pytest.mark.parametrize("replace", ["true", "false", "1", "0", "TRUE"])
def test_update_accepts_replace_parameters_as_a_boolean(
    sb: Sandbox[FakeClock], client: httpx.Client, replace: str
) -> None:
    data = tokens(sb)
    store_key = ok(client.post("/account.cart.add.json", json=add_body(data["refresh_token"])))["store_key"]
    new = token_refresh(sb.base_url, data["refresh_token"])["data"]
    reply = update(client, store_key, {"tiktokshop_refresh_token": new["refresh_token"], "replace_parameters": replace})
    assert ok(reply) == {"updated_items": 1}  # it changes nothing in the simulation either way
    ok(client.get("/cart.validate.json", headers={"x-store-key": store_key}))


def test_update_reads_the_query_only_a_body_is_ignored(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    data = tokens(sb)
    store_key = ok(client.post("/account.cart.add.json", json=add_body(data["refresh_token"])))["store_key"]
    new = token_refresh(sb.base_url, data["refresh_token"])["data"]
    as_json = client.put(
        "/account.config.update.json", json=fields(new["refresh_token"]), headers={"x-store-key": store_key}
    )
    assert "tiktokshop_refresh_token" in error(as_json, 114)  # the fields were not where the method reads them
    error(client.get("/cart.validate.json", headers={"x-store-key": store_key}), 100)  # nothing changed
    ok(update(client, store_key, fields(new["refresh_token"])))
    ok(client.get("/cart.validate.json", headers={"x-store-key": store_key}))


def test_update_refusals_change_nothing(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    data = tokens(sb)
    store_key = ok(client.post("/account.cart.add.json", json=add_body(data["refresh_token"])))["store_key"]
    assert "36004005" in error(update(client, store_key, fields("TTP_unknown")), 100)
    wrong_secret = fields(data["refresh_token"], tiktokshop_app_secret="wrong-secret")
    assert "36004003" in error(update(client, store_key, wrong_secret), 100)
    assert error(update(client, "0" * 32, fields(data["refresh_token"])), 101) == "Store not found"
    assert "store_key" in error(update(client, None, fields(data["refresh_token"])), 114)
    assert "tiktokshop_refresh_token" in error(update(client, store_key, {}), 114)
    assert "tiktokshop_refresh_token" in error(update(client, store_key, {"tiktokshop_refresh_token": ""}), 114)
    refused = fields(data["refresh_token"], replace_parameters="yes")
    assert "replace_parameters" in error(update(client, store_key, refused), 109)
    # 109 comes before the store key is looked at (the order of the checks: key, types, store)
    assert "replace_parameters" in error(update(client, "0" * 32, refused), 109)
    ok(client.get("/cart.validate.json", headers={"x-store-key": store_key}))  # still the credentials it had
    reply = client.get("/account.config.update.json")
    assert reply.status_code == 405 and reply.headers["allow"] == "PUT"


# --- the hand-over through the Session and the command line ------------------------------------------


def _nobody_pastes(attempt: AuthorizationAttempt) -> str:
    raise AssertionError("the sandbox autopilot answers the consent page")


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    env = tmp_path / ".env"
    env.write_text("TIKTOK_REDIRECT_URL=http://127.0.0.1:0/callback\n")
    with open_session(env, environ={}) as opened:
        opened.authorize(prompt=_nobody_pastes, sandbox_decision="authorize")
        yield opened


def test_a_refresh_hands_over_and_a_refresh_without_one_is_100_until_updated(session: Session) -> None:
    store_key = session.add_store(custom_label="hand-over")
    assert session.api2cart().validate_store(store_key) == VALID_STATUS
    refreshed = session.refresh()  # a refresh made here gives the store the new refresh token at once
    assert refreshed.handover is not None and refreshed.handover.done
    assert session.api2cart().validate_store(store_key) == VALID_STATUS
    # A refresh whose hand-over never happened (another tool's, or API2Cart unreachable then): the
    # sandbox's default reading retires the refresh token the store holds.
    grant = session.seller
    assert grant is not None
    session.save_tokens(session.token_client().refresh(grant.refresh_token), seller=grant)
    with pytest.raises(Api2CartError) as info:
        session.api2cart().validate_store(store_key)
    assert info.value.code == 100 and info.value.entry.code == "api2cart.100" and not info.value.transient
    assert "36004005" in info.value.message and "account.config.update" in info.value.fix
    assert session.update_store() == store_key
    assert session.api2cart().validate_store(store_key) == VALID_STATUS
    with open_session(session.settings.env_path, environ={}) as other:  # another notebook refreshes: hands over
        assert other.refresh().handover is not None
    session.api2cart().validate_store(store_key)
    session.reload()
    with pytest.raises(Api2CartError) as again:
        session.add_store()
    assert again.value.code == 8  # already in the account: update it, never add it twice


def test_update_store_needs_a_store_in_api2cart(session: Session) -> None:
    with pytest.raises(MissingSettingError, match="no store in API2Cart yet"):
        session.update_store()


def run_cli(env: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--env-file", str(env), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_refresh_hands_over_and_update_validates(session: Session, capsys: pytest.CaptureFixture[str]) -> None:
    env = session.settings.env_path
    code, out, _ = run_cli(env, capsys, "refresh")
    assert code == 0 and "API2Cart" not in out  # no store in API2Cart yet: nothing to hand over
    code, _, err = run_cli(env, capsys, "api2cart", "update")
    assert code == 2 and "no store in API2Cart yet" in err
    session.reload()  # the command line refreshed: this session's copy of the grant is stale
    store_key = session.add_store()
    code, out, _ = run_cli(env, capsys, "refresh")
    assert code == 0
    assert "API2Cart was given the new refresh token (account.config.update) and confirmed" in out
    code, out, _ = run_cli(env, capsys, "--seller", "Sandbox UK Store", "--json", "refresh")
    handover = json.loads(out)["handover"]
    assert code == 0 and handover["done"] is True and handover["retry_command"] is None
    assert store_key.reveal() not in out
    session.api2cart().validate_store(store_key)
    code, out, _ = run_cli(env, capsys, "api2cart", "update")
    assert code == 0 and "Confirmed: cart.validate accepts the store." in out
    assert store_key.reveal() not in out
    code, out, _ = run_cli(env, capsys, "--json", "api2cart", "update")
    assert code == 0 and json.loads(out)["validated"] is True


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
