"""An independent check of the catalog's API2Cart entries against API2Cart's published return codes.

The table below is written once, here, from the published list and not from the catalog: API2Cart's
"Response Status Codes". Each code is fed to the real Api2CartClient as API2Cart sends it (HTTP 200,
``{"return_code": N, "return_message": "...", "result": null}``) and the error it raises must carry
the published meaning as its title, and be transient exactly for the codes whose published meanings
pass by themselves (:data:`TRANSIENT`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
import respx

from tiktok_helpers.api2cart import Api2CartClient
from tiktok_helpers.catalog import CATALOG, catalog_rows
from tiktok_helpers.errors import Api2CartError
from tiktok_helpers.http import RetryPolicy, Transport

# API2Cart's published list "Response Status Codes".
# (0 is success.) 102-105 are "FTP/bridge errors (not TikTok)", listed as one group.
PUBLISHED: dict[int, str] = {
    1: "service not available",
    2: "incorrect API key",
    3: "method is not specified",
    4: "store access denied",
    5: "API access denied",
    6: "API key is disabled",
    7: "store request limit exceeded",
    8: "store already exists",
    9: "internal service error",
    10: "account request limit exceeded",
    100: "store API access error",
    101: "store not found",
    102: "FTP/bridge error",
    103: "FTP/bridge error",
    104: "FTP/bridge error",
    105: "FTP/bridge error",
    106: "store URL is not reachable",
    107: "uncategorized error from the store",
    109: "incorrect parameters",
    110: "too many requests to the store's API",
    111: "too many items requested",
    112: "item not found",
    113: "entity already exists",
    114: "required parameter is not specified",
    115: "too many possible prefixes",
    116: "duplicate record in database",
}
#: The published codes whose meanings pass by themselves (service not available, the request limits,
#: internal service error): retry later, never re-authorize.
TRANSIENT = frozenset({1, 7, 9, 10, 110})
FTP_BRIDGE = range(102, 106)

BASE = "https://api.api2cart.com/v1.1"
API_KEY = "a2cApiKeyValue0000111122223333"


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


@pytest.fixture
def client() -> Iterator[Api2CartClient]:
    with Api2CartClient(API_KEY, Transport(BASE, retry=RetryPolicy(attempts=3), sleep=lambda seconds: None)) as c:
        yield c


def published_reply(code: int) -> httpx.Response:
    return httpx.Response(200, json={"return_code": code, "return_message": f"published {code}", "result": None})


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


@pytest.mark.parametrize("code", sorted(PUBLISHED))
def test_each_published_code_gets_its_published_meaning(
    router: respx.MockRouter, client: Api2CartClient, code: int
) -> None:
    add = router.post("/account.cart.add.json").mock(return_value=published_reply(code))
    listing = router.get("/account.cart.list.json").mock(return_value=published_reply(code))
    with pytest.raises(Api2CartError) as added:
        client.add_tiktok_store(app_key="6abc1234defgh", app_secret="s3cr3tAppSecret", refresh_token="TTP_r")
    with pytest.raises(Api2CartError) as listed:
        client.list_stores()
    for exc in (added.value, listed.value):
        assert type(exc) is Api2CartError  # one API2Cart error type
        assert exc.code == code
        assert exc.message == f"published {code}"
        assert exc.entry.code != "api2cart.unknown", f"{code} is published but the catalog does not know it"
        title = _norm(exc.title)
        if code in FTP_BRIDGE:
            assert title.startswith(_norm(PUBLISHED[code])) and "not used for tiktok shop" in title
        else:
            assert title == _norm(PUBLISHED[code])
        assert exc.transient is (code in TRANSIENT)
        assert exc.entry.cause and exc.entry.fix.endswith(".")
    # Adding a store is never repeated; a read is, only on a transient code.
    assert add.call_count == 1
    assert listing.call_count == (3 if code in TRANSIENT else 1)


@pytest.mark.parametrize("code", sorted(TRANSIENT))
def test_transient_codes_say_try_again_later_and_never_reauthorize(code: int) -> None:
    exc = Api2CartError(code, "x")
    fix = exc.fix.lower()
    assert "try again later" in fix and "backoff" in fix
    assert "authoriz" not in fix and "authoriz" not in exc.cause.lower()


def test_100_explains_the_refresh_token_hand_over() -> None:
    entry = Api2CartError(100, "TikTok Shop: can not find related auth record (36004005)").entry
    assert entry.code == "api2cart.100" and not entry.transient
    for part in ("App Key", "App Secret", "refresh token"):
        assert part in entry.cause
    assert "account.config.update" in entry.fix and "authorize again" in entry.fix


def test_the_catalog_has_no_api2cart_code_that_is_not_published() -> None:
    numbered = [e.code for e in catalog_rows(["API2Cart"]) if re.fullmatch(r"api2cart\.[\d-]+", e.code)]
    for key in numbered:
        first, _, last = key.removeprefix("api2cart.").partition("-")
        for n in range(int(first), int(last or first) + 1):
            assert n in PUBLISHED, f"{key} is not among API2Cart's published codes"
    assert {n for n in PUBLISHED if n not in FTP_BRIDGE} <= {int(k.split(".")[1]) for k in numbered if "-" not in k}
    assert "api2cart.102-105" in CATALOG


@pytest.mark.parametrize("code", [11, 99, 108, 117, 200])
def test_unpublished_codes_are_unknown(code: int) -> None:
    exc = Api2CartError(code, "x")
    assert exc.entry.code == "api2cart.unknown" and not exc.transient
