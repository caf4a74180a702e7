"""The exception hierarchy. Every message says what happened and what to do next.

::

    TikTokHelperError                 base of everything raised here
    ├── SettingsError                 .env could not be read or written
    │   ├── EnvFileError              a line of .env python-dotenv cannot read
    │   ├── GrantDatabaseError        the grant database refused: foreign, damaged, newer, unwritable
    │   │   └── GrantDatabaseBusy     another process held its write lock too long
    │   └── GrantNotSaved             a new token pair received but not committed (.reason)
    ├── ValidationError               bad input; .problems lists each field
    │   └── CallbackPortBusy          the catcher cannot listen on the redirect URL's port
    ├── MissingSettingError           a step needs a value not configured yet
    ├── AuthorizationError            the redirect back from TikTok
    │   ├── AuthorizationDenied       the seller pressed Cancel / TikTok refused
    │   ├── MissingAuthCode           no code in what was given
    │   ├── StateMismatch             state differs from the one sent
    │   ├── InvalidRedirect           not a URL nor a code
    │   └── RedirectTimeout           nothing came back before the deadline
    ├── ServiceError                  talking to a service failed
    │   ├── ServiceUnreachable        connection failed
    │   ├── RequestTimeout            no answer in time
    │   ├── HTTPStatusError           HTTP error status without a usable body
    │   ├── InvalidResponse           not the JSON expected
    │   └── ApiError                  the service answered with an error code
    │       ├── TokenError            auth.tiktok-shops.com (/api/v2/token/*)
    │       │   ├── InvalidAuthCode         36004004
    │       │   ├── RefreshTokenNotFound    36004005
    │       │   └── RefreshTokenExpired     36004001
    │       ├── OpenApiError          open-api.tiktokglobalshop.com
    │       │   ├── AccessTokenInvalid      105001
    │       │   ├── AccessTokenExpired      105002
    │       │   ├── ScopeMissing            105005
    │       │   ├── InvalidSignature        106001
    │       │   ├── InvalidCredentials      36009004 (.reason: the cause TikTok's message names)
    │       │   ├── OpenApiInternalError    36009003 (retry later)
    │       │   ├── RateLimited             36009002
    │       │   └── IpNotAllowed            36009033
    │       └── Api2CartError         api.api2cart.com (non-zero return_code; .transient)

Titles, causes and fixes come from :mod:`tiktok_helpers.catalog`. No message ever contains an
app secret, auth code or token: API replies are scrubbed of the secrets that were sent.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Final

from .catalog import CatalogEntry, Cause, api2cart_key, cause_of, lookup
from .secret import Secret, mask

__all__ = [
    "REDIRECT_URL_FIELD",
    "AccessTokenExpired",
    "AccessTokenInvalid",
    "Api2CartError",
    "ApiError",
    "AuthorizationDenied",
    "AuthorizationError",
    "CallbackPortBusy",
    "EnvFileError",
    "FieldProblem",
    "GrantDatabaseBusy",
    "GrantDatabaseError",
    "GrantNotSaved",
    "HTTPStatusError",
    "InvalidAuthCode",
    "InvalidCredentials",
    "InvalidRedirect",
    "InvalidResponse",
    "InvalidSignature",
    "IpNotAllowed",
    "MissingAuthCode",
    "MissingSettingError",
    "NoSellerYet",
    "OpenApiError",
    "OpenApiInternalError",
    "RateLimited",
    "RedirectTimeout",
    "RefreshTokenExpired",
    "RefreshTokenNotFound",
    "RequestTimeout",
    "ScopeMissing",
    "ServiceError",
    "ServiceUnreachable",
    "SettingsError",
    "StateMismatch",
    "TikTokHelperError",
    "TokenError",
    "TokensInEnvironment",
    "ValidationError",
    "scrub",
]


def scrub(text: str, secrets: Iterable[Secret | str | None]) -> str:
    """Replace every occurrence of each secret in ``text`` by its masked form."""
    for item in secrets:
        value = item.reveal() if isinstance(item, Secret) else item
        if value and len(value) >= 4 and value in text:
            text = text.replace(value, mask(value))
    return text


#: The field a problem with the app's redirect URL carries (the Partner Center form's label), as a
#: value callers compare with, never a phrase to search for.
REDIRECT_URL_FIELD: Final = "Redirect URL"


class TikTokHelperError(Exception):
    """Base class. ``entry`` is the catalog entry; ``str(exc)`` is title, detail and fix."""

    catalog_code: ClassVar[str] = "runbook.error"

    def __init__(self, detail: str = "", *, code: str | None = None) -> None:
        self.entry: CatalogEntry = lookup(code or self.catalog_code)
        self.detail = detail
        super().__init__(self._compose())

    @property
    def title(self) -> str:
        return self.entry.title

    @property
    def fix(self) -> str:
        return self.entry.fix

    @property
    def cause(self) -> str:
        return self.entry.cause

    def _compose(self) -> str:
        text = self.detail.strip().rstrip(".")
        detail = f": {text}." if text else "."
        return f"{self.entry.title}{detail} What to do: {self.entry.fix}"


class SettingsError(TikTokHelperError):
    catalog_code = "settings.file"


class EnvFileError(SettingsError):
    """A line of ``.env`` that python-dotenv cannot read: nothing was read or written.

    ``line`` is 1-based; ``key`` is the setting name the line starts with, if one can be seen (the
    value never appears: it may be a secret); ``reason`` says what is wrong; ``more`` lists the
    numbers of further unreadable lines.
    """

    catalog_code = "settings.syntax"

    def __init__(self, path: str, line: int, key: str | None, reason: str, more: Iterable[int] = ()) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.reason = reason
        self.more = tuple(more)
        name = os.path.basename(path) or path
        of_key = f" ({key}=...)" if key else ""
        others = ""
        if self.more:
            listed = ", ".join(str(n) for n in self.more)
            others = f" (line{'s' if len(self.more) > 1 else ''} {listed} cannot be read either)"
        super().__init__(
            f"line {line} of {path}{of_key} cannot be read: {reason}{others}. "
            f"Fix or delete line {line} of {name}; nothing was read or written"
        )


@dataclass(frozen=True)
class FieldProblem:
    """One problem with one input field: which field, and what to change."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ValidationError(TikTokHelperError):
    """Input that must be corrected. ``problems`` has one entry per field."""

    catalog_code = "settings.invalid"

    def __init__(self, problems: Iterable[FieldProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(p.field for p in self.problems)


class CallbackPortBusy(ValidationError):
    """The catcher cannot listen on the redirect URL's port (another program holds it, or the
    address does not exist here). Nothing was saved: this is not a settings form problem.

    Raised by the catcher itself. A :class:`ValidationError` (field ``Redirect URL``) so callers
    that catch that keep working; its title and fix are the catalog's (``redirect.port_busy``): a
    port taken, and the three ways on. The values: ``address`` is the loopback address that could
    not be listened on (``127.0.0.1``, ``::1``; empty when not known), ``port`` its port, ``busy``
    True when another program listens on it; ``reason`` (also :attr:`cause`) is what the catcher
    met, in words for the person (never matched by code).
    """

    catalog_code = "redirect.port_busy"

    def __init__(self, problem: FieldProblem, port: int, *, busy: bool, address: str = "") -> None:
        self.address = address
        self.port = port
        self.busy = busy
        self.reason = problem.message
        super().__init__([problem])

    @property
    def cause(self) -> str:
        return self.reason

    @property
    def where(self) -> str:
        """``address:port`` as a URL writes it (IPv6 in brackets); empty when the address is not known."""
        if not self.address:
            return ""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    def _compose(self) -> str:
        if self.busy:
            holder = f" (one is listening on {self.where})" if self.where else ""
            what = f"port {self.port} is taken by another program{holder}"
        else:
            what = self.reason.strip().rstrip(".")
        return f"{self.title}: {what}. What to do: {self.fix}"


class MissingSettingError(TikTokHelperError):
    catalog_code = "settings.missing"


class NoSellerYet(MissingSettingError):
    """A step needs a seller's grant and none of this app and mode exists."""

    catalog_code = "grants.no_seller"


class TokensInEnvironment(SettingsError):
    """A seller's token is set in the process environment: refused, never saved."""

    catalog_code = "settings.tokens_in_environment"


class GrantDatabaseError(SettingsError):
    """The grant database cannot be used as it is (another program's file, damaged, newer, or a write
    the disk refused); it was left as it is. ``path`` is the file, :attr:`fix` what to do in this
    case (the catalog's is the general one), ``reason`` what went wrong, without the file's name."""

    catalog_code = "grants.database"

    def __init__(self, path: object, detail: str, fix: str = "", *, reason: str = "") -> None:
        self.path, self._fix, self.reason = str(path), fix, reason or detail
        super().__init__(detail)

    @property
    def fix(self) -> str:
        return self._fix or self.entry.fix

    def _compose(self) -> str:
        return f"{self.entry.title}: {self.detail.strip().rstrip('.')}. What to do: {self.fix}"


class GrantDatabaseBusy(GrantDatabaseError):
    """Another process held the write lock longer than the runbook waits; the file is fine."""

    catalog_code = "grants.busy"


class GrantNotSaved(SettingsError):
    """A new token pair was received but not committed (disk full, I/O error, read-only, busy) after
    a few tries. ``tokens`` is the pair (masked in print, never in the message), ``grant_id`` its
    grant (None: a new seller), ``seller`` who in words, ``reason`` why, ``path`` the database."""

    catalog_code = "grants.not_saved"

    def __init__(
        self, path: object, *, reason: str, seller: str, tokens: object = None, grant_id: int | None = None
    ) -> None:
        self.path, self.reason, self.seller, self.tokens, self.grant_id = str(path), reason, seller, tokens, grant_id
        super().__init__(f"a new token pair for {seller} was received but could not be saved in {self.path}: {reason}")


class AuthorizationError(TikTokHelperError):
    catalog_code = "redirect.invalid"


class AuthorizationDenied(AuthorizationError):
    catalog_code = "redirect.denied"

    def __init__(self, error: str, description: str = "") -> None:
        self.error = error
        self.description = description
        extra = f" ({description})" if description else ""
        super().__init__(f"TikTok redirected back with error={error}{extra}")


class MissingAuthCode(AuthorizationError):
    catalog_code = "redirect.no_code"


class StateMismatch(AuthorizationError):
    catalog_code = "redirect.state_mismatch"


class InvalidRedirect(AuthorizationError):
    catalog_code = "redirect.invalid"


class RedirectTimeout(AuthorizationError):
    catalog_code = "redirect.timeout"


class ServiceError(TikTokHelperError):
    """Talking to a service failed. ``service`` names it; ``url`` is scheme, host and path only."""

    catalog_code = "http.connect"

    def __init__(self, detail: str = "", *, service: str = "", url: str = "", code: str | None = None) -> None:
        self.service = service
        self.url = url
        super().__init__(detail, code=code)


class ServiceUnreachable(ServiceError):
    catalog_code = "http.connect"


class RequestTimeout(ServiceError):
    catalog_code = "http.timeout"


class HTTPStatusError(ServiceError):
    catalog_code = "http.status"

    def __init__(self, status_code: int, *, service: str, url: str) -> None:
        self.status_code = status_code
        super().__init__(f"{service} answered HTTP {status_code} at {url}", service=service, url=url)


class InvalidResponse(ServiceError):
    catalog_code = "http.invalid_body"


class ApiError(ServiceError):
    """The service answered, with an error code. ``code``, ``message`` and ``request_id`` are TikTok's
    (or API2Cart's) own; ``entry`` explains it."""

    catalog_code = "tiktok.unknown"
    #: Codes handled by this class, filled by subclasses for :meth:`for_code`.
    codes: ClassVar[tuple[int, ...]] = ()

    def __init__(
        self,
        code: int,
        message: str,
        request_id: str = "",
        *,
        service: str = "",
        url: str = "",
        http_status: int = 200,
    ) -> None:
        self.code = code
        self.message = message
        self.request_id = request_id
        self.http_status = http_status
        catalog_key = self._catalog_key(code)
        rid = f", request_id {request_id}" if request_id else ""
        detail = f"{service or 'The service'} said code {code}{rid}: {message!r}"
        super().__init__(detail, service=service, url=url, code=catalog_key)

    @classmethod
    def _catalog_key(cls, code: int) -> str:
        key = str(code)
        return key if lookup(key, fallback=cls.catalog_code).code == key else cls.catalog_code


class TokenError(ApiError):
    catalog_code = "tiktok.unknown"


class InvalidAuthCode(TokenError):
    codes = (36004004,)


class RefreshTokenNotFound(TokenError):
    codes = (36004005,)


class RefreshTokenExpired(TokenError):
    codes = (36004001,)


class OpenApiError(ApiError):
    catalog_code = "openapi.unknown"


class AccessTokenInvalid(OpenApiError):
    codes = (105001,)


class AccessTokenExpired(OpenApiError):
    codes = (105002,)


class ScopeMissing(OpenApiError):
    codes = (105005,)


class InvalidSignature(OpenApiError):
    codes = (106001,)


class InvalidCredentials(OpenApiError):
    """36009004, which has several causes (TikTok's "Common errors", live replies). ``reason`` is the one TikTok's
    ``message`` names (None when it names none the catalog knows); ``cause``, ``fix`` and the
    text of the exception are then that cause's, so the error shown says which."""

    codes = (36009004,)

    @property
    def reason(self) -> Cause | None:
        return cause_of(self.code, self.message)

    @property
    def cause(self) -> str:
        reason = self.reason
        return reason.cause if reason else self.entry.cause

    @property
    def fix(self) -> str:
        reason = self.reason
        return reason.fix if reason else self.entry.fix

    def _compose(self) -> str:
        reason = self.reason
        if reason is None:
            return super()._compose()
        text = self.detail.strip().rstrip(".")
        return f"{self.entry.title}: {text}. Cause: {reason.cause}. What to do: {reason.fix}"


class OpenApiInternalError(OpenApiError):
    """36009003: TikTok failed inside; the request may succeed later (the catalog marks it transient)."""

    codes = (36009003,)


class RateLimited(OpenApiError):
    codes = (36009002,)


class IpNotAllowed(OpenApiError):
    codes = (36009033,)


class Api2CartError(ApiError):
    """A non-zero API2Cart ``return_code`` (the one API2Cart error type; ``code`` is the number).

    ``transient`` comes from the catalog: the published codes that pass by themselves (1, 7, 9,
    10, 110) mean "try again later", never "re-authorize".
    """

    catalog_code = "api2cart.unknown"

    @property
    def transient(self) -> bool:
        """True when trying again later (with backoff) is the fix."""
        return self.entry.transient

    @classmethod
    def _catalog_key(cls, code: int) -> str:
        key = api2cart_key(code)
        return key if lookup(key, fallback=cls.catalog_code).code == key else cls.catalog_code


def error_class_for(base: type[ApiError], code: int) -> type[ApiError]:
    """Return the most specific subclass of ``base`` that handles ``code`` (or ``base``)."""
    for sub in base.__subclasses__():
        if code in sub.codes:
            return sub
    return base
