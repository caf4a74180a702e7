"""The simulated API2Cart account: adding, listing, validating TikTok Shop stores and replacing
their credentials.

:class:`SimulatedApi2Cart` holds the rules; it checks TikTok credentials against the simulated
TikTok (:class:`~.tiktok.SimulatedTikTok`) in process. The HTTP layer (:mod:`.api2cart_routes`)
renders what it returns or raises (:class:`~.model.Api2CartErrorReply`).

Documented (API2Cart's published "Response Status Codes", its OpenAPI description as generated
into its SDKs (api2cart/php-sdk ``docs/Api/AccountApi.md``, ``docs/Model/*.md``), its mock server
(api2cart/api2cart-mock-api) and its guide "how to connect TikTok Shop to API2Cart")
-------------------------------------------------------------------------------------------
* Every reply is HTTP 200 with ``return_code``, ``return_message`` and ``result``; an error's
  ``result`` is an empty object ``{}``, as API2Cart's mock server answers errors (e.g.
  ``TikTokShop/order/info/error-not-found.response.json``). The codes the sandbox answers, with
  their published meanings: ``0`` success; ``2`` incorrect API key (a missing or wrong
  ``x-api-key`` / ``api_key``); ``8`` store already exists (adding a store whose credentials are
  already in the account: "Response Status Codes" and the guide); ``100`` store API access error
  (API credentials not valid: the TikTok App Key, App Secret or refresh token do not work);
  ``101`` store not found (an unknown ``x-store-key``); ``109`` incorrect parameters; ``114``
  required parameter is not specified. No other code is answered.
* ``POST account.cart.add.json`` with ``cart_id`` ``TikTokShop`` and ``tiktokshop_app_key``,
  ``tiktokshop_app_secret``, ``tiktokshop_refresh_token`` (optional ``tiktokshop_access_token``,
  ``store_url``, ``custom_label``, ``verify``) returns ``result.store_key``.
* ``GET account.cart.list.json`` (``result.carts[]``: ``id``, ``url``, ``store_key``,
  ``cart_id``, ``custom_label``), ``GET account.supported_platforms.json``. A store added without
  ``store_url`` has ``"url": null``, as API2Cart's mock server shows TikTok Shop stores
  (``TikTokShop/cart/info/basic.response.json``); ``url`` is an optional string in the OpenAPI
  model (``AccountCartList200ResponseResultCartsInner``).
* ``GET cart.validate.json`` with ``x-store-key``: ``result`` ``{"status": <string>}``
  (``CartValidate200ResponseResult``).
* ``PUT account.config.update.json`` (``accountConfigUpdate``) declares EVERY parameter in the
  query string and no request body, with the ``x-api-key`` and ``x-store-key`` headers: among
  others ``tiktokshop_app_key``, ``tiktokshop_app_secret``, ``tiktokshop_refresh_token``,
  ``tiktokshop_access_token`` and ``replace_parameters`` ("Identifies if there is a necessity to
  replace parameters", a boolean). It replaces a store's credentials; ``result`` is
  ``{"updated_items": <integer>}`` (``AccountConfigUpdate200ResponseResult``). The store uses the
  refresh token it HOLDS: once a refresh made elsewhere replaces it (the sandbox's "new" reading,
  :mod:`.tiktok`) the store answers ``100``, until the new one is pushed this way.

The sandbox's own choices
-------------------------
* Messages: the published meaning, naming the parameter where one is at fault (``114 Required
  parameter tiktokshop_refresh_token is not specified``); ``100`` carries TikTok's own words,
  ``TikTok Shop: <TikTok message> (<TikTok code>)``. API2Cart's real wording is not documented.
* ``109`` on ``account.cart.add`` (its fields come in a JSON body) for a body that is not a JSON
  object, a field that is not a string (``verify`` may be anything), and a ``cart_id`` other
  than ``TikTokShop`` (the sandbox adds only TikTok Shop stores, although
  ``account.supported_platforms.json`` lists a few other carts).
* Order of the checks on add: API key (2), body and types (109), required fields (114), then
  ``8`` when a store of the account holds the same ``tiktokshop_app_key`` and
  ``tiktokshop_refresh_token`` (the pair that names one seller's authorization; the app secret is
  the app's, the same for every store), then the TikTok credentials (100). A store added twice is
  never updated quietly. Nothing else makes a duplicate: no rule by URL is documented (API2Cart's
  mock server has TikTok Shop stores without one), so the same seller authorized again and added
  with the new refresh token is a second store.
* Checking credentials VALIDATES them against the simulated TikTok WITHOUT refreshing: the app
  key/secret must match the app and the refresh token must be known, belong to that app and be
  unexpired (an optional ``tiktokshop_access_token`` must be a current access token of the same
  grant; an expired one is accepted, API2Cart would refresh it). Not rotating keeps the runbook's
  saved refresh token valid; the real API2Cart refreshes with the token it holds. ``verify`` is
  accepted but the sandbox always verifies.
* ``account.config.update.json`` reads its parameters from the QUERY only: a request body is
  ignored (a client that sends the fields as JSON gets 114 and nothing changes). Checks, in order:
  API key (2), ``replace_parameters`` (109 unless ``true``, ``false``, ``1`` or ``0``; accepted,
  it changes nothing here: its effect is not documented beyond that sentence), store key (114 when
  missing, 101 when unknown); fields not sent (or empty) keep their stored values (at least one
  ``tiktokshop_*`` field is required, else 114 names ``tiktokshop_refresh_token``); the resulting
  credentials are checked like an add (100) before anything is stored; the stored access token is
  replaced by the one sent, or dropped. ``updated_items`` counts the ``tiktokshop_*`` values
  (app key, app secret, refresh token, access token) the store holds afterwards that differ from
  before.
* ``cart.validate.json`` answers ``{"status": "valid"}``: no public example of the value exists,
  so ``"valid"`` is the sandbox's own; clients must rely on ``return_code`` 0, not on this value.
  Without ``x-store-key`` it answers 114.
"""

