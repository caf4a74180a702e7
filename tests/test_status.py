"""status.py: where a project stands, and the one next step for each situation."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tiktok_helpers.errors import InvalidAuthCode, ServiceUnreachable
from tiktok_helpers.protocol import AUTH_CODE_LIFETIME
from tiktok_helpers.secret import Secret
from tiktok_helpers.settings import Mode, Settings
from tiktok_helpers.status import (
    GrantStoreLocation,
    Hosts,
    NextStep,
    exchange_retry,
    grant_store_of,
    load_status,
    next_step,
    status_of,
)
from tiktok_helpers.store_url import StoreUrl

from .saved import seller_grant

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def settings(**changes: object) -> Settings:
    base = Settings(mode=Mode.SANDBOX, app_key="sbxappkey0001", env_path=Path("/project/.env"))
    return replace(base, **changes)  # type: ignore[arg-type]


AUTHORIZED = {
    "access_token": Secret("TTP_access_0000000000000001"),
    "access_token_expires_at": NOW + 5 * DAY,
    "refresh_token": Secret("TTP_refresh_000000000000001"),
    "refresh_token_expires_at": NOW + 300 * DAY,
}
CODE = {"auth_code": Secret("TTP_code_0000000000000001")}


@pytest.mark.parametrize(
    ("changes", "seller", "expected"),
    [
        ({}, None, NextStep("authorize the app", "authorize")),
        (
            {**CODE, "auth_code_received_at": NOW - timedelta(minutes=5)},
            None,
            NextStep("exchange the saved auth code", "exchange"),
        ),
        (
            {**CODE, "auth_code_received_at": NOW - timedelta(hours=1)},
            None,
            NextStep("the saved auth code has expired: authorize the app again", "authorize"),
        ),
        (
            {"pending_import": ("TIKTOK_REFRESH_TOKEN",)},
            None,
            NextStep("import the single seller's tokens that .env still holds", "sellers import-env"),
        ),
        (
            {},
            {**AUTHORIZED, "refresh_token_expires_at": NOW - DAY},
            NextStep("the authorization has ended: authorize again", "authorize"),
        ),
        ({}, {**AUTHORIZED, "access_token_expires_at": NOW - DAY}, NextStep("refresh the access token", "refresh")),
        ({}, {**AUTHORIZED, "access_token": Secret("")}, NextStep("refresh the access token", "refresh")),
        ({}, AUTHORIZED, NextStep("add the store to API2Cart", "api2cart add")),
        (
            {},
            {**AUTHORIZED, "api2cart_store_key": Secret("store_key_000000000000001")},
            NextStep("all set; refresh the access token at least every 7 days", "refresh"),
        ),
    ],
)
def test_next_step_for_each_situation(
    changes: dict[str, object], seller: dict[str, object] | None, expected: NextStep
) -> None:
    grant = seller_grant(**seller) if seller is not None else None
    assert next_step(settings(**changes), grant, NOW) == expected
    assert status_of(settings(**changes), grant, NOW).next_step == expected


def test_the_waiting_code_expires_after_its_lifetime() -> None:
    received = NOW - timedelta(minutes=3)
    status = status_of(settings(**CODE, auth_code_received_at=received), None, NOW)
    assert status.auth_code_expires_at == received + AUTH_CODE_LIFETIME
    assert status_of(settings(auth_code_received_at=received), None, NOW).auth_code_expires_at is None  # no code


def test_where_requests_go_in_each_mode() -> None:
    idle = status_of(settings(), None, NOW)
    assert idle.hosts == Hosts()
    assert "in-process sandbox" in idle.where and str(Path("/project/.sandbox")) in idle.where
    running = status_of(settings(sandbox_url="http://127.0.0.1:8770"), None, NOW)
    assert running.hosts.token == "http://127.0.0.1:8770"
    assert running.where == "the sandbox at http://127.0.0.1:8770"
    live = status_of(settings(mode=Mode.LIVE), None, NOW)
    assert live.hosts.token and live.hosts.token.startswith("https://")
    assert live.where.startswith("TikTok at https://")
    assert live.mode is Mode.LIVE and live.env_path == Path("/project/.env") and not live.sample_app


def test_where_the_grants_are_kept_sqlite_by_default_else_the_masked_url() -> None:
    sqlite = status_of(settings(), None, NOW).grant_store
    assert sqlite == GrantStoreLocation("sqlite", "/project/.env.grants.db")
    assert sqlite.text == "SQLite file /project/.env.grants.db"
    url = StoreUrl.parse("postgresql://runbook:hunter2-hunter2@db.example.com/grants?sslmode=verify-full")
    shared = grant_store_of(settings(grants_url=url))
    assert shared.kind == "postgresql"
    assert shared.text == "PostgreSQL database postgresql://runbook:****@db.example.com/grants?sslmode=verify-full"
    assert status_of(settings(grants_url=url, mode=Mode.LIVE), None, NOW).grant_store == shared
    assert "hunter2" not in repr(status_of(settings(grants_url=url), None, NOW))


def test_load_status_reads_the_env_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("TIKTOK_REGION=us\n")
    status = load_status(env, environ={})
    assert status.settings.region.value == "us"
    assert status.env_path == env
    assert status.next_step.command == "authorize"
    assert status.grant_store == GrantStoreLocation("sqlite", f"{env.resolve()}.grants.db")


def test_exchange_retry_only_when_the_code_is_still_worth_trying() -> None:
    waiting = settings(auth_code=Secret("TTP_code_0000000000000001"))
    retry = exchange_retry(waiting, ServiceUnreachable("no answer"))
    assert retry is not None and retry.command == "exchange" and "stays saved in .env" in retry.text
    assert exchange_retry(waiting, InvalidAuthCode(36004004, "invalid")) is None  # TikTok refused the code
    assert exchange_retry(settings(), ServiceUnreachable("no answer")) is None  # no code saved
