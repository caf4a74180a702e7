"""After day one: refreshing sellers, their stores in API2Cart, and who refreshes each seller.

The part of :class:`~tiktok_helpers.session.Session` that keeps sellers connected, in its own file
(as :class:`~tiktok_helpers.attempt.Authorizing` is the authorize part): what it needs from the
session is declared on :class:`Keeping`.

One refresher per seller. TikTok does not document whether a refresh returns a new refresh token
and retires the old one, so two parties refreshing one seller independently could each leave the
other holding a dead token. Each grant records who refreshes it
(:class:`~tiktok_helpers.grant_rows.Refresher`): the runbook, or API2Cart from the moment the
seller's store is added there (it was given the refresh token, and obtains access tokens itself).

* :meth:`Keeping.refresh_all` (``refresh --all``, notebook 05, the keep-alive, the benchmarks)
  leaves API2Cart's sellers alone, with the reason (:func:`tiktok_helpers.bulk.left_alone`);
* refreshing one seller on purpose (:meth:`Keeping.refresh`) works for any seller; when the seller
  has a store in API2Cart, the new refresh token is handed to the store in the same step, under
  the seller's refresh lock (``account.config.update``, then ``cart.validate``), and the result
  says what happened (:class:`~tiktok_helpers.results.HandOver`, with the command to retry). The
  new pair is saved first, in every case;
* :meth:`Keeping.set_refresher` switches a seller either way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from . import bulk
from .api2cart import Api2CartClient, Api2CartStore
from .errors import MissingSettingError, TikTokHelperError
from .grants import Grant, NoticeResult, Refresher
from .results import HandOver, RefreshOutcome, RefreshResult, RefreshSummary
from .secret import Secret
from .tokens import TokenClient, TokenSet
from .webhook_receiver import Receiver, make_app

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from .settings import Settings
    from .store import RunbookStore
    from .webhooks import Notice

__all__ = ["Keeping", "give_credentials", "hand_over", "webhook_app"]


def webhook_app(
    store: RunbookStore, settings: Settings, *, log: Callable[[str], None] | None = None
) -> WSGIApplication:
    """The WSGI application that hears TikTok's webhooks for this app and applies each verified notice
    to the grants of ``store`` (:meth:`~tiktok_helpers.grants.GrantStore.record_notice`: once per
    notification id). Verified with the App Key and App Secret of ``settings``."""
    settings.require("TIKTOK_APP_KEY", "TIKTOK_APP_SECRET")
    return make_app(
        app_key=settings.app_key,
        app_secret=settings.app_secret,
        apply=lambda notice: store.grants.record_notice(notice).outcome,
        log=log,
    )


def give_credentials(client: Api2CartClient, settings: Settings, grant: Grant) -> int | None:
    """``account.config.update`` for ``grant``'s store: the app's App Key and App Secret, and the refresh
    token (and access token) the grant holds now; API2Cart's ``updated_items``. Raises a refusal."""
    settings.require("TIKTOK_APP_KEY", "TIKTOK_APP_SECRET")
    return client.update_tiktok_store(
        grant.api2cart_store_key,
        app_key=settings.app_key,
        app_secret=settings.app_secret,
        refresh_token=grant.refresh_token,
        access_token=grant.access_token or None,
    )


def hand_over(client: Api2CartClient, settings: Settings, grant: Grant) -> HandOver:
    """Give ``grant``'s store in API2Cart the refresh token (and access token) the grant holds now
    (:func:`give_credentials`), then ask API2Cart to confirm the store works (``cart.validate``).
    Never raises for a refusal: the :class:`HandOver` says which call failed and how to retry."""
    key = grant.api2cart_store_key
    try:
        updated = give_credentials(client, settings, grant)
    except TikTokHelperError as exc:
        return HandOver(key, False, stage="update", error=exc, retry=f"api2cart update --seller #{grant.id}")
    try:
        status = client.validate_store(key)
    except TikTokHelperError as exc:
        return HandOver(
            key, False, updated, stage="validate", error=exc, retry=f"api2cart validate --seller #{grant.id}"
        )
    return HandOver(key, True, updated, status)


