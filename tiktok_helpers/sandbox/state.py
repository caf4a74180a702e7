"""The sandbox's in-memory data and business rules (no HTTP here).

Everything the simulated TikTok Shop authorization service, Open API and API2Cart know lives in
one :class:`SandboxState`: the sample app, the sample sellers and their shops, issued
authorization codes, token grants and API2Cart accounts with their stores. The HTTP layer
(:mod:`tiktok_helpers.sandbox.server`) only parses requests and renders what this module returns
or raises.

Documented TikTok behaviour that is simulated
---------------------------------------------
* An authorization code works once and expires 30 minutes after it was issued
  (``36004004 invalid auth code`` for a wrong, used or expired code).
* ``access_token_expire_in`` and ``refresh_token_expire_in`` are absolute Unix timestamps:
  access token now + 7 days; refresh token now + 365 days (the "authorization duration").
* Unknown refresh token: ``36004005 can not find related auth record``; expired refresh token:
  ``36004001 rt has expired``.
* Signed Open API calls: the signature is recomputed with :func:`tiktok_helpers.signing.sign`
  (path + sorted query parameters except ``sign``/``access_token`` + body, app secret, lowercase
  hex; an uppercase signature is rejected) -> ``106001``; timestamp outside
  [server time - 300 s, server time + 30 s] -> ``36009004``; missing/unknown token -> ``105001``;
  expired token -> ``105002``; missing scope -> ``105005``.

Sandbox choices where TikTok documents nothing
----------------------------------------------
* Wrong ``app_key`` or ``app_secret`` at the token endpoints -> ``36004003 invalid app_key or
  app_secret``; a missing parameter or wrong ``grant_type`` -> ``36004002 invalid param: ...``.
  These codes are the sandbox's own, not observed live values.
* Refresh ROTATES: it issues a new refresh token and a new access token; the old refresh token
  then answers ``36004005`` and the old access token ``105001``. TikTok does not document
  rotation; rotating is the stricter simulation and catches clients that forget to store the
  returned refresh token. The refresh token keeps the authorization's original end
  (``refresh_token_expire_in`` does not move); a new access token lives 7 days, but never past
  that end.
* Unknown ``app_key`` on a signed Open API call -> ``36009004`` (invalid credentials).
* Checks on a signed call run in this order: app_key, timestamp, sign, token, expiry, scope.
* A creator token (user_type 1) has no shops: Get Authorized Shops answers an empty list.
* Every authorization of a seller creates an independent grant: authorizing again does not
  revoke earlier tokens (use :meth:`SandboxState.deauthorize` to simulate revocation).

API2Cart (return codes are the sandbox's own choice; errors come back with HTTP 200)
----------------------------------------------------------------------------------
* ``2 Incorrect API Key`` (missing or wrong ``x-api-key`` / ``api_key``),
  ``3`` unsupported ``cart_id`` (the sandbox can add only ``TikTokShop`` stores, although
  ``account.supported_platforms.json`` lists a few other carts), ``4`` request body is not a JSON
  object or a field is not a string, ``5 Required parameter ... is missing``,
  ``9 Incorrect store key``, ``10 TikTok Shop: <TikTok message> (<TikTok code>)`` when the
  TikTok credentials do not work.
* ``account.cart.add.json`` VALIDATES the TikTok credentials against the simulated TikTok in
  process, WITHOUT refreshing: the app key/secret must match the app and the refresh token must
  be known, belong to that app and be unexpired (an optional ``tiktokshop_access_token`` must be
  a current access token of the same grant; an expired one is accepted, API2Cart would refresh
  it). Not rotating keeps the runbook's saved refresh token valid. ``verify`` is accepted but
  the sandbox always verifies. Adding a store whose URL the account already has updates its
  credentials and returns the same ``store_key``.
* ``cart.validate.json`` checks the stored TikTok credentials again, so a store whose refresh
  token was rotated away by a later refresh answers ``10`` (the real-world "two holders of one
  refresh token" problem).
* Without ``store_url`` a store gets ``https://shop.tiktok.example/<shop code>``.

Persistence (``state_path``)
----------------------------
With a ``state_path`` the mutable data lives in a JSON file shared by every sandbox (in any
process) that uses the same path, so a runbook whose notebooks each start their own sandbox
keeps its codes, tokens and stores:

* Persisted: issued authorization codes (issue time, used flag), grants with their access and
  refresh tokens and absolute expiry timestamps (so they mean the same with any clock, including
  a :class:`~tiktok_helpers.sandbox.clock.FakeClock` set to the same time), the apps' registered
  redirect URLs, API2Cart stores (with their TikTok credentials and store keys) and the next
  store id. NOT persisted: the sample app, sellers, shops and scopes (always from code) and
  ``auto_approve`` (a setting of each sandbox).
* Format: ``{"version": 1, "apps": {app_key: {"redirect_url"}}, "auth_codes": [...],
  "grants": [...], "api2cart": {"next_cart_id": n, "accounts": {api_key: {"carts": [...]}}}}``.
* The file is loaded when the state is created and re-read, when its ``stat`` changed, before
  every operation; every change is written at once (atomically, mode 0600) while holding the
  state's lock and a cross-process lock on ``<name>.lock`` (see :mod:`.persist`).
* A file that is not valid JSON, has another ``version`` or does not fit the sample data is moved
  aside as ``<name>.corrupt`` with a warning on the ``tiktok_helpers.sandbox`` logger (naming
  the problem, never a value), and the sandbox continues from empty state.
* A ``redirect_url`` given to the constructor replaces the saved one; without it the saved one
  is used (else :data:`~tiktok_helpers.samples.SANDBOX_REDIRECT_URL`).
* :meth:`SandboxState.reset` clears everything mutable and deletes the file; other sandboxes on
  the same file then see empty state too.
"""

