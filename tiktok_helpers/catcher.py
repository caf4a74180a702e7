"""Catch the browser's redirect back from TikTok on this computer.

A one-shot HTTP listener bound to loopback only, on the port and path of the app's redirect URL
(or an ephemeral port). It runs in a background thread so a notebook stays responsive, reports
progress (waiting with time left, received, timed out), ignores stray requests (favicon, wrong
path, a redirect without a code, a wrong or missing ``state``, a request addressed to another
host), and answers the browser with a small fixed page that never reflects what it was sent.

Anything on this computer, and any web page open in its browser, can reach a loopback port, so:

* **Where it listens.** ``127.0.0.1`` (or the 127.x.y.z address in the URL) or ``::1``, exactly
  what the redirect URL names. For ``localhost`` it listens on *both* 127.0.0.1 and ::1 on one
  port (a port free on both when it picks one), because a browser may send ``localhost`` to
  either: a program squatting the other one would otherwise get the code. When either address is
  taken it refuses with an error naming it. On a machine without IPv6 (no ::1) it listens on
  127.0.0.1 alone, and then nobody can squat ::1 either.
* **Who it answers.** Only a ``Host`` header naming this listener (``127.0.0.1:PORT``,
  ``localhost:PORT``, ``[::1]:PORT``): a DNS-rebinding page (``Host: rebind.attacker.example``)
  gets a fixed 421 page and the wait goes on.
* **What ends the wait.** A code with the expected ``state``, or a refusal with it. A refusal
  without a state (any page can load ``/callback?error=access_denied``) never ends the wait by
  itself, but TikTok does not document whether it echoes ``state`` on a refusal, so a seller's real
  Cancel may arrive without one: the status then says so (:attr:`CatcherStatus.refused_without_state`,
  "a refusal without the expected state arrived: if you pressed Cancel, stop here") and the person
  stops the wait (:meth:`RedirectCatcher.stop`). A code without a state ends it only when the catcher
  was told the redirect comes from a TikTok Shop App Store install (``app_store_install``: those
  carry no state), or was started without an expected state.
* **What the browser keeps.** The code is taken and the browser is sent on with ``303 See Other``
  to ``<path>/done``, a fixed "you can close this tab" page, so the one-time code does not stay in
  the address bar or history. The listener stays up for that page (at most
  :data:`DONE_PAGE_GRACE` seconds, less as soon as it is served), then closes; ``wait()`` returns
  once it is closed.
* **One catcher, its own connections.** Every answer closes its connection (no keep-alive), and
  when the listener closes, connections it accepted that have not sent a request yet (a browser's
  preconnect) are closed too: a connection left from this catcher can never swallow the redirect
  meant for the next catcher on the same port. The browser then opens a fresh one.
* **Stopping.** The listener thread sleeps in a selector with a wake-up socket: ``stop()`` returns
  in about a millisecond and the port is released when it (or ``wait()``) returns.

The pasted redirect URL (:func:`tiktok_helpers.redirect.parse_redirect`) stays the fallback
for a browser on another machine.

This module decides what each request means and when the wait ends; the listening sockets are
:mod:`tiktok_helpers.catcher_sockets`'s (a port it cannot listen on raises
:class:`~tiktok_helpers.errors.CallbackPortBusy` with the address, the port and whether it is
taken), and the HTTP reading and fixed pages :mod:`tiktok_helpers.catcher_http`'s.

Modelled on google-auth-oauthlib's ``InstalledAppFlow.run_local_server``, made non-blocking.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import re
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import Final
from urllib.parse import parse_qs, urlsplit, urlunsplit

from .catcher_http import Answer, CatcherHooks, handle_connection
from .catcher_sockets import listen, listen_on_all
from .catcher_sockets import shown as _shown
from .errors import (
    REDIRECT_URL_FIELD,
    AuthorizationDenied,
    AuthorizationError,
    FieldProblem,
    MissingAuthCode,
    RedirectTimeout,
    StateMismatch,
    ValidationError,
)
from .redirect import RedirectResult, parse_redirect
from .validation import is_loopback

__all__ = ["DONE_PAGE_GRACE", "REFUSED_WITHOUT_STATE", "CatcherState", "CatcherStatus", "RedirectCatcher"]

#: Seconds the listener stays up after the code (or a refusal) for the browser to load the
#: "you can close this tab" page it was redirected to; it closes as soon as that page is served.
DONE_PAGE_GRACE: Final = 0.5

#: Opens one listening socket: looked up at each start, so a test can replace ``catcher._listen``.
_listen: Callable[[str, int], socket.socket] = listen
_HOST_HEADER: Final = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9.\-]+)(?::([0-9]{1,5}))?")


class CatcherState(str, Enum):
    WAITING = "waiting"
    RECEIVED = "received"
    DENIED = "denied"
    TIMED_OUT = "timed out"
    STOPPED = "stopped"


#: What the status says once a refusal without the expected state has arrived.
REFUSED_WITHOUT_STATE: Final = "a refusal without the expected state arrived: if you pressed Cancel, stop here"


@dataclass(frozen=True)
class CatcherStatus:
    state: CatcherState
    seconds_left: float
    ignored: int
    message: str
    address: str = ""
    #: A refusal without the expected state arrived while waiting (it did not end the wait).
    refused_without_state: bool = False

    @property
    def done(self) -> bool:
        return self.state is not CatcherState.WAITING


class RedirectCatcher:
    """Listen on loopback for TikTok's redirect; ``wait()`` returns the :class:`RedirectResult`.

    ``redirect_url`` must point at this computer over http (127.0.0.1 or another 127.x.y.z,
    localhost or [::1]); port 0 or no port picks a free one, and :attr:`redirect_url` then tells
    the real address. See the module's docstring for what it accepts and why.
    """

    def __init__(
        self,
        redirect_url: str,
        *,
        expected_state: str | None = None,
        app_store_install: bool = False,
        timeout: float = 300.0,
        on_progress: Callable[[CatcherStatus], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            parts = urlsplit(redirect_url.strip())
            port = parts.port or 0
        except ValueError:
            parts, port = urlsplit(""), 0
        host = (parts.hostname or "").lower()
        if parts.scheme != "http" or "@" in parts.netloc or not is_loopback(host):
            raise ValidationError(
                [
                    FieldProblem(
                        REDIRECT_URL_FIELD,
                        "the catcher only listens on this computer (http://127.0.0.1:<port>/<path>); for any other "
                        "redirect URL, paste the address from the browser instead",
                    )
                ]
            )
        self._binds = ("127.0.0.1", "::1") if host == "localhost" else (str(ipaddress.ip_address(host)),)
        self._url_host = host
        self._path = parts.path or "/"
        self._done_path = self._path.rstrip("/") + "/done"
        self._port = port
        self._host_names = frozenset({"localhost", "127.0.0.1", "[::1]", *(_shown(b) for b in self._binds)})
        self.expected_state = expected_state
        #: The person said the redirect comes from an App Store install: a code without state is taken.
        self.app_store_install = app_store_install
        self.timeout = timeout
        self._on_progress = on_progress
        self._clock = clock
        self._lock = threading.Lock()
        self._done = threading.Event()  # the wait is over: a result, a refusal, the deadline or stop()
        self._closing = threading.Event()  # stop(): close the listener now
        self._page_served = threading.Event()  # the browser loaded the "done" page after the 303
        self._idle: set[socket.socket] = set()  # accepted connections that have not sent a request yet
        self._result: RedirectResult | None = None
        self._error: AuthorizationError | None = None
        self._state = CatcherState.WAITING
        self._ignored = 0
        self._refused_without_state = False
        self._deadline = 0.0
        self._listeners: list[socket.socket] = []
        self._bound: tuple[str, ...] = ()  # the addresses of the listeners
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._hooks = CatcherHooks(arrived=self._busy, answer=self._handle, done_page_sent=self._done_page_sent)

    # --- public -----------------------------------------------------------------------------

    @property
    def redirect_url(self) -> str:
        """The address being listened on (with the real port once started)."""
        return urlunsplit(("http", f"{_shown(self._url_host)}:{self.port}", self._path, "", ""))

    @property
    def port(self) -> int:
        return self._port

    @property
    def addresses(self) -> tuple[str, ...]:
        """The loopback addresses listened on (``host:port``; IPv6 in brackets), once started."""
        return tuple(f"{_shown(a)}:{self._port}" for a in self._bound)

    def start(self) -> RedirectCatcher:
        """Bind and start listening in a background thread. Returns self."""
        if self._thread is not None:
            return self
        self._listeners, self._bound = self._bind()
        self._port = self._listeners[0].getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._deadline = self._clock() + self.timeout
        self._thread = threading.Thread(target=self._serve, name="redirect-catcher", daemon=True)
        self._thread.start()
        self._report()
        return self

    def status(self) -> CatcherStatus:
        with self._lock:
            left = max(0.0, self._deadline - self._clock()) if self._state is CatcherState.WAITING else 0.0
            waiting = f"waiting for the browser, {left:.0f} s left"
            if self._refused_without_state:
                waiting += f"; {REFUSED_WITHOUT_STATE}"
            messages = {
                CatcherState.WAITING: waiting,
                CatcherState.RECEIVED: "received the code",
                CatcherState.DENIED: "the authorization was refused",
                CatcherState.TIMED_OUT: "timed out: no redirect arrived",
                CatcherState.STOPPED: "stopped",
            }
            return CatcherStatus(
                self._state, left, self._ignored, messages[self._state], self.redirect_url, self._refused_without_state
            )

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
        """Stop listening at once (idempotent); the port is released when this returns."""
        with self._lock:
            if self._state is CatcherState.WAITING:
                self._state = CatcherState.STOPPED
        self._closing.set()
        self._done.set()
        self._wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> RedirectCatcher:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- listening ----------------------------------------------------------------------------

    def _bind(self) -> tuple[list[socket.socket], tuple[str, ...]]:
        """Listen on every address of the redirect URL's host, on one port; or raise
        :class:`CallbackPortBusy` saying which address and port, and whether the port is taken."""
        return listen_on_all(self._binds, self._port, _listen)

    def _wake(self) -> None:
        """Wake the listener thread from its selector (a byte on the wake-up socket)."""
        with contextlib.suppress(OSError, AttributeError):
            self._wake_w.send(b"\0")  # type: ignore[union-attr]

    def _serve(self) -> None:
        assert self._wake_r is not None
        selector = selectors.DefaultSelector()
        last_tick = -1
        reported = CatcherState.WAITING
        linger_until: float | None = None
        try:
            selector.register(self._wake_r, selectors.EVENT_READ)
            for listener in self._listeners:
                selector.register(listener, selectors.EVENT_READ)
            while not self._closing.is_set():
                now = self._clock()
                with self._lock:
                    state = self._state
                if state is not reported:
                    reported = state
                    self._report()
                if state is CatcherState.WAITING:
                    left = self._deadline - now
                    if left <= 0:
                        with self._lock:
                            if self._state is CatcherState.WAITING:
                                self._state = CatcherState.TIMED_OUT
                        self._done.set()
                        break
                    if int(left) != last_tick:
                        last_tick = int(left)
                        self._report()
                    pause = min(left, left - int(left) + 0.001)  # until the next whole second
                elif state in (CatcherState.RECEIVED, CatcherState.DENIED):
                    if self._page_served.is_set():
                        break
                    linger_until = now + DONE_PAGE_GRACE if linger_until is None else linger_until
                    pause = linger_until - now
                    if pause <= 0:
                        break
                else:
                    break
                for key, _events in selector.select(pause):
                    if key.fileobj is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    else:
                        self._accept(key.fileobj)  # type: ignore[arg-type]
        finally:
            selector.close()
            for listener in self._listeners:
                listener.close()  # the port is free from here on
            with self._lock:
                idle, self._idle = list(self._idle), set()
            for conn in idle:  # e.g. a preconnect: it must not carry the next catcher's redirect here
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            for sock in (self._wake_r, self._wake_w):
                if sock is not None:
                    sock.close()
            self._done.set()
            self._report()

    def _accept(self, listener: socket.socket) -> None:
        """Take every pending connection; each gets a thread of its own, so a connection that
        sends nothing (a browser's speculative preconnect, a slow client) holds up nobody."""
        while True:
            try:
                conn, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. the client gave up before it was taken, or no file descriptors left
                time.sleep(0.005)
                return
            with self._lock:
                self._idle.add(conn)  # until it sends a request; closed with the listener if it never does
            threading.Thread(
                target=self._connection, args=(conn, address), name="redirect-catcher-conn", daemon=True
            ).start()

    def _connection(self, conn: socket.socket, address: tuple[str, int]) -> None:
        try:
            with contextlib.suppress(Exception):  # a client that went away mid-answer: nothing to do
                conn.setblocking(True)
                handle_connection(conn, address, self._hooks)
        finally:
            self._busy(conn)
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_WR)
            conn.close()

    def _busy(self, conn: socket.socket) -> None:
        with self._lock:
            self._idle.discard(conn)

    def _done_page_sent(self) -> None:
        self._page_served.set()
        self._wake()

    def _report(self) -> None:
        if self._on_progress is not None:
            try:
                self._on_progress(self.status())
            except Exception:
                self._on_progress = None

    # --- one request --------------------------------------------------------------------------

    def _host_ok(self, values: list[str]) -> bool:
        """Exactly one ``Host`` header, naming this listener (name and port): not a rebound name."""
        if len(values) != 1:
            return False
        match = _HOST_HEADER.fullmatch(values[0].strip().lower())
        if match is None or match.group(1) not in self._host_names:
            return False
        port = match.group(2)
        return port == str(self._port) if port is not None else self._port == 80

    def _handle(self, target: str, hosts: list[str]) -> Answer:
        if not self._host_ok(hosts):
            self._count_ignored()
            return Answer("wronghost", 421)
        if not target.startswith("/") or target.startswith("//"):  # absolute or authority forms
            self._count_ignored()
            return Answer("notfound", 404)
        parts = urlsplit(target)
        with self._lock:
            state = self._state
        if parts.path == self._done_path and state in (CatcherState.RECEIVED, CatcherState.DENIED):
            return Answer("received" if state is CatcherState.RECEIVED else "denied", 200, last=True)
        if parts.path != self._path:
            self._count_ignored()
            return Answer("notfound", 404)
        if state in (CatcherState.RECEIVED, CatcherState.DENIED):  # the browser again: same clean page
            return Answer("received" if state is CatcherState.RECEIVED else "denied", 303, self._done_path)
        if state is not CatcherState.WAITING:
            return Answer("nocode", 400)
        query = parse_qs(parts.query, keep_blank_values=True)
        if self.expected_state is not None and "state" not in query and ("code" in query or "error" in query):
            # Without the state a refusal never ends the wait (any page can load
            # /callback?error=access_denied), but the person is told: it may be their own Cancel.
            if "error" in query or _null_code(query):
                self._refused_stateless()
                return Answer("nostate", 400)
            if not self.app_store_install:
                self._count_ignored()
                return Answer("nostate", 400)
        try:
            result = parse_redirect(
                f"http://catcher{target}", self.expected_state, app_store_install=self.app_store_install
            )
        except AuthorizationDenied as exc:
            if not self._expected(query):  # checked here too: a refusal ends the wait only with the state
                self._count_ignored()
                return Answer("mismatch", 400)
            return self._finish(error=exc)
        except StateMismatch:
            self._count_ignored()
            return Answer("mismatch", 400)
        except (MissingAuthCode, AuthorizationError):
            self._count_ignored()
            return Answer("nocode", 400)
        return self._finish(result=result)

    def _expected(self, query: dict[str, list[str]]) -> bool:
        """The query's (first) state is the expected one, or no state is expected."""
        if self.expected_state is None:
            return True
        sent = query.get("state", [None])[0]
        return sent is not None and hmac.compare_digest(
            sent.strip().encode("utf-8", "surrogatepass"), self.expected_state.encode("utf-8", "surrogatepass")
        )

    def _count_ignored(self) -> None:
        with self._lock:
            self._ignored += 1

    def _refused_stateless(self) -> None:
        """A refusal without the expected state: ignored, and said (the status and a progress report)."""
        with self._lock:
            self._ignored += 1
            first = not self._refused_without_state
            self._refused_without_state = True
        if first:
            self._report()

    def _finish(self, *, result: RedirectResult | None = None, error: AuthorizationError | None = None) -> Answer:
        """Take the first code (or refusal) and send the browser on to the clean "done" page."""
        with self._lock:
            if self._state is CatcherState.WAITING:
                self._result, self._error = result, error
                self._state = CatcherState.RECEIVED if result is not None else CatcherState.DENIED
            state = self._state
        self._done.set()
        self._wake()
        if state not in (CatcherState.RECEIVED, CatcherState.DENIED):
            return Answer("nocode", 400)
        return Answer("received" if state is CatcherState.RECEIVED else "denied", 303, self._done_path)


def _null_code(query: dict[str, list[str]]) -> bool:
    """``code=null`` (or empty): how TikTok's refusal redirect carries the code (202407 overview)."""
    return any(value.strip().lower() in ("", "null", "none", "undefined") for value in query.get("code", [])[:1])
