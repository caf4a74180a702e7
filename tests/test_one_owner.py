"""One owner for every token (issue 20): a seller's tokens live only in their grant, of one app in
one mode.

* A token given only in the process environment is refused, never written: opening a session, and
  the ``status``/``sellers``/``doctor`` commands, say to unset it or to use ``sellers import-env``,
  and afterwards no file in the project's folder holds the value.
* A grant belongs to the mode and App Key it was issued for: the sandbox's sample seller is neither
  listed nor sent in live mode (requests go to respx, nothing leaves the machine), a live grant is
  not listed in sandbox mode, and ``sellers --json`` counts the others under ``other_apps_or_modes``.
* A seller's token is not a setting: a save that gives one is refused and ``.env`` is unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from tiktok_helpers import samples
from tiktok_helpers.cli import main
from tiktok_helpers.errors import MissingSettingError, SettingsError, ValidationError
from tiktok_helpers.grants import GrantScope
from tiktok_helpers.session import open_session
from tiktok_helpers.settings import PER_SELLER, Mode, clean_updates, save_settings
from tiktok_helpers.status import load_status
from tiktok_helpers.store import RunbookStore, sellers_of
from tiktok_helpers.tokens import TokenSet

from .cli_in_process import run_cli
from .saved import SANDBOX_SCOPE, grants, write_grant

LOOPBACK_ANY_PORT = "TIKTOK_REDIRECT_URL=http://127.0.0.1:0/callback\n"
FROM_ENVIRONMENT = "TTP_only_in_the_environment_0000000001"

# --- a token given only in the environment --------------------------------------------------------


def files_holding(folder: Path, value: str) -> list[str]:
    """Every file under ``folder`` whose bytes contain ``value``."""
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and value.encode() in p.read_bytes()]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A sandbox project where one seller has authorized: .env and the grant database exist."""
    env = tmp_path / ".env"
    env.write_text(LOOPBACK_ANY_PORT)
    with open_session(env, environ={}) as session:
        session.authorize(sandbox_decision="authorize", wait=20)
    return env


