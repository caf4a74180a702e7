"""Secrets within reach of other tools: locals in tracebacks, and the exception chain.

Tools that record a failure's locals (``%xmode Verbose``, ``pytest --showlocals``, error reporters)
must find no secret in plain text in the package's frames: the clients keep every secret a
:class:`Secret` until the HTTP layer reveals it inside the expression that hands the request to
httpx. And a package error must not carry httpx's error (whose request URL holds the app secret and
the code in the query) as its ``__context__`` or ``__cause__``: no exception in the chain, its
args, notes or attributes, nor its formatted traceback, may hold a secret.

Each case fails deep inside the call: in the transport, while httpx sends the request.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import FrameType, TracebackType

import httpx
import pytest

from tiktok_helpers.api2cart import Api2CartClient
from tiktok_helpers.errors import RequestTimeout, ServiceError, ServiceUnreachable, TikTokHelperError
from tiktok_helpers.http import NO_RETRY, ServiceClient, Transport
from tiktok_helpers.openapi import OpenApiClient
from tiktok_helpers.secret import Secret
from tiktok_helpers.tokens import TokenClient

BASE = "https://reach.example"  # the mock transport answers whatever the host
APP_KEY = "6abcd1234efgh"
APP_SECRET = "0123456789abcdef0123456789abcdef01234567"
AUTH_CODE = "TTP_auth_code_reach_test_0000000000001"
ACCESS_TOKEN = "TTP_access_token_reach_test_00000000001"
REFRESH_TOKEN = "TTP_refresh_token_reach_test_0000000001"
API_KEY = "api2cart-key-reach-test-000000000001"
STORE_KEY = "store-key-reach-test-0000000000000001"
SECRETS = (APP_SECRET, AUTH_CODE, ACCESS_TOKEN, REFRESH_TOKEN, API_KEY, STORE_KEY)


class Boom(Exception):
    """Not an httpx error: nothing in the package catches it, so its traceback reaches every frame
    from the test down to the transport, as an unexpected failure's would."""


def echo(request: httpx.Request) -> str:
    """The whole request in words, as some transports' errors put it: URL with its query, headers, body."""
    return f"{request.url} headers={dict(request.headers)} body={request.content.decode()}"


Fault = Callable[[httpx.Request], httpx.Response]


def boom(request: httpx.Request) -> httpx.Response:
    raise Boom(f"failed deep in the transport for {request.url.path}")


def connect_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"[Errno 111] Connection refused: {echo(request)}", request=request)


def read_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError(f"connection reset: {echo(request)}", request=request)


def read_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout(f"timed out: {echo(request)}", request=request)


def connect_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectTimeout(f"timed out connecting: {echo(request)}", request=request)


