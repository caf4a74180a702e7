"""Sandbox HTTP plumbing: keep-alive speed, 404s, logging hygiene, lifecycle, curl, the CLI."""

from __future__ import annotations

import logging
import re
import shlex
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tiktok_helpers.autopilot import walk_consent
from tiktok_helpers.samples import (
    SANDBOX_API2CART_KEY,
    SANDBOX_APP_KEY,
    SANDBOX_APP_SECRET,
    SANDBOX_SERVICE_ID,
)
from tiktok_helpers.sandbox import FakeClock, Sandbox, SystemClock

from .sandbox_calls import consent_link, sandbox_cli, token_get

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Step 3 of the source document, verbatim.
SOURCE_CURL = (
    "curl --location 'https://auth.tiktok-shops.com/api/v2/token/get?app_key=<App Key>"
    "&app_secret=<App Secret>&auth_code=<Code>&grant_type=authorized_code'"
)


@pytest.fixture
def sb() -> Iterator[Sandbox[FakeClock]]:
    with Sandbox(port=0, clock=FakeClock()) as sandbox:
        yield sandbox


def new_code(sb: Sandbox[FakeClock]) -> str:
    return parse_qs(urlsplit(walk_consent(consent_link(sb.base_url, state="srv"))).query)["code"][0]


def test_keep_alive_is_fast(sb: Sandbox[FakeClock]) -> None:
    """50 sequential requests on one connection: a delayed-ACK stall would cost ~40 ms each."""
    with httpx.Client(timeout=5) as client:
        client.get(f"{sb.base_url}/api/v2/token/get")  # warm up: connect once
        peers = set()
        started = time.perf_counter()
        for i in range(50):
            if i % 2:
                reply = client.post(
                    f"{sb.api2cart_base_url}/account.cart.add.json",
                    headers={"x-api-key": SANDBOX_API2CART_KEY},
                    json={"cart_id": "TikTokShop"},
                )
            else:
                reply = client.get(f"{sb.base_url}/api/v2/token/get", params={"app_key": SANDBOX_APP_KEY})
            assert reply.status_code == 200
            stream = reply.extensions["network_stream"]
            peers.add(stream.get_extra_info("client_addr"))
        elapsed = time.perf_counter() - started
    assert len(peers) == 1, "the connection was not kept alive"
    assert elapsed < 1.0, f"50 keep-alive requests took {elapsed:.3f} s"


def test_response_framing(sb: Sandbox[FakeClock]) -> None:
    reply = httpx.get(f"{sb.base_url}/api/v2/token/get")
    assert reply.http_version == "HTTP/1.1"
    assert int(reply.headers["content-length"]) == len(reply.content)
    assert reply.headers["content-type"] == "application/json; charset=utf-8"


def test_unknown_path_is_404_json(sb: Sandbox[FakeClock]) -> None:
    reply = httpx.get(f"{sb.base_url}/nothing/here", params={"x": "1"})
    assert reply.status_code == 404
    assert reply.json() == {"code": 404, "message": "not found: /nothing/here"}
    assert httpx.delete(f"{sb.base_url}/v1.1/unknown.json").status_code == 404


