"""The command line (``python -m tiktok_helpers``), run against the sandbox: in process through
``tests/cli_in_process.py``, and in subprocesses only where the process itself is tested (the
entry points, a real terminal, the sandbox server stopped by a signal).

Every command runs with ``--env-file`` in a temporary folder and an environment without any
TIKTOK_*/API2CART_* variable, so each test has its own .env and .sandbox/ state. Every output is
checked for the secrets the commands wrote to .env: none may appear unless --show-secrets was
given on a terminal.
"""

from __future__ import annotations

import io
import json
import os
import re
import select
import shlex
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import pytest

from tiktok_helpers.catcher import CatcherState, CatcherStatus
from tiktok_helpers.cli import CatcherProgress, UsageError, exit_code_for
from tiktok_helpers.doctor import FAIL, PASS, SKIP, WARN, Probe, clock_check
from tiktok_helpers.envfile import read_env
from tiktok_helpers.errors import (
    Api2CartError,
    AuthorizationDenied,
    InvalidAuthCode,
    InvalidRedirect,
    MissingAuthCode,
    MissingSettingError,
    RedirectTimeout,
    ServiceUnreachable,
    StateMismatch,
    ValidationError,
)
from tiktok_helpers.session import open_session

from .cli_in_process import LOOPBACK_ANY_PORT, Cli, run_cli
from .conftest import PROJECT_ROOT
from .saved import saved_values, set_expiries


def cli_environment() -> dict[str, str]:
    """The environment of a command line run as a subprocess: the process's own without any
    TIKTOK_*/API2CART_* variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIKTOK_", "API2CART_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH", "")]))
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def cli_command(env_file: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tiktok_helpers", "--env-file", str(env_file), *args]


def sandbox_location(env_file: Path, decision: Literal["authorize", "cancel"] = "authorize") -> str:
    """Where the sandbox's consent page sends the browser, for a link built here (not by the CLI)."""
    with open_session(env_file, environ={}) as session:
        return session.approve_in_sandbox(session.begin_authorization(), decision=decision)


# --- the whole flow --------------------------------------------------------------------------------


def test_whole_flow_with_the_catcher(cli: Cli) -> None:
    done = cli("authorize", "--sandbox-approve")
    assert "Authorized by Sandbox UK Store" in done.stdout
    assert "/open/authorize?service_id=" in done.stdout
    assert "ROW_sbxGBcipher" in done.stdout  # the shops proved the token
    assert "Waiting for the browser's redirect on http://127.0.0.1:" in done.stderr
    assert "Redirect received." in done.stderr
    saved = saved_values(cli.env_file)
    assert saved["TIKTOK_ACCESS_TOKEN"] and saved["TIKTOK_REFRESH_TOKEN"]
    assert "TIKTOK_AUTH_CODE" not in saved  # spent
    assert saved["TIKTOK_SHOP_CIPHER"].startswith("ROW_")

    status = cli("status")
    assert "mode                sandbox (the sandbox's sample app)" in status.stdout
    assert re.search(r"access token +TTP_…\S+, expires \d{4}-\d\d-\d\d \d\d:\d\d .*\(in 7 days\)", status.stdout)
    assert "Next: add the store to API2Cart" in status.stdout

    data = cli.json("status")
    access = data["access_token"]
    assert isinstance(access, dict)
    assert access["set"] is True
    assert 604_000 < access["seconds_left"] <= 604_800
    expires = datetime.fromisoformat(access["expires_at"])
    assert abs(expires - datetime.now(timezone.utc) - timedelta(days=7)) < timedelta(minutes=1)
    assert data["mode"] == "sandbox"
    assert data["auth_code"] == {"set": False, "value": None, "expires_at": None, "seconds_left": None}

    shops = cli.json("shops")
    assert [s["region"] for s in shops["shops"]] == ["GB", "DE"]
    assert "Sandbox UK Store" in cli("shops").stdout

    before = saved_values(cli.env_file)["TIKTOK_REFRESH_TOKEN"]
    refreshed = cli("refresh")
    assert "Refreshed Sandbox UK Store." in refreshed.stdout
    assert saved_values(cli.env_file)["TIKTOK_REFRESH_TOKEN"] != before

    added = cli("api2cart", "add", "--label", "CLI test shop")
    assert "Confirmed in the account's store list" in added.stdout
    assert "CLI test shop" in added.stdout
    assert saved_values(cli.env_file)["API2CART_STORE_KEY"]
    stores = cli.json("api2cart", "list")
    assert [(s["custom_label"], s["cart_id"]) for s in stores["stores"]] == [("CLI test shop", "TikTokShop")]

    assert "Next: all set" in cli("status").stdout
    doctor = cli("doctor")
    assert "All checks passed." in doctor.stdout
    assert "FAIL" not in doctor.stdout


