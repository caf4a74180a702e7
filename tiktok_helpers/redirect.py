"""Parse what comes back after approval: the redirect URL, its query, or a bare code.

TikTok redirects to the app's callback URL as ``?code=<auth_code>&state=<state>`` and often adds
``locale``, ``shop_region`` and ``app_key``. A refusal arrives as ``error=access_denied`` (or
``auth_denied``) with ``code=null``. People paste all sorts of things, so this accepts the full
URL, just the query string, or the code alone, and tolerates spaces, quotes and line breaks
around it.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs, urlsplit

from .errors import AuthorizationDenied, InvalidRedirect, MissingAuthCode, StateMismatch
from .secret import Secret
from .validation import strip_pasted

__all__ = ["RedirectResult", "parse_redirect"]

_BARE_CODE: Final = re.compile(r"[A-Za-z0-9_\-.~*]{6,2048}")
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


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0].strip() if values else None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


def parse_redirect(text: str, expected_state: str | None = None) -> RedirectResult:
    """Return the code and the other parameters of a redirect, or raise what is wrong.

    With ``expected_state`` set, a redirect URL must carry exactly that state
    (:class:`StateMismatch` otherwise). A bare code has no state to check; the person pasting
    it vouches for it.
    """
    raw = strip_pasted(text, "redirect").replace("\n", "").replace("\r", "")
    if not raw:
        raise MissingAuthCode("nothing was given")
    if "=" not in raw and "?" not in raw and "://" not in raw:
        if raw.lower() in _NULLS:
            raise AuthorizationDenied("code=null")
        if not _BARE_CODE.fullmatch(raw):
            raise InvalidRedirect("the text is neither an address nor an auth code")
        return RedirectResult(code=Secret(raw), bare_code=True)
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
        # end the wait with a forged "access_denied".
        raise StateMismatch("the redirect's state differs from the one in the link you opened")
    if error:
        raise AuthorizationDenied(error, _first(query, "error_description") or "")
    if code is None:
        raise MissingAuthCode("the redirect has no code parameter")
    if code.lower() in _NULLS:
        raise AuthorizationDenied("code=null")
    if expected_state is not None and state is None:
        # A refusal without state is still reported as a refusal (TikTok does not document
        # whether it echoes state then); a code without the state is not accepted.
        raise StateMismatch("the redirect carries no state, but the link sent one")
    return RedirectResult(
        code=Secret(code),
        state=state,
        shop_region=_first(query, "shop_region"),
        locale=_first(query, "locale"),
        app_key=_first(query, "app_key"),
    )
