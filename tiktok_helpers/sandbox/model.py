"""The sandbox's data model: plain data, no rules and no HTTP.

The sample app, the sellers with their shops, issued authorization codes, token grants, API2Cart
accounts and their stores, a validated consent request, and the error replies the simulated
services send (the Open API's, each with its HTTP status: :class:`OpenApiAnswer`, their public
sources listed in :mod:`.tiktok`'s docstring). The rules that create and change these objects live
in :mod:`.tiktok`, :mod:`.api2cart` and :mod:`.agency`; the sample values in :mod:`.sample_data`;
the rows they are kept in, in :mod:`.store` and :mod:`.schema`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

__all__ = [
    "BAD_ACCESS_TOKEN",
    "BAD_SIGN",
    "REFRESH_READINGS",
    "SCOPE_MISSING",
    "SIGN_MISSING",
    "TIMESTAMP_AHEAD",
    "TIMESTAMP_BEHIND",
    "TIMESTAMP_NOT_A_NUMBER",
    "TOKEN_DEAUTHORIZED",
    "TOKEN_EXPIRED",
    "UNKNOWN_APP_KEY",
    "USER_TYPES",
    "Api2CartAccount",
    "Api2CartErrorReply",
    "App",
    "AuthCode",
    "AuthKind",
    "ConsentPageRefusal",
    "ConsentRequest",
    "Grant",
    "OpenApiAnswer",
    "RefreshReading",
    "SampleShop",
    "Seller",
    "StoredCart",
    "TikTokErrorReply",
    "append_query",
    "check_redirect_url",
    "check_refresh_reading",
    "token_data",
]

AuthKind = Literal["seller", "partner", "creator"]
#: user_type in the token reply for each kind of authorization.
USER_TYPES: Final[Mapping[AuthKind, int]] = {"seller": 0, "creator": 1, "partner": 3}
#: What ``/api/v2/token/refresh`` does to the refresh token (TikTok does not document it; see
#: :mod:`.tiktok`): ``"new"`` issues a new one and retires the old, ``"same"`` returns the same one.
RefreshReading = Literal["new", "same"]
REFRESH_READINGS: Final[tuple[RefreshReading, ...]] = ("new", "same")
#: Characters a registered callback URL may keep as they are (anything else is percent-encoded).
_URL_SAFE: Final = ":/?#[]@!$&'()*+,;=%~"


def check_refresh_reading(value: object) -> RefreshReading:
    """``value`` if it is a reading of refresh-token rotation the sandbox serves, else ValueError."""
    if value == "new" or value == "same":
        return value
    raise ValueError(f"the refresh reading must be 'new' or 'same', not {value!r}")


class TikTokErrorReply(Exception):
    """A TikTok-style error reply: non-zero ``code``, a ``message`` (never holds a secret) and the
    HTTP ``status`` it is sent with (200 unless the rule that raises it says otherwise)."""

    def __init__(self, code: int, message: str, status: int = 200) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class OpenApiAnswer:
    """One Open API error reply: its code, message and HTTP status (sources: :mod:`.tiktok`)."""

    code: int
    message: str
    status: int = 200

    def refusal(self) -> TikTokErrorReply:
        """A new exception to raise for this reply (never one instance shared across requests)."""
        return TikTokErrorReply(self.code, self.message, self.status)


# The signed Open API call's error replies, in the order the checks run; which of these TikTok
# documents or sends live, and which are the sandbox's own, is listed with each public source in
# :mod:`.tiktok`'s docstring.
UNKNOWN_APP_KEY: Final = OpenApiAnswer(36009004, "Invalid credentials. Invalid 'app_key' query parameter.", 400)
TIMESTAMP_NOT_A_NUMBER: Final = OpenApiAnswer(36009004, "invalid timestamp: Unix seconds required", 401)
TIMESTAMP_AHEAD: Final = OpenApiAnswer(
    36009004,
    "Invalid timestamp. The value of the `timestamp` query parameter must not exceed the current time by more "
    "than 30 seconds.",
    401,
)
TIMESTAMP_BEHIND: Final = OpenApiAnswer(36009004, "invalid timestamp: more than 5 minutes before server time", 401)
SIGN_MISSING: Final = OpenApiAnswer(36009004, "invalid credentials: the sign parameter is missing", 401)
BAD_SIGN: Final = OpenApiAnswer(106001, "Invalid credentials. The 'sign' query parameter is invalid.", 401)
BAD_ACCESS_TOKEN: Final = OpenApiAnswer(
    36009004, "Invalid credentials. The 'x-tts-access-token' header is invalid", 401
)
TOKEN_DEAUTHORIZED: Final = OpenApiAnswer(105001, "access token is invalid; detail:your token has been deauthorized")
TOKEN_EXPIRED: Final = OpenApiAnswer(105002, "access token is expired, please refresh it")
SCOPE_MISSING: Final = OpenApiAnswer(105005, "you should apply auth pkg for this api")


class Api2CartErrorReply(Exception):
    """An API2Cart-style error reply: non-zero ``return_code`` and a message (no secrets)."""

    def __init__(self, return_code: int, message: str) -> None:
        super().__init__(f"{return_code}: {message}")
        self.return_code = return_code
        self.message = message


class ConsentPageRefusal(Exception):
    """The consent screen cannot be shown or submitted; rendered as an HTML error page."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class SampleShop:
    """One shop of a sample seller, as Get Authorized Shops lists it."""

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
    shops: tuple[SampleShop, ...]

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


def check_redirect_url(url: str) -> None:
    """Raise ValueError unless ``url`` can be an app's registered callback URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("the redirect URL must be an absolute http:// or https:// URL")


def append_query(url: str, params: list[tuple[str, str]]) -> str:
    """Add query parameters to ``url``, keeping any it already has (and its fragment)."""
    parts = urlsplit(quote(url, safe=_URL_SAFE))
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


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


def token_data(grant: Grant, seller: Seller) -> dict[str, Any]:
    """The ``data`` object of a token/get or token/refresh reply for ``grant``."""
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


@dataclass
class StoredCart:
    """A store added to an API2Cart account, with the TikTok credentials it was added with."""

    id: str
    store_key: str
    cart_id: str
    #: None when the store was added without ``store_url`` (API2Cart's mock server: ``"url": null``).
    url: str | None
    custom_label: str
    app_key: str
    app_secret: str
    refresh_token: str
    access_token: str | None

    def as_json(self) -> dict[str, str | None]:
        """The public view (no credentials)."""
        return {
            "id": self.id,
            "url": self.url,
            "store_key": self.store_key,
            "cart_id": self.cart_id,
            "custom_label": self.custom_label,
        }


@dataclass(frozen=True)
class Api2CartAccount:
    """An API2Cart account (its stores are rows of the state database, see :mod:`.store`)."""

    api_key: str


@dataclass(frozen=True)
class ConsentRequest:
    """A validated request for the consent screen."""

    kind: AuthKind
    app: App
    state: str | None

    @property
    def user_type(self) -> int:
        return USER_TYPES[self.kind]
