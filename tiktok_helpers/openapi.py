"""Signed calls to the TikTok Shop Open API (202309 and later), and Get Authorized Shops.

Every request carries ``app_key``, ``timestamp`` (Unix seconds; TikTok accepts 5 minutes behind
to 30 seconds ahead of its clock) and ``sign`` in the query, and the access token in the
``x-tts-access-token`` header. The signature covers exactly the bytes sent: the percent-encoded
path, every query pair (values that are not strings serialized as httpx sends them, lists as
repeated keys: :mod:`~tiktok_helpers.signing`) and the body.

Errors are read from the JSON body whatever the HTTP status (live replies quoted in public
client code send 106001 with HTTP 401 and 36009004 for an unknown app_key with HTTP 400; TikTok
Shop Partner Center's rate-limits and common-errors pages pair 36009002 with HTTP 429), so they
arrive as the right :class:`~tiktok_helpers.errors.OpenApiError` with TikTok's ``message``:
36009004 has several causes, and the message says which
(:class:`~tiktok_helpers.errors.InvalidCredentials`).

Get Authorized Shops (``GET /authorization/202309/shops``) is the proof that a token works: it
needs no shop cipher and returns the shops, each with the cipher every shop-level call needs.
A GET only reads, so it is safe to repeat: :mod:`tiktok_helpers.http` tries it again on a timeout,
a dropped connection or HTTP 429/5xx (36009002, rate limited, comes with HTTP 429: TikTok Shop
Partner Center, "Rate limits"), within one attempt budget (:mod:`tiktok_helpers.retry`); a TikTok
body code alone is never retried; any other method only when the connection was never made.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx

from .errors import InvalidResponse, OpenApiError
from .http import Envelope, ServiceClient, Transport
from .regions import DEFAULT_ENDPOINTS, Region
from .secret import Secret
from .signing import QueryValue, query_pairs, sign, wire_path
from .tokens import storable

__all__ = ["AUTHORIZED_SHOPS_PATH", "OpenApiClient", "Query", "Shop"]

AUTHORIZED_SHOPS_PATH: Final = "/authorization/202309/shops"

#: A call's query: each value a string, bool, number or None, or a list of them (repeated keys).
Query = Mapping[str, QueryValue | Sequence[QueryValue]] | Iterable[tuple[str, QueryValue]]
#: Parameters the client sets itself on every call.
_CLIENT_PARAMS: Final = frozenset({"app_key", "timestamp", "sign"})


@dataclass(frozen=True)
class Shop:
    """One authorized shop. ``cipher`` identifies the shop in shop-level calls."""

    id: str
    name: str
    region: str
    seller_type: str
    cipher: str
    code: str

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Shop:
        if not isinstance(data, Mapping) or not data.get("id"):
            raise InvalidResponse("a shop in the Get Authorized Shops reply has no id")
        return cls(  # a lone surrogate in any of them becomes U+FFFD: saving the shops never fails
            id=storable(data.get("id", "")),
            name=storable(data.get("name", "")),
            region=storable(data.get("region", "")),
            seller_type=storable(data.get("seller_type", "")),
            cipher=storable(data.get("cipher", "")),
            code=storable(data.get("code", "")),
        )


class OpenApiClient(ServiceClient):
    """Client for signed Open API calls on behalf of one authorized seller.

    ``transport`` defaults to the Open API's one production host
    (:data:`~tiktok_helpers.regions.DEFAULT_ENDPOINTS`).
    """

    service = "TikTok Open API"
    envelope = Envelope(OpenApiError)

    def __init__(
        self,
        app_key: str,
        app_secret: Secret | str,
        access_token: Secret | str,
        transport: Transport | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(transport or Transport(DEFAULT_ENDPOINTS[Region.GLOBAL].open_api_base))
        self.app_key = app_key
        self.app_secret = Secret(app_secret)
        self.access_token = Secret(access_token)
        self._clock = clock

    def __repr__(self) -> str:
        return (
            f"OpenApiClient(app_key={self.app_key!r}, access_token={self.access_token!r}, base_url={self.base_url!r})"
        )

    def _secrets(self) -> Iterable[Secret | str | None]:
        return (self.app_secret, self.access_token)

    def signed_params(self, path: str, query: Query | None = None, body: bytes = b"") -> httpx.QueryParams:
        """The query to send for ``path``: the caller's parameters plus app_key, timestamp, sign.

        ``path`` must be the path as sent (:func:`~tiktok_helpers.signing.wire_path`). Values that
        are not strings are serialized as httpx sends them, lists as repeated keys; other types are
        refused with :class:`TypeError` (see :mod:`tiktok_helpers.signing`). The caller's own
        ``app_key``, ``timestamp`` and ``sign`` are replaced.
        """
        pairs: list[tuple[str, QueryValue]] = [(k, v) for k, v in query_pairs(query or {}) if k not in _CLIENT_PARAMS]
        pairs += [("app_key", self.app_key), ("timestamp", str(int(self._clock())))]
        pairs.append(("sign", sign(path, pairs, self.app_secret.reveal(), body)))
        return httpx.QueryParams(pairs)

    def call(self, method: str, path: str, *, query: Query | None = None, body: object = None) -> dict[str, Any]:
        """Send a signed request and return the reply's ``data`` object.

        An error reply raises the :class:`~tiktok_helpers.errors.OpenApiError` subclass for its
        ``code``, with TikTok's ``message`` kept, whatever the HTTP status: TikTok's error replies
        carry ``code``, ``message`` and ``request_id`` in a JSON body also with HTTP 401, 400 or 429
        (live replies quoted in public client code; Partner Center's common-errors page), and the
        body is read first (:meth:`ServiceClient._checked`); only a reply without a code becomes
        :class:`~tiktok_helpers.errors.HTTPStatusError`. A GET is safe to repeat
        (:meth:`~tiktok_helpers.retry.RetryPolicy.should_retry`).
        """
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        path = wire_path(path)  # sign the path exactly as httpx will send it
        checked = self._send(
            method,
            path,
            params=self.signed_params(path, query, content),
            headers={"x-tts-access-token": self.access_token, "content-type": "application/json"},
            content=content or None,
            safe=method.upper() == "GET",
        )
        data = checked.get("data")
        if data is None:
            return {}
        if not isinstance(data, dict):
            with self._reading(path):
                raise InvalidResponse(f"{self.service} sent 'data' that is not an object")
        return data

    def get_authorized_shops(self) -> list[Shop]:
        """The shops this token may act on, each with its cipher."""
        data = self.call("GET", AUTHORIZED_SHOPS_PATH)
        with self._reading(AUTHORIZED_SHOPS_PATH):
            shops = data.get("shops") or []
            if not isinstance(shops, list):
                raise InvalidResponse("the Get Authorized Shops reply's 'shops' is not a list")
            return [Shop.from_data(item) for item in shops]
