"""What counts as "this computer", and listening on all of it.

``validation.is_loopback`` decides by parsing (an address in 127.0.0.0/8, ::1, or exactly
``localhost``), never by a prefix; the URL cleaners refuse what would send a request somewhere
else than it looks (``user:pass@``, a ``#`` part, a backslash, port 0 outside a catcher's redirect
URL). A catcher for ``localhost`` listens on both 127.0.0.1 and ::1, so no other program can take
the half the browser may use, or it refuses with an error naming the address that is taken.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Iterator
from functools import partial

import pytest

from tiktok_helpers import catcher as catcher_module
from tiktok_helpers.catcher import CatcherState, RedirectCatcher
from tiktok_helpers.errors import CallbackPortBusy, ValidationError
from tiktok_helpers.settings import clean_updates
from tiktok_helpers.validation import clean_redirect_url, clean_url, is_loopback

CODE = "TTP_loopback_code_0123456789abcdef"
STATE = "loopback-state-value"

# --- is_loopback ----------------------------------------------------------------------------------

THIS_COMPUTER = [
    "127.0.0.1",
    "127.0.0.2",
    "127.255.255.254",
    "::1",
    "[::1]",
    "0:0:0:0:0:0:0:1",
    "localhost",
    "LOCALHOST",
    "LocalHost",
]

NOT_THIS_COMPUTER = [
    "127.0.0.1.attacker.example",
    "localhost.attacker.example",
    "127.0.0.1@evil.example",
    "evil.example",
    "localhost.",  # no trailing-dot games
    "127.0.0.1.",
    "localhost:8765",
    "::2",
    "[::2]",
    "::ffff:127.0.0.1",  # IPv4-mapped: not ::1
    "::1%lo",  # a zone
    "[127.0.0.1]",
    "127.1",  # shorthand a resolver may expand, ipaddress does not
    "2130706433",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "128.0.0.1",
    "126.255.255.255",
    "0.0.0.0",
    "::",
    "10.0.0.1",
    "\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54",  # fullwidth "localhost"
    "local host",
    "",
]


@pytest.mark.parametrize("host", THIS_COMPUTER)
def test_this_computer_is_loopback(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", NOT_THIS_COMPUTER)
def test_lookalikes_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


# --- base URLs (the sandbox and every host override) -----------------------------------------------

base_url = partial(clean_url, field="TIKTOK_SANDBOX_URL", allow_http=is_loopback)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1.attacker.example/", "127.0.0.1.attacker.example is not this computer"),
        ("http://localhost.attacker.example/", "localhost.attacker.example is not this computer"),
        ("http://[::2]/", "[::2] is not this computer"),
        ("http://[::ffff:127.0.0.1]:8765/", "is not this computer"),
        ("http://127.0.0.1@evil.example/", "would go to evil.example"),
        ("http://user:pass@127.0.0.1:8765/", "user name or password before an @"),
        ("https://user@example.com/", "user name or password before an @"),
        ("http://127.0.0.1:8765/#frag", "# fragment"),
        ("http://127.0.0.1:8765/#", "# fragment"),
        ("http://127.0.0.1:0/", "port 0"),
        ("https://api.example.com:0/", "port 0"),
        ("http://localhost.:8765/", "trailing dot"),
        ("http://evil.example\\@127.0.0.1/", "backslash"),
    ],
)
def test_base_url_refusals_say_what_to_fix(url: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        base_url(url)
    text = str(info.value)
    assert message in text
    assert "pass@" not in text and "user:" not in text  # the user name or password is never shown


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765",
        "http://127.0.0.2:8765/",
        "http://[::1]:8765/",
        "http://LOCALHOST:8765/",
        "https://127.0.0.1.attacker.example/",  # https is fine anywhere: it is not claimed to be this computer
        "https://open-api.tiktokglobalshop.com",
    ],
)
def test_base_urls_that_are_accepted(url: str) -> None:
    assert base_url(url) == url


def test_the_settings_refuse_a_lookalike_sandbox_url() -> None:
    with pytest.raises(ValidationError, match="is not this computer"):
        clean_updates({"TIKTOK_SANDBOX_URL": "http://127.0.0.1.attacker.example:8765"})
    with pytest.raises(ValidationError, match=r"would go to evil\.example"):
        clean_updates({"TIKTOK_AUTH_BASE_URL": "http://127.0.0.1@evil.example"})


# --- redirect URLs: port 0 means "any free port", for the catcher only -----------------------------


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:0/callback", "http://localhost:0/callback", "http://[::1]:0/cb", "http://127.0.0.2:0/"]
)
def test_port_zero_is_allowed_in_a_loopback_redirect_url(url: str) -> None:
    assert clean_redirect_url(url) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://example.com:0/callback", "'any free port' only works for an http:// redirect URL"),
        ("http://127.0.0.1.attacker.example:0/cb", "is not this computer"),
        ("http://127.0.0.1:8765/cb#x", "# fragment"),
        ("http://u:p@127.0.0.1:8765/cb", "user name or password before an @"),
        ("http://localhost.attacker.example:8765/cb", "is not this computer"),
    ],
)
def test_redirect_url_refusals_say_what_to_fix(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match="Redirect URL") as info:
        clean_redirect_url(url)
    assert message in str(info.value)


# --- a catcher for localhost listens on 127.0.0.1 and ::1 -----------------------------------------


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _ipv6_loopback(), reason="no ::1 on this machine")


def send(address: str, port: int, target: str, host: str) -> bytes:
    """A raw GET to ``address:port`` with ``Host: host``; the whole answer."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect((address, port))
        sock.sendall(f"GET {target} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def squatter() -> Iterator[Callable[[str, int], socket.socket]]:
    """Another program listening on an address (``port`` 0: any)."""
    opened: list[socket.socket] = []

    def listen(address: str, port: int = 0) -> socket.socket:
        sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
        opened.append(sock)
        sock.bind((address, port))
        sock.listen()
        return sock

    yield listen
    for sock in opened:
        sock.close()


@needs_ipv6
def test_localhost_is_caught_on_both_addresses_and_nobody_can_take_ipv6() -> None:
    with RedirectCatcher("http://localhost:0/callback", expected_state=STATE, timeout=30) as c:
        port = c.port
        assert c.addresses == (f"127.0.0.1:{port}", f"[::1]:{port}")
        assert c.redirect_url == f"http://localhost:{port}/callback"
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as rival, pytest.raises(OSError, match="in use"):
            rival.bind(("::1", port))
        # The browser sent localhost to ::1: the runbook itself gets the code.
        reply = send("::1", port, f"/callback?code={CODE}&state={STATE}", f"localhost:{port}")
        assert reply.startswith(b"HTTP/1.0 303 ") and b"Location: /callback/done\r\n" in reply
        assert b"You can close this tab" in send("::1", port, "/callback/done", f"localhost:{port}")
        assert c.wait(5).code.reveal() == CODE


@needs_ipv6
def test_localhost_answers_on_ipv4_too() -> None:
    with RedirectCatcher("http://localhost:0/callback", expected_state=STATE, timeout=30) as c:
        reply = send("127.0.0.1", c.port, f"/callback?code={CODE}&state={STATE}", f"localhost:{c.port}")
        assert reply.startswith(b"HTTP/1.0 303 ")
        assert c.wait(5).code.reveal() == CODE


@needs_ipv6
def test_a_program_on_ipv6_loopback_is_a_clear_error(squatter: Callable[[str, int], socket.socket]) -> None:
    port = squatter("::1", 0).getsockname()[1]
    with pytest.raises(CallbackPortBusy) as info:
        RedirectCatcher(f"http://localhost:{port}/callback", expected_state=STATE).start()
    assert (info.value.address, info.value.port, info.value.busy) == ("::1", port, True)
    assert f"one is listening on [::1]:{port}" in str(info.value) and "paste" in str(info.value)
    # The 127.0.0.1 half was let go: nobody listens there now. (Binding the port again, as before,
    # fails now and then when the suite runs in parallel: another process's outgoing connection may
    # hold that number as its ephemeral port, since port-0 listeners and ephemeral ports share a range.)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_a_program_on_ipv4_loopback_is_a_clear_error(squatter: Callable[[str, int], socket.socket]) -> None:
    port = squatter("127.0.0.1", 0).getsockname()[1]
    with pytest.raises(CallbackPortBusy) as info:
        RedirectCatcher(f"http://localhost:{port}/callback").start()
    assert (info.value.address, info.value.port, info.value.busy) == ("127.0.0.1", port, True)


@needs_ipv6
def test_any_port_is_one_free_on_both(monkeypatch: pytest.MonkeyPatch) -> None:
    """Port 0: when ::1 is taken on the port 127.0.0.1 got, another port is picked for both."""
    listen = catcher_module._listen
    tried: list[tuple[str, int]] = []

    def ipv6_taken_twice(address: str, port: int) -> socket.socket:
        tried.append((address, port))
        if address == "::1" and sum(a == "::1" for a, _ in tried) <= 2:
            raise OSError(errno.EADDRINUSE, "Address already in use")
        return listen(address, port)

    monkeypatch.setattr(catcher_module, "_listen", ipv6_taken_twice)
    with RedirectCatcher("http://localhost:0/cb", timeout=30) as c:
        ipv6_ports = [p for a, p in tried if a == "::1"]
        assert len(ipv6_ports) == 3 and len(set(ipv6_ports)) == 3  # a fresh port each time
        assert tried[-1] == ("::1", c.port)
        assert c.addresses == (f"127.0.0.1:{c.port}", f"[::1]:{c.port}")


def test_without_ipv6_localhost_listens_on_ipv4_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    listen = catcher_module._listen

    def no_ipv6(address: str, port: int) -> socket.socket:
        if address == "::1":
            raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
        return listen(address, port)

    monkeypatch.setattr(catcher_module, "_listen", no_ipv6)
    with RedirectCatcher("http://localhost:0/cb", expected_state=STATE, timeout=30) as c:
        assert c.addresses == (f"127.0.0.1:{c.port}",)
        assert send("127.0.0.1", c.port, f"/cb?code={CODE}&state={STATE}", f"localhost:{c.port}").startswith(
            b"HTTP/1.0 303 "
        )
        assert c.wait(5).code.reveal() == CODE


def test_an_ipv6_redirect_url_without_ipv6_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_ipv6(address: str, port: int) -> socket.socket:
        raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")

    monkeypatch.setattr(catcher_module, "_listen", no_ipv6)
    with pytest.raises(ValidationError, match=r"cannot listen on \[::1\].*no such address.*paste"):
        RedirectCatcher("http://[::1]:0/cb").start()


def test_an_ipv4_literal_listens_on_that_address_only() -> None:
    with RedirectCatcher("http://127.0.0.1:0/cb", timeout=30) as c:
        assert c.addresses == (f"127.0.0.1:{c.port}",)
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as other:
            if _ipv6_loopback():
                other.bind(("::1", c.port))  # ::1 is not claimed: the URL names 127.0.0.1, the browser goes there


def test_another_127_address_is_caught_there() -> None:
    try:
        c = RedirectCatcher("http://127.0.0.2:0/cb", expected_state=STATE, timeout=30).start()
    except ValidationError:
        pytest.skip("127.0.0.2 cannot be bound here (only 127.0.0.1 is configured)")
    try:
        assert c.addresses == (f"127.0.0.2:{c.port}",)
        reply = send("127.0.0.2", c.port, f"/cb?code={CODE}&state={STATE}", f"127.0.0.2:{c.port}")
        assert reply.startswith(b"HTTP/1.0 303 ")
        assert c.wait(5).code.reveal() == CODE
        assert c.status().state is CatcherState.RECEIVED
    finally:
        c.stop()
