"""display.py: one row builder per object; the CLI's text, its JSON and the notebook tables agree."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tiktok_helpers.api2cart import Api2CartStore
from tiktok_helpers.cli import Output
from tiktok_helpers.display import (
    check_rows,
    checks_table,
    doctor_json,
    doctor_text,
    expiry,
    settings_table,
    shop_rows,
    shops_table,
    span,
    status_rows,
    store_rows,
    stores_table,
    token_rows,
    tokens_table,
    when,
)
from tiktok_helpers.doctor import FAIL, PASS, WARN, Check, DoctorReport
from tiktok_helpers.openapi import Shop
from tiktok_helpers.regions import UserType
from tiktok_helpers.secret import Secret
from tiktok_helpers.settings import Mode, Settings
from tiktok_helpers.status import status_of
from tiktok_helpers.store_url import StoreUrl
from tiktok_helpers.tokens import RECOMMENDED_SCOPES, TokenSet

from .saved import seller_grant

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)
ACCESS = "TTP_access_token_value_00001"
REFRESH = "TTP_refresh_token_value_0001"
STORE_KEY = "store_key_value_0000000000001"
APP_SECRET = "0123456789abcdef0123456789abcdef01234567"

TOKENS = TokenSet(
    access_token=Secret(ACCESS),
    access_token_expires_at=NOW + timedelta(days=7),
    refresh_token=Secret(REFRESH),
    refresh_token_expires_at=NOW + timedelta(days=365),
    open_id="7010736057180320000",
    seller_name="Sandbox UK Store",
    seller_base_region="GB",
    user_type=UserType.SELLER,
    granted_scopes=RECOMMENDED_SCOPES[:-1],
    request_id="req-1",
)
SETTINGS = Settings(
    mode=Mode.LIVE,
    app_key="abcd1234efgh5",
    app_secret=Secret(APP_SECRET),
    env_path=Path("/project/.env"),
)
#: The seller worked on: their tokens and store key are on their grant, not in the settings.
GRANT = seller_grant(
    access_token=Secret(ACCESS),
    access_token_expires_at=NOW - timedelta(hours=2),
    refresh_token=Secret(REFRESH),
    refresh_token_expires_at=NOW + timedelta(days=300),
    api2cart_store_key=Secret(STORE_KEY),
    mode="live",
    app_key="abcd1234efgh5",
)


def output(*, reveal: bool = False) -> Output:
    return Output(json=False, show_secrets=reveal, prog="prog", stdout=io.StringIO(), stderr=io.StringIO())


def test_expiry_text_is_written_once() -> None:
    later = NOW + timedelta(days=7)
    assert expiry(later, NOW) == f"expires {when(later, NOW)}"
    assert when(later, NOW).endswith("(in 7 days)")
    assert expiry(NOW - timedelta(hours=2), NOW).startswith("expired ")
    assert expiry(NOW - timedelta(hours=2), NOW).endswith("(2 hours ago)")
    assert expiry(None) == "expiry unknown"


def test_durations_are_shown_in_their_largest_whole_unit() -> None:
    assert span(timedelta(minutes=30)) == "30 minutes"
    assert span(timedelta(days=7)) == "7 days"
    assert span(timedelta(days=1)) == "1 day"
    assert span(timedelta(seconds=90)) == "90 seconds"


def test_tokens_cli_text_json_and_notebook_table_show_the_same_rows() -> None:
    rows = token_rows(TOKENS, now=NOW)
    table = tokens_table(TOKENS, now=NOW)
    assert [tuple(r) for r in table.rows] == rows.pairs()
    data, text = output().tokens(TOKENS, NOW)
    for label, value in rows.pairs():
        assert any(line.startswith(label) and line.rstrip().endswith(value) for line in text.splitlines()), label
    assert set(data) == {
        "seller_name",
        "seller_base_region",
        "user_type",
        "open_id",
        "access_token",
        "refresh_token",
        "granted_scopes",
        "missing_recommended_scopes",
        "request_id",
    }
    assert data["missing_recommended_scopes"] == [RECOMMENDED_SCOPES[-1]]
    assert "MISSING recommended" in text
    assert data["access_token"]["value"] == dict(rows.pairs())["access token"]


def test_tokens_are_masked_unless_revealed() -> None:
    for shown in (str(tokens_table(TOKENS)), token_rows(TOKENS).text(), repr(token_rows(TOKENS).as_json())):
        assert ACCESS not in shown and REFRESH not in shown
    revealed = token_rows(TOKENS, reveal=True)
    assert ACCESS in revealed.text() and revealed.as_json()["refresh_token"]["value"] == REFRESH
    data, text = output(reveal=True).tokens(TOKENS)
    assert ACCESS in text and data["access_token"]["value"] == ACCESS


def test_status_rows_mask_secrets_and_name_the_next_command() -> None:
    status = status_of(SETTINGS, GRANT, NOW)
    rows = status_rows(status, prog="prog")
    shown = rows.text() + repr(rows.as_json()) + str(settings_table(SETTINGS, NOW))
    for secret in (ACCESS, REFRESH, STORE_KEY, APP_SECRET):
        assert secret not in shown
    pairs = dict(rows.pairs())
    assert pairs["access token"].startswith("TTP_…") and ", expired " in pairs["access token"]
    data = rows.as_json()
    assert data["next_step"] == "refresh the access token: `prog refresh`"
    assert data["next_command"] == "refresh"
    assert data["access_token"]["seconds_left"] == -7200
    assert data["auth_code"] == {"set": False, "value": None, "expires_at": None, "seconds_left": None}
    assert data["hosts"]["token"].startswith("https://")
    revealed = status_rows(status, reveal=True)
    assert APP_SECRET in revealed.text() and revealed.as_json()["api2cart_store_key"] == STORE_KEY
    assert pairs["seller"] == GRANT.label and data["seller_name"] == GRANT.label


def test_status_rows_before_any_seller_has_authorized() -> None:
    data = status_rows(status_of(SETTINGS, None, NOW), prog="prog").as_json()
    assert data["seller_name"] is None and data["api2cart_store_key"] is None
    assert data["access_token"] == {"set": False, "value": None, "expires_at": None, "seconds_left": None}
    assert data["next_step"] == "authorize the app: `prog authorize`"


def test_the_notebook_settings_table_is_the_brief_form_of_the_status_rows() -> None:
    status = status_of(SETTINGS, GRANT, NOW)
    full = dict(status_rows(status).pairs())
    brief = status_rows(status, brief=True)
    table = settings_table(SETTINGS, NOW)
    assert [tuple(r) for r in table.rows] == brief.pairs()
    assert table.headers == ("setting", "value")
    assert [label for label, _ in brief.pairs()] == [
        "mode",
        "region",
        "app type",
        "authorization type",
        "App Key",
        "App Secret",
        "service_id",
        "redirect URL",
        "API2Cart API key",
        ".env file",
    ]
    for label, value in brief.pairs():
        if label not in ("mode", ".env file"):
            assert full[label] == value, label
    # The app's settings only: a seller's tokens and store key are shown with the seller (status rows).
    for seller_row in ("seller", "access token", "refresh token", "shop cipher", "API2Cart store key"):
        assert seller_row in full and seller_row not in dict(brief.pairs()), seller_row
    shown = str(table)
    for secret in (ACCESS, REFRESH, STORE_KEY, APP_SECRET, str(Secret(ACCESS)), str(Secret(STORE_KEY))):
        assert secret not in shown


def test_status_rows_say_where_the_grants_are_kept_never_with_the_password() -> None:
    rows = status_rows(status_of(SETTINGS, GRANT, NOW))
    assert dict(rows.pairs())["grant store"] == "SQLite file /project/.env.grants.db"
    assert rows.as_json()["grant_store"] == {"kind": "sqlite", "location": "/project/.env.grants.db"}
    password = "pg-Pa55w0rd/with@odd%chars"
    url = StoreUrl.parse("postgresql://runbook:pg-Pa55w0rd%2Fwith%40odd%25chars@db.example.com/grants")
    shared = Settings(mode=Mode.LIVE, env_path=Path("/project/.env"), grants_url=url)
    masked = "postgresql://runbook:****@db.example.com/grants"
    for reveal in (False, True):  # --show-secrets reveals a seller's tokens, never the database password
        rows = status_rows(status_of(shared, GRANT, NOW), reveal=reveal)
        assert dict(rows.pairs())["grant store"] == f"PostgreSQL database {masked}"
        assert rows.as_json()["grant_store"] == {"kind": "postgresql", "location": masked}
        shown = rows.text() + repr(rows.as_json()) + str(settings_table(shared, NOW))
        assert password not in shown and "Pa55w0rd" not in shown
    assert [label for label, _ in rows.pairs()][:4] == ["settings file", "mode", "requests go to", "grant store"]


def test_shops_rows() -> None:
    shop = Shop(id="1", name="UK", region="GB", seller_type="LOCAL", cipher="ROW_x", code="GB1")
    records = shop_rows([shop])
    assert records.as_json() == [
        {"name": "UK", "id": "1", "region": "GB", "seller_type": "LOCAL", "code": "GB1", "cipher": "ROW_x"}
    ]
    assert shops_table([shop]) == records.table()
    assert records.table().headers == ("shop", "id", "region", "seller type", "code", "cipher")


def test_store_rows_mask_the_store_key_unless_revealed() -> None:
    store = Api2CartStore(id="7", url="", store_key=Secret(STORE_KEY), cart_id="TikTokShop", custom_label="Mine")
    records = store_rows([store])
    assert records.as_json() == [
        {"id": "7", "custom_label": "Mine", "cart_id": "TikTokShop", "url": "", "store_key": str(Secret(STORE_KEY))}
    ]
    assert stores_table([store]) == records.table()
    assert records.table().rows == (("Mine", "TikTokShop", "(none)", str(Secret(STORE_KEY))),)
    assert STORE_KEY not in str(records.table())
    assert store_rows([store], reveal=True).as_json()[0]["store_key"] == STORE_KEY
    assert len(store_rows([])) == 0


def test_checks_render_the_fix_with_its_command() -> None:
    report = DoctorReport(
        (
            Check("settings", PASS, "valid"),
            Check("access token", FAIL, "expired", "refresh it", "refresh"),
            Check("app settings", WARN, "no key", "set API2CART_API_KEY"),
        ),
        Path("/project/.env"),
        Mode.SANDBOX,
    )
    text = doctor_text(report, prog="prog")
    assert "  FAIL  access token  expired" in text
    assert "fix: refresh it: `prog refresh`" in text
    assert "fix: set API2CART_API_KEY" in text
    assert text.endswith("1 check failed: fix it as shown above.")
    data = doctor_json(report, prog="prog")
    assert data["ok"] is False and data["mode"] == "sandbox"
    assert data["checks"][1] == {
        "status": "fail",
        "name": "access token",
        "detail": "expired",
        "fix": "refresh it: `prog refresh`",
        "command": "refresh",
    }
    notebook = checks_table(report)  # no program to name: the fix alone
    assert notebook.rows[1] == ("FAIL", "access token", "expired", "refresh it")
    assert notebook.rows[0][3] == ""
    assert check_rows(report.checks).table() == notebook
