"""The sandbox's API2Cart routes under ``/v1.1/`` (the rules and return codes are in :mod:`.api2cart`).

The API key comes from the ``x-api-key`` header or the ``api_key`` query parameter, a store's
key from ``x-store-key`` (or the ``store_key`` query parameter). Every answer is HTTP 200
``{"return_code", "return_message", "result"}`` (API2Cart's published list "Response Status
Codes"); an error has a non-zero ``return_code`` and ``"result": {}`` (as API2Cart's own mock
server, api2cart/api2cart-mock-api, answers errors). ``account.cart.add`` reads a JSON body (one
that is not JSON reaches the rules as ``None``: they answer 109 after checking the API key);
``account.config.update`` reads the query string only, as API2Cart's OpenAPI description
declares it (its body, if any, is ignored).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from .model import Api2CartErrorReply
from .routing import Replier, Request, Routes

__all__ = ["API2CART_ROUTES"]


def _api2cart_reply(handler: Replier, call: Callable[[str | None], Any], request: Request) -> None:
    api_key = request.headers.get("x-api-key") or request.query.get("api_key")
    try:
        result = call(api_key)
    except Api2CartErrorReply as err:
        handler.send_json(200, {"return_code": err.return_code, "return_message": err.message, "result": {}})
        return
    handler.send_json(200, {"return_code": 0, "return_message": "", "result": result})


def _body(request: Request) -> object:
    """The decoded JSON body (``{}`` when empty), or None when it is not JSON."""
    if not request.body.strip():
        return {}
    try:
        decoded: object = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return decoded


def _store_key(request: Request) -> str | None:
    return request.headers.get("x-store-key") or request.query.get("store_key")


def cart_add(handler: Replier, request: Request) -> None:
    body = _body(request)
    _api2cart_reply(handler, lambda key: handler.server.state.api2cart_add(key, body), request)


def config_update(handler: Replier, request: Request) -> None:
    query, store_key = request.query, _store_key(request)  # the body is not read: every parameter is in the query
    _api2cart_reply(handler, lambda key: handler.server.state.api2cart_update(key, store_key, query), request)


def cart_list(handler: Replier, request: Request) -> None:
    _api2cart_reply(handler, handler.server.state.api2cart_list, request)


def cart_validate(handler: Replier, request: Request) -> None:
    store_key = _store_key(request)
    _api2cart_reply(handler, lambda key: handler.server.state.api2cart_validate(key, store_key), request)


def supported_platforms(handler: Replier, request: Request) -> None:
    _api2cart_reply(handler, handler.server.state.api2cart_supported_platforms, request)


API2CART_ROUTES: Final[Routes] = {
    "/v1.1/account.cart.add.json": ("api2cart", {"POST": cart_add}),
    "/v1.1/account.config.update.json": ("api2cart", {"PUT": config_update}),
    "/v1.1/account.cart.list.json": ("api2cart", {"GET": cart_list}),
    "/v1.1/cart.validate.json": ("api2cart", {"GET": cart_validate}),
    "/v1.1/account.supported_platforms.json": ("api2cart", {"GET": supported_platforms}),
}
