"""A receiver for TikTok Shop webhooks: a standard WSGI application, and a small server for local use.

:func:`make_app` builds the WSGI application. It answers every delivery with an EMPTY body, as
TikTok Shop Partner Center's "Webhooks overview" asks (200, or 401 when the signature fails, within
3 seconds; otherwise TikTok delivers again after 2 minutes, 30 minutes, 3 hours and 12 hours). The
rules, in order:

1. a method other than ``POST``: 405, with ``Allow: POST``;
2. no ``Content-Length`` (or a ``Transfer-Encoding``: chunked bodies are not taken): 411; a
   ``Content-Length`` that is not a number: 400; one over ``max_body``: 413, WITHOUT reading the body;
3. exactly ``Content-Length`` bytes are read from ``wsgi.input`` (fewer arrive: 400);
4. the ``Authorization`` header (``HTTP_AUTHORIZATION``) is checked against those raw bytes
   (:func:`tiktok_helpers.webhooks.verify`) BEFORE the body is parsed: missing or wrong, 401, so a
   forged body is refused as forged whatever it holds;
5. a body that is not a notice (:func:`tiktok_helpers.webhooks.parse`): 400;
6. ``apply(notice)`` runs in a worker thread and is given ``deadline`` seconds: it returns a short
   outcome string, 200; it raises, 500 (logged with the exception's one-line message; TikTok
   delivers again); it is not done by then, 503 (TikTok delivers again later). The worker is not
   stopped: it finishes in the background and a second line, ``webhook late: ...``, says how.

``apply`` is the sink: it must drop a notice whose ``notification_id`` it has already seen,
because TikTok may deliver the same event more than once (and after a 503 the late finish and
TikTok's next delivery both reach it). The signature carries no timestamp: that dedupe is also
the only replay protection. The receiver itself passes each verified notice on and keeps nothing.

Every path is accepted (a reverse proxy may mount the receiver anywhere); ``Content-Type`` is not
checked (the signature is what tells TikTok's deliveries apart). One line per request goes to
``log`` (default: the ``logging`` logger of this module, at INFO): method, path, status, the
notice's type and notification id when known, and the outcome or the reason. Never the
``Authorization`` header, never the body.

Live use
--------
TikTok delivers only to an ``https://`` URL with a domain name, no port, and TLS 1.2 or later
(Partner Center, "Configuration guide"). So the receiver sits behind an HTTPS reverse proxy
(nginx, Caddy, a cloud load balancer) that forwards to it, and in production it runs under any
WSGI server, for example gunicorn with a factory of your own that calls :func:`make_app`::

    gunicorn --bind 127.0.0.1:8000 --threads 8 'my_webhooks:create_app()'

    # my_webhooks.py
    def create_app():
        return make_app(app_key=os.environ["TIKTOK_APP_KEY"],
                        app_secret=Secret(os.environ["TIKTOK_APP_SECRET"]), apply=my_sink.apply)

(Apache's mod_wsgi drops the ``Authorization`` header unless ``WSGIPassAuthorization On``.) With
several worker processes the sink's dedupe must work across them. :class:`Receiver`, the standard
library's ``wsgiref`` server made threaded, is for local use: tests, the sandbox, a tunnel.

Standard library only, besides :mod:`tiktok_helpers.webhooks` and :mod:`tiktok_helpers.secret`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from .secret import Secret
from .webhooks import Notice, WebhookBodyInvalid, WebhookError, WebhookSignatureInvalid, parse, verify

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["Receiver", "make_app"]

_LOGGER: Final = logging.getLogger(__name__)
#: A Content-Length the receiver takes: digits only (no sign, no spaces inside, no exponent).
_LENGTH: Final = re.compile(r"[0-9]+")
#: Longest path, outcome or reason put in a log line.
_LOGGED: Final = 160
#: After an answer, what the server still reads (and drops) of a body it did not want, so that
#: closing the socket does not reset the connection before the client has read the answer.
_DRAIN_BYTES: Final = 1 << 20
_DRAIN_SECONDS: Final = 1.0


def _printable(text: str, limit: int = _LOGGED) -> str:
    """``text`` on one line, every character a terminal would act on shown as ``?``, cut to ``limit``."""
    shown = "".join(c if c.isprintable() else "?" for c in text)
    return shown if len(shown) <= limit else f"{shown[:limit]}…"


def _one_line(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0]}" if first else type(exc).__name__


@dataclass(frozen=True)
class _Answer:
    status: int
    note: str
    notice: Notice | None = None


@dataclass
class _Run:
    """One ``apply`` call shared by the request that waits and the worker that runs it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    abandoned: bool = False  # the request answered 503 before the worker finished
    outcome: str = ""
    error: BaseException | None = None


