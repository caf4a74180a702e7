"""Faults at every step, in live mode against mocked hosts (respx) and a real slow server.

Each fault yields the right error, and ``.env`` is byte for byte what it was: a failed step never
loses the tokens already saved, nor writes half of anything. Retries happen only where
repeating is safe (see tiktok_helpers/retry.py); the call counts below pin that down.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import respx

from tiktok_helpers.errors import (
    AccessTokenExpired,
    Api2CartError,
    HTTPStatusError,
    InvalidAuthCode,
    InvalidResponse,
    RateLimited,
    RefreshTokenExpired,
    RequestTimeout,
    ServiceError,
    ServiceUnreachable,
)
from tiktok_helpers.http import Transport
from tiktok_helpers.openapi import OpenApiClient
from tiktok_helpers.session import Session, open_session
from tiktok_helpers.tokens import TokenClient

AUTH = "https://auth.tiktok-shops.com"
OPEN = "https://open-api.tiktokglobalshop.com"
A2C = "https://api.api2cart.com/v1.1"

LIVE_ENV = """# my live settings
TIKTOK_MODE=live
TIKTOK_APP_KEY=6abcd1234efgh
TIKTOK_APP_SECRET=0123456789abcdef0123456789abcdef01234567
TIKTOK_SERVICE_ID=7312345678901234567
TIKTOK_REDIRECT_URL=https://example.com/callback
TIKTOK_ACCESS_TOKEN=TTP_saved_access_token_000000000001
TIKTOK_ACCESS_TOKEN_EXPIRES_AT=2030-01-01T00:00:00+00:00
TIKTOK_REFRESH_TOKEN=TTP_saved_refresh_token_00000000001
TIKTOK_REFRESH_TOKEN_EXPIRES_AT=2031-01-01T00:00:00+00:00
TIKTOK_AUTH_CODE=TTP_saved_auth_code_0000000000001
API2CART_API_KEY=my-api2cart-key-0000000001
OTHER_TOOL=keep me
"""


def _connect_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _read_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def _dropped(request: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("peer closed connection without sending complete message body", request=request)


FAULTS: dict[str, tuple[Callable[[httpx.Request], httpx.Response], type[ServiceError]]] = {
    "connect-error": (_connect_error, ServiceUnreachable),
    "read-timeout": (_read_timeout, RequestTimeout),
    "dropped": (_dropped, ServiceUnreachable),
    "http-503": (lambda r: httpx.Response(503, text="<html>busy</html>"), HTTPStatusError),
    "html-200": (lambda r: httpx.Response(200, text="<html>proxy login</html>"), InvalidResponse),
    "truncated": (lambda r: httpx.Response(200, content=b'{"code":0,"data":{"acc'), InvalidResponse),
}

# Per step: (method, URL, whether it is a read that may be retried).
STEPS: dict[str, tuple[str, str, bool]] = {
    "exchange": ("GET", f"{AUTH}/api/v2/token/get", False),
    "refresh": ("GET", f"{AUTH}/api/v2/token/refresh", False),
    "shops": ("GET", f"{OPEN}/authorization/202309/shops", True),
    "add_store": ("POST", f"{A2C}/account.cart.add.json", False),
    "list_stores": ("GET", f"{A2C}/account.cart.list.json", True),
}


def run_step(session: Session, step: str) -> object:
    return {
        "exchange": lambda: session.exchange(),
        "refresh": lambda: session.refresh(),
        "shops": lambda: session.authorized_shops(),
        "add_store": lambda: session.add_store(),
        "list_stores": lambda: session.list_stores(),
    }[step]()


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Session, Path, respx.MockRouter]]:
    env = tmp_path / ".env"
    env.write_text(LIVE_ENV)
    monkeypatch.setattr("tiktok_helpers.http.time.sleep", lambda seconds: None)  # backoff without waiting
    with (
        respx.mock(assert_all_mocked=True, assert_all_called=False) as router,
        open_session(env, environ={}) as session,
    ):
        assert session.sandbox is None
        session.import_legacy()  # the single-seller tokens above become the seller's grant
        yield session, env, router


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("step", STEPS)
def test_each_fault_at_each_step(live: tuple[Session, Path, respx.MockRouter], step: str, fault: str) -> None:
    session, env, router = live
    before = env.read_bytes()
    method, url, is_read = STEPS[step]
    effect, expected = FAULTS[fault]
    route = router.route(method=method, url__startswith=url).mock(side_effect=effect)
    with pytest.raises(expected):
        run_step(session, step)
    assert env.read_bytes() == before, "a failed step changed .env"
    never_sent = fault == "connect-error"
    retried = never_sent or (is_read and fault in ("read-timeout", "dropped", "http-503"))
    assert route.call_count == (3 if retried else 1)


@pytest.mark.parametrize(
    ("step", "code", "error"),
    [
        ("exchange", 36004004, InvalidAuthCode),
        ("refresh", 36004001, RefreshTokenExpired),
        ("shops", 105002, AccessTokenExpired),
        ("shops", 36009002, RateLimited),
    ],
)
def test_http_200_with_an_error_code(
    live: tuple[Session, Path, respx.MockRouter], step: str, code: int, error: type[Exception]
) -> None:
    session, env, router = live
    before = env.read_text()
    method, url, _ = STEPS[step]
    router.route(method=method, url__startswith=url).mock(
        return_value=httpx.Response(200, json={"code": code, "message": "no", "request_id": "R1"})
    )
    with pytest.raises(error):
        run_step(session, step)
    after = env.read_text()
    if step == "exchange":
        # The code is spent or expired: it alone is removed; every other line stays.
        assert after == before.replace("TIKTOK_AUTH_CODE=TTP_saved_auth_code_0000000000001\n", "")
    else:
        assert after == before


def test_api2cart_refusal_keeps_env(live: tuple[Session, Path, respx.MockRouter]) -> None:
    session, env, router = live
    before = env.read_bytes()
    router.post(f"{A2C}/account.cart.add.json").mock(
        return_value=httpx.Response(200, json={"return_code": 100, "return_message": "TikTok Shop: rt has expired"})
    )
    with pytest.raises(Api2CartError) as info:
        session.add_store()
    assert info.value.entry.code == "api2cart.100"
    assert env.read_bytes() == before


def test_a_retried_read_succeeds_after_503(live: tuple[Session, Path, respx.MockRouter]) -> None:
    session, _, router = live
    route = router.get(url__startswith=f"{OPEN}/authorization/202309/shops").mock(
        side_effect=[
            httpx.Response(503, headers={"retry-after": "1"}),
            httpx.Response(200, json={"code": 0, "data": {"shops": [{"id": "1", "cipher": "c"}]}}),
        ]
    )
    assert [s.id for s in session.authorized_shops(save_cipher=False)] == ["1"]
    assert route.call_count == 2


class _Slow(BaseHTTPRequestHandler):
    delay = 1.0

    def do_GET(self) -> None:
        time.sleep(self.delay)
        body = b'{"code":0,"data":{"shops":[]}}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up first
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def slow_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_slow_reply_times_out_and_a_code_is_not_resent(slow_server: str) -> None:
    sleeps: list[float] = []
    transport = Transport(slow_server, timeout=0.3, sleep=sleeps.append)
    client = TokenClient("6abcd1234efgh", "0123456789abcdef0123456789abcdef01234567", transport)
    with client, pytest.raises(RequestTimeout):
        client.exchange("TTP_code_0000000000000001")
    assert sleeps == []  # no wait before a second attempt: one attempt only


def test_slow_read_is_retried_with_backoff(slow_server: str) -> None:
    sleeps: list[float] = []
    transport = Transport(slow_server, timeout=0.3, sleep=sleeps.append)
    secret = "0123456789abcdef0123456789abcdef01234567"
    client = OpenApiClient("6abcd1234efgh", secret, "TTP_access_000000001", transport)
    with client, pytest.raises(RequestTimeout):
        client.get_authorized_shops()
    assert len(sleeps) == 2
    assert 0.4 <= sleeps[0] <= 0.6 and 0.8 <= sleeps[1] <= 1.2  # 0.5 s then 1 s, ±20 %
