"""One refresher per seller: the runbook or API2Cart, never both, and API2Cart never left holding a
dead refresh token.

TikTok does not document whether a refresh returns a new refresh token and retires the old one
(TikTok Shop Partner Center's token refresh documentation), so every test here runs under both
readings the sandbox can serve (``TIKTOK_SANDBOX_REFRESH_READING``): ``new`` (the old refresh token
stops working) and ``same`` (the same one comes back). The command line runs in process against the
embedded sandbox (``tests/cli_in_process.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .cli_in_process import LOOPBACK_ANY_PORT, Cli
from .saved import grants


@pytest.fixture(params=["new", "same"])
def cli(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cli]:
    env = tmp_path / ".env"
    env.write_text(f"{LOOPBACK_ANY_PORT}TIKTOK_SANDBOX_REFRESH_READING={request.param}\n")
    runner = Cli(env)
    yield runner
    runner.assert_no_secret_shown()


def _connected(cli: Cli, seller: str = "global") -> int:
    """A seller authorized and their store added to API2Cart; their grant's #id."""
    cli("authorize", "--sandbox-approve", "--sandbox-seller", seller)
    cli("api2cart", "add")
    return grants(cli.env_file)[0].id


def test_refresh_all_leaves_an_api2cart_seller_alone_and_the_store_keeps_working(cli: Cli) -> None:
    seller_id = _connected(cli)
    before = grants(cli.env_file)[0].refresh_token

    listed = cli.json("sellers")["sellers"][0]
    assert listed["refresher"] == "api2cart"
    assert listed["refresher_reason"] == "the store was added to API2Cart"

    outcome = cli.json("refresh", "--all")["outcomes"][0]
    assert outcome["status"] == "skipped"
    assert outcome["detail"].startswith("API2Cart refreshes this seller (the store was added to API2Cart")
    assert grants(cli.env_file)[0].refresh_token == before  # nothing was spent

    assert cli.json("api2cart", "validate")["validated"] is True
    assert cli.json("sellers")["sellers"][0]["id"] == seller_id


def test_refreshing_an_api2cart_seller_alone_hands_the_new_token_over(cli: Cli) -> None:
    seller_id = _connected(cli)
    before = grants(cli.env_file)[0].refresh_token

    done = cli.json("refresh", "--seller", f"#{seller_id}")
    assert done["ok"] is True
    assert done["handover"]["done"] is True and done["handover"]["failed_at"] is None
    assert isinstance(done["handover"]["updated_items"], int)
    after = grants(cli.env_file)[0]
    assert after.refresh_token.reveal() != "" and after.held_by_api2cart  # still API2Cart's to refresh
    text = cli("refresh", "--seller", f"#{seller_id}").stdout
    assert "API2Cart was given the new refresh token (account.config.update) and confirmed" in text

    assert cli.json("api2cart", "validate")["validated"] is True
    if cli.env_file.read_text().endswith("new\n"):
        assert after.refresh_token != before


def test_a_failed_hand_over_says_how_to_retry_and_keeps_the_new_pair(cli: Cli) -> None:
    seller_id = _connected(cli)
    before = grants(cli.env_file)[0].refresh_token

    failed = cli("--scenario", "api2cart-wrong-key", "refresh", "--seller", f"#{seller_id}", code=1)
    assert "API2Cart was NOT given the new refresh token" in failed.stdout
    assert f"api2cart update --seller '#{seller_id}'" in failed.stdout or (
        f"api2cart update --seller #{seller_id}" in failed.stdout
    )
    saved = grants(cli.env_file)[0]
    if cli.env_file.read_text().endswith("new\n"):
        assert saved.refresh_token != before  # the new pair is saved in any case

    cli("api2cart", "update", "--seller", f"#{seller_id}")  # the retry it named
    assert cli.json("api2cart", "validate")["validated"] is True


def test_switching_to_the_runbook_makes_refresh_all_refresh_and_hand_over(cli: Cli) -> None:
    seller_id = _connected(cli)
    switched = cli.json("sellers", "refresher", "--to", "runbook", "--seller", f"#{seller_id}")
    assert switched["refresher"] == "runbook"
    assert cli.json("sellers")["sellers"][0]["refresher_reason"] == "switched with `sellers refresher`"

    outcome = cli.json("refresh", "--all")["outcomes"][0]
    assert outcome["status"] == "refreshed"
    assert outcome["handed_to_api2cart"] is True
    assert cli.json("api2cart", "validate")["validated"] is True

    back = cli.json("sellers", "refresher", "--to", "api2cart", "--seller", f"#{seller_id}")
    assert back["refresher"] == "api2cart" and back["handed_to_api2cart"] is True
    assert cli.json("refresh", "--all")["outcomes"][0]["status"] == "skipped"


def test_api2cart_cannot_refresh_a_seller_without_a_store(cli: Cli) -> None:
    cli("authorize", "--sandbox-approve")
    refused = cli("sellers", "refresher", "--to", "api2cart", code=2)
    assert "has no store in API2Cart: add it first" in refused.stderr
    assert cli.json("sellers")["sellers"][0]["refresher"] == "runbook"
    assert cli.json("refresh", "--all")["outcomes"][0]["status"] == "refreshed"


def test_refresher_usage_errors(cli: Cli) -> None:
    cli("authorize", "--sandbox-approve")
    assert "needs --to" in cli("sellers", "refresher", code=2).stderr
    assert "--to goes with" in cli("sellers", "--to", "runbook", code=2).stderr
