"""One retry decision, one attempt budget (tiktok_helpers/retry.py, used by tiktok_helpers/http.py).

:meth:`RetryPolicy.should_retry` alone decides whether an attempt is repeated, whatever went wrong
(a connection never made, a timeout, a dropped connection, HTTP 429/5xx, a transient error code),
and a call makes at most :attr:`RetryPolicy.attempts` attempts in all, whatever mix of causes it
meets. A request that is not safe to repeat (POST, PUT, the token calls) is never sent again once
it may have reached the service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
import respx

from tiktok_helpers.api2cart import Api2CartClient
from tiktok_helpers.errors import (
    Api2CartError,
    FieldProblem,
    HTTPStatusError,
    InvalidResponse,
    OpenApiError,
    RequestTimeout,
    ServiceError,
    ServiceUnreachable,
    TikTokHelperError,
    TokenError,
    ValidationError,
)
from tiktok_helpers.http import Transport
from tiktok_helpers.openapi import OpenApiClient
from tiktok_helpers.retry import DEFAULT_RETRY, NO_RETRY, RETRY_STATUSES, Outcome, RetryPolicy
from tiktok_helpers.tokens import TokenClient

OPEN = "https://open-api.tiktokglobalshop.com"
A2C = "https://api.api2cart.com/v1.1"
AUTH = "https://auth.tiktok-shops.com"
SHOPS = "/authorization/202309/shops"

Effect = Callable[[httpx.Request], httpx.Response]


def _raise(kind: type[httpx.TransportError], text: str) -> Effect:
    def effect(request: httpx.Request) -> httpx.Response:
        raise kind(text, request=request)

    return effect


def _status(status: int, body: dict[str, object] | None = None) -> Effect:
    def effect(request: httpx.Request) -> httpx.Response:
        if body is None:
            return httpx.Response(status, text="<html>busy</html>", headers={"retry-after": "0"})
        return httpx.Response(status, json=body)

    return effect


#: Faults after which nothing reached the service: any request may be tried again.
NEVER_SENT: dict[str, Effect] = {
    "connect-error": _raise(httpx.ConnectError, "connection refused"),
    "connect-timeout": _raise(httpx.ConnectTimeout, "timed out connecting"),
}

#: Faults after which the request may have reached the service: only a read is tried again.
SENT: dict[str, Effect] = {
    "read-timeout": _raise(httpx.ReadTimeout, "timed out reading"),
    "dropped": _raise(httpx.RemoteProtocolError, "peer closed connection without sending complete message body"),
    **{f"http-{status}": _status(status) for status in sorted(RETRY_STATUSES)},
}

#: Each service's transient codes, as the catalog marks them, in the service's own envelope.
TRANSIENT_CODES: dict[str, dict[str, Effect]] = {
    "open api": {},  # TikTok's 36009002/36009003 in a body are shown, not repeated (HTTP 429 is, by status)
    "api2cart": {
        f"return-code-{code}": _status(200, {"return_code": code, "return_message": "later"})
        for code in (1, 7, 9, 10, 110)
    },
    "tokens": {},
}

#: A success in either envelope (a token call finds no tokens in it, and fails, after a repeat).
SUCCESS = _status(200, {"code": 0, "return_code": 0, "data": {"shops": []}, "result": {"carts": [], "store_key": "k"}})


def _in_turn(*effects: Effect) -> Effect:
    """One side effect that plays ``effects`` one per request, then answers :data:`SUCCESS`."""
    queue = list(effects)

    def effect(request: httpx.Request) -> httpx.Response:
        return queue.pop(0)(request) if queue else SUCCESS(request)

    return effect


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


def _transport(base: str, sleeps: list[float], attempts: int = DEFAULT_RETRY.attempts) -> Transport:
    return Transport(base, retry=RetryPolicy(attempts=attempts, backoff=0.01), sleep=sleeps.append)


def _every_fault(service: str) -> list[tuple[str, Effect]]:
    return [*NEVER_SENT.items(), *SENT.items(), *TRANSIENT_CODES[service].items()]


# --- a read: every transient fault, one budget ---------------------------------------------------


def _read(
    service: str, router: respx.MockRouter, sleeps: list[float], attempts: int
) -> tuple[respx.Route, Callable[[], object]]:
    if service == "open api":
        route = router.get(url__startswith=f"{OPEN}{SHOPS}")
        client = OpenApiClient(
            "6abc1234defgh", "openApiSecretValue4321", "TTP_access", _transport(OPEN, sleeps, attempts)
        )
        return route, client.get_authorized_shops
    route = router.get(f"{A2C}/account.cart.list.json")
    a2c = Api2CartClient("a2cApiKeyValue0000111122223333", _transport(A2C, sleeps, attempts))
    return route, a2c.list_stores


@pytest.mark.parametrize("service", ["open api", "api2cart"])
def test_a_read_meets_every_transient_fault_in_turn_within_one_budget(
    router: respx.MockRouter, sleeps: list[float], service: str
) -> None:
    """One call, every kind of transient fault one after the other: each is retried, and the call
    stops at the budget, not at a budget per kind of fault (no nested loops)."""
    faults = _every_fault(service)
    route, call = _read(service, router, sleeps, attempts=len(faults))
    route.mock(side_effect=_in_turn(*(effect for _, effect in faults)))
    with pytest.raises(ServiceError):
        call()
    assert route.call_count == len(faults)
    assert len(sleeps) == len(faults) - 1

    # The same faults, then a success: one attempt more in the budget reaches it.
    router.routes.clear()
    sleeps.clear()
    route, call = _read(service, router, sleeps, attempts=len(faults) + 1)
    route.mock(side_effect=_in_turn(*(effect for _, effect in faults)))
    call()
    assert route.call_count == len(faults) + 1


@pytest.mark.parametrize("service", ["open api", "api2cart"])
@pytest.mark.parametrize("start", range(12))
def test_a_read_is_attempted_at_most_the_budget_in_all(
    router: respx.MockRouter, sleeps: list[float], service: str, start: int
) -> None:
    """The default budget (3 attempts) holds whichever faults come, in whatever order."""
    faults = _every_fault(service)
    turn = [effect for _, effect in faults[start % len(faults) :] + faults[: start % len(faults)]]
    route, call = _read(service, router, sleeps, attempts=DEFAULT_RETRY.attempts)
    route.mock(side_effect=_in_turn(*turn))
    with pytest.raises(ServiceError):
        call()
    assert route.call_count == DEFAULT_RETRY.attempts
    assert len(sleeps) == DEFAULT_RETRY.attempts - 1


# --- writes and the token calls: never repeated once sent ----------------------------------------


def _writes(router: respx.MockRouter, sleeps: list[float]) -> dict[str, tuple[str, respx.Route, Callable[[], object]]]:
    """Each request not safe to repeat: (its service, its route, the call)."""
    opened = OpenApiClient("6abc1234defgh", "openApiSecretValue4321", "TTP_access", _transport(OPEN, sleeps))
    a2c = Api2CartClient("a2cApiKeyValue0000111122223333", _transport(A2C, sleeps))
    tokens = TokenClient("6abc1234defgh", "s3cr3tAppSecretValue9876", _transport(AUTH, sleeps))
    return {
        "api2cart add (POST)": (
            "api2cart",
            router.post(f"{A2C}/account.cart.add.json"),
            lambda: a2c.add_tiktok_store(app_key="6abc1234defgh", app_secret="s3cr3t", refresh_token="TTP_r"),
        ),
        "api2cart update (PUT)": (
            "api2cart",
            router.put(f"{A2C}/account.config.update.json"),
            lambda: a2c.update_tiktok_store("k", app_key="6abc1234defgh", app_secret="s3cr3t", refresh_token="TTP_r"),
        ),
        "open api POST": (
            "open api",
            router.post(url__startswith=f"{OPEN}/product/202309/products"),
            lambda: opened.call("POST", "/product/202309/products", body={"title": "x"}),
        ),
        "token exchange": (
            "tokens",
            router.get(url__startswith=f"{AUTH}/api/v2/token/get"),
            lambda: tokens.exchange("TTP_c"),
        ),
        "token refresh": (
            "tokens",
            router.get(url__startswith=f"{AUTH}/api/v2/token/refresh"),
            lambda: tokens.refresh("TTP_r"),
        ),
    }


WRITES = ["api2cart add (POST)", "api2cart update (PUT)", "open api POST", "token exchange", "token refresh"]


@pytest.mark.parametrize("write", WRITES)
def test_a_write_is_never_sent_again_after_it_may_have_arrived(
    router: respx.MockRouter, sleeps: list[float], write: str
) -> None:
    service, route, call = _writes(router, sleeps)[write]
    for name, effect in [*SENT.items(), *TRANSIENT_CODES[service].items()]:
        route.reset()
        route.mock(side_effect=_in_turn(effect))  # a repeat would succeed
        with pytest.raises(ServiceError):
            call()
        assert route.call_count == 1, name
    assert sleeps == []


@pytest.mark.parametrize("write", WRITES)
def test_a_write_is_tried_again_only_while_nothing_was_sent(
    router: respx.MockRouter, sleeps: list[float], write: str
) -> None:
    """A connection never made is tried again; the first fault after which the request may have
    arrived ends the call, however much budget is left."""
    _, route, call = _writes(router, sleeps)[write]
    route.mock(side_effect=_in_turn(NEVER_SENT["connect-error"], SENT["read-timeout"]))
    with pytest.raises(RequestTimeout):
        call()
    assert route.call_count == 2 and len(sleeps) == 1

    route.reset()
    route.mock(side_effect=_in_turn(*NEVER_SENT.values(), *NEVER_SENT.values()))
    with pytest.raises(ServiceError) as info:
        call()
    assert route.call_count == DEFAULT_RETRY.attempts
    assert f"{DEFAULT_RETRY.attempts} attempts" in str(info.value)


# --- the decision itself -------------------------------------------------------------------------


def _api(base: type[OpenApiError] | type[Api2CartError] | type[TokenError], code: int) -> TikTokHelperError:
    return base(code, "m", service="s", url="u")


UNREACHABLE = ServiceUnreachable("x", service="s", url="u")
TIMEOUT = RequestTimeout("x", service="s", url="u")


@pytest.mark.parametrize(
    ("outcome", "safe", "expected"),
    [
        # never connected: any request
        (Outcome(1, sent=False, error=UNREACHABLE), False, True),
        (Outcome(1, sent=False, error=TIMEOUT), False, True),
        (Outcome(1, sent=False, error=UNREACHABLE), True, True),
        # a request that could not be built would fail the same way
        (Outcome(1, sent=False, error=ValidationError([FieldProblem("f", "m")])), True, False),
        # sent, a read
        (Outcome(1, sent=True, error=TIMEOUT), True, True),
        (Outcome(1, sent=True, error=UNREACHABLE), True, True),
        (Outcome(1, sent=True, status=429, error=HTTPStatusError(429, service="s", url="u")), True, True),
        (Outcome(1, sent=True, status=503, error=HTTPStatusError(503, service="s", url="u")), True, True),
        (Outcome(1, sent=True, status=500, error=HTTPStatusError(500, service="s", url="u")), True, True),
        (Outcome(1, sent=True, status=501, error=HTTPStatusError(501, service="s", url="u")), True, False),
        (Outcome(1, sent=True, status=429, error=_api(OpenApiError, 36009002)), True, True),
        (Outcome(1, sent=True, status=200, error=_api(OpenApiError, 36009003)), True, False),
        (Outcome(1, sent=True, status=200, error=_api(OpenApiError, 36009002)), True, False),
        (Outcome(1, sent=True, status=200, error=_api(OpenApiError, 105002)), True, False),
        (Outcome(1, sent=True, status=401, error=_api(OpenApiError, 106001)), True, False),
        (Outcome(1, sent=True, status=200, error=_api(Api2CartError, 9)), True, True),
        (Outcome(1, sent=True, status=200, error=_api(Api2CartError, 100)), True, False),
        (Outcome(1, sent=True, status=200, error=InvalidResponse("x")), True, False),
        (Outcome(1, sent=True, status=200), True, False),  # success
        # sent, not safe to repeat: never
        (Outcome(1, sent=True, error=TIMEOUT), False, False),
        (Outcome(1, sent=True, status=503, error=HTTPStatusError(503, service="s", url="u")), False, False),
        (Outcome(1, sent=True, status=200, error=_api(Api2CartError, 9)), False, False),
        (Outcome(1, sent=True, status=200, error=_api(OpenApiError, 36009002)), False, False),
        # the budget comes first
        (Outcome(3, sent=False, error=UNREACHABLE), True, False),
        (Outcome(3, sent=True, status=503, error=HTTPStatusError(503, service="s", url="u")), True, False),
    ],
)
def test_the_one_decision(outcome: Outcome, safe: bool, expected: bool) -> None:
    assert DEFAULT_RETRY.should_retry(outcome, safe=safe) is expected


def test_no_retry_is_one_attempt_whatever_the_fault() -> None:
    assert not NO_RETRY.should_retry(Outcome(1, sent=False, error=UNREACHABLE), safe=True)
    assert not RetryPolicy(attempts=0).should_retry(Outcome(1, sent=False, error=UNREACHABLE), safe=True)
