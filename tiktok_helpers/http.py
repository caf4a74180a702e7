"""The one place HTTP happens: a client base class and JSON request handling.

Every service client takes a ``base_url`` (so it can be pointed at the sandbox), a ``timeout``,
and optionally an ``httpx.Client`` or ``httpx.BaseTransport`` to use (tests inject respx or a
transport). A client builds at most one ``httpx.Client`` and reuses it for every call: building
one costs about 20 ms, a request on a warm keep-alive connection a fraction of that.

Failures become this package's errors with the service named and the URL shown without its
query string, because TikTok's token endpoints carry the app secret and codes in the query. They
are raised outside the ``except`` clause that caught httpx's error, so that error (its request,
its URL with the query) is not kept as their ``__context__``.

Secrets reach this layer as :class:`~tiktok_helpers.secret.Secret` (query values, headers, the
values of a JSON body) and are revealed only inside the expression that hands the request to
httpx: no frame of the package holds one in plain text, for tools that record locals
(``%xmode Verbose``, ``pytest --showlocals``, error reporters).

Retries (:class:`RetryPolicy`), with exponential backoff, only where repeating is safe:

* a connection that could not be made (``ConnectError``, ``ConnectTimeout``): nothing was sent,
  so any request may be retried, even a token exchange;
* a read timeout, a dropped connection, HTTP 429/502/503/504: only requests marked idempotent
  (reads: Get Authorized Shops, API2Cart list/validate/platforms). Never the token exchange (a
  code works once: if the first attempt reached TikTok, a second can only fail), never a refresh
  (TikTok may already have replaced the refresh token), never adding an API2Cart store.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
import ssl
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
from .regions import DEFAULT_TIMEOUT
from .secret import Secret

__all__ = [
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "NO_RETRY",
    "USER_AGENT",
    "JsonReply",
    "RetryPolicy",
    "ServiceClient",
    "new_http_client",
    "safe_url",
    "shared_ssl_context",
]

USER_AGENT: Final = "tiktok-helpers-runbook/0.1 (+httpx)"

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

#: HTTP statuses that say "try again later" without the request having done anything.
RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts in all, and the backoff between them: ``backoff * 2**n``, capped, ±20 %."""

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 4.0

    def delay(self, retry_number: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.strip().isdigit():
            return min(float(retry_after.strip()), self.max_backoff)
        base = min(self.backoff * 2.0**retry_number, self.max_backoff)
        return base * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # looked up at call time, so tests can patch time.sleep


DEFAULT_RETRY: Final = RetryPolicy()
NO_RETRY: Final = RetryPolicy(attempts=1)


@functools.lru_cache(maxsize=1)
def shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process. httpx builds a new one for every ``Client``, and
    building one loads the CA bundle: about 50 ms here, more than a whole sandbox flow."""
    return httpx.create_ssl_context()


def new_http_client(
    *, timeout: float = DEFAULT_TIMEOUT, transport: httpx.BaseTransport | None = None, tls: bool = True
) -> httpx.Client:
    """The package's HTTP client. ``tls=False`` is for talking only to the loopback sandbox (plain
    http): its context has no CA certificates, so an https request through it fails verification
    instead of loading the bundle for nothing."""
    verify = shared_ssl_context() if tls else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return httpx.Client(timeout=timeout, transport=transport, verify=verify, headers={"user-agent": USER_AGENT})


class JsonReply:
    """A decoded JSON object reply with its HTTP status."""

    __slots__ = ("body", "status_code")

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        self.status_code = status_code
        self.body = body


class ServiceClient:
    """Base of the service clients: one reusable ``httpx.Client`` and error translation."""

    service: ClassVar[str] = "service"

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if client is not None and transport is not None:
            raise ValueError("give either client or transport, not both")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry
        self._sleep = sleep or _sleep
        self._owns_client = client is None
        self._client = client or new_http_client(timeout=timeout, transport=transport)

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
        idempotent: bool = False,
    ) -> JsonReply:
        """Send one request (retried where :class:`RetryPolicy` allows) and decode its JSON object.

        Secrets stay :class:`Secret` in ``params``, ``headers`` and ``json_body`` (a JSON object,
        serialized here; use it instead of ``content`` when the body carries a secret): they are
        revealed only inside the expression that hands the request to httpx, so no frame of this
        package holds a plain secret in a local (tracebacks with locals, ``%xmode Verbose``, error
        reporters). A failure is raised outside the ``except`` clause that saw httpx's error, so the
        package's error keeps no ``__context__`` (httpx's error, its request and URL, with the app
        secret or the code in the query).
        """
        url = f"{self.base_url}{path}"
        shown = safe_url(url)
        secrets = (*self._secrets(), *extra_secrets)
        attempts = max(1, self.retry.attempts)
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            failure: TikTokHelperError | None = None
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
                # Nothing was sent: safe to try again whatever the request.
                if not last:
                    self._sleep(self.retry.delay(attempt - 1))
                    continue
                tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
                if isinstance(exc, httpx.TimeoutException):
                    failure = RequestTimeout(
                        f"could not connect to {self.service} at {shown} within {self.timeout:g} s ({tries})",
                        service=self.service,
                        url=shown,
                    )
                else:
                    failure = ServiceUnreachable(
                        f"could not reach {self.service} at {shown} ({_reason(exc, secrets)}; {tries})",
                        service=self.service,
                        url=shown,
                    )
            except httpx.TimeoutException:
                if idempotent and not last:
                    self._sleep(self.retry.delay(attempt - 1))
                    continue
                failure = RequestTimeout(
                    f"no answer from {self.service} at {shown} within {self.timeout:g} s",
                    service=self.service,
                    url=shown,
                )
            except (UnicodeEncodeError, httpx.InvalidURL):
                # Raised while building the request: nothing was sent.
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
                if idempotent and not last:
                    self._sleep(self.retry.delay(attempt - 1))
                    continue
                failure = ServiceUnreachable(
                    f"could not reach {self.service} at {shown} ({_reason(exc, secrets)})",
                    service=self.service,
                    url=shown,
                )
            if failure is not None:
                raise failure  # outside the except clauses: httpx's error is not its __context__
            if idempotent and not last and response.status_code in RETRY_STATUSES:
                self._sleep(self.retry.delay(attempt - 1, response.headers.get("retry-after")))
                continue
            break
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
        return JsonReply(response.status_code, body)

    def _checked(
        self,
        reply: JsonReply,
        path: str,
        *,
        error_base: type[ApiError],
        code_field: str = "code",
        message_field: str = "message",
        extra_secrets: Iterable[Secret | str | None] = (),
    ) -> dict[str, Any]:
        """Return the body when its ``code_field`` is 0; raise the matching error otherwise.

        The HTTP status only decides when the body carries no code at all: these services report
        errors in the body, usually with HTTP 200.
        """
        body = reply.body
        shown = safe_url(f"{self.base_url}{path}")
        code = body.get(code_field)
        if isinstance(code, str) and code.lstrip("-").isdigit():
            code = int(code)
        if not isinstance(code, int) or isinstance(code, bool):
            if reply.status_code >= 400:
                raise HTTPStatusError(reply.status_code, service=self.service, url=shown)
            raise InvalidResponse(
                f"the reply from {self.service} at {shown} has no numeric {code_field!r} field",
                service=self.service,
                url=shown,
            )
        if code == 0:
            return body
        message = scrub(str(body.get(message_field) or ""), [*self._secrets(), *extra_secrets])
        cls = error_class_for(error_base, code)
        raise cls(
            code,
            message,
            str(body.get("request_id") or ""),
            service=self.service,
            url=shown,
            http_status=reply.status_code,
        )
