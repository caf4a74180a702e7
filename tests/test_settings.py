"""Settings: .env round trip, mode resolution, validation before writing."""

from __future__ import annotations

import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tiktok_helpers import samples
from tiktok_helpers.envfile import update_env
from tiktok_helpers.errors import MissingSettingError, ValidationError
from tiktok_helpers.regions import AuthType, Region
from tiktok_helpers.secret import Secret
from tiktok_helpers.settings import (
    PER_SELLER,
    SETTINGS,
    AppType,
    Mode,
    default_env_path,
    load_settings,
    save_settings,
)
from tiktok_helpers.store import RunbookStore
from tiktok_helpers.store_url import StoreUrl

from .conftest import PROJECT_ROOT

KEY = "6abcd1234efgh"
SECRET = "0123456789abcdef0123456789abcdef01234567"
SERVICE_ID = "7312345678901234567"

EXISTING = """# My project settings
OTHER_TOOL_TOKEN=keep-me   # inline comment

export SOMETHING_ELSE="with spaces and # hash"
TIKTOK_REGION=us
# trailing comment
"""


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_no_env_file_means_sandbox_with_the_sample_app(env_file: Path) -> None:
    settings = load_settings(env_file, environ={})
    assert settings.mode is Mode.SANDBOX
    assert settings.using_sample_app
    assert settings.app_key == samples.SANDBOX_APP_KEY
    assert settings.app_secret.reveal() == samples.SANDBOX_APP_SECRET
    assert settings.service_id == samples.SANDBOX_SERVICE_ID
    assert settings.redirect_url == samples.SANDBOX_REDIRECT_URL
    assert settings.region is Region.GLOBAL
    assert settings.auth_type is AuthType.SELLER
    assert settings.app_type is AppType.CUSTOM


def test_credentials_switch_to_live(env_file: Path) -> None:
    save_settings({"TIKTOK_APP_KEY": KEY, "TIKTOK_APP_SECRET": SECRET}, env_file)
    settings = load_settings(env_file, environ={})
    assert settings.mode is Mode.LIVE
    assert not settings.using_sample_app
    assert settings.app_key == KEY
    assert settings.endpoints().token_base == "https://auth.tiktok-shops.com"


def test_explicit_mode_wins_over_credentials(env_file: Path) -> None:
    save_settings({"TIKTOK_APP_KEY": KEY, "TIKTOK_APP_SECRET": SECRET, "TIKTOK_MODE": "sandbox"}, env_file)
    settings = load_settings(env_file, environ={})
    assert settings.mode is Mode.SANDBOX
    assert settings.app_key == KEY  # configured values are kept, not replaced by samples
    assert not settings.using_sample_app


def test_sample_key_alone_does_not_mean_live(env_file: Path) -> None:
    save_settings(
        {"TIKTOK_APP_KEY": samples.SANDBOX_APP_KEY, "TIKTOK_APP_SECRET": samples.SANDBOX_APP_SECRET}, env_file
    )
    assert load_settings(env_file, environ={}).mode is Mode.SANDBOX


def test_process_environment_wins_over_the_file(env_file: Path) -> None:
    save_settings({"TIKTOK_REGION": "global"}, env_file)
    assert load_settings(env_file, environ={"TIKTOK_REGION": "us"}).region is Region.US
    assert load_settings(env_file, environ={}).region is Region.GLOBAL


