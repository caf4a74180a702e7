"""The runbook's working session: settings turned into clients, in sandbox or live mode.

``open_session()`` loads the settings; in sandbox mode (and unless ``TIKTOK_SANDBOX_URL`` points
at a sandbox already running) it starts the embedded sandbox in this process, with its state kept
in ``.sandbox/state.json`` beside ``.env`` so that every notebook (each its own kernel) sees the
same simulated TikTok and API2Cart. All clients share one ``httpx.Client``.

Each step of the runbook is one method here, so notebooks, widgets and the command line call
exactly the same code, and tests can too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal

import httpx

from .api2cart import Api2CartClient, Api2CartStore
from .authlink import AuthorizationLink, build_authorization_link
from .errors import (
    FieldProblem,
    InvalidAuthCode,
    MissingSettingError,
    SettingsError,
    TikTokHelperError,
    ValidationError,
)
from .http import new_http_client
from .openapi import OpenApiClient, Shop
from .redirect import RedirectResult, parse_redirect
from .regions import AuthType, Endpoints, Region
from .secret import Secret
from .settings import Mode, Settings, clean_updates, default_env_path, load_settings, save_settings, token_updates
from .tokens import TokenClient, TokenSet
from .validation import clean_credentials

if TYPE_CHECKING:
    from .catcher import CatcherStatus, RedirectCatcher
    from .sandbox import Sandbox

__all__ = ["Session", "open_session", "sandbox_state_path"]

SANDBOX_DIR: Final = ".sandbox"
#: Setting names as the Partner Center form labels them.
_FORM_LABELS: Final = {
    "TIKTOK_REGION": "Region",
    "TIKTOK_APP_TYPE": "App type",
    "TIKTOK_REDIRECT_URL": "Redirect URL",
    "TIKTOK_AUTH_TYPE": "Authorization type",
}


def sandbox_state_path(env_path: Path) -> Path:
    """Where the embedded sandbox keeps its state for the project whose ``.env`` is ``env_path``."""
    return env_path.parent / SANDBOX_DIR / "state.json"


class Session:
    """One runbook session. Use as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        settings: Settings,
        *,
        environ: Mapping[str, str] | None = None,
        sandbox_state: Path | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self._environ = environ
        self._owns_http = http is None
        self._tls = settings.mode is Mode.LIVE
        self.http = http or new_http_client(timeout=settings.http_timeout, tls=self._tls)
        self.sandbox: Sandbox[Any] | None = None
        #: The last tokens received, kept even if saving them to .env failed.
        self.last_tokens: TokenSet | None = None
        self.last_link: AuthorizationLink | None = None
        if settings.mode is Mode.SANDBOX and not settings.sandbox_url:
            from .sandbox import Sandbox

            state_path = sandbox_state or sandbox_state_path(settings.env_path)
            state_path.parent.mkdir(parents=True, exist_ok=True)
            self.sandbox = Sandbox(redirect_url=settings.redirect_url, state_path=state_path).start()
            settings = settings.with_sandbox(self.sandbox.base_url)
        self.settings = settings

    # --- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def reload(self) -> Settings:
        """Read ``.env`` again (after a save), keeping the running sandbox."""
        fresh = load_settings(self.settings.env_path, environ=self._environ)
        if self.sandbox is not None:
            fresh = fresh.with_sandbox(self.sandbox.base_url)
        if fresh.mode is Mode.LIVE and self._owns_http and not self._tls:
            # Saved credentials switched the mode to live: the sandbox's client has no CA bundle.
            self.http.close()
            self._tls = True
            self.http = new_http_client(timeout=fresh.http_timeout, tls=True)
        self.settings = fresh
        return fresh

    def save(self, updates: Mapping[str, str | Secret | None]) -> Settings:
        """Validate and save settings to ``.env``, then reload them."""
        save_settings(updates, self.settings.env_path)
        return self.reload()

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
        secret = app_secret.reveal() if isinstance(app_secret, Secret) else app_secret
        updates: dict[str, str | Secret | None] = {
            "TIKTOK_REGION": str(getattr(region, "value", region)),
            "TIKTOK_APP_TYPE": app_type,
            "TIKTOK_REDIRECT_URL": redirect_url,
        }
        if auth_type is not None:
            updates["TIKTOK_AUTH_TYPE"] = str(getattr(auth_type, "value", auth_type))
        problems: list[FieldProblem] = []
        key = sid = ""
        try:
            key, secret, sid = clean_credentials(app_key, secret, service_id)
        except ValidationError as exc:
            problems.extend(exc.problems)
        try:
            clean_updates(updates)
        except ValidationError as exc:
            problems.extend(FieldProblem(_FORM_LABELS.get(p.field, p.field), p.message) for p in exc.problems)
        if problems:
            raise ValidationError(problems)
        updates.update({"TIKTOK_APP_KEY": key, "TIKTOK_APP_SECRET": Secret(secret), "TIKTOK_SERVICE_ID": sid})
        return self.save(updates)

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
        """Listen for the redirect on the configured loopback redirect URL, checking the link's state."""
        from .catcher import RedirectCatcher  # http.server: only needed here

        link = link or self.last_link
        catcher = RedirectCatcher(
            self.settings.redirect_url,
            expected_state=link.state if link else None,
            timeout=timeout,
            on_progress=on_progress,
        ).start()
        if self.sandbox is not None:
            self.sandbox.set_redirect_url(catcher.redirect_url)
        return catcher

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
        also loaded, as a browser would, so a running catcher receives it. Live mode refuses: there
        a person approves in a real browser.
        """
        if self.sandbox is None and self.mode is not Mode.SANDBOX:
            raise TikTokHelperError("approving on someone's behalf only exists in sandbox mode")
        from .sandbox.browser import walk_consent

        target = link or self.last_link
        if target is None:
            target = self.authorization_link()
        seller = seller or ("us" if self.settings.region is Region.US else "global")
        location = walk_consent(str(target), decision=decision, seller=seller, client=self.http)
        if follow:
            # What the browser does next: load the callback URL (where a catcher may be listening).
            self.http.get(location, timeout=10)
        return location

    def parse_redirect(self, text: str) -> RedirectResult:
        """Parse a pasted redirect URL (or bare code), checking the state of the last link built."""
        return parse_redirect(text, self.last_link.state if self.last_link else None)

    # --- step: tokens ---------------------------------------------------------------------------

    def _keep(self, tokens: TokenSet, save: bool, extra: Mapping[str, str | Secret | None] | None = None) -> TokenSet:
        self.last_tokens = tokens
        if save:
            try:
                save_settings({**token_updates(tokens), **(extra or {})}, self.settings.env_path)
            except TikTokHelperError as exc:
                raise SettingsError(
                    f"the tokens were received but could not be saved ({exc.detail}); they are kept in "
                    "session.last_tokens: fix the problem and call session.save_tokens()"
                ) from None
            self.reload()
        return tokens

    def save_tokens(self, tokens: TokenSet | None = None) -> None:
        tokens = tokens or self.last_tokens
        if tokens is None:
            raise MissingSettingError("there are no tokens to save yet")
        self._keep(tokens, save=True)

    def keep_code(self, result: RedirectResult) -> None:
        """Save a caught auth code in ``.env`` (mode 0600) for the exchange step."""
        self.save(
            {
                "TIKTOK_AUTH_CODE": result.code,
                "TIKTOK_AUTH_CODE_RECEIVED_AT": datetime.now(timezone.utc).isoformat(),
            }
        )

    def pending_code(self) -> Secret:
        """The auth code saved by the authorize step, not yet exchanged."""
        if not self.settings.auth_code:
            raise MissingSettingError("no auth code waiting: approve the app and catch the code (notebook 02)")
        return self.settings.auth_code

    def exchange(self, code: RedirectResult | Secret | str | None = None, *, save: bool = True) -> TokenSet:
        """Trade the auth code (by default the one saved by the authorize step) for tokens and save them.

        A code works once: after the exchange, successful or refused as invalid, the saved code is
        removed from ``.env``.
        """
        if code is None:
            value = self.pending_code()
        else:
            value = code.code if isinstance(code, RedirectResult) else Secret(code)
        spent: dict[str, str | Secret | None] = {}
        if self.settings.auth_code and self.settings.auth_code == value:
            spent = {"TIKTOK_AUTH_CODE": None, "TIKTOK_AUTH_CODE_RECEIVED_AT": None}
        try:
            tokens = self.token_client().exchange(value)
        except InvalidAuthCode:
            if spent and save:
                self.save(spent)
            raise
        return self._keep(tokens, save, spent)

    def refresh(self, *, save: bool = True) -> TokenSet:
        """Refresh the access token with the saved refresh token; save the new pair."""
        self.settings.require("TIKTOK_REFRESH_TOKEN")
        return self._keep(self.token_client().refresh(self.settings.refresh_token), save)

    def authorized_shops(self, access_token: Secret | str | None = None, *, save_cipher: bool = True) -> list[Shop]:
        """Prove the access token works: the shops it may act on, with their ciphers."""
        shops = self.open_api(access_token).get_authorized_shops()
        if save_cipher and shops and shops[0].cipher != self.settings.shop_cipher:
            self.save({"TIKTOK_SHOP_CIPHER": shops[0].cipher})
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
        if save:
            self.save({"API2CART_STORE_KEY": store_key})
        return store_key

    def list_stores(self) -> list[Api2CartStore]:
        return self.api2cart().list_stores()


def open_session(
    env_path: Path | str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    sandbox_state: Path | None = None,
    http: httpx.Client | None = None,
) -> Session:
    """Load settings and open a :class:`Session` (starting the sandbox in sandbox mode)."""
    path = Path(env_path) if env_path is not None else default_env_path()
    return Session(load_settings(path, environ=environ), environ=environ, sandbox_state=sandbox_state, http=http)
