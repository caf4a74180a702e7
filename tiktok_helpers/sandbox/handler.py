"""The sandbox's HTTP plumbing: the server, request framing, routing and one-write responses.

Standard library only: :class:`http.server.ThreadingHTTPServer` with HTTP/1.1 keep-alive. Every
response (status line, headers and body) goes out in ONE ``write`` on a TCP_NODELAY socket, so a
client reusing a connection never waits on a delayed ACK. The routes themselves are in
:mod:`.tiktok_routes` (consent pages, token endpoints, the Open API call),
:mod:`.api2cart_routes` and :mod:`.seller_routes` (the sandbox's sellers page); they answer
through :class:`~.routing.Replier`, which the request handler is, so they never import this
module (:mod:`.routing` holds what both sides share). The webhooks the sandbox SENDS are not
HTTP served here: see :mod:`.webhooks` (they use httpx).

HTTP-level sandbox choices
--------------------------
* A wrong HTTP method answers HTTP 405 (with an ``Allow`` header): TikTok paths
  ``{"code": 405, "message", "request_id"}``, API2Cart paths ``{"return_code": 405,
  "return_message"}``, consent pages an HTML error page.
* Unknown paths answer HTTP 404 ``{"code": 404, "message": "not found: <path>"}``.
* Request bodies must carry Content-Length (chunked uploads get 411) and be at most 1 MiB (413).
* Request logging goes to the ``tiktok_helpers.sandbox`` logger at DEBUG, with query strings
  removed (they carry app secrets, codes and tokens).
* Injected network latency (``latency_ms``, 0 to :data:`MAX_LATENCY_MS`): every reply the routes
  send waits that long in its own request thread, so it delays each request, not the others.
  Each connection has its own daemon thread and the listen backlog is :data:`LISTEN_BACKLOG`.
* A client that hangs up before its reply is logged at DEBUG, not printed as a traceback.
* The ``Date`` header of every reply is the sandbox's own clock (``SandboxState.clock``, a
  :class:`~.clock.FakeClock` in tests), not the machine's: a skewed sandbox shows its skew there,
  as a skewed server would, so the ``doctor`` clock check can see it.
* A query keeps every value of a repeated key (:class:`QueryString`): ``query["k"]`` is the first,
  as before, and the signature check sees them all.
* Only one ``Host`` header naming this listener (``127.0.0.1``, ``localhost``, ``[::1]`` or the
  address listened on, with its port) reaches a route. A DNS-rebinding page's name gets a fixed
  HTTP 421, a missing, repeated or unparsable ``Host`` a fixed 400; nothing is reflected, nothing
  happens (no code, no token), and the connection is closed.
* A malformed request line or target (absolute form ``http://host/``) gets a fixed reply (400, or
  414/431/501/505 from :mod:`http.server`) and ``Connection: close``: no traceback, no echo.
* The serving loop sleeps in a selector with a wake-up socket, not a poll: shutdown is immediate.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import selectors
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from .api2cart_routes import API2CART_ROUTES
from .pages import error_page, redirect_page
from .routing import QueryString, Request, Routes
from .seller_routes import SELLER_ROUTES
from .state import SandboxState
from .tiktok_routes import TIKTOK_ROUTES

__all__ = [
    "LISTEN_BACKLOG",
    "MAX_LATENCY_MS",
    "QueryString",
    "Request",
    "Routes",
    "SandboxHTTPServer",
    "SandboxRequestHandler",
    "check_latency_ms",
]

logger = logging.getLogger("tiktok_helpers.sandbox")

MAX_BODY: Final = 1 << 20
_JSON: Final = "application/json; charset=utf-8"
_HTML: Final = "text/html; charset=utf-8"
MAX_LATENCY_MS: Final = 10_000
LISTEN_BACKLOG: Final = 128
#: The names of this computer a request's ``Host`` may use (besides the address listened on).
LOOPBACK_NAMES: Final = frozenset({"127.0.0.1", "localhost", "[::1]"})
_HOST_HEADER: Final = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9.\-]+)(?::([0-9]{1,5}))?")
_WRONG_HOST: Final = "this sandbox only answers requests addressed to 127.0.0.1, localhost or [::1] with its port"


def check_latency_ms(value: int) -> int:
    """``value`` if it is a latency the sandbox can inject (whole milliseconds, 0 to 10,000)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LATENCY_MS:
        raise ValueError(f"the latency must be a whole number of milliseconds from 0 to {MAX_LATENCY_MS}")
    return value


