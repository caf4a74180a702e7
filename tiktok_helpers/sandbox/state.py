"""The sandbox's data and business rules in one object (no HTTP here).

Everything the simulated TikTok Shop authorization service, Open API and API2Cart know is
reachable from one :class:`SandboxState`: the sample app, the sample sellers and their shops,
issued authorization codes, token grants and API2Cart accounts with their stores. It composes

* :mod:`.model` and :mod:`.sample_data`: the data and the sample values;
* :mod:`.store`: the mutable data as rows of the state database, in memory or in a file shared
  with other sandboxes ("Persistence"), with :mod:`.database` and :mod:`.schema` for the file;
* :mod:`.tiktok`: consent decisions, codes, tokens and Get Authorized Shops (documented TikTok
  behaviour and the sandbox's own choices are listed there);
* :mod:`.api2cart`: the API2Cart account rules and return codes;
* :mod:`.agency`: many sellers with grants at once (:meth:`SandboxState.mint_grants`);
* :mod:`.webhooks` and :mod:`.outbox`: the webhooks sent to :attr:`SandboxState.webhook_url`.

The HTTP layer (:mod:`.handler`, :mod:`.tiktok_routes`, :mod:`.api2cart_routes`) only parses
requests and renders what this object returns or raises.

A ``redirect_url`` given to the constructor replaces the one saved in the state file; without it
the saved one is used (else :data:`~tiktok_helpers.samples.SANDBOX_REDIRECT_URL`). The registered
redirect URL is read from the state on every use, so :meth:`SandboxState.set_redirect_url` in one
sandbox (or process) changes it for every sandbox on the same file. The refresh reading and the
webhook URL are each sandbox's own settings (never saved in the state file).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from tiktok_helpers.samples import SANDBOX_API2CART_KEY, SANDBOX_APP_KEY

from .agency import MintedGrant, mint_grants
from .api2cart import SimulatedApi2Cart
from .clock import Clock, SystemClock
from .model import (
    Api2CartAccount,
    App,
    AuthCode,
    AuthKind,
    ConsentRequest,
    Grant,
    RefreshReading,
    Seller,
    check_redirect_url,
    check_refresh_reading,
)
from .sample_data import sample_app, sample_sellers
from .scenarios import CLOCK_AHEAD_SECONDS, ScenarioSwitch
from .store import StateStore
from .tiktok import SimulatedTikTok
from .webhooks import Webhooks

__all__ = ["Revocation", "SandboxState"]


class Revocation(NamedTuple):
    """What removing the app did: grants revoked, webhook notices queued for it, and how many of
    those the receiver took at once (the others wait in the outbox for a retry)."""

    grants: int
    queued: int
    delivered: int

    def lines(self, seller_name: str, webhook_url: str | None) -> list[str]:
        """Two sentences: what was revoked, and what became of the notices."""
        plural = "" if self.grants == 1 else "s"
        done = f"{seller_name} removed the app: {self.grants} authorization{plural} revoked."
        if webhook_url is None:
            return [done, "No webhook URL is set: no notice was queued or sent."]
        if not self.queued:
            return [done, "No webhook notice: the seller held no authorization."]
        sent = f"{self.delivered} of {self.queued} webhook notice(s) delivered to {webhook_url}"
        if self.delivered == self.queued:
            return [done, sent + "."]
        return [done, sent + "; the others are queued in the state file, and a running sandbox on it with a webhook "
                "URL retries them (after 2 min, 30 min, 3 h and 12 h)."]  # fmt: skip


class SandboxState:
    """All sandbox data and rules (safe to call from several threads: request handlers do).

    ``state_path``: keep the mutable data in this SQLite database, shared with other sandboxes on
    the same path (see "Persistence" in :mod:`tiktok_helpers.sandbox.store`). ``refresh_reading``
    (``"new"`` or ``"same"``, :attr:`refresh_reading`) and ``webhook_url`` (:attr:`webhook_url`)
    are this object's own settings, never saved in the file.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        redirect_url: str | None = None,
        *,
        state_path: str | os.PathLike[str] | None = None,
        scenario: str | None = None,
        refresh_reading: str = "new",
        webhook_url: str | None = None,
    ) -> None:
        reading = check_refresh_reading(refresh_reading)
        self.clock: Clock = clock if clock is not None else SystemClock()
        #: The training scenario served (:mod:`.scenarios`); ``scenarios.set(name)`` switches.
        self.scenarios = ScenarioSwitch(scenario)
        if redirect_url is not None:
            check_redirect_url(redirect_url)
        template = sample_app(redirect_url)  # its redirect_url: the default, when none is registered
        self.apps: dict[str, App] = {template.app_key: template}
        self.sellers: dict[str, Seller] = sample_sellers()
        self.api2cart_accounts: dict[str, Api2CartAccount] = {
            SANDBOX_API2CART_KEY: Api2CartAccount(SANDBOX_API2CART_KEY)
        }
        self._auto_approve: str | None = None
        self.store = StateStore(self.apps, self.sellers, self.api2cart_accounts, state_path)
        #: The webhooks sent to :attr:`webhook_url` and their outbox (:mod:`.webhooks`).
        self.webhooks = Webhooks(self.store, self.now, webhook_url)
        self.tiktok = SimulatedTikTok(self.store, self.now, self.scenarios, self.webhooks)
        self.tiktok.refresh_reading = reading
        #: The form token of this sandbox's own pages (``/sandbox/sellers``): a page of another site
        #: cannot read it, so it cannot post the form (see :mod:`.seller_routes`).
        self.page_token = secrets.token_urlsafe(24)
        self.api2cart = SimulatedApi2Cart(self.store, self.tiktok)
        if state_path is not None and redirect_url is not None and redirect_url != self.app.redirect_url:
            self.set_redirect_url(redirect_url)

    # ------------------------------------------------------------------ data and persistence
    @property
    def app(self) -> App:
        """The sample app, with its currently registered redirect URL."""
        app = self.store.app(SANDBOX_APP_KEY)
        assert app is not None
        return app

    @property
    def codes(self) -> dict[str, AuthCode]:
        """Every issued authorization code by code (a snapshot, read from the state)."""
        return self.store.codes()

    @property
    def grants(self) -> list[Grant]:
        """Every authorization, oldest first (a snapshot, read from the state)."""
        return self.store.grants()

    @property
    def state_path(self) -> Path | None:
        """The state database file (None: in memory only)."""
        return self.store.path

    def sync(self) -> None:
        """Open the state file again if another program deleted or replaced it.

        Every operation does this first, and reads the state as it is now: sandboxes on the same
        file see each other's changes without calling it.
        """
        self.store.sync()

    def reset(self) -> None:
        """Start over: forget codes, grants, minted sellers, stores and queued webhooks, restore the
        redirect URL.

        With a state file, every sandbox on it sees the empty state (the file is emptied, not deleted).
        """
        self.store.reset()

    def mint_grants(self, n: int, *, app_key: str = SANDBOX_APP_KEY) -> list[MintedGrant]:
        """An agency's account: ``n`` new sellers (one shop each), each with a grant of the app.

        Created in one transaction (10,000 take well under a second); returns
        ``(refresh_token, open_id, seller_name)`` for each, in order. See :mod:`.agency`.
        """
        app = self.store.app(app_key)
        if app is None:
            raise ValueError(f"unknown app_key {app_key!r}")
        return mint_grants(self.store, self.tiktok, app, n, self.now())

    # ------------------------------------------------------------------ helpers
    def now(self) -> float:
        """TikTok's time: the clock's, or behind this computer's in the ``clock-ahead`` scenario."""
        if self.scenarios.active("clock-ahead"):
            return self.clock.now() - CLOCK_AHEAD_SECONDS
        return self.clock.now()

    def new_request_id(self) -> str:
        """34 characters like TikTok's: UTC YYYYMMDDHHMMSS + 20 upper-case hex digits."""
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(self.now()))
        return stamp + secrets.token_hex(10).upper()

    @property
    def auto_approve(self) -> str | None:
        return self._auto_approve

    @auto_approve.setter
    def auto_approve(self, seller_key: str | None) -> None:
        if seller_key is not None and seller_key not in self.sellers:
            raise ValueError(f"auto_approve must be one of {sorted(self.sellers)} or None")
        self._auto_approve = seller_key

    @property
    def refresh_reading(self) -> RefreshReading:
        """``"new"``: a refresh returns a new refresh token and retires the old one; ``"same"``: it
        returns the same one, which keeps working. TikTok documents neither (see :mod:`.tiktok`)."""
        return self.tiktok.refresh_reading

    @refresh_reading.setter
    def refresh_reading(self, value: str) -> None:
        self.tiktok.refresh_reading = check_refresh_reading(value)

    @property
    def webhook_url(self) -> str | None:
        """Where the webhooks go (an ``http://`` or ``https://`` URL); None: none is queued or sent."""
        return self.webhooks.url

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        self.webhooks.url = url

    def deliver_due(self) -> int:
        """One pass of the webhook sender, now, in this thread: queue the due "upcoming authorization
        expiration" notices, attempt every due delivery once; returns how many were delivered."""
        return self.webhooks.deliver_due()

    def set_redirect_url(self, url: str, app_key: str = SANDBOX_APP_KEY) -> None:
        """Register ``url`` as the app's callback URL (for every sandbox on the same state file)."""
        check_redirect_url(url)
        if app_key not in self.apps:
            raise ValueError(f"unknown app_key {app_key!r}")
        self.store.set_redirect_url(app_key, url)

    def find_app(self, *, app_key: str | None = None, service_id: str | None = None) -> App | None:
        return self.tiktok.find_app(app_key=app_key, service_id=service_id)

    # ------------------------------------------------------------------ TikTok (see .tiktok)
    def consent_request(self, kind: AuthKind, params: Mapping[str, str]) -> ConsentRequest:
        """Validate the query of a consent link (or the hidden fields of its form)."""
        return self.tiktok.consent_request(kind, params)

    def decide(self, request: ConsentRequest, seller_key: str, decision: str) -> str:
        """Apply the seller's decision and return the redirect URL (the app's callback)."""
        return self.tiktok.decide(request, seller_key, decision)

    def issue_code(self, app_key: str, seller_key: str, user_type: int = 0) -> str:
        """Issue a fresh authorization code, as if the seller clicked Authorize."""
        return self.tiktok.issue_code(app_key, seller_key, user_type)

    def token_get(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``/api/v2/token/get``: exchange an authorization code; returns the ``data`` object."""
        return self.tiktok.token_get(params)

    def token_refresh(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``/api/v2/token/refresh``: new tokens (the refresh token per :attr:`refresh_reading`); the ``data``."""
        return self.tiktok.token_refresh(params)

    def check_refresh_token(self, app_key: str, app_secret: str, refresh_token: str) -> Grant:
        """Validate TikTok credentials WITHOUT rotating anything (what API2Cart's add uses)."""
        return self.tiktok.check_refresh_token(app_key, app_secret, refresh_token)

    def deauthorize(self, seller_key: str) -> int:
        """Revoke every grant of a seller, as the seller removing the app does; returns how many.

        With a webhook URL, the notices that say so (webhook 6 per shop, 20 for a creator) are
        queued and delivered at once (see :meth:`remove_app`)."""
        return self.remove_app(seller_key).grants

    def remove_app(self, seller_key: str) -> Revocation:
        """:meth:`deauthorize`, telling what happened: grants revoked, notices queued, delivered."""
        grants, queued = self.tiktok.deauthorize(seller_key)
        if queued:
            self.deliver_due()
        return Revocation(grants, len(queued), len(queued) - self.webhooks.outbox.waiting(queued))

    def authorized_shops(
        self, path: str, query: Mapping[str, str], body: bytes, content_type: str, access_token: str | None
    ) -> list[dict[str, str]]:
        """``GET /authorization/202309/shops`` with full signature and token checks."""
        return self.tiktok.authorized_shops(path, query, body, content_type, access_token)

    # ------------------------------------------------------------------ API2Cart (see .api2cart)
    def api2cart_add(self, api_key: str | None, body: object) -> dict[str, Any]:
        """``POST account.cart.add.json``; returns the ``result`` object."""
        return self.api2cart.add_cart(api_key, body)

    def api2cart_update(self, api_key: str | None, store_key: str | None, query: Mapping[str, str]) -> dict[str, Any]:
        """``PUT account.config.update.json``: replace a store's TikTok credentials (from the query)."""
        return self.api2cart.update_config(api_key, store_key, query)

    def api2cart_list(self, api_key: str | None) -> dict[str, Any]:
        return self.api2cart.list_carts(api_key)

    def api2cart_validate(self, api_key: str | None, store_key: str | None) -> dict[str, Any]:
        return self.api2cart.validate_cart(api_key, store_key)

    def api2cart_supported_platforms(self, api_key: str | None) -> dict[str, Any]:
        return self.api2cart.supported_platforms(api_key)
