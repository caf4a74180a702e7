"""The one place HTTP happens: a client base class and JSON request handling.

Every service client takes a ``base_url`` (so it can be pointed at the sandbox), a ``timeout``,
and optionally an ``httpx.Client`` or ``httpx.BaseTransport`` to use (tests inject respx or a
transport). A client builds at most one ``httpx.Client`` and reuses it for every call: building
one costs about 20 ms, a request on a warm keep-alive connection a fraction of that.

Failures become this package's errors with the service named and the URL shown without its
query string, because TikTok's token endpoints carry the app secret and codes in the query.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any, ClassVar, Final, TypeVar
from urllib.parse import urlsplit

import httpx

from .errors import (
    ApiError,
    HTTPStatusError,
    InvalidResponse,
    RequestTimeout,
    ServiceUnreachable,
    error_class_for,
    scrub,
)
from .secret import Secret

__all__ = ["DEFAULT_TIMEOUT", "USER_AGENT", "JsonReply", "ServiceClient", "safe_url"]

DEFAULT_TIMEOUT: Final = 15.0
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


for _name in ("httpx", "httpcore"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _RedactQuery) for f in _logger.filters):
        _logger.addFilter(_RedactQuery())


def safe_url(url: str | httpx.URL) -> str:
    """Scheme, host and path only: never the query, which may hold secrets."""
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


_C = TypeVar("_C", bound="ServiceClient")


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
    ) -> None:
        if client is not None and transport is not None:
            raise ValueError("give either client or transport, not both")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=timeout, transport=transport, headers={"user-agent": USER_AGENT})

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
    ) -> JsonReply:
        url = f"{self.base_url}{path}"
        shown = safe_url(url)
        try:
            response = self._client.request(
                method, url, params=params, headers=headers, content=content, timeout=self.timeout
            )
        except httpx.TimeoutException:
            raise RequestTimeout(
                f"no answer from {self.service} at {shown} within {self.timeout:g} s",
                service=self.service,
                url=shown,
            ) from None
        except httpx.DecodingError:
            raise InvalidResponse(
                f"{self.service} at {shown} sent a body that could not be decoded", service=self.service, url=shown
            ) from None
        except httpx.TransportError as exc:
            reason = scrub(str(exc) or exc.__class__.__name__, [*self._secrets(), *extra_secrets])
            raise ServiceUnreachable(
                f"could not reach {self.service} at {shown} ({reason})", service=self.service, url=shown
            ) from None
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
