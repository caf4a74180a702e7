"""The sandbox's TikTok routes: the consent pages, the token endpoints and the signed Open API call.

Each route parses its request, asks :class:`~.state.SandboxState` (the rules are in :mod:`.tiktok`)
and renders the answer: consent pages as HTML (:mod:`.pages`), API calls as TikTok's JSON.

* TikTok endpoints answer errors as ``{"code", "message", "request_id"}`` with the HTTP status
  the rule gives (:class:`~.model.TikTokErrorReply`'s ``status``): the token endpoints always
  HTTP 200, like the live service (TikTok Shop Partner Center docs on token get and refresh); the
  signed Open API call (``/authorization/202309/shops``) HTTP 401 for ``106001`` (a bad sign, as
  live replies quoted in public client code show), HTTP 400 for ``36009004`` with an unknown
  ``app_key`` (live replies), HTTP 429 for ``36009002`` (Partner Center's "Rate limits" and
  "Common errors"), and for the rest the status :mod:`.tiktok` lists, each marked documented or
  the sandbox's choice (401 for the other causes of ``36009004``, 200 for the other codes).
* A consent link the sandbox cannot serve, or a form it cannot accept, answers an HTML error page
  (HTTP 400); with ``auto_approve`` set, a good consent link redirects at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final
from urllib.parse import parse_qsl

from .model import AuthKind, ConsentPageRefusal, TikTokErrorReply
from .pages import DECISION_PATH, consent_page, error_page
from .routing import Replier, Request, Routes
from .tiktok import SHOPS_PATH

__all__ = ["TIKTOK_ROUTES"]

_AUTH_KINDS: Final[dict[str, AuthKind]] = {"seller": "seller", "partner": "partner", "creator": "creator"}


# ---------------------------------------------------------------------- consent pages
def _consent(handler: Replier, kind: AuthKind, request: Request) -> None:
    state = handler.server.state
    try:
        consent = state.consent_request(kind, request.query)
        seller = state.auto_approve
        if seller is not None:
            handler.redirect(state.decide(consent, seller, "authorize"))
            return
    except ConsentPageRefusal as err:
        handler.send_html(err.status, error_page(err.message))
        return
    handler.send_html(200, consent_page(consent, state.sellers.values()))


def consent_seller(handler: Replier, request: Request) -> None:
    _consent(handler, "seller", request)


def consent_partner(handler: Replier, request: Request) -> None:
    _consent(handler, "partner", request)


def consent_creator(handler: Replier, request: Request) -> None:
    _consent(handler, "creator", request)


def consent_decision(handler: Replier, request: Request) -> None:
    state = handler.server.state
    form: dict[str, str] = {}
    for key, value in parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True):
        form.setdefault(key, value)
    try:
        kind = _AUTH_KINDS.get(form.get("auth_type", ""))
        if kind is None:
            raise ConsentPageRefusal("The form has no valid auth_type (seller, partner or creator).")
        consent = state.consent_request(kind, form)
        location = state.decide(consent, form.get("seller", ""), form.get("decision", ""))
    except ConsentPageRefusal as err:
        handler.send_html(err.status, error_page(err.message))
        return
    handler.redirect(location)


# ---------------------------------------------------------------------- TikTok APIs
def _tiktok_reply(handler: Replier, call: Callable[[], Any], success_message: str) -> None:
    request_id = handler.server.state.new_request_id()
    try:
        data = call()
    except TikTokErrorReply as err:
        handler.send_json(err.status, {"code": err.code, "message": err.message, "request_id": request_id})
        return
    handler.send_json(200, {"code": 0, "message": success_message, "request_id": request_id, "data": data})


def token_get(handler: Replier, request: Request) -> None:
    _tiktok_reply(handler, lambda: handler.server.state.token_get(request.query), "success")


def token_refresh(handler: Replier, request: Request) -> None:
    _tiktok_reply(handler, lambda: handler.server.state.token_refresh(request.query), "success")


def shops(handler: Replier, request: Request) -> None:
    def call() -> dict[str, Any]:
        shops = handler.server.state.authorized_shops(
            request.path,
            request.query,
            request.body,
            request.headers.get("Content-Type") or "application/json",
            request.headers.get("x-tts-access-token"),
        )
        return {"shops": shops}

    _tiktok_reply(handler, call, "Success")


TIKTOK_ROUTES: Final[Routes] = {
    "/open/authorize": ("page", {"GET": consent_seller}),
    "/partner/open/authorize": ("page", {"GET": consent_partner}),
    "/alliance/creator/auth": ("page", {"GET": consent_creator}),
    DECISION_PATH: ("page", {"POST": consent_decision}),
    "/api/v2/token/get": ("tiktok", {"GET": token_get}),
    "/api/v2/token/refresh": ("tiktok", {"GET": token_refresh}),
    SHOPS_PATH: ("tiktok", {"GET": shops}),
}