def test_authorize_no_catch_with_the_sandbox_pressing_authorize(cli: Cli) -> None:
    data = cli.json("authorize", "--no-catch", "--sandbox-approve")
    assert data["ok"] is True
    assert str(data["link"]).startswith("http://127.0.0.1:")
    assert data["seller_name"] == "Sandbox UK Store"
    assert data["missing_recommended_scopes"] == []
    refresh = data["refresh_token"]
    assert isinstance(refresh, dict) and str(refresh["value"]).startswith("TTP_…")


def test_authorize_with_a_pasted_address_then_the_used_code_is_refused(cli: Cli) -> None:
    location = sandbox_location(cli.env_file)
    pasted = cli("authorize", "--no-catch", "--paste", location)
    assert "Authorized by Sandbox UK Store" in pasted.stdout
    assert "state is not checked" in pasted.stderr

    again = cli("exchange", location, code=1)
    assert "Invalid auth code" in again.stderr
    assert "What to do:" in again.stderr
    assert "TIKTOK_AUTH_CODE" not in read_env(cli.env_file)  # a refused code is not kept

    error = cli.json("exchange", location, code=1)["error"]
    assert isinstance(error, dict)
    assert error["code"] == "36004004"
    assert error["title"] == "Invalid auth code"
    assert error["fix"] and error["request_id"]


def test_exchange_reads_the_code_from_stdin(cli: Cli) -> None:
    location = sandbox_location(cli.env_file)
    done = cli("exchange", "-", stdin=location + "\n")
    assert "Exchanged the code for tokens" in done.stdout


def test_the_paste_prompt_checks_the_state_of_the_link_it_built(cli: Cli) -> None:
    other_link = sandbox_location(cli.env_file)
    mismatch = cli("authorize", "--no-catch", stdin=other_link + "\n", code=1)
    assert "Paste that whole address" in mismatch.stderr
    assert "state" in mismatch.stderr.lower()
    # A bare code carries no state: the person pasting it vouches for it.
    code = parse_qs(urlsplit(other_link).query)["code"][0]
    done = cli("authorize", "--no-catch", stdin=code + "\n")
    assert "Authorized by Sandbox UK Store" in done.stdout


def test_a_refusal_exits_1(cli: Cli) -> None:
    caught = cli("authorize", "--sandbox-approve", "--deny", code=1)
    assert "Authorization refused" in caught.stderr
    assert "The redirect came back with a refusal." in caught.stderr
    error = cli.json("authorize", "--sandbox-approve", "--deny", "--no-catch", code=1)["error"]
    assert isinstance(error, dict)
    assert error["code"] == "redirect.denied" and error["exit_code"] == 1
    assert "TIKTOK_REFRESH_TOKEN" not in saved_values(cli.env_file)


def test_an_api2cart_error_exits_1_with_the_catalog_entry(cli: Cli) -> None:
    cli.env_file.write_text(LOOPBACK_ANY_PORT + "TIKTOK_REFRESH_TOKEN=TTP_not_a_real_refresh_token_000\n")
    waiting = cli("api2cart", "add", code=2)  # a single-seller .env is not read as a seller until imported
    assert "sellers import-env" in waiting.stderr
    cli("sellers", "import-env")
    error = cli.json("api2cart", "add", code=1)["error"]
    assert isinstance(error, dict)
    assert error["code"] == "100"
    assert error["title"] and error["fix"]
    assert cli.json("api2cart", "list")["stores"] == []