from __future__ import annotations

import contextlib
import copy
import hmac
import logging
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, TypeVar
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from tiktok_helpers.samples import (
    SANDBOX_API2CART_KEY,
    SANDBOX_APP_KEY,
    SANDBOX_APP_NAME,
    SANDBOX_APP_SECRET,
    SANDBOX_REDIRECT_URL,
    SANDBOX_SERVICE_ID,
)
from tiktok_helpers.signing import sign

from .clock import Clock, SystemClock
from .persist import BadStateFile, StateFile

__all__ = [
    "ACCESS_TOKEN_TTL",
    "AUTH_CODE_TTL",
    "REFRESH_TOKEN_TTL",
    "SAMPLE_SCOPES",
    "SCOPE_DESCRIPTIONS",
    "SHOPS_PATH",
    "USER_TYPES",
    "Api2CartError",
    "App",
    "AuthCode",
    "AuthKind",
    "ConsentError",
    "ConsentRequest",
    "Grant",
    "SandboxState",
    "Seller",
    "Shop",
    "StoredCart",
    "TikTokError",
]

logger = logging.getLogger("tiktok_helpers.sandbox")

AUTH_CODE_TTL: Final = 30 * 60
ACCESS_TOKEN_TTL: Final = 7 * 24 * 3600
REFRESH_TOKEN_TTL: Final = 365 * 24 * 3600
TIMESTAMP_MAX_AGE: Final = 300
TIMESTAMP_MAX_AHEAD: Final = 30
SHOPS_PATH: Final = "/authorization/202309/shops"
SHOPS_SCOPE: Final = "seller.authorization.info"

AuthKind = Literal["seller", "partner", "creator"]
#: user_type in the token reply for each kind of authorization.
USER_TYPES: Final[Mapping[AuthKind, int]] = {"seller": 0, "creator": 1, "partner": 3}

SCOPE_DESCRIPTIONS: Final[Mapping[str, str]] = {
    "seller.authorization.info": "See which shops authorized the app",
    "seller.shop.info": "Read shop information",
    "seller.product.basic": "Read and manage products",
    "seller.order.info": "Read orders",
    "seller.fulfillment.basic": "Manage fulfillment and shipping",
    "seller.logistics": "Read warehouses and shipping providers",
    "seller.finance.info": "Read statements and payments",
    "seller.returns.info": "Read returns, refunds and cancellations",
}
SAMPLE_SCOPES: Final = tuple(SCOPE_DESCRIPTIONS)


class TikTokError(Exception):
    """A TikTok-style error reply: non-zero ``code`` and a ``message`` (never holds a secret)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Api2CartError(Exception):
    """An API2Cart-style error reply: non-zero ``return_code`` and a message (no secrets)."""

    def __init__(self, return_code: int, message: str) -> None:
        super().__init__(f"{return_code}: {message}")
        self.return_code = return_code
        self.message = message


class ConsentError(Exception):
    """The consent screen cannot be shown or submitted; rendered as an HTML error page."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Shop:
    id: str
    name: str
    region: str
    seller_type: Literal["LOCAL", "CROSS_BORDER"]
    cipher: str
    code: str

    def as_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "region": self.region,
            "seller_type": self.seller_type,
            "cipher": self.cipher,
            "code": self.code,
        }


