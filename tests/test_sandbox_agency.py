"""An agency's account: many sellers minted with grants, and a change whose cost does not grow with them.

(The precise figures are the benchmarks' job; these tests guard the shape: flat, and fast enough.)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tiktok_helpers.samples import SANDBOX_API2CART_KEY, SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from tiktok_helpers.sandbox import FakeClock, MintedGrant, Sandbox, SandboxState
from tiktok_helpers.sandbox.agency import AGENCY_REGIONS

from . import sandbox_calls
from .test_sandbox_persistence import shops

START = 1_750_000_000.0
SHOPS = "/authorization/202309/shops"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as c:
        yield c


def refresh(state: SandboxState, refresh_token: str) -> dict[str, Any]:
    return state.token_refresh(
        {
            "app_key": SANDBOX_APP_KEY,
            "app_secret": SANDBOX_APP_SECRET,
            "refresh_token": refresh_token,
            "grant_type": "refresh_token",
        }
    )


def median_refresh_ms(state: SandboxState, refresh_token: str, times: int = 25) -> float:
    """The median cost of ``times`` chained refreshes (each sends the token the previous one got)."""
    costs = []
    for _ in range(times):
        started = time.perf_counter()
        refresh_token = refresh(state, refresh_token)["refresh_token"]
        costs.append(time.perf_counter() - started)
    return statistics.median(costs) * 1000


def test_mint_grants_creates_distinct_sellers_with_working_grants(tmp_path: Path, client: httpx.Client) -> None:
    state_path = tmp_path / "state.db"
    minter = SandboxState(clock=FakeClock(START), state_path=state_path)
    minted = minter.mint_grants(20)
    assert len(minted) == 20 and all(isinstance(m, MintedGrant) for m in minted)
    refresh_token, open_id, seller_name = minted[0]  # a plain 3-tuple too
    assert refresh_token.startswith("TTP_") and open_id.isdigit() and seller_name == "Agency Client 1"
    assert (
        len({m.open_id for m in minted})
        == len({m.seller_name for m in minted})
        == len({m.refresh_token for m in minted})
        == 20
    )
    more = minter.mint_grants(3)
    assert [m.seller_name for m in more] == ["Agency Client 21", "Agency Client 22", "Agency Client 23"]
    assert minter.mint_grants(0) == []

    # another sandbox on the same file knows the minted sellers: refresh, shops, API2Cart
    with Sandbox(port=0, clock=FakeClock(START), state_path=state_path) as sb:
        second = sandbox_calls.token_refresh(sb.base_url, minted[1].refresh_token, client)
        assert second["code"] == 0, second
        data = second["data"]
        assert (data["open_id"], data["seller_name"]) == (minted[1].open_id, minted[1].seller_name)
        assert data["seller_base_region"] == AGENCY_REGIONS[1]
        assert data["user_type"] == 0 and data["refresh_token_expire_in"] == int(START) + 365 * 24 * 3600
        listed = shops(sb, client, data["access_token"])["data"]["shops"]
        assert [(s["region"], s["seller_type"]) for s in listed] == [(AGENCY_REGIONS[1], "LOCAL")]
        added = client.post(
            f"{sb.api2cart_base_url}/account.cart.add.json",
            headers={"x-api-key": SANDBOX_API2CART_KEY},
            json={
                "cart_id": "TikTokShop",
                "tiktokshop_app_key": SANDBOX_APP_KEY,
                "tiktokshop_app_secret": SANDBOX_APP_SECRET,
                "tiktokshop_refresh_token": minted[2].refresh_token,
            },
        ).json()
        assert added["return_code"] == 0, added
        assert sb.state.deauthorize("agency-4") == 1  # a minted seller can be revoked like any other
        assert sandbox_calls.token_refresh(sb.base_url, minted[3].refresh_token, client)["code"] == 36004005
        code = sb.state.issue_code(SANDBOX_APP_KEY, "agency-5")  # and authorize again
        assert sandbox_calls.token_get(sb.base_url, code, client)["data"]["seller_name"] == "Agency Client 5"
        sb.reset()
        assert sandbox_calls.token_refresh(sb.base_url, minted[5].refresh_token, client)["code"] == 36004005
        assert sb.state.mint_grants(1)[0].seller_name == "Agency Client 1"  # numbering starts over


def test_mint_grants_refuses_nonsense() -> None:
    state = SandboxState()
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="whole number"):
            state.mint_grants(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="app_key"):
        state.mint_grants(1, app_key="nope")
    assert state.grants == []


def test_ten_thousand_sellers_are_minted_fast_and_a_refresh_costs_no_more(tmp_path: Path) -> None:
    """The agency's case: a refresh at 10,000 grants costs about what it costs at 10."""
    small = SandboxState(state_path=tmp_path / "small.db")
    big = SandboxState(state_path=tmp_path / "big.db")
    few = small.mint_grants(10)
    started = time.perf_counter()
    many = big.mint_grants(10_000)
    minting = time.perf_counter() - started
    assert len(many) == 10_000 and len(big.grants) == 10_000
    assert minting < 5.0, f"minting 10,000 grants took {minting:.2f} s"  # about 0.4 s on a laptop

    median_refresh_ms(small, few[0].refresh_token, 5)  # warm up both files
    median_refresh_ms(big, many[0].refresh_token, 5)
    at_10 = median_refresh_ms(small, few[5].refresh_token)
    at_10_000 = median_refresh_ms(big, many[5_000].refresh_token)
    assert at_10_000 < 3 * at_10, f"refresh: {at_10:.3f} ms at 10 grants, {at_10_000:.3f} ms at 10,000"
