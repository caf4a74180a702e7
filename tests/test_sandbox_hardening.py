"""The sandbox on the network and at the terminal (SECURITY.md, "Threat model"): it answers only
requests addressed to its loopback listener (no DNS rebinding), turns malformed requests into fixed
400s without a traceback, refuses an impossible port with a usage error, keeps its state folder
private, stops at once, and says clearly when it cannot write its state."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tiktok_helpers.autopilot import walk_consent
from tiktok_helpers.samples import SANDBOX_API2CART_KEY, SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SERVICE_ID
from tiktok_helpers.sandbox import FakeClock, Sandbox
from tiktok_helpers.sandbox.command import build_parser
from tiktok_helpers.sandbox.command import main as sandbox_main
from tiktok_helpers.sandbox.database import StateFileError

from .conftest import PROJECT_ROOT
from .sandbox_calls import consent_link, token_get

POSIX = sys.platform != "win32"
MARKER = "rebind-attacker-marker"


@pytest.fixture
def sb() -> Iterator[Sandbox[FakeClock]]:
    with Sandbox(port=0, clock=FakeClock()) as sandbox:
        yield sandbox


def exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes to the sandbox and read its whole answer (every answer here closes)."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(request)
        while chunk := raw.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def split_reply(reply: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def request(target: str, hosts: list[str], method: str = "GET", body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", *(f"Host: {host}" for host in hosts), "Connection: close"]
    if body:
        lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# ---------------------------------------------------------------- 1. the Host header (DNS rebinding)

PATHS = {  # one path of each kind: a consent page, TikTok's API, API2Cart's
    "page": f"/open/authorize?service_id={SANDBOX_SERVICE_ID}&state=s",
    "tiktok": f"/api/v2/token/get?app_key={SANDBOX_APP_KEY}",
    "api2cart": "/v1.1/account.cart.list.json",
}


def wrong_hosts(port: int) -> list[str]:
    return [
        f"{MARKER}.example:{port}",  # the rebound name, with the right port
        f"127.0.0.1.{MARKER}.example:{port}",  # looks local, is not
        f"127.0.0.1:{port + 1 if port < 65535 else port - 1}",  # this computer, another listener
        "127.0.0.1",  # no port: port 80, which the sandbox never has
        f"localhost.:{port}",
        f"127.0.0.2:{port}",  # loopback, but not the address listened on
        f"[::2]:{port}",
    ]


@pytest.mark.parametrize("kind", sorted(PATHS))
def test_a_request_for_another_host_gets_a_fixed_421(sb: Sandbox[FakeClock], kind: str) -> None:
    bodies = set()
    for host in wrong_hosts(sb.port):
        status, headers, body = split_reply(exchange(sb.port, request(PATHS[kind], [host])))
        assert status == 421, host
        assert headers["connection"] == "close"
        assert MARKER.encode() not in body and b".example" not in body
        bodies.add(body)
    assert len(bodies) == 1, "the 421 reply must not depend on the Host sent"
    assert (b"<html" in next(iter(bodies)).lower()) == (kind == "page")


@pytest.mark.parametrize(
    "hosts", [[], ["127.0.0.1:{port}", "127.0.0.1:{port}"], ["127.0.0.1:{port}", "evil:{port}"], ["a b"], [""]]
)
def test_a_missing_repeated_or_broken_host_gets_a_fixed_400(sb: Sandbox[FakeClock], hosts: list[str]) -> None:
    sent = [h.format(port=sb.port) for h in hosts]
    status, headers, body = split_reply(exchange(sb.port, request(PATHS["tiktok"], sent)))
    assert status == 400 and headers["connection"] == "close"
    assert b"evil" not in body and b"a b" not in body


def test_an_http_1_0_request_without_host_is_refused(sb: Sandbox[FakeClock]) -> None:
    reply = exchange(sb.port, f"GET {PATHS['tiktok']} HTTP/1.0\r\n\r\n".encode())
    assert split_reply(reply)[0] == 400


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "[::1]", "LocalHost"])
def test_the_listeners_own_names_are_answered(sb: Sandbox[FakeClock], name: str) -> None:
    status, _, body = split_reply(exchange(sb.port, request(PATHS["tiktok"], [f"{name}:{sb.port}"])))
    assert status == 200 and b'"code": 36004002' in body  # the route answered: app_secret missing


def test_a_rebound_page_can_neither_approve_nor_exchange(sb: Sandbox[FakeClock]) -> None:
    """Through a rebound name nothing happens: no code issued by pressing Authorize, a code sent to
    the token endpoint stays unused, no store is added."""
    rebound = f"{MARKER}.example:{sb.port}"
    decision = f"auth_type=seller&service_id={SANDBOX_SERVICE_ID}&seller=global&decision=authorize&state=s".encode()
    assert split_reply(exchange(sb.port, request("/open/authorize/decision", [rebound], "POST", decision)))[0] == 421
    assert sb.state.codes == {}
    here = f"127.0.0.1:{sb.port}"  # the same form, addressed to the sandbox: it is an approval
    assert split_reply(exchange(sb.port, request("/open/authorize/decision", [here], "POST", decision)))[0] == 302
    assert len(sb.state.codes) == 1
    code = sb.state.issue_code(SANDBOX_APP_KEY, "global")
    target = (
        f"/api/v2/token/get?app_key={SANDBOX_APP_KEY}&app_secret={SANDBOX_APP_SECRET}"
        f"&auth_code={code}&grant_type=authorized_code"
    )
    status, _, body = split_reply(exchange(sb.port, request(target, [rebound])))
    assert status == 421 and code.encode() not in body and b"TTP_" not in body
    add = b'{"cart_id": "TikTokShop"}'
    reply = exchange(
        sb.port,
        request("/v1.1/account.cart.add.json", [rebound], "POST", add).replace(
            b"Connection: close", f"x-api-key: {SANDBOX_API2CART_KEY}\r\nConnection: close".encode()
        ),
    )
    assert split_reply(reply)[0] == 421
    assert sb.state.grants == []
    assert token_get(sb.base_url, code)["code"] == 0  # the code was never spent
    listed = httpx.get(f"{sb.api2cart_base_url}/account.cart.list.json", headers={"x-api-key": SANDBOX_API2CART_KEY})
    assert listed.json()["result"]["carts"] == []


def test_in_process_clients_still_work(sb: Sandbox[FakeClock]) -> None:
    """httpx and the autopilot send ``Host: 127.0.0.1:PORT``: the flow goes on."""
    location = walk_consent(consent_link(sb.base_url, state="ok"))
    code = parse_qs(urlsplit(location).query)["code"][0]
    assert token_get(sb.base_url, code)["code"] == 0


# ---------------------------------------------------------------- 2. malformed requests


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"GET http://[::1/ HTTP/1.1", 400),
        (b"GET http://127.0.0.1/api/v2/token/get HTTP/1.1", 400),
        (b"GET https://[::1]:1/open/authorize?x=1 HTTP/1.1", 400),
        (b"OPTIONS * HTTP/1.1", 501),
        (b"GET * HTTP/1.1", 400),
        (b"GARBAGE<script>", 400),
        (b"GET / HTTP/<script>", 400),
        (b"GET / HTTP/1.1 <script>", 400),
        (b"GET / HTTP/2.0", 505),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1", 414),
        (b"BREW /<script> HTTP/1.1", 501),
        (b"GET /\xff\xfe[ HTTP/1.1", 404),  # an odd path is only not found
    ],
)
def test_a_malformed_request_gets_a_fixed_reply_and_no_traceback(
    sb: Sandbox[FakeClock],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    line: bytes,
    status: int,
) -> None:
    caplog.set_level(logging.DEBUG)
    capsys.readouterr()
    reply = exchange(sb.port, line + f"\r\nHost: 127.0.0.1:{sb.port}\r\nConnection: close\r\n\r\n".encode())
    got, headers, body = split_reply(reply)
    assert got == status, reply[:300]
    assert headers["content-type"].startswith(("application/json", "text/html"))
    for echo in (b"<script>", b"[::1", b"GARBAGE", b"BREW", b"aaaa"):
        assert echo not in body
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Exception" not in captured.err
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert split_reply(exchange(sb.port, request(PATHS["tiktok"], [f"127.0.0.1:{sb.port}"])))[0] == 200


# ---------------------------------------------------------------- 3. the port


@pytest.mark.parametrize("port", ["70000", "65536", "-1", "abc", "8770.5"])
def test_an_impossible_port_is_a_usage_error(capsys: pytest.CaptureFixture[str], port: str) -> None:
    with pytest.raises(SystemExit) as exited:
        sandbox_main(["--port", port])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --port" in err and "Traceback" not in err
    assert ("0 to 65535" in err) or ("not a whole number" in err)


def test_the_runbook_command_refuses_it_too(capsys: pytest.CaptureFixture[str]) -> None:
    from tiktok_helpers.cli.main import main

    assert main(["sandbox", "--port", "70000"]) == 2
    assert "0 to 65535" in capsys.readouterr().err


def test_every_real_port_parses_and_the_api_checks_too() -> None:
    for port in ("0", "1", "65535"):
        assert build_parser().parse_args(["--port", port]).port == int(port)
    for bad in (70000, -1, True):
        with pytest.raises(ValueError, match="0 to 65535"):
            Sandbox(port=bad)
    with pytest.raises(ValueError, match="this computer only"):
        Sandbox(host="0.0.0.0")  # the point: it is refused


def test_a_busy_port_keeps_its_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert sandbox_main(["--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"port {port} is already in use; try --port 0" in err and "Traceback" not in err


# ---------------------------------------------------------------- 4. the state folder's mode


@pytest.mark.skipif(not POSIX, reason="POSIX modes")
def test_a_sandbox_session_keeps_its_folder_private(tmp_path: Path) -> None:
    from tiktok_helpers.session import open_session

    project_mode = stat.S_IMODE(tmp_path.stat().st_mode)
    old = os.umask(0o022)  # the usual umask: session.py's mkdir makes .sandbox/ 0755
    try:
        with open_session(tmp_path / ".env", environ={}) as session:
            assert session.sandbox is not None
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / ".sandbox").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / ".sandbox" / "state.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(tmp_path.stat().st_mode) == project_mode  # the project folder is not touched


@pytest.mark.skipif(not POSIX, reason="POSIX modes")
@pytest.mark.parametrize(
    ("mode", "others", "expected"),
    [
        (0o755, [], 0o700),  # its own folder, made by someone with a lax umask
        (0o750, ["state.db.corrupt"], 0o700),  # its own files only
        (0o555, [], 0o500),  # tightened, never made writable
        (0o755, ["notes.txt"], 0o755),  # a shared folder (the project's): left alone
        (0o1777, [], 0o1777),  # sticky, like /tmp: left alone
    ],
)
def test_only_a_folder_of_its_own_is_tightened(tmp_path: Path, mode: int, others: list[str], expected: int) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    for name in others:
        (folder / name).write_text("x")
    folder.chmod(mode)
    try:
        Sandbox(state_path=folder / "state.db")
        assert stat.S_IMODE(folder.stat().st_mode) == expected
    finally:
        folder.chmod(0o700)


# ---------------------------------------------------------------- 5. stopping


def test_stop_is_immediate_releases_the_port_and_leaves_no_thread() -> None:
    timings = []
    for _ in range(8):
        sandbox = Sandbox(port=0).start()
        port = sandbox.port
        with httpx.Client(timeout=5) as client:  # a kept-alive connection, still open at stop()
            assert client.get(f"{sandbox.base_url}/api/v2/token/get").status_code == 200
            time.sleep(0.01)
            started = time.perf_counter()
            sandbox.stop()
            timings.append(time.perf_counter() - started)
        assert not [t for t in threading.enumerate() if t.name == f"tiktok-sandbox-{port}"]
        with socket.socket() as again:  # released: a new listener (as a new sandbox binds) gets it at once
            again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            again.bind(("127.0.0.1", port))
            again.listen()
    # How fast is a figure for benchmarks/ (stops.sandbox_stop_ms: under a millisecond, where a 50 ms
    # poll would give about 25 ms); here the events: stop() returned with the connection still open,
    # the thread is gone and the port is free, and it never hung.
    assert max(timings) < 5, timings


# ---------------------------------------------------------------- 6. a state folder that cannot be written


def test_a_state_folder_that_cannot_be_made_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "project"
    blocker.write_text("a file where the folder should be")
    path = blocker / ".sandbox" / "state.db"
    with pytest.raises(StateFileError) as raised:
        Sandbox(state_path=path)
    message = str(raised.value)
    assert str(path) in message and "TIKTOK_SANDBOX_URL" in message and "write to" in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert sandbox_main(["--port", "0", "--state", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot keep the sandbox's state in {path}") and "Traceback" not in err


def _without_write_permission() -> list[str] | None:
    """The command prefix under which a 0500 folder really cannot be written: nothing for another
    user; for root (as in CI), util-linux's setpriv without CAP_DAC_OVERRIDE, when that works."""
    if not POSIX:
        return None
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    try:
        done = subprocess.run([*prefix, sys.executable, "-c", "0"], capture_output=True, timeout=20, check=False)
    except OSError:
        return None
    return prefix if done.returncode == 0 else None