class _WebhookApp:
    """The WSGI application :func:`make_app` returns (see the module's docstring for the rules)."""

    def __init__(
        self,
        app_key: str,
        app_secret: Secret,
        apply: Callable[[Notice], str],
        max_body: int,
        deadline: float,
        log: Callable[[str], None],
    ) -> None:
        self._app_key, self._app_secret, self._apply = app_key, app_secret, apply
        self._max_body, self._deadline, self._log = max_body, deadline, log

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = _printable(str(environ.get("REQUEST_METHOD", "")), 16)
        path = _printable(f"{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '')}" or "/")
        try:
            answer = self._answer(environ, method)
        except Exception as exc:  # a bug here must still answer, and leave one line
            answer = _Answer(500, f"receiver failed: {_printable(_one_line(exc))}")
        self._say(self._line(method, path, answer))
        headers = [("Content-Length", "0")]
        if answer.status == HTTPStatus.METHOD_NOT_ALLOWED:
            headers.append(("Allow", "POST"))
        start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", headers)
        return [b""]

    def _answer(self, environ: WSGIEnvironment, method: str) -> _Answer:
        if method != "POST":
            return _Answer(405, "only POST is answered")
        if environ.get("HTTP_TRANSFER_ENCODING"):
            return _Answer(411, "a body sent with Transfer-Encoding is not taken; send Content-Length")
        length_text = str(environ.get("CONTENT_LENGTH") or "").strip()
        if not length_text:
            return _Answer(411, "no Content-Length")
        if not _LENGTH.fullmatch(length_text):
            return _Answer(400, "Content-Length is not a number")
        if len(length_text.lstrip("0")) > 18 or int(length_text) > self._max_body:
            return _Answer(413, f"a body of {length_text[:20]} bytes is over the limit of {self._max_body}; not read")
        length = int(length_text)
        try:
            body = _read(environ["wsgi.input"], length)
        except OSError as exc:
            return _Answer(400, f"the body was not received: {_printable(_one_line(exc))}")
        if len(body) < length:
            return _Answer(400, f"the body ended after {len(body)} of its {length} bytes")
        try:
            verify(body, environ.get("HTTP_AUTHORIZATION"), app_key=self._app_key, app_secret=self._app_secret)
        except WebhookSignatureInvalid as exc:
            return _Answer(401, exc.detail)
        try:
            notice = parse(body)
        except WebhookBodyInvalid as exc:
            return _Answer(400, exc.detail)
        return self._run(notice)

    def _run(self, notice: Notice) -> _Answer:
        run = _Run()
        worker = threading.Thread(target=self._work, args=(notice, run), name="webhook-apply", daemon=True)
        worker.start()
        run.done.wait(self._deadline)
        with run.lock:
            if not run.finished:
                run.abandoned = True
                return _Answer(
                    503, f"apply still running after {self._deadline:g} s; TikTok will deliver again", notice
                )
        if run.error is not None:
            return _Answer(500, f"apply failed: {_printable(_one_line(run.error))}", notice)
        return _Answer(200, _printable(run.outcome), notice)

    def _work(self, notice: Notice, run: _Run) -> None:
        outcome, error = "", None
        try:
            outcome = str(self._apply(notice))
        except BaseException as exc:  # the thread's end: reported to the waiting request, not raised here
            error = exc
        with run.lock:
            run.finished, run.outcome, run.error = True, outcome, error
            late = run.abandoned
        run.done.set()
        if late:
            how = f"failed: {_one_line(error)}" if error is not None else f"done: {outcome}"
            self._say(f"webhook late: {notice.describe()} finished after its 503, {_printable(how)}")

    def _line(self, method: str, path: str, answer: _Answer) -> str:
        about = ""
        if answer.notice is not None:
            about = f" type={answer.notice.type} notification={_printable(answer.notice.notification_id, 64)}"
        return f"webhook {method} {path} {answer.status}{about}: {answer.note}"

    def _say(self, line: str) -> None:
        with contextlib.suppress(Exception):  # a failing log must not change the answer TikTok gets
            self._log(line)


