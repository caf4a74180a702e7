"""The one place HTTP happens: how a client reaches its service, when an attempt is repeated, and
JSON request handling.

Every service client takes one :class:`Transport` value: the ``base_url`` (so it can be pointed at
the sandbox), an ``httpx.Client`` to share or an ``httpx.BaseTransport`` to build its own on
(tests inject respx or a mock transport), the ``timeout``, the :class:`RetryPolicy` and how to wait
between attempts. A client builds at most one ``httpx.Client`` and reuses it for every call:
building one costs about 20 ms, a request on a warm keep-alive connection a fraction of that.

Failures become this package's errors with the service named and the URL shown without its
query string, because TikTok's token endpoints carry the app secret and codes in the query. They
are raised outside the ``except`` clause that caught httpx's error, so that error (its request,
its URL with the query) is not kept as their ``__context__``.

Secrets reach this layer as :class:`~tiktok_helpers.secret.Secret` (query values, headers, the
values of a JSON body) and are revealed only inside the expression that hands the request to
httpx: no frame of the package holds one in plain text, for tools that record locals
(``%xmode Verbose``, ``pytest --showlocals``, error reporters).

What went over the wire: with :attr:`Transport.wire` set, every attempt (retries and failures
included) is recorded in that :class:`~tiktok_helpers.wire.WireLog`, which masks it before keeping
it. The client itself (:class:`SharedClient`, :func:`new_http_client`) is built in
:mod:`tiktok_helpers.http_client`; its names are re-exported here.

Retries: one loop (:meth:`ServiceClient._send`), one decision
(:meth:`~tiktok_helpers.retry.RetryPolicy.should_retry`) and one attempt budget per call, whatever
the causes: see :mod:`tiktok_helpers.retry`. A read is ``safe=True``; nothing else is.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Final, TypeVar
from urllib.parse import urlsplit

import httpx

from .errors import (
    ApiError,
    FieldProblem,
    HTTPStatusError,
    InvalidResponse,
    RequestTimeout,
    ServiceUnreachable,
    TikTokHelperError,
    ValidationError,
    error_class_for,
    scrub,
)
from .http_client import USER_AGENT, SharedClient, new_http_client, shared_ssl_context
from .regions import DEFAULT_TIMEOUT
from .retry import DEFAULT_RETRY, NO_RETRY, RETRY_STATUSES, Outcome, RetryPolicy
from .secret import Secret
from .wire import WireLog

__all__ = [
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "NO_RETRY",
    "RETRY_STATUSES",
    "USER_AGENT",
    "Envelope",
    "Outcome",
    "RetryPolicy",
    "ServiceClient",
    "SharedClient",
    "Transport",
    "WireLog",
    "new_http_client",
    "safe_url",
    "shared_ssl_context",
]

_SECRET_QUERY: Final = re.compile(
    r"((?:app_secret|auth_code|refresh_token|access_token|api_key|code)=)[^&\s\"'#]+", re.IGNORECASE
)


class _RedactQuery(logging.Filter):
    """Mask secret query parameters in httpx's own log lines ("HTTP Request: GET https://...")."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET_QUERY.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


# A logger's filters see only records logged on that very logger, not on its children, so every
# logger httpx and httpcore write to is named here. httpcore's DEBUG lines carry response headers,
# such as a consent page's Location with the auth code in it.
for _name in (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _RedactQuery) for f in _logger.filters):
        _logger.addFilter(_RedactQuery())


def safe_url(url: str | httpx.URL) -> str:
    """Scheme, host and path only: never the query, which may hold secrets."""
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _revealed(values: httpx.QueryParams | Mapping[str, str | Secret] | None) -> Any:
    """``values`` with every :class:`Secret` revealed, for httpx. Call it only inside the expression
    that hands the request to httpx: the plain values then live in no local of this package."""
    if values is None or isinstance(values, httpx.QueryParams):
        return values
    return {name: value.reveal() if isinstance(value, Secret) else value for name, value in values.items()}


def _plain_json(value: object) -> str:
    if isinstance(value, Secret):
        return value.reveal()
    raise TypeError(f"{type(value).__name__} cannot be sent as JSON")


def _json_bytes(body: Mapping[str, Any]) -> bytes:
    """``body`` as the JSON bytes sent, :class:`Secret` values revealed during the encoding only."""
    return json.dumps(body, default=_plain_json).encode("utf-8")


def _reason(exc: BaseException, secrets: Iterable[Secret | str | None]) -> str:
    """httpx's words for a failure, without any secret that was sent or any secret query value."""
    return _SECRET_QUERY.sub(r"\1***", scrub(str(exc) or exc.__class__.__name__, secrets))


_C = TypeVar("_C", bound="ServiceClient")


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # looked up at call time, so tests can patch time.sleep