def test_logging_has_no_query_strings(sb: Sandbox[FakeClock], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tiktok_helpers.sandbox")
    code = new_code(sb)
    reply = token_get(sb.base_url, code)
    token = reply["data"]["access_token"]
    httpx.get(f"{sb.base_url}/open/authorize", params={"service_id": "bad", "state": "secret-state"})
    sandbox_logs = "\n".join(r.getMessage() for r in caplog.records if r.name == "tiktok_helpers.sandbox")
    assert "GET /api/v2/token/get -> 200" in sandbox_logs
    assert "POST /open/authorize/decision -> 302" in sandbox_logs
    for secret in (SANDBOX_APP_SECRET, code, token, "secret-state", "?"):
        assert secret not in sandbox_logs


def test_malformed_request_logs_no_query(sb: Sandbox[FakeClock], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tiktok_helpers.sandbox")
    with socket.create_connection(("127.0.0.1", sb.port), timeout=5) as raw:
        raw.sendall(
            f"GET /api/v2/token/get?app_secret=leaked oops HTTP/1.1\r\nHost: 127.0.0.1:{sb.port}\r\n\r\n".encode()
        )
        reply = raw.recv(65536)
    assert reply.startswith(b"HTTP/1.1 400")
    logs = "\n".join(r.getMessage() for r in caplog.records if r.name == "tiktok_helpers.sandbox")
    assert "[query removed]" in logs
    assert "leaked" not in logs and "oops" not in logs


def test_chunked_body_is_refused(sb: Sandbox[FakeClock]) -> None:
    with socket.create_connection(("127.0.0.1", sb.port), timeout=5) as raw:
        raw.sendall(
            f"POST /v1.1/account.cart.add.json HTTP/1.1\r\nHost: 127.0.0.1:{sb.port}\r\n".encode()
            + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
        )
        reply = raw.recv(65536)
    assert reply.startswith(b"HTTP/1.1 411")
    assert b"Connection: close" in reply


def test_lifecycle(sb: Sandbox[FakeClock]) -> None:
    assert sb.running
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sb.base_url)
    assert sb.start() is sb  # idempotent
    base = sb.base_url
    with httpx.Client(timeout=2) as client:
        assert client.get(f"{base}/api/v2/token/get").status_code == 200
        sb.stop()
        sb.stop()  # idempotent
        assert not sb.running
        with pytest.raises(RuntimeError, match="not running"):
            _ = sb.base_url
        with pytest.raises(httpx.TransportError):
            client.get(f"{base}/api/v2/token/get")  # even the kept-alive connection is gone
    code = sb.state.issue_code(SANDBOX_APP_KEY, "global")
    with sb:  # reusable; the state survives
        assert sb.base_url == base  # an ephemeral port is taken again when free
        assert token_get(sb.base_url, code)["code"] == 0


def test_default_clock_is_system_clock() -> None:
    sandbox = Sandbox()
    assert isinstance(sandbox.clock, SystemClock)
    assert not sandbox.running


def test_parallel_requests(sb: Sandbox[FakeClock]) -> None:
    results: list[int] = []

    def worker() -> None:
        with httpx.Client(timeout=5) as client:
            for _ in range(10):
                results.append(client.get(f"{sb.api2cart_base_url}/account.cart.list.json").json()["return_code"])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [2] * 80


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_source_document_curl_command(sb: Sandbox[FakeClock]) -> None:
    command = (
        SOURCE_CURL.replace("https://auth.tiktok-shops.com", sb.base_url)
        .replace("<App Key>", SANDBOX_APP_KEY)
        .replace("<App Secret>", SANDBOX_APP_SECRET)
        .replace("<Code>", new_code(sb))
    )
    done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=20, check=False)
    assert done.returncode == 0, done.stderr
    import json

    reply = json.loads(done.stdout)
    assert reply["code"] == 0
    assert reply["data"]["refresh_token"].startswith("TTP_")


def test_cli_serves_and_stops() -> None:
    with sandbox_cli(cwd=PROJECT_ROOT) as cli:
        text, base = cli.banner, cli.base_url
        assert SANDBOX_APP_KEY in text and SANDBOX_APP_SECRET in text and SANDBOX_SERVICE_ID in text
        assert SANDBOX_API2CART_KEY in text
        assert f"{base}/open/authorize?service_id={SANDBOX_SERVICE_ID}" in text
        assert (
            f"curl --location '{base}/api/v2/token/get?app_key={SANDBOX_APP_KEY}"
            f"&app_secret={SANDBOX_APP_SECRET}&auth_code=<Code>&grant_type=authorized_code'"
        ) in text
        reply = httpx.get(f"{base}/api/v2/token/get", params={"app_key": SANDBOX_APP_KEY}, timeout=5)
        assert reply.json()["code"] == 36004002
    assert cli.process.returncode == 0


def test_cli_main_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    from tiktok_helpers.sandbox.command import main

    with pytest.raises(SystemExit):
        main(["--auto-approve", "mars"])
    assert main(["--port", "0", "--redirect-url", "not-a-url"]) == 2
    assert "redirect URL" in capsys.readouterr().err


def test_date_header_follows_the_sandbox_clock() -> None:
    """The Date header is the sandbox's own clock (a FakeClock here), so a skewed sandbox shows its
    skew as a skewed server would, and `doctor`'s clock check can see it."""
    clock = FakeClock(1_600_000_000)  # 2020-09-13 12:26:40 UTC, far from today
    with Sandbox(port=0, clock=clock) as sandbox, httpx.Client(timeout=5) as client:
        for url in (f"{sandbox.base_url}/api/v2/token/get", f"{sandbox.base_url}/nowhere"):
            assert parsedate_to_datetime(client.get(url).headers["date"]).timestamp() == 1_600_000_000
        clock.advance(3600)
        reply = client.get(f"{sandbox.base_url}/api/v2/token/get")
        assert parsedate_to_datetime(reply.headers["date"]).timestamp() == 1_600_003_600
