"""The whole runbook flow against the sandbox over real HTTP, through the same Session the
notebooks use: link -> consent page -> Authorize -> catcher gets the code -> exchange -> shops ->
API2Cart add -> list. Plus the ways it goes wrong."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tiktok_helpers import samples
from tiktok_helpers.attempt import AuthorizationAttempt
from tiktok_helpers.autopilot import approval_message
from tiktok_helpers.catcher import CatcherState, CatcherStatus
from tiktok_helpers.envfile import read_env
from tiktok_helpers.errors import (
    Api2CartError,
    AuthorizationDenied,
    InvalidAuthCode,
    RefreshTokenNotFound,
    ServiceUnreachable,
    StateMismatch,
)
from tiktok_helpers.grants import grants_path_for
from tiktok_helpers.regions import UserType
from tiktok_helpers.results import AuthorizeEvent, AuthorizeStep
from tiktok_helpers.session import Session, open_session
from tiktok_helpers.settings import Mode, load_settings

from .saved import grants


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    env = tmp_path / ".env"
    env.write_text("TIKTOK_REDIRECT_URL=http://127.0.0.1:0/callback\n")
    with open_session(env, environ={}) as s:
        yield s


def test_whole_flow_with_the_catcher(session: Session) -> None:
    assert session.mode is Mode.SANDBOX
    assert session.sandbox is not None
    events: list[AuthorizeEvent] = []
    result = session.authorize(sandbox_decision="authorize", wait=20, on_progress=events.append)

    link = result.link
    assert link is not None
    assert link.url.startswith(f"{session.sandbox.base_url}/open/authorize?service_id={samples.SANDBOX_SERVICE_ID}")
    assert result.redirect.state == link.state
    assert result.redirect.shop_region == "GB"
    steps = [e.step for e in events if e.step not in (AuthorizeStep.WAITING, AuthorizeStep.NOTE)]
    assert steps == [
        AuthorizeStep.LINK,
        AuthorizeStep.CAUGHT,
        AuthorizeStep.CODE_SAVED,
        AuthorizeStep.EXCHANGED,
        AuthorizeStep.VERIFIED,
    ]
    shown = next(e for e in events if e.step is AuthorizeStep.LINK)
    assert shown.link == link
    assert shown.listening and shown.listening.startswith("http://127.0.0.1:")
    waiting = [e.catcher for e in events if e.step is AuthorizeStep.WAITING]
    assert waiting and waiting[-1] is not None and waiting[-1].done

    tokens = result.tokens
    assert tokens.user_type is UserType.SELLER
    assert tokens.seller_name == "Sandbox UK Store"
    [grant] = grants(session.settings.env_path)  # committed, as a new process sees it
    assert grant.refresh_token == tokens.refresh_token
    assert grant.access_token_expires_at == tokens.access_token_expires_at
    assert grant.open_id == tokens.open_id and grant.seller_name == "Sandbox UK Store"
    saved = load_settings(session.settings.env_path, environ={})
    assert not saved.auth_code  # forgotten once the tokens were committed
    in_env = read_env(session.settings.env_path)
    assert "TIKTOK_REFRESH_TOKEN" not in in_env  # tokens live in the grant database, not in .env
    assert tokens.refresh_token.reveal() not in session.settings.env_path.read_text()
    assert session.seller is not None and session.seller.refresh_token == tokens.refresh_token  # worked on now

    assert result.shops and all(shop.cipher for shop in result.shops)
    assert grant.shops == () or grant.shops == result.shops
    [verified] = grants(session.settings.env_path)
    assert verified.shops == result.shops and verified.verified_at is not None
    assert session.seller.shop_cipher == result.shops[0].cipher

    store_key = session.add_store(custom_label="Runbook test")
    stores = session.list_stores()
    assert [s.custom_label for s in stores] == ["Runbook test"]
    assert stores[0].store_key == store_key
    assert stores[0].cart_id == "TikTokShop"
    assert session.api2cart().validate_store(store_key) is not None


def test_authorize_with_a_prompt_checks_the_state(session: Session) -> None:
    asked: list[str] = []

    def person(attempt: AuthorizationAttempt) -> str:
        asked.append(attempt.url)
        return session.approve_in_sandbox(attempt)  # what they would paste from the address bar

    result = session.authorize(prompt=person)
    assert asked == [result.link.url if result.link else ""]
    assert result.redirect.state == (result.link.state if result.link else None)
    assert session.seller is not None and result.tokens.refresh_token == session.seller.refresh_token

    def stale(attempt: AuthorizationAttempt) -> str:
        return session.approve_in_sandbox(session.begin_authorization())  # answers another attempt

    with pytest.raises(StateMismatch):
        session.authorize(prompt=stale)


def test_authorize_with_a_pasted_address_says_its_state_is_unchecked(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    with open_session(env, environ={}) as elsewhere:  # a notebook built the link and caught the address
        location = elsewhere.approve_in_sandbox(elsewhere.begin_authorization())
    with open_session(env, environ={}) as session:  # this process built no link: nothing to compare
        notes: list[str] = []
        result = session.authorize(
            pasted=location, on_progress=lambda e: notes.append(e.message) if e.step is AuthorizeStep.NOTE else None
        )
        assert result.link is None
        assert any("not checked" in note for note in notes)
        assert result.shops


def test_a_pasted_address_is_checked_against_the_attempt_it_is_given_with(session: Session) -> None:
    first = session.begin_authorization()
    location = session.approve_in_sandbox(first)
    newer = session.begin_authorization()  # a newer attempt: the pasted address answers the older one
    with pytest.raises(StateMismatch):
        session.exchange_pasted(location, attempt=newer)
    assert not session.settings.auth_code  # nothing saved
    assert session.seller is None
    # Building another attempt does not retire the first one: each is checked against its own state.
    tokens = session.exchange_pasted(location, attempt=first)
    assert session.seller is not None and session.seller.refresh_token == tokens.refresh_token


def test_authorize_refused_saves_nothing(session: Session) -> None:
    with pytest.raises(AuthorizationDenied):
        session.authorize(sandbox_decision="cancel", wait=20)
    assert not session.settings.auth_code and session.seller is None and session.sellers() == []
    assert not grants_path_for(session.settings.env_path).exists()  # no grant database written
    assert not session.settings.env_path.exists() or "TOKEN" not in session.settings.env_path.read_text()


def test_a_failed_exchange_keeps_the_code_and_says_how_to_retry(session: Session) -> None:
    notes: list[str] = []

    def broken_exchange(*args: object, **kwargs: object) -> None:
        raise ServiceUnreachable("the token host did not answer")

    session.token_client = lambda: type("T", (), {"exchange": broken_exchange})()  # type: ignore[method-assign]
    with pytest.raises(ServiceUnreachable):
        session.authorize(
            sandbox_decision="authorize",
            wait=20,
            on_progress=lambda e: notes.append(e.message) if e.step is AuthorizeStep.NOTE else None,
        )
    assert session.settings.auth_code  # kept for a retry
    assert load_settings(session.settings.env_path, environ={}).auth_code == session.settings.auth_code
    assert any("stays saved" in note for note in notes)


def test_pasted_url_path_and_us_region(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("TIKTOK_REGION=us\n")
    with open_session(env, environ={}) as session:
        attempt = session.begin_authorization()
        location = session.approve_in_sandbox(attempt)
        result = session.read_redirect(f"  '{location}'  ", attempt)
        tokens = session.exchange(result)
        assert tokens.seller_base_region == "US"
        assert [shop.region for shop in session.authorized_shops()] == ["US"]


def test_cancel_is_a_refusal(session: Session) -> None:
    attempt = session.begin_authorization()
    location = session.approve_in_sandbox(attempt, decision="cancel")
    with pytest.raises(AuthorizationDenied):
        session.read_redirect(location, attempt)


def test_redirect_for_another_attempt_is_rejected(session: Session) -> None:
    first = session.begin_authorization()
    location = session.approve_in_sandbox(first)
    newer = session.begin_authorization()  # a newer attempt than the one the person opened
    with pytest.raises(StateMismatch):
        session.read_redirect(location, newer)
    with pytest.raises(StateMismatch):
        newer.parse(location)
    assert first.parse(location).state == first.state


def test_a_code_works_once(session: Session) -> None:
    attempt = session.begin_authorization()
    result = attempt.parse(session.approve_in_sandbox(attempt))
    session.exchange(result)
    before = session.settings.env_path.read_bytes()
    [saved] = grants(session.settings.env_path)
    with pytest.raises(InvalidAuthCode):
        session.exchange(result)
    assert session.settings.env_path.read_bytes() == before
    assert grants(session.settings.env_path) == [saved]  # the saved tokens are untouched


def test_refresh_rotates_and_the_old_refresh_token_stops_working(session: Session) -> None:
    attempt = session.begin_authorization()
    first = session.exchange(attempt.parse(session.approve_in_sandbox(attempt)))
    second = session.refresh()
    assert second.refresh_token != first.refresh_token
    assert session.seller is not None and session.seller.refresh_token == second.refresh_token  # saved
    [saved] = grants(session.settings.env_path)
    assert saved.refresh_token == second.refresh_token
    with pytest.raises(RefreshTokenNotFound):
        session.token_client().refresh(first.refresh_token)


def test_api2cart_refuses_a_refresh_token_that_does_not_work(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("TIKTOK_REFRESH_TOKEN=TTP_not_a_real_refresh_token_000\n")  # a hand-written .env
    with open_session(env, environ={}) as session:
        session.import_legacy()  # the single seller's token becomes their grant
        with pytest.raises(Api2CartError) as info:
            session.add_store()
        assert info.value.code == 100
        assert session.list_stores() == []


def test_state_is_shared_between_sessions(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    with open_session(env, environ={}) as first:
        attempt = first.begin_authorization()
        first.exchange(attempt.parse(first.approve_in_sandbox(attempt)))
        first.add_store(custom_label="from the first notebook")
        first_url = first.sandbox.base_url if first.sandbox else ""
    with open_session(env, environ={}) as second:  # a new kernel: new sandbox, same state file
        assert second.sandbox is not None and second.sandbox.base_url != ""
        assert [s.custom_label for s in second.list_stores()] == ["from the first notebook"]
        assert second.authorized_shops()
    assert first_url


# --- notebook 02's sandbox cell: what pressing Authorize did, said as it happened ------------------


def test_sandbox_approval_says_the_catcher_received_the_code(session: Session) -> None:
    attempt = session.begin_authorization()
    catcher = session.start_catcher(attempt, timeout=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing beside the sentence
        said = session.approve_in_sandbox_and_report(attempt)
    assert said.endswith("the browser followed the redirect and the catcher received the code.")
    assert catcher.wait(5).state == attempt.state
    assert "code=" not in said and "TTP_" not in said


def test_sandbox_approval_says_when_the_catcher_no_longer_waits(session: Session) -> None:
    attempt = session.begin_authorization()
    session.start_catcher(attempt, timeout=20).stop()  # as session.close() leaves it
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the "not followed" warning becomes the sentence
        said = session.approve_in_sandbox_and_report(attempt)
    assert "the redirect was not followed" in said and "(stopped)" in said
    assert "Press 'Listen again' in the panel" in said and "Use this address" in said
    assert "received the code" not in said and "code=" not in said
    assert not session.settings.auth_code


def test_sandbox_approval_without_a_catcher_says_to_paste(session: Session) -> None:
    said = session.approve_in_sandbox_and_report(session.begin_authorization())
    assert "no catcher of this runbook is listening" in said and "Use this address" in said
    assert "code=" not in said


def test_sandbox_approval_message_names_where_the_browser_went_without_the_code() -> None:
    waiting = CatcherStatus(CatcherState.WAITING, 20, 0, "waiting for the browser, 20 s left", "http://127.0.0.1:1/cb")
    said = approval_message(waiting, waiting, "http://127.0.0.1:2/callback?code=TTP_secret_code&state=s")
    assert "sent the browser to http://127.0.0.1:2/callback, the catcher waits at http://127.0.0.1:1/cb" in said
    assert "TTP_secret_code" not in said and "received the code" not in said
    denied = CatcherStatus(CatcherState.DENIED, 0, 0, "the authorization was refused", "http://127.0.0.1:1/cb")
    said = approval_message(waiting, denied, "http://127.0.0.1:1/cb?error=auth_denied")
    assert "the catcher says: the authorization was refused" in said
