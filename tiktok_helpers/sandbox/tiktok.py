"""The simulated TikTok Shop: consent decisions, authorization codes, tokens and the Open API call.

:class:`SimulatedTikTok` holds the rules of TikTok's authorization service (the consent screen's
decision, code issuing, ``token/get`` and ``token/refresh``) and of the one signed Open API call
the runbook makes, Get Authorized Shops. It reads and changes the data in a
:class:`~.store.StateStore`, one transaction per operation; the HTTP layer (:mod:`.tiktok_routes`)
only parses requests and renders what this module returns or raises
(:class:`~.model.TikTokErrorReply`, :class:`~.model.ConsentPageRefusal`).

Documented TikTok behaviour that is simulated
---------------------------------------------
* A code works once and expires 30 minutes after it was issued: ``36004004`` "invalid auth code"
  (the live replies' words, quoted in public client code; "Common errors": "Invalid auth code.").
* ``access_token_expire_in`` and ``refresh_token_expire_in`` are absolute Unix timestamps:
  access token now + 7 days; refresh token now + 365 days (the "authorization duration").
* Unknown refresh token: ``36004005 can not find related auth record``; expired refresh token:
  ``36004001 rt has expired`` (live replies quoted in public client code). The token endpoints send
  every error with HTTP 200 (TikTok Shop Partner Center's authorization docs, live replies).
* The refusal redirect (Cancel) carries ``error=auth_denied`` and ``code=null`` (the spelling of
  TikTok Shop Partner Center's "Authorization overview", 202407), and the ``state`` it was given.
* Signed Open API calls: the signature is recomputed with :func:`tiktok_helpers.signing.sign`
  over the path as received, EVERY query pair as received (a repeated key counts each time) and
  the body (app secret, lowercase hex; an uppercase signature is rejected); the timestamp window is
  [server time - 300 s, server time + 30 s]. Get Authorized Shops needs the "Shop Authorized
  Information" package (scope ``seller.authorization.info``). Its error replies, the JSON body
  always ``code``, ``message``, ``request_id`` (values in :mod:`.model`; a status in brackets is
  the sandbox's choice, no public source gives it):

  - ``106001`` HTTP 401 "Invalid credentials. The 'sign' query parameter is invalid." (live replies
    quoted in public client code; a public live trace of this call shows HTTP 401; newer replies
    append " For more details: <link>").
  - ``36009004`` HTTP 400 "Invalid credentials. Invalid 'app_key' query parameter." (live replies
    with HTTP 400 quoted in public client code).
  - ``36009004`` (401) "Invalid credentials. The 'x-tts-access-token' header is invalid" (live
    replies quoted in public client code, also to a call without the header): a wrong or garbage
    access token, or none.
  - ``36009004`` (401) "Invalid timestamp. The value of the `timestamp` query parameter must not
    exceed the current time by more than 30 seconds." ("Common errors").
  - ``105001`` (200) "access token is invalid; detail:your token has been deauthorized" (TikTok's
    creator authorization guide, for a user who removed the app).
  - ``105002`` (200) "access token is expired, please refresh it" (a live reply, GitHub issue
    phamkhanhminhman97/shopee-tiktok-lazada-api#2; "Common errors": "Expired credentials").
  - ``105005`` (200) "you should apply auth pkg for this api" (a live reply, GitHub issue
    EcomPHP/tiktokshop-php#40, and the creator authorization guide).
  - ``36009002`` HTTP 429, :data:`.scenarios.RATE_LIMIT_MESSAGE` ("Rate limits": "throttled and an
    HTTP 429 error is returned"; "Common errors": "HTTP 429 and 36009002 both indicate rate
    limiting"; the message: TikTok's public API error tables).
  - ``36009003`` (200), :data:`.scenarios.INTERNAL_ERROR_MESSAGE` ("Get Authorized Shops" 202309
    lists the code; the message: the same tables).

Training scenarios (:mod:`.scenarios`) change the world before these rules answer, or refuse a
call: 36009002 to every attempt of one call, 36009003 once.

Sandbox choices where TikTok documents nothing
----------------------------------------------
* Wrong ``app_key`` or ``app_secret`` at the token endpoints -> ``36004003 invalid app_key or
  app_secret``; a missing parameter or wrong ``grant_type`` -> ``36004002 invalid param: ...``.
  These codes and messages are the sandbox's own, not observed live values.
* The HTTP statuses in brackets above (no public trace shows them): 401 for every 36009004 but an
  unknown ``app_key`` (a bad or missing access token, a timestamp out of the window or not a
  number, no ``sign``); 200 for 105001, 105002, 105005 and 36009003.
* The wording of three 36009004 replies: a timestamp more than 5 minutes old, one that is not a
  number, and a call with no ``sign`` at all (a cause "Common errors" gives; an empty or wrong one
  is ``106001``).
* Whether a refresh returns a new refresh token is NOT documented, so the sandbox serves both
  readings (``refresh_reading``, ``--refresh-reading``): ``"new"`` (the default, the stricter one)
  issues a new refresh token and the old one then answers ``36004005``; ``"same"`` returns the same
  one, which keeps working. Either way the old access token then answers ``105001``, the refresh
  token keeps the authorization's original end and a new access token lives 7 days, never past
  it. ``refresh-token-replaced`` replaces the refresh token whatever the reading.
* Revoked versus garbage: a token the sandbox issued but no grant holds any more (deauthorized,
  replaced by a refresh, or the state reset) -> ``105001`` with the "deauthorized" message in every
  case; a token it never issued (told by a tag inside, :func:`issued_here`) -> ``36009004``.
* Checks on a signed call run in this order: app_key, timestamp, sign, token, expiry, scope.
* A creator token (user_type 1) has no shops: Get Authorized Shops answers an empty list.
* Every authorization of a seller creates an independent grant: authorizing again revokes no
  earlier token (:meth:`~.state.SandboxState.deauthorize` does, with webhook 6 or 20: :mod:`.webhooks`).
* The consent page offers the sample sellers; the decision form also accepts a seller minted for
  an agency's account (:mod:`.agency`), by key.
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final

from tiktok_helpers import protocol
from tiktok_helpers.signing import sign

from . import model as answers  # the Open API's error replies (values in .model)
from .issuer import issued_here, new_code, new_token
from .model import (
    USER_TYPES,
    App,
    AuthCode,
    AuthKind,
    ConsentPageRefusal,
    ConsentRequest,
    Grant,
    RefreshReading,
    Seller,
    TikTokErrorReply,
    append_query,
    token_data,
)
from .scenarios import CODE_AGE_SECONDS, ScenarioSwitch, play_on_call
from .store import StateStore
from .webhooks import Webhooks

__all__ = [
    "ACCESS_TOKEN_TTL",
    "AUTH_CODE_TTL",
    "REFRESH_TOKEN_TTL",
    "SHOPS_PATH",
    "SimulatedTikTok",
    "append_query",
    "issued_here",
    "new_token",
]

# TikTok's documented lifetimes and windows, from the one module that holds them (in seconds here).
AUTH_CODE_TTL: Final = int(protocol.AUTH_CODE_LIFETIME.total_seconds())
ACCESS_TOKEN_TTL: Final = int(protocol.ACCESS_TOKEN_LIFETIME.total_seconds())
#: The sandbox's choice for the authorization duration the seller picks (TikTok: the seller's choice).
REFRESH_TOKEN_TTL: Final = 365 * 24 * 3600
TIMESTAMP_MAX_AGE: Final = int(protocol.SIGNED_TIMESTAMP_MAX_AGE.total_seconds())
TIMESTAMP_MAX_AHEAD: Final = int(protocol.SIGNED_TIMESTAMP_MAX_AHEAD.total_seconds())
SHOPS_PATH: Final = "/authorization/202309/shops"
SHOPS_SCOPE: Final = "seller.authorization.info"


def _require(params: Mapping[str, str], names: tuple[str, ...]) -> None:
    for name in names:
        if not params.get(name):
            raise TikTokErrorReply(36004002, f"invalid param: {name} is required")


class SimulatedTikTok:
    """TikTok Shop's authorization service and Open API over the data in ``store``."""

    def __init__(
        self,
        store: StateStore,
        now: Callable[[], float],
        scenarios: ScenarioSwitch | None = None,
        webhooks: Webhooks | None = None,
    ) -> None:
        self.store = store
        self.now = now
        #: The training scenario served (see :mod:`.scenarios`): it changes the world, these rules answer.
        self.scenarios = scenarios if scenarios is not None else ScenarioSwitch()
        #: Where revocations are notified (:mod:`.webhooks`).
        self.webhooks = webhooks if webhooks is not None else Webhooks(store, now)
        #: What a refresh does to the refresh token (see the module's docstring); checked by the state.
        self.refresh_reading: RefreshReading = "new"

    def find_app(self, *, app_key: str | None = None, service_id: str | None = None) -> App | None:
        """The app, with its current redirect URL."""
        for app in self.store.apps.values():
            if (app_key is not None and app.app_key == app_key) or (
                service_id is not None and app.service_id == service_id
            ):
                return self.store.app(app.app_key)
        return None

    # ------------------------------------------------------------------ consent
    def consent_request(self, kind: AuthKind, params: Mapping[str, str]) -> ConsentRequest:
        """Validate the query of a consent link (or the hidden fields of its form)."""
        state = params.get("state")
        if kind == "creator":
            app_key = params.get("app_key", "")
            if not app_key:
                raise ConsentPageRefusal("The authorization link has no app_key parameter.")
            app = self.find_app(app_key=app_key)
            if app is None:
                raise ConsentPageRefusal(f"Unknown app_key {app_key!r}: no app with this App Key exists.")
            if not state:
                raise ConsentPageRefusal("Creator authorization requires a state parameter, and this link has none.")
        else:
            service_id = params.get("service_id", "")
            if not service_id:
                raise ConsentPageRefusal("The authorization link has no service_id parameter.")
            app = self.find_app(service_id=service_id)
            if app is None:
                raise ConsentPageRefusal(
                    f"Unknown service_id {service_id!r}: no app with this service ID (Application ID) exists."
                )
        return ConsentRequest(kind=kind, app=app, state=state)

    def decide(self, request: ConsentRequest, seller_key: str, decision: str) -> str:
        """Apply the seller's decision and return the redirect URL (the app's callback)."""
        seller = self.store.seller(seller_key)
        if seller is None:
            choices = ", ".join(self.store.sellers)
            raise ConsentPageRefusal(f"Unknown seller {seller_key!r}; choose one of {choices}.")
        params: list[tuple[str, str]]
        state = request.state
        if decision == "authorize":
            played = self.scenarios.fire("consent")
            if played is not None and played.name == "seller-cancels":
                decision = "cancel"  # the seller's hand, not the one the form was sent with
            elif played is not None and played.name == "stale-redirect":
                state = secrets.token_urlsafe(16)  # the state of an older link, opened in another tab
        if decision == "authorize":
            code = self.issue_code(request.app.app_key, seller.key, request.user_type)
            params = [("code", code)]
            if state is not None:
                params.append(("state", state))
            params += [
                ("locale", "en"),
                ("shop_region", seller.base_region),
                ("app_key", request.app.app_key),
            ]
        elif decision == "cancel":
            params = [("error", "auth_denied"), ("code", "null")]
            if state is not None:
                params.append(("state", state))
        else:
            raise ConsentPageRefusal("The form must be submitted with decision=authorize or decision=cancel.")
        return append_query(request.app.redirect_url, params)

    def issue_code(self, app_key: str, seller_key: str, user_type: int = 0) -> str:
        """Issue a fresh authorization code, as if the seller clicked Authorize."""
        store = self.store
        if app_key not in store.apps or store.seller(seller_key) is None:
            raise ValueError("unknown app or seller")
        code = new_code()
        store.add_code(AuthCode(code, app_key, seller_key, user_type, self.now()))
        return code

    # ------------------------------------------------------------------ tokens
    def _check_app(self, app_key: str, app_secret: str) -> App:
        app = self.store.apps.get(app_key)
        if app is None or not hmac.compare_digest(app.app_secret.encode(), app_secret.encode()):
            raise TikTokErrorReply(36004003, "invalid app_key or app_secret")
        return app

    def new_grant(self, app: App, seller: Seller, user_type: int, now: float) -> Grant:
        """A fresh authorization of ``app`` by ``seller`` at ``now`` (not stored)."""
        base = int(now)
        return Grant(
            app_key=app.app_key,
            seller_key=seller.key,
            user_type=user_type,
            open_id=seller.open_id_for(user_type),
            scopes=app.scopes,
            access_token=new_token(),
            access_expires_at=base + ACCESS_TOKEN_TTL,
            refresh_token=new_token(),
            refresh_expires_at=base + REFRESH_TOKEN_TTL,
        )

    def token_get(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``/api/v2/token/get``: exchange an authorization code; returns the ``data`` object."""
        _require(params, ("app_key", "app_secret", "auth_code", "grant_type"))
        if params["grant_type"] != "authorized_code":
            raise TikTokErrorReply(36004002, "invalid param: grant_type must be authorized_code")
        app = self._check_app(params["app_key"], params["app_secret"])
        # None: a training scenario changed the world first (committed); the rules answer for it now.
        data = self._exchange(app, params["auth_code"]) or self._exchange(app, params["auth_code"])
        assert data is not None
        return data

    def _exchange(self, app: App, auth_code: str) -> dict[str, Any] | None:
        """The exchange in one transaction (None: a scenario played, nothing exchanged)."""
        store = self.store
        with store.mutation():
            now = self.now()
            code = store.code(auth_code)
            seller = store.seller(code.seller_key) if code is not None else None
            if code is None or code.used or code.app_key != app.app_key or now > code.issued_at + AUTH_CODE_TTL:
                raise TikTokErrorReply(36004004, "invalid auth code")
            if seller is None:  # a row naming a seller this sandbox does not have
                raise TikTokErrorReply(36004004, "invalid auth code")
            played = self.scenarios.fire("exchange")
            if played is not None:
                # The world as the scenario has it, committed: the code was exchanged before (by the
                # other tab or tool: its grant exists), or it waited too long.
                if played.name == "code-used-twice":
                    store.use_code(code.code)
                    store.add_grant(self.new_grant(app, seller, code.user_type, now))
                elif played.name == "code-expired":
                    store.backdate_code(code.code, now - CODE_AGE_SECONDS)
                return None
            store.use_code(code.code)
            grant = self.new_grant(app, seller, code.user_type, now)
            store.add_grant(grant)
            return token_data(grant, seller)

    def _grant_for_refresh(self, app: App, refresh_token: str) -> tuple[Grant, Seller]:
        grant = self.store.grant_by_refresh(refresh_token)
        seller = self.store.seller(grant.seller_key) if grant is not None else None
        if grant is None or seller is None or grant.app_key != app.app_key:
            raise TikTokErrorReply(36004005, "can not find related auth record")
        if self.now() > grant.refresh_expires_at:
            raise TikTokErrorReply(36004001, "rt has expired")
        return grant, seller

    def token_refresh(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``/api/v2/token/refresh``: new tokens (the refresh token per the reading); the ``data`` object."""
        _require(params, ("app_key", "app_secret", "refresh_token", "grant_type"))
        if params["grant_type"] != "refresh_token":
            raise TikTokErrorReply(36004002, "invalid param: grant_type must be refresh_token")
        app = self._check_app(params["app_key"], params["app_secret"])
        store = self.store
        if self.scenarios.armed("refresh"):  # a training scenario's change, committed before the rules answer
            with store.mutation():
                old, _ = self._grant_for_refresh(app, params["refresh_token"])
                played = self.scenarios.fire("refresh")
                if played is not None and played.name == "refresh-token-expired":
                    store.replace_grant(dataclasses.replace(old, refresh_expires_at=int(self.now()) - 1))
                elif played is not None and played.name == "refresh-token-replaced":
                    elsewhere = dataclasses.replace(old, refresh_token=new_token(), access_token=new_token())
                    store.rotate(old.refresh_token, elsewhere)  # the other copy's refresh
        with store.mutation():
            old, seller = self._grant_for_refresh(app, params["refresh_token"])
            grant = dataclasses.replace(
                old,
                refresh_token=new_token() if self.refresh_reading == "new" else old.refresh_token,
                access_token=new_token(),
                access_expires_at=min(int(self.now()) + ACCESS_TOKEN_TTL, old.refresh_expires_at),
            )
            store.rotate(old.refresh_token, grant)
            return token_data(grant, seller)

    def check_refresh_token(self, app_key: str, app_secret: str, refresh_token: str) -> Grant:
        """Validate TikTok credentials WITHOUT rotating anything (what API2Cart's add uses)."""
        app = self._check_app(app_key, app_secret)
        with self.store.reading():
            return self._grant_for_refresh(app, refresh_token)[0]

    def deauthorize(self, seller_key: str) -> tuple[int, list[int]]:
        """Revoke every grant of a seller (the seller removed the app) and queue the webhooks that say
        so (:mod:`.webhooks`); returns how many grants, and the queued deliveries' ids."""
        with self.store.mutation():
            revoked = self.store.grants_of(seller_key)
            self.store.delete_grants(seller_key)
            return len(revoked), self.webhooks.revoked(revoked)

    # ------------------------------------------------------------------ Open API
    def authorized_shops(
        self,
        path: str,
        query: Mapping[str, str],
        body: bytes,
        content_type: str,
        access_token: str | None,
    ) -> list[dict[str, str]]:
        """``GET /authorization/202309/shops`` with full signature and token checks."""
        app = self.store.apps.get(query.get("app_key", ""))
        if app is None:
            raise answers.UNKNOWN_APP_KEY.refusal()
        try:
            timestamp = int(query.get("timestamp", ""))
        except ValueError:
            raise answers.TIMESTAMP_NOT_A_NUMBER.refusal() from None
        now = self.now()
        if timestamp > now + TIMESTAMP_MAX_AHEAD:
            raise answers.TIMESTAMP_AHEAD.refusal()
        if timestamp < now - TIMESTAMP_MAX_AGE:
            raise answers.TIMESTAMP_BEHIND.refusal()
        if "sign" not in query:
            raise answers.SIGN_MISSING.refusal()
        given = query.get("sign", "")
        secret = app.app_secret
        if self.scenarios.active("bad-signature"):
            secret = secret[:-1]  # the caller signs with the secret as typed: one character lost
        expected = sign(path, query, secret, body, content_type or "application/json")
        if not given or not hmac.compare_digest(given.encode(), expected.encode()):
            raise answers.BAD_SIGN.refusal()
        if self.scenarios.armed("shops"):  # a training scenario's change, committed before the rules answer
            with self.store.mutation():
                grant, _ = self._caller(app, access_token, now)
                played = self.scenarios.fire("shops")
                if played is not None:
                    play_on_call(played.name, self.store, grant, SHOPS_SCOPE, now, self.deauthorize)
        with self.store.reading():
            grant, seller = self._caller(app, access_token, now)
            if grant.user_type == USER_TYPES["creator"]:
                return []
            return [shop.as_json() for shop in seller.shops]

    def _caller(self, app: App, access_token: str | None, now: float) -> tuple[Grant, Seller]:
        """The grant of a signed call's access token, checked: token, expiry, scope."""
        grant = self.store.grant_by_access(access_token) if access_token else None
        seller = self.store.seller(grant.seller_key) if grant is not None else None
        if grant is None or seller is None or grant.app_key != app.app_key:
            revoked = bool(access_token) and issued_here(access_token or "")
            raise (answers.TOKEN_DEAUTHORIZED if revoked else answers.BAD_ACCESS_TOKEN).refusal()
        if now > grant.access_expires_at:
            raise answers.TOKEN_EXPIRED.refusal()
        if SHOPS_SCOPE not in grant.scopes:
            raise answers.SCOPE_MISSING.refusal()
        return grant, seller
