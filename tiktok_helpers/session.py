"""The runbook's working session: settings turned into clients, in sandbox or live mode.

``open_session()`` loads the settings; in sandbox mode (and unless ``TIKTOK_SANDBOX_URL`` points
at a sandbox already running) it starts the embedded sandbox in this process, with its state kept
in ``.sandbox/state.db`` beside ``.env`` so that every notebook (each its own kernel) sees the
same simulated TikTok and API2Cart. All clients share one ``httpx.Client``.

Each step of the runbook is one method here, so notebooks, widgets and the command line call
exactly the same code, and tests can too.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urlsplit

import httpx

from .api2cart import Api2CartClient, Api2CartStore
from .authlink import AuthorizationLink, build_authorization_link
from .display import sandbox_approval_message
from .errors import (
    CallbackPortBusy,
    FieldProblem,
    InvalidAuthCode,
    MissingSettingError,
    ServiceError,
    SettingsError,
    TikTokHelperError,
    ValidationError,
)
from .grants import Grant
from .http import new_http_client
from .openapi import OpenApiClient, Shop
from .redirect import RedirectResult, parse_redirect
from .regions import AuthType, Endpoints, Region
from .results import AuthorizeEvent, AuthorizeResult, AuthorizeStep, RefreshOutcome, RefreshStatus, RefreshSummary
from .secret import Secret
from .settings import Mode, Settings, clean_updates, default_env_path
from .status import Status, exchange_retry, status_of
from .store import GRANT_SETTINGS, RunbookStore, sandbox_state_path, with_grant
from .tokens import TokenClient, TokenSet

if TYPE_CHECKING:
    from .catcher import CatcherStatus, RedirectCatcher
    from .sandbox import Sandbox

__all__ = ["CallbackPortBusy", "Session", "open_session"]


#: Setting names as the Partner Center form labels them.
_FORM_LABELS: Final = {
    "TIKTOK_REGION": "Region",
    "TIKTOK_APP_TYPE": "App type",
    "TIKTOK_REDIRECT_URL": "Redirect URL",
    "TIKTOK_AUTH_TYPE": "Authorization type",
    "TIKTOK_APP_KEY": "App Key",
    "TIKTOK_APP_SECRET": "App Secret",
    "TIKTOK_SERVICE_ID": "service_id",
}

Progress = Callable[[AuthorizeEvent], None]


def _ignore(event: AuthorizeEvent) -> None:
    """The default progress callback: nobody is listening."""


class Session:
    """One runbook session. Use as a context manager, or call :meth:`close`.

    The session owns the flow: each step of the runbook is one method, and :meth:`authorize` runs
    the whole authorization (link, catch or paste, exchange, verify). What a step receives is kept
    in memory (:attr:`settings`, :attr:`last_tokens`) and persisted once through :attr:`store`.
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
        self._revive_lock = threading.RLock()
        #: The catcher this session started last (the only listener ``approve_in_sandbox`` follows to).
        self._catcher: RedirectCatcher | None = None
        self.store = store
        settings = store.load()
        #: The seller the one-seller steps work on: chosen with ``seller=``, else the newest grant.
        self.seller: Grant | None = store.grants.find(seller) if seller else store.grants.newest()
        self._app = settings
        self._owns_http = http is None
        self._tls = settings.mode is Mode.LIVE
        self._http = http or new_http_client(timeout=settings.http_timeout, tls=self._tls)
        self.sandbox: Sandbox[Any] | None = None
        #: The last tokens received, kept even if saving them failed.
        self.last_tokens: TokenSet | None = None
        self.last_link: AuthorizationLink | None = None
        if settings.mode is Mode.SANDBOX and not settings.sandbox_url:
            from .sandbox import Sandbox
            from .sandbox.database import StateFileError

            state_path = sandbox_state or sandbox_state_path(settings.env_path)
            try:  # the sandbox creates its folder itself (0700) and says clearly when it cannot
                self.sandbox = Sandbox(
                    redirect_url=settings.redirect_url, state_path=state_path, scenario=scenario
                ).start()
            except StateFileError as exc:
                self._close_quietly()
                raise SettingsError(str(exc)) from None
        if scenario is not None and self.sandbox is None:
            self._close_quietly()
            where = (
                f"the sandbox at {settings.sandbox_url} serves its own: start it with `sandbox --scenario {scenario}`"
                if settings.mode is Mode.SANDBOX
                else "training scenarios exist only in sandbox mode (empty TIKTOK_APP_KEY in a training copy)"
            )
            raise SettingsError(f"cannot serve scenario {scenario!r} here: {where}")
        self.settings = settings
        self._adopt(settings)

    # --- lifecycle ------------------------------------------------------------------------------

    def _close_quietly(self) -> None:
        """Release what the constructor opened before it failed."""
        if self._owns_http:
            self._http.close()
        self.store.close()

    def close(self) -> None:
        """Stop the catcher and the embedded sandbox, close the HTTP client and the grant database.

        Idempotent. The session stays usable: the next step (or widget) that needs them brings them
        back (:meth:`reopen`): a new HTTP client, the sandbox restarted on the same state file, so it
        sees the same data. ``with open_session(...)`` still releases everything on exit.
        """
        with self._revive_lock:
            if self._closed:
                return
            self._closed = True
            catcher, self._catcher = self._catcher, None
            if catcher is not None:
                catcher.stop()
            if self.sandbox is not None:
                self.sandbox.stop()
            if self._owns_http:
                self._http.close()
            self.store.close()

    @property
    def closed(self) -> bool:
        """True after :meth:`close` until a step (or :meth:`reopen`) brings the session back."""
        return self._closed

    def reopen(self) -> Session:
        """Bring a closed session back (no-op when open): a new HTTP client, and the embedded sandbox
        restarted on the same state file. Steps call it themselves; returns self."""
        with self._revive_lock:
            if not self._closed:
                return self
            if self._owns_http:
                self._http = new_http_client(timeout=self._app.http_timeout, tls=self._tls)
            if self.sandbox is not None:
                from .sandbox.database import StateFileError

                try:
                    self.sandbox.start()
                except (OSError, StateFileError) as exc:
                    raise SettingsError(f"the sandbox could not be started again: {exc}") from None
            self._closed = False
            self._adopt(self._app)
        return self

    @property
    def http(self) -> httpx.Client:
        """The shared HTTP client (a new one after :meth:`close`)."""
        if self._closed:
            self.reopen()
        return self._http

    @property
    def settings(self) -> Settings:
        """The selected seller's settings (pointing at the running sandbox, restarted if closed)."""
        if self._closed:
            self.reopen()
        return self._settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        self._settings = value

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _adopt(self, fresh: Settings) -> Settings:
        """Make ``fresh`` the app's settings (the selected seller's grant applied), keeping the sandbox."""
        if self._closed:
            self._app = fresh
            self.reopen()  # adopts self._app with the sandbox running again
            return self._settings
        self._app = fresh
        fresh = with_grant(fresh, self.seller)
        if self.sandbox is not None:
            fresh = fresh.with_sandbox(self.sandbox.base_url)
        if fresh.mode is Mode.LIVE and self._owns_http and not self._tls:
            # Saved credentials switched the mode to live: the sandbox's client has no CA bundle.
            self._http.close()
            self._tls = True
            self._http = new_http_client(timeout=fresh.http_timeout, tls=True)
        self.settings = fresh
        return fresh

    def reload(self) -> Settings:
        """Read ``.env`` and the selected seller's grant again, for when they were changed outside
        this session (another notebook, an editor). What this session saves it already knows: no
        reload is needed after a step."""
        if self.seller is not None:
            self.seller = self.store.grants.get(self.seller.id)
        return self._adopt(self.store.load())

    # --- sellers ----------------------------------------------------------------------------------

    @property
    def grants_path(self) -> Path:
        """The database that keeps every seller's grant (beside ``.env``)."""
        return self.store.grants.path

    def sellers(self) -> list[Grant]:
        """Every authorized seller's grant, the most recently authorized first."""
        return self.store.grants.all()

    def select_seller(self, wanted: str | Grant) -> Grant:
        """Work on this seller (open_id, seller name or row id) in the one-seller steps."""
        grant = wanted if isinstance(wanted, Grant) else self.store.grants.find(wanted)
        self._use(grant)
        return grant

    def _use(self, grant: Grant) -> None:
        self.seller = grant
        self._adopt(self._app)

    def status(self) -> Status:
        """Where the selected seller stands and what to do next (reads and sends nothing)."""
        return status_of(self.settings)

    def save(self, updates: Mapping[str, str | Secret | None]) -> Settings:
        """Validate and save the app's settings (``None`` removes one); nothing is saved if any is
        wrong. A seller's tokens are not settings: the steps that receive them save them."""
        per_seller = [name for name in updates if name in GRANT_SETTINGS]
        if per_seller:
            raise ValidationError(
                [
                    FieldProblem(
                        name, "is kept per seller in the grant database: authorize, refresh or add the store to save it"
                    )
                    for name in per_seller
                ]
            )
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
        updates: dict[str, str | Secret | None] = {
            "TIKTOK_REGION": str(getattr(region, "value", region)),
            "TIKTOK_APP_TYPE": app_type,
            "TIKTOK_REDIRECT_URL": redirect_url,
            "TIKTOK_APP_KEY": app_key,
            "TIKTOK_APP_SECRET": app_secret,
            "TIKTOK_SERVICE_ID": service_id,
        }
        if auth_type is not None:
            updates["TIKTOK_AUTH_TYPE"] = str(getattr(auth_type, "value", auth_type))
        try:
            cleaned = clean_updates(updates)
        except ValidationError as exc:
            labelled = (FieldProblem(_FORM_LABELS.get(p.field, p.field), p.message) for p in exc.problems)
            raise ValidationError(list(dict.fromkeys(labelled))) from None
        return self._adopt(self.store.save_cleaned(cleaned))

    # --- where and who ------------------------------------------------------------------------

    def describe(self) -> str:
        """One line a person can read: the mode and where requests go."""
        s = self.settings
        if s.mode is Mode.SANDBOX:
            where = f"the embedded sandbox at {s.sandbox_url}" if s.sandbox_url else "the sandbox (not started)"
            app = "the sandbox's sample app" if s.using_sample_app else f"App Key {s.app_key}"
            return f"Mode: sandbox. Requests go to {where}, as {app}. Settings file: {s.env_path.name}."
        ends = s.endpoints()
        return (
            f"Mode: live ({s.region.value}). Tokens from {ends.token_base}, Open API at {ends.open_api_base}, "
            f"API2Cart at {ends.api2cart_base}. Settings file: {s.env_path.name}."
        )

    @property
    def is_sandbox(self) -> bool:
        return self.settings.mode is Mode.SANDBOX

    @property
    def mode(self) -> Mode:
        return self.settings.mode

    @property
    def endpoints(self) -> Endpoints:
        return self.settings.endpoints()

    def token_client(self) -> TokenClient:
        s = self.settings
        s.require("TIKTOK_APP_KEY", "TIKTOK_APP_SECRET")
        return TokenClient(
            s.app_key, s.app_secret, base_url=self.endpoints.token_base, client=self.http, timeout=s.http_timeout
        )

    def open_api(self, access_token: Secret | str | None = None) -> OpenApiClient:
        s = self.settings
        token = Secret(access_token) if access_token is not None else s.access_token
        if not token:
            raise MissingSettingError("no access token yet: exchange an auth code first (notebook 03)")
        return OpenApiClient(
            s.app_key,
            s.app_secret,
            token,
            base_url=self.endpoints.open_api_base,
            client=self.http,
            timeout=s.http_timeout,
        )

    def api2cart(self) -> Api2CartClient:
        s = self.settings
        s.require("API2CART_API_KEY")
        return Api2CartClient(
            s.api2cart_api_key, base_url=self.endpoints.api2cart_base, client=self.http, timeout=s.http_timeout
        )

    # --- step: authorize ------------------------------------------------------------------------

    def authorize(
        self,
        *,
        auth_type: AuthType | str | None = None,
        pasted: str | None = None,
        prompt: Callable[[AuthorizationLink], str] | None = None,
        sandbox_decision: Literal["authorize", "cancel"] | None = None,
        sandbox_seller: str | None = None,
        wait: float = 300.0,
        on_progress: Progress | None = None,
    ) -> AuthorizeResult:
        """The whole authorization: link -> the redirect back -> save the code -> exchange -> verify.

        How the redirect comes back:

        * default: a catcher listens on the app's loopback redirect URL (the link's ``state`` is
          checked) for up to ``wait`` seconds while a person approves in a browser;
        * ``prompt``: no catcher; ``prompt(link)`` returns what the person pasted (state checked);
        * ``pasted``: an address (or code) already in hand; no link is built, so its state cannot
          be checked;
        * ``sandbox_decision``: sandbox only, the autopilot presses Authorize or Cancel on the consent
          page (through the catcher, or in place of the person when ``prompt`` is given), logged in
          as ``sandbox_seller`` (a sample seller's key or name; default: the one of the region).

        The code is saved before the exchange, so a failed exchange can be retried with
        :meth:`exchange` within the code's 30 minutes. Progress goes to ``on_progress``. Returns
        the link, the redirect, the tokens (saved) and the authorized shops.
        """
        emit = on_progress or _ignore
        if sandbox_decision is not None and not self.is_sandbox:
            raise ValidationError(
                [
                    FieldProblem(
                        "sandbox approval",
                        "only exists in sandbox mode: in live mode the seller presses Authorize in a browser",
                    )
                ]
            )
        if sandbox_seller is not None and sandbox_decision is None:
            raise ValidationError([FieldProblem("sandbox seller", "only goes with a sandbox approval")])
        if pasted is not None and sandbox_decision is not None:
            raise ValidationError(
                [FieldProblem("sandbox approval", "cannot answer an address that was pasted: give one or the other")]
            )
        link: AuthorizationLink | None = None
        if pasted is not None:
            redirect = self._read_pasted(pasted, emit)
        else:
            link = self.authorization_link(auth_type)
            if prompt is not None:
                emit(AuthorizeEvent(AuthorizeStep.LINK, "Open the link and approve.", link=link))
                text = (
                    self._autopilot(link, sandbox_decision, sandbox_seller, follow=False, emit=emit)
                    if sandbox_decision
                    else prompt(link)
                )
                redirect = parse_redirect(text, link.state)  # this link's state, whatever was built since
            else:
                redirect = self._catch(
                    link, wait=wait, sandbox_decision=sandbox_decision, sandbox_seller=sandbox_seller, emit=emit
                )
        emit(AuthorizeEvent(AuthorizeStep.CAUGHT, "The redirect came back with a code."))
        self.save_code(redirect)
        emit(AuthorizeEvent(AuthorizeStep.CODE_SAVED, f"The code is saved in {self.settings.env_path.name}."))
        tokens = self._exchange_saved(emit)
        emit(AuthorizeEvent(AuthorizeStep.EXCHANGED, f"Tokens received and saved to {self.settings.env_path.name}."))
        shops = self.authorized_shops()
        emit(AuthorizeEvent(AuthorizeStep.VERIFIED, f"The access token works: {len(shops)} shop(s) authorized."))
        return AuthorizeResult(link, redirect, tokens, tuple(shops), self.settings.env_path, self.grants_path)

    def _catch(
        self,
        link: AuthorizationLink,
        *,
        wait: float,
        sandbox_decision: Literal["authorize", "cancel"] | None,
        sandbox_seller: str | None,
        emit: Progress,
    ) -> RedirectResult:
        def report(status: CatcherStatus) -> None:
            emit(AuthorizeEvent(AuthorizeStep.WAITING, status.message, catcher=status))

        try:
            catcher = self.start_catcher(link, timeout=wait, on_progress=report)
        except ValidationError:
            emit(
                AuthorizeEvent(
                    AuthorizeStep.NOTE,
                    "Without the catcher, the address the browser lands on after Authorize can be pasted instead.",
                )
            )
            raise
        with catcher:
            emit(
                AuthorizeEvent(
                    AuthorizeStep.LINK, "Open the link and approve.", link=link, listening=catcher.redirect_url
                )
            )
            report(catcher.status())
            if sandbox_decision is not None:
                self._autopilot(link, sandbox_decision, sandbox_seller, follow=True, emit=emit)
            return catcher.wait()

    def _autopilot(
        self,
        link: AuthorizationLink,
        decision: Literal["authorize", "cancel"],
        seller: str | None,
        *,
        follow: bool,
        emit: Progress,
    ) -> str:
        button = "Authorize" if decision == "authorize" else "Cancel"
        who = f"sample seller {seller!r}" if seller else "the sample seller"
        emit(AuthorizeEvent(AuthorizeStep.NOTE, f"Sandbox: pressing {button} on the consent page as {who}."))
        return self.approve_in_sandbox(link, decision=decision, seller=seller, follow=follow)

    def authorization_link(
        self, auth_type: AuthType | str | None = None, state: str | None = None
    ) -> AuthorizationLink:
        """Build (and remember) the authorization link for the configured region and type."""
        s = self.settings
        link = build_authorization_link(
            auth_type or s.auth_type,
            region=s.region,
            service_id=s.service_id,
            app_key=s.app_key,
            state=state,
            endpoints=self.endpoints,
        )
        self.last_link = link
        return link

    def start_catcher(
        self,
        link: AuthorizationLink | None = None,
        *,
        timeout: float = 300.0,
        on_progress: Callable[[CatcherStatus], None] | None = None,
    ) -> RedirectCatcher:
        """Listen for the redirect on the configured loopback redirect URL, checking the link's state.

        When the port cannot be listened on (another program holds it), raises
        :class:`CallbackPortBusy` naming the port and the ways on; nothing is sent anywhere.
        The catcher is remembered: :meth:`approve_in_sandbox` follows only to it.
        """
        from .catcher import RedirectCatcher  # http.server: only needed here

        link = link or self.last_link
        redirect_url = self.settings.redirect_url
        catcher = RedirectCatcher(  # a redirect URL it cannot listen on at all: a settings problem
            redirect_url,
            expected_state=link.state if link else None,
            timeout=timeout,
            on_progress=on_progress,
        )
        try:
            catcher.start()
        except ValidationError as exc:
            problem = exc.problems[0] if exc.problems else FieldProblem("Redirect URL", str(exc))
            try:
                port = urlsplit(redirect_url.strip()).port or catcher.port
            except ValueError:
                port = catcher.port
            raise CallbackPortBusy(problem, port, busy="already listening" in problem.message) from None
        previous, self._catcher = self._catcher, catcher
        if previous is not None and previous is not catcher:
            previous.stop()  # one catcher per session: the old one would hold its port for nothing
        if self.sandbox is not None:
            self.sandbox.set_redirect_url(catcher.redirect_url)
        return catcher

    def _own_catcher_for(self, location: str) -> RedirectCatcher | None:
        """The catcher this session started, if it is still waiting and ``location`` is its address."""
        from .catcher import CatcherState

        catcher = self._catcher
        if catcher is None or catcher.status().state is not CatcherState.WAITING:
            return None
        try:
            got, own = urlsplit(location), urlsplit(catcher.redirect_url)
            same = (got.scheme, got.hostname, got.port, got.path) == (own.scheme, own.hostname, own.port, own.path)
        except ValueError:
            return None
        return catcher if same else None

    def approve_in_sandbox(
        self,
        link: AuthorizationLink | str | None = None,
        *,
        decision: Literal["authorize", "cancel"] = "authorize",
        seller: str | None = None,
        follow: bool = False,
    ) -> str:
        """Sandbox only: press Authorize (or Cancel) on the consent page as the sample seller would.

        Returns the redirect address the browser would be sent to; with ``follow`` the address is
        also loaded, as a browser would, so a running catcher receives it, but only when it is the
        address of a catcher this session started and that is still waiting: the code is never
        handed to another program listening there. Otherwise nothing is loaded, a warning says so,
        and the address is returned (paste it). Live mode refuses: there a person approves in a
        real browser.
        """
        if self.sandbox is None and self.mode is not Mode.SANDBOX:
            raise TikTokHelperError("approving on someone's behalf only exists in sandbox mode")
        import httpx

        from .autopilot import ConsentPageError, walk_consent

        target = link or self.last_link
        if target is None:
            target = self.authorization_link()
        seller = seller or ("us" if self.settings.region is Region.US else "global")
        try:
            location = walk_consent(str(target), decision=decision, seller=seller, client=self.http)
            if follow:
                if self._own_catcher_for(location) is not None:
                    # What the browser does next: load the callback URL, where this session's catcher listens.
                    self.http.get(location, timeout=10, follow_redirects=True)
                else:
                    warnings.warn(
                        "Sandbox: the redirect was not followed: no catcher of this runbook is listening at "
                        "its address (another program may be), so the code was not sent there. Paste the "
                        "address approve_in_sandbox returned instead.",
                        stacklevel=2,
                    )
        except (ConsentPageError, httpx.HTTPError) as exc:
            raise TikTokHelperError(f"the sandbox's consent page did not work: {exc}") from None
        return location

    def approve_in_sandbox_and_report(self, link: AuthorizationLink | str | None = None) -> str:
        """Sandbox only: press Authorize as the sample seller and let the browser follow the redirect
        (:meth:`approve_in_sandbox` with ``follow``), then say in a sentence what happened: the
        catcher received the code, or why the code did not reach it and what to do
        (:func:`sandbox_approval_message`). The code itself is never in the sentence. Raises as
        :meth:`approve_in_sandbox` does (live mode, a consent page that did not work)."""
        catcher = self._catcher
        before = catcher.status() if catcher is not None else None
        with warnings.catch_warnings():  # the sentence returned says it, with what to do
            warnings.filterwarnings("ignore", message="Sandbox: the redirect was not followed")
            location = self.approve_in_sandbox(link, follow=True)
        after = catcher.status() if catcher is not None else None
        return sandbox_approval_message(before, after, location)

    def parse_redirect(self, text: str) -> RedirectResult:
        """Parse a pasted redirect URL (or bare code), checking the state of the last link built."""
        return parse_redirect(text, self.last_link.state if self.last_link else None)

    def save_code(self, result: RedirectResult) -> None:
        """Save a caught auth code (mode 0600) for the exchange step, with when it arrived."""
        self._adopt(self.store.save_code(result))

    # --- step: tokens ---------------------------------------------------------------------------

    def _received(
        self, tokens: TokenSet, *, save: bool, code_spent: bool = False, refreshed_grant: Grant | None = None
    ) -> TokenSet:
        """Keep a token reply in memory at once, then commit it to its seller's grant before anything
        else is done with it (the code it spent is forgotten only after that)."""
        self.last_tokens = tokens
        if save:
            try:
                grant = self.store.save_tokens(
                    tokens,
                    grant_id=refreshed_grant.id if refreshed_grant else None,
                    refreshed=refreshed_grant is not None,
                )
            except TikTokHelperError as exc:
                raise SettingsError(
                    f"the tokens were received but could not be saved ({exc.detail}); they are kept in "
                    "session.last_tokens: fix the problem and call session.save_tokens()"
                ) from None
            if refreshed_grant is None or self.seller is None or self.seller.id == refreshed_grant.id:
                self._use(grant)  # a new authorization, or the selected seller's own refresh
            if code_spent:
                self._adopt(self.store.forget_code())
        return tokens

    def save_tokens(self, tokens: TokenSet | None = None) -> None:
        """Save a token reply (by default the last one received, e.g. after a failed save)."""
        tokens = tokens or self.last_tokens
        if tokens is None:
            raise MissingSettingError("there are no tokens to save yet")
        self._received(tokens, save=True)

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
        if code is None:
            value = self.pending_code()
        else:
            value = code.code if isinstance(code, RedirectResult) else Secret(code)
        spent = bool(self.settings.auth_code) and self.settings.auth_code == value
        try:
            tokens = self.token_client().exchange(value)
        except InvalidAuthCode:
            if spent and save:
                self._adopt(self.store.forget_code())
            raise
        return self._received(tokens, save=save, code_spent=spent)

    def exchange_pasted(self, pasted: str | None = None, *, on_progress: Progress | None = None) -> TokenSet:
        """The exchange step as a person does it: the address the browser landed on (or just the code)
        is saved first, then exchanged; with nothing pasted, the code the authorize step saved.

        The pasted address's state is checked against the last link this session built; with no
        link built here there is nothing to compare it with, and a note says so. When the exchange
        fails for a reason other than the code itself, a note says how to retry.
        """
        emit = on_progress or _ignore
        if pasted is not None:
            self.save_code(self._read_pasted(pasted, emit))
        return self._exchange_saved(emit)

    def _read_pasted(self, text: str, emit: Progress) -> RedirectResult:
        expected = self.last_link.state if self.last_link else None
        redirect = parse_redirect(text, expected)
        if expected is None and redirect.state:
            emit(
                AuthorizeEvent(
                    AuthorizeStep.NOTE,
                    "The pasted address's state is not checked: no link was built here to compare it with.",
                )
            )
        return redirect

    def _exchange_saved(self, emit: Progress) -> TokenSet:
        try:
            return self.exchange()
        except ServiceError as exc:
            retry = exchange_retry(self.settings, exc)
            if retry is not None:
                emit(AuthorizeEvent(AuthorizeStep.NOTE, retry.text, command=retry.command))
            raise

    def refresh(self, seller: str | Grant | None = None, *, save: bool = True) -> TokenSet:
        """Refresh a seller's access token (default: the selected seller) with their refresh token;
        the new pair is committed the moment it arrives."""
        grant = self._grant(seller)
        tokens = self.token_client().refresh(grant.refresh_token)
        return self._received(tokens, save=save, refreshed_grant=grant)

    def refresh_all(
        self,
        *,
        concurrency: int = 8,
        due_within: timedelta | None = None,
        on_progress: Callable[[RefreshOutcome, int, int], None] | None = None,
    ) -> RefreshSummary:
        """Refresh every seller's access token, ``concurrency`` at a time on one shared HTTP client.

        One seller's failure never stops the others; each new pair is committed the moment it
        arrives. With ``due_within``, a seller whose access token lasts longer than that is skipped
        (nothing is sent); a seller whose authorization has ended is skipped too (only the seller
        can authorize again). ``on_progress(outcome, done, total)`` is called as each one lands,
        from the worker threads.
        """
        if concurrency < 1:
            raise ValidationError([FieldProblem("concurrency", "must be 1 or more")])
        grants = self.store.grants.all()
        now = datetime.now(timezone.utc)
        client = self.token_client()
        total = len(grants)
        done = 0
        lock = threading.Lock()

        def finish(outcome: RefreshOutcome) -> RefreshOutcome:
            nonlocal done
            with lock:
                done += 1
                count = done
            if on_progress is not None:
                on_progress(outcome, count, total)
            return outcome

        def one(grant: Grant) -> RefreshOutcome:
            if grant.refresh_expired(now):
                return finish(
                    RefreshOutcome(
                        grant,
                        RefreshStatus.SKIPPED,
                        reason="the authorization has ended: the seller must authorize again",
                    )
                )
            if due_within is not None and not grant.access_due(now, due_within):
                return finish(RefreshOutcome(grant, RefreshStatus.SKIPPED, reason="not due yet"))
            try:
                tokens = client.refresh(grant.refresh_token)
            except TikTokHelperError as exc:
                return finish(RefreshOutcome(grant, RefreshStatus.FAILED, error=exc))
            try:
                saved = self.store.save_tokens(tokens, grant_id=grant.id, refreshed=True)  # committed now
            except TikTokHelperError as exc:
                return finish(RefreshOutcome(grant, RefreshStatus.FAILED, error=exc))
            return finish(RefreshOutcome(grant, RefreshStatus.REFRESHED, grant=saved))

        if concurrency == 1 or total <= 1:
            outcomes = [one(g) for g in grants]
        else:
            with ThreadPoolExecutor(max_workers=min(concurrency, total), thread_name_prefix="refresh") as pool:
                outcomes = list(pool.map(one, grants))
        for outcome in outcomes:
            if outcome.grant is not None and self.seller is not None and outcome.grant.id == self.seller.id:
                self._use(outcome.grant)
        return RefreshSummary(tuple(outcomes))

    def _grant(self, seller: str | Grant | None) -> Grant:
        if isinstance(seller, Grant):
            return seller
        if seller is not None:
            return self.store.grants.find(seller)
        if self.seller is None:
            raise MissingSettingError("no seller has authorized the app yet: authorize first (notebook 02)")
        return self.seller

    def authorized_shops(self, access_token: Secret | str | None = None, *, save_cipher: bool = True) -> list[Shop]:
        """Prove the access token works: the shops it may act on, with their ciphers."""
        shops = self.open_api(access_token).get_authorized_shops()
        if save_cipher and access_token is None and self.seller is not None:
            self._use(self.store.save_shops(self.seller, shops))  # the token works: verified now
        return shops

    # --- step: API2Cart ---------------------------------------------------------------------------

    def add_store(self, *, custom_label: str | None = None, store_url: str | None = None, save: bool = True) -> Secret:
        """Add the TikTok Shop store to API2Cart with the saved credentials; save its store key."""
        s = self.settings
        s.require("TIKTOK_APP_KEY", "TIKTOK_APP_SECRET", "TIKTOK_REFRESH_TOKEN")
        store_key = self.api2cart().add_tiktok_store(
            app_key=s.app_key,
            app_secret=s.app_secret,
            refresh_token=s.refresh_token,
            store_url=store_url,
            custom_label=custom_label,
        )
        if save and self.seller is not None:
            self._use(self.store.save_store_key(self.seller, store_key))
        return store_key

    def update_store(self, seller: str | Grant | None = None) -> Secret:
        """Give API2Cart the seller's current refresh token (``account.config.update``) for the store
        key saved on their grant (default: the selected seller); returns that store key.

        Needed after a refresh made here: the refresh token API2Cart holds may have been rotated
        away (API2Cart then answers 100). The grant is read again first, so a refresh saved by
        another notebook or command is the one pushed. Never repeated automatically; nothing is
        saved locally.
        """
        grant = self.store.grants.get(self._grant(seller).id)
        if not grant.api2cart_store_key:
            raise MissingSettingError(
                f"{grant.label} has no store in API2Cart yet: add it first (notebook 04, or `api2cart add`)"
            )
        s = self.settings
        s.require("TIKTOK_APP_KEY", "TIKTOK_APP_SECRET")
        self.api2cart().update_tiktok_store(
            grant.api2cart_store_key, app_key=s.app_key, app_secret=s.app_secret, refresh_token=grant.refresh_token
        )
        return grant.api2cart_store_key

    def list_stores(self) -> list[Api2CartStore]:
        return self.api2cart().list_stores()

    def validate_store(self, store_key: Secret | str | None = None) -> Secret:
        """Ask API2Cart whether a store's credentials work (``cart.validate``): the given store key,
        else the one saved on the selected seller's grant; returns the store key checked."""
        if store_key is None:
            grant = self.store.grants.get(self._grant(None).id)
            if not grant.api2cart_store_key:
                raise MissingSettingError(
                    f"{grant.label} has no store in API2Cart yet: add it first (notebook 04, or `api2cart add`)"
                )
            store_key = grant.api2cart_store_key
        key = Secret(store_key)
        self.api2cart().validate_store(key)
        return key


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
