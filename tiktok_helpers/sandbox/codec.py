"""The state file's payload: the sandbox's mutable data (:class:`~.model.StateData`) to JSON and back.

This module knows the sandbox's objects, not bytes or files: :mod:`.persist` wraps the payload in
its ``{"version": 1, ...}`` envelope and writes it; :mod:`.store` decides when.

* Persisted: issued authorization codes (issue time, used flag), grants with their access and
  refresh tokens and absolute expiry timestamps (so they mean the same with any clock, including
  a :class:`~tiktok_helpers.sandbox.clock.FakeClock` set to the same time), the apps' registered
  redirect URLs, API2Cart stores (with their TikTok credentials and store keys) and the next
  store id. NOT persisted: the sample app, sellers, shops and scopes (always from code) and
  ``auto_approve`` (a setting of each sandbox).
* Format: ``{"version": 1, "apps": {app_key: {"redirect_url"}}, "auth_codes": [...],
  "grants": [...], "api2cart": {"next_cart_id": n, "accounts": {api_key: {"carts": [...]}}}}``.
* Decoding checks every field's JSON type and that every entry names an app, seller and API2Cart
  account the sandbox has; anything else raises :class:`~.persist.BadStateFile`, whose message
  names the problem but never shows a value.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict
from typing import Any, TypeVar

from .model import USER_TYPES, AuthCode, Grant, StateData, StoredCart, check_redirect_url
from .persist import BadStateFile

__all__ = ["StateCodec"]

_T = TypeVar("_T")


class StateCodec:
    """Encodes :class:`StateData`; decodes it for a sandbox with these apps, sellers and accounts."""

    def __init__(self, apps: Collection[str], sellers: Collection[str], accounts: Collection[str]) -> None:
        self.apps = apps
        self.sellers = sellers
        self.accounts = accounts

    @staticmethod
    def encode(data: StateData) -> dict[str, Any]:
        return {
            "apps": {key: {"redirect_url": url} for key, url in data.redirect_urls.items()},
            "auth_codes": [asdict(code) for code in data.codes.values()],
            "grants": [{**asdict(grant), "scopes": list(grant.scopes)} for grant in data.grants],
            "api2cart": {
                "next_cart_id": data.next_cart_id,
                "accounts": {key: {"carts": [asdict(cart) for cart in carts]} for key, carts in data.carts.items()},
            },
        }

    def decode(self, payload: dict[str, Any]) -> StateData:
        """Turn a state file's payload into objects; raise :class:`BadStateFile` if it does not fit."""
        data = StateData()
        for key, entry in _get(payload, "apps", dict, "state").items():
            if key not in self.apps:
                raise BadStateFile("apps names an app the sandbox does not have")
            url = _get(_as_dict(entry, "apps.*"), "redirect_url", str, "apps.*")
            try:
                check_redirect_url(url)
            except ValueError:
                raise BadStateFile("apps.*.redirect_url is not an absolute http(s) URL") from None
            data.redirect_urls[key] = url
        for raw in _get(payload, "auth_codes", list, "state"):
            item = _as_dict(raw, "auth_codes[]")
            code = AuthCode(
                code=_get(item, "code", str, "auth_codes[]"),
                app_key=self._known_app(_get(item, "app_key", str, "auth_codes[]")),
                seller_key=self._known_seller(_get(item, "seller_key", str, "auth_codes[]")),
                user_type=_user_type(_get(item, "user_type", int, "auth_codes[]")),
                issued_at=_number(item, "issued_at", "auth_codes[]"),
                used=_get(item, "used", bool, "auth_codes[]"),
            )
            data.codes[code.code] = code
        for raw in _get(payload, "grants", list, "state"):
            item = _as_dict(raw, "grants[]")
            scopes = _get(item, "scopes", list, "grants[]")
            if not all(isinstance(scope, str) for scope in scopes):
                raise BadStateFile("grants[].scopes must be a list of strings")
            data.grants.append(
                Grant(
                    app_key=self._known_app(_get(item, "app_key", str, "grants[]")),
                    seller_key=self._known_seller(_get(item, "seller_key", str, "grants[]")),
                    user_type=_user_type(_get(item, "user_type", int, "grants[]")),
                    open_id=_get(item, "open_id", str, "grants[]"),
                    scopes=tuple(scopes),
                    access_token=_get(item, "access_token", str, "grants[]"),
                    access_expires_at=_get(item, "access_expires_at", int, "grants[]"),
                    refresh_token=_get(item, "refresh_token", str, "grants[]"),
                    refresh_expires_at=_get(item, "refresh_expires_at", int, "grants[]"),
                )
            )
        api2cart = _get(payload, "api2cart", dict, "state")
        data.next_cart_id = _get(api2cart, "next_cart_id", int, "api2cart")
        for key, raw_account in _get(api2cart, "accounts", dict, "api2cart").items():
            if key not in self.accounts:
                raise BadStateFile("api2cart.accounts names an account the sandbox does not have")
            carts = data.carts.setdefault(key, [])
            for raw in _get(_as_dict(raw_account, "api2cart.accounts.*"), "carts", list, "api2cart.accounts.*"):
                carts.append(_stored_cart(_as_dict(raw, "carts[]")))
        return data

    def _known_app(self, app_key: str) -> str:
        if app_key not in self.apps:
            raise BadStateFile("an entry names an app the sandbox does not have")
        return app_key

    def _known_seller(self, seller_key: str) -> str:
        if seller_key not in self.sellers:
            raise BadStateFile("an entry names a seller the sandbox does not have")
        return seller_key


def _stored_cart(item: Mapping[str, Any]) -> StoredCart:
    access_token = item.get("access_token")
    if access_token is not None and not isinstance(access_token, str):
        raise BadStateFile("carts[].access_token must be a string or null")
    return StoredCart(
        id=_get(item, "id", str, "carts[]"),
        store_key=_get(item, "store_key", str, "carts[]"),
        cart_id=_get(item, "cart_id", str, "carts[]"),
        url=_get(item, "url", str, "carts[]"),
        custom_label=_get(item, "custom_label", str, "carts[]"),
        app_key=_get(item, "app_key", str, "carts[]"),
        app_secret=_get(item, "app_secret", str, "carts[]"),
        refresh_token=_get(item, "refresh_token", str, "carts[]"),
        access_token=access_token,
    )


def _as_dict(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadStateFile(f"{where} must be an object")
    return value


def _get(item: Mapping[str, Any], name: str, kind: type[_T], where: str) -> _T:
    """``item[name]`` if it has exactly the JSON type ``kind`` (a bool is not an int here)."""
    value = item.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadStateFile(f"{where}.{name} must be of type {kind.__name__}")
    return value


def _number(item: Mapping[str, Any], name: str, where: str) -> float:
    value = item.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadStateFile(f"{where}.{name} must be a number")
    return float(value)


def _user_type(value: int) -> int:
    if value not in USER_TYPES.values():
        raise BadStateFile("user_type must be 0, 1 or 3")
    return value
