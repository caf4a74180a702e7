"""Sandbox token endpoints and the signed Get Authorized Shops call over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tiktok_helpers.autopilot import walk_consent
from tiktok_helpers.samples import SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from tiktok_helpers.sandbox import ACCESS_TOKEN_TTL, REFRESH_TOKEN_TTL, SAMPLE_SELLERS, FakeClock, Sandbox
from tiktok_helpers.sandbox.issuer import issued_here, new_token
from tiktok_helpers.signing import sign

from . import sandbox_calls

START = 1_750_000_000.0
SHOPS = "/authorization/202309/shops"
DAY = 24 * 3600
#: Open API codes the sandbox sends with HTTP 401: public live traces show it with 106001; for 36009004
#: it is the sandbox's choice (no public trace shows the status of a bad token or timestamp), except an
#: unknown app_key: HTTP 400, as live replies quoted in public client code show.
HTTP_401_CODES = {106001, 36009004}
#: The live message for a wrong or missing access token (quoted in public client code).
BAD_TOKEN_HEADER = "Invalid credentials. The 'x-tts-access-token' header is invalid"
#: The live message for an unknown app_key, sent with HTTP 400 (live replies quoted in public client code).
UNKNOWN_APP_KEY = "Invalid credentials. Invalid 'app_key' query parameter."
#: The live message for a bad sign, sent with HTTP 401 (live replies quoted in public client code).
BAD_SIGN = "Invalid credentials. The 'sign' query parameter is invalid."


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def sb(clock: FakeClock) -> Iterator[Sandbox[FakeClock]]:
    with Sandbox(port=0, clock=clock) as sandbox:
        yield sandbox


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as c:
        yield c


def new_code(sb: Sandbox[FakeClock], client: httpx.Client, seller: str = "global", kind: str = "seller") -> str:
    location = walk_consent(sandbox_calls.consent_link(sb.base_url, kind, state="t"), seller=seller, client=client)
    return parse_qs(urlsplit(location).query)["code"][0]


def token_get(sb: Sandbox[FakeClock], client: httpx.Client, code: str, **overrides: str | None) -> dict[str, Any]:
    return sandbox_calls.token_get(sb.base_url, code, client, **overrides)


def token_refresh(
    sb: Sandbox[FakeClock], client: httpx.Client, refresh_token: str, **overrides: str | None
) -> dict[str, Any]:
    return sandbox_calls.token_refresh(sb.base_url, refresh_token, client, **overrides)


def tokens(
    sb: Sandbox[FakeClock], client: httpx.Client, seller: str = "global", kind: str = "seller"
) -> dict[str, Any]:
    reply = token_get(sb, client, new_code(sb, client, seller, kind))
    assert reply["code"] == 0
    data: dict[str, Any] = reply["data"]
    return data


def assert_error(reply: dict[str, Any], code: int) -> None:
    assert reply["code"] == code, reply
    assert isinstance(reply["message"], str) and reply["message"]
    assert len(reply["request_id"]) == 34
    assert "data" not in reply


def shops(
    sb: Sandbox[FakeClock],
    client: httpx.Client,
    access_token: str | None,
    *,
    timestamp: int | None = None,
    app_key: str = SANDBOX_APP_KEY,
    signature: str | None = None,
    body: bytes = b"",
    signed_body: bytes | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A signed Get Authorized Shops call; checks the HTTP status the reply's code goes with (400 for
    an unknown app_key, 401 for 106001 and the other 36009004, 200 for the rest) and returns the JSON
    body."""
    params: dict[str, Any] = {
        **(extra or {}),
        "app_key": app_key,
        "timestamp": str(int(sb.clock.now()) if timestamp is None else timestamp),
    }
    sig = sign(SHOPS, params, SANDBOX_APP_SECRET, body if signed_body is None else signed_body)
    headers = {"content-type": "application/json"}
    if access_token is not None:
        headers["x-tts-access-token"] = access_token
    if signature != "absent":
        params["sign"] = sig if signature is None else signature
    reply = client.request("GET", sb.base_url + SHOPS, params=params, headers=headers, content=body or None)
    result: dict[str, Any] = reply.json()
    status = 400 if result.get("message") == UNKNOWN_APP_KEY else 401 if result["code"] in HTTP_401_CODES else 200
    assert reply.status_code == status, (reply.status_code, result)
    return result


