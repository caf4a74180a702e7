"""Signed calls to the TikTok Shop Open API (202309 and later), and Get Authorized Shops.

Every request carries ``app_key``, ``timestamp`` (Unix seconds; TikTok accepts 5 minutes behind
to 30 seconds ahead of its clock) and ``sign`` in the query, and the access token in the
``x-tts-access-token`` header. The signature covers exactly the bytes sent.

Get Authorized Shops (``GET /authorization/202309/shops``) is the proof that a token works: it
needs no shop cipher and returns the shops, each with the cipher every shop-level call needs.
It is read-only, so retrying it is safe; nothing here retries on its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from .errors import InvalidResponse, OpenApiError
from .http import DEFAULT_RETRY, DEFAULT_TIMEOUT, RetryPolicy, ServiceClient
from .regions import DEFAULT_ENDPOINTS, Region
from .secret import Secret
from .signing import sign

__all__ = ["AUTHORIZED_SHOPS_PATH", "OpenApiClient", "Shop"]

AUTHORIZED_SHOPS_PATH: Final = "/authorization/202309/shops"


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
        return cls(
            id=str(data.get("id", "")),
            name=str(data.get("name", "")),
            region=str(data.get("region", "")),
            seller_type=str(data.get("seller_type", "")),
            cipher=str(data.get("cipher", "")),
            code=str(data.get("code", "")),
        )


class OpenApiClient(ServiceClient):
    """Client for signed Open API calls on behalf of one authorized seller."""

    service = "TikTok Open API"

    def __init__(
        self,
        app_key: str,
        app_secret: Secret | str,
        access_token: Secret | str,
        *,
        base_url: str = DEFAULT_ENDPOINTS[Region.GLOBAL].open_api_base,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(base_url, client=client, transport=transport, timeout=timeout, retry=retry, sleep=sleep)
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

    def signed_params(self, path: str, query: Mapping[str, str] | None = None, body: bytes = b"") -> dict[str, str]:
        """The query to send for ``path``: the caller's parameters plus app_key, timestamp, sign."""
        params = {**(query or {}), "app_key": self.app_key, "timestamp": str(int(self._clock()))}
        params["sign"] = sign(path, params, self.app_secret.reveal(), body)
        return params

    def call(
        self, method: str, path: str, *, query: Mapping[str, str] | None = None, body: object = None
    ) -> dict[str, Any]:
        """Send a signed request and return the reply's ``data`` object."""
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        reply = self._send(
            method,
            path,
            params=self.signed_params(path, query, content),
            headers={"x-tts-access-token": self.access_token.reveal(), "content-type": "application/json"},
            content=content or None,
            idempotent=method.upper() == "GET",
        )
        checked = self._checked(reply, path, error_base=OpenApiError)
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
