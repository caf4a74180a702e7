"""Shared by the sandbox tests: the sample app's consent link, raw HTTP calls to the sandbox's
token endpoints as curl would make them (each returns the decoded JSON body and checks the HTTP
status is 200: TikTok answers errors in the body), the sandbox CLI in a subprocess, and what a
sandbox state database holds (for tests that look for leaked values)."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from queue import Empty, Queue
from typing import IO, Any

import httpx

from tiktok_helpers.authlink import build_authorization_link
from tiktok_helpers.regions import sandbox_endpoints
from tiktok_helpers.samples import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SERVICE_ID


def consent_link(base_url: str, kind: str = "seller", state: str | None = None) -> str:
    """The sample app's authorization link of ``kind`` on the sandbox at ``base_url``, built as the
    runbook builds it (a fresh ``state`` unless one is given)."""
    link = build_authorization_link(
        kind, service_id=SANDBOX_SERVICE_ID, app_key=SANDBOX_APP_KEY, state=state, endpoints=sandbox_endpoints(base_url)
    )
    return link.url


def _get(base_url: str, path: str, params: dict[str, str | None], client: httpx.Client | None) -> dict[str, Any]:
    sent = {k: v for k, v in params.items() if v is not None}
    reply = (client or httpx).get(f"{base_url}{path}", params=sent)
    assert reply.status_code == 200
    body: dict[str, Any] = reply.json()
    return body


def token_get(base_url: str, code: str, client: httpx.Client | None = None, **overrides: str | None) -> dict[str, Any]:
    """GET /api/v2/token/get with the sample app; ``overrides`` replace (or, as None, drop) a parameter."""
    params: dict[str, str | None] = {
        "app_key": SANDBOX_APP_KEY,
        "app_secret": SANDBOX_APP_SECRET,
        "auth_code": code,
        "grant_type": "authorized_code",
        **overrides,
    }
    return _get(base_url, "/api/v2/token/get", params, client)


def token_refresh(
    base_url: str, refresh_token: str, client: httpx.Client | None = None, **overrides: str | None
) -> dict[str, Any]:
    """GET /api/v2/token/refresh with the sample app."""
    params: dict[str, str | None] = {
        "app_key": SANDBOX_APP_KEY,
        "app_secret": SANDBOX_APP_SECRET,
        "refresh_token": refresh_token,
        "grant_type": "refresh_token",
        **overrides,
    }
    return _get(base_url, "/api/v2/token/refresh", params, client)


def issued_values(state_path: Path) -> set[str]:
    """Every code, access and refresh token and API2Cart store key in the sandbox state database at
    ``state_path`` (empty when there is none). Read through SQLite, read-only: never as raw bytes,
    which would drop the locks of a sandbox open in this process."""
    if not state_path.is_file():
        return set()
    conn = sqlite3.connect(f"{state_path.as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT code FROM auth_codes UNION ALL SELECT access_token FROM grants "
            "UNION ALL SELECT refresh_token FROM grants UNION ALL SELECT store_key FROM carts"
        ).fetchall()
    finally:
        conn.close()
    return {value for (value,) in rows}


@dataclass
class RunningCli:
    """``python -m tiktok_helpers.sandbox`` in a subprocess: its banner and base URL."""

    process: subprocess.Popen[str]
    banner: str
    base_url: str


def _read_lines(stream: IO[str], queue: Queue[str]) -> None:
    for line in stream:
        queue.put(line)


@contextmanager
def sandbox_cli(*args: str, cwd: Path) -> Iterator[RunningCli]:
    """Start the sandbox CLI on an ephemeral port, wait for its banner, and stop it (SIGTERM) on
    exit. The caller asserts ``process.returncode`` after the block: a clean stop gives 0."""
    # A subprocess: what is tested is the standalone sandbox server process and its stop on SIGTERM.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(cwd), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", "tiktok_helpers.sandbox", "--port", "0", *args],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    lines: Queue[str] = Queue()
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    output: list[str] = []
    try:
        deadline = time.monotonic() + 20
        while not any("Press Ctrl-C" in line for line in output):
            try:
                output.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
            except Empty:
                raise AssertionError(f"the sandbox CLI printed nothing useful: {output!r}") from None
        banner = "".join(output)
        match = re.search(r"running at (http://127\.0\.0\.1:\d+)", banner)
        assert match, banner
        yield RunningCli(process, banner, match.group(1))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
            process.stderr.close()
            process.stdout.close()
