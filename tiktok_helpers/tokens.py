"""Exchange an auth code for tokens, and refresh them (auth.tiktok-shops.com/api/v2/token/*).

TikTok answers errors with HTTP 200 and a non-zero ``code`` in the body: success is
``code == 0``, never the HTTP status. Both ``*_expire_in`` fields are absolute Unix timestamps,
not durations. Whether refresh rotates the refresh token is not documented, so the caller must
always store the refresh token of the latest reply (:meth:`tiktok_helpers.store.EnvStore.save_tokens`).

Neither call is safe to repeat once it may have reached TikTok (a code works once, and a refresh
whose reply was lost may already have replaced the refresh token): only a connection that was
never made is tried again (:meth:`tiktok_helpers.retry.RetryPolicy.should_retry`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final

from .errors import InvalidResponse, TokenError
from .http import Envelope, ServiceClient, Transport
from .regions import DEFAULT_ENDPOINTS, Region, UserType
from .secret import Secret

__all__ = ["RECOMMENDED_SCOPES", "TokenClient", "TokenSet", "storable"]

TOKEN_GET_PATH: Final = "/api/v2/token/get"
TOKEN_REFRESH_PATH: Final = "/api/v2/token/refresh"

#: Anything below this is not a plausible absolute timestamp (2001-09-09) and is read as a duration.
_ABSOLUTE_AFTER: Final = 1_000_000_000

#: Scopes a TikTok Shop connection for API2Cart relies on; API2Cart recommends granting all.
RECOMMENDED_SCOPES: Final = (
    "seller.authorization.info",
    "seller.shop.info",
    "seller.product.basic",
    "seller.order.info",
    "seller.fulfillment.basic",
    "seller.logistics",
    "seller.finance.info",
    "seller.returns.info",
)


#: A surrogate code point left alone: JSON can carry one (``"\\ud800"``), UTF-8 cannot, so neither can
#: SQLite, a file or a terminal.
_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def storable(value: object) -> str:
    """``value`` as text that can be stored and shown: a lone surrogate from a service's JSON reply
    (a valid pair arrives as one character) becomes U+FFFD, so a seller's or a shop's name can never
    make a save fail. Used where a reply is parsed, for every text field but the tokens."""
    return _LONE_SURROGATE.sub("\ufffd", str(value))


def _token(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidResponse("the token reply has no access_token or refresh_token")
    if _LONE_SURROGATE.search(value):  # replaced, it would no longer be the token (nor could it be sent)
        raise InvalidResponse(f"the token reply's {name} holds a character that is not text (a lone surrogate)")
    return value


def _expiry(value: object, now: float, name: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidResponse(f"the token reply's {name} is not a number")
    try:
        number = int(value)
    except ValueError:
        raise InvalidResponse(f"the token reply's {name} is not a number") from None
    if number < _ABSOLUTE_AFTER:
        # Documented as absolute; a small value can only be a duration in seconds.
        number = int(now) + number
    return datetime.fromtimestamp(number, tz=timezone.utc)


@dataclass(frozen=True)
class TokenSet:
    """One token reply. Tokens are :class:`Secret`, so printing this shows them masked."""

    access_token: Secret
    access_token_expires_at: datetime
    refresh_token: Secret
    refresh_token_expires_at: datetime
    open_id: str = ""
    seller_name: str = ""
    seller_base_region: str = ""
    user_type: UserType = UserType.UNKNOWN
    granted_scopes: tuple[str, ...] = ()
    request_id: str = field(default="", compare=False)

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, request_id: str = "", now: float | None = None) -> TokenSet:
        """Build from the ``data`` object of a token reply."""
        now = time.time() if now is None else now
        access = _token(data.get("access_token"), "access_token")
        refresh = _token(data.get("refresh_token"), "refresh_token")
        scopes = data.get("granted_scopes")
        if scopes is None:
            scopes = data.get("granted_permissions")  # older replies
        return cls(
            access_token=Secret(access),
            access_token_expires_at=_expiry(data.get("access_token_expire_in"), now, "access_token_expire_in"),
            refresh_token=Secret(refresh),
            refresh_token_expires_at=_expiry(data.get("refresh_token_expire_in"), now, "refresh_token_expire_in"),
            open_id=storable(data.get("open_id") or ""),
            seller_name=storable(data.get("seller_name") or ""),
            seller_base_region=storable(data.get("seller_base_region") or ""),
            user_type=UserType.from_code(data.get("user_type")),
            granted_scopes=tuple(storable(s) for s in scopes) if isinstance(scopes, (list, tuple)) else (),
            request_id=request_id,
        )

    def missing_scopes(self, wanted: Iterable[str] = RECOMMENDED_SCOPES) -> tuple[str, ...]:
        granted = set(self.granted_scopes)
        return tuple(s for s in wanted if s not in granted)


class TokenClient(ServiceClient):
    """Client for TikTok's token endpoints. Reuse one instance for every call.

    ``transport`` defaults to the global token host (:data:`~tiktok_helpers.regions.DEFAULT_ENDPOINTS`).
    """

    service = "TikTok authorization service"
    envelope = Envelope(TokenError)

    def __init__(
        self,
        app_key: str,
        app_secret: Secret | str,
        transport: Transport | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(transport or Transport(DEFAULT_ENDPOINTS[Region.GLOBAL].token_base))
        self.app_key = app_key
        self.app_secret = Secret(app_secret)
        self._clock = clock

    def __repr__(self) -> str:
        return f"TokenClient(app_key={self.app_key!r}, app_secret={self.app_secret!r}, base_url={self.base_url!r})"

    def _secrets(self) -> Iterable[Secret | str | None]:
        return (self.app_secret,)

    # The code, the refresh token and the app secret stay Secret here: the HTTP layer reveals them
    # only while it builds the request (pass a Secret, not a str, to keep yours out of locals too).

    def exchange(self, auth_code: Secret | str) -> TokenSet:
        """Trade a one-time auth code (valid 30 minutes) for an access and a refresh token."""
        code = Secret(auth_code)
        return self._call(TOKEN_GET_PATH, {"auth_code": code, "grant_type": "authorized_code"}, code)

    def refresh(self, refresh_token: Secret | str) -> TokenSet:
        """Get a fresh access token. Store the refresh token of the reply: it may have changed."""
        token = Secret(refresh_token)
        return self._call(TOKEN_REFRESH_PATH, {"refresh_token": token, "grant_type": "refresh_token"}, token)

    def _call(self, path: str, params: Mapping[str, str | Secret], sent: Secret) -> TokenSet:
        query = {"app_key": self.app_key, "app_secret": self.app_secret, **params}
        body = self._send("GET", path, params=query, extra_secrets=(sent,))  # never safe to repeat once sent
        with self._reading(path):
            data = body.get("data")
            if not isinstance(data, dict):
                raise InvalidResponse(f"{self.service} said success but sent no 'data' object")
            return TokenSet.from_data(data, request_id=str(body.get("request_id") or ""), now=self._clock())
