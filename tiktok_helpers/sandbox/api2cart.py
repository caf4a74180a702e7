"""The simulated API2Cart account: adding, listing and validating TikTok Shop stores.

:class:`SimulatedApi2Cart` holds the rules; it checks TikTok credentials against the simulated
TikTok (:class:`~.tiktok.SimulatedTikTok`) in process. The HTTP layer (:mod:`.api2cart_routes`)
renders what it returns or raises (:class:`~.model.Api2CartErrorReply`).

API2Cart (return codes are the sandbox's own choice; errors come back with HTTP 200)
----------------------------------------------------------------------------------
* ``2 Incorrect API Key`` (missing or wrong ``x-api-key`` / ``api_key``),
  ``3`` unsupported ``cart_id`` (the sandbox can add only ``TikTokShop`` stores, although
  ``account.supported_platforms.json`` lists a few other carts), ``4`` request body is not a JSON
  object or a field is not a string, ``5 Required parameter ... is missing``,
  ``9 Incorrect store key``, ``10 TikTok Shop: <TikTok message> (<TikTok code>)`` when the
  TikTok credentials do not work.
* ``account.cart.add.json`` VALIDATES the TikTok credentials against the simulated TikTok in
  process, WITHOUT refreshing: the app key/secret must match the app and the refresh token must
  be known, belong to that app and be unexpired (an optional ``tiktokshop_access_token`` must be
  a current access token of the same grant; an expired one is accepted, API2Cart would refresh
  it). Not rotating keeps the runbook's saved refresh token valid. ``verify`` is accepted but
  the sandbox always verifies. Adding a store whose URL the account already has updates its
  credentials and returns the same ``store_key``.
* ``cart.validate.json`` checks the stored TikTok credentials again, so a store whose refresh
  token was rotated away by a later refresh answers ``10`` (the real-world "two holders of one
  refresh token" problem).
* Without ``store_url`` a store gets ``https://shop.tiktok.example/<shop code>``.
"""

from __future__ import annotations

import copy
import hmac
import uuid
from typing import Any, Final

from .model import USER_TYPES, Api2CartAccount, Api2CartErrorReply, Grant, StoredCart, TikTokErrorReply
from .sample_data import SUPPORTED_PLATFORMS
from .store import StateStore
from .tiktok import SimulatedTikTok

__all__ = ["STORE_URL_BASE", "TIKTOK_CART_ID", "SimulatedApi2Cart"]

TIKTOK_CART_ID: Final = "TikTokShop"
STORE_URL_BASE: Final = "https://shop.tiktok.example/"


class SimulatedApi2Cart:
    """API2Cart's account endpoints over the data in ``store``, checking credentials with ``tiktok``."""

    def __init__(self, store: StateStore, tiktok: SimulatedTikTok) -> None:
        self.store = store
        self.tiktok = tiktok

    def _account(self, api_key: str | None) -> Api2CartAccount:
        account = self.store.accounts.get(api_key or "")
        if account is None:
            raise Api2CartErrorReply(2, "Incorrect API Key")
        return account

    def _check_tiktok(self, app_key: str, app_secret: str, refresh_token: str, access_token: str | None) -> Grant:
        try:
            grant = self.tiktok.check_refresh_token(app_key, app_secret, refresh_token)
            current = grant.access_token.encode()
            if access_token is not None and not hmac.compare_digest(current, access_token.encode()):
                raise TikTokErrorReply(105001, "access token is invalid")
        except TikTokErrorReply as err:
            raise Api2CartErrorReply(10, f"TikTok Shop: {err.message} ({err.code})") from None
        return grant

    def add_cart(self, api_key: str | None, body: object) -> dict[str, Any]:
        """``POST account.cart.add.json``; returns the ``result`` object."""
        account = self._account(api_key)
        if not isinstance(body, dict):
            raise Api2CartErrorReply(4, "Request body must be a JSON object")
        for name, value in body.items():
            if name != "verify" and value is not None and not isinstance(value, str):
                raise Api2CartErrorReply(4, f"Parameter {name} must be a string")
        fields: dict[str, str] = {k: v for k, v in body.items() if isinstance(v, str)}
        if not fields.get("cart_id"):
            raise Api2CartErrorReply(5, "Required parameter cart_id is missing")
        if fields["cart_id"] != TIKTOK_CART_ID:
            raise Api2CartErrorReply(
                3, f"Platform {fields['cart_id']!r} is not supported by the sandbox (only TikTokShop)"
            )
        for name in ("tiktokshop_app_key", "tiktokshop_app_secret", "tiktokshop_refresh_token"):
            if not fields.get(name):
                raise Api2CartErrorReply(5, f"Required parameter {name} is missing")
        store = self.store
        with store.mutation():
            grant = self._check_tiktok(
                fields["tiktokshop_app_key"],
                fields["tiktokshop_app_secret"],
                fields["tiktokshop_refresh_token"],
                fields.get("tiktokshop_access_token") or None,
            )
            url = fields.get("store_url") or self._default_store_url(grant)
            existing = store.cart_by_url(account.api_key, url)
            cart = StoredCart(
                id=existing.id if existing is not None else "",
                store_key=existing.store_key if existing is not None else uuid.uuid4().hex,
                cart_id=TIKTOK_CART_ID,
                url=url,
                custom_label=fields.get("custom_label", existing.custom_label if existing is not None else ""),
                app_key=fields["tiktokshop_app_key"],
                app_secret=fields["tiktokshop_app_secret"],
                refresh_token=fields["tiktokshop_refresh_token"],
                access_token=fields.get("tiktokshop_access_token") or None,
            )
            if existing is not None:
                store.update_cart(cart)
                return {"store_key": cart.store_key}
            return {"store_key": store.add_cart(account.api_key, cart).store_key}

    def _default_store_url(self, grant: Grant) -> str:
        seller = self.store.seller(grant.seller_key)
        shops = seller.shops if seller is not None else ()
        if grant.user_type == USER_TYPES["creator"] or not shops:
            return f"{STORE_URL_BASE}creator-{grant.open_id}"
        return STORE_URL_BASE + shops[0].code

    def list_carts(self, api_key: str | None) -> dict[str, Any]:
        """``GET account.cart.list.json``; returns the ``result`` object."""
        account = self._account(api_key)
        carts = [c.as_json() for c in self.store.carts(account.api_key)]
        return {"carts": carts, "carts_count": len(carts)}

    def validate_cart(self, api_key: str | None, store_key: str | None) -> dict[str, Any]:
        """``GET cart.validate.json``: the store's TikTok credentials must still work."""
        account = self._account(api_key)
        if not store_key:
            raise Api2CartErrorReply(5, "Required parameter store_key is missing (send the x-store-key header)")
        with self.store.reading():
            cart = self.store.cart_by_store_key(account.api_key, store_key)
            if cart is None:
                raise Api2CartErrorReply(9, "Incorrect store key")
            self._check_tiktok(cart.app_key, cart.app_secret, cart.refresh_token, None)
            return {"store_key": cart.store_key, "cart_id": cart.cart_id, "url": cart.url}

    def supported_platforms(self, api_key: str | None) -> dict[str, Any]:
        """``GET account.supported_platforms.json``; returns the ``result`` object."""
        self._account(api_key)
        return {"supported_platforms": copy.deepcopy(list(SUPPORTED_PLATFORMS))}