def _strip_query(text: str) -> str:
    """Cut everything from the first ``?``: query strings carry secrets, codes and tokens."""
    head, question, _ = text.partition("?")
    return head + (" [query removed]" if question else "")


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its :class:`SandboxState`, its latency and its connections."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], state: SandboxState, latency_ms: int = 0) -> None:
        self.state = state
        self.latency_ms = check_latency_ms(latency_ms)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._host_names = LOOPBACK_NAMES | {address[0].lower()}
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        super().__init__(address, SandboxRequestHandler)  # on failure it calls server_close()

    # ------------------------------------------------------------------ serving and stopping at once
    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until :meth:`shutdown`, sleeping in a selector that shutdown wakes (no polling)."""
        del poll_interval
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.socket, selectors.EVENT_READ)
                selector.register(self._wake_reader, selectors.EVENT_READ)
                while not self._stopping.is_set():
                    for key, _ in selector.select():
                        if key.fileobj is self.socket and not self._stopping.is_set():
                            self._handle_request_noblock()  # type: ignore[attr-defined]  # as serve_forever
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop :meth:`serve_forever` and wait until it has returned (call it from another thread)."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")
        self._stopped.wait()

    def server_close(self) -> None:
        super().server_close()
        for end in (self._wake_reader, self._wake_writer):
            end.close()

    def addressed_here(self, values: Sequence[str]) -> bool | None:
        """True if the one ``Host`` header names this listener and its port; False if it names
        another (a rebound name); None if there is not exactly one."""
        if len(values) != 1:
            return None
        match = _HOST_HEADER.fullmatch(values[0].strip().lower())
        if match is None:
            return None
        port = match.group(2) or "80"  # no port: the default one, which the sandbox never has
        return match.group(1) in self._host_names and port == str(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            logger.debug("client hung up: %s", type(error).__name__)
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """End open keep-alive connections, so a stopped sandbox really stops answering."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class SandboxRequestHandler(BaseHTTPRequestHandler):
    """Routes requests to :class:`SandboxState` and writes each response in one buffer."""

    protocol_version = "HTTP/1.1"
    server_version = "TikTokShopSandbox/1.0"
    disable_nagle_algorithm = True
    timeout = 60
    server: SandboxHTTPServer

    def version_string(self) -> str:
        return self.server_version

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        command = getattr(self, "command", None) or "-"
        path = (getattr(self, "path", "") or "-").partition("?")[0]
        logger.debug("%s %s -> %s (%s bytes)", command, path, code, size)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s", _strip_query(format % args))

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What :mod:`http.server` sends on a request it cannot parse: a fixed JSON body (its own
        page would echo the request line), then the connection is closed."""
        del explain
        self.log_error("code %d, message %s", code, message)  # query strings removed: log_message
        self.close_connection = True
        self.send_json(code, {"code": code, "message": HTTPStatus(code).phrase})

    # ------------------------------------------------------------------ responses (used by the routes)
    def _send(self, status: int, body: bytes, content_type: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        lines = [
            f"{self.protocol_version} {status} {HTTPStatus(status).phrase}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string(self.server.state.now())}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            "Cache-Control: no-store",
            *(f"{name}: {value}" for name, value in headers),
        ]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        latency = self.server.latency_ms
        if latency:
            time.sleep(latency / 1000)  # this request's thread only: the others go on
        self.wfile.write(head + body)  # one write: no delayed-ACK stall on keep-alive connections
        self.wfile.flush()
        self.log_request(status, len(body))

    def send_json(self, status: int, payload: Mapping[str, Any], headers: Sequence[tuple[str, str]] = ()) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), _JSON, headers)

    def send_html(self, status: int, page: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        self._send(status, page.encode("utf-8"), _HTML, headers)

    def redirect(self, location: str) -> None:
        self.send_html(302, redirect_page(), [("Location", location)])

    # ------------------------------------------------------------------ requests
    def _read_body(self) -> bytes | None:
        """Read the request body; on a bad framing, answer and return None."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            self.send_json(411, {"code": 411, "message": "send the body with a Content-Length"})
            return None
        raw = self.headers.get("Content-Length")
        try:
            length = int(raw) if raw else 0
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self.send_json(400, {"code": 400, "message": "invalid Content-Length"})
            return None
        if length > MAX_BODY:
            self.close_connection = True
            self.send_json(413, {"code": 413, "message": "request body too large"})
            return None
        return self.rfile.read(length) if length else b""

    def _refuse(self, status: int, message: str) -> None:
        """A fixed reply to a request that must not reach a route; the connection is closed."""
        self.close_connection = True
        raw = self.headers.get("Content-Length") or ""
        if raw.isdigit() and int(raw) <= MAX_BODY and not self.headers.get("Transfer-Encoding"):
            self.rfile.read(int(raw))  # read, so that closing does not reset the reply
        service = ROUTES.get(self.path.partition("?")[0], ("tiktok", {}))[0]
        if service == "page":
            self.send_html(status, error_page(message, HTTPStatus(status).phrase))
        elif service == "api2cart":
            self.send_json(status, {"return_code": status, "return_message": message})
        else:
            self.send_json(status, {"code": status, "message": message})

    def _dispatch(self) -> None:
        addressed = self.server.addressed_here(self.headers.get_all("Host") or [])
        if not addressed:
            if addressed is None:
                self._refuse(400, "send exactly one Host header naming this sandbox")
            else:
                self._refuse(421, _WRONG_HOST)
            return
        if not self.path.startswith("/"):  # absolute form (http://host/path) or "*"
            self._refuse(400, "send the path only (/path?query) in the request line")
            return
        body = self._read_body()
        if body is None:
            return
        try:
            split = urlsplit(self.path)
        except ValueError:
            self._refuse(400, "malformed request target")
            return
        query = QueryString(parse_qsl(split.query, keep_blank_values=True))
        request = Request(path=split.path, query=query, body=body, headers=self.headers)
        route = ROUTES.get(split.path)
        if route is None:
            self.send_json(404, {"code": 404, "message": f"not found: {split.path}"})
            return
        service, methods = route
        handler = methods.get(self.command)
        if handler is None:
            self._method_not_allowed(service, sorted(methods))
            return
        handler(self, request)

    def _method_not_allowed(self, service: str, allowed: list[str]) -> None:
        allow = [("Allow", ", ".join(allowed))]
        message = f"method {self.command} not allowed here; use {' or '.join(allowed)}"
        if service == "tiktok":
            payload = {"code": 405, "message": message, "request_id": self.server.state.new_request_id()}
            self.send_json(405, payload, allow)
        elif service == "api2cart":
            self.send_json(405, {"return_code": 405, "return_message": message}, allow)
        else:
            self.send_html(405, error_page(message, "Method not allowed"), allow)


ROUTES: Final[Routes] = {**TIKTOK_ROUTES, **API2CART_ROUTES, **SELLER_ROUTES}
