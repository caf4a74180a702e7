"""The loopback redirect catcher, over real HTTP."""

from __future__ import annotations

import contextlib
import errno
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tiktok_helpers import catcher as catcher_module
from tiktok_helpers.catcher import CatcherState, CatcherStatus, RedirectCatcher
from tiktok_helpers.errors import (
    AuthorizationDenied,
    CallbackPortBusy,
    FieldProblem,
    RedirectTimeout,
    ValidationError,
)

CODE = "TTP_catcher_code_0123456789abcdef"
STATE = "expected-state-value"


@pytest.fixture
def catcher() -> Iterator[RedirectCatcher]:
    with RedirectCatcher("http://127.0.0.1:0/callback", expected_state=STATE, timeout=20) as c:
        yield c


def get(c: RedirectCatcher, path_and_query: str) -> httpx.Response:
    """Load an address as a browser does: following redirects."""
    return httpx.get(f"http://127.0.0.1:{c.port}{path_and_query}", timeout=5, follow_redirects=True)


def test_receives_the_code_and_answers_a_friendly_page(catcher: RedirectCatcher) -> None:
    assert catcher.port > 0
    assert catcher.redirect_url == f"http://127.0.0.1:{catcher.port}/callback"
    reply = get(catcher, f"/callback?code={CODE}&state={STATE}&locale=en&shop_region=GB")
    assert reply.status_code == 200
    assert "You can close this tab" in reply.text
    assert CODE not in reply.text
    assert str(reply.url) == f"http://127.0.0.1:{catcher.port}/callback/done"  # the code left the address bar
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["referrer-policy"] == "no-referrer"
    result = catcher.wait(5)
    assert result.code.reveal() == CODE
    assert result.shop_region == "GB"
    assert catcher.status().state is CatcherState.RECEIVED


def test_stray_requests_are_ignored(catcher: RedirectCatcher) -> None:
    assert get(catcher, "/favicon.ico").status_code == 404
    assert get(catcher, f"/other?code={CODE}&state={STATE}").status_code == 404
    assert get(catcher, "/callback").status_code == 400  # no code: e.g. a prefetch
    assert catcher.status().state is CatcherState.WAITING
    assert catcher.status().ignored == 3
    get(catcher, f"/callback?code={CODE}&state={STATE}")
    assert catcher.wait(5).code.reveal() == CODE


def test_wrong_state_is_ignored_and_does_not_end_the_wait(catcher: RedirectCatcher) -> None:
    reply = get(catcher, "/callback?code=TTP_forged_code_000000&state=attacker")
    assert reply.status_code == 400
    assert "ignored" in reply.text
    assert catcher.status().state is CatcherState.WAITING
    get(catcher, f"/callback?code={CODE}&state={STATE}")
    assert catcher.wait(5).code.reveal() == CODE


def test_the_browser_ends_on_a_clean_address(catcher: RedirectCatcher) -> None:
    first = httpx.get(f"http://127.0.0.1:{catcher.port}/callback?code={CODE}&state={STATE}", timeout=5)
    assert first.status_code == 303
    assert first.headers["location"] == "/callback/done"
    assert first.headers["cache-control"] == "no-store"
    reply = get(catcher, f"/callback?code={CODE}&state={STATE}&locale=en")  # as a browser: follows the 303
    assert [r.status_code for r in reply.history] == [303]
    assert reply.status_code == 200
    assert reply.url.query == b"" and reply.url.path == "/callback/done"
    assert "code" not in str(reply.url) and CODE not in str(reply.url) and STATE not in str(reply.url)
    assert "You can close this tab" in reply.text
    assert catcher.wait(5).code.reveal() == CODE


def test_the_done_page_is_not_served_before_a_result(catcher: RedirectCatcher) -> None:
    assert get(catcher, "/callback/done").status_code == 404
    assert catcher.status().state is CatcherState.WAITING
    assert catcher.status().ignored == 1


def test_refusal_ends_the_wait_with_denied(catcher: RedirectCatcher) -> None:
    reply = get(catcher, f"/callback?error=access_denied&code=null&state={STATE}")
    assert "refused" in reply.text
    assert reply.url.path == "/callback/done" and reply.url.query == b""
    with pytest.raises(AuthorizationDenied):
        catcher.wait(5)
    assert catcher.status().state is CatcherState.DENIED


def test_later_requests_after_the_code_do_not_replace_it(catcher: RedirectCatcher) -> None:
    get(catcher, f"/callback?code={CODE}&state={STATE}")
    catcher.wait(5)
    # The listener closes after the answer; a late request is refused or gets the same page.
    with contextlib.suppress(httpx.TransportError):
        get(catcher, f"/callback?code=TTP_second_code_0000000&state={STATE}")
    assert catcher.wait(1).code.reveal() == CODE


