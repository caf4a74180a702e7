"""The sandbox's HTTP plumbing: the server, request framing, routing and one-write responses.

Standard library only: :class:`http.server.ThreadingHTTPServer` with HTTP/1.1 keep-alive. Every
response (status line, headers and body) goes out in ONE ``write`` on a TCP_NODELAY socket, so a
client reusing a connection never waits on a delayed ACK. The routes themselves are in
:mod:`.tiktok_routes` (consent pages, token endpoints, the Open API call) and
:mod:`.api2cart_routes`.

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
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, urlsplit

from .api2cart_routes import API2CART_ROUTES
from .pages import error_page, redirect_page
from .state import SandboxState
from .tiktok_routes import TIKTOK_ROUTES

__all__ = [
    "LISTEN_BACKLOG",
    "MAX_LATENCY_MS",
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


def check_latency_ms(value: int) -> int:
    """``value`` if it is a latency the sandbox can inject (whole milliseconds, 0 to 10,000)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LATENCY_MS:
        raise ValueError(f"the latency must be a whole number of milliseconds from 0 to {MAX_LATENCY_MS}")
    return value


def _strip_query(text: str) -> str:
    """Cut everything from the first ``?``: query strings carry secrets, codes and tokens."""
    head, question, _ = text.partition("?")
    return head + (" [query removed]" if question else "")


@dataclass(frozen=True)
class Request:
    """A parsed request: path, query (first value of each name), body and headers."""

    path: str
    query: Mapping[str, str]
    body: bytes
    headers: Message


#: Path -> (which service answers there, for the 405 reply; HTTP method -> handler).
Routes = dict[
    str,
    tuple[Literal["page", "tiktok", "api2cart"], dict[str, Callable[["SandboxRequestHandler", Request], None]]],
]


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
        super().__init__(address, SandboxRequestHandler)

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

    # ------------------------------------------------------------------ responses (used by the routes)
    def _send(self, status: int, body: bytes, content_type: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        lines = [
            f"{self.protocol_version} {status} {HTTPStatus(status).phrase}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string()}",
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

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            return
        split = urlsplit(self.path)
        query: dict[str, str] = {}
        for key, value in parse_qsl(split.query, keep_blank_values=True):
            query.setdefault(key, value)
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


ROUTES: Final[Routes] = {**TIKTOK_ROUTES, **API2CART_ROUTES}
