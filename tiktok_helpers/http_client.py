"""The package's HTTP client: one ``httpx.Client`` that threads may share (:class:`SharedClient`),
built with one TLS context per process (:func:`shared_ssl_context`) by :func:`new_http_client`.

Split from :mod:`tiktok_helpers.http` (which re-exports every name here, so imports from there keep
working): that module sends the requests, this one builds the client they are sent on.
"""

from __future__ import annotations

import functools
import ssl
import threading
from typing import Any, Final

import httpx

from .regions import DEFAULT_TIMEOUT

__all__ = ["USER_AGENT", "SharedClient", "new_http_client", "shared_ssl_context"]

USER_AGENT: Final = "tiktok-helpers-runbook/0.1 (+httpx)"


@functools.lru_cache(maxsize=1)
def shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process. httpx builds a new one for every ``Client``, and
    building one loads the CA bundle: about 50 ms here, more than a whole sandbox flow."""
    return httpx.create_ssl_context()


class SharedClient(httpx.Client):
    """An ``httpx.Client`` that threads may share: no two threads send on one connection pool.

    httpcore's pool is not safe under many threads (encode/httpcore#1110, open in httpcore 1.0.9):
    a pass of one thread can close a connection the pass of another has just assigned to a queued
    request, before that request marks it active. When the request has already been sent, its
    socket is closed under it: ``ReadError: [Errno 9] Bad file descriptor``, or a read timeout.
    The pool closes idle connections whenever it holds more than ``max_keepalive_connections`` (20:
    it counts all its connections there, not the idle ones) or is full, so a bulk refresh above 20
    at a time met it on almost every run, and a token refresh whose reply is lost is a refresh token
    lost. With a pool per thread no other thread's pass comes near a connection in use.

    The first thread to send uses this client's own pool (a program with one thread builds nothing
    more); every other thread gets a client of its own, built with this client's configuration
    (environment proxies, TLS context, timeout, headers), keeping its keep-alive connections. When
    the owner of the pool has ended, the next new thread takes it over; the clients of threads that
    have ended are closed when a new one is made, all of them by :meth:`close`.
    """

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._config = config
        self._owner: threading.Thread | None = None
        self._threads: dict[threading.Thread, httpx.Client] = {}
        self._threads_lock = threading.Lock()

    def _own(self) -> httpx.Client | None:
        """The client this thread sends with (None: this client's own pool)."""
        thread = threading.current_thread()
        ended: list[httpx.Client] = []
        with self._threads_lock:
            if self.is_closed:
                raise RuntimeError("Cannot send a request, as the client has been closed.")
            if self._owner is thread:
                return None
            client = self._threads.get(thread)
            if client is not None:
                return client
            ended = [self._threads.pop(t) for t in list(self._threads) if not t.is_alive()]
            if self._owner is None or not self._owner.is_alive():
                self._owner = thread
            else:
                client = self._threads[thread] = httpx.Client(**self._config)
        for old in ended:
            old.close()
        return client

    def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        own = self._own()
        if own is None:
            return super().send(request, stream=stream, auth=auth, follow_redirects=follow_redirects)
        return own.send(request, stream=stream, auth=auth, follow_redirects=follow_redirects)

    def close(self) -> None:
        with self._threads_lock:
            clients = list(self._threads.values())
            self._threads.clear()
            super().close()
        for client in clients:
            client.close()


def new_http_client(
    *, timeout: float = DEFAULT_TIMEOUT, transport: httpx.BaseTransport | None = None, tls: bool = True
) -> httpx.Client:
    """The package's HTTP client, safe to share between threads (:class:`SharedClient`). ``tls=False``
    is for talking only to the loopback sandbox (plain http): its context has no CA certificates, so
    an https request through it fails verification instead of loading the bundle for nothing. A given
    ``transport`` (respx, ``httpx.MockTransport``) is used as it is, by one plain ``httpx.Client``."""
    verify = shared_ssl_context() if tls else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    config: dict[str, Any] = {"timeout": timeout, "verify": verify, "headers": {"user-agent": USER_AGENT}}
    if transport is not None:
        return httpx.Client(transport=transport, **config)
    return SharedClient(**config)