# --- bad usage and bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("exchange", "not a url!!"), "Not a redirect address"),
        (("authorize", "--paste", "https://example.com/callback?foo=bar"), "No code in the redirect"),
        (("exchange",), "no auth code waiting"),
        (("refresh",), "no seller of this app in sandbox mode has authorized it yet"),
        (("authorize", "--deny"), "--deny only goes with --sandbox-approve"),
        (("authorize", "--paste", "x" * 10, "--sandbox-approve"), "exclude each other"),
        (("--timeout", "soon", "status"), "not a number of seconds"),
        (("--timeout", "900", "shops"), "between 0.5 and 300"),
        (("status", "--no-such-option"), "unrecognized arguments"),
        (("frobnicate",), "invalid choice"),
        (("api2cart",), "required"),
    ],
)
def test_bad_usage_or_input_exits_2(cli: Cli, args: tuple[str, ...], message: str) -> None:
    result = cli(*args, code=2)
    assert message in result.stderr


def test_no_command_prints_help_and_exits_2(cli: Cli) -> None:
    assert "commands:" in cli(code=2).stderr


def test_invalid_settings_exit_2_with_every_problem(cli: Cli) -> None:
    cli.env_file.write_text("TIKTOK_REGION=mars\nTIKTOK_MODE=maybe\n")
    error = cli.json("status", code=2)["error"]
    assert isinstance(error, dict)
    assert {p["field"] for p in error["problems"]} == {"TIKTOK_REGION", "TIKTOK_MODE"}
    assert error["exit_code"] == 2


def test_live_mode_refuses_sandbox_approve(cli: Cli) -> None:
    cli.env_file.write_text(
        "TIKTOK_MODE=live\nTIKTOK_APP_KEY=abcd1234efgh5\nTIKTOK_APP_SECRET=0123456789abcdef0123456789abcdef01234567\n"
        "TIKTOK_SERVICE_ID=7000000000000000099\nTIKTOK_REDIRECT_URL=http://127.0.0.1:0/callback\n"
    )
    result = cli("authorize", "--sandbox-approve", code=2)
    assert "only exists in sandbox mode" in result.stderr


