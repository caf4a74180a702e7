"""Checks for what people paste: App Key, App Secret, service_id, URLs, tokens.

Each ``clean_*`` function returns the cleaned value or raises :class:`ValidationError` with a
message that says what to change. What is safe to trim is trimmed silently: surrounding
whitespace (including non-breaking and zero-width spaces that copy-paste brings along) and one
pair of matching quotes around the whole value. Anything else is reported, never guessed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import datetime
from typing import Final
from urllib.parse import SplitResult, parse_qs, urlsplit

from .errors import REDIRECT_URL_FIELD, FieldProblem, ValidationError

__all__ = [
    "clean_app_key",
    "clean_app_secret",
    "clean_choice",
    "clean_credentials",
    "clean_datetime",
    "clean_redirect_url",
    "clean_service_id",
    "clean_timeout",
    "clean_token",
    "clean_url",
    "control_character",
    "is_loopback",
    "strip_pasted",
]

_INVISIBLE: Final = "\u200b\u200c\u200d\u2060\ufeff"
_QUOTES: Final = {'"': '"', "'": "'", "`": "`", "“": "”", "‘": "’", "«": "»", "<": ">"}
_ALNUM: Final = re.compile(r"[A-Za-z0-9]+")
_LABEL: Final = re.compile(r"^\s*(app[ _]?key|app[ _]?secret|service[ _]?id|code|token)\s*[:=]", re.I)

APP_KEY_LENGTH: Final = (6, 24)
APP_SECRET_LENGTH: Final = (16, 64)
SERVICE_ID_LENGTH: Final = (5, 25)
#: The longest token, auth code, API key or cipher accepted (real ones are a few hundred at most).
TOKEN_MAX_LENGTH: Final = 4096


def _problem(field: str, message: str) -> ValidationError:
    return ValidationError([FieldProblem(field, message)])


def strip_pasted(raw: object, field: str) -> str:
    """Trim what is safe to trim from a pasted value and reject what is not a string."""
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise _problem(field, f"expected text, got {type(raw).__name__}")
    text = _strip_space(raw)
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        text = _strip_space(text[1:-1])
    _check_encodable(text, field)
    _check_controls(text, field)
    return text


def _strip_space(text: str) -> str:
    """Strip whitespace and invisible characters from both ends until nothing changes."""
    while True:
        stripped = text.strip().strip(_INVISIBLE)
        if stripped == text:
            return text
        text = stripped


#: Control characters that are not white space (NUL, ESC, DEL, C1...): copy-paste never brings one
#: inside a value, and none can be written to ``.env`` or sent safely. White space has its own
#: messages (a line break inside a value, a space...).
_CONTROL: Final = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")


def control_character(text: str) -> str | None:
    """The first control character of ``text`` that is not white space, as ``U+0000``, or None."""
    found = _CONTROL.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def _check_controls(text: str, field: str) -> None:
    shown = control_character(text)
    if shown:
        raise _problem(field, f"contains a control character ({shown}), which no value has; type or copy it again")


def _check_encodable(text: str, field: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _problem(field, "contains a broken character (an unpaired surrogate); type or copy it again") from None


def _split(text: str, field: str) -> SplitResult:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise _problem(field, "is not a well-formed address; copy it again from the browser") from None
    return parts


def _common(raw: object, field: str, what: str) -> str:
    text = strip_pasted(raw, field)
    if not text:
        raise _problem(field, f"is empty; paste the {what}")
    if _LABEL.match(text):
        raise _problem(field, f"starts with a label ({text.split(':')[0].split('=')[0].strip()}); paste only the value")
    if text[0] in _QUOTES or text[-1] in _QUOTES.values():
        raise _problem(field, "has a stray quote at one end; paste the value without quotes")
    if any(ch.isspace() for ch in text):
        raise _problem(field, "contains a space or line break inside; copy the value again in one piece")
    if any(ch in _INVISIBLE for ch in text):
        raise _problem(field, "contains an invisible character; type or copy the value again")
    return text


def clean_app_key(raw: object, field: str = "App Key") -> str:
    text = _common(raw, field, "App Key from the app's page in Partner Center")
    lo, hi = APP_KEY_LENGTH
    if text.isdigit() and len(text) > 12:
        raise _problem(field, "is all digits: that looks like the service_id; the App Key has letters too")
    if not _ALNUM.fullmatch(text):
        raise _problem(field, "may contain only letters and digits; check you copied the App Key")
    if len(text) > hi:
        raise _problem(
            field,
            f"is {len(text)} characters: that looks like the App Secret; the App Key is the shorter value "
            f"(about 13 characters)",
        )
    if len(text) < lo:
        raise _problem(field, f"is only {len(text)} characters; copy the whole App Key")
    return text


def clean_app_secret(raw: object, field: str = "App Secret") -> str:
    text = _common(raw, field, "App Secret from the app's page in Partner Center")
    lo, hi = APP_SECRET_LENGTH
    if not _ALNUM.fullmatch(text):
        raise _problem(field, "may contain only letters and digits; check you copied the App Secret")
    if len(text) < lo:
        hint = " that looks like the App Key;" if len(text) >= APP_KEY_LENGTH[0] else ""
        raise _problem(
            field,
            f"is only {len(text)} characters:{hint} the App Secret is the long value (about 40 characters) "
            f"behind the eye icon",
        )
    if len(text) > hi:
        raise _problem(field, f"is {len(text)} characters, longer than any App Secret; copy it again")
    return text


def clean_service_id(raw: object, field: str = "service_id") -> str:
    text = strip_pasted(raw, field)
    if "service_id=" in text:
        # The whole "Copy authorization link" was pasted: take the id from it.
        found = parse_qs(_split(text, field).query).get("service_id", [""])[0]
        if found:
            text = found
    text = _common(text, field, "service_id (the app's numeric ID) from Partner Center")
    lo, hi = SERVICE_ID_LENGTH
    if not text.isdigit():
        hint = " that looks like the App Key;" if _ALNUM.fullmatch(text) else ""
        raise _problem(field, f"must be digits only:{hint} the service_id is the app's numeric ID")
    if not lo <= len(text) <= hi:
        raise _problem(field, f"is {len(text)} digits; a service_id has {lo} to {hi}. Copy it again")
    return text


def clean_credentials(app_key: object, app_secret: object, service_id: object) -> tuple[str, str, str]:
    """Clean all three at once and report every problem together, plus the cross-field ones."""
    problems: list[FieldProblem] = []
    results: list[str] = []
    for cleaner, raw in (
        (clean_app_key, app_key),
        (clean_app_secret, app_secret),
        (clean_service_id, service_id),
    ):
        try:
            results.append(cleaner(raw))
        except ValidationError as exc:
            problems.extend(exc.problems)
            results.append("")
    key, secret, sid = results
    if key and secret and key == secret:
        problems.append(FieldProblem("App Secret", "is the same as the App Key; paste the App Secret"))
    if problems:
        raise ValidationError(problems)
    return key, secret, sid


def clean_url(raw: object, field: str, *, allow_http: Callable[[str], bool] | None = None) -> str:
    """A base address (https anywhere; plain http only where ``allow_http(host)`` says so).

    Refused, each with its own message: a ``#`` fragment, a ``user:password@`` part (the address
    would go to what follows the ``@``), a backslash, and port 0 (not a real port).
    """
    return _clean_address(raw, field, allow_http=allow_http, port_zero=False)


def _clean_address(
    raw: object,
    field: str,
    *,
    allow_http: Callable[[str], bool] | None,
    port_zero: bool,
    fragment: str = "remove the # and everything after it",
) -> str:
    text = _common(raw, field, "address")
    parts = _split(text, field)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _problem(field, "must be a full address starting with https://")
    host = _shown_host(parts.hostname)
    if "\\" in text:
        raise _problem(field, "contains a backslash (\\); addresses use forward slashes (/) only")
    if "@" in parts.netloc:
        raise _problem(
            field,
            f"has a user name or password before an @, so it would go to {host}, not to what comes before "
            f"the @; remove everything between :// and the @",
        )
    if "#" in text:
        raise _problem(field, f"must not contain a # fragment; {fragment}")
    if parts.scheme == "http" and not (allow_http and allow_http(parts.hostname)):
        if allow_http is None:
            raise _problem(field, "must use https://")
        if parts.hostname.endswith(".") and is_loopback(parts.hostname.rstrip(".")):
            raise _problem(field, f"names {host} with a trailing dot; write {parts.hostname.rstrip('.')} without it")
        lookalike = parts.hostname.startswith(("127.", "localhost", "::1"))
        why = "; a name that only starts like this computer's address belongs to whoever owns it" if lookalike else ""
        raise _problem(
            field,
            f"must use https://: {host} is not this computer (plain http is only allowed for 127.0.0.1, "
            f"[::1] or localhost){why}",
        )
    if parts.port == 0 and not (port_zero and parts.scheme == "http" and is_loopback(parts.hostname)):
        if port_zero:
            raise _problem(
                field,
                "has port 0: 'any free port' only works for an http:// redirect URL on this computer, where "
                "the catcher listens; give this address's real port, or leave the port out",
            )
        raise _problem(
            field, "has port 0, which is not a real port; give the port the service listens on, or leave it out"
        )
    return text


def _shown_host(hostname: str) -> str:
    return f"[{hostname}]" if ":" in hostname else hostname


_LOOPBACK_V4: Final = ipaddress.IPv4Network("127.0.0.0/8")
_LOOPBACK_V6: Final = ipaddress.IPv6Address("::1")


def is_loopback(host: str) -> bool:
    """True only for a name of this computer, decided by parsing (never by a prefix).

    An IP address in 127.0.0.0/8, the IPv6 address ::1 (brackets allowed, no zone), or exactly
    ``localhost`` (any case, no trailing dot). ``127.0.0.1.attacker.example``,
    ``localhost.attacker.example``, ``::2``, ``::ffff:127.0.0.1`` and shorthand like ``127.1``
    are not.
    """
    if not isinstance(host, str) or not host.isascii():
        return False
    if host.lower() == "localhost":
        return True
    bracketed = host.startswith("[") and host.endswith("]")
    try:
        ip = ipaddress.ip_address(host[1:-1] if bracketed else host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return not bracketed and ip in _LOOPBACK_V4
    return ip == _LOOPBACK_V6 and ip.scope_id is None


def clean_redirect_url(raw: object, field: str = REDIRECT_URL_FIELD) -> str:
    """The callback URL registered for the app: https anywhere, or http on this computer only.

    Port 0 is allowed only in an http redirect URL on this computer, where it tells the catcher
    to listen on any free port (``http://127.0.0.1:0/callback``).
    """
    return _clean_address(
        raw,
        field,
        allow_http=is_loopback,
        port_zero=True,
        fragment="TikTok appends ?code=... to the address, which a # part would hide; remove the # and what follows",
    )


def clean_token(raw: object, field: str = "token") -> str:
    """A token, code, key or cipher: one printable piece of text of at most
    :data:`TOKEN_MAX_LENGTH` characters (checked before anything is saved or sent)."""
    text = _common(raw, field, "token from the token reply")
    if len(text) > TOKEN_MAX_LENGTH:
        raise _problem(field, _too_long(len(text)))
    odd = next((ch for ch in text if not ch.isprintable()), None)
    if odd is not None:
        raise _problem(field, f"contains a character that cannot be typed (U+{ord(odd):04X}); copy it again")
    return text


def _too_long(length: int) -> str:
    return (
        f"is {length} characters, longer than any token, code or key (at most {TOKEN_MAX_LENGTH}); "
        "copy it again from its source"
    )


def clean_choice(raw: object, field: str, choices: tuple[str, ...]) -> str:
    text = strip_pasted(raw, field).lower()
    if text not in choices:
        raise _problem(field, f"must be one of {', '.join(choices)}, not {text!r}")
    return text


def clean_datetime(raw: object, field: str = "expiry") -> str:
    text = strip_pasted(raw, field)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _problem(field, "must be an ISO 8601 date and time, e.g. 2026-12-01T08:00:00+00:00") from None
    if value.tzinfo is None:
        raise _problem(field, "must include a time zone offset, e.g. +00:00")
    return value.isoformat()


def clean_timeout(raw: object, field: str = "TIKTOK_HTTP_TIMEOUT") -> str:
    text = strip_pasted(raw, field)
    try:
        value = float(text)
    except ValueError:
        raise _problem(field, "must be a number of seconds, e.g. 15") from None
    if not 0.5 <= value <= 300:
        raise _problem(field, "must be between 0.5 and 300 seconds")
    return text


def clean_text(raw: object, field: str) -> str:
    """Free text on one line (a seller or store name). Quotes are part of a name: only the
    surrounding whitespace is trimmed."""
    if not isinstance(raw, str):
        raise _problem(field, f"expected text, got {type(raw).__name__}")
    text = _strip_space(raw)
    _check_encodable(text, field)
    if not text:
        raise _problem(field, "is empty")
    if "\n" in text or "\r" in text:
        raise _problem(field, "must be on one line")
    _check_controls(text, field)
    return text
