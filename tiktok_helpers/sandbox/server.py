"""The sandbox's HTTP layer and the :class:`Sandbox` runner.

Standard library only: :class:`http.server.ThreadingHTTPServer` with HTTP/1.1 keep-alive. Every
response (status line, headers and body) goes out in ONE ``write`` on a TCP_NODELAY socket, so a
client reusing a connection never waits on a delayed ACK.

HTTP-level sandbox choices
--------------------------
* TikTok endpoints answer errors with HTTP 200 and ``{"code", "message", "request_id"}``, like
  the live service; this includes the signed Open API call (``/authorization/202309/shops``).
* A wrong HTTP method answers HTTP 405 (with an ``Allow`` header): TikTok paths
  ``{"code": 405, "message", "request_id"}``, API2Cart paths ``{"return_code": 405,
  "return_message"}``, consent pages an HTML error page.
* Unknown paths answer HTTP 404 ``{"code": 404, "message": "not found: <path>"}``.
* Request bodies must carry Content-Length (chunked uploads get 411) and be at most 1 MiB (413).
* Request logging goes to the ``tiktok_helpers.sandbox`` logger at DEBUG, with query strings
  removed (they carry app secrets, codes and tokens).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Generic, TypeVar, overload
from urllib.parse import parse_qsl, urlencode, urlsplit

from .clock import Clock, SystemClock
from .pages import consent_page, error_page, redirect_page
from .state import (
    SHOPS_PATH,
    Api2CartError,
    AuthKind,
    ConsentError,
    SandboxState,
    TikTokError,
)

__all__ = ["Sandbox", "SandboxHTTPServer", "SandboxRequestHandler"]

logger = logging.getLogger("tiktok_helpers.sandbox")

MAX_BODY: Final = 1 << 20
_JSON: Final = "application/json; charset=utf-8"
_HTML: Final = "text/html; charset=utf-8"


def _strip_query(text: str) -> str:
    """Cut everything from the first ``?``: query strings carry secrets, codes and tokens."""
    head, question, _ = text.partition("?")
    return head + (" [query removed]" if question else "")


@dataclass(frozen=True)
class _Request:
    path: str
    query: Mapping[str, str]
    body: bytes
    headers: Message


_Handler = Callable[["SandboxRequestHandler", _Request], None]
_AUTH_KINDS: Final[dict[str, AuthKind]] = {"seller": "seller", "partner": "partner", "creator": "creator"}


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its :class:`SandboxState` and its open connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: SandboxState) -> None:
        self.state = state
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

    # ------------------------------------------------------------------ plumbing
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
        self.wfile.write(head + body)  # one write: no delayed-ACK stall on keep-alive connections
        self.wfile.flush()
        self.log_request(status, len(body))

    def _send_json(self, status: int, payload: Mapping[str, Any], headers: Sequence[tuple[str, str]] = ()) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), _JSON, headers)

    def _send_html(self, status: int, page: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        self._send(status, page.encode("utf-8"), _HTML, headers)

    def _redirect(self, location: str) -> None:
        self._send_html(302, redirect_page(), [("Location", location)])

    def _read_body(self) -> bytes | None:
        """Read the request body; on a bad framing, answer and return None."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            self._send_json(411, {"code": 411, "message": "send the body with a Content-Length"})
            return None
        raw = self.headers.get("Content-Length")
        try:
            length = int(raw) if raw else 0
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send_json(400, {"code": 400, "message": "invalid Content-Length"})
            return None
        if length > MAX_BODY:
            self.close_connection = True
            self._send_json(413, {"code": 413, "message": "request body too large"})
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
        request = _Request(path=split.path, query=query, body=body, headers=self.headers)
        route = _ROUTES.get(split.path)
        if route is None:
            self._send_json(404, {"code": 404, "message": f"not found: {split.path}"})
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
            self._send_json(405, payload, allow)
        elif service == "api2cart":
            self._send_json(405, {"return_code": 405, "return_message": message}, allow)
        else:
            self._send_html(405, error_page(message, "Method not allowed"), allow)

    # ------------------------------------------------------------------ consent pages
    def _consent(self, kind: AuthKind, request: _Request) -> None:
        state = self.server.state
        try:
            consent = state.consent_request(kind, request.query)
            seller = state.auto_approve
            if seller is not None:
                self._redirect(state.decide(consent, seller, "authorize"))
                return
        except ConsentError as err:
            self._send_html(err.status, error_page(err.message))
            return
        self._send_html(200, consent_page(consent, state.sellers.values()))

    def consent_seller(self, request: _Request) -> None:
        self._consent("seller", request)

    def consent_partner(self, request: _Request) -> None:
        self._consent("partner", request)

    def consent_creator(self, request: _Request) -> None:
        self._consent("creator", request)

    def consent_decision(self, request: _Request) -> None:
        state = self.server.state
        form: dict[str, str] = {}
        for key, value in parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True):
            form.setdefault(key, value)
        try:
            kind = _AUTH_KINDS.get(form.get("auth_type", ""))
            if kind is None:
                raise ConsentError("The form has no valid auth_type (seller, partner or creator).")
            consent = state.consent_request(kind, form)
            location = state.decide(consent, form.get("seller", ""), form.get("decision", ""))
        except ConsentError as err:
            self._send_html(err.status, error_page(err.message))
            return
        self._redirect(location)

    # ------------------------------------------------------------------ TikTok APIs
    def _tiktok_reply(self, call: Callable[[], Any], success_message: str) -> None:
        state = self.server.state
        request_id = state.new_request_id()
        try:
            data = call()
        except TikTokError as err:
            self._send_json(200, {"code": err.code, "message": err.message, "request_id": request_id})
            return
        self._send_json(200, {"code": 0, "message": success_message, "request_id": request_id, "data": data})

    def token_get(self, request: _Request) -> None:
        self._tiktok_reply(lambda: self.server.state.token_get(request.query), "success")

    def token_refresh(self, request: _Request) -> None:
        self._tiktok_reply(lambda: self.server.state.token_refresh(request.query), "success")

    def shops(self, request: _Request) -> None:
        def call() -> dict[str, Any]:
            shops = self.server.state.authorized_shops(
                request.path,
                request.query,
                request.body,
                request.headers.get("Content-Type") or "application/json",
                request.headers.get("x-tts-access-token"),
            )
            return {"shops": shops}

        self._tiktok_reply(call, "Success")

    # ------------------------------------------------------------------ API2Cart
    def _api2cart_reply(self, call: Callable[[str | None], Any], request: _Request) -> None:
        api_key = request.headers.get("x-api-key") or request.query.get("api_key")
        try:
            result = call(api_key)
        except Api2CartError as err:
            self._send_json(200, {"return_code": err.return_code, "return_message": err.message})
            return
        self._send_json(200, {"return_code": 0, "return_message": "", "result": result})

    def cart_add(self, request: _Request) -> None:
        state = self.server.state

        def call(api_key: str | None) -> Any:
            state.api2cart_list(api_key)  # the API key is checked before the body
            try:
                body = json.loads(request.body.decode("utf-8")) if request.body.strip() else {}
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise Api2CartError(4, "Request body must be a JSON object") from None
            return state.api2cart_add(api_key, body)

        self._api2cart_reply(call, request)

    def cart_list(self, request: _Request) -> None:
        self._api2cart_reply(self.server.state.api2cart_list, request)

    def cart_validate(self, request: _Request) -> None:
        store_key = request.headers.get("x-store-key") or request.query.get("store_key")
        self._api2cart_reply(lambda key: self.server.state.api2cart_validate(key, store_key), request)

    def supported_platforms(self, request: _Request) -> None:
        self._api2cart_reply(self.server.state.api2cart_supported_platforms, request)


