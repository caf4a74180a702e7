"""The one place HTTP happens: a client base class and JSON request handling.

Every service client takes a ``base_url`` (so it can be pointed at the sandbox), a ``timeout``,
and optionally an ``httpx.Client`` or ``httpx.BaseTransport`` to use (tests inject respx or a
transport). A client builds at most one ``httpx.Client`` and reuses it for every call: building
one costs about 20 ms, a request on a warm keep-alive connection a fraction of that.

Failures become this package's errors with the service named and the URL shown without its
query string, because TikTok's token endpoints carry the app secret and codes in the query.

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
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        extra_secrets: Iterable[Secret | str | None] = (),
        idempotent: bool = False,
    ) -> JsonReply:
        url = f"{self.base_url}{path}"
        shown = safe_url(url)
        attempts = max(1, self.retry.attempts)
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = self._client.request(
                    method, url, params=params, headers=headers, content=content, timeout=self.timeout
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing was sent: safe to try again whatever the request.
                if not last:
                    self._sleep(self.retry.delay(attempt - 1))
                    continue
                if isinstance(exc, httpx.TimeoutException):
                    raise RequestTimeout(
                        f"could not connect to {self.service} at {shown} within {self.timeout:g} s "
                        f"({attempts} attempt{'s' if attempts > 1 else ''})",
                        service=self.service,
                        url=shown,
                    ) from None
                reason = scrub(str(exc) or exc.__class__.__name__, [*self._secrets(), *extra_secrets])
                raise ServiceUnreachable(
                    f"could not reach {self.service} at {shown} ({reason}; {attempts} attempt"
                    f"{'s' if attempts > 1 else ''})",
                    service=self.service,
                    url=shown,
                ) from None
            except httpx.TimeoutException:
                if idempotent and not last:
                    self._sleep(self.retry.delay(attempt - 1))
                    continue
                raise RequestTimeout(
                    f"no answer from {self.service} at {shown} within {self.timeout:g} s",
                    service=self.service,
                    url=shown,
                ) from None
            except (UnicodeEncodeError, httpx.InvalidURL):
                # Raised while building the request: nothing was sent.
                raise ValidationError(
                    [
                        FieldProblem(
                            f"request to {self.service}",
                            "a value to send has characters HTTP cannot carry (for example a masked '…' value, "
                            "or a letter outside ASCII); paste the value again from its source",
                        )
                    ]
                ) from None
            except httpx.DecodingError:
                raise InvalidResponse(
                    f"{self.service} at {shown} sent a body that could not be decoded", service=self.service, url=shown
                ) from None
            except httpx.TransportError as exc:
                if idempotent and not last:
                    self._sleep(self.retry.delay(attempt - 1))
                    continue
                reason = scrub(str(exc) or exc.__class__.__name__, [*self._secrets(), *extra_secrets])
                raise ServiceUnreachable(
                    f"could not reach {self.service} at {shown} ({reason})", service=self.service, url=shown
                ) from None
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
