"""Sandbox consent screens over real HTTP: pages, escaping, redirects, the scripted browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tiktok_helpers.authlink import build_authorization_link
from tiktok_helpers.autopilot import ConsentPageError, walk_consent
from tiktok_helpers.errors import AuthorizationDenied
from tiktok_helpers.redirect import parse_redirect
from tiktok_helpers.regions import sandbox_endpoints
from tiktok_helpers.samples import (
    SANDBOX_APP_KEY,
    SANDBOX_APP_NAME,
    SANDBOX_APP_SECRET,
    SANDBOX_REDIRECT_URL,
    SANDBOX_SERVICE_ID,
)
from tiktok_helpers.sandbox import SAMPLE_SELLERS, FakeClock, Sandbox, sample_seller_key
from tiktok_helpers.sandbox.sample_data import SAMPLE_SCOPES

from .sandbox_calls import consent_link, token_get


@pytest.fixture
def sb() -> Iterator[Sandbox[FakeClock]]:
    with Sandbox(port=0, clock=FakeClock()) as sandbox:
        yield sandbox


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as c:
        yield c


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def exchange(sb: Sandbox[FakeClock], client: httpx.Client, code: str) -> dict[str, object]:
    return token_get(sb.base_url, code, client)


def test_consent_page_contents(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    reply = client.get(f"{sb.base_url}/open/authorize", params={"service_id": SANDBOX_SERVICE_ID, "state": "abc"})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    page = reply.text
    assert "Sandbox — simulated TikTok Shop consent screen" in page
    assert SANDBOX_APP_NAME in page
    assert "Log in as" in page
    assert '<select name="seller" id="seller">' in page
    assert "Sandbox UK Store" in page and "Sandbox US Store" in page and "Sandbox SG Store" in page
    assert ">GB<" in page and ">US<" in page and ">SG<" in page
    offered = re.findall(r'<option value="([^"]+)" data-region="([A-Z]{2})"', page)
    assert offered == [(key, seller.base_region) for key, seller in SAMPLE_SELLERS.items()]
    assert len({region for _, region in offered}) >= 3 and ("us", "US") in offered
    for scope in SAMPLE_SCOPES:
        assert f'data-scope="{scope}"' in page
    assert re.search(r'<form method="post" action="/open/authorize/decision"', page)
    assert f'name="service_id" value="{SANDBOX_SERVICE_ID}"' in page
    assert 'name="state" value="abc"' in page
    assert 'name="auth_type" value="seller"' in page
    assert 'id="authorize" name="decision" value="authorize"' in page
    assert 'id="cancel" name="decision" value="cancel"' in page
    assert SANDBOX_APP_SECRET not in page


def test_state_is_html_escaped_and_echoed_unchanged(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    evil = '<script>alert("x")</script>&\'"'
    link = consent_link(sb.base_url, state=evil)
    page = client.get(link).text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#x27;&quot;" in page
    location = walk_consent(link, client=client)
    assert query_of(location)["state"] == evil


@pytest.mark.parametrize(
    ("path", "params", "needle"),
    [
        ("/open/authorize", {"service_id": "999"}, "Unknown service_id"),
        ("/open/authorize", {}, "no service_id"),
        ("/partner/open/authorize", {"service_id": "<b>x</b>"}, "Unknown service_id"),
        ("/alliance/creator/auth", {"app_key": SANDBOX_APP_KEY}, "requires a state"),
        ("/alliance/creator/auth", {"app_key": SANDBOX_APP_KEY, "state": ""}, "requires a state"),
        ("/alliance/creator/auth", {"app_key": "nope", "state": "s"}, "Unknown app_key"),
    ],
)
def test_error_pages(
    sb: Sandbox[FakeClock], client: httpx.Client, path: str, params: dict[str, str], needle: str
) -> None:
    reply = client.get(sb.base_url + path, params=params)
    assert reply.status_code == 400
    assert 'id="sandbox-error"' in reply.text
    assert needle in reply.text
    assert "<b>x</b>" not in reply.text
    assert "<form" not in reply.text
    with pytest.raises(ConsentPageError, match=needle):
        walk_consent(str(reply.url), client=client)


def test_authorize_redirect_params(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    location = walk_consent(consent_link(sb.base_url, state="st-1"), client=client)
    assert location.startswith(SANDBOX_REDIRECT_URL + "?")
    params = query_of(location)
    assert set(params) == {"code", "state", "locale", "shop_region", "app_key"}
    assert params["code"].startswith("TTP_")
    assert params["state"] == "st-1"
    assert params["locale"] == "en"
    assert params["shop_region"] == "GB"
    assert params["app_key"] == SANDBOX_APP_KEY

    us = query_of(walk_consent(consent_link(sb.base_url, state="st-2"), seller="us", client=client))
    assert us["shop_region"] == "US"
    assert us["code"] != params["code"]


def test_no_state_means_no_state_param(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    link = f"{sb.base_url}/open/authorize?service_id={SANDBOX_SERVICE_ID}"  # by hand: built links carry a state
    page = client.get(link).text
    assert 'name="state"' not in page
    params = query_of(walk_consent(link, client=client))
    assert "state" not in params
    assert params["code"].startswith("TTP_")


def test_cancel_redirect(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    """Cancel sends TikTok's documented spelling, error=auth_denied (Partner Center's "Authorization
    overview", 202407), and the
    runbook's redirect parser reports it as AuthorizationDenied."""
    location = walk_consent(consent_link(sb.base_url, state="s9"), decision="cancel", client=client)
    assert location.startswith(SANDBOX_REDIRECT_URL + "?")
    assert query_of(location) == {"error": "auth_denied", "code": "null", "state": "s9"}
    with pytest.raises(AuthorizationDenied) as info:
        parse_redirect(location, expected_state="s9")
    assert info.value.error == "auth_denied"
    assert exchange(sb, client, "null")["code"] == 36004004


