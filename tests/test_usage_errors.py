"""Bad usage is exit 2 with one clear line, before anything is started or sent (issue 22).

* ``--seller`` blank is refused, never read as "the newest seller"; a NAME_OR_OPEN_ID that matches
  several sellers lists them with their ``#N``; ``#N`` and ``N`` pick row N.
* ``--scenario`` where no sandbox of the run would serve it (live mode, or TIKTOK_SANDBOX_URL) is
  refused before a session opens; ``doctor`` never advises deleting ``.sandbox`` for it.
* ``authorize --sandbox-approve --sandbox-seller NAME`` for a seller the consent page does not offer
  names the sellers it does offer.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tiktok_helpers.cli import common
from tiktok_helpers.doctor import FAIL, run_checks
from tiktok_helpers.errors import ValidationError
from tiktok_helpers.grants import grants_path_for
from tiktok_helpers.session import open_session

from .cli_in_process import LOOPBACK_ANY_PORT, Completed, run_cli
from .saved import grants

LIVE_ENV = (
    "TIKTOK_MODE=live\nTIKTOK_APP_KEY=abcd1234efgh5\nTIKTOK_APP_SECRET=0123456789abcdef0123456789abcdef01234567\n"
    "TIKTOK_SERVICE_ID=7000000000000000099\nTIKTOK_REDIRECT_URL=https://example.com/callback\n"
)


def one_error(result: Completed, code: int = 2) -> str:
    """The run's one error line (``error: ...``), after checking the exit code and that stderr has no
    other error and no traceback."""
    result.expect(code)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.explain(code)
    assert result.stderr.rstrip("\n").endswith(errors[0]), result.explain(code)
    return errors[0]


@pytest.fixture(scope="module")
def two_sellers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sandbox project where two sample sellers authorized (#1 Sandbox UK Store, #2 Sandbox US Store)."""
    env = tmp_path_factory.mktemp("two") / ".env"
    env.write_text(LOOPBACK_ANY_PORT)
    run_cli("authorize", "--sandbox-approve", env_file=env, code=0)
    run_cli("authorize", "--sandbox-approve", "--sandbox-seller", "us", env_file=env, code=0)
    return env


def tokens(env: Path) -> dict[int, str]:
    return {g.id: g.refresh_token.reveal() for g in grants(env)}


# --- --seller ------------------------------------------------------------------------------------


@pytest.mark.parametrize("blank", ["", "   "])
@pytest.mark.parametrize(
    "command", [("refresh",), ("refresh", "--all"), ("status",), ("shops",), ("doctor",), ("api2cart", "validate")]
)
def test_a_blank_seller_is_refused_and_nothing_is_refreshed(
    two_sellers: Path, command: tuple[str, ...], blank: str
) -> None:
    before = tokens(two_sellers)
    line = one_error(run_cli(*command, "--seller", blank, env_file=two_sellers))
    assert line.startswith("error: --seller is empty") and "#number" in line
    assert tokens(two_sellers) == before


def test_a_blank_seller_before_the_command_and_as_json(two_sellers: Path) -> None:
    result = run_cli("--seller", "", "refresh", "--json", env_file=two_sellers, code=2)
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["exit_code"]) == ("usage", 2) and "--seller is empty" in error["detail"]


@pytest.mark.parametrize("given", ["#1", "1", " #1 "])
def test_hash_n_and_n_pick_row_n(two_sellers: Path, given: str) -> None:
    before = tokens(two_sellers)
    done = json.loads(run_cli("refresh", "--seller", given, "--json", env_file=two_sellers, code=0).stdout)
    after = tokens(two_sellers)
    assert done["seller_name"] == "Sandbox UK Store"
    assert after[1] != before[1] and after[2] == before[2]


@pytest.fixture
def twins(tmp_path: Path) -> Path:
    """Two sellers of one name (TikTok does not make seller names unique)."""
    env = tmp_path / ".env"
    env.write_text(LOOPBACK_ANY_PORT)
    run_cli("authorize", "--sandbox-approve", env_file=env, code=0)
    run_cli("authorize", "--sandbox-approve", "--sandbox-seller", "us", env_file=env, code=0)
    db = sqlite3.connect(grants_path_for(env))
    try:
        with db:
            db.execute("UPDATE grants SET seller_name = 'Twin Shop'")
    finally:
        db.close()
    return env