from __future__ import annotations

import copy
import dataclasses
import hmac
import uuid
from collections.abc import Mapping
from typing import Any, Final

from .model import Api2CartAccount, Api2CartErrorReply, Grant, StoredCart, TikTokErrorReply
from .sample_data import SUPPORTED_PLATFORMS
from .store import StateStore
from .tiktok import SimulatedTikTok

__all__ = ["TIKTOK_CART_ID", "TIKTOK_FIELDS", "VALID_STATUS", "SimulatedApi2Cart"]

TIKTOK_CART_ID: Final = "TikTokShop"
#: The ``tiktokshop_*`` credentials a TikTok Shop store needs (the access token is optional).
TIKTOK_FIELDS: Final = ("tiktokshop_app_key", "tiktokshop_app_secret", "tiktokshop_refresh_token")
_ACCESS_FIELD: Final = "tiktokshop_access_token"
#: The values ``replace_parameters`` may take (the sandbox's reading of "boolean" in a query string).
_BOOLEANS: Final = frozenset({"true", "false", "1", "0"})
#: What ``cart.validate.json`` answers in ``result.status`` (the sandbox's choice, see above).
VALID_STATUS: Final = "valid"


def _missing(name: str, hint: str = "") -> Api2CartErrorReply:
    return Api2CartErrorReply(114, f"Required parameter {name} is not specified{hint}")


def _string_fields(body: object) -> dict[str, str]:
    """The body's fields, every one a string (``verify`` excepted); 109 otherwise."""
    if not isinstance(body, dict):
        raise Api2CartErrorReply(109, "Incorrect parameters: the request body must be a JSON object")
    for name, value in body.items():
        if name != "verify" and value is not None and not isinstance(value, str):
            raise Api2CartErrorReply(109, f"Incorrect parameters: {name} must be a string")
    return {k: v for k, v in body.items() if isinstance(v, str)}