_ROUTES: Final[dict[str, tuple[str, dict[str, _Handler]]]] = {
    "/open/authorize": ("page", {"GET": SandboxRequestHandler.consent_seller}),
    "/partner/open/authorize": ("page", {"GET": SandboxRequestHandler.consent_partner}),
    "/alliance/creator/auth": ("page", {"GET": SandboxRequestHandler.consent_creator}),
    "/open/authorize/decision": ("page", {"POST": SandboxRequestHandler.consent_decision}),
    "/api/v2/token/get": ("tiktok", {"GET": SandboxRequestHandler.token_get}),
    "/api/v2/token/refresh": ("tiktok", {"GET": SandboxRequestHandler.token_refresh}),
    SHOPS_PATH: ("tiktok", {"GET": SandboxRequestHandler.shops}),
    "/v1.1/account.cart.add.json": ("api2cart", {"POST": SandboxRequestHandler.cart_add}),
    "/v1.1/account.cart.list.json": ("api2cart", {"GET": SandboxRequestHandler.cart_list}),
    "/v1.1/cart.validate.json": ("api2cart", {"GET": SandboxRequestHandler.cart_validate}),
    "/v1.1/account.supported_platforms.json": (
        "api2cart",
        {"GET": SandboxRequestHandler.supported_platforms},
    ),
}

C = TypeVar("C", bound=Clock)