def test_show_secrets_is_refused_when_stdout_is_not_a_terminal(cli: Cli) -> None:
    cli("authorize", "--sandbox-approve")
    refused = cli("status", "--show-secrets", code=2)
    assert "only works when the output is a terminal" in refused.stderr
    assert refused.stdout == ""
    error = cli.json("--show-secrets", "refresh", code=2)["error"]
    assert isinstance(error, dict) and error["code"] == "usage"


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_on_a_terminal_secrets_can_be_shown_and_progress_updates_in_place(cli: Cli) -> None:
    # A subprocess: what is tested is a real terminal (a pty) as the process's stdout and stderr.
    import pty

    master, slave = pty.openpty()
    process = subprocess.Popen(
        cli_command(cli.env_file, "authorize", "--sandbox-approve", "--show-secrets"),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        cwd=cli.env_file.parent,
        env=cli_environment(),
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert process.wait(timeout=30) == 0
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    screen = b"".join(chunks).decode("utf-8", "replace")
    saved = saved_values(cli.env_file)
    assert saved["TIKTOK_ACCESS_TOKEN"] in screen  # shown on request, on a terminal
    assert saved["TIKTOK_REFRESH_TOKEN"] in screen
    assert "\r\x1b[KWaiting for the browser's redirect" in screen  # updated in place
    # This run showed secrets on purpose: keep it out of the no-secret check of the other outputs.
    cli.secrets.clear()
    cli.secrets.add("\x00never")


# --- doctor ----------------------------------------------------------------------------------------


def test_doctor_passes_in_the_sandbox(cli: Cli) -> None:
    result = cli("doctor")
    assert "PASS  token host" in result.stdout
    assert "PASS  clock" in result.stdout
    assert "WARN  tokens" in result.stdout  # not authorized yet: a warning, not a failure
    assert "All checks passed (1 warning)." in result.stdout
    data = cli.json("doctor")
    assert data["ok"] is True
    statuses = {c["name"]: c["status"] for c in data["checks"]}
    assert statuses["API2Cart host"] == PASS and statuses["settings"] == PASS


def test_doctor_fails_on_a_broken_setting_and_says_what_to_fix(cli: Cli) -> None:
    cli.env_file.write_text("TIKTOK_REGION=mars\n")
    result = cli("doctor", code=1)
    assert "FAIL  settings" in result.stdout
    assert "fix: correct TIKTOK_REGION" in result.stdout
    assert "1 check failed" in result.stdout


def test_doctor_fails_when_the_hosts_do_not_answer(cli: Cli) -> None:
    cli.env_file.write_text(
        "TIKTOK_MODE=live\nTIKTOK_APP_KEY=abcd1234efgh5\nTIKTOK_APP_SECRET=0123456789abcdef0123456789abcdef01234567\n"
        "TIKTOK_SERVICE_ID=7000000000000000099\nTIKTOK_REDIRECT_URL=http://127.0.0.1:0/callback\n"
        "TIKTOK_AUTH_BASE_URL=http://127.0.0.1:9\nTIKTOK_OPEN_API_BASE_URL=http://127.0.0.1:9\n"
        "API2CART_BASE_URL=http://127.0.0.1:9/v1.1\nAPI2CART_API_KEY=a2c_key_0000000000000000\n"
    )
    data = cli.json("doctor", "--timeout", "3", code=1)
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["token host"]["status"] == FAIL
    assert "TIKTOK_AUTH_BASE_URL" in checks["token host"]["fix"]
    assert checks["clock"]["status"] == SKIP


def test_doctor_fails_on_an_expired_access_token(cli: Cli) -> None:
    cli("authorize", "--sandbox-approve")
    past = datetime.now(timezone.utc) - timedelta(hours=2)
    soon = datetime.now(timezone.utc) + timedelta(hours=5)
    set_expiries(cli.env_file, access=past, refresh=soon)
    result = cli("doctor", code=1)
    assert re.search(r"FAIL  access token of Sandbox UK Store +expired", result.stdout), result.stdout
    assert "less than a day left" in result.stdout
    assert "authorize the app again" in result.stdout


def test_clock_check_thresholds() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)

    def at(offset: float) -> str:
        moment = now + timedelta(seconds=offset)
        return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")

    # TikTok's window is asymmetric: 5 minutes behind its clock, 30 seconds ahead (Partner Center docs).
    assert clock_check(Probe("u", 200, at(0), now)).status == PASS
    assert clock_check(Probe("u", 200, at(45), now)).status == PASS  # 45 s behind
    assert clock_check(Probe("u", 200, at(200), now)).status == WARN  # 200 s behind: within 300
    failed = clock_check(Probe("u", 200, at(400), now))
    assert failed.status == FAIL and "NTP" in failed.fix and "400 s behind" in failed.detail
    assert clock_check(Probe("u", 200, at(-10), now)).status == PASS  # 10 s ahead
    assert clock_check(Probe("u", 200, at(-20), now)).status == WARN  # 20 s ahead: near the 30 s limit
    ahead = clock_check(Probe("u", 200, at(-60), now))  # a minute ahead: TikTok already refuses it
    assert ahead.status == FAIL and "60 s ahead of" in ahead.detail and "30 s" in ahead.detail
    assert clock_check(Probe("u", 404, None, now)).status == WARN
    assert clock_check(Probe("u", error="refused")).status == SKIP


# --- the sandbox, help, exit codes -----------------------------------------------------------------


