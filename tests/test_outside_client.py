"""An outside client: the PyPI SDK ``tiktok-shop-api`` 0.1.0 (unofficial; not written here; a
test-only dependency in requirements.txt, also the peer in benchmarks/run.py).

(a) ``tiktok_helpers.signing.sign`` agrees with the SDK's own signer (``Signer.sign``, which
    signs the sent ``(key, value)`` pairs sorted by key) over generated inputs with string values
    (what the SDK takes), repeated keys included.
(b) The SDK's clients, pointed at the sandbox through their ``base_url`` arguments (no host
    constant to patch: ``TikTokShopAuth(..., base_url=)`` and ``TikTokShop(..., base_url=)``),
    exchange a code, refresh, and call Get Authorized Shops: the sandbox serves a client that was
    not written with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import tiktok_shop_api as sdk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiktok_shop_api.signing import Signer

from tiktok_helpers.autopilot import walk_consent
from tiktok_helpers.regions import sandbox_endpoints
from tiktok_helpers.samples import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SERVICE_ID
from tiktok_helpers.sandbox import SAMPLE_SELLERS, Sandbox
from tiktok_helpers.signing import sign

from .sandbox_calls import consent_link
from .tiers import examples

# --- (a) the signer against the SDK's -----------------------------------------------------------

_text = st.text(st.characters(codec="utf-8"), max_size=12)
keys = st.sampled_from(["app_key", "timestamp", "shop_cipher", "ids", "sign", "access_token"]) | _text
pairs = st.lists(st.tuples(keys, _text), max_size=8)
content_types = st.sampled_from([None, "application/json", "multipart/form-data; boundary=x", "Multipart/Form-Data"])


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.builds("/{}".format, _text),
    query=pairs,
    secret=_text,
    body=st.none() | _text | _text.map(str.encode),
    content_type=content_types,
)
def test_sign_agrees_with_the_sdk_signer(
    path: str, query: list[tuple[str, str]], secret: str, body: str | bytes | None, content_type: str | None
) -> None:
    ours = sign(path, query, secret, body or b"", content_type or "application/json")
    theirs = Signer.sign(path=path, query=query, content_type=content_type, body=body, app_secret=secret)
    assert ours == theirs


def test_sign_agrees_with_the_sdk_on_the_reference_vector() -> None:
    query = [("app_key", "29a39d"), ("timestamp", "1623812664")]
    expected = "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"
    path = "/authorization/202309/shops"
    assert Signer.sign(path=path, query=query, content_type=None, body=None, app_secret="e59af819cc") == expected
    assert sign(path, query, "e59af819cc") == expected


# --- (b) the SDK's clients against the sandbox --------------------------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox[Any]]:
    with Sandbox() as running:
        yield running


def new_code(sandbox: Sandbox[Any]) -> str:
    location = walk_consent(consent_link(sandbox.base_url), seller="global")
    return dict(parse_qsl(urlsplit(location).query))["code"]


@pytest.mark.slow
def test_sdk_exchanges_refreshes_and_lists_shops_on_the_sandbox(sandbox: Sandbox[Any]) -> None:
    auth = sdk.TikTokShopAuth(SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SERVICE_ID, base_url=sandbox.base_url)
    first = auth.exchange_code(new_code(sandbox))
    assert first.access_token.startswith("TTP_") and first.user_type == 0
    assert first.seller_name == SAMPLE_SELLERS["global"].name

    renewed = auth.refresh(first.refresh_token)
    assert renewed.refresh_token != first.refresh_token  # the sandbox rotates
    assert renewed.refresh_token_expire_in == first.refresh_token_expire_in

    open_api = sandbox_endpoints(sandbox.base_url).open_api_base
    with sdk.TikTokShop(SANDBOX_APP_KEY, SANDBOX_APP_SECRET, renewed.access_token, base_url=open_api) as client:
        reply = client.authorization.get_authorized_shops()
    assert reply is not None
    shops = reply.to_dict()["data"]["shops"]
    assert [shop["region"] for shop in shops] == [shop.region for shop in SAMPLE_SELLERS["global"].shops]
    assert all(shop["cipher"] for shop in shops)


@pytest.mark.slow  # drives the peer SDK
def test_sdk_sees_the_documented_errors_from_the_sandbox(sandbox: Sandbox[Any]) -> None:
    """A garbage access token: 36009004, HTTP 401, the live message; an old refresh token: 36004005."""
    open_api = sandbox_endpoints(sandbox.base_url).open_api_base
    with (
        sdk.TikTokShop(SANDBOX_APP_KEY, SANDBOX_APP_SECRET, "TTP_garbage", base_url=open_api) as client,
        pytest.raises(sdk.TikTokShopError) as info,
    ):
        client.authorization.get_authorized_shops()
    assert (info.value.code, info.value.http_status) == (36009004, 401)
    assert info.value.message == "Invalid credentials. The 'x-tts-access-token' header is invalid"

    auth = sdk.TikTokShopAuth(SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SERVICE_ID, base_url=sandbox.base_url)
    with pytest.raises(sdk.TikTokShopError) as refused:
        auth.refresh("TTP_never_issued")
    assert (refused.value.code, refused.value.http_status) == (36004005, 200)