@dataclass(frozen=True)
class Transport:
    """How a service client reaches its service: one value, the same for every client.

    ``base_url``: the service's base address (the live host, the sandbox's, a mock's).
    ``client``: an ``httpx.Client`` to share; its owner closes it. Without one, the service client
    builds its own (on ``httpx_transport`` if given: respx, ``httpx.MockTransport``) and closes it.
    ``timeout``: seconds for each attempt, whatever the shared client's own default.
    ``retry``: the attempt budget and backoff. ``sleep``: how to wait between attempts (tests pass
    a recorder; the default is :func:`time.sleep`, looked up at call time). ``wire``: a log that
    records every attempt, secrets masked before they are kept (:mod:`tiktok_helpers.wire`); None,
    the default, records nothing and costs nothing.
    """

    base_url: str
    client: httpx.Client | None = None
    httpx_transport: httpx.BaseTransport | None = None
    timeout: float = DEFAULT_TIMEOUT
    retry: RetryPolicy = DEFAULT_RETRY
    sleep: Callable[[float], None] | None = None
    wire: WireLog | None = None

    def __post_init__(self) -> None:
        if self.client is not None and self.httpx_transport is not None:
            raise ValueError("give either client or httpx_transport, not both")


@dataclass(frozen=True)
class Envelope:
    """How a service reports an error in its JSON body: a non-zero ``code_field``, explained by
    ``message_field``, raised as the subclass of ``error`` that handles the code."""

    error: type[ApiError] = ApiError
    code_field: str = "code"
    message_field: str = "message"


def _tries(number: int) -> str:
    return f"; {number} attempts" if number > 1 else ""