@pytest.mark.parametrize("command", [("refresh",), ("shops",), ("api2cart", "validate"), ("doctor",)])
def test_an_ambiguous_seller_is_bad_usage_listing_each_by_number(twins: Path, command: tuple[str, ...]) -> None:
    before = tokens(twins)
    line = one_error(run_cli(*command, "--seller", "twin shop", env_file=twins))
    assert line.startswith("error: --seller: 2 sellers match 'twin shop'"), line
    assert "#1" in line and "#2" in line and "Setting missing" not in line
    assert tokens(twins) == before
    run_cli("refresh", "--seller", "#2", env_file=twins, code=0)  # what the line says to give works


def test_an_unknown_seller_is_bad_usage_naming_the_sellers(two_sellers: Path) -> None:
    line = one_error(run_cli("shops", "--seller", "Nobody", env_file=two_sellers))
    assert line.startswith("error: --seller: no seller 'Nobody'") and "Sandbox UK Store" in line


# --- --scenario where no sandbox runs --------------------------------------------------------------


@pytest.fixture
def no_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening a session (the sandbox, a client) fails the test: the refusal comes first."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a session was opened before --scenario was refused")

    monkeypatch.setattr(common, "open_session", refuse)


@pytest.mark.parametrize(
    "command", [("refresh",), ("exchange",), ("shops",), ("authorize",), ("api2cart", "add"), ("doctor",)]
)
def test_a_scenario_in_live_mode_is_refused_before_anything_starts(
    tmp_path: Path, no_session: None, command: tuple[str, ...]
) -> None:
    env = tmp_path / ".env"
    env.write_text(LIVE_ENV)
    line = one_error(run_cli("--scenario", "clock-ahead", *command, env_file=env))
    assert "only in sandbox mode" in line and "live mode" in line
    assert ".sandbox" not in line and "Settings" not in line
    assert not (tmp_path / ".sandbox").exists()


@pytest.mark.parametrize("command", [("refresh",), ("doctor",)])
def test_a_scenario_beside_a_sandbox_url_says_to_start_that_sandbox_with_it(
    tmp_path: Path, no_session: None, command: tuple[str, ...]
) -> None:
    env = tmp_path / ".env"
    env.write_text("TIKTOK_SANDBOX_URL=http://127.0.0.1:9\n")
    line = one_error(run_cli("--scenario", "rate-limited", *command, env_file=env))
    assert "http://127.0.0.1:9" in line and "sandbox --scenario rate-limited" in line


def test_the_doctors_scenario_check_never_advises_deleting_the_sandbox_folder(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(LIVE_ENV)
    report = run_checks(env, environ={}, scenario="clock-ahead")
    [sandbox] = [c for c in report.checks if c.name == "sandbox"]
    assert sandbox.status == FAIL and "live mode" in sandbox.detail
    assert "delete" not in sandbox.fix and ".sandbox" not in sandbox.fix


# --- a sandbox seller the consent page does not offer ----------------------------------------------


def test_a_sandbox_seller_the_page_does_not_offer_is_bad_usage_naming_those_it_does(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(LOOPBACK_ANY_PORT)
    line = one_error(run_cli("authorize", "--sandbox-approve", "--sandbox-seller", "UK", env_file=env))
    assert line.startswith("error: --sandbox-seller: 'UK' is not offered"), line
    for offered in ("global (Sandbox UK Store)", "us (Sandbox US Store)", "sg (Sandbox SG Store)"):
        assert offered in line
    assert "report it" not in line and "Runbook error" not in line
    assert grants(env) == []

    with open_session(env, environ={}) as session, pytest.raises(ValidationError) as error:
        session.authorize(sandbox_decision="authorize", sandbox_seller="UK", wait=5)
    assert "global (Sandbox UK Store)" in str(error.value)