def test_sandbox_command_serves_and_prints_its_url(tmp_path: Path) -> None:
    # A subprocess: what is tested is the sandbox server process and its clean stop on SIGTERM.
    process = subprocess.Popen(
        [sys.executable, "-m", "tiktok_helpers", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=cli_environment(),
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert re.fullmatch(r"TikTok Shop sandbox running at http://127\.0\.0\.1:\d+\n", first), first
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "Sandbox stopped." in out


@pytest.mark.parametrize(
    "command",
    [
        (),
        ("authorize",),
        ("exchange",),
        ("refresh",),
        ("shops",),
        ("status",),
        ("api2cart",),
        ("api2cart", "add"),
        ("api2cart", "list"),
        ("sandbox",),
        ("doctor",),
    ],
)
def test_every_command_has_help_with_an_example(command: tuple[str, ...], tmp_path: Path) -> None:
    result = run_cli(*command, "--help", cwd=tmp_path, code=0)
    assert "example:\n  python -m tiktok_helpers " + " ".join(command) in result.stdout
    if command == ("sandbox",):
        from tiktok_helpers.sandbox.command import build_parser

        for action in build_parser()._actions:
            for option in action.option_strings:
                assert option in result.stdout  # the same options as python -m tiktok_helpers.sandbox


def run_process(command: list[str], *args: str, cwd: Path, code: int, **env: str) -> subprocess.CompletedProcess[str]:
    """``command ARGS`` as a process of its own (an environment without TIKTOK_*/API2CART_*, plus ``env``)."""
    done = subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        input="",
        cwd=cwd,
        env={**cli_environment(), **env},
        timeout=60,
    )
    assert done.returncode == code, (shlex.join(args), done.returncode, done.stderr[-2000:])
    return done


def test_python_dash_m_runs_on_the_process_streams_and_environment(tmp_path: Path) -> None:
    # A subprocess: what is tested is `python -m tiktok_helpers` itself, on the process's own argv,
    # streams (a pipe is not a terminal) and environment.
    command = [sys.executable, "-m", "tiktok_helpers"]
    helped = run_process(command, "--help", cwd=tmp_path, code=0)
    assert "example:\n  python -m tiktok_helpers authorize --open" in helped.stdout
    chosen = str(tmp_path / "chosen.env")
    status = json.loads(run_process(command, "status", "--json", cwd=tmp_path, code=0, TIKTOK_ENV_FILE=chosen).stdout)
    assert status["env_file"] == chosen
    refused = run_process(command, "status", "--show-secrets", cwd=tmp_path, code=2)
    assert "only works when the output is a terminal" in refused.stderr and refused.stdout == ""


def test_the_console_script_is_the_same_command_line(tmp_path: Path) -> None:
    # A subprocess: what is tested is the installed `tiktok-runbook` script and the name it goes by.
    script = Path(sys.executable).with_name("tiktok-runbook")
    if not script.is_file():
        pytest.skip("the package is not installed here (pip install -e .): no tiktok-runbook script")
    shown = run_process([str(script)], "--help", cwd=tmp_path, code=0).stdout
    assert "usage: tiktok-runbook " in shown and "example:\n  tiktok-runbook authorize --open" in shown


def test_exit_code_mapping() -> None:
    assert exit_code_for(UsageError("x")) == 2
    assert exit_code_for(ValidationError([])) == 2
    assert exit_code_for(MissingSettingError("x")) == 2
    assert exit_code_for(InvalidRedirect("x")) == 2
    assert exit_code_for(MissingAuthCode("x")) == 2
    assert exit_code_for(AuthorizationDenied("access_denied")) == 1
    assert exit_code_for(RedirectTimeout("x")) == 1
    assert exit_code_for(StateMismatch("x")) == 1
    assert exit_code_for(ServiceUnreachable("x")) == 1
    assert exit_code_for(InvalidAuthCode(36004004, "invalid auth code")) == 1
    assert exit_code_for(Api2CartError(10, "bad")) == 1


def _status(state: CatcherState, left: float, ignored: int = 0) -> CatcherStatus:
    return CatcherStatus(state, left, ignored, "", "http://127.0.0.1:1/callback")


def test_progress_without_a_terminal_is_one_line_per_ten_seconds() -> None:
    stream = io.StringIO()
    now = [0.0]
    progress = CatcherProgress(stream, clock=lambda: now[0], tty=False)
    progress(_status(CatcherState.WAITING, 300))  # before arm(): dropped
    progress.arm()
    for second in range(25):
        now[0] = float(second)
        progress(_status(CatcherState.WAITING, 300 - second, ignored=1 if second > 15 else 0))
    progress(_status(CatcherState.RECEIVED, 0))
    progress(_status(CatcherState.STOPPED, 0))
    lines = stream.getvalue().splitlines()
    assert lines == [
        "Waiting for the browser's redirect on http://127.0.0.1:1/callback: 5:00 left",
        "Waiting for the browser's redirect on http://127.0.0.1:1/callback: 4:50 left",
        "Waiting for the browser's redirect on http://127.0.0.1:1/callback: 4:40 left (1 unrelated request ignored)",
        "Redirect received.",
    ]


def test_progress_on_a_terminal_updates_one_line() -> None:
    stream = io.StringIO()
    progress = CatcherProgress(stream, tty=True)
    progress.arm()
    progress(_status(CatcherState.WAITING, 61))
    progress(_status(CatcherState.WAITING, 60))
    progress(_status(CatcherState.TIMED_OUT, 0))
    progress.close()
    assert stream.getvalue() == (
        "\r\x1b[KWaiting for the browser's redirect on http://127.0.0.1:1/callback: 1:01 left"
        "\r\x1b[KWaiting for the browser's redirect on http://127.0.0.1:1/callback: 1:00 left"
        "\r\x1b[KTimed out: no redirect arrived.\n"
    )