class SimulatedApi2Cart:
    """API2Cart's account endpoints over the data in ``store``, checking credentials with ``tiktok``."""

    def __init__(self, store: StateStore, tiktok: SimulatedTikTok) -> None:
        self.store = store
        self.tiktok = tiktok

    def _account(self, api_key: str | None) -> Api2CartAccount:
        account = self.store.accounts.get(api_key or "")
        if account is not None and self.tiktok.scenarios.active("api2cart-wrong-key"):
            account = None  # the key as typed is not the account's
        if account is None:
            raise Api2CartErrorReply(2, "Incorrect API Key")
        return account

    def _check_tiktok(self, app_key: str, app_secret: str, refresh_token: str, access_token: str | None) -> Grant:
        """The grant these TikTok credentials name; 100 when they do not work."""
        try:
            grant = self.tiktok.check_refresh_token(app_key, app_secret, refresh_token)
            current = grant.access_token.encode()
            if access_token is not None and not hmac.compare_digest(current, access_token.encode()):
                raise TikTokErrorReply(105001, "access token is invalid")
        except TikTokErrorReply as err:
            raise Api2CartErrorReply(100, f"TikTok Shop: {err.message} ({err.code})") from None
        return grant

    def _cart(self, account: Api2CartAccount, store_key: str | None) -> StoredCart:
        if not store_key:
            raise _missing("store_key", " (send the x-store-key header)")
        cart = self.store.cart_by_store_key(account.api_key, store_key)
        if cart is None:
            raise Api2CartErrorReply(101, "Store not found")
        return cart

    def add_cart(self, api_key: str | None, body: object) -> dict[str, Any]:
        """``POST account.cart.add.json``; returns the ``result`` object."""
        account = self._account(api_key)
        fields = _string_fields(body)
        if not fields.get("cart_id"):
            raise _missing("cart_id")
        if fields["cart_id"] != TIKTOK_CART_ID:
            raise Api2CartErrorReply(
                109, f"Incorrect parameters: cart_id {fields['cart_id']!r} (the sandbox adds only TikTokShop stores)"
            )
        for name in TIKTOK_FIELDS:
            if not fields.get(name):
                raise _missing(name)
        app_key, refresh_token = fields["tiktokshop_app_key"], fields["tiktokshop_refresh_token"]
        store = self.store
        if self.tiktok.scenarios.armed("api2cart-add"):  # its change, committed before the rules answer
            with store.mutation():
                self._play_on_add(account, fields)
        with store.mutation():
            if store.cart_by_credentials(account.api_key, app_key, refresh_token) is not None:
                raise Api2CartErrorReply(8, "Store already exists")
            self._check_tiktok(
                app_key, fields["tiktokshop_app_secret"], refresh_token, fields.get(_ACCESS_FIELD) or None
            )
            cart = StoredCart(
                id="",
                store_key=uuid.uuid4().hex,
                cart_id=TIKTOK_CART_ID,
                url=fields.get("store_url") or None,
                custom_label=fields.get("custom_label", ""),
                app_key=app_key,
                app_secret=fields["tiktokshop_app_secret"],
                refresh_token=refresh_token,
                access_token=fields.get(_ACCESS_FIELD) or None,
            )
            return {"store_key": store.add_cart(account.api_key, cart).store_key}

    def _play_on_add(self, account: Api2CartAccount, fields: dict[str, str]) -> None:
        """A training scenario's change to the world before a store that would be added is added."""
        app_key, refresh_token = fields["tiktokshop_app_key"], fields["tiktokshop_refresh_token"]
        if self.store.cart_by_credentials(account.api_key, app_key, refresh_token) is not None:
            return  # already refused as it is
        try:
            grant = self.tiktok.check_refresh_token(app_key, fields["tiktokshop_app_secret"], refresh_token)
        except TikTokErrorReply:
            return
        played = self.tiktok.scenarios.fire("api2cart-add")
        if played is not None and played.name == "api2cart-credentials-refused":
            self.tiktok.deauthorize(grant.seller_key)
        elif played is not None and played.name == "api2cart-store-exists":
            # The same credentials were added earlier (a colleague, an earlier run): the usual rule answers 8.
            earlier = StoredCart(
                id="",
                store_key=uuid.uuid4().hex,
                cart_id=TIKTOK_CART_ID,
                url=fields.get("store_url") or None,
                custom_label="added earlier",
                app_key=app_key,
                app_secret=fields["tiktokshop_app_secret"],
                refresh_token=refresh_token,
                access_token=None,
            )
            self.store.add_cart(account.api_key, earlier)

    def update_config(self, api_key: str | None, store_key: str | None, query: Mapping[str, str]) -> dict[str, Any]:
        """``PUT account.config.update.json``: replace a store's TikTok credentials (checked first),
        from the query's parameters; returns ``{"updated_items": N}``."""
        account = self._account(api_key)
        replace = query.get("replace_parameters")
        if replace is not None and replace.lower() not in _BOOLEANS:
            raise Api2CartErrorReply(109, "Incorrect parameters: replace_parameters must be true or false")
        fields = {name: value for name, value in query.items() if name.startswith("tiktokshop_") and value}
        store = self.store
        with store.mutation():
            cart = self._cart(account, store_key)
            if not any(fields.get(name) for name in (*TIKTOK_FIELDS, _ACCESS_FIELD)):
                raise _missing("tiktokshop_refresh_token")
            app_key = fields.get("tiktokshop_app_key") or cart.app_key
            app_secret = fields.get("tiktokshop_app_secret") or cart.app_secret
            refresh_token = fields.get("tiktokshop_refresh_token") or cart.refresh_token
            access_token = fields.get(_ACCESS_FIELD) or None
            self._check_tiktok(app_key, app_secret, refresh_token, access_token)
            updated = dataclasses.replace(
                cart, app_key=app_key, app_secret=app_secret, refresh_token=refresh_token, access_token=access_token
            )
            store.update_cart(updated)
        held = ("app_key", "app_secret", "refresh_token", "access_token")
        return {"updated_items": sum(getattr(cart, name) != getattr(updated, name) for name in held)}

    def list_carts(self, api_key: str | None) -> dict[str, Any]:
        """``GET account.cart.list.json``; returns the ``result`` object."""
        account = self._account(api_key)
        carts = [c.as_json() for c in self.store.carts(account.api_key)]
        return {"carts": carts, "carts_count": len(carts)}

    def validate_cart(self, api_key: str | None, store_key: str | None) -> dict[str, Any]:
        """``GET cart.validate.json``: the TikTok credentials the store HOLDS must still work."""
        account = self._account(api_key)
        if self.tiktok.scenarios.armed("api2cart-validate"):  # its change, committed before the rules answer
            with self.store.mutation():
                cart = self._cart(account, store_key)
                played = self.tiktok.scenarios.fire("api2cart-validate")
                if played is not None and played.name == "api2cart-store-deleted":
                    self.store.delete_cart(account.api_key, cart.store_key)
        with self.store.reading():
            cart = self._cart(account, store_key)
            self._check_tiktok(cart.app_key, cart.app_secret, cart.refresh_token, None)
            return {"status": VALID_STATUS}

    def supported_platforms(self, api_key: str | None) -> dict[str, Any]:
        """``GET account.supported_platforms.json``; returns the ``result`` object."""
        self._account(api_key)
        return {"supported_platforms": copy.deepcopy(list(SUPPORTED_PLATFORMS))}