def _read(stream: IO[bytes], length: int) -> bytes:
    """Exactly ``length`` bytes from ``stream``, or fewer if it ends first (some servers' ``read``
    returns less than asked before the end)."""
    chunks: list[bytes] = []
    left = length
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def make_app(
    *,
    app_key: str,
    app_secret: Secret | str,
    apply: Callable[[Notice], str],
    max_body: int = 65536,
    deadline: float = 2.5,
    log: Callable[[str], None] | None = None,
) -> WSGIApplication:
    """The WSGI application that receives TikTok Shop webhooks for one app (rules: the module's docstring).

    ``apply`` acts on each verified notice and returns a short outcome for the log; it must drop
    repeated notification ids. ``deadline`` (seconds) is how long a delivery waits for it: keep
    it under TikTok's 3 seconds, with room for the network and the proxy. ``max_body`` caps what
    is read. ``log`` gets one line per request (default: this module's ``logging`` logger).
    """
    secret = Secret(app_secret)
    if not app_key or not secret:
        raise ValueError("the webhook receiver needs the app's App Key and App Secret")
    if max_body < 1:
        raise ValueError("max_body must be at least 1 byte")
    if not deadline > 0:
        raise ValueError("deadline must be a positive number of seconds")
    return _WebhookApp(app_key, secret, apply, max_body, deadline, log or _LOGGER.info)


class _Handler(WSGIRequestHandler):
    timeout = 10  # seconds a connection may stay silent (a slow client cannot hold a thread for ever)

    def log_message(self, format: str, *args: Any) -> None:
        return  # the application logs each request itself, without the Authorization header

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A request the server cannot parse: its status, with an empty body like every answer (written
        directly: ``send_response`` writes nothing when the request line was not understood)."""
        self.close_connection = True
        phrase = self.responses.get(code, ("Error",))[0]
        self.wfile.write(f"HTTP/1.0 {code} {phrase}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode("ascii"))


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    """``wsgiref``'s server, one thread per connection, no DNS lookup, a lingering close."""

    daemon_threads = True
    allow_reuse_port = False  # two receivers must never share a port
    request_queue_size = 128  # 50 deliveries at once must not overflow the accept queue
    error_log: Callable[[str], None] | None = None  # None: this module's logger

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # HTTPServer's would look the host up (getfqdn)
        host, port = self.socket.getsockname()[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()

    def shutdown_request(self, request: Any) -> None:
        """Send the end of the answer, then read what the client still sends (a body the answer
        refused unread) for a moment before closing: closing with unread data resets the
        connection, which can make the client lose the answer (a 413, a 401)."""
        try:
            request.shutdown(socket.SHUT_WR)
            request.settimeout(_DRAIN_SECONDS)
            ends, drained = time.monotonic() + _DRAIN_SECONDS, 0
            while drained < _DRAIN_BYTES and time.monotonic() < ends:
                chunk = request.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:
            pass
        self.close_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        what = _one_line(exc) if exc is not None else "unknown error"
        with contextlib.suppress(Exception):  # a failing log must not stop the server
            (self.error_log or _LOGGER.warning)(f"webhook receiver: a connection failed: {_printable(what)}")


class _Server6(_Server):
    address_family = socket.AF_INET6


class Receiver:
    """:func:`make_app`'s application served on this computer by a threaded ``wsgiref`` server.

    For local use (tests, the sandbox, behind a tunnel); see the module's docstring for live use.
    ``port=0`` lets the system pick a free port (:attr:`port`, :attr:`url` once started).
    ``log`` gets a line when a connection fails below the application (default: this module's
    logger). A context manager: ``with Receiver(app) as receiver:`` starts and stops it.
    """

    def __init__(
        self, app: WSGIApplication, host: str = "127.0.0.1", port: int = 0, *, log: Callable[[str], None] | None = None
    ) -> None:
        self.app, self.host, self._asked_port, self._log = app, host, port, log
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> Receiver:
        """Bind and serve in a daemon thread; :class:`WebhookError` if the port cannot be listened on."""
        with self._lock:
            if self._server is not None:
                return self
            kind = _Server6 if ":" in self.host else _Server
            try:
                server = kind((self.host, self._asked_port), _Handler)
            except OSError as exc:
                raise self._bind_error(exc) from None
            server.set_app(self.app)
            server.error_log = self._log
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="webhook-receiver", daemon=True
            )
            thread.start()
            self._server, self._thread = server, thread
        return self

    def _bind_error(self, exc: OSError) -> WebhookError:
        where = f"port {self._asked_port} on {self.host}"
        if exc.errno == errno.EADDRINUSE:
            return WebhookError(
                f"the webhook receiver cannot listen: {where} is taken by another program",
                fix="Choose another port, or port 0 to let the system pick a free one.",
            )
        return WebhookError(
            f"the webhook receiver cannot listen on {where}: {exc.strerror or exc}",
            fix="Use an address of this computer (127.0.0.1 by default) and another port, or port 0.",
        )

    @property
    def port(self) -> int:
        """The port listened on (the system's pick when 0 was asked)."""
        if self._server is None:
            raise RuntimeError("the receiver is not started: call start() first")
        return self._server.server_port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>/`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def stop(self) -> None:
        """Stop serving and close the socket; calling it again does nothing. Deliveries being
        answered finish in their own threads (daemon threads: they never hold the process)."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
