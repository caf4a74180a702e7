"""Catch the browser's redirect back from TikTok on this computer.

A one-shot HTTP listener bound to loopback only (127.0.0.1 or ::1), on the port and path of the
app's redirect URL (or an ephemeral port). It runs in a background thread so a notebook stays
responsive, reports progress (waiting with time left, received, timed out), ignores stray
requests (favicon, wrong path, a redirect without a code, a wrong ``state``), and answers the
browser with a small fixed page that never reflects what it was sent.

The pasted redirect URL (:func:`tiktok_helpers.redirect.parse_redirect`) stays the fallback
for a browser on another machine.

Modelled on google-auth-oauthlib's ``InstalledAppFlow.run_local_server``, made non-blocking.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from .errors import (
    AuthorizationDenied,
    AuthorizationError,
    FieldProblem,
    MissingAuthCode,
    RedirectTimeout,
    StateMismatch,
    ValidationError,
)
from .redirect import RedirectResult, parse_redirect

__all__ = ["CatcherState", "CatcherStatus", "RedirectCatcher"]

LOOPBACK_HOSTS: Final = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1"}

_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:Helvetica,Arial,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;color:#1f2328}}
h1{{font-size:1.4rem}} .box{{border:1px solid #d0d7de;border-radius:8px;padding:1rem 1.25rem;background:{tint}}}</style>
</head><body><div class="box"><h1 id="catcher-title">{title}</h1>
<p id="catcher-message">{message}</p></div></body></html>
"""
# Every page is one of these fixed texts: nothing the request carried is ever put in a page.
_PAGES: Final = {
    "received": (
        "Authorization received",
        "The runbook has the code. You can close this tab and return to the notebook.",
        "#e8f5e9",
    ),
    "denied": (
        "Authorization refused",
        "TikTok reported that the authorization was cancelled or refused. Return to the notebook for what to do next.",
        "#fff4e5",
    ),
    "mismatch": (
        "This redirect was ignored",
        "It does not answer the authorization link the runbook is waiting for (the state differs). "
        "Open the link shown in the notebook again.",
        "#fff4e5",
    ),
    "nocode": (
        "Nothing to do here",
        "This address only receives TikTok's redirect after you approve the app.",
        "#f6f8fa",
    ),
    "notfound": ("Not found", "Nothing is served at this address.", "#f6f8fa"),
}


class CatcherState(str, Enum):
    WAITING = "waiting"
    RECEIVED = "received"
    DENIED = "denied"
    TIMED_OUT = "timed out"
    STOPPED = "stopped"


@dataclass(frozen=True)
class CatcherStatus:
    state: CatcherState
    seconds_left: float
    ignored: int
    message: str
    address: str = ""

    @property
    def done(self) -> bool:
        return self.state is not CatcherState.WAITING