@dataclass(frozen=True)
class Seller:
    key: str
    name: str
    base_region: str
    open_id: str
    shops: tuple[Shop, ...]

    def open_id_for(self, user_type: int) -> str:
        """A distinct, stable numeric open_id per kind of authorization."""
        return str(int(self.open_id) + user_type)


@dataclass
class App:
    name: str
    app_key: str
    app_secret: str
    service_id: str
    redirect_url: str
    scopes: tuple[str, ...]


@dataclass
class AuthCode:
    code: str
    app_key: str
    seller_key: str
    user_type: int
    issued_at: float
    used: bool = False


@dataclass
class Grant:
    """One authorization: a seller (or partner/creator) gave an app access."""

    app_key: str
    seller_key: str
    user_type: int
    open_id: str
    scopes: tuple[str, ...]
    access_token: str
    access_expires_at: int
    refresh_token: str
    refresh_expires_at: int


@dataclass
class StoredCart:
    id: str
    store_key: str
    cart_id: str
    url: str
    custom_label: str
    app_key: str
    app_secret: str
    refresh_token: str
    access_token: str | None

    def as_json(self) -> dict[str, str]:
        """The public view (no credentials)."""
        return {
            "id": self.id,
            "url": self.url,
            "store_key": self.store_key,
            "cart_id": self.cart_id,
            "custom_label": self.custom_label,
        }


@dataclass
class Api2CartAccount:
    api_key: str
    carts: list[StoredCart] = field(default_factory=list)


@dataclass(frozen=True)
class ConsentRequest:
    """A validated request for the consent screen."""

    kind: AuthKind
    app: App
    state: str | None

    @property
    def user_type(self) -> int:
        return USER_TYPES[self.kind]


def _sample_sellers() -> dict[str, Seller]:
    global_seller = Seller(
        key="global",
        name="Sandbox UK Store",
        base_region="GB",
        open_id="7010736057180320000",
        shops=(
            Shop(
                id="7494000000000000101",
                name="Sandbox UK Store",
                region="GB",
                seller_type="LOCAL",
                cipher="ROW_sbxGBcipher0000000000000101",
                code="GBLCSBX101",
            ),
            Shop(
                id="7494000000000000102",
                name="Sandbox UK Store DE",
                region="DE",
                seller_type="CROSS_BORDER",
                cipher="ROW_sbxDEcipher0000000000000102",
                code="DECBSBX102",
            ),
        ),
    )
    us_seller = Seller(
        key="us",
        name="Sandbox US Store",
        base_region="US",
        open_id="7010736057180330000",
        shops=(
            Shop(
                id="7494000000000000201",
                name="Sandbox US Store",
                region="US",
                seller_type="LOCAL",
                cipher="TTP_sbxUScipher0000000000000201",
                code="USLCSBX201",
            ),
        ),
    )
    return {s.key: s for s in (global_seller, us_seller)}


SUPPORTED_PLATFORMS: Final[tuple[dict[str, Any], ...]] = (
    {
        "cart_id": "TikTokShop",
        "cart_name": "TikTok Shop",
        "cart_versions": "202309",
        "params": {
            "required": [
                [
                    {"name": "tiktokshop_app_key", "description": "App Key from TikTok Shop Partner Center"},
                    {
                        "name": "tiktokshop_app_secret",
                        "description": "App Secret from TikTok Shop Partner Center",
                    },
                    {
                        "name": "tiktokshop_refresh_token",
                        "description": "Refresh token from the token/get reply",
                    },
                ]
            ],
            "additional": [
                {"name": "tiktokshop_access_token", "description": "Current access token (optional)"},
                {"name": "store_url", "description": "Store URL (optional for TikTok Shop)"},
                {"name": "custom_label", "description": "Your label for the store"},
                {"name": "verify", "description": "Verify the credentials when adding (default true)"},
            ],
        },
    },
    {
        "cart_id": "Shopify",
        "cart_name": "Shopify",
        "cart_versions": "2024-01",
        "params": {
            "required": [
                [
                    {"name": "store_url", "description": "Store URL"},
                    {"name": "shopify_access_token", "description": "Admin API access token"},
                ],
                [
                    {"name": "store_url", "description": "Store URL"},
                    {"name": "shopify_api_key", "description": "API key"},
                    {"name": "shopify_api_password", "description": "API password"},
                ],
            ],
            "additional": [{"name": "custom_label", "description": "Your label for the store"}],
        },
    },
    {
        "cart_id": "WooCommerceApi",
        "cart_name": "WooCommerce",
        "cart_versions": "3.x-9.x",
        "params": {
            "required": [
                [
                    {"name": "store_url", "description": "Store URL"},
                    {"name": "wc_consumer_key", "description": "REST API consumer key"},
                    {"name": "wc_consumer_secret", "description": "REST API consumer secret"},
                ]
            ],
            "additional": [{"name": "custom_label", "description": "Your label for the store"}],
        },
    },
)
TIKTOK_CART_ID: Final = "TikTokShop"
STORE_URL_BASE: Final = "https://shop.tiktok.example/"
#: Characters a registered callback URL may keep as they are (anything else is percent-encoded).
_URL_SAFE: Final = ":/?#[]@!$&'()*+,;=%~"


