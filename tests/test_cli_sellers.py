"""Many sellers at the command line: `sellers`, `--seller`, `refresh --all`, run in process
(``tests/cli_in_process.py``) against the sandbox, as an integrator connects one client's shop after
another."""

from __future__ import annotations

import json
import re

import pytest

from tiktok_helpers.tokens import TokenSet

from .cli_in_process import Cli
from .saved import grants, write_grant


@pytest.mark.parametrize("command", [("sellers",), ("refresh", "--all")])
def test_help_answers(cli: Cli, command: tuple[str, ...]) -> None:
    assert "example:" in cli(*command, "--help").stdout


def test_two_sellers_authorized_both_appear_and_can_be_picked(cli: Cli) -> None:
    cli("authorize", "--sandbox-approve")
    cli("authorize", "--sandbox-approve", "--sandbox-seller", "us")
    sellers = cli.json("sellers")["sellers"]
    assert [s["seller_name"] for s in sellers] == ["Sandbox US Store", "Sandbox UK Store"]  # newest first
    assert [s["base_region"] for s in sellers] == ["US", "GB"]
    assert all(s["open_id"] and s["access_days_left"] > 6 for s in sellers)
    assert len(grants(cli.env_file)) == 2

    # the same seller again updates their grant
    cli("authorize", "--sandbox-approve")
    assert len(cli.json("sellers")["sellers"]) == 2

    before = {g.seller_name: g.refresh_token for g in grants(cli.env_file)}
    cli("refresh", "--seller", "sandbox us store")
    after = {g.seller_name: g.refresh_token for g in grants(cli.env_file)}
    assert after["Sandbox US Store"] != before["Sandbox US Store"]
    assert after["Sandbox UK Store"] == before["Sandbox UK Store"]

    shops = cli.json("shops", "--seller", "Sandbox US Store")["shops"]
    assert [s["region"] for s in shops] == ["US"]
    status = cli.json("status", "--seller", "Sandbox US Store")
    assert status["seller_name"] == "Sandbox US Store"


def test_refresh_all_refreshes_each_and_skips_what_is_not_due(cli: Cli) -> None:
    cli("authorize", "--sandbox-approve")
    cli("authorize", "--sandbox-approve", "--sandbox-seller", "us")
    before = {g.seller_name: g.refresh_token for g in grants(cli.env_file)}
    done = cli.json("refresh", "--all", "--concurrency", "2")
    assert done["ok"] is True
    assert sorted(o["status"] for o in done["outcomes"]) == ["refreshed", "refreshed"]
    after = {g.seller_name: g.refresh_token for g in grants(cli.env_file)}
    assert all(after[name] != before[name] for name in before)

    skipped = cli.json("refresh", "--all", "--due-within", "1")
    assert [o["status"] for o in skipped["outcomes"]] == ["skipped", "skipped"]
    assert {g.seller_name: g.refresh_token for g in grants(cli.env_file)} == after  # nothing sent


def test_an_unknown_seller_is_named_with_the_ones_there_are(cli: Cli) -> None:
    cli("authorize", "--sandbox-approve")
    result = cli("refresh", "--seller", "Nobody", code=2)
    assert "Sandbox UK Store" in result.stderr


def test_expiring_lists_only_sellers_that_need_attention(cli: Cli) -> None:
    cli("authorize", "--sandbox-approve")
    assert cli.json("sellers", "--expiring", "1")["sellers"] == []
    assert len(cli.json("sellers", "--expiring", "8")["sellers"]) == 1  # the access token lasts 7 days


def test_concurrency_goes_with_all(cli: Cli) -> None:
    assert "go with --all" in cli("refresh", "--concurrency", "4", code=2).stderr
    assert "from 1 to 64" in cli("refresh", "--all", "--concurrency", "0", code=2).stderr


def test_remote_text_cannot_drive_the_terminal(cli: Cli) -> None:
    """A seller name comes from TikTok's token reply: escape sequences in it are shown, not obeyed."""
    evil = "Evil\x1b[2J\x1b]0;pwned\x07 Shop\u202e"
    write_grant(  # a grant of the app and mode in use (the sandbox's sample app)
        cli.env_file,
        TokenSet.from_data(
            {
                "access_token": "TTP_access_token_value_00000001",
                "access_token_expire_in": 4_000_000_000,
                "refresh_token": "TTP_refresh_token_value_0000001",
                "refresh_token_expire_in": 4_100_000_000,
                "open_id": "7000000000000000001",
                "seller_name": evil,
            }
        ),
    )
    for args in (("status",), ("sellers",), ("status", "--json"), ("sellers", "--json")):
        result = cli(*args)
        for stream in (result.stdout, result.stderr):
            assert "\x1b" not in stream and "\x07" not in stream and "\u202e" not in stream
        assert "\\x1b[2J" in result.stdout or "\\u001b[2J" in result.stdout  # shown, visibly


#: Seller names as a service could send them: DEL, C1 controls (NEL, CSI), bidirectional overrides,
#: quotes, backslashes, line breaks, escape sequences, a lone surrogate.
HOSTILE_NAMES = (
    "Del\x7fShop",
    "C1\x85next\x9b2J",
    "Bidi\u202eevil\u2066isolate\u2069",
    'Quote"d \\ back\\slash',
    "Two\nlines\r\ttab",
    "Esc\x1b[31mred\x1b]0;title\x07",
    "Lone\ud800surrogate",
    "Ordinary Señor Tienda 店",
)
#: What must never reach a terminal as it is.
ACTIVE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def test_sellers_json_is_valid_json_for_any_seller_name(cli: Cli) -> None:
    for n, name in enumerate(HOSTILE_NAMES):
        write_grant(
            cli.env_file,
            TokenSet.from_data(
                {
                    "access_token": f"TTP_access_token_value_{n:08d}",
                    "access_token_expire_in": 4_000_000_000,
                    "refresh_token": f"TTP_refresh_token_value_{n:07d}",
                    "refresh_token_expire_in": 4_100_000_000,
                    "open_id": f"70000000000000001{n:02d}",
                    "seller_name": name,
                }
            ),
        )
    stored = {g.open_id: g.seller_name for g in grants(cli.env_file)}
    assert stored["7000000000000000106"] == "Lone\ufffdsurrogate"  # not storable as it was: replaced

    listed = cli("sellers", "--json")
    data = json.loads(listed.stdout)  # valid JSON, whatever the names
    assert {s["open_id"]: s["seller_name"] for s in data["sellers"]} == stored  # every name exactly
    assert not ACTIVE.search(listed.stdout.replace("\n", " "))  # and none acts on a terminal
    for open_id, name in stored.items():
        status = cli("status", "--seller", open_id, "--json")
        assert json.loads(status.stdout)["seller_name"] == name
        assert not ACTIVE.search(status.stdout.replace("\n", " "))

    # an error in JSON that quotes the names is valid JSON too
    unknown = cli("shops", "--seller", "Nobody\x9b\x7f", "--json", code=2)
    assert "Del\x7fShop" in json.loads(unknown.stdout)["error"]["detail"]
    assert not ACTIVE.search(unknown.stdout.replace("\n", " "))

    text = cli("sellers")  # the text table stays terminal-safe
    for stream in (text.stdout, text.stderr):
        assert not ACTIVE.search(stream.replace("\n", " "))
    assert "\\x7f" in text.stdout and "\\u202e" in text.stdout and "Señor Tienda 店" in text.stdout
