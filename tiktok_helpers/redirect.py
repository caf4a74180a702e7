"""Parse what comes back after approval: the redirect URL, its query, or a bare code.

TikTok redirects to the app's callback URL as ``?code=<auth_code>&state=<state>`` and often adds
``locale``, ``shop_region`` and ``app_key``. A refusal arrives with ``code=null`` and an
``error``: TikTok's 202407 authorization overview spells it ``error=auth_denied`` (what the
sandbox sends); ``access_denied`` also appears in public code. Any ``error`` is a refusal
(:class:`~tiktok_helpers.errors.AuthorizationDenied`, with the value TikTok sent), so both are
accepted. People paste all sorts of things, so this accepts the full URL, just the query string,
or the code alone, and tolerates spaces, quotes and line breaks around it.

What is returned can be saved and sent as it is: a control character anywhere in the text (NUL,
ESC...), or in the code once decoded (``code=a%00b``), a code longer than :data:`CODE_MAX_LENGTH`
or one :func:`~tiktok_helpers.validation.clean_token` refuses is an
:class:`~tiktok_helpers.errors.InvalidRedirect`, raised before anything is saved.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs, urlsplit

from .errors import AuthorizationDenied, InvalidRedirect, MissingAuthCode, StateMismatch, ValidationError
from .secret import Secret
from .validation import clean_token, control_character, strip_pasted

__all__ = ["CODE_MAX_LENGTH", "RedirectResult", "check_pasted", "parse_redirect"]

#: The longest auth code accepted (TikTok's are about a hundred characters).
CODE_MAX_LENGTH: Final = 2048
_BARE_CODE: Final = re.compile(rf"[A-Za-z0-9_\-.~*]{{6,{CODE_MAX_LENGTH}}}")
_AGAIN: Final = "copy the address again from the browser's address bar"
_NULLS: Final = frozenset({"", "null", "none", "undefined"})


@dataclass(frozen=True)
class RedirectResult:
    """The useful parts of a redirect. ``code`` is a :class:`Secret`: it prints masked."""

    code: Secret
    state: str | None = None
    shop_region: str | None = None
    locale: str | None = None
    app_key: str | None = None
    #: True when only a bare code was given, so there was no state to check.
    bare_code: bool = False
    #: True when a redirect without state was accepted because the person said it comes from a TikTok
    #: Shop App Store install (those carry no state), so it could not be tied to a link built here.
    app_store_install: bool = False


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0].strip() if values else None


def _too_long(code: str) -> InvalidRedirect:
    return InvalidRedirect(
        f"the code is {len(code)} characters, longer than any auth code (at most {CODE_MAX_LENGTH}); {_AGAIN}"
    )


def _checked_code(code: str) -> Secret:
    """The code as it will be saved and sent, or :class:`InvalidRedirect` saying what is wrong."""
    if len(code) > CODE_MAX_LENGTH:
        raise _too_long(code)
    shown = control_character(code)
    if shown:
        raise InvalidRedirect(f"the code contains a control character ({shown}), which no auth code has; {_AGAIN}")
    try:
        return Secret(clean_token(code, "code"))
    except ValidationError as exc:
        problem = "; ".join(p.message for p in exc.problems)
    raise InvalidRedirect(f"the code {problem}")  # outside the except: the ValidationError is not kept


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


def parse_redirect(text: str, expected_state: str | None = None, *, app_store_install: bool = False) -> RedirectResult:
    """Return the code and the other parameters of a redirect, or raise what is wrong.

    With ``expected_state`` set, a redirect URL must carry exactly that state
    (:class:`StateMismatch` otherwise). A bare code has no state to check; the person pasting
    it vouches for it. ``app_store_install``: the person says this redirect comes from a TikTok Shop
    App Store install, which carries no state (TikTok Shop Partner Center's seller authorization
    guide: "There will not be ``state`` passed"): a code without any state is then accepted (marked
    :attr:`RedirectResult.app_store_install`); a state that differs is still refused.
    """
    shown = control_character(text) if isinstance(text, str) else None
    if shown:
        raise InvalidRedirect(
            f"the text contains a control character ({shown}), which no address or code has; {_AGAIN}"
        )
    raw = strip_pasted(text, "redirect").replace("\n", "").replace("\r", "")
    if not raw:
        raise MissingAuthCode("nothing was given")
    if "=" not in raw and "?" not in raw and "://" not in raw:
        if raw.lower() in _NULLS:
            raise AuthorizationDenied("code=null")
        if len(raw) > CODE_MAX_LENGTH:
            raise _too_long(raw)
        if not _BARE_CODE.fullmatch(raw):
            raise InvalidRedirect("the text is neither an address nor an auth code")
        return RedirectResult(code=_checked_code(raw), bare_code=True)
    try:
        query_text = urlsplit(raw).query if "://" in raw or raw.startswith("/") else raw.lstrip("?")
    except ValueError:
        raise InvalidRedirect("the address is malformed; copy it again from the browser's address bar") from None
    if "://" in raw and not query_text:
        raise MissingAuthCode("the address has no ?code=... part; copy the address after approving")
    if "#" in query_text:
        query_text = query_text.split("#", 1)[0]
    query = parse_qs(query_text, keep_blank_values=True)
    error = _first(query, "error")
    code = _first(query, "code")
    state = _first(query, "state")
    if expected_state is not None and state is not None and not _same(state, expected_state):
        # Checked before anything else, refusals included: a page elsewhere must not be able to
        # end the wait with a forged "auth_denied".
        raise StateMismatch("the redirect's state differs from the one in the link you opened")
    if error:
        raise AuthorizationDenied(error, _first(query, "error_description") or "")
    if code is None:
        raise MissingAuthCode("the redirect has no code parameter")
    if code.lower() in _NULLS:
        raise AuthorizationDenied("code=null")
    stateless = expected_state is not None and state is None
    if stateless and not app_store_install:
        # A refusal without state is still reported as a refusal (TikTok does not document
        # whether it echoes state then); a code without the state is not accepted.
        raise StateMismatch(
            "the redirect carries no state, but the link sent one; only a TikTok Shop App Store install "
            "arrives without one: if the seller installed the app there, say so (App Store install) and "
            "check the seller's name after the exchange"
        )
    return RedirectResult(
        code=_checked_code(code),
        state=state,
        shop_region=_first(query, "shop_region"),
        locale=_first(query, "locale"),
        app_key=_first(query, "app_key"),
        app_store_install=stateless,
    )


def check_pasted(text: str) -> None:
    """Raise what is wrong with a pasted address or code, on its own (no link, so no state to
    compare): for a front end to refuse bad input before it opens a session, starts anything or
    writes anything. The session parses the text again, checking the state of a link it built."""
    parse_redirect(text)