def test_given_state_is_stripped_in_the_link_and_echoed_as_sent(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    """A state given with spaces around it: the link carries it stripped, the sandbox echoes what it
    got (TikTok echoes the state unchanged: Partner Center's authorization docs), and the redirect
    checks out."""
    built = build_authorization_link(
        service_id=SANDBOX_SERVICE_ID, state="  s-10 \n", endpoints=sandbox_endpoints(sb.base_url)
    )
    assert built.state == "s-10" and built.params["state"] == "s-10"
    location = walk_consent(built.url, client=client)
    assert query_of(location)["state"] == "s-10"
    assert parse_redirect(location, expected_state=built.state).state == "s-10"
    # a link built elsewhere, with spaces in its state: echoed exactly as received, not stripped
    by_hand = f"{sb.base_url}/open/authorize?service_id={SANDBOX_SERVICE_ID}&state=%20raw%20"
    assert query_of(walk_consent(by_hand, client=client))["state"] == " raw "


@pytest.mark.parametrize(("kind", "user_type"), [("seller", 0), ("partner", 3), ("creator", 1)])
def test_user_type_per_authorization_kind(
    sb: Sandbox[FakeClock], client: httpx.Client, kind: str, user_type: int
) -> None:
    link = consent_link(sb.base_url, kind, state="k")
    page = client.get(link).text
    assert f'data-auth-type="{kind}"' in page
    code = query_of(walk_consent(link, client=client))["code"]
    reply = exchange(sb, client, code)
    assert reply["code"] == 0
    data = reply["data"]
    assert isinstance(data, dict)
    assert data["user_type"] == user_type


def test_partner_link_lives_under_partner_prefix(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    partner = consent_link(sb.base_url, "partner")
    assert partner.startswith(f"{sb.base_url}/partner/open/authorize?service_id=")
    assert 'data-auth-type="partner"' in client.get(partner).text
    creator = consent_link(sb.base_url, "creator", state="x")
    assert creator.startswith(f"{sb.base_url}/alliance/creator/auth?app_key=")
    assert 'data-auth-type="creator"' in client.get(creator).text


def test_set_redirect_url_keeps_existing_query(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    sb.set_redirect_url("https://app.example/cb?tenant=7")
    location = walk_consent(consent_link(sb.base_url, state="q"), client=client)
    assert location.startswith("https://app.example/cb?tenant=7&code=TTP_")
    assert query_of(location)["tenant"] == "7"
    with pytest.raises(ValueError, match="absolute"):
        sb.set_redirect_url("not a url")


def test_auto_approve_redirects_at_once(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    sb.auto_approve = "us"
    reply = client.get(consent_link(sb.base_url, state="auto"))
    assert reply.status_code == 302
    params = query_of(reply.headers["location"])
    assert params["shop_region"] == "US" and params["state"] == "auto"
    assert exchange(sb, client, params["code"])["code"] == 0
    # walk_consent follows the immediate redirect's Location
    assert query_of(walk_consent(consent_link(sb.base_url, state="w"), client=client))["state"] == "w"
    # errors still show the error page
    assert client.get(f"{sb.base_url}/open/authorize", params={"service_id": "1"}).status_code == 400
    sb.auto_approve = None
    assert client.get(consent_link(sb.base_url)).status_code == 200
    with pytest.raises(ValueError, match="auto_approve"):
        sb.auto_approve = "mars"


def test_decision_form_validation(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    url = f"{sb.base_url}/open/authorize/decision"
    base = {"auth_type": "seller", "service_id": SANDBOX_SERVICE_ID, "decision": "authorize"}
    bad_seller = client.post(url, data={**base, "seller": "mars"})
    assert bad_seller.status_code == 400 and "Unknown seller" in bad_seller.text
    bad_decision = client.post(url, data={**base, "seller": "global", "decision": "maybe"})
    assert bad_decision.status_code == 400
    bad_type = client.post(url, data={**base, "seller": "global", "auth_type": "robot"})
    assert bad_type.status_code == 400
    creator_no_state = client.post(
        url, data={"auth_type": "creator", "app_key": SANDBOX_APP_KEY, "seller": "global", "decision": "authorize"}
    )
    assert creator_no_state.status_code == 400
    ok = client.post(url, data={**base, "seller": "global"})
    assert ok.status_code == 302
    assert "code=TTP_" in ok.headers["location"]
    assert "TTP_" not in ok.text  # the code is only in the Location header
    get = client.get(url)
    assert get.status_code == 405
    assert get.headers["allow"] == "POST"


def test_walk_consent_unknown_seller(sb: Sandbox[FakeClock], client: httpx.Client) -> None:
    with pytest.raises(ConsentPageError, match="not offered"):
        walk_consent(consent_link(sb.base_url), seller="mars", client=client)


@pytest.mark.parametrize("seller", ["sg", "Sandbox SG Store", "sandbox sg store", "Sandbox SG Store (SG)"])
def test_walk_consent_picks_a_seller_by_key_or_name(sb: Sandbox[FakeClock], client: httpx.Client, seller: str) -> None:
    location = walk_consent(consent_link(sb.base_url, state="n"), seller=seller, client=client)
    assert query_of(location)["shop_region"] == "SG"


def test_sample_seller_keys_and_names() -> None:
    assert list(SAMPLE_SELLERS)[:2] == ["global", "us"]  # unchanged, and first
    assert SAMPLE_SELLERS["global"].name == "Sandbox UK Store" and SAMPLE_SELLERS["global"].base_region == "GB"
    assert len({seller.base_region for seller in SAMPLE_SELLERS.values()}) == len(SAMPLE_SELLERS) >= 3
    assert len({seller.open_id for seller in SAMPLE_SELLERS.values()}) == len(SAMPLE_SELLERS)
    assert sample_seller_key("Sandbox SG Store") == sample_seller_key(" SG ") == "sg"
    with pytest.raises(ValueError, match="global"):
        sample_seller_key("mars")
    with pytest.raises(TypeError):
        SAMPLE_SELLERS["mars"] = SAMPLE_SELLERS["sg"]  # type: ignore[index]


def test_walk_consent_without_client(sb: Sandbox[FakeClock]) -> None:
    assert query_of(walk_consent(consent_link(sb.base_url, state="own")))["state"] == "own"