def _new_token() -> str:
    return "TTP_" + secrets.token_urlsafe(36)


def _new_code() -> str:
    return "TTP_" + secrets.token_urlsafe(24)


def append_query(url: str, params: list[tuple[str, str]]) -> str:
    """Add query parameters to ``url``, keeping any it already has (and its fragment)."""
    parts = urlsplit(quote(url, safe=_URL_SAFE))
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def _require(params: Mapping[str, str], names: tuple[str, ...]) -> None:
    for name in names:
        if not params.get(name):
            raise TikTokError(36004002, f"invalid param: {name} is required")


@dataclass
class _Mutable:
    """Everything a state file holds, decoded."""

    redirect_urls: dict[str, str] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    grants: list[Grant] = field(default_factory=list)
    carts: dict[str, list[StoredCart]] = field(default_factory=dict)
    next_cart_id: int = 1


class SandboxState:
    """All sandbox data, guarded by one lock (request handlers run on several threads).

    ``state_path``: keep the mutable data in this JSON file, shared with other sandboxes on the
    same path (see "Persistence" in the module documentation).
    """

    def __init__(
        self,
        clock: Clock | None = None,
        redirect_url: str | None = None,
        *,
        state_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._lock = threading.RLock()
        if redirect_url is not None:
            _check_redirect_url(redirect_url)
        self.app = App(
            name=SANDBOX_APP_NAME,
            app_key=SANDBOX_APP_KEY,
            app_secret=SANDBOX_APP_SECRET,
            service_id=SANDBOX_SERVICE_ID,
            redirect_url=redirect_url or SANDBOX_REDIRECT_URL,
            scopes=SAMPLE_SCOPES,
        )
        self.apps: dict[str, App] = {self.app.app_key: self.app}
        self._default_redirects = {key: app.redirect_url for key, app in self.apps.items()}
        self.sellers: dict[str, Seller] = _sample_sellers()
        self.codes: dict[str, AuthCode] = {}
        self.grants: list[Grant] = []
        self._by_access: dict[str, Grant] = {}
        self._by_refresh: dict[str, Grant] = {}
        self.api2cart_accounts: dict[str, Api2CartAccount] = {
            SANDBOX_API2CART_KEY: Api2CartAccount(SANDBOX_API2CART_KEY)
        }
        self._auto_approve: str | None = None
        self._next_cart_id = 1
        self._file = StateFile(state_path) if state_path is not None else None
        self._mutation_depth = 0
        if self._file is not None:
            with self._lock, self._file.lock():
                self._load(self._file)
            if redirect_url is not None and redirect_url != self.app.redirect_url:
                self.set_redirect_url(redirect_url)

    # ------------------------------------------------------------------ persistence
    @property
    def state_path(self) -> Path | None:
        """The state file (None: in memory only)."""
        return self._file.path if self._file is not None else None

    def sync(self) -> None:
        """Re-read the state file if another sandbox changed it (a ``stat`` when it did not).

        Every operation does this first; call it before reading attributes such as
        :attr:`grants` directly.
        """
        with self._lock:
            self._sync()

    def reset(self) -> None:
        """Start over: forget codes, grants and stores, restore the redirect URL, delete the file."""
        with self._lock:
            self._apply(_Mutable())
            file = self._file
            if file is None:
                return
            with file.lock():
                try:
                    file.delete()
                except OSError as err:
                    logger.warning(
                        "cannot delete the sandbox state file %s (%s)", file.path, err.strerror or type(err).__name__
                    )

    def _sync(self) -> None:
        """Reload if the file changed; the caller holds ``self._lock``."""
        file = self._file
        if file is None or self._mutation_depth > 0 or not file.changed():
            return
        try:
            if file.read() == file.content:  # racy re-check or a touch: same bytes, nothing to do
                return
        except OSError:
            pass  # _load reports it
        with file.lock():
            self._load(file)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        with self._lock:
            self._sync()
            yield

    @contextlib.contextmanager
    def _mutation(self) -> Iterator[None]:
        """Hold the locks, reload if needed, and save once the outermost mutation is done."""
        with self._lock:
            file = self._file
            if file is None:
                yield
                return
            with file.lock():
                if self._mutation_depth == 0 and file.changed():
                    self._load(file)
                self._mutation_depth += 1
                try:
                    yield
                finally:
                    self._mutation_depth -= 1
                    if self._mutation_depth == 0:
                        self._save(file)

    def _load(self, file: StateFile) -> None:
        """Read the file and apply it; the caller holds ``self._lock`` and ``file.lock()``."""
        try:
            data = file.read()
        except OSError as err:
            self._discard(file, None, f"unreadable: {err.strerror or type(err).__name__}")
            return
        if data == file.content:
            return
        if data is None:
            self._apply(_Mutable())
            file.content = None
            return
        try:
            mutable = self._decode(StateFile.decode(data))
        except BadStateFile as err:
            self._discard(file, data, str(err))
            return
        self._apply(mutable)
        file.content = data

    def _discard(self, file: StateFile, data: bytes | None, problem: str) -> None:
        kept = file.quarantine()
        where = f"moved to {kept}" if kept is not None else "left in place (it could not be moved)"
        logger.warning(
            "sandbox state file %s is not usable (%s); starting from empty state, the file was %s",
            file.path,
            problem,
            where,
        )
        self._apply(_Mutable())
        file.content = None if kept is not None else data

    def _save(self, file: StateFile) -> None:
        data = StateFile.encode(self._encode())
        if data == file.content:
            return
        try:
            file.write(data)
        except OSError as err:
            logger.warning(
                "cannot save the sandbox state to %s (%s); the change is kept in this process only",
                file.path,
                err.strerror or type(err).__name__,
            )

    def _apply(self, mutable: _Mutable) -> None:
        for key, app in self.apps.items():
            app.redirect_url = mutable.redirect_urls.get(key, self._default_redirects[key])
        self.codes = mutable.codes
        self.grants = mutable.grants
        self._by_access = {g.access_token: g for g in self.grants}
        self._by_refresh = {g.refresh_token: g for g in self.grants}
        for key, account in self.api2cart_accounts.items():
            account.carts = mutable.carts.get(key, [])
        self._next_cart_id = mutable.next_cart_id

    def _encode(self) -> dict[str, Any]:
        return {
            "apps": {key: {"redirect_url": app.redirect_url} for key, app in self.apps.items()},
            "auth_codes": [asdict(code) for code in self.codes.values()],
            "grants": [{**asdict(grant), "scopes": list(grant.scopes)} for grant in self.grants],
            "api2cart": {
                "next_cart_id": self._next_cart_id,
                "accounts": {
                    key: {"carts": [asdict(cart) for cart in account.carts]}
                    for key, account in self.api2cart_accounts.items()
                },
            },
        }

    def _decode(self, payload: dict[str, Any]) -> _Mutable:
        """Turn a state file's payload into objects; raise :class:`BadStateFile` if it does not fit."""
        mutable = _Mutable()
        for key, entry in _get(payload, "apps", dict, "state").items():
            if key not in self.apps:
                raise BadStateFile("apps names an app the sandbox does not have")
            url = _get(_as_dict(entry, "apps.*"), "redirect_url", str, "apps.*")
            try:
                _check_redirect_url(url)
            except ValueError:
                raise BadStateFile("apps.*.redirect_url is not an absolute http(s) URL") from None
            mutable.redirect_urls[key] = url
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
            mutable.codes[code.code] = code
        for raw in _get(payload, "grants", list, "state"):
            item = _as_dict(raw, "grants[]")
            scopes = _get(item, "scopes", list, "grants[]")
            if not all(isinstance(scope, str) for scope in scopes):
                raise BadStateFile("grants[].scopes must be a list of strings")
            mutable.grants.append(
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
        mutable.next_cart_id = _get(api2cart, "next_cart_id", int, "api2cart")
        for key, raw_account in _get(api2cart, "accounts", dict, "api2cart").items():
            if key not in self.api2cart_accounts:
                raise BadStateFile("api2cart.accounts names an account the sandbox does not have")
            carts = mutable.carts.setdefault(key, [])
            for raw in _get(_as_dict(raw_account, "api2cart.accounts.*"), "carts", list, "api2cart.accounts.*"):
                item = _as_dict(raw, "carts[]")
                access_token = item.get("access_token")
                if access_token is not None and not isinstance(access_token, str):
                    raise BadStateFile("carts[].access_token must be a string or null")
                carts.append(
                    StoredCart(
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
                )
        return mutable

    def _known_app(self, app_key: str) -> str:
        if app_key not in self.apps:
            raise BadStateFile("an entry names an app the sandbox does not have")
        return app_key

    def _known_seller(self, seller_key: str) -> str:
        if seller_key not in self.sellers:
            raise BadStateFile("an entry names a seller the sandbox does not have")
        return seller_key

    # ------------------------------------------------------------------ helpers
    def now(self) -> float:
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

    def set_redirect_url(self, url: str, app_key: str = SANDBOX_APP_KEY) -> None:
        _check_redirect_url(url)
        with self._mutation():
            self.apps[app_key].redirect_url = url

    def find_app(self, *, app_key: str | None = None, service_id: str | None = None) -> App | None:
        for app in self.apps.values():
            if app_key is not None and app.app_key == app_key:
                return app
            if service_id is not None and app.service_id == service_id:
                return app
        return None

    # ------------------------------------------------------------------ consent
    def consent_request(self, kind: AuthKind, params: Mapping[str, str]) -> ConsentRequest:
        """Validate the query of a consent link (or the hidden fields of its form)."""
        self.sync()
        state = params.get("state")
        if kind == "creator":
            app_key = params.get("app_key", "")
            if not app_key:
                raise ConsentError("The authorization link has no app_key parameter.")
            app = self.find_app(app_key=app_key)
            if app is None:
                raise ConsentError(f"Unknown app_key {app_key!r}: no app with this App Key exists.")
            if not state:
                raise ConsentError("Creator authorization requires a state parameter, and this link has none.")
        else:
            service_id = params.get("service_id", "")
            if not service_id:
                raise ConsentError("The authorization link has no service_id parameter.")
            app = self.find_app(service_id=service_id)
            if app is None:
                raise ConsentError(
                    f"Unknown service_id {service_id!r}: no app with this service ID (Application ID) exists."
                )
        return ConsentRequest(kind=kind, app=app, state=state)

    def decide(self, request: ConsentRequest, seller_key: str, decision: str) -> str:
        """Apply the seller's decision and return the redirect URL (the app's callback)."""
        with self._reading():
            return self._decide(request, seller_key, decision)

    def _decide(self, request: ConsentRequest, seller_key: str, decision: str) -> str:
        seller = self.sellers.get(seller_key)
        if seller is None:
            raise ConsentError(f"Unknown seller {seller_key!r}; choose one of {', '.join(self.sellers)}.")
        params: list[tuple[str, str]]
        if decision == "authorize":
            code = self.issue_code(request.app.app_key, seller.key, request.user_type)
            params = [("code", code)]
            if request.state is not None:
                params.append(("state", request.state))
            params += [
                ("locale", "en"),
                ("shop_region", seller.base_region),
                ("app_key", request.app.app_key),
            ]
        elif decision == "cancel":
            params = [("error", "access_denied"), ("code", "null")]
            if request.state is not None:
                params.append(("state", request.state))
        else:
            raise ConsentError("The form must be submitted with decision=authorize or decision=cancel.")
        return append_query(request.app.redirect_url, params)

    def issue_code(self, app_key: str, seller_key: str, user_type: int = 0) -> str:
        """Issue a fresh authorization code, as if the seller clicked Authorize."""
        if app_key not in self.apps or seller_key not in self.sellers:
            raise ValueError("unknown app or seller")
        code = _new_code()
        with self._mutation():
            self.codes[code] = AuthCode(code, app_key, seller_key, user_type, self.now())
        return code

    # ------------------------------------------------------------------ tokens
    def _check_app(self, app_key: str, app_secret: str) -> App:
        app = self.apps.get(app_key)
        if app is None or not hmac.compare_digest(app.app_secret.encode(), app_secret.encode()):
            raise TikTokError(36004003, "invalid app_key or app_secret")
        return app

    def _token_data(self, grant: Grant) -> dict[str, Any]:
        seller = self.sellers[grant.seller_key]
        return {
            "access_token": grant.access_token,
            "access_token_expire_in": grant.access_expires_at,
            "refresh_token": grant.refresh_token,
            "refresh_token_expire_in": grant.refresh_expires_at,
            "open_id": grant.open_id,
            "seller_name": seller.name,
            "seller_base_region": seller.base_region,
            "user_type": grant.user_type,
            "granted_scopes": list(grant.scopes),
        }

    def token_get(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``/api/v2/token/get``: exchange an authorization code; returns the ``data`` object."""
        _require(params, ("app_key", "app_secret", "auth_code", "grant_type"))
        if params["grant_type"] != "authorized_code":
            raise TikTokError(36004002, "invalid param: grant_type must be authorized_code")
        app = self._check_app(params["app_key"], params["app_secret"])
        with self._mutation():
            now = self.now()
            code = self.codes.get(params["auth_code"])
            if code is None or code.used or code.app_key != app.app_key or now > code.issued_at + AUTH_CODE_TTL:
                raise TikTokError(36004004, "invalid auth code")
            code.used = True
            seller = self.sellers[code.seller_key]
            base = int(now)
            grant = Grant(
                app_key=app.app_key,
                seller_key=seller.key,
                user_type=code.user_type,
                open_id=seller.open_id_for(code.user_type),
                scopes=app.scopes,
                access_token=_new_token(),
                access_expires_at=base + ACCESS_TOKEN_TTL,
                refresh_token=_new_token(),
                refresh_expires_at=base + REFRESH_TOKEN_TTL,
            )
            self.grants.append(grant)
            self._by_access[grant.access_token] = grant
            self._by_refresh[grant.refresh_token] = grant
            return self._token_data(grant)

    def _grant_for_refresh(self, app: App, refresh_token: str) -> Grant:
        grant = self._by_refresh.get(refresh_token)
        if grant is None or grant.app_key != app.app_key:
            raise TikTokError(36004005, "can not find related auth record")
        if self.now() > grant.refresh_expires_at:
            raise TikTokError(36004001, "rt has expired")
        return grant

    def token_refresh(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``/api/v2/token/refresh``: rotate both tokens; returns the ``data`` object."""
        _require(params, ("app_key", "app_secret", "refresh_token", "grant_type"))
        if params["grant_type"] != "refresh_token":
            raise TikTokError(36004002, "invalid param: grant_type must be refresh_token")
        app = self._check_app(params["app_key"], params["app_secret"])
        with self._mutation():
            grant = self._grant_for_refresh(app, params["refresh_token"])
            del self._by_refresh[grant.refresh_token]
            self._by_access.pop(grant.access_token, None)
            grant.refresh_token = _new_token()
            grant.access_token = _new_token()
            grant.access_expires_at = min(int(self.now()) + ACCESS_TOKEN_TTL, grant.refresh_expires_at)
            self._by_refresh[grant.refresh_token] = grant
            self._by_access[grant.access_token] = grant
            return self._token_data(grant)

    def check_refresh_token(self, app_key: str, app_secret: str, refresh_token: str) -> Grant:
        """Validate TikTok credentials WITHOUT rotating anything (what API2Cart's add uses)."""
        app = self._check_app(app_key, app_secret)
        with self._reading():
            return self._grant_for_refresh(app, refresh_token)

    def deauthorize(self, seller_key: str) -> int:
        """Revoke every grant of a seller (like SELLER_DEAUTHORIZATION); returns how many."""
        with self._mutation():
            gone = [g for g in self.grants if g.seller_key == seller_key]
            for grant in gone:
                self._by_access.pop(grant.access_token, None)
                self._by_refresh.pop(grant.refresh_token, None)
                self.grants.remove(grant)
            return len(gone)

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
        app = self.apps.get(query.get("app_key", ""))
        if app is None:
            raise TikTokError(36009004, "invalid credentials: unknown app_key")
        raw_ts = query.get("timestamp", "")
        try:
            timestamp = int(raw_ts)
        except ValueError:
            raise TikTokError(36009004, "invalid timestamp: Unix seconds required") from None
        now = self.now()
        if not now - TIMESTAMP_MAX_AGE <= timestamp <= now + TIMESTAMP_MAX_AHEAD:
            raise TikTokError(
                36009004,
                "invalid timestamp: must be within 5 minutes before and 30 seconds after server time",
            )
        given = query.get("sign", "")
        expected = sign(path, query, app.app_secret, body, content_type or "application/json")
        if not given or not hmac.compare_digest(given.encode(), expected.encode()):
            raise TikTokError(106001, "invalid sign")
        if not access_token:
            raise TikTokError(105001, "access token is missing: send it in the x-tts-access-token header")
        with self._reading():
            grant = self._by_access.get(access_token)
            if grant is None or grant.app_key != app.app_key:
                raise TikTokError(105001, "access token is invalid or the seller deauthorized the app")
            if now > grant.access_expires_at:
                raise TikTokError(105002, "access token has expired")
            if SHOPS_SCOPE not in grant.scopes:
                raise TikTokError(105005, f"the app lacks the {SHOPS_SCOPE} scope")
            if grant.user_type == USER_TYPES["creator"]:
                return []
            return [shop.as_json() for shop in self.sellers[grant.seller_key].shops]

    # ------------------------------------------------------------------ API2Cart
    def _account(self, api_key: str | None) -> Api2CartAccount:
        account = self.api2cart_accounts.get(api_key or "")
        if account is None:
            raise Api2CartError(2, "Incorrect API Key")
        return account

    def _tiktok_check_for_api2cart(
        self, app_key: str, app_secret: str, refresh_token: str, access_token: str | None
    ) -> Grant:
        try:
            grant = self.check_refresh_token(app_key, app_secret, refresh_token)
            if access_token is not None and self._by_access.get(access_token) is not grant:
                raise TikTokError(105001, "access token is invalid")
        except TikTokError as err:
            raise Api2CartError(10, f"TikTok Shop: {err.message} ({err.code})") from None
        return grant

    def api2cart_add(self, api_key: str | None, body: object) -> dict[str, Any]:
        """``POST account.cart.add.json``; returns the ``result`` object."""
        account = self._account(api_key)
        if not isinstance(body, dict):
            raise Api2CartError(4, "Request body must be a JSON object")
        for name, value in body.items():
            if name != "verify" and value is not None and not isinstance(value, str):
                raise Api2CartError(4, f"Parameter {name} must be a string")
        fields: dict[str, str] = {k: v for k, v in body.items() if isinstance(v, str)}
        if not fields.get("cart_id"):
            raise Api2CartError(5, "Required parameter cart_id is missing")
        if fields["cart_id"] != TIKTOK_CART_ID:
            raise Api2CartError(3, f"Platform {fields['cart_id']!r} is not supported by the sandbox (only TikTokShop)")
        for name in ("tiktokshop_app_key", "tiktokshop_app_secret", "tiktokshop_refresh_token"):
            if not fields.get(name):
                raise Api2CartError(5, f"Required parameter {name} is missing")
        with self._mutation():
            grant = self._tiktok_check_for_api2cart(
                fields["tiktokshop_app_key"],
                fields["tiktokshop_app_secret"],
                fields["tiktokshop_refresh_token"],
                fields.get("tiktokshop_access_token") or None,
            )
            url = fields.get("store_url") or self._default_store_url(grant)
            existing = next((c for c in account.carts if c.url == url), None)
            if existing is not None:
                existing.app_key = fields["tiktokshop_app_key"]
                existing.app_secret = fields["tiktokshop_app_secret"]
                existing.refresh_token = fields["tiktokshop_refresh_token"]
                existing.access_token = fields.get("tiktokshop_access_token") or None
                if "custom_label" in fields:
                    existing.custom_label = fields["custom_label"]
                return {"store_key": existing.store_key}
            cart = StoredCart(
                id=str(self._next_cart_id),
                store_key=uuid.uuid4().hex,
                cart_id=TIKTOK_CART_ID,
                url=url,
                custom_label=fields.get("custom_label", ""),
                app_key=fields["tiktokshop_app_key"],
                app_secret=fields["tiktokshop_app_secret"],
                refresh_token=fields["tiktokshop_refresh_token"],
                access_token=fields.get("tiktokshop_access_token") or None,
            )
            self._next_cart_id += 1
            account.carts.append(cart)
            return {"store_key": cart.store_key}

    def _default_store_url(self, grant: Grant) -> str:
        shops = self.sellers[grant.seller_key].shops
        if grant.user_type == USER_TYPES["creator"] or not shops:
            return f"{STORE_URL_BASE}creator-{grant.open_id}"
        return STORE_URL_BASE + shops[0].code

    def api2cart_list(self, api_key: str | None) -> dict[str, Any]:
        account = self._account(api_key)
        with self._reading():
            carts = [c.as_json() for c in account.carts]
        return {"carts": carts, "carts_count": len(carts)}

    def api2cart_validate(self, api_key: str | None, store_key: str | None) -> dict[str, Any]:
        account = self._account(api_key)
        if not store_key:
            raise Api2CartError(5, "Required parameter store_key is missing (send the x-store-key header)")
        with self._reading():
            cart = next(
                (c for c in account.carts if hmac.compare_digest(c.store_key.encode(), store_key.encode())),
                None,
            )
            if cart is None:
                raise Api2CartError(9, "Incorrect store key")
            self._tiktok_check_for_api2cart(cart.app_key, cart.app_secret, cart.refresh_token, None)
            return {"store_key": cart.store_key, "cart_id": cart.cart_id, "url": cart.url}

    def api2cart_supported_platforms(self, api_key: str | None) -> dict[str, Any]:
        self._account(api_key)
        return {"supported_platforms": copy.deepcopy(list(SUPPORTED_PLATFORMS))}


_T = TypeVar("_T")


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


def _check_redirect_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("the redirect URL must be an absolute http:// or https:// URL")
