"""What went over the wire (tiktok_helpers/wire.py, recorded by tiktok_helpers/http.py, turned on by
``Session.trace()``, shown by tiktok_helpers/wire_widgets.py): every attempt is recorded, retries and
failures too, and no secret of a real sandbox flow is kept or shown in full: not in the log's
entries, not in the plain text, not in the widget.

The secrets looked for are every value the sandbox issued (codes, access and refresh tokens, store
keys, read back from its state file), what the runbook saved, the App Secret, the API2Cart key, and
every ``sign`` the Open API client computed (caught as it is made).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tiktok_helpers import samples
from tiktok_helpers.errors import ServiceUnreachable
from tiktok_helpers.http import NO_RETRY, RetryPolicy, Transport
from tiktok_helpers.openapi import OpenApiClient
from tiktok_helpers.sandbox import Sandbox
from tiktok_helpers.secret import Secret
from tiktok_helpers.session import Session, open_session
from tiktok_helpers.store import sandbox_state_path
from tiktok_helpers.tokens import TokenClient, TokenSet
from tiktok_helpers.wire import (
    BODY_LIMIT,
    Exchange,
    WireLog,
    is_secret_name,
    masked_body,
    masked_headers,
    masked_url,
    render_text,
)
from tiktok_helpers.wire_widgets import wire_panel

from .sandbox_calls import issued_values
from .saved import saved_secrets
from .test_bulk_concurrency import fleet

APP_SECRET = "0123456789abcdef0123456789abcdef01234567"
ACCESS = "TTP_access_token_wire_test_0000000001"
REFRESH = "TTP_refresh_token_wire_test_000000001"


def leaks(text: str, secrets: set[str]) -> list[str]:
    return sorted(s[:10] + "…" for s in secrets if s and s in text)


def every_text(exchanges: list[Exchange]) -> str:
    """Everything an exchange holds, as text: each field and the repr."""
    return "\n".join([*(str(dataclasses.astuple(e)) for e in exchanges), *(repr(e) for e in exchanges)])


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    env = tmp_path / ".env"
    env.write_text("TIKTOK_REDIRECT_URL=http://127.0.0.1:0/callback\n")
    with open_session(env, environ={}) as opened:
        yield opened


def all_secrets(session: Session) -> set[str]:
    """What the sandbox issued and the runbook saved until now (a refresh replaces both: call it after
    every step), the App Secret and the API2Cart key."""
    env = session.settings.env_path
    found = issued_values(sandbox_state_path(env)) | saved_secrets(env)
    return found | {samples.SANDBOX_APP_SECRET, samples.SANDBOX_API2CART_KEY}


def authorize(session: Session) -> None:
    """Approve as the sandbox's sample seller and keep the code (the browser's part: not recorded)."""
    attempt = session.begin_authorization()
    session.save_code(attempt.parse(session.approve_in_sandbox(attempt)))


# --- a whole flow -------------------------------------------------------------------------------


def test_a_whole_sandbox_flow_is_recorded_with_every_secret_masked(session: Session, signs: list[str]) -> None:
    log = session.trace()
    assert session.trace() is log and session.wire is log  # one log per session
    authorize(session)
    assert log.entries() == []  # the approval is the browser's: no service client sent anything
    secrets = all_secrets(session)
    steps: dict[str, list[Exchange]] = {}
    flow: list[tuple[str, Callable[[], object]]] = [
        ("exchange", session.exchange),
        ("shops", session.authorized_shops),
        ("add", session.add_store),
        ("list", session.list_stores),
        ("refresh", session.refresh),
    ]
    for name, step in flow:
        mark = log.mark()
        step()
        steps[name] = log.since(mark)
        secrets |= all_secrets(session)
    assert [[(e.service, e.method, e.status) for e in found] for found in steps.values()] == [
        [("TikTok authorization service", "GET", 200)],
        [("TikTok Open API", "GET", 200)],
        [("API2Cart", "POST", 200)],
        [("API2Cart", "GET", 200)],
        [("TikTok authorization service", "GET", 200), ("API2Cart", "PUT", 200), ("API2Cart", "GET", 200)],
    ]
    entries = log.entries()
    assert [e.seq for e in entries] == list(range(7)) and all(e.attempt == 1 for e in entries)
    assert len(signs) == 1, "the Open API call should have been signed once"
    secrets |= set(signs)
    assert len(secrets) >= 9  # the code, two token pairs, the store key, App Secret, API key, the sign
    panel = wire_panel(session)
    for shown in (every_text(entries), render_text(entries), panel.text(), panel.body.value):
        assert not leaks(shown, secrets)

    exchange, shops, add, _, refresh = (found[0] for found in steps.values())
    assert "app_secret=…" in exchange.url and "auth_code=TTP_…" in exchange.url
    assert '"access_token": "TTP_…' in exchange.response_body and '"refresh_token": "TTP_…' in exchange.response_body
    assert '"code": 0' in exchange.response_body  # the envelope's code stays readable
    assert "&sign=…" in shops.url and ("x-tts-access-token", shops.request_headers[0][1]) in shops.request_headers
    assert shops.request_headers[0][1].startswith("TTP_…")
    assert '"code": "GBLCSBX101"' in shops.response_body  # a shop's code is no secret
    assert '"tiktokshop_app_secret": "…' in add.request_body and '"store_key": "…' in add.response_body
    assert ("x-api-key", Secret(samples.SANDBOX_API2CART_KEY).masked) in add.request_headers
    update = steps["refresh"][1]
    assert "tiktokshop_refresh_token=TTP_…" in update.url and dict(update.request_headers)["x-store-key"].startswith(
        "…"
    )
    assert "refresh_token=TTP_…" in refresh.url


def test_nothing_is_recorded_without_trace(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: WireLog, **attempt: Any) -> Exchange:
        raise AssertionError("recorded without trace()")

    monkeypatch.setattr(WireLog, "record", refuse)
    authorize(session)
    session.exchange()
    session.authorized_shops()
    assert session.wire is None
    assert session.token_client().transport.wire is None and session.api2cart().transport.wire is None


def test_trace_reaches_every_client_the_session_builds(session: Session) -> None:
    authorize(session)
    session.exchange()
    log = session.trace()
    assert session.token_client().transport.wire is log
    assert session.open_api().transport.wire is log
    assert session.api2cart().transport.wire is log
    session.close()
    session.reopen()  # a session brought back keeps recording into the same log
    assert session.open_api().transport.wire is log


# --- retries and failures -----------------------------------------------------------------------


def test_every_attempt_is_recorded_retries_and_failures_too() -> None:
    replies: Iterator[httpx.Response | Exception] = iter(
        [
            httpx.ConnectError("connection refused"),
            httpx.Response(429, json={"code": 36009002, "message": "Too many requests"}, headers={"retry-after": "0"}),
            httpx.Response(200, json={"code": 0, "message": "Success", "data": {"shops": []}}),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        reply = next(replies)
        if isinstance(reply, Exception):
            raise reply
        return reply

    log = WireLog()
    transport = Transport(
        "https://open.example",
        httpx_transport=httpx.MockTransport(handler),
        retry=RetryPolicy(attempts=3),
        sleep=lambda seconds: None,
        wire=log,
    )
    with OpenApiClient("appkey", Secret(APP_SECRET), Secret(ACCESS), transport) as client:
        assert client.get_authorized_shops() == []
    first, second, third = log.entries()
    assert [(e.attempt, e.status) for e in log.entries()] == [(1, None), (2, 429), (3, 200)]
    assert first.error.startswith("Service unreachable: could not reach TikTok Open API") and not first.response_body
    assert ("retry-after", "0") in second.response_headers and '"code": 36009002' in second.response_body
    assert third.error == ""
    text = render_text(log.entries())
    assert "< no reply: Service unreachable" in text and "< HTTP 429" in text and "attempt 3" in text
    assert not leaks(every_text(log.entries()) + text, {APP_SECRET, ACCESS})


def test_a_call_that_fails_for_good_is_recorded_with_its_error_masked() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused: {request.url}", request=request)  # the secret query, echoed

    log = WireLog()
    transport = Transport(
        "https://auth.example", httpx_transport=httpx.MockTransport(handler), retry=NO_RETRY, wire=log
    )
    with TokenClient("appkey", Secret(APP_SECRET), transport) as client, pytest.raises(ServiceUnreachable):
        client.refresh(Secret(REFRESH))
    (only,) = log.entries()
    assert only.status is None and "could not reach" in only.error
    assert not leaks(every_text([only]), {APP_SECRET, REFRESH})


def test_recording_never_fails_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**attempt: Any) -> Exchange:
        raise RuntimeError(f"cannot show {attempt['url']}")

    monkeypatch.setattr("tiktok_helpers.wire.exchange_of", broken)
    tokens = {"access_token": ACCESS, "refresh_token": REFRESH, "access_token_expire_in": 2e9}
    reply = {"code": 0, "data": {**tokens, "refresh_token_expire_in": 2e9}}
    log = WireLog()
    mock = httpx.MockTransport(lambda request: httpx.Response(200, json=reply))
    with TokenClient("appkey", Secret(APP_SECRET), Transport("https://a.example", httpx_transport=mock, wire=log)) as c:
        assert isinstance(c.refresh(Secret(REFRESH)), TokenSet)
    (kept,) = log.entries()
    assert kept.url == "https://a.example/api/v2/token/refresh" and "could not be shown" in kept.error


# --- the log --------------------------------------------------------------------------------------


def one(number: int) -> dict[str, Any]:
    return {"service": "svc", "method": "get", "url": f"https://x.example/{number}", "status": 200}


def test_the_log_is_bounded_and_marks_say_what_one_step_sent() -> None:
    log = WireLog(limit=3)
    before = log.mark()
    for number in range(5):
        log.record(**one(number))
    assert len(log) == 3 and [e.url[-1] for e in log.entries()] == ["2", "3", "4"]
    assert [e.seq for e in log.since(before)] == [2, 3, 4]  # the two oldest are no longer kept
    mark = log.mark()
    assert mark == 5 and log.since(mark) == []
    log.record(**one(5))
    assert [e.url[-1] for e in log.since(mark)] == ["5"]
    log.clear()
    assert log.entries() == [] and log.mark() == 6  # marks stay valid after clear
    with pytest.raises(ValueError, match="at least one"):
        WireLog(limit=0)


def test_many_threads_record_at_once() -> None:
    log = WireLog(limit=1000)
    start = threading.Barrier(8)

    def work(thread: int) -> None:
        start.wait()
        for number in range(200):
            log.record(**one(thread * 1000 + number))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert log.mark() == 1600 and len(log) == 1000
    assert [e.seq for e in log.entries()] == list(range(600, 1600))


def test_a_bulk_refresh_with_tracing_on_records_every_seller_once(tmp_path: Path) -> None:
    with Sandbox(state_path=tmp_path / ".sandbox" / "state.db") as sandbox:
        env = tmp_path / ".env"
        with fleet(sandbox, tmp_path, 40) as session:  # as tests/test_bulk_concurrency.py makes one
            log = session.trace()
            summary = session.refresh_all(concurrency=8)
            assert len(summary.refreshed) == 40
            entries = log.entries()
            assert sorted(e.seq for e in entries) == list(range(40))
            assert {(e.service, e.status) for e in entries} == {("TikTok authorization service", 200)}
            sent = {e.url.split("refresh_token=")[1].split("&")[0] for e in entries}
            assert len(sent) == 40 and all(s.startswith("TTP_…") or "…" in s for s in sent)
            secrets = issued_values(tmp_path / ".sandbox" / "state.db") | saved_secrets(env)
            assert not leaks(every_text(entries), secrets)


# --- masking, piece by piece ---------------------------------------------------------------------


def test_secret_names() -> None:
    secret: tuple[str, ...] = ("app_secret", "auth_code", "access_token", "Refresh_Token", "sign", "api_key")
    secret += (
        "store_key",
        "tiktokshop_app_secret",
        "tiktokshop_refresh_token",
        "X-Api-Key",
        "x-store-key",
        "x-tts-access-token",
    )
    for name in secret:
        assert is_secret_name(name), name
    for name in (
        "app_key",
        "tiktokshop_app_key",
        "grant_type",
        "timestamp",
        "access_token_expire_in",
        "code",
        "cart_id",
    ):
        assert not is_secret_name(name), name


def test_urls_are_masked_by_name_and_by_known_value() -> None:
    url = "https://cb.example/callback?code=TTP_the_code_0000000000&state=abc&locale=en"
    assert masked_url(url) == "https://cb.example/callback?code=TTP_…0000&state=abc&locale=en"
    shown = masked_url(
        "https://x.example/p",
        httpx.QueryParams([("app_key", "k"), ("sign", "a" * 64), ("note", f"see {APP_SECRET}"), ("n", "a b/c")]),
        [Secret(APP_SECRET)],
    )
    assert shown == f"https://x.example/p?app_key=k&sign=…aaaa&note=see%20…{APP_SECRET[-4:]}&n=a%20b/c"
    short = masked_url("https://x.example/p", {"api_key": "short", "tiktokshop_access_token": Secret(ACCESS)})
    assert short == "https://x.example/p?api_key=••••••&tiktokshop_access_token=TTP_…0001"


def test_headers_keep_only_what_matters_masked() -> None:
    headers = {"Content-Type": "application/json", "x-api-key": Secret("k" * 20), "X-Store-Key": "s" * 20}
    headers |= {"user-agent": "ua", "x-tts-access-token": ACCESS}
    assert masked_headers(headers) == (
        ("content-type", "application/json"),
        ("x-api-key", "…kkkk"),
        ("x-store-key", "…ssss"),
        ("x-tts-access-token", "TTP_…0001"),
    )


def test_json_bodies_are_masked_by_key_and_by_value() -> None:
    body = {
        "code": 0,
        "message": f"refused token {ACCESS}",
        "data": {"auth_code": "abc", "code": "TTP_auth_code_00000000001", "shop": {"code": "GBLCSBX101"}},
        "params": [{"name": "tiktokshop_refresh_token", "value": REFRESH}, {"name": "store_url", "value": "x"}],
    }
    shown = masked_body(httpx.Response(200, json=body).content, [Secret(ACCESS)])
    assert '"code": 0' in shown and '"code": "GBLCSBX101"' in shown and '"code": "TTP_…0001"' in shown
    assert '"auth_code": "••••••"' in shown and "refused token TTP_…0001" in shown
    assert '"value": "TTP_…0001"' in shown and '"value": "x"' in shown
    assert not leaks(shown, {ACCESS, REFRESH, "TTP_auth_code_00000000001"})
    assert masked_body({"tiktokshop_app_secret": Secret(APP_SECRET), "cart_id": "TikTokShop"}).count("…") == 1


def test_other_bodies_long_bodies_and_binary() -> None:
    page = f"<a href='/cb?code=TTP_code_in_a_page_000001&state=s'>back</a> {APP_SECRET}".encode()
    shown = masked_body(page, [APP_SECRET])
    assert "code=TTP_…0001" in shown and not leaks(shown, {APP_SECRET, "TTP_code_in_a_page_000001"})
    long = masked_body({"items": ["x" * 50] * 500})
    assert len(long) < BODY_LIMIT + 100 and long.endswith("characters shown]") and f"{BODY_LIMIT:,} of" in long
    assert masked_body(b"\xff\xfe\x00") == "[3 bytes, not text]"
    assert masked_body(b"") == "" and masked_body(None) == ""


# --- the widget -----------------------------------------------------------------------------------


def test_the_panel_shows_a_step_and_refreshes(session: Session) -> None:
    authorize(session)
    untraced = wire_panel(session)  # recording starts now
    assert "Recording starts now" in untraced.text() and session.wire is not None
    mark = session.wire.mark()
    session.exchange()
    panel = wire_panel(session, since=mark, title="The exchange")
    text = panel.text()
    assert text.startswith("The exchange: 1 request and its reply (secrets masked)")
    assert "1. TikTok authorization service, attempt 1\n   > GET http://127.0.0.1:" in text
    assert " ms" not in text  # a stored output stays the same from run to run
    assert "<details open" in panel.body.value and "ms)" in panel.body.value
    bundle = panel._repr_mimebundle_()
    assert bundle is not None and bundle["text/plain"] == text
    session.authorized_shops()
    assert "TikTok Open API" not in panel.text()
    panel.refresh_button.click()
    assert "TikTok Open API" in panel.body.value and "2 requests" in panel.heading.value
    assert wire_panel(session.wire).text().count("attempt 1") == 2
    assert wire_panel(WireLog()).text() == "What went over the wire: nothing"