@pytest.fixture
def unprivileged(tmp_path: Path) -> Iterator[list[str]]:
    prefix = _without_write_permission()
    if prefix is None:
        pytest.skip("root may write anywhere (and setpriv cannot drop that here)")
    yield prefix
    for folder in tmp_path.rglob("*"):
        if folder.is_dir():
            folder.chmod(0o700)


def _run(prefix: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env = {k: v for k, v in env.items() if not k.startswith(("TIKTOK_", "API2CART_"))}
    return subprocess.run(
        [*prefix, sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.skipif(not POSIX, reason="POSIX modes")
def test_a_read_only_state_folder_is_a_clear_error(tmp_path: Path, unprivileged: list[str]) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    if not unprivileged and os.access(folder, os.W_OK):
        pytest.skip("this user may write in a 0500 folder")
    path = folder / "state.db"
    done = _run(unprivileged, "-m", "tiktok_helpers.sandbox", "--port", "0", "--state", str(path), cwd=tmp_path)
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr and "WARNING" not in done.stderr.upper()
    assert done.stderr.startswith(f"error: cannot keep the sandbox's state in {path}")
    assert f"Make {folder} a folder this user can write to" in done.stderr and "TIKTOK_SANDBOX_URL" in done.stderr
    assert not path.exists()


@pytest.mark.skipif(not POSIX, reason="POSIX modes")
def test_a_read_only_sandbox_folder_stops_the_session_with_a_clear_error(
    tmp_path: Path, unprivileged: list[str]
) -> None:
    """The project's .sandbox/ exists but cannot be written: open_session() raises the sandbox's
    clear error (as the package's SettingsError, so the CLI and the widgets report it with its fix),
    instead of keeping the state where the next notebook cannot see it."""
    (tmp_path / ".sandbox").mkdir()
    (tmp_path / ".sandbox").chmod(0o500)
    script = (
        "import sys\nfrom pathlib import Path\nfrom tiktok_helpers.session import open_session\n"
        "from tiktok_helpers.errors import SettingsError\n"
        "try:\n    open_session(Path(sys.argv[1]), environ={})\n"
        "except SettingsError as err:\n    print(err)\n    sys.exit(3)\n"
    )
    done = _run(unprivileged, "-c", script, str(tmp_path / ".env"), cwd=tmp_path)
    assert done.returncode == 3, done
    assert str(tmp_path / ".sandbox" / "state.db") in done.stdout and "TIKTOK_SANDBOX_URL" in done.stdout
    assert "kept in this process only" not in done.stderr and "Traceback" not in done.stderr
