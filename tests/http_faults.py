"""Transport and body failures shared by the client tests (respx side effects).

Every fault echoes the request (URL with its query, the API key header, the body) into the
exception or the body it produces, so the tests can check that secrets are scrubbed on the way
to the package's own errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import httpx

from tiktok_helpers.errors import HTTPStatusError, InvalidResponse, RequestTimeout, ServiceError, ServiceUnreachable

Effect = Callable[[httpx.Request], httpx.Response]


def echo(request: httpx.Request) -> str:
    return f"{request.url} key={request.headers.get('x-api-key')} body={request.content.decode()}"


def raise_connect(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"[Errno 111] Connection refused: {echo(request)}", request=request)


def raise_read_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout(f"timed out reading: {echo(request)}", request=request)


def raise_connect_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectTimeout(f"timed out connecting: {echo(request)}", request=request)


#: Faults after which nothing was sent: the only ones a non-idempotent call may retry.
NEVER_SENT: tuple[Effect, ...] = (raise_connect, raise_connect_timeout)


def html(status: int) -> Effect:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, html=f"<html><body>Error for {echo(request)}</body></html>")

    return respond


def transport_cases(
    *, code_field: str, truncated: bytes, no_code_status: int
) -> list[tuple[str, Effect, type[ServiceError]]]:
    """(name, side effect, expected error) for a service whose envelope uses ``code_field``."""

    def truncated_body(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=truncated, headers={"content-type": "application/json"})

    def echo_without_code(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"message": echo(request), "return_message": echo(request)})

    return [
        ("connect-error", raise_connect, ServiceUnreachable),
        ("read-timeout", raise_read_timeout, RequestTimeout),
        ("connect-timeout", raise_connect_timeout, RequestTimeout),
        ("http-500-html", html(500), HTTPStatusError),
        ("http-200-html", html(200), InvalidResponse),
        ("truncated-json", truncated_body, InvalidResponse),
        ("json-list", lambda r: httpx.Response(200, json=[{code_field: 0}]), InvalidResponse),
        ("no-code", echo_without_code, InvalidResponse),
        ("json-no-code", lambda r: httpx.Response(no_code_status, json={"error": "nope"}), HTTPStatusError),
    ]


def assert_no_secrets(exc: ServiceError, secrets: Iterable[str]) -> None:
    """No secret in the error's text, repr or URL, and the URL carries no query string."""
    for value in secrets:
        assert value not in str(exc)
        assert value not in repr(exc)
        assert value not in exc.url
    assert "?" not in exc.url