def protocol_error(request: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError(f"peer closed: {echo(request)}", request=request)


def decoding_error(request: httpx.Request) -> httpx.Response:
    raise httpx.DecodingError(f"bad gzip: {echo(request)}", request=request)


@dataclass(frozen=True)
class Call:
    """One client call that sends secrets, and the secrets it sends."""

    name: str
    run: Callable[[httpx.BaseTransport], object]
    sent: tuple[str, ...]


def _tokens(transport: httpx.BaseTransport) -> TokenClient:
    return TokenClient(APP_KEY, Secret(APP_SECRET), Transport(BASE, httpx_transport=transport, retry=NO_RETRY))


def _open_api(transport: httpx.BaseTransport) -> OpenApiClient:
    return OpenApiClient(
        APP_KEY, Secret(APP_SECRET), Secret(ACCESS_TOKEN), Transport(BASE, httpx_transport=transport, retry=NO_RETRY)
    )


def _api2cart(transport: httpx.BaseTransport) -> Api2CartClient:
    return Api2CartClient(Secret(API_KEY), Transport(BASE, httpx_transport=transport, retry=NO_RETRY))


CALLS = [
    Call("token exchange", lambda t: _tokens(t).exchange(Secret(AUTH_CODE)), (APP_SECRET, AUTH_CODE)),
    Call("token refresh", lambda t: _tokens(t).refresh(Secret(REFRESH_TOKEN)), (APP_SECRET, REFRESH_TOKEN)),
    Call("authorized shops", lambda t: _open_api(t).get_authorized_shops(), (ACCESS_TOKEN,)),
    Call(
        "api2cart add",
        lambda t: _api2cart(t).add_tiktok_store(
            app_key=APP_KEY,
            app_secret=Secret(APP_SECRET),
            refresh_token=Secret(REFRESH_TOKEN),
            access_token=Secret(ACCESS_TOKEN),
        ),
        (API_KEY, APP_SECRET, REFRESH_TOKEN, ACCESS_TOKEN),
    ),
    Call(
        "api2cart update",
        lambda t: _api2cart(t).update_tiktok_store(
            Secret(STORE_KEY), app_key=APP_KEY, app_secret=Secret(APP_SECRET), refresh_token=Secret(REFRESH_TOKEN)
        ),
        (API_KEY, STORE_KEY, APP_SECRET, REFRESH_TOKEN),
    ),
    Call("api2cart list", lambda t: _api2cart(t).list_stores(), (API_KEY,)),
    Call("api2cart validate", lambda t: _api2cart(t).validate_store(Secret(STORE_KEY)), (API_KEY, STORE_KEY)),
]


def _failing(call: Call, fault: Fault) -> BaseException:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return fault(request)

    with pytest.raises(BaseException) as caught:  # noqa: PT011 - each fault raises its own type
        call.run(httpx.MockTransport(handler))
    assert seen, "the failure must happen while the request is being sent"
    sent = echo(seen[0])
    for secret in call.sent:
        assert secret in sent, f"the test's request should carry {secret}"  # so the checks below mean something
    return caught.value


# --- where a secret can hide in a frame's locals ---------------------------------------------------


def _plain_texts(value: object, depth: int = 0) -> Iterator[str]:
    """Every plain text inside ``value``: strings and bytes, in mappings, sequences, sets and httpx's
    query and header collections. A :class:`Secret` holds its value out of reach: skipped."""
    if depth > 6 or isinstance(value, Secret):
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, (bytes, bytearray)):
        yield bytes(value).decode("utf-8", "replace")
    elif isinstance(value, (httpx.QueryParams, httpx.Headers)):
        yield str(value.multi_items())
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _plain_texts(key, depth + 1)
            yield from _plain_texts(item, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _plain_texts(item, depth + 1)


def _frames(tb: TracebackType | None) -> list[FrameType]:
    """The frames of a traceback, but this test's own (which hold the secrets to look for)."""
    return [frame for frame, _ in traceback.walk_tb(tb) if frame.f_globals.get("__name__") != __name__]


def _is_package(frame: FrameType) -> bool:
    return frame.f_globals.get("__name__", "").startswith("tiktok_helpers")


def assert_no_secret_in_locals(frames: list[FrameType], secrets: tuple[str, ...]) -> None:
    """No plain-str local of any frame equals a secret; no local of the package's frames holds one
    in plain text anywhere inside it (a dict of query values, a header mapping, a body)."""
    assert frames
    for frame in frames:
        where = f"{frame.f_code.co_filename}:{frame.f_code.co_name}"
        for name, value in frame.f_locals.items():
            if isinstance(value, str):
                assert value not in secrets, f"{where}: local {name!r} is a secret in plain text"
            if _is_package(frame):
                for text in _plain_texts(value):
                    for secret in secrets:
                        assert secret not in text, f"{where}: local {name!r} holds a secret in plain text"


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and every one reachable through ``__cause__`` and ``__context__``."""
    found: list[BaseException] = []
    stack: list[BaseException | None] = [exc]
    while stack:
        item = stack.pop()
        if item is None or any(item is f for f in found):
            continue
        found.append(item)
        stack += [item.__cause__, item.__context__]
    return found


def assert_no_secret_in_chain(exc: BaseException, secrets: tuple[str, ...]) -> None:
    formatted = "".join(traceback.format_exception(exc))
    for item in _chain(exc):
        formatted += "".join(traceback.format_exception(item, chain=False))
        texts = [str(item), repr(item.args), *getattr(item, "__notes__", []), repr(vars(item))]
        for secret in secrets:
            assert not any(secret in text for text in texts), f"{type(item).__name__} in the chain holds a secret"
        assert_no_secret_in_locals(_frames(item.__traceback__), secrets)
    for secret in secrets:
        assert secret not in formatted


# --- the tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.name)
def test_a_failure_deep_in_a_call_finds_no_secret_in_plain_text_in_any_frame(call: Call) -> None:
    exc = _failing(call, boom)
    assert isinstance(exc, Boom)
    frames = _frames(exc.__traceback__)
    names = [f.f_code.co_name for f in frames]
    assert "_send" in names and "handle_request" in names, names  # from the client down to the transport
    assert_no_secret_in_locals(frames, SECRETS)


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.name)
@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (connect_error, ServiceUnreachable),
        (read_error, ServiceUnreachable),
        (protocol_error, ServiceUnreachable),
        (read_timeout, RequestTimeout),
        (connect_timeout, RequestTimeout),
        (decoding_error, ServiceError),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_a_package_error_keeps_no_httpx_error_and_no_secret_in_its_chain(
    call: Call, fault: Fault, expected: type[ServiceError]
) -> None:
    exc = _failing(call, fault)
    assert isinstance(exc, expected)
    # Not merely suppressed (``from None`` only hides it from the printout): not there at all.
    assert exc.__context__ is None and exc.__cause__ is None
    assert not any(isinstance(item, httpx.HTTPError) for item in _chain(exc))
    assert_no_secret_in_chain(exc, SECRETS)


@pytest.mark.parametrize("call", CALLS[:1] + CALLS[3:4], ids=lambda c: c.name)
def test_a_value_http_cannot_carry_is_refused_without_the_value_in_the_chain(call: Call) -> None:
    """A header or URL httpx cannot build (a masked '…' key) fails before sending: the error holds no
    UnicodeEncodeError, whose ``.object`` is the whole value being encoded."""

    class Masked(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            raise AssertionError("nothing may be sent")

    def run() -> None:
        if call.name == "token exchange":
            TokenClient(
                APP_KEY, Secret(APP_SECRET), Transport(BASE, httpx_transport=Masked(), retry=NO_RETRY)
            ).exchange(
                Secret(AUTH_CODE + "…" + "x" * 70000)  # too long for a URL: httpx refuses to build it
            )
        else:
            Api2CartClient(
                Secret(API_KEY + "…"), Transport(BASE, httpx_transport=Masked(), retry=NO_RETRY)
            ).list_stores()

    with pytest.raises(TikTokHelperError) as caught:
        run()
    assert caught.value.__context__ is None
    assert_no_secret_in_chain(caught.value, SECRETS)


def test_the_http_layer_builds_the_request_from_secrets() -> None:
    """What is sent is the revealed values: keeping them Secret changes nothing on the wire."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": 0, "return_code": 0, "result": {}})

    class Probe(ServiceClient):
        service = "probe"

    with Probe(Transport("https://probe.example", httpx_transport=httpx.MockTransport(handler))) as probe:
        probe._send(
            "POST",
            "/p",
            params={"app_secret": Secret(APP_SECRET), "plain": "x"},
            headers={"x-api-key": Secret(API_KEY)},
            json_body={"nested": {"token": Secret(REFRESH_TOKEN)}, "list": [1, "a"]},
        )
    request = seen[0]
    assert request.url.params["app_secret"] == APP_SECRET and request.url.params["plain"] == "x"
    assert request.headers["x-api-key"] == API_KEY
    assert request.content == b'{"nested": {"token": "' + REFRESH_TOKEN.encode() + b'"}, "list": [1, "a"]}'