def test_real_process_environment_is_read(env_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOK_AUTH_TYPE", "partner")
    assert load_settings(env_file).auth_type is AuthType.PARTNER


def test_save_keeps_other_lines_byte_for_byte_and_sets_0600(env_file: Path) -> None:
    env_file.write_text(EXISTING)
    env_file.chmod(0o644)
    save_settings({"TIKTOK_APP_KEY": KEY, "TIKTOK_REGION": "global"}, env_file)
    text = env_file.read_text()
    assert mode_of(env_file) == 0o600
    assert text.startswith("# My project settings\nOTHER_TOOL_TOKEN=keep-me   # inline comment\n\n")
    assert 'export SOMETHING_ELSE="with spaces and # hash"\n' in text
    assert "TIKTOK_REGION=global\n# trailing comment\n" in text  # replaced in place
    assert text.endswith(f"TIKTOK_APP_KEY={KEY}\n")  # new keys appended
    assert "TIKTOK_REGION=us" not in text


def test_save_then_load_round_trips_every_kind_of_value(env_file: Path) -> None:
    expires = datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc)
    save_settings(
        {
            "TIKTOK_MODE": "live",
            "TIKTOK_REGION": "us",
            "TIKTOK_APP_TYPE": "public",
            "TIKTOK_AUTH_TYPE": "creator",
            "TIKTOK_APP_KEY": KEY,
            "TIKTOK_APP_SECRET": Secret(SECRET),
            "TIKTOK_SERVICE_ID": SERVICE_ID,
            "TIKTOK_REDIRECT_URL": "https://example.com/callback?x=1&y=2",
            "TIKTOK_AUTH_CODE_RECEIVED_AT": expires.isoformat(),
            "TIKTOK_HTTP_TIMEOUT": "20",
            "TIKTOK_SELLER_AUTHORIZE_URL": "https://services.tiktokshops.us/open/authorize",
        },
        env_file,
    )
    s = load_settings(env_file, environ={})
    assert (s.mode, s.region, s.app_type, s.auth_type) == (Mode.LIVE, Region.US, AppType.PUBLIC, AuthType.CREATOR)
    assert s.app_secret.reveal() == SECRET
    assert s.redirect_url == "https://example.com/callback?x=1&y=2"
    assert s.auth_code_received_at == expires
    assert s.http_timeout == 20.0
    assert s.endpoints().seller_authorize == "https://services.tiktokshops.us/open/authorize"
    assert s.endpoints().partner_authorize == "https://partner.us.tiktokshop.com/open/authorize"


def test_a_sellers_values_are_not_settings_and_round_trip_into_their_grant(env_file: Path) -> None:
    expires = datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc)
    seller = {
        "TIKTOK_REFRESH_TOKEN": "TTP_refresh_token_value_0000000001",
        "TIKTOK_ACCESS_TOKEN_EXPIRES_AT": expires.isoformat(),
        "TIKTOK_SELLER_NAME": "Jane's Shop # 1",
    }
    with pytest.raises(ValidationError) as info:
        save_settings({"TIKTOK_REGION": "us", **seller}, env_file)
    assert set(info.value.fields) == set(seller) and "per seller" in str(info.value)
    assert not env_file.exists()  # nothing written, not even the valid setting
    update_env(env_file, seller)  # as a single-seller runbook from before the grant database wrote them
    store = RunbookStore(env_file, environ={})
    try:
        assert set(store.load().pending_import) == set(seller)
        done = store.import_legacy()
    finally:
        store.close()
    assert done.grant is not None and done.added
    assert done.grant.access_token_expires_at == expires
    assert done.grant.seller_name == "Jane's Shop # 1"
    assert not any(name in env_file.read_text() for name in PER_SELLER)


def test_validation_error_writes_nothing(env_file: Path) -> None:
    env_file.write_text(EXISTING)
    before = env_file.read_bytes()
    with pytest.raises(ValidationError) as info:
        save_settings({"TIKTOK_APP_KEY": KEY, "TIKTOK_APP_SECRET": "short", "TIKTOK_REGION": "mars"}, env_file)
    assert env_file.read_bytes() == before
    assert set(info.value.fields) == {"TIKTOK_APP_SECRET", "TIKTOK_REGION"}
    assert "mars" in str(info.value)
    assert list(env_file.parent.iterdir()) == [env_file]  # no temporary file left behind


def test_validation_error_does_not_create_the_file(env_file: Path) -> None:
    with pytest.raises(ValidationError):
        save_settings({"TIKTOK_SERVICE_ID": "abc"}, env_file)
    assert not env_file.exists()


