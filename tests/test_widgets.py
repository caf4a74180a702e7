"""Widget callbacks call Session methods; tested here without a browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tiktok_helpers import samples
from tiktok_helpers.catcher import CatcherState
from tiktok_helpers.errors import ValidationError
from tiktok_helpers.session import Session, open_session
from tiktok_helpers.settings import load_settings
from tiktok_helpers.widgets import AppForm, CodePanel, api2cart_key_form, code_validity, credentials_panel, link_html

KEY = "6abcd1234efgh"
SECRET = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    env = tmp_path / ".env"
    env.write_text("TIKTOK_MODE=sandbox\nTIKTOK_REDIRECT_URL=http://127.0.0.1:0/callback\n")
    with open_session(env, environ={}) as s:
        yield s


def test_app_form_saves_valid_values(session: Session) -> None:
    form = AppForm(session)
    form.region.value = "us"
    form.app_key.value = f"  {KEY} "
    form.app_secret.value = f'"{SECRET}"'
    form.service_id.value = "7312345678901234567"
    assert form.save()
    saved = load_settings(session.settings.env_path, environ={})
    assert (saved.app_key, saved.app_secret.reveal(), saved.region.value) == (KEY, SECRET, "us")
    assert form.app_secret.value == ""  # the password field does not keep the secret
    assert SECRET not in form.outcome.value
    assert "Saved" in form.outcome.value


def test_app_form_reports_every_problem_and_saves_nothing(session: Session) -> None:
    before = session.settings.env_path.read_bytes()
    form = AppForm(session)
    form.app_key.value = SECRET
    form.app_secret.value = KEY
    form.service_id.value = "abc"
    form.redirect_url.value = "http://example.com/cb"
    assert not form.save()
    for field in ("App Key", "App Secret", "service_id", "Redirect URL"):
        assert field in form.outcome.value
    assert SECRET not in form.outcome.value
    assert session.settings.env_path.read_bytes() == before
    assert form.app_secret.value == ""  # a refused secret does not stay in widget state
    assert "paste it again" in form.outcome.value


def test_save_app_is_what_the_form_calls(session: Session) -> None:
    with pytest.raises(ValidationError) as info:
        session.save_app(
            region="mars", app_type="custom", app_key=KEY, app_secret=SECRET, service_id="7312345678901234567",
            redirect_url="http://127.0.0.1:8765/callback",
        )  # fmt: skip
    assert info.value.fields == ("Region",)


def test_code_panel_catches_and_keeps_the_code(session: Session) -> None:
    attempt = session.begin_authorization()
    panel = CodePanel(session, attempt, timeout=20)
    assert panel.catcher is not None and panel.attempt is attempt
    session.approve_in_sandbox(attempt, follow=True)
    result = panel.result(timeout=5)
    assert panel.catcher.status().state is CatcherState.RECEIVED
    assert "received" in panel.status.value
    assert session.pending_code() == result.code
    assert "valid until" in code_validity(session.settings.auth_code_received_at)


def test_code_panel_paste_path(session: Session) -> None:
    attempt = session.begin_authorization()
    panel = CodePanel(session, attempt, timeout=20)
    location = session.approve_in_sandbox(attempt)
    panel.paste.value = f" {location} "
    assert panel.use_pasted()
    assert panel.catcher is not None and panel.catcher.status().state is CatcherState.STOPPED
    result = panel.result()
    assert result.state == attempt.state
    tokens = session.exchange()  # the kept code
    assert tokens.seller_name
    assert not session.settings.auth_code  # spent: removed from .env


def test_code_panel_rejects_a_foreign_redirect(session: Session) -> None:
    old = session.begin_authorization()
    location = session.approve_in_sandbox(old)
    panel = CodePanel(session, session.begin_authorization(), timeout=20)
    panel.paste.value = location
    assert not panel.use_pasted()
    assert "State does not match" in panel.outcome.value
    assert panel.catcher is not None
    panel.catcher.stop()


def test_link_html_is_clickable_and_escaped(session: Session) -> None:
    attempt = session.begin_authorization(state="a<b>&c")
    html_text = link_html(attempt.link).data
    assert 'id="runbook-authorize-link"' in html_text
    assert "<b>" not in html_text
    assert "Copy link" in html_text


def test_credentials_panel_masks_until_revealed(tmp_path: Path) -> None:
    env = tmp_path / ".env"  # a single-seller .env from before the grant database
    env.write_text("TIKTOK_MODE=sandbox\nTIKTOK_REFRESH_TOKEN=TTP_refresh_token_value_0000000001\n")
    with open_session(env, environ={}) as session:
        assert session.seller is None and session.settings.pending_import == ("TIKTOK_REFRESH_TOKEN",)
        assert credentials_panel(session).children[2].children[1].value == "(empty)"  # not read from .env
        assert "TIKTOK_REFRESH_TOKEN" in env.read_text()  # left alone until the import is asked for
        session.import_legacy()
        panel = credentials_panel(session)
    rows = panel.children
    refresh_text, reveal = rows[2].children[1], rows[2].children[2]
    assert refresh_text.value == "TTP_…0001"
    reveal.value = True
    assert refresh_text.value == "TTP_refresh_token_value_0000000001"
    reveal.value = False
    assert refresh_text.value == "TTP_…0001"
    assert "TIKTOK_REFRESH_TOKEN" not in env.read_text()  # moved into the grant database


def test_api2cart_key_form_saves_the_key(session: Session) -> None:
    form = api2cart_key_form(session)
    key_field, button = form.children[0].children
    key_field.value = "my-api2cart-key-123456"
    button.click()
    assert session.settings.api2cart_api_key.reveal() == "my-api2cart-key-123456"
    assert "my-api2cart-key-123456" not in form.children[1].value
    assert key_field.value == ""


def test_a_refused_api2cart_key_is_cleared_from_the_widget(session: Session) -> None:
    form = api2cart_key_form(session)
    key_field, button = form.children[0].children
    key_field.value = "bad key\nwith a line break"
    button.click()
    assert key_field.value == ""
    assert "paste it again" in form.children[1].value
    assert "bad key" not in form.children[1].value  # the refused value is not echoed either


def test_sandbox_defaults_fill_the_form(tmp_path: Path) -> None:
    with open_session(tmp_path / ".env", environ={}) as s:
        form = AppForm(s)
        assert form.app_key.value == samples.SANDBOX_APP_KEY
        assert form.app_secret.value == ""
        assert httpx.get(f"{s.settings.sandbox_url}/nothing-here").status_code == 404


def test_saving_live_credentials_switches_the_session_to_live(tmp_path: Path) -> None:
    with open_session(tmp_path / ".env", environ={}) as s:
        assert s.is_sandbox
        s.save_app(
            region="global", app_type="custom", app_key=KEY, app_secret=SECRET, service_id="7312345678901234567",
            redirect_url="http://127.0.0.1:8765/callback",
        )  # fmt: skip
        assert not s.is_sandbox
        assert s.endpoints.token_base == "https://auth.tiktok-shops.com"
        assert s.http._transport._pool._ssl_context.cert_store_stats()["x509_ca"] > 0  # verifies live TLS
