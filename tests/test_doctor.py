"""doctor.py: the checks are objects a notebook or the command line can render."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tiktok_helpers import doctor
from tiktok_helpers.doctor import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    Check,
    CheckStatus,
    DoctorReport,
    app_check,
    grant_store_check,
    run_checks,
    token_checks,
)
from tiktok_helpers.errors import GrantDatabaseError
from tiktok_helpers.grants import Grant
from tiktok_helpers.secret import Secret
from tiktok_helpers.settings import Mode, Settings, load_settings
from tiktok_helpers.store_url import StoreUrl

from .saved import seller_grant

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
LIVE_APP = (
    "TIKTOK_MODE=live\nTIKTOK_APP_KEY=abcd1234efgh5\nTIKTOK_APP_SECRET=0123456789abcdef0123456789abcdef01234567\n"
    "TIKTOK_SERVICE_ID=7000000000000000099\nTIKTOK_REDIRECT_URL=http://127.0.0.1:0/callback\n"
)


SANDBOX = Settings(mode=Mode.SANDBOX)


def tokens(access_left: timedelta, refresh_left: timedelta) -> Grant:
    """A seller's grant whose tokens end ``access_left`` and ``refresh_left`` after NOW."""
    return seller_grant(
        access_token=Secret("TTP_access_0000000000000001"),
        access_token_expires_at=NOW + access_left,
        refresh_token=Secret("TTP_refresh_000000000000001"),
        refresh_token_expires_at=NOW + refresh_left,
    )


#: The checks of a seller's tokens name the seller.
ACCESS = f"access token of {seller_grant().label}"
REFRESH = f"refresh token of {seller_grant().label}"