def test_secret_never_appears_in_a_validation_message(env_file: Path) -> None:
    bad_secret = "zz" + SECRET  # 42 chars, fine; make it bad by adding a space inside
    with pytest.raises(ValidationError) as info:
        save_settings({"TIKTOK_APP_SECRET": bad_secret[:20] + " " + bad_secret[20:]}, env_file)
    assert bad_secret[:20] not in str(info.value)


def test_same_key_and_secret_is_rejected(env_file: Path) -> None:
    value = "a" * 20
    with pytest.raises(ValidationError, match="same as the App Key"):
        save_settings({"TIKTOK_APP_KEY": value[:20], "TIKTOK_APP_SECRET": value}, env_file)


def test_unknown_setting_is_rejected(env_file: Path) -> None:
    with pytest.raises(ValidationError, match="not a setting"):
        save_settings({"TIKTOK_APPKEY": KEY}, env_file)


def test_none_removes_a_key(env_file: Path) -> None:
    save_settings({"TIKTOK_REGION": "us", "TIKTOK_APP_TYPE": "public"}, env_file)
    save_settings({"TIKTOK_REGION": None}, env_file)
    assert "TIKTOK_REGION" not in env_file.read_text()
    assert "TIKTOK_APP_TYPE=public" in env_file.read_text()


def test_values_are_trimmed_before_saving(env_file: Path) -> None:
    cleaned = save_settings({"TIKTOK_APP_KEY": f'  "{KEY}"\n', "TIKTOK_REGION": " US "}, env_file)
    assert cleaned == {"TIKTOK_APP_KEY": KEY, "TIKTOK_REGION": "us"}
    assert f"TIKTOK_APP_KEY={KEY}\n" in env_file.read_text()


def test_a_bad_value_already_in_the_file_is_reported_on_load(env_file: Path) -> None:
    env_file.write_text("TIKTOK_REGION=mars\nTIKTOK_MODE=maybe\n")
    with pytest.raises(ValidationError) as info:
        load_settings(env_file, environ={})
    assert set(info.value.fields) == {"TIKTOK_REGION", "TIKTOK_MODE"}


def test_settings_repr_masks_secrets(env_file: Path) -> None:
    save_settings({"TIKTOK_APP_KEY": KEY, "TIKTOK_APP_SECRET": SECRET, "API2CART_API_KEY": "a2c_" + "k" * 30}, env_file)
    with env_file.open("a") as f:  # a seller's token in an older .env is not a setting: not read into them
        f.write("TIKTOK_REFRESH_TOKEN=TTP_" + "r" * 30 + "\n")
    shown = repr(load_settings(env_file, environ={}))
    assert SECRET not in shown
    assert "r" * 30 not in shown
    assert "k" * 30 not in shown
    assert KEY in shown  # the App Key is not a secret


#: A grant store URL whose password holds characters a URL must percent-encode (@ / # and %).
DB_PASSWORD = "Pg@pass/wo#rd%1"
DB_URL = "postgresql://runbook:Pg%40pass%2Fwo#rd%251@db.example.com:5432/grants?sslmode=verify-full"
DB_MASKED = "postgresql://runbook:****@db.example.com:5432/grants?sslmode=verify-full"


def test_no_grants_url_means_the_sqlite_file(env_file: Path) -> None:
    assert load_settings(env_file, environ={}).grants_url is None
    assert load_settings(env_file, environ={"TIKTOK_GRANTS_URL": "  "}).grants_url is None


def test_the_grants_url_is_read_from_env_or_the_environment_and_saved_as_given(env_file: Path) -> None:
    assert save_settings({"TIKTOK_GRANTS_URL": f" '{DB_URL}' "}, env_file) == {"TIKTOK_GRANTS_URL": DB_URL}
    settings = load_settings(env_file, environ={})
    assert isinstance(settings.grants_url, StoreUrl) and settings.grants_url.reveal() == DB_URL
    assert settings.mode is Mode.SANDBOX  # the mode does not depend on where the grants are kept
    other = "postgresql://runbook@localhost/grants"
    from_environment = load_settings(env_file, environ={"TIKTOK_GRANTS_URL": other})
    assert from_environment.grants_url == StoreUrl.parse(other)
    live = load_settings(env_file, environ={"TIKTOK_APP_KEY": KEY, "TIKTOK_APP_SECRET": SECRET})
    assert live.mode is Mode.LIVE and live.grants_url == settings.grants_url