class _Server(ThreadingMixIn, HTTPServer):
    """One thread per connection, so a connection that sends nothing (a browser's speculative
    preconnect, a slow client) cannot hold up the redirect behind it."""

    catcher: RedirectCatcher
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily) -> None:
        self.address_family = family
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"
    server_version = "RunbookRedirectCatcher"
    sys_version = ""
    timeout = 5  # seconds a connection may stay silent before it is dropped

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own error page repeats the request line; send a fixed page instead."""
        self.close_connection = True
        self._send(code if code in (400, 404, 405, 414, 431, 501) else 400, "notfound")

    def do_GET(self) -> None:
        try:
            page, status = self.server.catcher._handle(self.path)
        except ValueError:  # a malformed request target (e.g. a broken IPv6 literal)
            page, status = "notfound", 404
        self._send(status, page)

    def do_HEAD(self) -> None:
        self._send(405, "notfound", body=False)

    def do_POST(self) -> None:
        self._send(405, "notfound")

    def _send(self, status: int, page: str, *, body: bool = True) -> None:
        title, message, tint = _PAGES[page]
        data = _PAGE.format(title=title, message=message, tint=tint).encode("utf-8")
        reason = self.responses.get(status, ("Error",))[0]
        head = (
            f"HTTP/1.0 {status} {reason}\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(data)}\r\n"
            "Cache-Control: no-store\r\n"
            "Referrer-Policy: no-referrer\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n"
            "Connection: close\r\n\r\n"
        ).encode("ascii")
        self.wfile.write(head + data if body else head)

    def log_message(self, format: str, *args: object) -> None:
        return  # the request line carries the code: never log it


class RedirectCatcher:
    """Listen on loopback for TikTok's redirect; ``wait()`` returns the :class:`RedirectResult`.

    ``redirect_url`` must point at this computer (127.0.0.1, localhost or [::1]); port 0 or no
    port picks a free one, and :attr:`redirect_url` then tells the real address.
    """

    def __init__(
        self,
        redirect_url: str,
        *,
        expected_state: str | None = None,
        timeout: float = 300.0,
        on_progress: Callable[[CatcherStatus], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(redirect_url.strip())
        host = (parts.hostname or "").lower()
        if parts.scheme != "http" or host not in LOOPBACK_HOSTS:
            raise ValidationError(
                [
                    FieldProblem(
                        "Redirect URL",
                        "the catcher only listens on this computer (http://127.0.0.1:<port>/<path>); for any other "
                        "redirect URL, paste the address from the browser instead",
                    )
                ]
            )
        self._bind_host = LOOPBACK_HOSTS[host]
        self._url_host = host
        self._path = parts.path or "/"
        self._port = parts.port or 0
        self._scheme_rest = (parts.scheme, parts.query)
        self.expected_state = expected_state
        self.timeout = timeout
        self._on_progress = on_progress
        self._clock = clock
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._result: RedirectResult | None = None
        self._error: AuthorizationError | None = None
        self._state = CatcherState.WAITING
        self._ignored = 0
        self._deadline = 0.0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- public -----------------------------------------------------------------------------

    @property
    def redirect_url(self) -> str:
        """The address being listened on (with the real port once started)."""
        host = f"[{self._url_host}]" if ":" in self._url_host else self._url_host
        return urlunsplit(("http", f"{host}:{self.port}", self._path, "", ""))

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self._port

    def start(self) -> RedirectCatcher:
        """Bind and start listening in a background thread. Returns self."""
        if self._server is not None:
            return self
        family = socket.AF_INET6 if ":" in self._bind_host else socket.AF_INET
        try:
            server = _Server((self._bind_host, self._port), family)
        except OSError as exc:
            raise ValidationError(
                [FieldProblem("Redirect URL", f"port {self._port} on this computer is busy ({exc.strerror})")]
            ) from None
        server.catcher = self
        server.timeout = 0.2
        self._server = server
        self._deadline = self._clock() + self.timeout
        self._thread = threading.Thread(target=self._serve, name="redirect-catcher", daemon=True)
        self._thread.start()
        self._report()
        return self

    def status(self) -> CatcherStatus:
        with self._lock:
            left = max(0.0, self._deadline - self._clock()) if self._state is CatcherState.WAITING else 0.0
            messages = {
                CatcherState.WAITING: f"waiting for the browser, {left:.0f} s left",
                CatcherState.RECEIVED: "received the code",
                CatcherState.DENIED: "the authorization was refused",
                CatcherState.TIMED_OUT: "timed out: no redirect arrived",
                CatcherState.STOPPED: "stopped",
            }
            return CatcherStatus(self._state, left, self._ignored, messages[self._state], self.redirect_url)

    def wait(self, timeout: float | None = None) -> RedirectResult:
        """Block until the redirect arrives, it is refused, or the deadline passes."""
        self.start()
        limit = None if timeout is None else max(0.0, timeout)
        if self._done.wait(limit) and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)  # the listener is closed (port released) when wait returns
        with self._lock:
            if self._result is not None:
                return self._result
            if self._error is not None:
                raise self._error
        raise RedirectTimeout(f"nothing arrived at {self.redirect_url} in time")

    def stop(self) -> None:
        """Stop listening (idempotent)."""
        with self._lock:
            if self._state is CatcherState.WAITING:
                self._state = CatcherState.STOPPED
        self._done.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> RedirectCatcher:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- internals ----------------------------------------------------------------------------

    def _serve(self) -> None:
        assert self._server is not None
        last_tick = -1
        try:
            while not self._done.is_set():
                if self._clock() >= self._deadline:
                    with self._lock:
                        if self._state is CatcherState.WAITING:
                            self._state = CatcherState.TIMED_OUT
                    self._done.set()
                    break
                self._server.handle_request()
                tick = int(self._deadline - self._clock())
                if tick != last_tick:
                    last_tick = tick
                    self._report()
        finally:
            self._server.server_close()
            self._report()

    def _report(self) -> None:
        if self._on_progress is not None:
            try:
                self._on_progress(self.status())
            except Exception:
                self._on_progress = None

    def _handle(self, raw_path: str) -> tuple[str, int]:
        parts = urlsplit(raw_path)
        if parts.path != self._path:
            self._count_ignored()
            return "notfound", 404
        with self._lock:
            if self._state is not CatcherState.WAITING:
                return ("received" if self._state is CatcherState.RECEIVED else "nocode"), 200
        try:
            result = parse_redirect(f"http://catcher{raw_path}", self.expected_state)
        except AuthorizationDenied as exc:
            self._finish(error=exc)
            return "denied", 200
        except StateMismatch:
            self._count_ignored()
            return "mismatch", 400
        except (MissingAuthCode, AuthorizationError):
            self._count_ignored()
            return "nocode", 400
        self._finish(result=result)
        return "received", 200

    def _count_ignored(self) -> None:
        with self._lock:
            self._ignored += 1

    def _finish(self, *, result: RedirectResult | None = None, error: AuthorizationError | None = None) -> None:
        with self._lock:
            if self._state is not CatcherState.WAITING:
                return
            self._result, self._error = result, error
            self._state = CatcherState.RECEIVED if result is not None else CatcherState.DENIED
        self._done.set()