def by_name(checks: list[Check] | tuple[Check, ...]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_a_check_is_a_frozen_object_with_a_status() -> None:
    check = Check("clock", PASS, "fine")
    assert check.fix == "" and check.command is None
    assert CheckStatus("pass") is PASS and PASS.value == "pass"
    with pytest.raises(dataclasses.FrozenInstanceError):
        check.status = FAIL  # type: ignore[misc]


def test_an_expired_access_token_fails_with_a_fix_and_the_refresh_command() -> None:
    checks = by_name(token_checks(SANDBOX, tokens(-2 * timedelta(hours=1), 30 * DAY), NOW))
    access = checks[ACCESS]
    assert access.status is FAIL
    assert access.detail.startswith("expired ") and "ago)" in access.detail
    assert access.fix == "refresh it (it lasts 7 days)" and access.command == "refresh"
    assert "`" not in access.fix  # neutral: a front end adds its own syntax
    assert checks[REFRESH].status is PASS


def test_a_refresh_token_near_its_end_asks_to_authorize_again() -> None:
    checks = by_name(token_checks(SANDBOX, tokens(5 * DAY, timedelta(hours=5)), NOW))
    refresh = checks[REFRESH]
    assert refresh.status is FAIL and "less than a day left" in refresh.detail
    assert refresh.fix == "before it ends, the seller must authorize the app again"
    assert refresh.command == "authorize"
    # Refreshing cannot help once the refresh token is failing: the access token's fix is authorize too.
    assert checks[ACCESS].status is PASS

    ended = by_name(token_checks(SANDBOX, tokens(-DAY, -DAY), NOW))
    assert ended[ACCESS].command == "authorize"
    assert ended[ACCESS].fix == "the seller must authorize the app again"


def test_no_tokens_is_a_warning_that_says_authorize() -> None:
    (check,) = token_checks(SANDBOX, None, NOW)
    assert (check.name, check.status, check.command) == ("tokens", WARN, "authorize")


def test_tokens_waiting_in_an_older_env_are_a_warning_that_says_import() -> None:
    waiting = replace(SANDBOX, pending_import=("TIKTOK_REFRESH_TOKEN",), env_path=Path("/project/.env"))
    (check,) = token_checks(waiting, None, NOW)
    assert (check.name, check.status, check.command) == ("tokens", WARN, "sellers import-env")
    assert ".env still holds a single seller's tokens" in check.detail


def test_live_app_settings() -> None:
    missing = app_check(Settings(mode=Mode.LIVE, app_key="abcd1234efgh5"))
    assert missing.status is FAIL and "TIKTOK_APP_SECRET" in missing.detail and missing.command is None
    full = Settings(
        mode=Mode.LIVE,
        app_key="abcd1234efgh5",
        app_secret=Secret("0123456789abcdef0123456789abcdef01234567"),
        service_id="7000000000000000099",
        redirect_url="http://127.0.0.1:0/callback",
    )
    assert app_check(full).status is WARN  # no API2Cart key yet
    assert app_check(replace(full, api2cart_api_key=Secret("a2c_key_0000000000000000"))).status is PASS


def test_run_checks_in_the_sandbox(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("TIKTOK_REDIRECT_URL=http://127.0.0.1:0/callback\n")
    report = run_checks(env, environ={})
    assert isinstance(report, DoctorReport)
    assert report.ok and report.mode is Mode.SANDBOX and report.env_path == env
    statuses = {c.name: c.status for c in report.checks}
    assert statuses == {
        "settings": PASS,
        "app settings": PASS,
        "grant store": PASS,
        "token host": PASS,
        "Open API host": PASS,
        "API2Cart host": PASS,
        "clock": PASS,
        "tokens": WARN,
        "webhooks": SKIP,
    }
    assert report.warned == (by_name(report.checks)["tokens"],)
    assert by_name(report.checks)["grant store"].detail == f"SQLite file {env.resolve()}.grants.db"


def test_invalid_settings_fail_and_the_rest_is_skipped(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("TIKTOK_REGION=mars\n")
    report = run_checks(env, environ={})
    assert not report.ok and report.mode is None
    first, *rest = report.checks
    assert first.status is FAIL and "TIKTOK_REGION" in first.fix
    assert [(c.name, c.status) for c in rest] == [
        ("grant store", SKIP),
        ("hosts", SKIP),
        ("clock", SKIP),
        ("tokens", SKIP),
    ]


def test_unreachable_hosts_fail_with_what_to_check(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        LIVE_APP + "TIKTOK_AUTH_BASE_URL=http://127.0.0.1:9\nTIKTOK_OPEN_API_BASE_URL=http://127.0.0.1:9\n"
        "API2CART_BASE_URL=http://127.0.0.1:9/v1.1\nAPI2CART_API_KEY=a2c_key_0000000000000000\nTIKTOK_HTTP_TIMEOUT=3\n"
    )
    checks = by_name(run_checks(env, environ={}).checks)
    assert checks["token host"].status is FAIL and "TIKTOK_AUTH_BASE_URL" in checks["token host"].fix
    assert checks["clock"].status is SKIP


def test_a_sandbox_url_that_does_not_answer_names_the_sandbox_command(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("TIKTOK_SANDBOX_URL=http://127.0.0.1:9\nTIKTOK_HTTP_TIMEOUT=3\n")
    host = by_name(run_checks(env, environ={}).checks)["token host"]
    assert host.status is FAIL and host.command == "sandbox"
    assert host.fix == "start that sandbox or empty TIKTOK_SANDBOX_URL"


PASSWORD = "s3cret-Pa55word"


def store_check(url: str | None) -> Check:
    grants_url = StoreUrl.parse(url) if url is not None else None
    return grant_store_check(Settings(mode=Mode.LIVE, env_path=Path("/project/.env"), grants_url=grants_url))


def test_the_grant_store_check_names_the_sqlite_file_by_default() -> None:
    check = store_check(None)
    assert check.status is PASS and check.detail == "SQLite file /project/.env.grants.db"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://runbook:{PASSWORD}@localhost/grants",
        f"postgresql://runbook:{PASSWORD}@127.0.0.1:5433/grants",
        "postgresql:///grants?host=/var/run/postgresql",
        f"postgresql://runbook:{PASSWORD}@db.example.com/grants?sslmode=verify-full",
        f"postgresql://runbook:{PASSWORD}@db.example.com/grants?sslmode=require",
        "postgresql://db.example.com/grants?sslmode=verify-ca",
    ],
)
def test_a_local_or_encrypted_postgresql_store_passes_and_is_shown_masked(url: str) -> None:
    check = store_check(url)
    assert check.status is PASS and check.fix == ""
    assert check.detail.startswith("PostgreSQL database postgresql://")
    assert PASSWORD not in repr(check)
    if PASSWORD in url:
        assert "runbook:****@" in check.detail


def test_require_passes_but_says_the_certificate_is_not_checked() -> None:
    assert "certificate not checked" in store_check("postgresql://db.example.com/g?sslmode=require").detail
    assert "certificate and name checked" in store_check("postgresql://db.example.com/g?sslmode=verify-full").detail


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("", "sets no sslmode"),
        ("?sslmode=prefer", "sslmode=prefer does not insist on TLS"),
        ("?sslmode=allow", "sslmode=allow does not insist on TLS"),
        ("?sslmode=disable", "sslmode=disable turns TLS off"),
    ],
)
def test_a_remote_server_without_tls_warns_with_the_fix(query: str, why: str) -> None:
    check = store_check(f"postgresql://runbook:{PASSWORD}@db.example.com:5432/grants{query}")
    assert check.status is WARN and why in check.detail
    assert "the sellers' refresh tokens would cross the network without TLS" in check.detail
    assert check.fix.startswith("add sslmode=verify-full (or sslmode=require) to TIKTOK_GRANTS_URL")
    assert "certificate" in check.fix and check.command is None
    assert PASSWORD not in check.detail + check.fix and "runbook:****@db.example.com" in check.detail