def test_settings_never_show_the_grant_store_password(env_file: Path) -> None:
    save_settings({"TIKTOK_GRANTS_URL": DB_URL}, env_file)
    settings = load_settings(env_file, environ={})
    for shown in (repr(settings), str(settings), f"{settings}", repr(settings.grants_url), str(settings.grants_url)):
        assert DB_PASSWORD not in shown and "Pg%40pass" not in shown and "wo#rd" not in shown
    assert f"grants_url=StoreUrl('{DB_MASKED}')" in repr(settings)
    assert SETTINGS["TIKTOK_GRANTS_URL"].secret


@pytest.mark.parametrize(
    "value",
    [
        "mysql://runbook:Pg-pass-word-1@db.example.com/grants",
        "sqlite:///grants.db",
        "host=db.example.com password=Pg-pass-word-1",
        "postgresql://runbook:Pg@pass-word-1@db.example.com/grants",
        "postgresql://runbook:Pg%zzpass-word-1@db.example.com/grants",
    ],
)
def test_a_bad_grants_url_is_refused_without_its_password_and_nothing_is_written(env_file: Path, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        save_settings({"TIKTOK_GRANTS_URL": value}, env_file)
    assert info.value.fields == ("TIKTOK_GRANTS_URL",)
    assert "pass-word" not in str(info.value) and not env_file.exists()
    env_file.write_text(f"TIKTOK_GRANTS_URL={value}\n")
    with pytest.raises(ValidationError) as info:
        load_settings(env_file, environ={})
    assert info.value.fields == ("TIKTOK_GRANTS_URL",) and "pass-word" not in str(info.value)


def test_sandbox_endpoints_need_a_sandbox_url(env_file: Path) -> None:
    settings = load_settings(env_file, environ={})
    with pytest.raises(MissingSettingError, match="sandbox"):
        settings.endpoints()
    ends = settings.with_sandbox("http://127.0.0.1:9999/").endpoints()
    assert ends.seller_authorize == "http://127.0.0.1:9999/open/authorize"
    assert ends.partner_authorize == "http://127.0.0.1:9999/partner/open/authorize"
    assert ends.token_base == ends.open_api_base == "http://127.0.0.1:9999"
    assert ends.api2cart_base == "http://127.0.0.1:9999/v1.1"


def test_require_names_every_missing_setting(env_file: Path) -> None:
    settings = load_settings(env_file, environ={})
    settings.require("TIKTOK_APP_KEY", "API2CART_API_KEY")
    with pytest.raises(MissingSettingError) as info:
        settings.require("TIKTOK_AUTH_CODE", "TIKTOK_SANDBOX_URL", "TIKTOK_APP_KEY")
    assert "TIKTOK_AUTH_CODE, TIKTOK_SANDBOX_URL" in str(info.value)
    assert "TIKTOK_APP_KEY" not in str(info.value)


def test_default_env_path_finds_the_project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env.example").write_text("")
    (tmp_path / "notebooks").mkdir()
    assert default_env_path(tmp_path / "notebooks") == tmp_path / ".env"
    monkeypatch.setenv("TIKTOK_ENV_FILE", str(tmp_path / "custom.env"))
    assert default_env_path(tmp_path / "notebooks") == tmp_path / "custom.env"


def test_env_example_documents_every_setting() -> None:
    example = (PROJECT_ROOT / ".env.example").read_text()
    for name in SETTINGS:
        assert f"{name}=" in example, f"{name} is missing from .env.example"
    for line in example.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            assert value.strip() == "", f".env.example must not carry a value for {key}"
