"""API2Cart: add the TikTok Shop store, replace its credentials, list stores, validate one, read
platform requirements.

API2Cart answers ``{"return_code": 0, "return_message": "", "result": {...}}``; a non-zero
``return_code`` is an error, whatever the HTTP status (the published codes and what each means
are in :mod:`tiktok_helpers.catalog`). The account key goes in the ``x-api-key`` header, a
store's key in ``x-store-key``. A TikTok Shop store needs the App Key, App Secret and Refresh
Token (no region field exists).

Retries: :mod:`tiktok_helpers.retry` decides them all, within one attempt budget per call. A read
(list, validate, platforms: GET) is repeated with backoff on a timeout, a dropped connection,
HTTP 429/5xx, or a ``return_code`` the catalog marks transient (1, 7, 9, 10, 110: "try again
later"). Adding a store (``account.cart.add``) and replacing its credentials
(``account.config.update``) are not safe to repeat: they are tried again only when the connection
was never made, never once the request may have reached API2Cart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .errors import Api2CartError, InvalidResponse, ServiceError
from .http import Envelope, ServiceClient, Transport
from .regions import DEFAULT_ENDPOINTS, Region
from .secret import Secret

__all__ = ["TIKTOK_CART_ID", "Api2CartClient", "Api2CartStore", "PlatformFields"]

TIKTOK_CART_ID: Final = "TikTokShop"


@dataclass(frozen=True)
class Api2CartStore:
    """One store of the account, from ``account.cart.list``. ``store_key`` prints masked."""

    id: str
    url: str
    store_key: Secret
    cart_id: str
    custom_label: str

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Api2CartStore:
        return cls(
            id=str(data.get("id") or ""),
            url=str(data.get("url") or ""),
            store_key=Secret(str(data.get("store_key") or "")),
            cart_id=str(data.get("cart_id") or ""),
            custom_label=str(data.get("custom_label") or ""),
        )


@dataclass(frozen=True)
class PlatformFields:
    """What ``account.cart.add`` needs for one platform.

    ``required`` is a list of alternatives, each a tuple of field names that together suffice;
    ``additional`` are optional fields.
    """

    cart_id: str
    name: str
    required: tuple[tuple[str, ...], ...]
    additional: tuple[str, ...]


def _names(items: object) -> tuple[str, ...]:
    if not isinstance(items, list):
        return ()
    return tuple(str(i.get("name")) if isinstance(i, Mapping) else str(i) for i in items)


class Api2CartClient(ServiceClient):
    """Client for the API2Cart account calls the runbook needs.

    ``transport`` defaults to API2Cart's API base (:data:`~tiktok_helpers.regions.DEFAULT_ENDPOINTS`).
    """

    service = "API2Cart"
    envelope = Envelope(Api2CartError, code_field="return_code", message_field="return_message")

    def __init__(self, api_key: Secret | str, transport: Transport | None = None) -> None:
        super().__init__(transport or Transport(DEFAULT_ENDPOINTS[Region.GLOBAL].api2cart_base))
        self.api_key = Secret(api_key)

    def __repr__(self) -> str:
        return f"Api2CartClient(api_key={self.api_key!r}, base_url={self.base_url!r})"

    def _secrets(self) -> Iterable[Secret | str | None]:
        return (self.api_key,)

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | Secret] | None = None,
        store_key: Secret | None = None,
        extra_secrets: Iterable[Secret | str | None] = (),
    ) -> dict[str, Any]:
        # Keys and body values stay Secret: the HTTP layer reveals them only while building the request.
        headers: dict[str, str | Secret] = {"x-api-key": self.api_key, "accept": "application/json"}
        if store_key is not None:
            headers["x-store-key"] = store_key
        if body is not None:
            headers["content-type"] = "application/json"
        # A GET only reads: safe to repeat. account.cart.add (POST) and account.config.update (PUT)
        # are not: once they may have reached API2Cart they are never sent again.
        checked = self._send(
            method,
            path,
            headers=headers,
            params=params,
            json_body=body,
            extra_secrets=(*extra_secrets, store_key),
            safe=method.upper() == "GET",
        )
        result = checked.get("result")
        if result is None:
            return {}
        if not isinstance(result, dict):
            with self._reading(path):
                raise InvalidResponse(f"{self.service} sent a 'result' that is not an object")
        return result

    @staticmethod
    def _tiktok_fields(
        app_key: str, app_secret: Secret | str, refresh_token: Secret | str, access_token: Secret | str | None
    ) -> tuple[dict[str, str | Secret], list[Secret]]:
        """The ``tiktokshop_*`` fields (secrets kept :class:`Secret`: the HTTP layer reveals them
        while encoding the body or the query), and the secrets in them (to scrub from errors)."""
        secret, refresh = Secret(app_secret), Secret(refresh_token)
        body: dict[str, str | Secret] = {
            "tiktokshop_app_key": app_key,
            "tiktokshop_app_secret": secret,
            "tiktokshop_refresh_token": refresh,
        }
        sent: list[Secret] = [secret, refresh]
        if access_token:
            access = Secret(access_token)
            body["tiktokshop_access_token"] = access
            sent.append(access)
        return body, sent

    def add_tiktok_store(
        self,
        *,
        app_key: str,
        app_secret: Secret | str,
        refresh_token: Secret | str,
        access_token: Secret | str | None = None,
        store_url: str | None = None,
        custom_label: str | None = None,
        verify: bool | None = None,
    ) -> Secret:
        """Add the TikTok Shop store (``account.cart.add``); return its store key.

        Never sent again once it may have reached API2Cart. A store whose credentials the account
        already has is refused with ``return_code`` 8 ("store already exists"): give it new
        credentials with :meth:`update_tiktok_store` instead.
        """
        fields, sent = self._tiktok_fields(app_key, app_secret, refresh_token, access_token)
        body: dict[str, Any] = {"cart_id": TIKTOK_CART_ID, **fields}
        if store_url:
            body["store_url"] = store_url
        if custom_label:
            body["custom_label"] = custom_label
        if verify is not None:
            body["verify"] = verify
        path = "/account.cart.add.json"
        result = self._call("POST", path, body=body, extra_secrets=sent)
        store_key = result.get("store_key")
        if not isinstance(store_key, str) or not store_key:
            with self._reading(path):
                raise InvalidResponse("API2Cart added the store but sent no store_key")
        return Secret(store_key)

    def update_tiktok_store(
        self,
        store_key: Secret | str,
        *,
        app_key: str,
        app_secret: Secret | str,
        refresh_token: Secret | str,
        access_token: Secret | str | None = None,
    ) -> int | None:
        """Give a TikTok Shop store already in API2Cart new credentials (``PUT account.config.update``
        with ``x-store-key``): the hand-over of the refresh token a refresh made here returned.
        Returns the ``updated_items`` API2Cart reports (None when it says nothing).

        Sent as API2Cart's OpenAPI description declares this method (api2cart/php-sdk,
        ``docs/Api/AccountApi.md``, ``accountConfigUpdate``): every parameter in the QUERY STRING and
        no request body, with ``x-api-key`` and ``x-store-key``. ``replace_parameters=true`` ("Identifies
        if there is a necessity to replace parameters"; nothing more is published) is sent because
        every TikTok field is sent: whether it means "replace these" or "replace all", the store ends
        up holding exactly these credentials. Never sent again once it may have reached API2Cart.
        The query carries secrets: they stay :class:`Secret` until the request is built and are
        masked in every error.
        """
        fields, sent = self._tiktok_fields(app_key, app_secret, refresh_token, access_token)
        params: dict[str, str | Secret] = {**fields, "replace_parameters": "true"}
        path = "/account.config.update.json"
        result = self._call("PUT", path, params=params, store_key=Secret(store_key), extra_secrets=sent)
        updated = result.get("updated_items")
        if updated is None:
            return None
        if isinstance(updated, bool) or not isinstance(updated, int):
            with self._reading(path):
                raise InvalidResponse("API2Cart's 'updated_items' is not a whole number")
        return updated

    def list_stores(self) -> list[Api2CartStore]:
        """The account's stores (``account.cart.list``)."""
        path = "/account.cart.list.json"
        result = self._call("GET", path)
        carts = result.get("carts") or []
        if not isinstance(carts, list):
            with self._reading(path):
                raise InvalidResponse("API2Cart's 'carts' is not a list")
        return [Api2CartStore.from_data(c) for c in carts if isinstance(c, Mapping)]

    def validate_store(self, store_key: Secret | str) -> str:
        """Ask API2Cart to check a store's connection (``cart.validate``: it "clears the cache in
        API2Cart ... and checks whether the connection to the store is available"). ``return_code`` 0
        is the answer that counts; the ``status`` string of the result (api2cart/php-sdk,
        ``docs/Model/CartValidate200ResponseResult.md``; its values are not published) is returned as
        sent, "" when absent. A refusal raises, with the return code's meaning and fix."""
        result = self._call("GET", "/cart.validate.json", store_key=Secret(store_key))
        status = result.get("status")
        return status if isinstance(status, str) else ""

    def supported_platforms(self) -> list[PlatformFields]:
        """Every platform API2Cart supports, with the fields each needs."""
        result = self._call("GET", "/account.supported_platforms.json")
        platforms = result.get("supported_platforms") or []
        out: list[PlatformFields] = []
        for item in platforms if isinstance(platforms, list) else []:
            if not isinstance(item, Mapping):
                continue
            raw_params = item.get("params")
            params: Mapping[str, Any] = raw_params if isinstance(raw_params, Mapping) else {}
            required = params.get("required") or []
            groups = tuple(_names(g) if isinstance(g, list) else _names([g]) for g in required)
            out.append(
                PlatformFields(
                    cart_id=str(item.get("cart_id") or ""),
                    name=str(item.get("cart_name") or ""),
                    required=groups,
                    additional=_names(params.get("additional")),
                )
            )
        return out

    def required_fields(self, cart_id: str = TIKTOK_CART_ID) -> PlatformFields:
        """The fields ``account.cart.add`` needs for ``cart_id`` (TikTok Shop by default)."""
        for platform in self.supported_platforms():
            if platform.cart_id == cart_id:
                return platform
        path = "/account.supported_platforms.json"
        raise ServiceError(
            f"{cart_id} is not among the platforms API2Cart's account.supported_platforms lists",
            service=self.service,
            url=f"{self.base_url}{path}",
            code="api2cart.platform_missing",
        )
