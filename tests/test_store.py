"""The persistence boundary: EnvStore saves a step's results once and answers the settings as they
now are, without re-reading and re-validating .env."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from tiktok_helpers import settings as settings_module
from tiktok_helpers.envfile import read_env
from tiktok_helpers.errors import ValidationError
from tiktok_helpers.grants import GrantScope
from tiktok_helpers.redirect import RedirectResult
from tiktok_helpers.secret import Secret
from tiktok_helpers.settings import load_settings
from tiktok_helpers.store import EnvStore, RunbookStore, scope_of
from tiktok_helpers.tokens import TokenSet

TOKENS = TokenSet.from_data(
    {
        "access_token": "TTP_access_aaaaaaaaaaaaaaaa",
        "access_token_expire_in": 1_900_000_000,
        "refresh_token": "TTP_refresh_bbbbbbbbbbbbbbb",
        "refresh_token_expire_in": 1_990_000_000,
        "seller_name": "Sandbox UK Store",
    }
)


def test_save_answers_the_new_settings_without_reading_the_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# mine\nTIKTOK_REGION=us\n")
    store = EnvStore(env, environ={})
    assert store.load().region.value == "us"
    with (
        mock.patch.object(settings_module, "read_env", side_effect=AssertionError("re-read")),
        mock.patch("tiktok_helpers.store.read_env", side_effect=AssertionError("re-read")),
    ):
        after = store.save({"TIKTOK_APP_TYPE": "public"})
    assert after.app_type.value == "public"
    assert after.region.value == "us"  # what was loaded is kept
    assert after == load_settings(env, environ={})  # and it is what a fresh load sees
    assert env.read_text().startswith("# mine\n")


def test_tokens_go_to_the_grant_database_and_the_code_stays_in_env_until_forgotten(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    store = RunbookStore(env, environ={})
    store.load()
    with_code = store.save_code(RedirectResult(Secret("TTP_code_cccccccccccc")))
    assert with_code.auth_code.reveal() == "TTP_code_cccccccccccc"
    assert with_code.auth_code_received_at is not None
    grant = store.save_tokens(TOKENS)
    assert grant.refresh_token == TOKENS.refresh_token
    assert (grant.mode, grant.app_key) == ("sandbox", "sbxappkey0001")  # the app and mode in use
    assert store.grants.scope == scope_of(with_code) == GrantScope("sandbox", "sbxappkey0001")
    assert "TIKTOK_REFRESH_TOKEN" not in read_env(env)  # tokens are not in .env any more
    after = store.forget_code()
    assert not after.auth_code and after.auth_code_received_at is None
    assert "TIKTOK_AUTH_CODE" not in read_env(env)
    assert store.grants.all() == [grant]


def test_the_environment_still_wins_after_a_save(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    store = EnvStore(env, environ={"TIKTOK_REGION": "us"})
    assert store.load().region.value == "us"
    after = store.save({"TIKTOK_REGION": "global", "TIKTOK_APP_TYPE": "public"})
    assert after.region.value == "us"  # as a fresh load with that environment would say
    assert after.app_type.value == "public"
    assert read_env(env)["TIKTOK_REGION"] == "global"


def test_a_bad_value_writes_nothing_and_changes_nothing_in_memory(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("TIKTOK_REGION=us\n")
    store = EnvStore(env, environ={})
    before = store.load()
    with pytest.raises(ValidationError):
        store.save({"TIKTOK_APP_TYPE": "public", "TIKTOK_REGION": "mars"})
    assert env.read_text() == "TIKTOK_REGION=us\n"
    assert store.save({}) == before
