"""Both readings of refresh-token rotation, which TikTok does not document (the token docs' samples
show the same string before and after): "new" (the default: a refresh returns a new refresh token and
the old one answers 36004005) and "same" (the same refresh token comes back and keeps working). The
access token is replaced either way. Checked over HTTP, through API2Cart, and on the switch itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tiktok_helpers.samples import SANDBOX_API2CART_KEY, SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from tiktok_helpers.sandbox import FakeClock, Sandbox, SandboxState
from tiktok_helpers.sandbox.command import build_parser
from tiktok_helpers.signing import sign

from . import sandbox_calls
from .conftest import PROJECT_ROOT

START = 1_750_000_000.0
SHOPS = "/authorization/202309/shops"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def tokens(sb: Sandbox[FakeClock], seller: str = "global") -> dict[str, Any]:
    code = sb.state.issue_code(SANDBOX_APP_KEY, seller)
    reply = sandbox_calls.token_get(sb.base_url, code)
    assert reply["code"] == 0, reply
    data: dict[str, Any] = reply["data"]
    return data


def refresh(sb: Sandbox[FakeClock], refresh_token: str) -> dict[str, Any]:
    return sandbox_calls.token_refresh(sb.base_url, refresh_token)


def shops_code(sb: Sandbox[FakeClock], access_token: str) -> int:
    params = {"app_key": SANDBOX_APP_KEY, "timestamp": str(int(sb.clock.now()))}
    params["sign"] = sign(SHOPS, params, SANDBOX_APP_SECRET)
    reply = httpx.get(sb.base_url + SHOPS, params=params, headers={"x-tts-access-token": access_token}, timeout=5)
    code: int = reply.json()["code"]
    return code


def add_store(sb: Sandbox[FakeClock], refresh_token: str) -> str:
    body = {
        "cart_id": "TikTokShop",
        "tiktokshop_app_key": SANDBOX_APP_KEY,
        "tiktokshop_app_secret": SANDBOX_APP_SECRET,
        "tiktokshop_refresh_token": refresh_token,
    }
    reply = httpx.post(
        f"{sb.api2cart_base_url}/account.cart.add.json", json=body, headers={"x-api-key": SANDBOX_API2CART_KEY}
    ).json()
    assert reply["return_code"] == 0, reply
    store_key: str = reply["result"]["store_key"]
    return store_key


def validate(sb: Sandbox[FakeClock], store_key: str) -> dict[str, Any]:
    headers = {"x-api-key": SANDBOX_API2CART_KEY, "x-store-key": store_key}
    reply: dict[str, Any] = httpx.get(f"{sb.api2cart_base_url}/cart.validate.json", headers=headers).json()
    return reply


@pytest.fixture
def same(clock: FakeClock) -> Iterator[Sandbox[FakeClock]]:
    with Sandbox(port=0, clock=clock, refresh_reading="same") as sandbox:
        yield sandbox


@pytest.fixture
def new(clock: FakeClock) -> Iterator[Sandbox[FakeClock]]:
    with Sandbox(port=0, clock=clock) as sandbox:
        yield sandbox


def test_same_reading_returns_the_same_refresh_token_which_keeps_working(same: Sandbox[FakeClock]) -> None:
    assert same.refresh_reading == "same"
    first = tokens(same)
    same.clock.advance(3600)
    second = refresh(same, first["refresh_token"])["data"]
    assert second["refresh_token"] == first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token_expire_in"] == first["refresh_token_expire_in"]  # the authorization's end
    third = refresh(same, first["refresh_token"])["data"]  # the same token, twice: it still works
    assert third["refresh_token"] == first["refresh_token"]
    assert third["access_token"] not in (first["access_token"], second["access_token"])
    # the access token is replaced either way: the old ones answer like a revoked token
    assert shops_code(same, first["access_token"]) == 105001
    assert shops_code(same, second["access_token"]) == 105001
    assert shops_code(same, third["access_token"]) == 0


def test_same_reading_keeps_the_api2cart_store_working_after_a_refresh(same: Sandbox[FakeClock]) -> None:
    data = tokens(same)
    store_key = add_store(same, data["refresh_token"])
    assert refresh(same, data["refresh_token"])["code"] == 0
    reply = validate(same, store_key)
    assert reply["return_code"] == 0, reply  # the token the store holds is still the seller's


def test_new_reading_retires_the_old_refresh_token_and_the_store_holding_it(new: Sandbox[FakeClock]) -> None:
    assert new.refresh_reading == "new"  # the default
    data = tokens(new)
    store_key = add_store(new, data["refresh_token"])
    renewed = refresh(new, data["refresh_token"])["data"]
    assert renewed["refresh_token"] != data["refresh_token"]
    gone = refresh(new, data["refresh_token"])
    assert (gone["code"], gone["message"]) == (36004005, "can not find related auth record")
    reply = validate(new, store_key)
    assert reply["return_code"] == 100 and "36004005" in reply["return_message"]
    assert refresh(new, renewed["refresh_token"])["code"] == 0


def test_the_reading_switches_while_running(new: Sandbox[FakeClock]) -> None:
    data = tokens(new)
    new.refresh_reading = "same"
    assert new.state.refresh_reading == "same"
    assert refresh(new, data["refresh_token"])["data"]["refresh_token"] == data["refresh_token"]
    new.refresh_reading = "new"
    assert refresh(new, data["refresh_token"])["data"]["refresh_token"] != data["refresh_token"]


@pytest.mark.parametrize("value", ["rotate", "", "NEW", None, 1])
def test_only_the_two_readings_are_accepted(value: Any) -> None:
    with pytest.raises(ValueError, match="'new' or 'same'"):
        Sandbox(refresh_reading=value)
    with pytest.raises(ValueError, match="'new' or 'same'"):
        SandboxState(refresh_reading=value)
    state = SandboxState()
    with pytest.raises(ValueError, match="'new' or 'same'"):
        state.refresh_reading = value
    assert state.refresh_reading == "new"


def test_the_reading_is_not_saved_in_the_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first = SandboxState(state_path=path, refresh_reading="same")
    second = SandboxState(state_path=path)
    assert (first.refresh_reading, second.refresh_reading) == ("same", "new")


def test_command_option_and_banner() -> None:
    assert build_parser().parse_args(["--refresh-reading", "same"]).refresh_reading == "same"
    assert build_parser().parse_args([]).refresh_reading == "new"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--refresh-reading", "rotate"])
    with sandbox_calls.sandbox_cli("--refresh-reading", "same", cwd=PROJECT_ROOT) as cli:
        assert "refresh reading 'same'" in cli.banner and "the sandbox's choice" in cli.banner
        assert "TikTok does not document it" in cli.banner
        assert sandbox_calls.token_get(cli.base_url, "TTP_never_issued")["code"] == 36004004  # it serves
    assert cli.process.returncode == 0