@pytest.mark.parametrize(
    "payload",
    ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "%3Cscript%3Ealert(1)%3C/script%3E"],
)
def test_nothing_is_reflected(catcher: RedirectCatcher, payload: str) -> None:
    for query in (f"code={payload}&state={STATE}", f"code={CODE}&state={payload}", f"error={payload}"):
        reply = get(catcher, f"/callback?{query}")
        assert "<script" not in reply.text.lower()
        assert "onerror" not in reply.text.lower()
        if catcher.status().done:
            break


def test_deadline_times_out() -> None:
    with RedirectCatcher("http://127.0.0.1:0/cb", timeout=0.5) as c:
        with pytest.raises(RedirectTimeout):
            c.wait(5)
        assert c.status().state is CatcherState.TIMED_OUT


def test_progress_is_reported() -> None:
    seen: list[CatcherStatus] = []
    with RedirectCatcher("http://127.0.0.1:0/cb", timeout=20, on_progress=seen.append) as c:
        httpx.get(f"http://127.0.0.1:{c.port}/cb?code={CODE}", timeout=5, follow_redirects=True)
        c.wait(5)
        deadline = time.monotonic() + 5
        while seen[-1].state is not CatcherState.RECEIVED and time.monotonic() < deadline:
            time.sleep(0.05)
    assert seen[0].state is CatcherState.WAITING
    assert 0 < seen[0].seconds_left <= 20
    assert "s left" in seen[0].message
    assert seen[-1].state is CatcherState.RECEIVED


def test_listens_on_loopback_only(catcher: RedirectCatcher) -> None:
    assert catcher.addresses == (f"127.0.0.1:{catcher.port}",)


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 on this machine")
def test_ipv6_loopback() -> None:
    try:
        c = RedirectCatcher("http://[::1]:0/cb", timeout=10).start()
    except ValidationError:
        pytest.skip("::1 cannot be bound here")
    try:
        assert c.redirect_url.startswith("http://[::1]:")
        httpx.get(f"http://[::1]:{c.port}/cb?code={CODE}", timeout=5, follow_redirects=True)
        assert c.wait(5).code.reveal() == CODE
    finally:
        c.stop()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:8765/cb",
        "http://example.com/cb",
        "http://0.0.0.0:8765/cb",
        "http://192.168.1.2/cb",
        "http://127.0.0.1.attacker.example:8765/cb",
        "http://localhost.attacker.example:8765/cb",
        "http://127.0.0.1@evil.example:8765/cb",
        "http://evil.example@127.0.0.1:8765/cb",
        "http://[::2]:8765/cb",
        "http://[::1:8765/cb",
        "http://127.0.0.1:99999/cb",
    ],
)
def test_only_http_loopback_redirects_can_be_caught(url: str) -> None:
    with pytest.raises(ValidationError, match="paste the address"):
        RedirectCatcher(url)


def test_busy_port_is_a_clear_error() -> None:
    """The catcher itself says, as values, which address and port it could not listen on and that
    another program holds the port; the message is composed from those values."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(CallbackPortBusy) as info:
            RedirectCatcher(f"http://127.0.0.1:{port}/cb").start()
    busy = info.value
    assert isinstance(busy, ValidationError) and busy.fields == ("Redirect URL",)
    assert (busy.address, busy.port, busy.busy, busy.where) == ("127.0.0.1", port, True, f"127.0.0.1:{port}")
    assert busy.entry.code == "redirect.port_busy"
    assert f"port {port} is taken by another program (one is listening on 127.0.0.1:{port})" in str(busy)
    assert busy.fix in str(busy)


def test_an_address_this_computer_lacks_is_not_a_busy_port(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_address(address: str, port: int) -> socket.socket:
        raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")

    monkeypatch.setattr(catcher_module, "_listen", no_such_address)
    with pytest.raises(CallbackPortBusy) as info:
        RedirectCatcher("http://127.0.0.9:8765/cb").start()
    assert (info.value.address, info.value.port, info.value.busy) == ("127.0.0.9", 8765, False)
    assert "this computer has no such address" in str(info.value)


def test_a_port_busy_error_without_an_address_still_names_the_port() -> None:
    problem = FieldProblem("Redirect URL", "another program is already listening")
    busy = CallbackPortBusy(problem, 8765, busy=True)
    assert busy.where == "" and "port 8765 is taken by another program." in str(busy)
    ipv6 = CallbackPortBusy(problem, 8765, busy=True, address="::1")
    assert ipv6.where == "[::1]:8765" and "one is listening on [::1]:8765" in str(ipv6)
    refused = CallbackPortBusy(
        FieldProblem("Redirect URL", "cannot listen on 127.0.0.9 (no such address)"), 1, busy=False
    )
    assert "cannot listen on 127.0.0.9 (no such address)" in str(refused)


def test_stop_ends_waiting() -> None:
    c = RedirectCatcher("http://localhost:0/cb", timeout=30).start()
    c.stop()
    assert c.status().state is CatcherState.STOPPED
    with pytest.raises(RedirectTimeout):
        c.wait(1)
