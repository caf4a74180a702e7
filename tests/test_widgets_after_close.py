"""Widgets keep working whatever ran before them: after session.close() (the notebooks' last cell),
with a failing callback, and with another program on the callback port."""

from __future__ import annotations

import socket
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tiktok_helpers.session import CallbackPortBusy, Session, open_session
from tiktok_helpers.settings import load_settings
from tiktok_helpers.widget_kit import run_action
from tiktok_helpers.widgets import AppForm, CodePanel, api2cart_key_form

from .test_widgets import KEY, SECRET


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    env = tmp_path / ".env"
    env.write_text("TIKTOK_MODE=sandbox\nTIKTOK_REDIRECT_URL=http://127.0.0.1:0/callback\n")
    with open_session(env, environ={}) as s:
        yield s


@pytest.fixture
def squatter() -> Iterator[socket.socket]:
    """A plain socket listening on a loopback port, as another program would."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


def _nothing_connected(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


def test_app_form_saves_after_close(session: Session) -> None:
    session.close()
    session.close()  # idempotent
    assert session.closed
    form = AppForm(session)
    form.app_key.value = KEY
    form.app_secret.value = SECRET
    form.service_id.value = "7312345678901234567"
    form.redirect_url.value = "http://127.0.0.1:8765/callback"
    assert form.save(), form.outcome.value
    assert "Saved" in form.outcome.value
    assert load_settings(session.settings.env_path, environ={}).app_key == KEY


def test_sandbox_steps_work_after_close(session: Session) -> None:
    attempt = session.begin_authorization()
    before = session.approve_in_sandbox(attempt)
    session.close()
    assert session.sandbox is not None and not session.sandbox.running
    tokens = session.exchange(session.read_redirect(before, attempt))  # the same state file: the code is known
    assert tokens.seller_name
    assert session.sandbox.running and not session.closed
    assert session.authorized_shops()


def test_api2cart_key_form_works_after_close_and_shows_the_latest_message(session: Session) -> None:
    form = api2cart_key_form(session)
    key_field, button = form.children[0].children
    out = form.children[1]
    key_field.value = "my-api2cart-key-123456"
    button.click()
    assert "Saved the API2Cart API key" in out.value
    session.close()
    button.click()  # nothing typed: keeps the saved key
    assert "Keeping the saved key" in out.value and "Saved the" not in out.value
    key_field.value = "another-api2cart-key-654321"
    button.click()
    assert "Saved the API2Cart API key" in out.value and "Keeping" not in out.value
    assert session.settings.api2cart_api_key.reveal() == "another-api2cart-key-654321"


def test_a_non_package_error_is_shown_in_the_widget(session: Session) -> None:
    import ipywidgets as w

    out = w.HTML(value="an earlier message")

    def boom() -> str:
        raise RuntimeError(f"the sandbox is not running (secret {SECRET} leaked)")

    assert not run_action(boom, out, secrets=[SECRET])
    assert "Unexpected error: RuntimeError: the sandbox is not running" in out.value
    assert SECRET not in out.value
    assert "an earlier message" not in out.value


def test_app_form_shows_an_unexpected_failure(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**_: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(session, "save_app", broken)
    form = AppForm(session)
    form.app_secret.value = SECRET
    assert not form.save()
    assert "Unexpected error: KeyError" in form.outcome.value
    assert SECRET not in form.outcome.value
    assert form.app_secret.value == ""


@pytest.fixture
def squatted(tmp_path: Path, squatter: socket.socket) -> Iterator[Session]:
    """A sandbox session whose redirect URL's port another program listens on (as 8765 can be)."""
    env = tmp_path / ".env"
    port = squatter.getsockname()[1]
    env.write_text(f"TIKTOK_MODE=sandbox\nTIKTOK_REDIRECT_URL=http://127.0.0.1:{port}/callback\n")
    with open_session(env, environ={}) as s:
        yield s


def test_code_panel_reports_a_busy_port(squatted: Session, squatter: socket.socket) -> None:
    session = squatted
    port = squatter.getsockname()[1]
    attempt = session.begin_authorization()
    panel = CodePanel(session, attempt, timeout=20)
    assert panel.catcher is None and panel.attempt is attempt
    status = panel.status.value
    assert f"port {port}" in status.lower()
    assert "taken by another program" in status
    assert "notebook 01" in status and "paste" in status
    assert "Invalid settings" not in status and "save again" not in status
    with pytest.raises(CallbackPortBusy):
        session.start_catcher(attempt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        location = session.approve_in_sandbox(attempt, follow=True)
    assert "code=" in location and f":{port}/" in location
    assert any("not followed" in str(c.message) for c in caught)
    assert _nothing_connected(squatter)  # the code was not handed to the other program


def test_follow_goes_only_to_this_sessions_waiting_catcher(session: Session) -> None:
    attempt = session.begin_authorization()
    panel = CodePanel(session, attempt, timeout=20)
    assert panel.catcher is not None
    panel.catcher.stop()  # no longer waiting: following would hand the code to whoever took the port
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session.approve_in_sandbox(attempt, follow=True)
    assert any("not followed" in str(c.message) for c in caught)
    assert not session.settings.auth_code


def test_listen_again_after_close_catches_an_approval_by_hand(session: Session) -> None:
    attempt = session.begin_authorization()
    panel = CodePanel(session, attempt, timeout=30)
    session.approve_in_sandbox(attempt, follow=True)  # Run All: the autopilot approved
    assert panel.received
    session.close()  # the notebook's last cell
    assert panel.listen_again(), panel.outcome.value
    assert "Listening again" in panel.outcome.value
    assert not panel.received and not session.closed
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # followed to this session's own, waiting catcher
        session.approve_in_sandbox(attempt, follow=True)  # the person approves with the same link
    assert panel.received
    assert panel.result(timeout=5).state == attempt.state
    panel.listen_again()  # and once more, pressed twice: still one catcher, waiting
    assert not panel.received and panel.catcher is not None
    panel.catcher.stop()