class ServiceClient:
    """Base of the service clients: one reusable ``httpx.Client``, the attempts, error translation."""

    service: ClassVar[str] = "service"
    #: How this service reports errors in its replies' bodies.
    envelope: ClassVar[Envelope] = Envelope()

    def __init__(self, transport: Transport) -> None:
        if not isinstance(transport, Transport):
            raise TypeError(f"transport must be a tiktok_helpers.http.Transport, not {type(transport).__name__}")
        self.transport = transport
        self.base_url = transport.base_url.rstrip("/")
        self._sleep = transport.sleep or _sleep
        self._owns_client = transport.client is None
        self._client = transport.client or new_http_client(
            timeout=transport.timeout, transport=transport.httpx_transport
        )

    @property
    def timeout(self) -> float:
        return self.transport.timeout

    @property
    def retry(self) -> RetryPolicy:
        return self.transport.retry

    @property
    def client(self) -> httpx.Client:
        return self._client

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _secrets(self) -> Iterable[Secret | str | None]:
        """Values to scrub from any text that reaches an exception."""
        return ()

    @contextmanager
    def _reading(self, path: str) -> Iterator[None]:
        """Around the reading of a reply: an :class:`InvalidResponse` raised by a parser that does
        not know where the reply came from gets this client's service and URL."""
        try:
            yield
        except InvalidResponse as exc:
            exc.service = exc.service or self.service
            exc.url = exc.url or safe_url(f"{self.base_url}{path}")
            raise

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: httpx.QueryParams | Mapping[str, str | Secret] | None = None,
        headers: Mapping[str, str | Secret] | None = None,
        content: bytes | None = None,
        json_body: Mapping[str, Any] | None = None,
        extra_secrets: Iterable[Secret | str | None] = (),
        safe: bool = False,
    ) -> dict[str, Any]:
        """Send one request and return its reply's JSON object once its code says success.

        Attempts are repeated only as :meth:`RetryPolicy.should_retry` decides (``safe``: the
        request is a read), within the one budget of :attr:`Transport.retry`. The body's code
        decides success whatever the HTTP status (:class:`Envelope`); the status decides only when
        the body carries no code.

        Secrets stay :class:`Secret` in ``params``, ``headers`` and ``json_body`` (a JSON object,
        serialized here; use it instead of ``content`` when the body carries a secret): they are
        revealed only inside the expression that hands the request to httpx, so no frame of this
        package holds a plain secret in a local (tracebacks with locals, ``%xmode Verbose``, error
        reporters). A failure is raised outside the ``except`` clause that saw httpx's error, so the
        package's error keeps no ``__context__`` (httpx's error, its request and URL, with the app
        secret or the code in the query).
        """
        url = f"{self.base_url}{path}"
        secrets = (*self._secrets(), *extra_secrets)
        number = 0
        while True:
            number += 1
            outcome, body = self._attempt(
                number, method, url, secrets, params=params, headers=headers, content=content, json_body=json_body
            )
            if not self.retry.should_retry(outcome, safe=safe):
                break
            self._sleep(self.retry.delay(number - 1, outcome.retry_after))
        if outcome.error is not None:
            raise outcome.error  # outside any except clause: httpx's error is not its __context__
        return body

    def _attempt(
        self,
        number: int,
        method: str,
        url: str,
        secrets: Iterable[Secret | str | None],
        *,
        params: httpx.QueryParams | Mapping[str, str | Secret] | None,
        headers: Mapping[str, str | Secret] | None,
        content: bytes | None,
        json_body: Mapping[str, Any] | None,
    ) -> tuple[Outcome, dict[str, Any]]:
        """One attempt: what it met (for the retry decision) and, on success, the reply's body."""
        shown = safe_url(url)
        sent = True
        failure: TikTokHelperError | None = None
        wire = self.transport.wire
        started = time.perf_counter() if wire is not None else 0.0
        try:
            response = self._client.request(
                method,
                url,
                params=_revealed(params),
                headers=_revealed(headers),
                content=content if json_body is None else _json_bytes(json_body),
                timeout=self.timeout,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            sent = False  # the connection was never made: nothing reached the service
            if isinstance(exc, httpx.TimeoutException):
                failure = RequestTimeout(
                    f"could not connect to {self.service} at {shown} within {self.timeout:g} s{_tries(number)}",
                    service=self.service,
                    url=shown,
                )
            else:
                failure = ServiceUnreachable(
                    f"could not reach {self.service} at {shown} ({_reason(exc, secrets)}{_tries(number)})",
                    service=self.service,
                    url=shown,
                )
        except httpx.TimeoutException:
            failure = RequestTimeout(
                f"no answer from {self.service} at {shown} within {self.timeout:g} s{_tries(number)}",
                service=self.service,
                url=shown,
            )
        except (UnicodeEncodeError, httpx.InvalidURL):
            sent = False  # raised while building the request
            failure = ValidationError(
                [
                    FieldProblem(
                        f"request to {self.service}",
                        "a value to send has characters HTTP cannot carry (for example a masked '…' value, "
                        "or a letter outside ASCII); nothing was sent. Paste the value again from its source",
                    )
                ]
            )
        except httpx.DecodingError:
            failure = InvalidResponse(
                f"{self.service} at {shown} sent a body that could not be decoded", service=self.service, url=shown
            )
        except httpx.TransportError as exc:
            failure = ServiceUnreachable(
                f"could not reach {self.service} at {shown} ({_reason(exc, secrets)}{_tries(number)})",
                service=self.service,
                url=shown,
            )
        if wire is not None:  # every attempt, retries and failures too; masked by the log before it is kept
            took = (time.perf_counter() - started) * 1000
            reply = None if failure is not None else response
            request = {"params": params, "headers": headers, "content": content, "json_body": json_body}
            self._record(wire, number, method, url, secrets, took, request, failure, reply)
        if failure is not None:
            return Outcome(number, sent, error=failure), {}
        status, retry_after = response.status_code, response.headers.get("retry-after")
        try:
            body, error = self._checked(response, shown, secrets), None
        except (HTTPStatusError, InvalidResponse, ApiError) as exc:
            body, error = {}, exc
        return Outcome(number, True, status, error, retry_after), body

    def _record(
        self,
        wire: WireLog,
        number: int,
        method: str,
        url: str,
        secrets: Iterable[Secret | str | None],
        took: float,
        request: Mapping[str, Any],
        failure: TikTokHelperError | None,
        response: httpx.Response | None,
    ) -> None:
        """One attempt into ``wire``: the request (``params``, ``headers``, ``content``, ``json_body``:
        secrets still :class:`Secret`), and the reply or the failure."""
        reply: dict[str, Any] = {}
        if response is not None:
            reply = {"status": response.status_code, "response_headers": response.headers}
            reply["response_body"] = response.content
        wire.record(
            service=self.service, method=method, url=url, attempt=number, elapsed_ms=took, secrets=secrets,
            error=failure, **request, **reply,
        )  # fmt: skip

    def _checked(self, response: httpx.Response, shown: str, secrets: Iterable[Secret | str | None]) -> dict[str, Any]:
        """The reply's JSON object when its code (:attr:`envelope`) is 0; the matching error otherwise.

        The HTTP status only decides when the body carries no code at all: these services report
        errors in the body, usually with HTTP 200.
        """
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            if not response.is_success:
                raise HTTPStatusError(response.status_code, service=self.service, url=shown)
            kind = response.headers.get("content-type", "unknown content type").split(";")[0]
            raise InvalidResponse(
                f"{self.service} at {shown} answered HTTP {response.status_code} with {kind}, "
                f"{len(response.content)} bytes, not a JSON object",
                service=self.service,
                url=shown,
            )
        envelope = self.envelope
        code = body.get(envelope.code_field)
        if isinstance(code, str) and code.lstrip("-").isdigit():
            code = int(code)
        if not isinstance(code, int) or isinstance(code, bool):
            if response.status_code >= 400:
                raise HTTPStatusError(response.status_code, service=self.service, url=shown)
            raise InvalidResponse(
                f"the reply from {self.service} at {shown} has no numeric {envelope.code_field!r} field",
                service=self.service,
                url=shown,
            )
        if code == 0:
            return body
        message = scrub(str(body.get(envelope.message_field) or ""), secrets)
        cls = error_class_for(envelope.error, code)
        raise cls(
            code,
            message,
            str(body.get("request_id") or ""),
            service=self.service,
            url=shown,
            http_status=response.status_code,
        )
