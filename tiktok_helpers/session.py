"""The runbook's working session: the flow, one method per step, in sandbox or live mode.

``open_session()`` loads the app's settings; in sandbox mode (and unless ``TIKTOK_SANDBOX_URL``
points at a sandbox already running) it starts the embedded sandbox in this process, with its state
kept in ``.sandbox/state.db`` beside ``.env`` so that every notebook (each its own kernel) sees the
same simulated TikTok and API2Cart. All clients share one ``httpx.Client``.

The session owns the flow and nothing else: settings are the app's (:class:`Settings`), a seller's
tokens are only in that seller's :class:`Grant` (:attr:`Session.seller`), persistence is the
store's (:mod:`.store`), an authorization attempt is held by its caller
(:class:`~tiktok_helpers.attempt.AuthorizationAttempt`), bulk refresh is :mod:`.bulk`, and the
sandbox's scripted seller is :mod:`.autopilot`. Notebooks, widgets, the command line, the
benchmarks and the tests all call these methods; nobody re-assembles the flow.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from . import bulk
from .api2cart import Api2CartClient
from .attempt import Authorizing, Progress
from .catcher import RedirectCatcher
from .errors import (
    CallbackPortBusy,
    FieldProblem,
    InvalidAuthCode,
    MissingSettingError,
    ServiceError,
    SettingsError,
    ValidationError,
)
from .grants import Grant
from .http import Transport, new_http_client
from .keeping import Keeping
from .openapi import OpenApiClient, Shop
from .redirect import RedirectResult
from .regions import AuthType, Endpoints, Region
from .results import AuthorizeEvent, AuthorizeStep
from .sandbox import Sandbox
from .sandbox.database import StateFileError
from .secret import Secret
from .settings import PER_SELLER, Mode, Settings, clean_app_form, default_env_path
from .status import Status, describe, exchange_retry, no_seller_error, status_of
from .store import LegacyImport, RunbookStore, sandbox_state_path
from .tokens import TokenClient, TokenSet
from .wire import WireLog

__all__ = ["CallbackPortBusy", "Session", "open_session"]


class Session(Keeping, Authorizing):
    """One runbook session. Use as a context manager, or call :meth:`close`.

    :attr:`settings` are the app's settings (pointing at the running sandbox in sandbox mode);
    :attr:`seller` is the grant the one-seller steps work on. What a token step receives is kept in
    :attr:`last_tokens` and committed to the seller's grant through :attr:`store` at once.
    """

    def __init__(
        self,
        store: RunbookStore,
        *,
        seller: str | None = None,
        sandbox_state: Path | None = None,
        http: httpx.Client | None = None,
        scenario: str | None = None,
    ) -> None:
        self._closed = False
        self._lock = threading.RLock()
        #: The catcher this session started last (the only listener the autopilot follows to).
        self._catcher: RedirectCatcher | None = None
        self.store = store
        settings = store.load()
        self._owns_http = http is None
        self._tls = settings.mode is Mode.LIVE
        #: The shared HTTP client (replaced by :meth:`reopen` after :meth:`close`).
        self.http: httpx.Client = http or new_http_client(timeout=settings.http_timeout, tls=self._tls)
        self.sandbox: Sandbox[Any] | None = None
        #: The last tokens received, kept even if saving them failed (and the grant they refreshed).
        self.last_tokens: TokenSet | None = None
        self._last_for: Grant | None = None
        #: What went over the wire, once :meth:`trace` turned recording on (None until then).
        self.wire: WireLog | None = None
        try:
            #: The seller the one-seller steps work on: chosen with ``seller=``, else the newest grant.
            self.seller: Grant | None = store.grants.find(seller) if seller is not None else store.grants.newest()
            if settings.mode is Mode.SANDBOX and not settings.sandbox_url:
                state_path = sandbox_state or sandbox_state_path(settings.env_path)
                # the sandbox creates its folder itself (0700) and says clearly when it cannot
                self.sandbox = Sandbox(
                    redirect_url=settings.redirect_url,
                    state_path=state_path,
                    scenario=scenario,
                    refresh_reading=settings.sandbox_refresh_reading.value,
                    webhook_url=settings.webhook_url or None,
                )
                self.sandbox.start()
            if scenario is not None and self.sandbox is None:
                where = (
                    f"the sandbox at {settings.sandbox_url} serves its own: start it with "
                    f"`sandbox --scenario {scenario}`"
                    if settings.mode is Mode.SANDBOX
                    else "training scenarios exist only in sandbox mode (empty TIKTOK_APP_KEY in a training copy)"
                )
                raise SettingsError(f"cannot serve scenario {scenario!r} here: {where}")
        except StateFileError as exc:
            self._release()
            raise SettingsError(str(exc)) from None
        except BaseException:
            self._release()
            raise
        #: The app's settings, pointing at the running sandbox in sandbox mode.
        self.settings: Settings = self._point(settings)

    # --- lifecycle ------------------------------------------------------------------------------

    def _release(self) -> None:
        if self._owns_http:
            self.http.close()
        self.store.close()

    def close(self) -> None:
        """Stop the catcher and the embedded sandbox, close the HTTP client and the grant database.

        Idempotent. Every step brings them back when it needs them (:meth:`reopen`): a new HTTP
        client, the sandbox restarted on the same state file. ``with open_session(...)`` releases
        everything on exit.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            catcher, self._catcher = self._catcher, None
            if catcher is not None:
                catcher.stop()
            if self.sandbox is not None:
                self.sandbox.stop()
            self._release()

    @property
    def closed(self) -> bool:
        """True after :meth:`close` until a step (or :meth:`reopen`) brings the session back."""
        return self._closed

    def reopen(self) -> Session:
        """Bring a closed session back (no-op when open): a new HTTP client, and the embedded sandbox
        restarted on the same state file. Every step calls it first; returns self."""
        with self._lock:
            if not self._closed:
                return self
            if self._owns_http:
                self.http = new_http_client(timeout=self.settings.http_timeout, tls=self._tls)
            if self.sandbox is not None:
                try:
                    self.sandbox.start()
                except (OSError, StateFileError) as exc:
                    raise SettingsError(f"the sandbox could not be started again: {exc}") from None
                self.settings = self._point(self.settings)
            self._closed = False
        return self

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _point(self, settings: Settings) -> Settings:
        """``settings`` pointed at the running sandbox; in live mode, a client that verifies TLS."""
        if self.sandbox is not None and self.sandbox.running:
            settings = settings.with_sandbox(self.sandbox.base_url)
        if settings.mode is Mode.LIVE and self._owns_http and not self._tls:
            # Saved credentials switched the mode to live: the sandbox's client has no CA bundle.
            self.http.close()
            self._tls = True
            self.http = new_http_client(timeout=settings.http_timeout, tls=True)
        return settings

    def _adopt(self, fresh: Settings) -> Settings:
        """Make ``fresh`` the app's settings. When the app or mode changed, the seller is the newest
        grant of the new one: a grant is never used with another app or mode."""
        before = (self.settings.mode, self.settings.app_key)
        self.settings = self._point(fresh)
        if (fresh.mode, fresh.app_key) != before:
            self.seller = self.store.grants.newest()
        return self.settings

    def reload(self) -> Settings:
        """Read ``.env`` and the selected seller's grant again, for when they were changed outside
        this session (another notebook, an editor)."""
        self.reopen()
        fresh = self._adopt(self.store.load())
        if self.seller is not None:
            self.seller = self.store.grants.get(self.seller.id)
        return fresh

    # --- sellers ----------------------------------------------------------------------------------

    @property
    def grants_location(self) -> str:
        """Where every seller's grant is kept: the SQLite file beside ``.env``, or the shared PostgreSQL
        database ``TIKTOK_GRANTS_URL`` names (its password masked)."""
        return self.store.grants.location

    @property
    def grants_name(self) -> str:
        """The grant store in a few words: the SQLite file's name, or the masked URL."""
        return self.store.grants.name

    def sellers(self) -> list[Grant]:
        """Every authorized seller's grant of this app and mode, the most recently authorized first."""
        return self.store.grants.all()

    def select_seller(self, wanted: str | Grant) -> Grant:
        """Work on this seller (open_id, seller name or row id) in the one-seller steps."""
        self.seller = wanted if isinstance(wanted, Grant) else self.store.grants.find(wanted)
        return self.seller

    def _grant(self, seller: str | Grant | None) -> Grant:
        """The grant a step works on, as stored now."""
        if isinstance(seller, Grant):
            return self.store.grants.get(seller.id)
        if seller is not None:
            return self.store.grants.find(seller)
        if self.seller is None:
            raise no_seller_error(self.settings)
        return self.store.grants.get(self.seller.id)

    def _keep(self, grant: Grant) -> Grant:
        """A step saved ``grant``: when it is the selected seller's, the selection follows it."""
        if self.seller is None or self.seller.id == grant.id:
            self.seller = grant
        return grant

    def import_legacy(self) -> LegacyImport:
        """Import a single-seller ``.env``'s tokens as a grant of this app and mode (once; again is a
        no-op). The imported seller becomes the selected one."""
        done = self.store.import_legacy()
        self.settings = self._point(self.store.load())
        if done.grant is not None:
            self.seller = done.grant
        return done

    def status(self) -> Status:
        """Where the selected seller stands and what to do next (reads and sends nothing)."""
        return status_of(self.settings, self.seller)

    def save(self, updates: Mapping[str, str | Secret | None]) -> Settings:
        """Validate and save the app's settings (``None`` removes one); nothing is saved if any is
        wrong. A seller's tokens are not settings: the steps that receive them save them."""
        per_seller = [name for name in updates if name in PER_SELLER]
        if per_seller:
            raise ValidationError([FieldProblem(name, PER_SELLER[name]) for name in per_seller])
        return self._adopt(self.store.save(updates))

    def save_app(
        self,
        *,
        region: Region | str,
        app_type: str,
        app_key: str,
        app_secret: Secret | str,
        service_id: str,
        redirect_url: str,
        auth_type: AuthType | str | None = None,
    ) -> Settings:
        """The Partner Center form: check every field (all problems reported at once, by the names
        on the form) and save them together, or save nothing."""
        cleaned = clean_app_form(
            region=region,
            app_type=app_type,
            app_key=app_key,
            app_secret=app_secret,
            service_id=service_id,
            redirect_url=redirect_url,
            auth_type=auth_type,
        )
        return self._adopt(self.store.save_cleaned(cleaned))

    # --- where and who ------------------------------------------------------------------------

    def describe(self) -> str:
        """One line a person can read: the mode and where requests go."""
        return describe(self.settings)

    @property
    def is_sandbox(self) -> bool:
        return self.settings.mode is Mode.SANDBOX

    @property
    def mode(self) -> Mode:
        return self.settings.mode

    @property
    def endpoints(self) -> Endpoints:
        return self.settings.endpoints()

    def trace(self) -> WireLog:
        """Record what goes over the wire from now on: every request of every client this session
        builds (token, Open API, API2Cart), each attempt with its reply, secrets masked before they
        are kept (:mod:`tiktok_helpers.wire`). Returns the log, the same one on every call."""
        with self._lock:
            if self.wire is None:
                self.wire = WireLog()
            return self.wire

    def _transport(self, base_url: str) -> Transport:
        """How a client reaches ``base_url``: this session's shared HTTP client and timeout, and its
        wire log once :meth:`trace` was called."""
        return Transport(base_url, client=self.reopen().http, timeout=self.settings.http_timeout, wire=self.wire)

    def token_client(self) -> TokenClient:
        s = self.reopen().settings
        s.require("TIKTOK_APP_KEY", "TIKTOK_APP_SECRET")
        return TokenClient(s.app_key, s.app_secret, self._transport(self.endpoints.token_base))

    def open_api(self, access_token: Secret | str | None = None) -> OpenApiClient:
        s = self.reopen().settings
        token = Secret(access_token) if access_token is not None else self._grant(None).access_token
        if not token:
            raise MissingSettingError("no access token yet: exchange an auth code first (notebook 03)")
        return OpenApiClient(s.app_key, s.app_secret, token, self._transport(self.endpoints.open_api_base))

    def api2cart(self) -> Api2CartClient:
        s = self.reopen().settings
        s.require("API2CART_API_KEY")
        return Api2CartClient(s.api2cart_api_key, self._transport(self.endpoints.api2cart_base))

    def save_code(self, result: RedirectResult) -> None:
        """Save a caught auth code (mode 0600) for the exchange step, with when it arrived."""
        self.settings = self._point(self.store.save_code(result))

    # --- step: tokens ---------------------------------------------------------------------------

    def _received(
        self, tokens: TokenSet, *, save: bool, code_spent: bool = False, refreshed: Grant | None = None
    ) -> Grant | None:
        """Keep a token reply in memory at once, then commit it to its seller's grant before anything
        else is done with it (the code it spent is forgotten only after that); the saved grant."""
        self.last_tokens, self._last_for = tokens, refreshed
        if not save:
            return None
        try:
            grant = self.store.save_tokens(
                tokens, grant_id=refreshed.id if refreshed else None, refreshed=refreshed is not None
            )
        except bulk.COMMIT_ERRORS as exc:
            raise bulk.not_saved(tokens, refreshed, self.grants_location, exc, bulk.KEPT_IN_SESSION) from None
        if refreshed is None:
            self.seller = grant  # a new authorization: that seller is the one worked on now
        else:
            self._keep(grant)
        if code_spent:
            self.settings = self._point(self.store.forget_code())
        return grant

    def save_tokens(self, tokens: TokenSet | None = None, *, seller: Grant | None = None) -> None:
        """Save a token reply (by default the last one received, e.g. after a failed save; ``seller``:
        the grant a refreshed pair belongs to, e.g. a bulk refresh's ``outcome.seller``)."""
        if tokens is None:
            tokens, seller = self.last_tokens, seller or self._last_for
        if tokens is None:
            raise MissingSettingError("there are no tokens to save yet")
        self._received(tokens, save=True, refreshed=seller)

    def pending_code(self) -> Secret:
        """The auth code saved by the authorize step, not yet exchanged."""
        if not self.settings.auth_code:
            raise MissingSettingError("no auth code waiting: approve the app and catch the code (notebook 02)")
        return self.settings.auth_code

    def exchange(self, code: RedirectResult | Secret | str | None = None, *, save: bool = True) -> TokenSet:
        """Trade the auth code (by default the one saved by the authorize step) for tokens and save them.

        A code works once: after the exchange, successful or refused as invalid, the saved code is
        removed.
        """
        value = self.pending_code() if code is None else code.code if isinstance(code, RedirectResult) else Secret(code)
        spent = bool(self.settings.auth_code) and self.settings.auth_code == value

        def run(stop: object) -> TokenSet:  # a reply in flight is saved even if a stop comes meanwhile
            tokens = self.token_client().exchange(value)
            self._received(tokens, save=save, code_spent=spent)
            return tokens

        try:
            return bulk.shielded(run)
        except InvalidAuthCode:
            if spent and save:
                self.settings = self._point(self.store.forget_code())
            raise

    def _exchange_saved(self, emit: Progress) -> TokenSet:
        try:
            return self.exchange()
        except ServiceError as exc:
            retry = exchange_retry(self.settings, exc)
            if retry is not None:
                emit(AuthorizeEvent(AuthorizeStep.NOTE, retry.text, command=retry.command))
            raise

    def authorized_shops(self, access_token: Secret | str | None = None, *, save_cipher: bool = True) -> list[Shop]:
        """Prove the selected seller's access token (or ``access_token``) works: the shops it may act
        on, with their ciphers, saved on the seller's grant."""
        shops = self.open_api(access_token).get_authorized_shops()
        if save_cipher and access_token is None and self.seller is not None:
            self._keep(self.store.save_shops(self.seller, shops))  # the token works: verified now
        return shops


def open_session(
    env_path: Path | str | None = None,
    *,
    seller: str | None = None,
    environ: Mapping[str, str] | None = None,
    sandbox_state: Path | None = None,
    http: httpx.Client | None = None,
    scenario: str | None = None,
) -> Session:
    """Load settings and open a :class:`Session` (starting the sandbox in sandbox mode), working on
    ``seller`` (open_id, seller name or row id; default: the most recently authorized). ``scenario``:
    sandbox mode only, the embedded sandbox serves this training scenario (:mod:`.sandbox.scenarios`)."""
    path = Path(env_path) if env_path is not None else default_env_path()
    return Session(
        RunbookStore(path, environ), seller=seller, sandbox_state=sandbox_state, http=http, scenario=scenario
    )
