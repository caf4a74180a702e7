"""A redirect without ``state``: a refusal that may be the seller's own Cancel, and a TikTok Shop
App Store install.

TikTok Shop Partner Center's seller authorization guide says an App Store install arrives with no
state ("There will not be ``state`` passed"); whether TikTok echoes the state on a refusal is not
documented. So a refusal without state is shown to the person waiting (never ending the wait by
itself: any page can send one), and a code without state is accepted only when the person says the
seller installs the app from the App Store.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tiktok_helpers.catcher import REFUSED_WITHOUT_STATE, CatcherState, CatcherStatus, RedirectCatcher
from tiktok_helpers.cli.output import CatcherProgress
from tiktok_helpers.errors import StateMismatch
from tiktok_helpers.redirect import parse_redirect

from .cli_in_process import LOOPBACK_ANY_PORT, Cli

CODE = "TTP_app_store_code_0123456789"
STATE = "expected-state-value"


def get(c: RedirectCatcher, path_and_query: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{c.port}{path_and_query}", timeout=5, follow_redirects=True)


@pytest.fixture
def reports() -> list[CatcherStatus]:
    return []


@pytest.fixture
def catcher(reports: list[CatcherStatus]) -> Iterator[RedirectCatcher]:
    with RedirectCatcher(
        "http://127.0.0.1:0/callback", expected_state=STATE, timeout=20, on_progress=reports.append
    ) as c:
        yield c


# --- a refusal without state ------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["error=access_denied&code=null", "error=auth_denied", "code=null"])
def test_a_refusal_without_state_is_shown_and_does_not_end_the_wait(
    catcher: RedirectCatcher, reports: list[CatcherStatus], query: str
) -> None:
    assert not catcher.status().refused_without_state
    assert get(catcher, f"/callback?{query}").status_code == 400
    status = catcher.status()
    assert status.state is CatcherState.WAITING  # the wait goes on
    assert status.refused_without_state and REFUSED_WITHOUT_STATE in status.message
    assert any(r.refused_without_state for r in reports)  # reported at once, not at the next tick
    get(catcher, f"/callback?code={CODE}&state={STATE}")  # the real redirect still ends it
    assert catcher.wait(5).code.reveal() == CODE


def test_the_person_stops_the_wait_after_a_refusal_without_state(catcher: RedirectCatcher) -> None:
    get(catcher, "/callback?error=access_denied&code=null")
    catcher.stop()
    assert catcher.status().state is CatcherState.STOPPED


def test_a_code_without_state_is_not_shown_as_a_refusal(catcher: RedirectCatcher) -> None:
    assert get(catcher, f"/callback?code={CODE}").status_code == 400
    status = catcher.status()
    assert status.state is CatcherState.WAITING and not status.refused_without_state and status.ignored == 1


def test_the_command_line_says_it_once_on_its_own_line() -> None:
    stream = io.StringIO()
    progress = CatcherProgress(stream, tty=False, interval=0.0)
    progress.arm()
    waiting = CatcherStatus(CatcherState.WAITING, 100.0, 1, "waiting", "http://127.0.0.1:1/cb", True)
    progress(waiting)
    progress(waiting)
    lines = stream.getvalue().splitlines()
    assert lines.count(f"Note: {REFUSED_WITHOUT_STATE} (press Ctrl-C).") == 1


# --- an App Store install ---------------------------------------------------------------------------


def test_a_redirect_without_state_is_refused_unless_it_is_an_app_store_install() -> None:
    address = f"http://127.0.0.1:8765/callback?code={CODE}&shop_region=GB"
    with pytest.raises(StateMismatch, match="App Store install"):
        parse_redirect(address, STATE)
    accepted = parse_redirect(address, STATE, app_store_install=True)
    assert accepted.code.reveal() == CODE and accepted.app_store_install and accepted.state is None
    with pytest.raises(StateMismatch):  # some other link's state is never an App Store install
        parse_redirect(f"{address}&state=another-link", STATE, app_store_install=True)
    assert not parse_redirect(f"{address}&state={STATE}", STATE, app_store_install=True).app_store_install


def test_an_app_store_catcher_takes_a_code_without_state_but_not_another_links() -> None:
    with RedirectCatcher("http://127.0.0.1:0/callback", expected_state=STATE, app_store_install=True, timeout=20) as c:
        assert get(c, f"/callback?code={CODE}&state=another-link").status_code == 400
        assert c.status().state is CatcherState.WAITING
        assert get(c, f"/callback?code={CODE}&shop_region=US").status_code == 200
        result = c.wait(5)
    assert result.code.reveal() == CODE and result.app_store_install and result.shop_region == "US"


def test_authorize_app_store_install_says_the_risk_and_still_works(cli: Cli) -> None:
    done = cli("authorize", "--sandbox-approve", "--app-store-install")
    assert "App Store install: a redirect without state cannot be tied to a link you opened" in done.stderr
    assert "check the seller's name" in done.stderr
    refused = cli("authorize", "--app-store-install", "--paste", "TTP_some_code_value", code=2)
    assert "--paste checks no state anyway" in refused.stderr
    assert "--app-store-install" in cli("authorize", "--help").stdout


def test_the_notebook_panel_checkbox_and_stop_button(tmp_path: Path) -> None:
    from tiktok_helpers.session import open_session
    from tiktok_helpers.widgets import CodePanel

    env = tmp_path / ".env"
    env.write_text(LOOPBACK_ANY_PORT)
    with open_session(env, environ={}) as session:
        panel = CodePanel(session, session.begin_authorization(), timeout=30)
        try:
            assert panel.catcher is not None and not panel.catcher.app_store_install
            assert panel.set_app_store_install(True)
            assert panel.attempt.app_store_install and panel.catcher.app_store_install
            assert "App Store install: a redirect without state" in panel.outcome.value
            assert get(panel.catcher, "/callback?error=auth_denied").status_code == 400
            assert "press Stop waiting" in panel.status.value
            assert panel.stop_waiting()
            assert panel.catcher.status().state is CatcherState.STOPPED
            assert panel.set_app_store_install(False) and not panel.catcher.app_store_install
        finally:
            if panel.catcher is not None:
                panel.catcher.stop()