# ---------------------------------------------------------------- token/get


def test_token_get_success_shape_and_absolute_expiry(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    reply = token_get(sb, client, new_code(sb, client))
    assert reply["code"] == 0
    assert reply["message"] == "success"
    assert len(reply["request_id"]) == 34
    data = reply["data"]
    assert set(data) == {
        "access_token",
        "access_token_expire_in",
        "refresh_token",
        "refresh_token_expire_in",
        "open_id",
        "seller_name",
        "seller_base_region",
        "user_type",
        "granted_scopes",
    }
    assert data["access_token"].startswith("TTP_") and data["refresh_token"].startswith("TTP_")
    assert data["access_token"] != data["refresh_token"]
    assert data["access_token_expire_in"] == int(START) + 7 * DAY == int(START) + ACCESS_TOKEN_TTL
    assert data["refresh_token_expire_in"] == int(START) + 365 * DAY == int(START) + REFRESH_TOKEN_TTL
    assert data["open_id"].isdigit()
    assert data["seller_name"] == "Sandbox UK Store"
    assert data["seller_base_region"] == "GB"
    assert data["user_type"] == 0
    assert "seller.authorization.info" in data["granted_scopes"] and len(data["granted_scopes"]) >= 8


def test_us_seller_tokens(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    data = tokens(sb, client, seller="us")
    assert data["seller_name"] == "Sandbox US Store"
    assert data["seller_base_region"] == "US"


def test_every_sample_seller_gets_its_own_grant(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    """Three sellers in three regions (one of them US) authorize the same app, one after another."""
    granted = {key: tokens(sb, client, seller=key) for key in SAMPLE_SELLERS}
    assert {"global", "us", "sg"} <= set(granted)
    for key, data in granted.items():
        seller = SAMPLE_SELLERS[key]
        assert (data["seller_name"], data["seller_base_region"]) == (seller.name, seller.base_region)
        assert data["open_id"] == seller.open_id
        listed = shops(sb, client, data["access_token"])["data"]["shops"]
        assert [shop["region"] for shop in listed] == [shop.region for shop in seller.shops]
        assert listed[0]["region"] == seller.base_region
    assert len({data["open_id"] for data in granted.values()}) == len(granted)
    assert len({data["refresh_token"] for data in granted.values()}) == len(granted)
    assert [grant.seller_key for grant in sb.state.grants] == list(granted)
    # each grant is its own: revoking one seller leaves the others working
    assert sb.state.deauthorize("sg") == 1
    assert_error(token_refresh(sb, client, granted["sg"]["refresh_token"]), 36004005)
    assert token_refresh(sb, client, granted["us"]["refresh_token"])["data"]["seller_base_region"] == "US"


def test_code_is_single_use(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    code = new_code(sb, client)
    assert token_get(sb, client, code)["code"] == 0
    assert_error(token_get(sb, client, code), 36004004)


def test_unknown_code(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    assert_error(token_get(sb, client, "TTP_not-a-code"), 36004004)


def test_code_still_valid_at_29_59(sb: Sandbox[FakeClock], client: httpx.Client, clock: FakeClock) -> None:
    code = new_code(sb, client)
    clock.advance(29 * 60 + 59)
    reply = token_get(sb, client, code)
    assert reply["code"] == 0
    assert reply["data"]["access_token_expire_in"] == int(START) + 29 * 60 + 59 + 7 * DAY


def test_code_expired_at_30_01(sb: Sandbox[FakeClock], client: httpx.Client, clock: FakeClock) -> None:
    code = new_code(sb, client)
    clock.advance(30 * 60 + 1)
    assert_error(token_get(sb, client, code), 36004004)


def test_wrong_secret_or_key(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    code = new_code(sb, client)
    wrong_secret = token_get(sb, client, code, app_secret="wrong")
    assert_error(wrong_secret, 36004003)
    assert "wrong" not in wrong_secret["message"]
    assert_error(token_get(sb, client, code, app_key="otherkey"), 36004003)
    # a rejected request does not burn the code
    assert token_get(sb, client, code)["code"] == 0


def test_wrong_grant_type_and_missing_param(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    code = new_code(sb, client)
    assert_error(token_get(sb, client, code, grant_type="refresh_token"), 36004002)
    assert_error(token_get(sb, client, code, auth_code=""), 36004002)
    reply = client.get(f"{sb.base_url}/api/v2/token/get", params={"app_key": SANDBOX_APP_KEY}).json()
    assert_error(reply, 36004002)
    assert "invalid param" in reply["message"]


@pytest.mark.parametrize("path", ["/api/v2/token/get", "/api/v2/token/refresh"])
def test_post_is_405(sb: Sandbox[FakeClock], client: httpx.Client, path: str) -> None:
    reply = client.post(sb.base_url + path, data={"app_key": SANDBOX_APP_KEY})
    assert reply.status_code == 405
    assert reply.headers["allow"] == "GET"
    body = reply.json()
    assert body["code"] != 0 and "GET" in body["message"]
    assert "data" not in body


# ---------------------------------------------------------------- refresh


def test_refresh_rotates_both_tokens(sb: Sandbox[FakeClock], client: httpx.Client, clock: FakeClock) -> None:
    first = tokens(sb, client)
    clock.advance(3 * DAY)
    reply = token_refresh(sb, client, first["refresh_token"])
    assert reply["code"] == 0 and reply["message"] == "success"
    second = reply["data"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["access_token_expire_in"] == int(START) + 3 * DAY + 7 * DAY
    assert second["refresh_token_expire_in"] == first["refresh_token_expire_in"] == int(START) + 365 * DAY
    assert second["open_id"] == first["open_id"]
    # the old refresh token is gone, the new one works
    assert_error(token_refresh(sb, client, first["refresh_token"]), 36004005)
    # the old access token is gone, the new one works
    assert_error(shops(sb, client, first["access_token"]), 105001)
    assert shops(sb, client, second["access_token"])["code"] == 0
    assert token_refresh(sb, client, second["refresh_token"])["code"] == 0


def test_refresh_token_expires_after_365_days(sb: Sandbox[FakeClock], client: httpx.Client, clock: FakeClock) -> None:
    data = tokens(sb, client)
    clock.advance(366 * DAY)
    assert_error(token_refresh(sb, client, data["refresh_token"]), 36004001)


def test_refresh_errors(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    data = tokens(sb, client)
    assert_error(token_refresh(sb, client, "TTP_unknown"), 36004005)
    assert_error(token_refresh(sb, client, data["refresh_token"], app_secret="nope"), 36004003)
    assert_error(token_refresh(sb, client, data["refresh_token"], grant_type="authorized_code"), 36004002)
    # none of the failures rotated the token
    assert token_refresh(sb, client, data["refresh_token"])["code"] == 0


def test_access_token_never_outlives_the_authorization(
    sb: Sandbox[FakeClock], client: httpx.Client, clock: FakeClock
) -> None:
    data = tokens(sb, client)
    clock.advance(362 * DAY)
    renewed = token_refresh(sb, client, data["refresh_token"])["data"]
    assert renewed["access_token_expire_in"] == renewed["refresh_token_expire_in"] == int(START) + 365 * DAY


# ---------------------------------------------------------------- shops


def test_shops_with_good_signature(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    reply = shops(sb, client, tokens(sb, client)["access_token"])
    assert reply["code"] == 0
    assert reply["message"] == "Success"
    assert len(reply["request_id"]) == 34
    found = reply["data"]["shops"]
    assert [s["region"] for s in found] == ["GB", "DE"]
    for shop in found:
        assert set(shop) == {"id", "name", "region", "seller_type", "cipher", "code"}
        assert shop["id"].isdigit()
        assert shop["seller_type"] in {"LOCAL", "CROSS_BORDER"}
    us = shops(sb, client, tokens(sb, client, seller="us")["access_token"])["data"]["shops"]
    assert len(us) == 1
    assert us[0]["region"] == "US" and us[0]["seller_type"] == "LOCAL"


def test_shops_signature_covers_body(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    token = tokens(sb, client)["access_token"]
    assert shops(sb, client, token, body=b'{"a":1}')["code"] == 0
    assert_error(shops(sb, client, token, body=b'{"a":1}', signed_body=b""), 106001)


def test_shops_bad_sign(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    """A wrong (or empty) sign: 106001 with HTTP 401 (the status is checked by shops())."""
    token = tokens(sb, client)["access_token"]
    for signature in ("0" * 64, ""):
        reply = shops(sb, client, token, signature=signature)
        assert_error(reply, 106001)
        assert reply["message"] == BAD_SIGN


def test_shops_bad_sign_is_http_401(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    token = tokens(sb, client)["access_token"]
    params = {"app_key": SANDBOX_APP_KEY, "timestamp": str(int(START)), "sign": "0" * 64}
    reply = client.get(sb.base_url + SHOPS, params=params, headers={"x-tts-access-token": token})
    assert reply.status_code == 401
    assert reply.json()["code"] == 106001


def test_shops_missing_sign_is_36009004(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    """No sign parameter at all: one of the causes of 36009004 (Partner Center's "Common errors", live replies)."""
    reply = shops(sb, client, tokens(sb, client)["access_token"], signature="absent")
    assert_error(reply, 36009004)
    assert "sign" in reply["message"]


def test_shops_uppercase_sign_rejected(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    token = tokens(sb, client)["access_token"]
    params = {"app_key": SANDBOX_APP_KEY, "timestamp": str(int(sb.clock.now()))}
    good = sign(SHOPS, params, SANDBOX_APP_SECRET)
    assert good != good.upper()
    assert_error(shops(sb, client, token, signature=good.upper()), 106001)
    assert shops(sb, client, token, signature=good)["code"] == 0


def test_shops_timestamp_window(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    token = tokens(sb, client)["access_token"]
    now = int(START)
    assert shops(sb, client, token, timestamp=now - 300)["code"] == 0
    assert shops(sb, client, token, timestamp=now + 30)["code"] == 0
    assert_error(shops(sb, client, token, timestamp=now - 301), 36009004)
    assert_error(shops(sb, client, token, timestamp=now + 31), 36009004)


def test_shops_stale_and_future_timestamp(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    """Ahead by more than 30 s: the message of Partner Center's "Common errors"; more than 5 minutes
    old: the sandbox's own wording (nothing public gives one). Both name the timestamp."""
    token = tokens(sb, client)["access_token"]
    stale = shops(sb, client, token, timestamp=int(START) - 3600)
    assert_error(stale, 36009004)
    assert "timestamp" in stale["message"]
    ahead = shops(sb, client, token, timestamp=int(START) + 120)
    assert_error(ahead, 36009004)
    assert ahead["message"] == (
        "Invalid timestamp. The value of the `timestamp` query parameter must not exceed the current time by more "
        "than 30 seconds."
    )


def test_shops_unknown_app_key(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    """36009004 with the live message and HTTP 400 (checked by shops()), as live replies show."""
    token = tokens(sb, client)["access_token"]
    reply = shops(sb, client, token, app_key="nosuchapp")
    assert_error(reply, 36009004)
    assert reply["message"] == UNKNOWN_APP_KEY
    params = {"app_key": "nosuchapp", "timestamp": str(int(START))}
    params["sign"] = sign(SHOPS, params, SANDBOX_APP_SECRET)
    assert client.get(sb.base_url + SHOPS, params=params, headers={"x-tts-access-token": token}).status_code == 400


@pytest.mark.parametrize("token", ["TTP_madeup", "garbage", "TTP_" + "x" * 48, None], ids=repr)
def test_shops_garbage_or_missing_token_is_36009004_http_401(
    sb: Sandbox[FakeClock], client: httpx.Client, token: str | None
) -> None:
    """A token the sandbox never issued: 36009004 with the live message (quoted in public client code)
    and HTTP 401 (the sandbox's choice: no public trace shows the status), not 105001. A missing
    header is answered the same way (the sandbox's choice)."""
    reply = shops(sb, client, token)
    assert_error(reply, 36009004)
    assert reply["message"] == BAD_TOKEN_HEADER


def test_only_106001_and_36009004_are_http_401(sb: Sandbox[FakeClock], client: httpx.Client, clock: FakeClock) -> None:
    """105001 (revoked), 105002 (expired) and success stay HTTP 200: nothing public gives another status
    (the sandbox's choice)."""
    data = tokens(sb, client)
    ok = client.get(
        sb.base_url + SHOPS,
        params={
            "app_key": SANDBOX_APP_KEY,
            "timestamp": str(int(START)),
            "sign": sign(SHOPS, {"app_key": SANDBOX_APP_KEY, "timestamp": str(int(START))}, SANDBOX_APP_SECRET),
        },
        headers={"x-tts-access-token": data["access_token"]},
    )
    assert ok.status_code == 200 and ok.json()["code"] == 0
    clock.advance(7 * DAY + 1)
    assert_error(shops(sb, client, data["access_token"]), 105002)  # shops() checks HTTP 200


def test_shops_expired_access_token(sb: Sandbox[FakeClock], client: httpx.Client, clock: FakeClock) -> None:
    token = tokens(sb, client)["access_token"]
    clock.advance(7 * DAY)
    assert shops(sb, client, token)["code"] == 0
    clock.advance(1)
    expired = shops(sb, client, token)
    assert_error(expired, 105002)
    assert expired["message"] == "access token is expired, please refresh it"  # a live reply


def test_creator_token_has_no_shops(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    reply = shops(sb, client, tokens(sb, client, kind="creator")["access_token"])
    assert reply["code"] == 0
    assert reply["data"]["shops"] == []


def test_deauthorize_revokes_tokens(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    """A token that WAS valid but whose grant was revoked: 105001 (HTTP 200), unlike garbage (36009004)."""
    data = tokens(sb, client)
    assert sb.state.deauthorize("global") == 1
    revoked = shops(sb, client, data["access_token"])
    assert_error(revoked, 105001)
    assert revoked["message"] == "access token is invalid; detail:your token has been deauthorized"  # creator guide
    assert_error(token_refresh(sb, client, data["refresh_token"]), 36004005)


def test_issued_tokens_are_told_from_garbage() -> None:
    token = new_token()
    assert token.startswith("TTP_") and len(token) == 52 and issued_here(token)
    assert not issued_here(token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not issued_here("TTP_madeup") and not issued_here("") and not issued_here("TTP_" + "é" * 48)


def test_shops_verifies_non_string_query_values_as_httpx_sends_them(
    sb: Sandbox[FakeClock], client: httpx.Client
) -> None:
    """bool, None, numbers and lists (repeated keys) signed as httpx sends them: the sandbox, which
    signs what it received, accepts the call; signing their Python reprs would not be."""
    token = tokens(sb, client)["access_token"]
    extra: dict[str, Any] = {"flag": True, "off": False, "empty": None, "n": 20, "x": 1.5, "ids": ["2", "1", 3]}
    assert shops(sb, client, token, extra=extra)["code"] == 0
    repr_signed = {"app_key": SANDBOX_APP_KEY, "timestamp": str(int(START))}
    repr_signed.update({k: repr(v) for k, v in extra.items()})
    reply = client.get(
        sb.base_url + SHOPS,
        params={
            **extra,
            "app_key": SANDBOX_APP_KEY,
            "timestamp": str(int(START)),
            "sign": sign(SHOPS, repr_signed, SANDBOX_APP_SECRET),
        },
        headers={"x-tts-access-token": token},
    )
    assert reply.status_code == 401 and reply.json()["code"] == 106001


def test_fake_clock() -> None:
    clock = FakeClock(100)
    assert clock.now() == 100.0
    assert clock.advance(5.5) == 105.5
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    assert abs(FakeClock().now() - __import__("time").time()) < 2