class Sandbox(Generic[C]):
    """The simulated TikTok Shop + API2Cart services on ``http://127.0.0.1:<port>``.

    ``with Sandbox() as sb:`` starts a background server thread and stops it on exit; ``start``
    and ``stop`` are idempotent and the sandbox can be started again (its state is kept, and a
    restarted ephemeral-port sandbox tries to get its previous port back).

    Live base URLs and their sandbox equivalents: ``https://services.tiktokshop.com`` (and the US
    services host), ``https://auth.tiktok-shops.com``, ``https://open-api.tiktokglobalshop.com``
    and ``https://shop.tiktok.com`` all map to :attr:`base_url`; ``https://partner.tiktokshop.com``
    maps to :attr:`partner_base_url`; ``https://api.api2cart.com/v1.1`` to :attr:`api2cart_base_url`.

    ``redirect_url`` is the sample app's registered callback URL (default: the one saved in the
    state file, else :data:`~tiktok_helpers.samples.SANDBOX_REDIRECT_URL`). ``state_path`` keeps
    codes, tokens, API2Cart stores and the redirect URL in a JSON file shared by every sandbox on
    that path, in this or other processes (see :mod:`tiktok_helpers.sandbox.state`).
    """

    @overload
    def __init__(
        self: Sandbox[SystemClock],
        port: int = 0,
        clock: None = None,
        redirect_url: str | None = None,
        auto_approve: str | None = None,
        *,
        host: str = "127.0.0.1",
        state_path: str | os.PathLike[str] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: Sandbox[C],
        port: int,
        clock: C,
        redirect_url: str | None = None,
        auto_approve: str | None = None,
        *,
        host: str = "127.0.0.1",
        state_path: str | os.PathLike[str] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: Sandbox[C],
        port: int = 0,
        *,
        clock: C,
        redirect_url: str | None = None,
        auto_approve: str | None = None,
        host: str = "127.0.0.1",
        state_path: str | os.PathLike[str] | None = None,
    ) -> None: ...

    def __init__(
        self,
        port: int = 0,
        clock: Clock | None = None,
        redirect_url: str | None = None,
        auto_approve: str | None = None,
        *,
        host: str = "127.0.0.1",
        state_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.clock: C = clock if clock is not None else SystemClock()  # type: ignore[assignment]
        self.state = SandboxState(clock=self.clock, redirect_url=redirect_url, state_path=state_path)
        self.state.auto_approve = auto_approve
        self.host = host
        self._requested_port = port
        self._last_port: int | None = None
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Sandbox[C]:
        """Start serving in a daemon thread (no-op when already running); returns self."""
        with self._lock:
            if self._server is not None:
                return self
            server = self._bind()
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"tiktok-sandbox-{server.server_address[1]}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
            self._last_port = int(server.server_address[1])
            logger.debug("sandbox listening on %s", self.base_url)
            return self

    def _bind(self) -> SandboxHTTPServer:
        if self._requested_port == 0 and self._last_port is not None:
            try:
                return SandboxHTTPServer((self.host, self._last_port), self.state)
            except OSError:
                pass
        return SandboxHTTPServer((self.host, self._requested_port), self.state)

    def stop(self) -> None:
        """Stop serving and close open connections (no-op when not running)."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> Sandbox[C]:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses
    @property
    def port(self) -> int:
        server = self._server
        if server is None:
            raise RuntimeError("the sandbox is not running: call start() or use it as a context manager")
        return int(server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def partner_base_url(self) -> str:
        """Stands in for ``https://partner.tiktokshop.com``."""
        return f"{self.base_url}/partner"

    @property
    def api2cart_base_url(self) -> str:
        """Stands in for ``https://api.api2cart.com/v1.1``."""
        return f"{self.base_url}/v1.1"

    def consent_link(self, kind: AuthKind = "seller", state: str | None = None) -> str:
        """The sample app's authorization link of the given kind."""
        app = self.state.app
        params: list[tuple[str, str]]
        if kind == "creator":
            base, params = f"{self.base_url}/alliance/creator/auth", [("app_key", app.app_key)]
        else:
            base = self.partner_base_url if kind == "partner" else self.base_url
            base, params = f"{base}/open/authorize", [("service_id", app.service_id)]
        if state is not None:
            params.append(("state", state))
        return f"{base}?{urlencode(params)}"

    # ------------------------------------------------------------------ settings
    def set_redirect_url(self, url: str) -> None:
        """Change the sample app's registered callback URL (saved in the state file, if any)."""
        self.state.set_redirect_url(url)

    @property
    def state_path(self) -> Path | None:
        """The state file, or None when the state lives in memory only."""
        return self.state.state_path

    def reset(self) -> None:
        """Start over: forget codes, tokens and stores and delete the state file (if any)."""
        self.state.reset()

    @property
    def auto_approve(self) -> str | None:
        """``"global"`` / ``"us"``: consent links redirect at once as that seller; None: show the page."""
        return self.state.auto_approve

    @auto_approve.setter
    def auto_approve(self, seller: str | None) -> None:
        self.state.auto_approve = seller

    def __repr__(self) -> str:
        where = self.base_url if self.running else "stopped"
        return f"<Sandbox {where} clock={self.clock!r}>"