class Keeping:
    """Refreshing, the API2Cart store steps and who refreshes each seller, for a session."""

    settings: Settings
    store: RunbookStore
    seller: Grant | None
    sandbox: Any

    # Provided by the session.
    def reopen(self) -> Keeping:
        raise NotImplementedError

    def _grant(self, seller: str | Grant | None) -> Grant:
        raise NotImplementedError

    def _keep(self, grant: Grant) -> Grant:
        raise NotImplementedError

    def _received(
        self, tokens: TokenSet, *, save: bool, code_spent: bool = False, refreshed: Grant | None = None
    ) -> Grant | None:
        raise NotImplementedError

    def token_client(self) -> TokenClient:
        raise NotImplementedError

    def api2cart(self) -> Api2CartClient:
        raise NotImplementedError

    @property
    def grants_location(self) -> str:
        raise NotImplementedError

    # --- refreshing -----------------------------------------------------------------------------

    def _hand_over(self, grant: Grant) -> HandOver:
        try:
            client = self.api2cart()
        except TikTokHelperError as exc:  # no API2Cart key in these settings
            return HandOver(grant.api2cart_store_key, False, stage="update", error=exc,
                            retry=f"api2cart update --seller #{grant.id}")  # fmt: skip
        return hand_over(client, self.settings, grant)

    def refresh(self, seller: str | Grant | None = None, *, save: bool = True) -> RefreshResult:
        """Refresh a seller's access token (default: the selected seller), whoever refreshes them,
        under the seller's lock, with the refresh token their grant holds now, committing the new
        pair on arrival (:class:`bulk.Refresher`); if another refresh landed meanwhile, nothing is sent
        (``result.already_refreshed_at``). A seller with a store in API2Cart: the saved refresh token
        is handed to the store in the same step (``result.handover``)."""
        grant = self._grant(seller)

        def commit(tokens: TokenSet, refreshed: Grant, round_id: str) -> Grant:
            return self._received(tokens, save=save, refreshed=refreshed) or refreshed

        one = bulk.refresher(
            self.store.grants, self.token_client().refresh, commit, hand_over=self._hand_over if save else None
        ).one
        result, now = bulk.settled(bulk.shielded(lambda stop: one(grant, stop)), self.store.grants.get)
        self._keep(now)
        return result

    def refresh_all(
        self,
        *,
        concurrency: int = 8,
        due_within: timedelta | None = None,
        on_progress: Callable[[RefreshOutcome, int, int], None] | None = None,
    ) -> RefreshSummary:
        """Refresh the access token of every seller the runbook refreshes, ``concurrency`` at a time on
        one shared HTTP client (:func:`bulk.refresh_all`: as :meth:`refresh` each, one failure never
        stopping the others). Sellers API2Cart refreshes, or who removed the app, are skipped with the
        reason; a refreshed seller with a store in API2Cart hands it the new token."""
        client = self.token_client()

        def commit(tokens: TokenSet, grant: Grant, round_id: str) -> Grant:
            return self.store.save_tokens(tokens, grant_id=grant.id, refreshed=True, round_id=round_id)

        refresher = bulk.refresher(
            self.store.grants, client.refresh, commit, bulk.KEPT_IN_OUTCOME, skip=bulk.left_alone,
            hand_over=self._hand_over,
        )  # fmt: skip
        summary = bulk.refresh_all(
            self.store.grants.all(), refresher, concurrency=concurrency, due_within=due_within, on_progress=on_progress
        )
        for outcome in summary.refreshed:
            if outcome.grant is not None and self.seller is not None and outcome.grant.id == self.seller.id:
                self.seller = outcome.grant
        return summary

    def set_refresher(self, seller: str | Grant | None, refresher: Refresher | str) -> tuple[Grant, HandOver | None]:
        """Make ``refresher`` the one party that refreshes this seller (default: the selected seller).

        To API2Cart: the seller must have a store there, and it is first given the refresh token
        stored here (under the seller's lock, confirmed with ``cart.validate``): if that fails nothing
        is switched and the error is raised. To the runbook: recorded; every refresh made here then
        hands the store the new token. Returns the grant as saved and the hand-over made, if any.
        """
        wanted = Refresher(refresher)
        grant = self._grant(seller)
        handover = None
        with self.store.grants.seller_locked(grant.id, what=grant.label):
            grant = self._grant(grant)
            if wanted is Refresher.API2CART:
                if not grant.api2cart_store_key:
                    raise MissingSettingError(
                        f"{grant.label} has no store in API2Cart: add it first (notebook 04, or `api2cart add`); "
                        "API2Cart can refresh only a seller whose store it holds"
                    )
                handover = self._hand_over(grant)
                if not handover.done and handover.error is not None:
                    raise handover.error
            saved = self.store.grants.set_refresher(grant.id, wanted)
        return self._keep(saved), handover

    # --- webhooks -------------------------------------------------------------------------------

    def record_notice(self, notice: Notice) -> NoticeResult:
        """Apply a verified TikTok webhook notice to this app's grants, once per notification id."""
        return self.store.grants.record_notice(notice)

    def listen_for_webhooks(
        self, *, host: str = "127.0.0.1", port: int = 0, log: Callable[[str], None] | None = None
    ) -> Receiver:
        """Start a webhook receiver for this app on ``host``:``port`` (0: any free port), in this
        process, and return it (``receiver.url``; ``receiver.stop()``). In sandbox mode the embedded
        sandbox is pointed at it, so its webhooks (a sample seller removing the app, an authorization
        ending) come here. Live, TikTok sends only to an https URL with a domain name: see notebook 05."""
        receiver = Receiver(webhook_app(self.store, self.reopen().settings, log=log), host=host, port=port)
        receiver.start()
        if self.sandbox is not None:
            self.sandbox.webhook_url = receiver.url
        return receiver

    # --- step: API2Cart ---------------------------------------------------------------------------

    def _with_store(self, seller: str | Grant | None) -> Grant:
        grant = self._grant(seller)
        if not grant.api2cart_store_key:
            raise MissingSettingError(
                f"{grant.label} has no store in API2Cart yet: add it first (notebook 04, or `api2cart add`)"
            )
        return grant

    def add_store(self, *, custom_label: str | None = None, store_url: str | None = None, save: bool = True) -> Secret:
        """Add the selected seller's TikTok Shop store to API2Cart with the app's credentials and the
        refresh token the seller's grant holds now; save the store key on the grant. From then on
        API2Cart refreshes this seller (:meth:`set_refresher` switches it back)."""
        s = self.reopen().settings
        s.require("TIKTOK_APP_KEY", "TIKTOK_APP_SECRET")
        grant = self._grant(None)
        store_key = self.api2cart().add_tiktok_store(
            app_key=s.app_key,
            app_secret=s.app_secret,
            refresh_token=grant.refresh_token,
            store_url=store_url,
            custom_label=custom_label,
        )
        if save:
            self._keep(self.store.save_store_key(grant, store_key))
        return store_key

    def update_store(self, seller: str | Grant | None = None) -> Secret:
        """Give API2Cart the refresh token the seller's grant holds now (``account.config.update``) for
        the store key saved on it (default: the selected seller); returns that store key.

        A refresh made here does this itself; this is the retry when that hand-over failed. Never
        repeated automatically; nothing is saved locally.
        """
        grant = self._with_store(seller)
        self.settings.require("TIKTOK_APP_KEY", "TIKTOK_APP_SECRET")  # before the API2Cart key is asked for
        give_credentials(self.api2cart(), self.settings, grant)
        return grant.api2cart_store_key

    def list_stores(self) -> list[Api2CartStore]:
        return self.api2cart().list_stores()

    def validate_store(self, store_key: Secret | str | None = None, *, seller: str | Grant | None = None) -> Secret:
        """Ask API2Cart whether a store's credentials work (``cart.validate``): the given store key,
        else the one saved on the seller's grant (default: the selected seller); returns the key."""
        key = Secret(store_key) if store_key is not None else self._with_store(seller).api2cart_store_key
        self.api2cart().validate_store(key)
        return key