def test_the_grant_store_check_reads_the_url_from_env_or_the_environment(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        f"TIKTOK_GRANTS_URL=postgresql://runbook:{PASSWORD}@db.example.com/grants\n"
        "TIKTOK_SANDBOX_URL=http://127.0.0.1:8765\n"  # a sandbox the folders share: see the test below
    )
    check = grant_store_check(load_settings(env, environ={}))
    assert check.status is WARN and PASSWORD not in repr(check)
    verified = "postgresql://runbook@db.example.com/grants?sslmode=verify-full"
    check = grant_store_check(load_settings(env, environ={"TIKTOK_GRANTS_URL": verified}))
    assert check.status is PASS and check.detail.startswith(f"PostgreSQL database {verified} ")


def test_when_the_store_cannot_be_opened_the_grant_store_check_still_says_where_and_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tmp_path / ".env"
    env.write_text(f"TIKTOK_GRANTS_URL=postgresql://runbook:{PASSWORD}@db.example.com/grants\n")

    def unreachable(*args: object, **kwargs: object) -> None:
        raise GrantDatabaseError("postgresql://runbook:****@db.example.com/grants", "could not connect")

    monkeypatch.setattr(doctor, "load_with_seller", unreachable)
    checks = by_name(run_checks(env, environ={}).checks)
    assert checks["settings"].status is FAIL and "could not connect" in checks["settings"].detail
    assert checks["grant store"].status is WARN and "without TLS" in checks["grant store"].detail
    assert checks["tokens"].status is SKIP


def test_folders_sharing_a_store_in_sandbox_mode_are_told_to_share_one_sandbox() -> None:
    url = StoreUrl.parse("postgresql://runbook@localhost/grants")
    own = grant_store_check(Settings(mode=Mode.SANDBOX, env_path=Path("/project/.env"), grants_url=url))
    assert own.status is WARN and "TIKTOK_SANDBOX_URL" in own.fix and "refused" in own.detail
    shared = Settings(mode=Mode.SANDBOX, env_path=Path("/project/.env"), grants_url=url,
                      sandbox_url="http://127.0.0.1:8765")  # fmt: skip
    assert grant_store_check(shared).status is PASS
