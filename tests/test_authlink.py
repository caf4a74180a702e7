"""Authorization links per type and region."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tiktok_helpers.authlink import build_authorization_link, new_state
from tiktok_helpers.errors import ValidationError
from tiktok_helpers.regions import AuthType, Region, endpoints_for, sandbox_endpoints

SID = "7312345678901234567"
KEY = "6abcd1234efgh"


@pytest.mark.parametrize(
    ("kind", "region", "base"),
    [
        (AuthType.SELLER, Region.GLOBAL, "https://services.tiktokshop.com/open/authorize"),
        (AuthType.SELLER, Region.US, "https://services.us.tiktokshop.com/open/authorize"),
        (AuthType.PARTNER, Region.GLOBAL, "https://partner.tiktokshop.com/open/authorize"),
        (AuthType.PARTNER, Region.US, "https://partner.us.tiktokshop.com/open/authorize"),
    ],
)
def test_service_id_links(kind: AuthType, region: Region, base: str) -> None:
    link = build_authorization_link(kind, region=region, service_id=SID)
    assert link.base == base
    assert link.params == {"service_id": SID, "state": link.state}
    assert link.auth_type is kind


def test_creator_link_uses_app_key_and_requires_state() -> None:
    link = build_authorization_link("creator", app_key=KEY)
    assert link.base == "https://shop.tiktok.com/alliance/creator/auth"
    assert link.params["app_key"] == KEY
    assert len(link.state) >= 32
    with pytest.raises(ValidationError, match="App Key"):
        build_authorization_link("creator", service_id=SID)


def test_service_id_is_required_for_seller_and_partner() -> None:
    with pytest.raises(ValidationError, match="service_id"):
        build_authorization_link("seller", app_key=KEY)


def test_given_state_is_used_and_encoded() -> None:
    link = build_authorization_link(service_id=SID, state="a b&c")
    assert parse_qs(urlsplit(link.url).query)["state"] == ["a b&c"]
    with pytest.raises(ValidationError):
        build_authorization_link(service_id=SID, state="  ")


def test_states_are_unguessable() -> None:
    states = {new_state() for _ in range(500)}
    assert len(states) == 500
    assert all(len(s) >= 32 for s in states)


def test_service_id_is_validated() -> None:
    with pytest.raises(ValidationError):
        build_authorization_link(service_id="not-a-number")


def test_host_override_keeps_its_own_query() -> None:
    ends = endpoints_for("us", {"TIKTOK_SELLER_AUTHORIZE_URL": "https://services.tiktokshops.us/open/authorize?x=1"})
    link = build_authorization_link(service_id=SID, endpoints=ends)
    assert link.url.startswith("https://services.tiktokshops.us/open/authorize?x=1&service_id=")


def test_sandbox_link() -> None:
    link = build_authorization_link("partner", service_id=SID, endpoints=sandbox_endpoints("http://127.0.0.1:8770"))
    assert link.base == "http://127.0.0.1:8770/partner/open/authorize"