@pytest.mark.parametrize("name", ["TIKTOK_REFRESH_TOKEN", "TIKTOK_ACCESS_TOKEN"])
def test_a_token_only_in_the_environment_is_refused_and_never_reaches_a_file(
    project: Path, name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project.parent
    environ = {name: FROM_ENVIRONMENT}
    with pytest.raises(SettingsError, match="sellers import-env") as info:
        open_session(project, environ=environ)
    assert name in str(info.value) and FROM_ENVIRONMENT not in str(info.value)
    for load in (lambda: load_status(project, environ), lambda: sellers_of(project, environ)):
        with pytest.raises(SettingsError, match="sellers import-env"):
            load()
    with pytest.raises(SettingsError, match="sellers import-env"):
        RunbookStore(project, environ).load()
    commands = (["status"], ["sellers"], ["sellers", "--json"], ["sellers", "import-env"], ["doctor"])
    for command in commands:  # the command line given this environment (in process)
        given = run_cli(*command, env_file=project, environ=environ)
        assert given.returncode != 0, given.explain()
        assert "sellers import-env" in given.stdout + given.stderr, given.command
        assert FROM_ENVIRONMENT not in given.stdout + given.stderr, given.command

    monkeypatch.setenv(name, FROM_ENVIRONMENT)  # the real process environment, as a shell gives it
    with pytest.raises(SettingsError, match="sellers import-env"):
        open_session(project)
    run_cli("status", env_file=project, code=0)  # an environment given in process is the only one read
    capsys.readouterr()
    for command in commands:
        code = main(["--env-file", str(project), *command])  # no environ given: the process's own
        said = capsys.readouterr()
        assert code != 0, command
        assert "sellers import-env" in said.out + said.err, command
        assert FROM_ENVIRONMENT not in said.out + said.err, command
    assert files_holding(folder, FROM_ENVIRONMENT) == []
    [grant] = grants(project)  # the seller who authorized is untouched
    assert FROM_ENVIRONMENT not in (grant.access_token.reveal(), grant.refresh_token.reveal())


# --- a grant belongs to one app in one mode -------------------------------------------------------

LIVE_KEY = "abcd1234efgh5"
AUTH = "https://auth.live-mock.test"
OPEN_API = "https://open-api.live-mock.test"
API2CART = "https://api2cart.live-mock.test/v1.1"
LIVE = {
    "TIKTOK_MODE": "live",
    "TIKTOK_APP_KEY": LIVE_KEY,
    "TIKTOK_APP_SECRET": "0123456789abcdef0123456789abcdef01234567",
    "TIKTOK_SERVICE_ID": "7000000000000000099",
    "TIKTOK_AUTH_BASE_URL": AUTH,
    "TIKTOK_OPEN_API_BASE_URL": OPEN_API,
    "API2CART_BASE_URL": API2CART,
    "API2CART_API_KEY": "a2c_key_0000000000000000",
}
BACK_TO_SANDBOX: dict[str, str | None] = {**dict.fromkeys(LIVE), "TIKTOK_MODE": "sandbox"}
LIVE_SCOPE = GrantScope("live", LIVE_KEY)
LIVE_OPEN_ID = "7010736057180399999"


def live_tokens(n: int) -> dict[str, object]:
    return {
        "access_token": f"TTP_live_access_{n:020d}",
        "access_token_expire_in": 4_000_000_000 + n,
        "refresh_token": f"TTP_live_refresh_{n:020d}",
        "refresh_token_expire_in": 4_100_000_000 + n,
        "open_id": LIVE_OPEN_ID,
        "seller_name": "Live Shop",
        "seller_base_region": "GB",
        "user_type": 0,
        "granted_scopes": ["seller.authorization.info"],
    }


@pytest.fixture
def live_service() -> Iterator[respx.MockRouter]:
    """TikTok's live hosts as respx answers them; any other request is refused: nothing leaves."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        router.get(f"{AUTH}/api/v2/token/refresh").mock(
            return_value=httpx.Response(200, json={"code": 0, "message": "success", "data": live_tokens(2)})
        )
        shops = [{"id": "1", "name": "Live Shop GB", "region": "GB", "seller_type": "LOCAL", "cipher": "ROW_live",
                  "code": "GB1"}]  # fmt: skip
        router.get(f"{OPEN_API}/authorization/202309/shops").mock(
            return_value=httpx.Response(200, json={"code": 0, "message": "Success", "data": {"shops": shops}})
        )
        yield router


def carrying(calls: list[httpx.Request], secrets: set[str]) -> list[str]:
    """The requests among ``calls`` that carry one of ``secrets`` (address, headers or body)."""
    found = []
    for request in calls:
        sent = str(request.url) + repr(request.headers.multi_items()) + request.content.decode("utf-8", "replace")
        if any(secret in sent for secret in secrets):
            found.append(f"{request.method} {request.url.copy_with(query=None)}")
    return found


def sellers_json(env: Path) -> dict[str, Any]:
    data = json.loads(run_cli("sellers", "--json", env_file=env, code=0).stdout)
    assert isinstance(data, dict)
    return data


def test_grants_of_one_mode_are_neither_listed_nor_sent_in_the_other(
    tmp_path: Path, live_service: respx.MockRouter
) -> None:
    env = tmp_path / ".env"
    env.write_text(LOOPBACK_ANY_PORT)
    # Sandbox mode: the sample seller authorizes (the embedded sandbox answers on loopback, not respx).
    live_service.route(host="127.0.0.1").pass_through()
    with open_session(env, environ={}) as session:
        session.authorize(sandbox_decision="authorize", wait=20)
        sample = session.seller
        assert sample is not None and (sample.mode, sample.app_key) == (SANDBOX_SCOPE.mode, SANDBOX_SCOPE.app_key)
        sandbox_tokens = {sample.access_token.reveal(), sample.refresh_token.reveal()}
        before_live = len(live_service.calls)

        # The same notebook switches to live: the sandbox's seller is not this app's.
        session.save(LIVE)
        assert session.mode is Mode.LIVE and session.seller is None
        assert session.sellers() == []
        for step in (
            session.refresh,
            lambda: session.refresh(sample),  # even when given the sandbox's grant itself
            lambda: session.refresh(sample.seller_name),
            session.authorized_shops,
            session.add_store,
        ):
            with pytest.raises(MissingSettingError):
                step()
        assert session.refresh_all().outcomes == ()
        assert len(live_service.calls) == before_live  # nothing was sent anywhere

    # A live seller authorizes meanwhile (their grant is the live app's).
    live = write_grant(env, TokenSet.from_data(live_tokens(1)), scope=LIVE_SCOPE)
    with open_session(env, environ={}) as session:
        assert session.mode is Mode.LIVE
        assert [g.id for g in session.sellers()] == [live.id] and session.seller is not None
        session.refresh()
        assert session.refresh_all().refreshed
        assert [s.cipher for s in session.authorized_shops()] == ["ROW_live"]
    sent = [c.request for c in live_service.calls[before_live:]]
    assert [r.url.host for r in sent] == ["auth.live-mock.test"] * 2 + ["open-api.live-mock.test"]
    assert carrying(sent, {live.refresh_token.reveal()})  # the live seller's token was sent
    assert carrying(sent, sandbox_tokens) == []  # the sandbox's never
    listed = sellers_json(env)
    assert [s["seller_name"] for s in listed["sellers"]] == ["Live Shop"]
    assert listed["other_apps_or_modes"] == [{"mode": "sandbox", "app_key": samples.SANDBOX_APP_KEY, "grants": 1}]

    # Back to sandbox mode: the sample seller is there again, the live seller is not listed.
    save_settings(BACK_TO_SANDBOX, env)
    with open_session(env, environ={}) as session:
        assert session.mode is Mode.SANDBOX
        assert [g.id for g in session.sellers()] == [sample.id]
        assert session.seller is not None and session.seller.id == sample.id
        assert session.seller.refresh_token.reveal() in sandbox_tokens
        with pytest.raises(MissingSettingError):
            session.refresh(live)  # the live grant is not this mode's
        session.refresh()  # the sandbox still knows its seller's refresh token
    listed = sellers_json(env)
    assert [s["seller_name"] for s in listed["sellers"]] == [sample.seller_name]
    assert listed["other_apps_or_modes"] == [{"mode": "live", "app_key": LIVE_KEY, "grants": 1}]
    to_live_hosts = [c.request for c in live_service.calls if c.request.url.host != "127.0.0.1"]
    assert carrying(to_live_hosts, sandbox_tokens) == []  # the sandbox steps sent them only to the sandbox


# --- a seller's token is not a setting ------------------------------------------------------------


def test_saving_a_sellers_token_as_a_setting_is_refused_and_env_is_unchanged(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# mine\n" + LOOPBACK_ANY_PORT)
    before = env.read_bytes()
    for updates in (
        {"TIKTOK_REFRESH_TOKEN": "TTP_refresh_token_value_0000000001"},
        {"TIKTOK_REGION": "us", "TIKTOK_REFRESH_TOKEN": "TTP_refresh_token_value_0000000001"},
        dict.fromkeys(PER_SELLER, "TTP_value_000000000001"),
    ):
        with pytest.raises(ValidationError) as info:
            save_settings(updates, env)
        assert set(info.value.fields) == set(updates) & set(PER_SELLER)
        assert "TTP_refresh_token_value" not in str(info.value)
        with pytest.raises(ValidationError):
            clean_updates(updates)
        assert env.read_bytes() == before
    with open_session(env, environ={}) as session:
        with pytest.raises(ValidationError, match="per seller"):
            session.save({"TIKTOK_REFRESH_TOKEN": "TTP_refresh_token_value_0000000001"})
        assert session.sellers() == []
    assert env.read_bytes() == before
    assert files_holding(tmp_path, "TTP_refresh_token_value_0000000001") == []
